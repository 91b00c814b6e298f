// A throwaway public-key infrastructure for TLS tests: a CA, certificates it
// issued, and an intruder issued by another CA, as PEM files in a new
// temporary directory and as PEM strings.
//
// Every leaf certificate names DNS:localhost and IP:127.0.0.1 and may serve
// as a TLS server or client certificate, so one PKI covers both hops of a
// proxy test: clients and the proxy trust SS_TEST_PKI_CA_CERT; the backend
// and the proxy listener may both present SS_TEST_PKI_SERVER_CERT; the client
// presents SS_TEST_PKI_CLIENT_CERT, and the proxy may present it too to a
// backend that requires client certificates. Keys are P-256, valid from an
// hour ago for a day. Test-only: nothing here is secret.
#ifndef SEALSTREAM_TESTS_SUPPORT_TEST_PKI_H
#define SEALSTREAM_TESTS_SUPPORT_TEST_PKI_H

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ss_test_pki_file {
  SS_TEST_PKI_CA_CERT,      // the CA ("test CA"): the roots to trust
  SS_TEST_PKI_SERVER_CERT,  // "localhost", issued by the CA
  SS_TEST_PKI_SERVER_KEY,
  SS_TEST_PKI_CLIENT_CERT,  // "client", issued by the CA
  SS_TEST_PKI_CLIENT_KEY,
  SS_TEST_PKI_OTHER_CA_CERT,  // another CA ("other CA"), trusted by no one
  SS_TEST_PKI_INTRUDER_CERT,  // "intruder", issued by the other CA
  SS_TEST_PKI_INTRUDER_KEY,
  // SS_TEST_PKI_SERVER_KEY encrypted with SS_TEST_PKI_PASSPHRASE, for tests
  // that such a key is refused rather than prompted for.
  SS_TEST_PKI_ENCRYPTED_SERVER_KEY,
  SS_TEST_PKI_NUM_FILES,
} ss_test_pki_file;

#define SS_TEST_PKI_PASSPHRASE "sealstream-test"

typedef struct ss_test_pki ss_test_pki;

// ss_test_pki_new makes new keys and certificates and writes them to a new
// directory under $TEST_TMPDIR (else /tmp). Returns the PKI (free with
// ss_test_pki_free), or NULL with |st| set (INTERNAL) and nothing left on
// disk.
ss_test_pki *ss_test_pki_new(ss_status *st);

// ss_test_pki_path returns the path of |file| (borrowed from |pki|).
const char *ss_test_pki_path(const ss_test_pki *pki, ss_test_pki_file file);

// ss_test_pki_pem returns the NUL-terminated PEM text of |file| (borrowed
// from |pki|).
const char *ss_test_pki_pem(const ss_test_pki *pki, ss_test_pki_file file);

// ss_test_pki_dir returns the directory holding the files (borrowed), where a
// test may write more; ss_test_pki_free removes only what it wrote itself,
// then the directory if it is empty.
const char *ss_test_pki_dir(const ss_test_pki *pki);

// ss_test_pki_free removes the files and the directory and frees |pki|. NULL
// is ignored.
void ss_test_pki_free(ss_test_pki *pki);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_SUPPORT_TEST_PKI_H
