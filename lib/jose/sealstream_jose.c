// sealstream-jose: a command-line tool over lib/jose for making keys and
// encrypting or decrypting compact JWEs, in the spirit of `step crypto jwe`.
// Standard input and key files are untrusted. Output is written only after
// the whole operation succeeded, so a failure leaves stdout empty.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/b64url.h"
#include "lib/jose/json.h"
#include "lib/jose/jwe.h"
#include "lib/jose/jwk.h"
#include "lib/jose/jwks.h"

// Input larger than this is refused rather than buffered.
#define MAX_STDIN_BYTES (SS_JWE_DEFAULT_MAX_LEN + 1024)

static const char kUsage[] =
    "usage: sealstream-jose COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  keygen --kty RSA|EC|OKP|oct [--size BITS] [--crv NAME]\n"
    "      print a new private JWK (RSA 2048|3072|4096, default 2048;\n"
    "      EC P-256|P-384|P-521, default P-256; OKP X25519;\n"
    "      oct 128|192|256|384|512, default 256)\n"
    "  pub          read a private JWK on stdin, print its public JWK\n"
    "  thumbprint   read a JWK on stdin, print its RFC 7638 thumbprint\n"
    "  encrypt --key FILE --alg ALG --enc ENC [--zip DEF] [--kid KID]\n"
    "          [--allow-dir]\n"
    "      read plaintext on stdin, print a compact JWE\n"
    "  decrypt --key FILE [--max-inflate BYTES] [--allow-dir]\n"
    "      read a compact JWE on stdin, write its plaintext\n"
    "\n"
    "FILE holds a JWK or a JWK set; in a set the JWE's kid picks the key.\n";

typedef struct options {
  const char *kty;
  const char *crv;
  const char *size;
  const char *key_file;
  const char *alg;
  const char *enc;
  const char *zip;
  const char *kid;
  const char *max_inflate;
  int allow_dir;
} options;

static int fail(const ss_status *st) {
  fprintf(stderr, "sealstream-jose: %s\n", st->msg);
  return 1;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                              ...) {
  va_list args;
  va_start(args, fmt);
  fprintf(stderr, "sealstream-jose: ");
  vfprintf(stderr, fmt, args);
  va_end(args);
  // One line, like every other error, so scripts can show it as it is.
  fprintf(stderr, " (see sealstream-jose --help)\n");
  return 2;
}

static int read_stream(FILE *file, ss_buf *out, const char *what,
                       ss_status *st) {
  ss_buf_init(out, MAX_STDIN_BYTES);
  for (;;) {
    uint8_t *dst;
    if (!ss_buf_reserve(out, 65536, &dst)) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "%s exceeds %u bytes", what, (unsigned)MAX_STDIN_BYTES);
    }
    size_t n = fread(dst, 1, 65536, file);
    ss_buf_advance(out, n);
    if (n < 65536) {
      if (ferror(file)) {
        return ss_status_set(st, GRPC_STATUS_UNAVAILABLE, "cannot read %s: %s",
                             what, strerror(errno));
      }
      return 1;
    }
  }
}

static int read_file(const char *path, ss_buf *out, ss_status *st) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    ss_buf_init(out, 0);
    return ss_status_set(st, GRPC_STATUS_NOT_FOUND, "cannot open %s: %s",
                         path, strerror(errno));
  }
  int ok = read_stream(file, out, path, st);
  fclose(file);
  return ok;
}

// trimmed_len drops trailing whitespace, as a JWE pasted or echoed into the
// tool usually ends with a newline.
static size_t trimmed_len(const ss_buf *buf) {
  size_t len = buf->len;
  while (len > 0 && (buf->data[len - 1] == '\n' || buf->data[len - 1] == '\r' ||
                     buf->data[len - 1] == ' ' || buf->data[len - 1] == '\t')) {
    len--;
  }
  return len;
}

static int write_all(const void *data, size_t len) {
  if (len > 0 && fwrite(data, 1, len, stdout) != len) {
    return 0;
  }
  return fflush(stdout) == 0;
}

static int print_line(const char *text) {
  return write_all(text, strlen(text)) && write_all("\n", 1);
}

static int parse_size(const char *text, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
    return 0;
  }
  *out = (size_t)value;
  return 1;
}

// A key file: one JWK, or a JWK set.
typedef struct key_file {
  ss_jwk *jwk;
  ss_jwks *jwks;
} key_file;

static int load_key_file(const char *path, key_file *out, ss_status *st) {
  memset(out, 0, sizeof(*out));
  ss_buf text;
  if (!read_file(path, &text, st)) {
    ss_buf_cleanup(&text);
    return 0;
  }
  json_t *probe = ss_json_parse_object((const char *)text.data, text.len,
                                       SS_JWKS_MAX_JSON, "key file", st);
  int is_set = probe != NULL && json_object_get(probe, "keys") != NULL;
  json_decref(probe);
  if (probe != NULL) {
    if (is_set) {
      out->jwks = ss_jwks_parse((const char *)text.data, text.len, st);
    } else {
      out->jwk = ss_jwk_parse((const char *)text.data, text.len, st);
    }
  }
  ss_buf_cleanup(&text);
  if (out->jwk == NULL && out->jwks == NULL) {
    return ss_status_prefix(st, "%s: ", path);
  }
  return 1;
}

static void free_key_file(key_file *keys) {
  ss_jwk_free(keys->jwk);
  ss_jwks_free(keys->jwks);
}

static int cmd_keygen(const options *opts) {
  ss_status st;
  ss_status_init(&st);
  if (opts->kty == NULL) {
    return usage_error("keygen needs --kty");
  }
  size_t bits = 0;
  if (opts->size != NULL && !parse_size(opts->size, &bits)) {
    return usage_error("--size needs a number of bits, not \"%s\"",
                       opts->size);
  }
  const char *crv = opts->crv;
  if (strcmp(opts->kty, "RSA") == 0 && bits == 0) {
    bits = 2048;
  } else if (strcmp(opts->kty, "oct") == 0 && bits == 0) {
    bits = 256;
  } else if (strcmp(opts->kty, "EC") == 0 && crv == NULL) {
    crv = "P-256";
  } else if (strcmp(opts->kty, "OKP") == 0 && crv == NULL) {
    crv = "X25519";
  }
  if (bits > 65536) {
    return usage_error("--size %s is out of range", opts->size);
  }
  ss_jwk *jwk = ss_jwk_generate(opts->kty, crv, (unsigned)bits, &st);
  char *json = jwk != NULL ? ss_jwk_to_json(jwk, 1, &st) : NULL;
  ss_jwk_free(jwk);
  if (json == NULL) {
    return fail(&st);
  }
  int ok = print_line(json);
  OPENSSL_cleanse(json, strlen(json));
  free(json);
  return ok ? 0 : 1;
}

// read_stdin_jwk parses a JWK from standard input.
static ss_jwk *read_stdin_jwk(ss_status *st) {
  ss_buf text;
  ss_jwk *jwk = NULL;
  if (read_stream(stdin, &text, "standard input", st)) {
    jwk = ss_jwk_parse((const char *)text.data, trimmed_len(&text), st);
  }
  ss_buf_cleanup(&text);
  return jwk;
}

static int cmd_pub(void) {
  ss_status st;
  ss_status_init(&st);
  ss_jwk *jwk = read_stdin_jwk(&st);
  ss_jwk *pub = jwk != NULL ? ss_jwk_public(jwk, &st) : NULL;
  char *json = pub != NULL ? ss_jwk_to_json(pub, 0, &st) : NULL;
  ss_jwk_free(pub);
  ss_jwk_free(jwk);
  if (json == NULL) {
    return fail(&st);
  }
  int ok = print_line(json);
  free(json);
  return ok ? 0 : 1;
}

static int cmd_thumbprint(void) {
  ss_status st;
  ss_status_init(&st);
  ss_jwk *jwk = read_stdin_jwk(&st);
  uint8_t digest[32];
  int ok = jwk != NULL && ss_jwk_thumbprint(jwk, digest, &st);
  ss_jwk_free(jwk);
  if (!ok) {
    return fail(&st);
  }
  char text[64];
  ss_b64url_encode(text, digest, sizeof(digest));
  text[ss_b64url_encoded_len(sizeof(digest))] = '\0';
  return print_line(text) ? 0 : 1;
}

static int cmd_encrypt(const options *opts) {
  if (opts->key_file == NULL || opts->alg == NULL || opts->enc == NULL) {
    return usage_error("encrypt needs --key, --alg and --enc");
  }
  if (opts->zip != NULL && strcmp(opts->zip, "DEF") != 0) {
    return usage_error("--zip supports only DEF, not \"%s\"", opts->zip);
  }
  ss_status st;
  ss_status_init(&st);
  key_file keys;
  ss_buf pt = {0}, out = {0};
  int ok = load_key_file(opts->key_file, &keys, &st);
  const ss_jwk *key = keys.jwk;
  if (ok && key == NULL) {
    if (opts->kid != NULL) {
      key = ss_jwks_find(keys.jwks, opts->kid, &st);
    } else if (ss_jwks_count(keys.jwks) == 1) {
      key = ss_jwks_get(keys.jwks, 0);
    } else {
      ss_status_set(&st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s holds %zu keys; choose one with --kid",
                    opts->key_file, ss_jwks_count(keys.jwks));
    }
    ok = key != NULL;
  }
  ss_jwe_encrypt_opts enc_opts = {
      .alg = opts->alg,
      .enc = opts->enc,
      .zip = opts->zip != NULL,
      .allow_dir = opts->allow_dir,
  };
  ok = ok && read_stream(stdin, &pt, "standard input", &st) &&
       ss_jwe_encrypt_compact(&out, key, &enc_opts, pt.data, pt.len, &st) &&
       ss_buf_nul_terminate(&out);
  free_key_file(&keys);
  ss_buf_cleanup(&pt);
  if (!ok) {
    ss_buf_cleanup(&out);
    return fail(&st);
  }
  ok = print_line((const char *)out.data);
  ss_buf_cleanup(&out);
  return ok ? 0 : 1;
}

static int cmd_decrypt(const options *opts) {
  if (opts->key_file == NULL) {
    return usage_error("decrypt needs --key");
  }
  ss_jwe_decrypt_opts dec_opts = {.allow_dir = opts->allow_dir};
  if (opts->max_inflate != NULL &&
      (!parse_size(opts->max_inflate, &dec_opts.max_inflate) ||
       dec_opts.max_inflate == 0)) {
    return usage_error("--max-inflate needs a positive byte count, not \"%s\"",
                       opts->max_inflate);
  }
  ss_status st;
  ss_status_init(&st);
  key_file keys;
  ss_buf jwe = {0}, pt = {0};
  ss_jwe_decryptor *dec = NULL;
  int ok = load_key_file(opts->key_file, &keys, &st) &&
           (dec = ss_jwe_decryptor_new(keys.jwk, keys.jwks, &dec_opts, &st)) !=
               NULL &&
           read_stream(stdin, &jwe, "standard input", &st) &&
           ss_jwe_decryptor_open_compact(dec, &pt, (const char *)jwe.data,
                                         trimmed_len(&jwe), &st);
  ss_jwe_decryptor_free(dec);
  free_key_file(&keys);
  ss_buf_cleanup(&jwe);
  if (!ok) {
    ss_buf_cleanup(&pt);
    return fail(&st);
  }
  ok = write_all(pt.data, pt.len);
  ss_buf_cleanup(&pt);
  return ok ? 0 : 1;
}

// parse_options reads --name VALUE pairs after the command. Returns 0 and
// prints why on a bad option.
static int parse_options(int argc, char **argv, options *opts) {
  memset(opts, 0, sizeof(*opts));
  struct {
    const char *flag;
    const char **value;
  } valued[] = {
      {"--kty", &opts->kty},         {"--crv", &opts->crv},
      {"--size", &opts->size},       {"--key", &opts->key_file},
      {"--alg", &opts->alg},         {"--enc", &opts->enc},
      {"--zip", &opts->zip},         {"--kid", &opts->kid},
      {"--max-inflate", &opts->max_inflate},
  };
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--allow-dir") == 0) {
      opts->allow_dir = 1;
      continue;
    }
    size_t j = 0;
    for (; j < sizeof(valued) / sizeof(valued[0]); j++) {
      if (strcmp(argv[i], valued[j].flag) == 0) {
        break;
      }
    }
    if (j == sizeof(valued) / sizeof(valued[0])) {
      usage_error("unknown option \"%s\"", argv[i]);
      return 0;
    }
    if (i + 1 >= argc) {
      usage_error("%s needs a value", argv[i]);
      return 0;
    }
    *valued[j].value = argv[++i];
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  options opts;
  if (!parse_options(argc, argv, &opts)) {
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "keygen") == 0) {
    return cmd_keygen(&opts);
  }
  if (strcmp(cmd, "pub") == 0) {
    return cmd_pub();
  }
  if (strcmp(cmd, "thumbprint") == 0) {
    return cmd_thumbprint();
  }
  if (strcmp(cmd, "encrypt") == 0) {
    return cmd_encrypt(&opts);
  }
  if (strcmp(cmd, "decrypt") == 0) {
    return cmd_decrypt(&opts);
  }
  return usage_error("unknown command \"%s\"", cmd);
}
