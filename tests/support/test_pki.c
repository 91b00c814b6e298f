// A test PKI (see test_pki.h): keys, X.509v3 certificates and their PEM
// files, made with OpenSSL's X509 API. Setup code calls it, so every failure
// is returned, never asserted.
#include "tests/support/test_pki.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ss_test_pki {
  char dir[PATH_MAX];                           // "" until made
  char paths[SS_TEST_PKI_NUM_FILES][PATH_MAX];  // "" until written
  char *pems[SS_TEST_PKI_NUM_FILES];            // owned
};

static const char *const kFileNames[SS_TEST_PKI_NUM_FILES] = {
    [SS_TEST_PKI_CA_CERT] = "ca.pem",
    [SS_TEST_PKI_SERVER_CERT] = "server.pem",
    [SS_TEST_PKI_SERVER_KEY] = "server.key",
    [SS_TEST_PKI_CLIENT_CERT] = "client.pem",
    [SS_TEST_PKI_CLIENT_KEY] = "client.key",
    [SS_TEST_PKI_OTHER_CA_CERT] = "other-ca.pem",
    [SS_TEST_PKI_INTRUDER_CERT] = "intruder.pem",
    [SS_TEST_PKI_INTRUDER_KEY] = "intruder.key",
    [SS_TEST_PKI_ENCRYPTED_SERVER_KEY] = "server-encrypted.key",
};

// The parties, each with a key and a certificate. An issuer comes before
// the certificates it signs.
enum { kCa, kServer, kClient, kOtherCa, kIntruder, kNumParties };
static const struct party {
  const char *cn;
  int issuer;  // index into this table; -1: self-signed CA
  ss_test_pki_file cert_file;
  int key_file;  // an ss_test_pki_file; -1: a CA's key is not written
} kParties[kNumParties] = {
    [kCa] = {"test CA", -1, SS_TEST_PKI_CA_CERT, -1},
    [kServer] = {"localhost", kCa, SS_TEST_PKI_SERVER_CERT,
                 SS_TEST_PKI_SERVER_KEY},
    [kClient] = {"client", kCa, SS_TEST_PKI_CLIENT_CERT,
                 SS_TEST_PKI_CLIENT_KEY},
    [kOtherCa] = {"other CA", -1, SS_TEST_PKI_OTHER_CA_CERT, -1},
    [kIntruder] = {"intruder", kOtherCa, SS_TEST_PKI_INTRUDER_CERT,
                   SS_TEST_PKI_INTRUDER_KEY},
};

static EVP_PKEY *make_key(void) {
  EVP_PKEY *key = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
  if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) != 1 ||
      EVP_PKEY_keygen(ctx, &key) != 1) {
    EVP_PKEY_free(key);
    key = NULL;
  }
  EVP_PKEY_CTX_free(ctx);
  return key;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// make_cert issues a certificate with |serial| for |key| named |cn|, signed
// by |issuer| with |issuer_key| (both NULL: a self-signed CA). Returns it
// (free with X509_free), or NULL.
static X509 *make_cert(EVP_PKEY *key, const char *cn, long serial, X509 *issuer,
                       EVP_PKEY *issuer_key) {
  X509 *cert = X509_new();
  if (cert == NULL) {
    return NULL;
  }
  X509 *signer = issuer != NULL ? issuer : cert;
  X509_NAME *name = X509_get_subject_name(cert);
  int ok =
      X509_set_version(cert, 2) == 1 &&
      ASN1_INTEGER_set(X509_get_serialNumber(cert), serial) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL &&
      X509_gmtime_adj(X509_getm_notAfter(cert), 86400) != NULL &&
      X509_set_pubkey(cert, key) == 1 &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 (const unsigned char *)cn, -1, -1, 0) == 1 &&
      X509_set_issuer_name(cert, X509_get_subject_name(signer)) == 1;
  if (ok && issuer == NULL) {
    ok = add_ext(cert, signer, NID_basic_constraints, "critical,CA:TRUE") &&
         add_ext(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else if (ok) {
    // Both usages, so that one certificate serves a backend, a proxy's
    // listener and a proxy's client side.
    ok = add_ext(cert, signer, NID_basic_constraints, "CA:FALSE") &&
         add_ext(cert, signer, NID_subject_alt_name,
                 "DNS:localhost,IP:127.0.0.1") &&
         add_ext(cert, signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  if (!ok || X509_sign(cert, issuer_key != NULL ? issuer_key : key,
                       EVP_sha256()) <= 0) {
    X509_free(cert);
    return NULL;
  }
  return cert;
}

// pem_of returns |cert| or, when it is NULL, |key| (encrypted under
// |passphrase| unless that is NULL) as a new PEM string (free with free()),
// or NULL.
static char *pem_of(X509 *cert, EVP_PKEY *key, const char *passphrase) {
  BIO *bio = BIO_new(BIO_s_mem());
  int ok = bio != NULL;
  if (ok && cert != NULL) {
    ok = PEM_write_bio_X509(bio, cert) == 1;
  } else if (ok && passphrase != NULL) {
    ok = PEM_write_bio_PKCS8PrivateKey(
             bio, key, EVP_aes_256_cbc(), (char *)passphrase,
             (int)strlen(passphrase), NULL, NULL) == 1;
  } else if (ok) {
    ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1;
  }
  char *out = NULL;
  if (ok) {
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    out = len > 0 ? strndup(data, (size_t)len) : NULL;
  }
  BIO_free(bio);
  return out;
}

// make_pems fills |pki->pems|.
static int make_pems(ss_test_pki *pki) {
  EVP_PKEY *keys[kNumParties] = {NULL};
  X509 *certs[kNumParties] = {NULL};
  int ok = 1;
  for (int i = 0; ok && i < kNumParties; i++) {
    const struct party *p = &kParties[i];
    keys[i] = make_key();
    certs[i] = keys[i] == NULL
                   ? NULL
                   : make_cert(keys[i], p->cn, i + 1,
                               p->issuer < 0 ? NULL : certs[p->issuer],
                               p->issuer < 0 ? NULL : keys[p->issuer]);
    ok = certs[i] != NULL &&
         (pki->pems[p->cert_file] = pem_of(certs[i], NULL, NULL)) != NULL &&
         (p->key_file < 0 ||
          (pki->pems[p->key_file] = pem_of(NULL, keys[i], NULL)) != NULL);
  }
  ok = ok && (pki->pems[SS_TEST_PKI_ENCRYPTED_SERVER_KEY] =
                  pem_of(NULL, keys[kServer], SS_TEST_PKI_PASSPHRASE)) != NULL;
  for (int i = 0; i < kNumParties; i++) {
    X509_free(certs[i]);
    EVP_PKEY_free(keys[i]);
  }
  return ok;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    return 0;
  }
  int ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok;
}

ss_test_pki *ss_test_pki_new(ss_status *st) {
  ss_test_pki *pki = calloc(1, sizeof(*pki));
  if (pki == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "test PKI: out of memory");
    return NULL;
  }
  const char *tmp = getenv("TEST_TMPDIR");
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s/pkiXXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) {
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "test PKI: cannot make a directory like %s", dir);
    goto err;
  }
  memcpy(pki->dir, dir, sizeof(dir));
  if (!make_pems(pki)) {
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "test PKI: OpenSSL could not make the keys and certificates");
    goto err;
  }
  for (int i = 0; i < SS_TEST_PKI_NUM_FILES; i++) {
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, kFileNames[i]);
    if (n < 0 || (size_t)n >= sizeof(path)) {
      ss_status_set(st, GRPC_STATUS_INTERNAL,
                    "test PKI: the path of %s in %s is too long", kFileNames[i],
                    dir);
      goto err;
    }
    // The path is kept before writing, so a partly written file is removed.
    memcpy(pki->paths[i], path, sizeof(path));
    if (!write_file(path, pki->pems[i])) {
      ss_status_set(st, GRPC_STATUS_INTERNAL, "test PKI: cannot write %s",
                    path);
      goto err;
    }
  }
  return pki;

err:
  ss_test_pki_free(pki);
  return NULL;
}

const char *ss_test_pki_path(const ss_test_pki *pki, ss_test_pki_file file) {
  return pki->paths[file];
}

const char *ss_test_pki_pem(const ss_test_pki *pki, ss_test_pki_file file) {
  return pki->pems[file];
}

const char *ss_test_pki_dir(const ss_test_pki *pki) { return pki->dir; }

void ss_test_pki_free(ss_test_pki *pki) {
  if (pki == NULL) {
    return;
  }
  for (int i = 0; i < SS_TEST_PKI_NUM_FILES; i++) {
    if (pki->paths[i][0] != '\0') {
      unlink(pki->paths[i]);
    }
    free(pki->pems[i]);
  }
  if (pki->dir[0] != '\0') {
    rmdir(pki->dir);
  }
  free(pki);
}
