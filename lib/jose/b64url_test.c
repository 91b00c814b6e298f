#include "lib/jose/b64url.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/jose/b64url_internal.h"

static const char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// A deterministic generator, so that a failure reproduces.
static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

static void rng_fill(uint8_t *out, size_t len) {
  for (size_t i = 0; i < len; i++) {
    out[i] = (uint8_t)(rng_next() >> 32);
  }
}

// Exact-size copies, so that AddressSanitizer sees any access past the end.
static void *exact_alloc(size_t len) {
  void *p = malloc(len == 0 ? 1 : len);
  assert_non_null(p);
  return p;
}

static char *exact_copy(const char *text, size_t len) {
  char *p = exact_alloc(len);
  if (len > 0) {
    memcpy(p, text, len);
  }
  return p;
}

// ref_value is the value of |c| in the base64url alphabet, or -1.
static int ref_value(uint8_t c) {
  static int values[256];
  static int filled;
  if (!filled) {
    for (int i = 0; i < 256; i++) {
      values[i] = -1;
    }
    for (int i = 0; i < 64; i++) {
      values[(uint8_t)kAlphabet[i]] = i;
    }
    filled = 1;
  }
  return values[c];
}

// ref_decode is a bit-at-a-time decoder written independently of the library.
// Returns the decoded length, or -1 with |*err_offset| set (SIZE_MAX for a
// bad length).
static long ref_decode(uint8_t *out, const uint8_t *in, size_t len,
                       size_t *err_offset) {
  if (len % 4 == 1) {
    *err_offset = SIZE_MAX;
    return -1;
  }
  uint32_t acc = 0;
  int bits = 0;
  long n = 0;
  for (size_t i = 0; i < len; i++) {
    int v = ref_value(in[i]);
    if (v < 0) {
      *err_offset = i;
      return -1;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) {
    *err_offset = len - 1;
    return -1;
  }
  return n;
}

static void ref_encode(char *out, const uint8_t *in, size_t len) {
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    acc = acc << 8 | in[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out[o++] = kAlphabet[(acc >> bits) & 63];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0) {
    out[o] = kAlphabet[(acc << (6 - bits)) & 63];
  }
}

// decode_both runs the dispatching and the scalar decoders on an exact-size
// copy of |in|, checks that they agree on result, bytes and message, and
// returns the result with the dispatching decoder's output and status.
static int decode_both(const char *in, size_t len, uint8_t **out_bytes,
                       size_t *out_len, ss_status *st) {
  size_t room = ss_b64url_decoded_len(len);
  if (room == SIZE_MAX) {
    room = 0;
  }
  char *copy = exact_copy(in, len);
  uint8_t *fast = exact_alloc(room);
  uint8_t *scalar = exact_alloc(room);
  size_t fast_len = 777;
  size_t scalar_len = 777;
  ss_status scalar_st;
  ss_status_init(st);
  ss_status_init(&scalar_st);
  int ok = ss_b64url_decode(fast, &fast_len, copy, len, st);
  int scalar_ok =
      ss__b64url_decode_scalar(scalar, &scalar_len, copy, len, &scalar_st);
  assert_int_equal(ok, scalar_ok);
  assert_int_equal(fast_len, scalar_len);
  assert_int_equal(st->code, scalar_st.code);
  assert_string_equal(st->msg, scalar_st.msg);
  if (ok) {
    assert_int_equal(fast_len, room);
    if (room > 0) {
      assert_memory_equal(fast, scalar, room);
    }
  } else {
    assert_int_equal(fast_len, 0);
  }
  free(copy);
  free(scalar);
  *out_bytes = fast;
  *out_len = fast_len;
  return ok;
}

// assert_refused_with checks that both decoders refuse |in| with
// INVALID_ARGUMENT naming |offset| and, unless NULL, containing |text|.
static void assert_refused_with(const char *in, size_t len, size_t offset,
                                const char *text) {
  uint8_t *out;
  size_t out_len;
  ss_status st;
  assert_false(decode_both(in, len, &out, &out_len, &st));
  free(out);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  char want[64];
  snprintf(want, sizeof(want), "at offset %zu", offset);
  if (strstr(st.msg, want) == NULL) {
    fail_msg("\"%s\" does not name %s", st.msg, want);
  }
  if (text != NULL && strstr(st.msg, text) == NULL) {
    fail_msg("\"%s\" does not say \"%s\"", st.msg, text);
  }
}

static void assert_refused_at(const char *in, size_t len, size_t offset) {
  assert_refused_with(in, len, offset, NULL);
}

static void assert_decodes_to(const char *in, const void *want,
                              size_t want_len) {
  uint8_t *out;
  size_t out_len;
  ss_status st;
  if (!decode_both(in, strlen(in), &out, &out_len, &st)) {
    fail_msg("refused \"%s\": %s", in, st.msg);
  }
  assert_int_equal(out_len, want_len);
  if (want_len > 0) {
    assert_memory_equal(out, want, want_len);
  }
  free(out);
}

// assert_encodes_to checks both encoders against |want| on exact-size
// buffers.
static void assert_encodes_to(const void *in, size_t in_len,
                              const char *want) {
  size_t n = ss_b64url_encoded_len(in_len);
  assert_int_equal(n, strlen(want));
  uint8_t *copy = exact_alloc(in_len);
  if (in_len > 0) {
    memcpy(copy, in, in_len);
  }
  char *fast = exact_alloc(n);
  char *scalar = exact_alloc(n);
  ss_b64url_encode(fast, copy, in_len);
  ss__b64url_encode_scalar(scalar, copy, in_len);
  if (n > 0) {
    assert_memory_equal(fast, want, n);
    assert_memory_equal(scalar, want, n);
  }
  free(copy);
  free(fast);
  free(scalar);
}

static void test_b64url_reports_its_vector_path(void **state) {
  (void)state;
  const char *name = ss__b64url_simd_name();
  print_message("base64url vector path: %s\n", name);
  assert_true(strcmp(name, "avx2") == 0 || strcmp(name, "none") == 0);
}

static void test_b64url_round_trips_rfc4648_vectors(void **state) {
  (void)state;
  static const struct {
    const char *plain;
    const char *encoded;
  } kVectors[] = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},
      {"foo", "Zm9v"},  {"foob", "Zm9vYg"},  {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"},
  };
  for (size_t i = 0; i < sizeof(kVectors) / sizeof(kVectors[0]); i++) {
    size_t len = strlen(kVectors[i].plain);
    assert_encodes_to(kVectors[i].plain, len, kVectors[i].encoded);
    assert_decodes_to(kVectors[i].encoded, kVectors[i].plain, len);
  }
}

static void test_b64url_uses_dash_and_underscore(void **state) {
  (void)state;
  const uint8_t dashes[] = {0xfb, 0xef, 0xbe};
  const uint8_t underscores[] = {0xff, 0xff, 0xff};
  const uint8_t tail[] = {0xfb, 0xff};
  assert_encodes_to(dashes, sizeof(dashes), "----");
  assert_decodes_to("----", dashes, sizeof(dashes));
  assert_encodes_to(underscores, sizeof(underscores), "____");
  assert_decodes_to("____", underscores, sizeof(underscores));
  assert_encodes_to(tail, sizeof(tail), "-_8");
  assert_decodes_to("-_8", tail, sizeof(tail));
}

// Every byte value at each position of a 4-character group, both alone and
// at every offset of a long input (vector blocks, block groups and the
// scalar tail): alphabet characters decode as the reference decoder says,
// all others are refused at their offset.
static void test_b64url_decode_checks_every_byte_at_every_position(
    void **state) {
  (void)state;
  enum { kLong = 300 };  // two block groups, one block, a 12-character tail
  char text[kLong];
  uint8_t want[kLong];
  for (int c = 0; c < 256; c++) {
    for (size_t pos = 0; pos < 4; pos++) {
      memcpy(text, "AAAA", 4);
      text[pos] = (char)c;
      uint8_t *out;
      size_t out_len;
      ss_status st;
      size_t err;
      long n = ref_decode(want, (const uint8_t *)text, 4, &err);
      if (n >= 0) {
        assert_true(decode_both(text, 4, &out, &out_len, &st));
        assert_int_equal(out_len, 3);
        assert_memory_equal(out, want, 3);
        free(out);
      } else {
        assert_int_equal(err, pos);
        assert_refused_at(text, 4, pos);
      }
    }
    for (size_t pos = 0; pos < kLong; pos++) {
      for (size_t i = 0; i < kLong; i++) {
        text[i] = kAlphabet[(i * 7 + 3) % 64];
      }
      text[pos] = (char)c;
      uint8_t *out;
      size_t out_len;
      ss_status st;
      size_t err;
      long n = ref_decode(want, (const uint8_t *)text, kLong, &err);
      int ok = decode_both(text, kLong, &out, &out_len, &st);
      assert_int_equal(ok, n >= 0);
      if (ok) {
        assert_int_equal(out_len, (size_t)n);
        assert_memory_equal(out, want, out_len);
      }
      free(out);
      if (!ok) {
        assert_refused_at(text, kLong, pos);
      }
    }
  }
}

static void test_b64url_decode_rejects_padding(void **state) {
  (void)state;
  assert_refused_at("Zg==", 4, 2);
  assert_refused_with("Zm8=", 4, 3, "0x3d");
  assert_refused_with("Zm8=", 4, 3, "padding");
  assert_refused_at("Zg=", 3, 2);
  assert_refused_at("Zm9v====", 8, 4);
  assert_refused_at("=AAA", 4, 0);
}

static void test_b64url_decode_rejects_whitespace_and_nul(void **state) {
  (void)state;
  assert_refused_at("Zm9v\nYm", 7, 4);
  assert_refused_with("Zm9v YmF", 8, 4, "whitespace");
  assert_refused_at("\tZm9vYmF", 8, 0);
  assert_refused_at("Zm9vYmFy\r\n", 10, 8);
  assert_refused_at("Zm\0v", 4, 2);
}

static void test_b64url_decode_rejects_standard_alphabet(void **state) {
  (void)state;
  assert_refused_at("+/+/", 4, 0);
  assert_refused_at("-_+/", 4, 2);
  assert_refused_at("-_-/", 4, 3);
  assert_refused_with("ab+c", 4, 2, "'-' and '_'");
}

static void test_b64url_decode_rejects_length_one_mod_four(void **state) {
  (void)state;
  static const size_t kLengths[] = {1, 5, 9, 45, 161, 100001};
  for (size_t i = 0; i < sizeof(kLengths) / sizeof(kLengths[0]); i++) {
    size_t len = kLengths[i];
    char *text = exact_alloc(len);
    memset(text, 'A', len);
    uint8_t *out;
    size_t out_len;
    ss_status st;
    assert_false(decode_both(text, len, &out, &out_len, &st));
    free(out);
    assert_int_equal(out_len, 0);
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    char want[64];
    snprintf(want, sizeof(want), "length %zu is not possible", len);
    assert_non_null(strstr(st.msg, want));
    free(text);
  }
}

// A 2-character tail carries 4 bits past the byte, a 3-character tail 2:
// only the encoding with those bits zero is accepted.
static void test_b64url_decode_rejects_nonzero_trailing_bits(void **state) {
  (void)state;
  assert_decodes_to("Zg", "f", 1);
  assert_refused_at("Zh", 2, 1);
  assert_decodes_to("Zm8", "fo", 2);
  assert_refused_at("Zm9", 3, 2);
  enum { kLong = 203 };
  char text[kLong];
  for (size_t i = 0; i < kLong; i++) {
    text[i] = kAlphabet[(i * 5 + 1) % 64];
  }
  for (int v = 0; v < 64; v++) {
    char two[2] = {'Q', kAlphabet[v]};
    char three[3] = {'Q', 'Q', kAlphabet[v]};
    uint8_t *out;
    size_t out_len;
    ss_status st;
    if ((v & 15) == 0) {
      assert_true(decode_both(two, 2, &out, &out_len, &st));
      free(out);
    } else {
      assert_refused_with(two, 2, 1, "non-zero trailing bits");
    }
    if ((v & 3) == 0) {
      assert_true(decode_both(three, 3, &out, &out_len, &st));
      free(out);
    } else {
      assert_refused_with(three, 3, 2, "non-zero trailing bits");
    }
    // The same tails after a prefix long enough for the vector path.
    text[kLong - 2] = kAlphabet[v];  // last of 202 characters (2 mod 4)
    int ok = decode_both(text, kLong - 1, &out, &out_len, &st);
    free(out);
    assert_int_equal(ok, (v & 15) == 0);
    if (!ok) {
      assert_refused_with(text, kLong - 1, kLong - 2, "trailing bits");
    }
    text[kLong - 1] = kAlphabet[v];  // last of 203 characters (3 mod 4)
    ok = decode_both(text, kLong, &out, &out_len, &st);
    free(out);
    assert_int_equal(ok, (v & 3) == 0);
    if (!ok) {
      assert_refused_with(text, kLong, kLong - 1, "trailing bits");
    }
  }
}

// An invalid character is reported even when the tail also has non-zero
// trailing bits, and before them.
static void test_b64url_decode_reports_characters_before_trailing_bits(
    void **state) {
  (void)state;
  assert_refused_at("Z=h", 3, 1);
  assert_refused_at("=h", 2, 0);
  assert_refused_at("AAAAZ.9", 7, 5);
}

static void test_b64url_decode_sets_out_len_to_zero_on_failure(void **state) {
  (void)state;
  uint8_t out[8];
  size_t out_len = 99;
  ss_status st;
  ss_status_init(&st);
  assert_false(ss_b64url_decode(out, &out_len, "Zm9v=mFy", 8, &st));
  assert_int_equal(out_len, 0);
  out_len = 99;
  assert_false(ss__b64url_decode_scalar(out, &out_len, "Zm9vY", 5, &st));
  assert_int_equal(out_len, 0);
  out_len = 99;
  assert_false(ss_b64url_decode(out, &out_len, "Zm9vYh", 6, &st));
  assert_int_equal(out_len, 0);
  // A NULL status is allowed and ignored.
  out_len = 99;
  assert_false(ss_b64url_decode(out, &out_len, "Zm9v=mFy", 8, NULL));
  assert_int_equal(out_len, 0);
}

static void test_b64url_decode_accepts_empty_input(void **state) {
  (void)state;
  uint8_t out[1];
  size_t out_len = 99;
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_b64url_decode(out, &out_len, "", 0, &st));
  assert_int_equal(out_len, 0);
  assert_true(ss_status_ok(&st));
}

static void test_b64url_error_messages_do_not_echo_input(void **state) {
  (void)state;
  const char *text = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw!";
  uint8_t *out;
  size_t out_len;
  ss_status st;
  assert_false(decode_both(text, strlen(text), &out, &out_len, &st));
  free(out);
  assert_null(strstr(st.msg, "c2Vj"));
  assert_null(strstr(st.msg, "bXVz"));
  assert_non_null(strstr(st.msg, "invalid base64url"));
}

static void test_b64url_round_trips_every_size_to_2000(void **state) {
  (void)state;
  enum { kMax = 2000 };
  uint8_t *plain = exact_alloc(kMax);
  char *want = exact_alloc(ss_b64url_encoded_len(kMax));
  for (size_t len = 0; len <= kMax; len++) {
    uint8_t *in = exact_alloc(len);
    rng_fill(in, len);
    memcpy(plain, in, len);
    size_t n = ss_b64url_encoded_len(len);
    ref_encode(want, in, len);
    char *fast = exact_alloc(n);
    char *scalar = exact_alloc(n);
    ss_b64url_encode(fast, in, len);
    ss__b64url_encode_scalar(scalar, in, len);
    if (n > 0) {
      assert_memory_equal(fast, want, n);
      assert_memory_equal(scalar, want, n);
    }
    uint8_t *out;
    size_t out_len;
    ss_status st;
    assert_true(decode_both(fast, n, &out, &out_len, &st));
    assert_int_equal(out_len, len);
    if (len > 0) {
      assert_memory_equal(out, plain, len);
    }
    free(out);
    free(fast);
    free(scalar);
    free(in);
  }
  free(plain);
  free(want);
}

// Random strings over the alphabet with a sprinkling of other bytes: both
// decoders agree with the reference on result, bytes and error offset.
static void test_b64url_decoders_agree_with_reference_on_noisy_input(
    void **state) {
  (void)state;
  enum { kMaxLen = 600 };
  char text[kMaxLen];
  uint8_t want[kMaxLen];
  size_t num_refused = 0;
  for (int iter = 0; iter < 6000; iter++) {
    size_t len = (size_t)(rng_next() % kMaxLen);
    uint64_t noise = 1 + rng_next() % 2000;  // about one bad byte per |noise|
    for (size_t i = 0; i < len; i++) {
      uint64_t r = rng_next();
      text[i] = r % noise == 0 ? (char)(r >> 40) : kAlphabet[(r >> 20) % 64];
    }
    size_t err;
    long n = ref_decode(want, (const uint8_t *)text, len, &err);
    uint8_t *out;
    size_t out_len;
    ss_status st;
    int ok = decode_both(text, len, &out, &out_len, &st);
    assert_int_equal(ok, n >= 0);
    if (ok) {
      assert_int_equal(out_len, (size_t)n);
      if (n > 0) {
        assert_memory_equal(out, want, out_len);
      }
    } else if (err != SIZE_MAX) {
      num_refused++;
      char where[64];
      snprintf(where, sizeof(where), "at offset %zu", err);
      assert_non_null(strstr(st.msg, where));
    }
    free(out);
  }
  assert_true(num_refused > 100);
}

typedef struct big_fixture {
  uint8_t *plain;
  size_t plain_len;
  char *text;  // encoding of |plain|, exact size
  size_t text_len;
} big_fixture;

static int big_setup(void **state) {
  big_fixture *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    return -1;
  }
  f->plain_len = 3 * 1024 * 1024 + 2;
  f->text_len = ss_b64url_encoded_len(f->plain_len);
  f->plain = malloc(f->plain_len);
  f->text = malloc(f->text_len);
  if (f->plain == NULL || f->text == NULL) {
    free(f->plain);
    free(f->text);
    free(f);
    return -1;
  }
  rng_fill(f->plain, f->plain_len);
  ss_b64url_encode(f->text, f->plain, f->plain_len);
  *state = f;
  return 0;
}

static int big_teardown(void **state) {
  big_fixture *f = *state;
  free(f->plain);
  free(f->text);
  free(f);
  return 0;
}

static void test_b64url_round_trips_megabytes(void **state) {
  big_fixture *f = *state;
  char *scalar = exact_alloc(f->text_len);
  ss__b64url_encode_scalar(scalar, f->plain, f->plain_len);
  assert_memory_equal(scalar, f->text, f->text_len);
  free(scalar);
  // Several lengths, so the vector path ends at each tail length.
  for (size_t cut = 0; cut < 6; cut++) {
    size_t plain_len = f->plain_len - cut;
    size_t text_len = ss_b64url_encoded_len(plain_len);
    char *text = exact_alloc(text_len);
    ss_b64url_encode(text, f->plain, plain_len);
    uint8_t *out;
    size_t out_len;
    ss_status st;
    assert_true(decode_both(text, text_len, &out, &out_len, &st));
    assert_int_equal(out_len, plain_len);
    assert_memory_equal(out, f->plain, plain_len);
    free(out);
    free(text);
  }
}

static void test_b64url_decode_reports_exact_offset_deep_in_long_input(
    void **state) {
  big_fixture *f = *state;
  static const uint8_t kBad[] = {'=', '+', '/', ' ', '\n', 0,   0x80,
                                 0xff, '@', '`', '[', '{',  '.', ':'};
  size_t len = f->text_len;
  const size_t offsets[] = {100000,  100001,  100002,  100003, 262143,
                            262144,  262175,  len / 2, len - 45, len - 44,
                            len - 43, len - 33, len - 12, len - 1};
  char *text = exact_copy(f->text, len);
  for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
    size_t at = offsets[i];
    uint8_t bad = kBad[i % sizeof(kBad)];
    char saved = text[at];
    text[at] = (char)bad;
    assert_refused_at(text, len, at);
    text[at] = saved;
  }
  // With two errors, the first is named.
  text[200001] = '=';
  text[123457] = '.';
  assert_refused_at(text, len, 123457);
  free(text);
}

static void test_b64url_decode_to_appends_and_keeps_length_on_failure(
    void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 0);
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_buf_append(&buf, "xy", 2));
  assert_true(ss_b64url_decode_to(&buf, "Zm9v", 4, &st));
  assert_int_equal(buf.len, 5);
  assert_memory_equal(buf.data, "xyfoo", 5);
  assert_false(ss_b64url_decode_to(&buf, "Zm9vYm=y", 8, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "at offset 6"));
  assert_int_equal(buf.len, 5);
  assert_false(ss_b64url_decode_to(&buf, "Zm9vY", 5, &st));
  assert_int_equal(buf.len, 5);
  assert_false(ss_b64url_decode_to(&buf, "Zm9vYh", 6, &st));
  assert_int_equal(buf.len, 5);
  // A decoding error leaves the builder usable.
  assert_false(buf.failed);
  assert_true(ss_b64url_decode_to(&buf, "YmFy", 4, &st));
  assert_int_equal(buf.len, 8);
  assert_memory_equal(buf.data, "xyfoobar", 8);
  assert_true(ss_b64url_decode_to(&buf, "", 0, &st));
  assert_int_equal(buf.len, 8);
  ss_buf_cleanup(&buf);
}

static void test_b64url_decode_to_refuses_to_exceed_buffer_cap(void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 4);
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_b64url_decode_to(&buf, "Zm9v", 4, &st));
  assert_false(ss_b64url_decode_to(&buf, "Zm9v", 4, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(buf.len, 3);
  ss_buf_cleanup(&buf);
}

static void test_b64url_encode_to_appends(void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 0);
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_buf_append(&buf, "x.", 2));
  assert_true(ss_b64url_encode_to(&buf, (const uint8_t *)"foobar", 6, &st));
  assert_true(ss_b64url_encode_to(&buf, (const uint8_t *)"", 0, &st));
  assert_true(ss_b64url_encode_to(&buf, (const uint8_t *)"fo", 2, &st));
  assert_int_equal(buf.len, 13);
  assert_memory_equal(buf.data, "x.Zm9vYmFyZm8", 13);
  ss_buf_cleanup(&buf);
}

static void test_b64url_encode_to_refuses_to_exceed_buffer_cap(void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 7);
  ss_status st;
  ss_status_init(&st);
  assert_false(ss_b64url_encode_to(&buf, (const uint8_t *)"foobar", 6, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(buf.len, 0);
  ss_buf_cleanup(&buf);
  // An impossible length fails on the size alone; nothing is read.
  const uint8_t byte = 0;
  ss_buf_init(&buf, 0);
  assert_false(ss_b64url_encode_to(&buf, &byte, SIZE_MAX, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  ss_buf_cleanup(&buf);
}

static void test_b64url_encoded_len_handles_huge_values(void **state) {
  (void)state;
  assert_int_equal(ss_b64url_encoded_len(0), 0);
  assert_int_equal(ss_b64url_encoded_len(1), 2);
  assert_int_equal(ss_b64url_encoded_len(2), 3);
  assert_int_equal(ss_b64url_encoded_len(3), 4);
  assert_int_equal(ss_b64url_encoded_len(256 * 1024), 349526);
  assert_int_equal(ss_b64url_encoded_len(0xffffffffu), 0x155555554u);
  assert_int_equal(ss_b64url_encoded_len(0x80000000u), 0xaaaaaaabu);
  // The largest length whose encoding length fits, and just past it: results
  // that cannot be represented saturate at SIZE_MAX rather than wrap.
  size_t groups = SIZE_MAX / 4;
  assert_int_equal(ss_b64url_encoded_len(groups * 3), SIZE_MAX - 3);
  assert_int_equal(ss_b64url_encoded_len(groups * 3 + 3), SIZE_MAX);
  assert_int_equal(ss_b64url_encoded_len(SIZE_MAX - 1), SIZE_MAX);
  assert_int_equal(ss_b64url_encoded_len(SIZE_MAX), SIZE_MAX);
}

static void test_b64url_decoded_len_handles_huge_values(void **state) {
  (void)state;
  assert_int_equal(ss_b64url_decoded_len(0), 0);
  assert_int_equal(ss_b64url_decoded_len(1), SIZE_MAX);
  assert_int_equal(ss_b64url_decoded_len(2), 1);
  assert_int_equal(ss_b64url_decoded_len(3), 2);
  assert_int_equal(ss_b64url_decoded_len(4), 3);
  assert_int_equal(ss_b64url_decoded_len(5), SIZE_MAX);
  assert_int_equal(ss_b64url_decoded_len(349526), 256 * 1024);
  assert_int_equal(ss_b64url_decoded_len(0xffffffffu), 0xbffffffeu + 1);
  assert_int_equal(ss_b64url_decoded_len(0x80000000u), 0x60000000u);
  assert_int_equal(ss_b64url_decoded_len(0x80000001u), SIZE_MAX);
  assert_int_equal(ss_b64url_decoded_len(SIZE_MAX), SIZE_MAX / 4 * 3 + 2);
  assert_int_equal(ss_b64url_decoded_len(SIZE_MAX - 1), SIZE_MAX / 4 * 3 + 1);
  assert_int_equal(ss_b64url_decoded_len(SIZE_MAX - 2), SIZE_MAX);
  assert_int_equal(ss_b64url_decoded_len(SIZE_MAX - 3), SIZE_MAX / 4 * 3);
  for (size_t n = 0; n < 100; n++) {
    assert_int_equal(ss_b64url_decoded_len(ss_b64url_encoded_len(n)), n);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_b64url_reports_its_vector_path),
      cmocka_unit_test(test_b64url_round_trips_rfc4648_vectors),
      cmocka_unit_test(test_b64url_uses_dash_and_underscore),
      cmocka_unit_test(test_b64url_decode_checks_every_byte_at_every_position),
      cmocka_unit_test(test_b64url_decode_rejects_padding),
      cmocka_unit_test(test_b64url_decode_rejects_whitespace_and_nul),
      cmocka_unit_test(test_b64url_decode_rejects_standard_alphabet),
      cmocka_unit_test(test_b64url_decode_rejects_length_one_mod_four),
      cmocka_unit_test(test_b64url_decode_rejects_nonzero_trailing_bits),
      cmocka_unit_test(
          test_b64url_decode_reports_characters_before_trailing_bits),
      cmocka_unit_test(test_b64url_decode_sets_out_len_to_zero_on_failure),
      cmocka_unit_test(test_b64url_decode_accepts_empty_input),
      cmocka_unit_test(test_b64url_error_messages_do_not_echo_input),
      cmocka_unit_test(test_b64url_round_trips_every_size_to_2000),
      cmocka_unit_test(
          test_b64url_decoders_agree_with_reference_on_noisy_input),
      cmocka_unit_test_setup_teardown(test_b64url_round_trips_megabytes,
                                      big_setup, big_teardown),
      cmocka_unit_test_setup_teardown(
          test_b64url_decode_reports_exact_offset_deep_in_long_input,
          big_setup, big_teardown),
      cmocka_unit_test(
          test_b64url_decode_to_appends_and_keeps_length_on_failure),
      cmocka_unit_test(test_b64url_decode_to_refuses_to_exceed_buffer_cap),
      cmocka_unit_test(test_b64url_encode_to_appends),
      cmocka_unit_test(test_b64url_encode_to_refuses_to_exceed_buffer_cap),
      cmocka_unit_test(test_b64url_encoded_len_handles_huge_values),
      cmocka_unit_test(test_b64url_decoded_len_handles_huge_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
