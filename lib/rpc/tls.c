// gRPC TLS credentials from PEM files (see tls.h). Each text is parsed with
// OpenSSL before gRPC copies it, so a mistake is reported with the file's
// name; gRPC's own errors would come later, at a handshake, without it.
//
// The files come from the operator. Private-key bytes pass through a stack
// chunk and an ss_buf, both wiped before they are released.
#include "lib/rpc/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/bytes.h"

// One PEM text on its way to gRPC.
typedef struct pem_text {
  ss_buf buf;        // owned copy of a file's bytes; wiped by cleanup
  const char *data;  // NUL-terminated: buf's bytes or borrowed; NULL: absent
  size_t len;        // bytes at |data| without the NUL
  char name[SS_STATUS_MSG_MAX];  // names the text in messages
} pem_text;

static void pem_cleanup(pem_text *pem) {
  ss_buf_cleanup(&pem->buf);
  pem->data = NULL;
  pem->len = 0;
}

// pem_read_file reads |path| into |pem|, naming it "|setting| |path|". The
// file is read with read(2) rather than stdio so that no buffer outside this
// function's control ever holds key bytes.
static int pem_read_file(pem_text *pem, const char *setting, const char *path,
                         ss_status *st) {
  snprintf(pem->name, sizeof(pem->name), "%s %s", setting, path);
  ss_buf_init(&pem->buf, SS_TLS_MAX_PEM_BYTES);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s cannot be read: %s", pem->name, strerror(errno));
  }
  uint8_t chunk[4096];
  int ok = 1;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ok = ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s cannot be read: %s", pem->name, strerror(errno));
      break;
    }
    if (n == 0) {
      break;
    }
    if ((size_t)n > SS_TLS_MAX_PEM_BYTES - pem->buf.len) {
      ok = ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s is larger than %d bytes", pem->name,
                         SS_TLS_MAX_PEM_BYTES);
      break;
    }
    if (!ss_buf_append(&pem->buf, chunk, (size_t)n)) {
      ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "%s: out of memory", pem->name);
      break;
    }
  }
  close(fd);
  OPENSSL_cleanse(chunk, sizeof(chunk));
  // The cap leaves a spare byte for the NUL, so this fails only when the
  // first allocation does (an empty file allocates nothing before it).
  if (ok && !ss_buf_nul_terminate(&pem->buf)) {
    ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s: out of memory",
                       pem->name);
  }
  if (!ok) {
    pem_cleanup(pem);
    return 0;
  }
  pem->data = (const char *)pem->buf.data;
  pem->len = pem->buf.len;
  return 1;
}

// pem_borrow points |pem| at the NUL-terminated |text| (NULL: absent),
// naming it |name|.
static int pem_borrow(pem_text *pem, const char *name, const char *text,
                      ss_status *st) {
  snprintf(pem->name, sizeof(pem->name), "%s", name);
  ss_buf_init(&pem->buf, 0);
  pem->data = text;
  pem->len = text != NULL ? strlen(text) : 0;
  if (pem->len > SS_TLS_MAX_PEM_BYTES) {
    pem_cleanup(pem);
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s is larger than %d bytes", name,
                         SS_TLS_MAX_PEM_BYTES);
  }
  return 1;
}

// refuse_passphrase makes PEM reading fail on an encrypted key instead of
// prompting on the terminal, and records in |*(int *)u| that it was asked.
static int refuse_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  *(int *)u = 1;
  return -1;
}

// parse_certificate returns the first certificate of |pem| (free with
// X509_free), or NULL with |st| set.
static X509 *parse_certificate(const pem_text *pem, ss_status *st) {
  int asked = 0;
  BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
  X509 *x509 = bio != NULL
                   ? PEM_read_bio_X509(bio, NULL, refuse_passphrase, &asked)
                   : NULL;
  BIO_free(bio);
  if (x509 == NULL) {
    // The status says what failed; the queue must not hold stale errors.
    ERR_clear_error();
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s holds no PEM certificate", pem->name);
  }
  return x509;
}

// parse_private_key returns the first private key of |pem| (free with
// EVP_PKEY_free), or NULL with |st| set.
static EVP_PKEY *parse_private_key(const pem_text *pem, ss_status *st) {
  int encrypted = 0;
  BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
  EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PrivateKey(
                                     bio, NULL, refuse_passphrase, &encrypted)
                               : NULL;
  BIO_free(bio);
  if (pkey == NULL) {
    ERR_clear_error();
    if (encrypted) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s is encrypted; give the key unencrypted (no "
                    "passphrase is ever asked for)",
                    pem->name);
    } else {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s holds no unencrypted PEM private key", pem->name);
    }
  }
  return pkey;
}

// check_roots checks that |roots| holds a certificate.
static int check_roots(const pem_text *roots, ss_status *st) {
  X509 *x509 = parse_certificate(roots, st);
  X509_free(x509);
  return x509 != NULL;
}

// check_pair checks that |cert| holds a certificate and |key| the private key
// of its public key.
static int check_pair(const pem_text *cert, const pem_text *key,
                      ss_status *st) {
  int ok = 0;
  EVP_PKEY *pkey = NULL;
  X509 *x509 = parse_certificate(cert, st);
  if (x509 == NULL || (pkey = parse_private_key(key, st)) == NULL) {
    goto done;
  }
  if (X509_check_private_key(x509, pkey) != 1) {
    ERR_clear_error();
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s does not match the certificate in %s", key->name,
                  cert->name);
    goto done;
  }
  ok = 1;
done:
  EVP_PKEY_free(pkey);
  X509_free(x509);
  return ok;
}

grpc_server_credentials *ss_tls_server_credentials_new(
    const ss_tls_server_options *options, ss_status *st) {
  int has_cert = options->tls_cert_file != NULL;
  int has_key = options->tls_key_file != NULL;
  int has_ca = options->tls_client_ca_file != NULL;
  if (!has_cert && !has_key && !has_ca) {
    return grpc_insecure_server_credentials_create();
  }
  if (!has_cert || !has_key) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "TLS needs both a certificate and a private key%s",
                  has_ca ? " (a client CA alone is not enough)" : "");
    return NULL;
  }
  grpc_server_credentials *creds = NULL;
  pem_text cert = {0}, key = {0}, ca = {0};
  if (!pem_read_file(&cert, "tls_cert_file", options->tls_cert_file, st) ||
      !pem_read_file(&key, "tls_key_file", options->tls_key_file, st) ||
      (has_ca && !pem_read_file(&ca, "tls_client_ca_file",
                                options->tls_client_ca_file, st)) ||
      !check_pair(&cert, &key, st) || (has_ca && !check_roots(&ca, st))) {
    goto done;
  }
  grpc_ssl_pem_key_cert_pair pair = {key.data, cert.data};
  creds = grpc_ssl_server_credentials_create_ex(
      ca.data, &pair, 1,
      has_ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
             : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
      NULL);
  if (creds == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "TLS: gRPC refused the certificate or key");
  }
done:
  pem_cleanup(&cert);
  pem_cleanup(&key);
  pem_cleanup(&ca);
  return creds;
}

// channel_credentials checks the texts and makes the credentials; absent
// texts (NULL data) select gRPC's default roots and no client certificate.
static grpc_channel_credentials *channel_credentials(const pem_text *ca,
                                                     const pem_text *cert,
                                                     const pem_text *key,
                                                     ss_status *st) {
  if ((ca->data != NULL && !check_roots(ca, st)) ||
      (cert->data != NULL && !check_pair(cert, key, st))) {
    return NULL;
  }
  grpc_ssl_pem_key_cert_pair pair = {key->data, cert->data};
  grpc_channel_credentials *creds = grpc_ssl_credentials_create(
      ca->data, cert->data != NULL ? &pair : NULL, NULL, NULL);
  if (creds == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "TLS: gRPC refused the channel credentials");
  }
  return creds;
}

// check_client_pair refuses a client certificate without its key and the
// other way round.
static int check_client_pair(const char *cert, const char *key, ss_status *st) {
  if ((cert == NULL) != (key == NULL)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "mutual TLS needs both a client certificate "
                         "(tls_cert_file) and its private key "
                         "(tls_key_file)");
  }
  return 1;
}

grpc_channel_credentials *ss_tls_channel_credentials_new(
    const ss_tls_channel_options *options, ss_status *st) {
  if (!check_client_pair(options->tls_cert_file, options->tls_key_file, st)) {
    return NULL;
  }
  grpc_channel_credentials *creds = NULL;
  pem_text ca = {0}, cert = {0}, key = {0};
  if ((options->tls_ca_file != NULL &&
       !pem_read_file(&ca, "tls_ca_file", options->tls_ca_file, st)) ||
      (options->tls_cert_file != NULL &&
       (!pem_read_file(&cert, "tls_cert_file", options->tls_cert_file, st) ||
        !pem_read_file(&key, "tls_key_file", options->tls_key_file, st)))) {
    goto done;
  }
  creds = channel_credentials(&ca, &cert, &key, st);
done:
  pem_cleanup(&ca);
  pem_cleanup(&cert);
  pem_cleanup(&key);
  return creds;
}

grpc_channel_credentials *ss_tls_channel_credentials_from_pem(
    const char *ca_pem, const char *cert_pem, const char *key_pem,
    ss_status *st) {
  pem_text ca, cert, key;
  if (!check_client_pair(cert_pem, key_pem, st) ||
      !pem_borrow(&ca, "the CA PEM text", ca_pem, st) ||
      !pem_borrow(&cert, "the certificate PEM text", cert_pem, st) ||
      !pem_borrow(&key, "the private key PEM text", key_pem, st)) {
    return NULL;
  }
  return channel_credentials(&ca, &cert, &key, st);
}

void ss_tls_server_name_arg(grpc_arg *out_arg, const char *server_name) {
  memset(out_arg, 0, sizeof(*out_arg));
  out_arg->type = GRPC_ARG_STRING;
  out_arg->key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
  out_arg->value.string = (char *)server_name;
}
