// The test PKI: files on disk equal the PEM strings, leaf certificates chain
// to their CA and only to it, name localhost and 127.0.0.1, and match their
// keys (the encrypted one under the passphrase); free removes everything.
#include "tests/support/test_pki.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static int setup(void **state) {
  ss_status st;
  *state = ss_test_pki_new(&st);
  return *state == NULL;
}

static int teardown(void **state) {
  ss_test_pki_free(*state);
  return 0;
}

static X509 *cert_of(const ss_test_pki *pki, ss_test_pki_file file) {
  const char *text = ss_test_pki_pem(pki, file);
  BIO *bio = BIO_new_mem_buf(text, (int)strlen(text));
  X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  assert_non_null(cert);
  return cert;
}

static EVP_PKEY *key_of(const ss_test_pki *pki, ss_test_pki_file file,
                        const char *passphrase) {
  const char *text = ss_test_pki_pem(pki, file);
  BIO *bio = BIO_new_mem_buf(text, (int)strlen(text));
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)passphrase);
  BIO_free(bio);
  assert_non_null(key);
  return key;
}

// verifies returns 1 if |leaf| chains to |root| alone.
static int verifies(const ss_test_pki *pki, ss_test_pki_file leaf,
                    ss_test_pki_file root) {
  X509 *leaf_cert = cert_of(pki, leaf);
  X509 *root_cert = cert_of(pki, root);
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  assert_int_equal(X509_STORE_add_cert(store, root_cert), 1);
  assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf_cert, NULL), 1);
  int ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(root_cert);
  X509_free(leaf_cert);
  ERR_clear_error();
  return ok;
}

static void test_files_hold_the_pem_strings(void **state) {
  const ss_test_pki *pki = *state;
  for (int i = 0; i < SS_TEST_PKI_NUM_FILES; i++) {
    const char *want = ss_test_pki_pem(pki, i);
    assert_non_null(want);
    FILE *f = fopen(ss_test_pki_path(pki, i), "r");
    assert_non_null(f);
    char got[8192];
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    got[n] = '\0';
    assert_string_equal(got, want);
  }
}

static void test_leaves_chain_to_their_own_ca_only(void **state) {
  const ss_test_pki *pki = *state;
  assert_true(verifies(pki, SS_TEST_PKI_SERVER_CERT, SS_TEST_PKI_CA_CERT));
  assert_true(verifies(pki, SS_TEST_PKI_CLIENT_CERT, SS_TEST_PKI_CA_CERT));
  assert_true(
      verifies(pki, SS_TEST_PKI_INTRUDER_CERT, SS_TEST_PKI_OTHER_CA_CERT));
  assert_false(verifies(pki, SS_TEST_PKI_INTRUDER_CERT, SS_TEST_PKI_CA_CERT));
  assert_false(
      verifies(pki, SS_TEST_PKI_SERVER_CERT, SS_TEST_PKI_OTHER_CA_CERT));
}

static void test_leaves_name_localhost_and_its_address(void **state) {
  const ss_test_pki *pki = *state;
  const ss_test_pki_file leaves[] = {SS_TEST_PKI_SERVER_CERT,
                                     SS_TEST_PKI_CLIENT_CERT,
                                     SS_TEST_PKI_INTRUDER_CERT};
  for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
    X509 *cert = cert_of(pki, leaves[i]);
    assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_host(cert, "example.com", 0, 0, NULL), 0);
    X509_free(cert);
  }
}

static void test_keys_match_their_certificates(void **state) {
  const ss_test_pki *pki = *state;
  const struct {
    ss_test_pki_file cert, key;
    const char *passphrase;
  } pairs[] = {
      {SS_TEST_PKI_SERVER_CERT, SS_TEST_PKI_SERVER_KEY, NULL},
      {SS_TEST_PKI_CLIENT_CERT, SS_TEST_PKI_CLIENT_KEY, NULL},
      {SS_TEST_PKI_INTRUDER_CERT, SS_TEST_PKI_INTRUDER_KEY, NULL},
      {SS_TEST_PKI_SERVER_CERT, SS_TEST_PKI_ENCRYPTED_SERVER_KEY,
       SS_TEST_PKI_PASSPHRASE},
  };
  for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
    X509 *cert = cert_of(pki, pairs[i].cert);
    EVP_PKEY *key = key_of(pki, pairs[i].key, pairs[i].passphrase);
    assert_int_equal(X509_check_private_key(cert, key), 1);
    EVP_PKEY_free(key);
    X509_free(cert);
  }
  assert_non_null(strstr(ss_test_pki_pem(pki, SS_TEST_PKI_ENCRYPTED_SERVER_KEY),
                         "ENCRYPTED"));
}

static void test_free_removes_the_files_and_the_directory(void **state) {
  (void)state;
  ss_status st;
  ss_test_pki *pki = ss_test_pki_new(&st);
  assert_non_null(pki);
  char dir[4096], ca[4096];
  snprintf(dir, sizeof(dir), "%s", ss_test_pki_dir(pki));
  snprintf(ca, sizeof(ca), "%s", ss_test_pki_path(pki, SS_TEST_PKI_CA_CERT));
  struct stat sb;
  assert_int_equal(stat(ca, &sb), 0);
  ss_test_pki_free(pki);
  assert_int_not_equal(stat(ca, &sb), 0);
  assert_int_not_equal(stat(dir, &sb), 0);
  ss_test_pki_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_files_hold_the_pem_strings, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_leaves_chain_to_their_own_ca_only,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_leaves_name_localhost_and_its_address, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys_match_their_certificates, setup,
                                      teardown),
      cmocka_unit_test(test_free_removes_the_files_and_the_directory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
