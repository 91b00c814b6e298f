// TLS credentials: real handshakes on loopback between a gRPC server and
// channels made by this module (TLS, mutual TLS, a client CA that refuses
// strangers, the server-name override), and every way a file can be wrong,
// each named in the message, with nothing made and OpenSSL's error queue left
// empty.
#include "lib/rpc/tls.h"

#include <fcntl.h>
#include <grpc/support/time.h>
#include <openssl/err.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/test_pki.h"

#define METHOD "/test.Tls/Ping"

// A gRPC server whose one thread ends every call it accepts with OK, one
// call at a time.
typedef struct ok_server {
  grpc_server *server;
  grpc_completion_queue *cq;
  pthread_t thread;
  int port;
} ok_server;

static char kTagNew, kTagDone, kTagShutdown;

static void *serve(void *arg) {
  ok_server *s = arg;
  for (;;) {
    grpc_call *call = NULL;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_call_details_init(&details);
    grpc_metadata_array_init(&md);
    if (grpc_server_request_call(s->server, &call, &details, &md, s->cq, s->cq,
                                 &kTagNew) != GRPC_CALL_OK) {
      break;
    }
    grpc_event ev = grpc_completion_queue_next(
        s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.tag == &kTagNew && ev.success) {
      int cancelled = 0;
      grpc_op ops[3];
      memset(ops, 0, sizeof(ops));
      ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
      ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
      ops[1].data.recv_close_on_server.cancelled = &cancelled;
      ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
      ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
      if (grpc_call_start_batch(call, ops, 3, &kTagDone, NULL) ==
          GRPC_CALL_OK) {
        ev = grpc_completion_queue_next(
            s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      }
      grpc_call_unref(call);
    }
    grpc_call_details_destroy(&details);
    grpc_metadata_array_destroy(&md);
    if (ev.tag == &kTagShutdown || (ev.tag == &kTagNew && !ev.success)) {
      break;
    }
  }
  return NULL;
}

// ok_server_start serves with |creds| (released here) on a free port.
static ok_server *ok_server_start(grpc_server_credentials *creds) {
  ok_server *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  s->cq = grpc_completion_queue_create_for_next(NULL);
  s->server = grpc_server_create(NULL, NULL);
  grpc_server_register_completion_queue(s->server, s->cq, NULL);
  s->port = grpc_server_add_http2_port(s->server, "127.0.0.1:0", creds);
  grpc_server_credentials_release(creds);
  assert_int_not_equal(s->port, 0);
  grpc_server_start(s->server);
  assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
  return s;
}

static void ok_server_stop(ok_server *s) {
  grpc_server_shutdown_and_notify(s->server, s->cq, &kTagShutdown);
  grpc_server_cancel_all_calls(s->server);
  pthread_join(s->thread, NULL);
  grpc_server_destroy(s->server);
  grpc_completion_queue_shutdown(s->cq);
  while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                    NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(s->cq);
  free(s);
}

// ping makes one call to |s| with |creds| (released here), checking
// |server_name| when not NULL, and returns its status code.
static grpc_status_code ping(const ok_server *s,
                             grpc_channel_credentials *creds,
                             const char *server_name) {
  assert_non_null(creds);
  char target[64];
  snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
  grpc_arg arg;
  grpc_channel_args args = {0, &arg};
  if (server_name != NULL) {
    ss_tls_server_name_arg(&arg, server_name);
    args.num_args = 1;
  }
  grpc_channel *channel = grpc_channel_create(target, creds, &args);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  grpc_call *call = grpc_channel_create_call(
      channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
      grpc_slice_from_static_string(METHOD), NULL,
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_millis(5000, GPR_TIMESPAN)),
      NULL);
  assert_non_null(call);
  grpc_metadata_array initial_md, trailing_md;
  grpc_metadata_array_init(&initial_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  // gRPC 1.51 delivers the status only once the initial metadata was
  // received too.
  grpc_op ops[4];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[2].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
  ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[3].data.recv_status_on_client.trailing_metadata = &trailing_md;
  ops[3].data.recv_status_on_client.status = &code;
  ops[3].data.recv_status_on_client.status_details = &details;
  assert_int_equal(grpc_call_start_batch(call, ops, 4, &kTagDone, NULL),
                   GRPC_CALL_OK);
  grpc_event ev =
      grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  assert_int_equal(ev.type, GRPC_OP_COMPLETE);
  grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  while (
      grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
          .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  grpc_metadata_array_destroy(&initial_md);
  grpc_metadata_array_destroy(&trailing_md);
  grpc_slice_unref(details);
  grpc_channel_destroy(channel);
  return code;
}

typedef struct fixture {
  ss_test_pki *pki;
  char junk[600];      // a file that is not PEM
  char huge[600];      // SS_TLS_MAX_PEM_BYTES + 1 bytes
  char at_limit[600];  // SS_TLS_MAX_PEM_BYTES bytes, not PEM
} fixture;

static const char *path(const fixture *f, ss_test_pki_file file) {
  return ss_test_pki_path(f->pki, file);
}

static const char *pem(const fixture *f, ss_test_pki_file file) {
  return ss_test_pki_pem(f->pki, file);
}

// write_filler writes |len| bytes of 'x' to a new file |name| in the PKI's
// directory, putting its path in |out|.
static int write_filler(const fixture *f, char out[600], const char *name,
                        size_t len) {
  snprintf(out, 600, "%s/%s", ss_test_pki_dir(f->pki), name);
  char *data = malloc(len);
  if (data == NULL) {
    return 0;
  }
  memset(data, 'x', len);
  FILE *file = fopen(out, "wb");
  int ok = file != NULL && fwrite(data, 1, len, file) == len;
  ok = file != NULL && fclose(file) == 0 && ok;
  free(data);
  return ok;
}

static int setup(void **state) {
  grpc_init();
  fixture *f = calloc(1, sizeof(*f));
  ss_status st;
  if (f == NULL || (f->pki = ss_test_pki_new(&st)) == NULL) {
    free(f);
    return 1;
  }
  *state = f;
  return !write_filler(f, f->junk, "junk.pem", 100) ||
         !write_filler(f, f->huge, "huge.pem", SS_TLS_MAX_PEM_BYTES + 1) ||
         !write_filler(f, f->at_limit, "at-limit.pem", SS_TLS_MAX_PEM_BYTES);
}

static int teardown(void **state) {
  fixture *f = *state;
  unlink(f->junk);
  unlink(f->huge);
  unlink(f->at_limit);
  ss_test_pki_free(f->pki);
  free(f);
  grpc_shutdown();
  return 0;
}

static grpc_server_credentials *server_creds(const char *cert, const char *key,
                                             const char *client_ca) {
  ss_tls_server_options options = {cert, key, client_ca};
  ss_status st;
  grpc_server_credentials *creds = ss_tls_server_credentials_new(&options, &st);
  if (creds == NULL) {
    fail_msg("%s", st.msg);
  }
  return creds;
}

static grpc_channel_credentials *channel_creds(const char *ca, const char *cert,
                                               const char *key) {
  ss_tls_channel_options options = {ca, cert, key};
  ss_status st;
  grpc_channel_credentials *creds =
      ss_tls_channel_credentials_new(&options, &st);
  if (creds == NULL) {
    fail_msg("%s", st.msg);
  }
  return creds;
}

// expect_refused checks that |creds| is NULL and |st| an INVALID_ARGUMENT
// whose message contains |want|, with OpenSSL's error queue left empty.
static void expect_refused(const void *creds, const ss_status *st,
                           const char *want) {
  assert_null(creds);
  assert_int_equal(st->code, GRPC_STATUS_INVALID_ARGUMENT);
  if (strstr(st->msg, want) == NULL) {
    fail_msg("\"%s\" does not say \"%s\"", st->msg, want);
  }
  assert_int_equal(ERR_peek_error(), 0);
}

static void expect_server_error(const char *cert, const char *key,
                                const char *client_ca, const char *want) {
  ss_tls_server_options options = {cert, key, client_ca};
  ss_status st;
  ss_status_init(&st);
  expect_refused(ss_tls_server_credentials_new(&options, &st), &st, want);
}

static void expect_channel_error(const char *ca, const char *cert,
                                 const char *key, const char *want) {
  ss_tls_channel_options options = {ca, cert, key};
  ss_status st;
  ss_status_init(&st);
  expect_refused(ss_tls_channel_credentials_new(&options, &st), &st, want);
}

static void expect_pem_error(const char *ca, const char *cert, const char *key,
                             const char *want) {
  ss_status st;
  ss_status_init(&st);
  expect_refused(ss_tls_channel_credentials_from_pem(ca, cert, key, &st), &st,
                 want);
}

static void test_server_without_files_serves_plaintext_clients(void **state) {
  (void)state;
  ok_server *s = ok_server_start(server_creds(NULL, NULL, NULL));
  assert_int_equal(ping(s, grpc_insecure_credentials_create(), NULL),
                   GRPC_STATUS_OK);
  ok_server_stop(s);
}

// NO_FILE, for ping_with: no such file.
#define NO_FILE SS_TEST_PKI_NUM_FILES

static const char *path_or_null(const fixture *f, ss_test_pki_file file) {
  return file == NO_FILE ? NULL : path(f, file);
}

// start_tls_server serves with the PKI's server certificate, requiring client
// certificates from the PKI's CA when |mutual|.
static ok_server *start_tls_server(const fixture *f, int mutual) {
  return ok_server_start(server_creds(
      path(f, SS_TEST_PKI_SERVER_CERT), path(f, SS_TEST_PKI_SERVER_KEY),
      mutual ? path(f, SS_TEST_PKI_CA_CERT) : NULL));
}

// ping_with pings |s| over TLS trusting the roots in |ca|, presenting |cert|
// and |key|, and checking |server_name| (NULL: the target's address).
static grpc_status_code ping_with(const ok_server *s, const fixture *f,
                                  ss_test_pki_file ca, ss_test_pki_file cert,
                                  ss_test_pki_file key,
                                  const char *server_name) {
  return ping(s,
              channel_creds(path_or_null(f, ca), path_or_null(f, cert),
                            path_or_null(f, key)),
              server_name);
}

static void test_tls_server_serves_clients_that_trust_its_ca(void **state) {
  fixture *f = *state;
  ok_server *s = start_tls_server(f, 0);
  assert_int_equal(
      ping_with(s, f, SS_TEST_PKI_CA_CERT, NO_FILE, NO_FILE, "localhost"),
      GRPC_STATUS_OK);
  // Without an override the target's address is checked: the certificate
  // names IP:127.0.0.1 too.
  assert_int_equal(ping_with(s, f, SS_TEST_PKI_CA_CERT, NO_FILE, NO_FILE, NULL),
                   GRPC_STATUS_OK);
  assert_int_equal(ping(s, grpc_insecure_credentials_create(), NULL),
                   GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(
      ping_with(s, f, SS_TEST_PKI_OTHER_CA_CERT, NO_FILE, NO_FILE, "localhost"),
      GRPC_STATUS_UNAVAILABLE);
  ok_server_stop(s);
}

static void test_server_name_override_is_checked_against_the_certificate(
    void **state) {
  fixture *f = *state;
  ok_server *s = start_tls_server(f, 0);
  assert_int_equal(
      ping_with(s, f, SS_TEST_PKI_CA_CERT, NO_FILE, NO_FILE, "backend.example"),
      GRPC_STATUS_UNAVAILABLE);
  ok_server_stop(s);
}

static void test_mutual_tls_admits_only_clients_certified_by_the_client_ca(
    void **state) {
  fixture *f = *state;
  ok_server *s = start_tls_server(f, 1);
  assert_int_equal(ping_with(s, f, SS_TEST_PKI_CA_CERT, SS_TEST_PKI_CLIENT_CERT,
                             SS_TEST_PKI_CLIENT_KEY, "localhost"),
                   GRPC_STATUS_OK);
  // The server certificate also serves as a client certificate (a proxy
  // presenting it to its backend).
  assert_int_equal(ping_with(s, f, SS_TEST_PKI_CA_CERT, SS_TEST_PKI_SERVER_CERT,
                             SS_TEST_PKI_SERVER_KEY, "localhost"),
                   GRPC_STATUS_OK);
  assert_int_equal(
      ping_with(s, f, SS_TEST_PKI_CA_CERT, NO_FILE, NO_FILE, "localhost"),
      GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(
      ping_with(s, f, SS_TEST_PKI_CA_CERT, SS_TEST_PKI_INTRUDER_CERT,
                SS_TEST_PKI_INTRUDER_KEY, "localhost"),
      GRPC_STATUS_UNAVAILABLE);
  ok_server_stop(s);
}

static void test_channel_credentials_from_pem_texts_work_like_files(
    void **state) {
  fixture *f = *state;
  ok_server *s = start_tls_server(f, 1);
  ss_status st;
  assert_int_equal(
      ping(s,
           ss_tls_channel_credentials_from_pem(
               pem(f, SS_TEST_PKI_CA_CERT), pem(f, SS_TEST_PKI_CLIENT_CERT),
               pem(f, SS_TEST_PKI_CLIENT_KEY), &st),
           "localhost"),
      GRPC_STATUS_OK);
  assert_int_equal(ping(s,
                        ss_tls_channel_credentials_from_pem(
                            pem(f, SS_TEST_PKI_CA_CERT), NULL, NULL, &st),
                        "localhost"),
                   GRPC_STATUS_UNAVAILABLE);
  ok_server_stop(s);
}

static void test_server_refuses_half_given_tls(void **state) {
  fixture *f = *state;
  const char *cert = path(f, SS_TEST_PKI_SERVER_CERT);
  const char *key = path(f, SS_TEST_PKI_SERVER_KEY);
  const char *ca = path(f, SS_TEST_PKI_CA_CERT);
  expect_server_error(cert, NULL, NULL, "certificate and a private key");
  expect_server_error(NULL, key, NULL, "certificate and a private key");
  expect_server_error(cert, NULL, ca, "certificate and a private key");
  expect_server_error(NULL, NULL, ca, "a client CA alone is not enough");
}

static void test_unreadable_files_are_named(void **state) {
  fixture *f = *state;
  const char *cert = path(f, SS_TEST_PKI_SERVER_CERT);
  const char *key = path(f, SS_TEST_PKI_SERVER_KEY);
  expect_server_error("/nonexistent/cert.pem", key, NULL,
                      "tls_cert_file /nonexistent/cert.pem cannot be read");
  expect_server_error(cert, "/nonexistent/key.pem", NULL,
                      "tls_key_file /nonexistent/key.pem cannot be read");
  expect_server_error(cert, key, "/nonexistent/ca.pem",
                      "tls_client_ca_file /nonexistent/ca.pem cannot be read");
  // A directory opens but cannot be read.
  expect_server_error(cert, key, ss_test_pki_dir(f->pki), "tls_client_ca_file");
  expect_channel_error("/nonexistent/ca.pem", NULL, NULL,
                       "tls_ca_file /nonexistent/ca.pem cannot be read");
  expect_channel_error(path(f, SS_TEST_PKI_CA_CERT),
                       path(f, SS_TEST_PKI_CLIENT_CERT), "/nonexistent/key",
                       "tls_key_file /nonexistent/key cannot be read");
}

static void test_files_over_one_mebibyte_are_refused(void **state) {
  fixture *f = *state;
  const char *key = path(f, SS_TEST_PKI_SERVER_KEY);
  expect_server_error(f->huge, key, NULL, "is larger than 1048576 bytes");
  expect_channel_error(f->huge, NULL, NULL, "is larger than 1048576 bytes");
  // Exactly at the limit the file is read, and found not to be PEM.
  expect_server_error(f->at_limit, key, NULL, "holds no PEM certificate");
}

static void test_files_that_are_not_pem_are_named(void **state) {
  fixture *f = *state;
  const char *cert = path(f, SS_TEST_PKI_SERVER_CERT);
  const char *key = path(f, SS_TEST_PKI_SERVER_KEY);
  char want[700];
  snprintf(want, sizeof(want), "tls_cert_file %s holds no PEM certificate",
           f->junk);
  expect_server_error(f->junk, key, NULL, want);
  snprintf(want, sizeof(want),
           "tls_key_file %s holds no unencrypted PEM private key", f->junk);
  expect_server_error(cert, f->junk, NULL, want);
  // A certificate is not a key.
  expect_server_error(cert, cert, NULL, "holds no unencrypted PEM private key");
  snprintf(want, sizeof(want), "tls_client_ca_file %s holds no PEM", f->junk);
  expect_server_error(cert, key, f->junk, want);
  snprintf(want, sizeof(want), "tls_ca_file %s holds no PEM", f->junk);
  expect_channel_error(f->junk, NULL, NULL, want);
  expect_channel_error(NULL, f->junk, key, "tls_cert_file");
  expect_pem_error("hello", NULL, NULL, "the CA PEM text holds no PEM");
  expect_pem_error(NULL, pem(f, SS_TEST_PKI_CLIENT_CERT), "hello",
                   "the private key PEM text holds no unencrypted");
}

static void test_encrypted_keys_are_refused_without_a_prompt(void **state) {
  fixture *f = *state;
  const char *cert = path(f, SS_TEST_PKI_SERVER_CERT);
  const char *encrypted = path(f, SS_TEST_PKI_ENCRYPTED_SERVER_KEY);
  char want[700];
  snprintf(want, sizeof(want), "tls_key_file %s is encrypted", encrypted);
  expect_server_error(cert, encrypted, NULL, want);
  expect_channel_error(NULL, cert, encrypted, want);
  expect_pem_error(NULL, pem(f, SS_TEST_PKI_SERVER_CERT),
                   pem(f, SS_TEST_PKI_ENCRYPTED_SERVER_KEY), "is encrypted");
}

static void test_a_key_that_does_not_match_the_certificate_is_refused(
    void **state) {
  fixture *f = *state;
  const char *cert = path(f, SS_TEST_PKI_SERVER_CERT);
  const char *other_key = path(f, SS_TEST_PKI_CLIENT_KEY);
  // A status message is cut at SS_STATUS_MSG_MAX: with long temporary paths
  // the certificate's path may not fit, so check what comes first.
  char want[1400];
  snprintf(want, sizeof(want), "tls_key_file %s does not match the certificate",
           other_key);
  expect_server_error(cert, other_key, NULL, want);
  expect_channel_error(NULL, cert, other_key, want);
  expect_pem_error(NULL, pem(f, SS_TEST_PKI_SERVER_CERT),
                   pem(f, SS_TEST_PKI_CLIENT_KEY), "does not match");
}

static void test_client_certificate_needs_its_key(void **state) {
  fixture *f = *state;
  expect_channel_error(NULL, path(f, SS_TEST_PKI_CLIENT_CERT), NULL,
                       "mutual TLS needs both");
  expect_channel_error(NULL, NULL, path(f, SS_TEST_PKI_CLIENT_KEY),
                       "mutual TLS needs both");
  expect_pem_error(NULL, pem(f, SS_TEST_PKI_CLIENT_CERT), NULL,
                   "mutual TLS needs both");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_server_without_files_serves_plaintext_clients, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_tls_server_serves_clients_that_trust_its_ca, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_server_name_override_is_checked_against_the_certificate, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_mutual_tls_admits_only_clients_certified_by_the_client_ca, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_channel_credentials_from_pem_texts_work_like_files, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_server_refuses_half_given_tls, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unreadable_files_are_named, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_files_over_one_mebibyte_are_refused,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_files_that_are_not_pem_are_named,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_encrypted_keys_are_refused_without_a_prompt, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_key_that_does_not_match_the_certificate_is_refused, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_client_certificate_needs_its_key,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
