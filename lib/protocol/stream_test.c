// The sealstream.v1 stream between a sealer and an opener: round trips in
// both serializations, and every way a stream can be altered in transit.
#include "lib/protocol/stream.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/jose/jwk.h"

#define NUM_MESSAGES 5

typedef struct recorded {
  uint8_t *packed[NUM_MESSAGES];  // serialized QueryResponses
  size_t len[NUM_MESSAGES];
} recorded;

static ss_jwk *client_key;
static const uint8_t kRequestId[16] = {1, 2, 3, 4, 5, 6, 7, 8,
                                       9, 10, 11, 12, 13, 14, 15, 16};

static int setup(void **state) {
  (void)state;
  ss_status st;
  client_key = ss_jwk_generate("EC", "P-256", 0, &st);
  return client_key == NULL;
}

static int teardown(void **state) {
  (void)state;
  ss_jwk_free(client_key);
  return 0;
}

static char *public_jwk_json(const ss_jwk *key) {
  ss_status st;
  ss_jwk *pub = ss_jwk_public(key, &st);
  char *json = ss_jwk_to_json(pub, 0, &st);
  ss_jwk_free(pub);
  return json;
}

// record_stream seals NUM_MESSAGES payloads ("payload 0" ...) for
// |query_id|, the last one final, and keeps each packed response.
static void record_stream(recorded *out, const char *query_id,
                          Sealstream__V1__Serialization serialization,
                          Sealstream__V1__Compression compression) {
  char *jwk = public_jwk_json(client_key);
  Sealstream__V1__EncryptionOptions options =
      SEALSTREAM__V1__ENCRYPTION_OPTIONS__INIT;
  options.public_jwk = jwk;
  options.serialization = serialization;
  options.compression = compression;
  ss_status st;
  ss_stream_sealer *sealer = ss_stream_sealer_new(
      &options, query_id, kRequestId, sizeof(kRequestId), &st);
  if (sealer == NULL) {
    fail_msg("sealer: %s", st.msg);
  }
  for (int i = 0; i < NUM_MESSAGES; i++) {
    char payload[32];
    int len = snprintf(payload, sizeof(payload), "payload %d", i);
    Sealstream__V1__QueryResponse response;
    assert_true(ss_stream_sealer_seal(sealer, (const uint8_t *)payload,
                                      (size_t)len, i == NUM_MESSAGES - 1,
                                      &response, &st));
    assert_string_equal(response.query_id, query_id);
    out->len[i] = sealstream__v1__query_response__get_packed_size(&response);
    out->packed[i] = malloc(out->len[i]);
    sealstream__v1__query_response__pack(&response, out->packed[i]);
  }
  Sealstream__V1__QueryResponse response;
  assert_false(ss_stream_sealer_seal(sealer, (const uint8_t *)"x", 1, 0,
                                     &response, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(ss_stream_sealer_sealed(sealer), NUM_MESSAGES);
  ss_stream_sealer_free(sealer);
  free(jwk);
}

static void free_recorded(recorded *rec) {
  for (int i = 0; i < NUM_MESSAGES; i++) {
    free(rec->packed[i]);
  }
}

// play feeds the packed responses in |order| (|count| entries) to a new
// opener. Returns the index in |order| that failed, or -1 when every
// message opened; |st| holds the failure, or the result of finish.
static int play(const recorded *rec, const int *order, int count,
                const uint8_t *request_id, ss_status *st) {
  ss_stream_opener *opener = ss_stream_opener_new(
      client_key, request_id, sizeof(kRequestId), 0, st);
  assert_non_null(opener);
  ss_buf out = {0};
  int failed_at = -1;
  ss_status_init(st);
  for (int i = 0; i < count && failed_at < 0; i++) {
    Sealstream__V1__QueryResponse *response =
        sealstream__v1__query_response__unpack(NULL, rec->len[order[i]],
                                               rec->packed[order[i]]);
    assert_non_null(response);
    int final = 0;
    if (!ss_stream_opener_open(opener, response, &out, &final, st)) {
      failed_at = i;
      assert_int_equal(out.len, 0);
    } else {
      char expected[32];
      int len = snprintf(expected, sizeof(expected), "payload %d", order[i]);
      assert_int_equal(out.len, (size_t)len);
      assert_memory_equal(out.data, expected, (size_t)len);
      assert_int_equal(final, order[i] == NUM_MESSAGES - 1);
    }
    sealstream__v1__query_response__free_unpacked(response, NULL);
  }
  if (failed_at < 0) {
    ss_stream_opener_finish(opener, st);
    if (ss_status_ok(st)) {
      assert_string_equal(ss_stream_opener_query_id(opener), "q-1");
      assert_int_equal(ss_stream_opener_unwrap_count(opener), 1);
    }
  }
  ss_buf_cleanup(&out);
  ss_stream_opener_free(opener);
  return failed_at;
}

static void expect_data_loss(const recorded *rec, const int *order, int count,
                             int failing_index, const char *needle) {
  ss_status st;
  int failed_at = play(rec, order, count, kRequestId, &st);
  assert_int_equal(failed_at, failing_index);
  if (st.code != GRPC_STATUS_DATA_LOSS || strstr(st.msg, needle) == NULL) {
    fail_msg("expected DATA_LOSS \"%s\", got %s \"%s\"", needle,
             ss_status_code_name(st.code), st.msg);
  }
}

static void test_stream_round_trips_in_parts_and_compact_form(void **state) {
  (void)state;
  Sealstream__V1__Serialization forms[] = {
      SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_UNSPECIFIED,
      SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
      SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_COMPACT};
  for (size_t f = 0; f < 3; f++) {
    for (int zip = 0; zip <= 1; zip++) {
      recorded rec;
      record_stream(&rec, "q-1", forms[f],
                    zip ? SEALSTREAM__V1__COMPRESSION__COMPRESSION_DEFLATE
                        : SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
      Sealstream__V1__QueryResponse *first =
          sealstream__v1__query_response__unpack(NULL, rec.len[0],
                                                 rec.packed[0]);
      assert_int_equal(first->message_case,
                       forms[f] == SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_COMPACT
                           ? SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_JWE_COMPACT
                           : SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_JWE_PARTS);
      sealstream__v1__query_response__free_unpacked(first, NULL);
      int order[] = {0, 1, 2, 3, 4};
      ss_status st;
      assert_int_equal(play(&rec, order, 5, kRequestId, &st), -1);
      if (!ss_status_ok(&st)) {
        fail_msg("%s", st.msg);
      }
      free_recorded(&rec);
    }
  }
}

static void test_dropped_message_is_data_loss(void **state) {
  (void)state;
  recorded rec;
  record_stream(&rec, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  int order[] = {0, 1, 3, 4};
  expect_data_loss(&rec, order, 4, 2, "sequence number 3, expected 2");
  free_recorded(&rec);
}

static void test_duplicated_message_is_data_loss(void **state) {
  (void)state;
  recorded rec;
  record_stream(&rec, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  int order[] = {0, 1, 1, 2, 3, 4};
  expect_data_loss(&rec, order, 6, 2, "sequence number 1, expected 2");
  free_recorded(&rec);
}

static void test_reordered_messages_are_data_loss(void **state) {
  (void)state;
  recorded rec;
  record_stream(&rec, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_COMPACT,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  int order[] = {0, 2, 1, 3, 4};
  expect_data_loss(&rec, order, 5, 1, "dropped, duplicated or reordered");
  free_recorded(&rec);
}

static void test_truncated_stream_is_data_loss(void **state) {
  (void)state;
  recorded rec;
  record_stream(&rec, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  int order[] = {0, 1, 2, 3};
  expect_data_loss(&rec, order, 4, -1, "truncated");
  free_recorded(&rec);
}

static void test_message_after_final_is_data_loss(void **state) {
  (void)state;
  recorded rec;
  record_stream(&rec, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  int order[] = {0, 1, 2, 3, 4, 4};
  expect_data_loss(&rec, order, 6, 5, "followed the final one");
  free_recorded(&rec);
}

static void test_replayed_stream_of_another_request_is_data_loss(
    void **state) {
  (void)state;
  recorded rec;
  record_stream(&rec, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  uint8_t other_request[16];
  memcpy(other_request, kRequestId, sizeof(other_request));
  other_request[0] ^= 0xff;
  int order[] = {0, 1, 2, 3, 4};
  ss_status st;
  assert_int_equal(play(&rec, order, 5, other_request, &st), 0);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_non_null(strstr(st.msg, "replayed"));
  free_recorded(&rec);
}

static void test_messages_of_two_queries_cannot_be_mixed(void **state) {
  (void)state;
  recorded a, b;
  record_stream(&a, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  record_stream(&b, "q-2", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  // Message 1 of query q-2 spliced into q-1's stream.
  recorded mixed = a;
  mixed.packed[1] = b.packed[1];
  mixed.len[1] = b.len[1];
  int order[] = {0, 1, 2, 3, 4};
  expect_data_loss(&mixed, order, 5, 1, "spliced");
  free_recorded(&a);
  free_recorded(&b);
}

static void test_message_from_another_sealer_of_same_stream_ids_is_data_loss(
    void **state) {
  (void)state;
  // Anyone who saw the request can encrypt to the client's public key with
  // the same query id, request id and sequence numbers: such a message
  // needs a key of its own, which the opener refuses mid-stream.
  recorded a, forged;
  record_stream(&a, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  record_stream(&forged, "q-1",
                SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  recorded spliced = a;
  spliced.packed[4] = forged.packed[4];  // a forged final message
  spliced.len[4] = forged.len[4];
  int order[] = {0, 1, 2, 3, 4};
  expect_data_loss(&spliced, order, 5, 4, "key changed");
  free_recorded(&a);
  free_recorded(&forged);
}

static void test_failed_final_seal_leaves_no_final_marker(void **state) {
  (void)state;
  char *jwk = public_jwk_json(client_key);
  Sealstream__V1__EncryptionOptions options =
      SEALSTREAM__V1__ENCRYPTION_OPTIONS__INIT;
  options.public_jwk = jwk;
  ss_status st;
  ss_stream_sealer *sealer = ss_stream_sealer_new(
      &options, "q-1", kRequestId, sizeof(kRequestId), &st);
  assert_non_null(sealer);
  Sealstream__V1__QueryResponse response;
  // A seal that fails (no payload bytes behind a length) changes nothing.
  assert_false(ss_stream_sealer_seal(sealer, NULL, 5, 1, &response, &st));
  assert_int_equal(ss_stream_sealer_sealed(sealer), 0);
  assert_true(ss_stream_sealer_seal(sealer, (const uint8_t *)"not final", 9,
                                    0, &response, &st));
  ss_stream_opener *opener = ss_stream_opener_new(
      client_key, kRequestId, sizeof(kRequestId), 0, &st);
  ss_buf out = {0};
  int final = 1;
  assert_true(ss_stream_opener_open(opener, &response, &out, &final, &st));
  assert_int_equal(final, 0);
  ss_buf_cleanup(&out);
  ss_stream_opener_free(opener);
  ss_stream_sealer_free(sealer);
  free(jwk);
}

static void test_opener_refuses_algorithms_other_than_requested(void **state) {
  (void)state;
  recorded rec;
  record_stream(&rec, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  ss_status st;
  ss_stream_opener *opener = ss_stream_opener_new(
      client_key, kRequestId, sizeof(kRequestId), 0, &st);
  assert_true(
      ss_stream_opener_expect_algs(opener, "ECDH-ES+A128KW", "A256GCM", &st));
  Sealstream__V1__QueryResponse *response =
      sealstream__v1__query_response__unpack(NULL, rec.len[0], rec.packed[0]);
  ss_buf out = {0};
  int final;
  assert_false(ss_stream_opener_open(opener, response, &out, &final, &st));
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_non_null(strstr(st.msg, "other algorithms"));
  // The stream cannot go on after a failure.
  assert_false(ss_stream_opener_open(opener, response, &out, &final, &st));
  assert_non_null(strstr(st.msg, "already failed"));
  sealstream__v1__query_response__free_unpacked(response, NULL);
  ss_buf_cleanup(&out);
  ss_stream_opener_free(opener);
  free_recorded(&rec);
}

static void test_flipped_byte_is_data_loss(void **state) {
  (void)state;
  recorded rec;
  record_stream(&rec, "q-1", SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS,
                SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  // Flip each byte of message 2 in turn: every change is caught, whether it
  // hits the protobuf framing, the clear query id or the JWE.
  int order[] = {0, 1, 2};
  int caught = 0;
  for (size_t i = 0; i < rec.len[2]; i++) {
    rec.packed[2][i] ^= 0x20;
    Sealstream__V1__QueryResponse *response =
        sealstream__v1__query_response__unpack(NULL, rec.len[2],
                                               rec.packed[2]);
    if (response == NULL) {
      caught++;  // the protobuf no longer parses: the client fails earlier
    } else {
      sealstream__v1__query_response__free_unpacked(response, NULL);
      ss_status st;
      if (play(&rec, order, 3, kRequestId, &st) == 2) {
        assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
        caught++;
      }
    }
    rec.packed[2][i] ^= 0x20;
  }
  printf("flipped bytes caught: %d of %zu\n", caught, rec.len[2]);
  assert_int_equal(caught, (int)rec.len[2]);
  free_recorded(&rec);
}

static void expect_sealer_refused(const char *jwk, const char *alg,
                                  const char *enc, grpc_status_code code,
                                  const char *needle) {
  Sealstream__V1__EncryptionOptions options =
      SEALSTREAM__V1__ENCRYPTION_OPTIONS__INIT;
  options.public_jwk = (char *)jwk;
  options.key_alg = (char *)alg;
  options.content_alg = (char *)enc;
  ss_status st;
  ss_stream_sealer *sealer =
      ss_stream_sealer_new(&options, "q", kRequestId, sizeof(kRequestId), &st);
  assert_null(sealer);
  if (st.code != code || strstr(st.msg, needle) == NULL) {
    fail_msg("expected %s \"%s\", got %s \"%s\"", ss_status_code_name(code),
             needle, ss_status_code_name(st.code), st.msg);
  }
}

static void test_sealer_refuses_bad_keys_and_algorithms(void **state) {
  (void)state;
  char *pub = public_jwk_json(client_key);
  ss_status st;
  char *priv = ss_jwk_to_json(client_key, 1, &st);
  expect_sealer_refused("", "", "", GRPC_STATUS_INVALID_ARGUMENT,
                        "public_jwk is empty");
  expect_sealer_refused("{\"kty\":\"EC\"", "", "", GRPC_STATUS_INVALID_ARGUMENT,
                        "encryption.public_jwk: JWK");
  expect_sealer_refused(priv, "", "", GRPC_STATUS_INVALID_ARGUMENT,
                        "private key");
  expect_sealer_refused(pub, "RSA1_5", "", GRPC_STATUS_INVALID_ARGUMENT,
                        "RSA1_5");
  expect_sealer_refused(pub, "", "A256CTR", GRPC_STATUS_INVALID_ARGUMENT,
                        "supported: A128GCM");
  expect_sealer_refused(pub, "RSA-OAEP-256", "", GRPC_STATUS_INVALID_ARGUMENT,
                        "needs an RSA key");
  free(pub);
  free(priv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_round_trips_in_parts_and_compact_form),
      cmocka_unit_test(test_dropped_message_is_data_loss),
      cmocka_unit_test(test_duplicated_message_is_data_loss),
      cmocka_unit_test(test_reordered_messages_are_data_loss),
      cmocka_unit_test(test_truncated_stream_is_data_loss),
      cmocka_unit_test(test_message_after_final_is_data_loss),
      cmocka_unit_test(test_replayed_stream_of_another_request_is_data_loss),
      cmocka_unit_test(test_messages_of_two_queries_cannot_be_mixed),
      cmocka_unit_test(
          test_message_from_another_sealer_of_same_stream_ids_is_data_loss),
      cmocka_unit_test(test_failed_final_seal_leaves_no_final_marker),
      cmocka_unit_test(test_opener_refuses_algorithms_other_than_requested),
      cmocka_unit_test(test_flipped_byte_is_data_loss),
      cmocka_unit_test(test_sealer_refuses_bad_keys_and_algorithms),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
