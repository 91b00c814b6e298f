// ss_proxy_tokens: token file parsing (every kind of line and refusal,
// truncation at every length), constant-time lookup, route checks,
// authorization header parsing and generated tokens read back.
#include "proxy/tokens.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

// hex_of writes the lowercase hex SHA-256 of |token| to |out|.
static void hex_of(char out[65], const char *token) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256((const uint8_t *)token, strlen(token), digest);
  for (size_t i = 0; i < sizeof(digest); i++) {
    snprintf(out + 2 * i, 3, "%02x", digest[i]);
  }
}

// parse_text parses an exact-size copy of |len| bytes of |text|, so that
// AddressSanitizer sees any read past the end.
static ss_proxy_tokens *parse_text(const char *text, size_t len,
                                   ss_status *st) {
  uint8_t *copy = malloc(len == 0 ? 1 : len);
  assert_non_null(copy);
  memcpy(copy, text, len);
  ss_status_init(st);
  ss_proxy_tokens *tokens = ss_proxy_tokens_parse("t.txt", copy, len, st);
  free(copy);
  if (tokens == NULL) {
    assert_int_not_equal(st->code, GRPC_STATUS_OK);
  } else {
    assert_int_equal(st->code, GRPC_STATUS_OK);
  }
  return tokens;
}

static ss_proxy_tokens *parse_str(const char *text, ss_status *st) {
  return parse_text(text, strlen(text), st);
}

// A file with three tokens: "alpha-token" (routes a,b), "beta-token" (all)
// and "gamma-token" (c).
static char *three_entry_file(void) {
  char ha[65], hb[65], hc[65];
  hex_of(ha, "alpha-token");
  hex_of(hb, "beta-token");
  hex_of(hc, "gamma-token");
  char *text = malloc(1024);
  assert_non_null(text);
  snprintf(text, 1024,
           "# sealstream-proxy tokens\n"
           "\n"
           "alice %s a,b\n"
           "   \t\n"
           "\t# indented comment\n"
           "bob\t%s  *\r\n"
           "  carol %s c   ",
           ha, hb, hc);
  return text;
}

// Setup: *state is the parsed three_entry_file().
static int three_entries_setup(void **state) {
  char *text = three_entry_file();
  ss_status st;
  ss_status_init(&st);
  *state =
      ss_proxy_tokens_parse("t.txt", (const uint8_t *)text, strlen(text), &st);
  free(text);
  return *state == NULL;
}

static int three_entries_teardown(void **state) {
  ss_proxy_tokens_unref(*state);
  return 0;
}

// expect_refusal parses |text| and checks for INVALID_ARGUMENT whose message
// contains each of the NULL-terminated strings that follow.
static void expect_refusal(const char *text, ...) {
  ss_status st;
  assert_null(parse_str(text, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  va_list args;
  va_start(args, text);
  const char *want;
  while ((want = va_arg(args, const char *)) != NULL) {
    if (strstr(st.msg, want) == NULL) {
      fail_msg("message \"%s\" lacks \"%s\"", st.msg, want);
    }
  }
  va_end(args);
}

// hash_line returns |before| + the hex hash of "t" + |after|, in a buffer
// that the next call reuses.
static const char *hash_line(const char *before, const char *after) {
  static char line[512];
  char h[65];
  hex_of(h, "t");
  snprintf(line, sizeof(line), "%s%s%s", before, h, after);
  return line;
}

static void test_tokens_parse_reads_entries_comments_blanks_and_crlf(
    void **state) {
  (void)state;
  char *text = three_entry_file();
  ss_status st;
  ss_proxy_tokens *tokens = parse_str(text, &st);
  assert_non_null(tokens);
  assert_int_equal(ss_proxy_tokens_count(tokens), 3);
  assert_string_equal(ss_proxy_token_name(ss_proxy_tokens_get(tokens, 0)),
                      "alice");
  assert_int_equal(ss_proxy_token_line(ss_proxy_tokens_get(tokens, 0)), 3);
  assert_string_equal(ss_proxy_token_name(ss_proxy_tokens_get(tokens, 1)),
                      "bob");
  assert_int_equal(ss_proxy_token_line(ss_proxy_tokens_get(tokens, 1)), 6);
  assert_string_equal(ss_proxy_token_name(ss_proxy_tokens_get(tokens, 2)),
                      "carol");
  assert_int_equal(ss_proxy_token_line(ss_proxy_tokens_get(tokens, 2)), 7);
  assert_null(ss_proxy_tokens_get(tokens, 3));
  ss_proxy_tokens_unref(tokens);
  free(text);
}

static void test_tokens_parse_accepts_an_empty_file_that_matches_nothing(
    void **state) {
  (void)state;
  ss_status st;
  ss_proxy_tokens *tokens = parse_str("", &st);
  assert_non_null(tokens);
  assert_int_equal(ss_proxy_tokens_count(tokens), 0);
  assert_null(ss_proxy_tokens_lookup(tokens, (const uint8_t *)"x", 1));
  ss_proxy_tokens_unref(tokens);
  tokens = parse_str("# only a comment\n\n \t \n", &st);
  assert_non_null(tokens);
  assert_int_equal(ss_proxy_tokens_count(tokens), 0);
  ss_proxy_tokens_unref(tokens);
  assert_null(ss_proxy_tokens_lookup(NULL, (const uint8_t *)"x", 1));
  assert_int_equal(ss_proxy_tokens_count(NULL), 0);
}

static void test_tokens_parse_refuses_uppercase_hex_naming_file_and_line(
    void **state) {
  (void)state;
  char line[512];
  snprintf(line, sizeof(line), "%s", hash_line("# c\nname ", " *\n"));
  for (char *p = line + 9; *p; p++) {
    if (*p >= 'a' && *p <= 'f') {
      *p = (char)(*p - 'a' + 'A');
      break;
    }
  }
  expect_refusal(line, "tokens file t.txt line 2:", "lowercase", "SHA256HEX",
                 NULL);
}

static void test_tokens_parse_refuses_hex_of_the_wrong_length(void **state) {
  (void)state;
  char h[65], line[256];
  hex_of(h, "t");
  snprintf(line, sizeof(line), "name %.63s *\n", h);
  expect_refusal(line, "line 1:", "63 characters", "64 lowercase hex", NULL);
  expect_refusal(hash_line("name ", "0 *\n"), "line 1:", "65 characters", NULL);
  expect_refusal("name zz *\n", "line 1:", "2 characters", NULL);
  snprintf(line, sizeof(line), "name %.62sg0 *\n", h);
  expect_refusal(line, "line 1:", "character 63", NULL);
}

static void test_tokens_parse_refuses_a_missing_hash_or_route_list(
    void **state) {
  (void)state;
  expect_refusal("\n\nlonely\n", "line 3:", "SHA256HEX is missing",
                 "expected NAME SHA256HEX ROUTE", NULL);
  expect_refusal(hash_line("name ", "\n"), "line 1:", "empty route list", NULL);
  expect_refusal(hash_line("name ", " \t \r\n"), "line 1:", "empty route list",
                 NULL);
}

static void test_tokens_parse_refuses_text_after_the_route_list(void **state) {
  (void)state;
  expect_refusal(hash_line("name ", " a, b\n"),
                 "line 1:", "after the route list", "commas", NULL);
  expect_refusal(hash_line("name ", " a # trailing comment\n"),
                 "line 1:", "after the route list", NULL);
}

static void test_tokens_parse_refuses_bad_names(void **state) {
  (void)state;
  char h[65], line[512];
  hex_of(h, "t");
  expect_refusal(hash_line("na/me ", " *\n"), "line 1:", "name 'na/me'",
                 "character 3", "[A-Za-z0-9._-]", NULL);
  expect_refusal(hash_line("n\xc3\xa9 ", " *\n"), "line 1:",
                 "name 'n?"
                 "?'",
                 NULL);
  char long_name[66];
  memset(long_name, 'n', 65);
  long_name[65] = '\0';
  snprintf(line, sizeof(line), "%s %s *\n", long_name, h);
  expect_refusal(line, "line 1:", "longer than 64", NULL);
  // 64 characters is the longest accepted.
  long_name[64] = '\0';
  snprintf(line, sizeof(line), "%s %s *\n", long_name, h);
  ss_status st;
  ss_proxy_tokens *tokens = parse_str(line, &st);
  assert_non_null(tokens);
  assert_string_equal(ss_proxy_token_name(ss_proxy_tokens_get(tokens, 0)),
                      long_name);
  ss_proxy_tokens_unref(tokens);
}

static void test_tokens_parse_refuses_bad_route_lists(void **state) {
  (void)state;
  expect_refusal(hash_line("name ", " a,,b\n"),
                 "line 1:", "route list: route 2 is empty", NULL);
  expect_refusal(hash_line("name ", " a,\n"), "line 1:", "route 2 is empty",
                 NULL);
  expect_refusal(hash_line("name ", " ,a\n"), "line 1:", "route 1 is empty",
                 NULL);
  expect_refusal(hash_line("name ", " a,*\n"),
                 "line 1:", "\"*\" must stand alone", NULL);
  expect_refusal(hash_line("name ", " a,b;c\n"), "line 1:", "route 2 'b;c'",
                 "character 2", NULL);
  expect_refusal(hash_line("name ", " a,b,a\n"),
                 "line 1:", "route 'a' is listed twice", "routes 1 and 3",
                 NULL);
  expect_refusal(hash_line("name ", " **\n"), "line 1:", "route 1 '**'", NULL);
}

static void test_tokens_parse_refuses_duplicate_names_with_both_lines(
    void **state) {
  (void)state;
  char h1[65], h2[65], h3[65], text[512];
  hex_of(h1, "one");
  hex_of(h2, "two");
  hex_of(h3, "three");
  snprintf(text, sizeof(text), "x %s *\ny %s *\n#\nx %s *\n", h1, h2, h3);
  expect_refusal(text, "line 4:", "duplicate name 'x'", "first on line 1",
                 NULL);
}

static void test_tokens_parse_refuses_duplicate_hashes_without_showing_them(
    void **state) {
  (void)state;
  char h1[65], h2[65], text[512];
  hex_of(h1, "one");
  hex_of(h2, "two");
  snprintf(text, sizeof(text), "x %s *\ny %s *\nz %s a\n", h1, h2, h1);
  ss_status st;
  assert_null(parse_str(text, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "line 3:"));
  assert_non_null(strstr(st.msg, "duplicate SHA256HEX"));
  assert_non_null(strstr(st.msg, "'x' on line 1"));
  assert_null(strstr(st.msg, h1));
}

static void test_tokens_parse_reports_the_first_repeat_in_file_order(
    void **state) {
  (void)state;
  char h1[65], h3[65], text[512];
  hex_of(h1, "one");
  hex_of(h3, "three");
  // The repeated hash (line 2) comes before the repeated name (line 3).
  snprintf(text, sizeof(text), "a %s *\nb %s *\na %s *\n", h1, h1, h3);
  expect_refusal(text, "line 2:", "duplicate SHA256HEX", NULL);
}

// many_entries returns a file of |n| distinct entries.
static char *many_entries(size_t n, size_t *out_len) {
  size_t cap = n * 96 + 1;
  char *text = malloc(cap);
  assert_non_null(text);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    len += (size_t)snprintf(text + len, cap - len, "t%zu %064zx r%zu\n", i, i,
                            i % 7);
  }
  *out_len = len;
  return text;
}

static void test_tokens_parse_accepts_the_entry_cap_and_refuses_one_more(
    void **state) {
  (void)state;
  size_t len;
  char *text = many_entries(SS_PROXY_TOKENS_MAX_ENTRIES + 1, &len);
  ss_status st;
  ss_status_init(&st);
  ss_proxy_tokens *tokens =
      ss_proxy_tokens_parse("big", (const uint8_t *)text, len, &st);
  assert_null(tokens);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "line 100001: more than 100000 entries"));
  // Without its last line the file is at the cap.
  size_t last = len - 1;
  while (text[last - 1] != '\n') {
    last--;
  }
  tokens = ss_proxy_tokens_parse("big", (const uint8_t *)text, last, &st);
  assert_non_null(tokens);
  assert_int_equal(ss_proxy_tokens_count(tokens), SS_PROXY_TOKENS_MAX_ENTRIES);
  free(text);
  ss_proxy_tokens_unref(tokens);
}

static void test_tokens_parse_survives_truncation_at_every_length(
    void **state) {
  (void)state;
  char *text = three_entry_file();
  size_t len = strlen(text);
  size_t parsed = 0, refused = 0;
  for (size_t cut = 0; cut <= len; cut++) {
    ss_status st;
    ss_proxy_tokens *tokens = parse_text(text, cut, &st);
    if (tokens == NULL) {
      assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
      assert_non_null(strstr(st.msg, "tokens file t.txt line "));
      refused++;
    } else {
      parsed++;
      ss_proxy_tokens_unref(tokens);
    }
  }
  // Cuts inside a hash or before a route list are refused; cuts at line
  // ends and inside route lists or comments parse.
  assert_true(parsed > 0);
  assert_true(refused > 0);
  free(text);
}

static void test_tokens_load_reads_a_file_and_names_missing_ones(void **state) {
  (void)state;
  const char *dir = getenv("TEST_TMPDIR");
  assert_non_null(dir);
  char path[1024];
  snprintf(path, sizeof(path), "%s/tokens_load.txt", dir);
  char *text = three_entry_file();
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
  free(text);
  ss_status st;
  ss_status_init(&st);
  ss_proxy_tokens *tokens = ss_proxy_tokens_load(path, &st);
  assert_non_null(tokens);
  assert_int_equal(ss_proxy_tokens_count(tokens), 3);
  ss_proxy_tokens_unref(tokens);

  snprintf(path, sizeof(path), "%s/no-such-tokens.txt", dir);
  assert_null(ss_proxy_tokens_load(path, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "no-such-tokens.txt"));
  assert_non_null(strstr(st.msg, "cannot open"));
}

static void test_tokens_load_refuses_a_file_over_the_size_cap(void **state) {
  (void)state;
  const char *dir = getenv("TEST_TMPDIR");
  assert_non_null(dir);
  char path[1024];
  snprintf(path, sizeof(path), "%s/tokens_big.txt", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  // All comment: valid at the cap, refused one byte over it.
  static char block[65536];
  memset(block, '#', sizeof(block));
  for (size_t i = 0; i < SS_PROXY_TOKENS_MAX_FILE_BYTES / sizeof(block); i++) {
    assert_int_equal(fwrite(block, 1, sizeof(block), f), sizeof(block));
  }
  assert_int_equal(fflush(f), 0);
  ss_status st;
  ss_status_init(&st);
  ss_proxy_tokens *tokens = ss_proxy_tokens_load(path, &st);
  assert_non_null(tokens);
  ss_proxy_tokens_unref(tokens);
  assert_int_equal(fwrite("#", 1, 1, f), 1);
  assert_int_equal(fclose(f), 0);
  assert_null(ss_proxy_tokens_load(path, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "tokens_big.txt"));
  assert_non_null(strstr(st.msg, "larger than 16777216 bytes"));
  remove(path);
}

static void test_tokens_lookup_finds_each_entry_and_nothing_else(void **state) {
  ss_proxy_tokens *tokens = *state;
  static const char *const kTokens[] = {"alpha-token", "beta-token",
                                        "gamma-token"};
  for (size_t i = 0; i < 3; i++) {
    const ss_proxy_token *entry = ss_proxy_tokens_lookup(
        tokens, (const uint8_t *)kTokens[i], strlen(kTokens[i]));
    assert_ptr_equal(entry, ss_proxy_tokens_get(tokens, i));
  }
  assert_null(
      ss_proxy_tokens_lookup(tokens, (const uint8_t *)"alpha-toke", 10));
  assert_null(
      ss_proxy_tokens_lookup(tokens, (const uint8_t *)"alpha-tokenX", 12));
  assert_null(ss_proxy_tokens_lookup(tokens, NULL, 0));
  // The presented bytes are a length, not a C string.
  const char buf[] = "gamma-token-and-more";
  assert_ptr_equal(ss_proxy_tokens_lookup(tokens, (const uint8_t *)buf, 11),
                   ss_proxy_tokens_get(tokens, 2));
}

static void test_tokens_lookup_finds_the_first_and_last_of_many(void **state) {
  (void)state;
  // Entries whose hashes are those of "k0".."k999".
  size_t n = 1000, cap = n * 96, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (size_t i = 0; i < n; i++) {
    char token[16], h[65];
    snprintf(token, sizeof(token), "k%zu", i);
    hex_of(h, token);
    len += (size_t)snprintf(text + len, cap - len, "n%zu %s *\n", i, h);
  }
  ss_status st;
  ss_proxy_tokens *tokens = parse_text(text, len, &st);
  assert_non_null(tokens);
  static const size_t kProbe[] = {0, 1, 500, 998, 999};
  for (size_t i = 0; i < sizeof(kProbe) / sizeof(kProbe[0]); i++) {
    char token[16];
    snprintf(token, sizeof(token), "k%zu", kProbe[i]);
    const ss_proxy_token *entry =
        ss_proxy_tokens_lookup(tokens, (const uint8_t *)token, strlen(token));
    assert_ptr_equal(entry, ss_proxy_tokens_get(tokens, kProbe[i]));
  }
  assert_null(ss_proxy_tokens_lookup(tokens, (const uint8_t *)"k1000", 5));
  ss_proxy_tokens_unref(tokens);
  free(text);
}

static void test_token_allows_only_its_routes_by_exact_bytes(void **state) {
  ss_proxy_tokens *tokens = *state;
  const ss_proxy_token *alice = ss_proxy_tokens_get(tokens, 0);
  const ss_proxy_token *bob = ss_proxy_tokens_get(tokens, 1);
  const ss_proxy_token *carol = ss_proxy_tokens_get(tokens, 2);
  assert_true(ss_proxy_token_allows_route(alice, (const uint8_t *)"a", 1));
  assert_true(ss_proxy_token_allows_route(alice, (const uint8_t *)"b", 1));
  assert_false(ss_proxy_token_allows_route(alice, (const uint8_t *)"c", 1));
  assert_false(ss_proxy_token_allows_route(alice, (const uint8_t *)"a,b", 3));
  assert_false(ss_proxy_token_allows_route(alice, (const uint8_t *)"ab", 2));
  assert_false(ss_proxy_token_allows_route(alice, (const uint8_t *)"", 0));
  assert_false(ss_proxy_token_allows_route(alice, NULL, 0));
  // Untrusted bytes: only |route_len| of them count.
  assert_true(ss_proxy_token_allows_route(alice, (const uint8_t *)"bxyz", 1));
  assert_false(ss_proxy_token_allows_route(alice, (const uint8_t *)"a\0", 2));
  assert_true(ss_proxy_token_allows_route(bob, (const uint8_t *)"anything", 8));
  assert_true(ss_proxy_token_allows_route(carol, (const uint8_t *)"c", 1));
  assert_false(ss_proxy_token_allows_route(carol, (const uint8_t *)"*", 1));
}

static void test_tokens_ref_keeps_entries_alive_until_the_last_unref(
    void **state) {
  ss_proxy_tokens *tokens = *state;
  ss_proxy_tokens *held = ss_proxy_tokens_ref(tokens);
  assert_ptr_equal(held, tokens);
  const ss_proxy_token *entry =
      ss_proxy_tokens_lookup(held, (const uint8_t *)"beta-token", 10);
  ss_proxy_tokens_unref(tokens);
  // Still valid through |held| (AddressSanitizer checks); the teardown
  // drops the last reference.
  assert_string_equal(ss_proxy_token_name(entry), "bob");
  *state = held;
  assert_null(ss_proxy_tokens_ref(NULL));
  ss_proxy_tokens_unref(NULL);
}

// parse_bearer_str parses |value| and checks that a failure's message never
// shows |secret|.
static int parse_bearer_str(const char *value, size_t len, ss_cbs *out,
                            ss_status *st, const char *secret) {
  uint8_t *copy = malloc(len == 0 ? 1 : len);
  assert_non_null(copy);
  memcpy(copy, value, len);
  ss_status_init(st);
  int ok = ss_proxy_auth_parse_bearer(out, copy, len, st);
  if (ok) {
    // Point the result back into |value| before freeing the copy.
    ss_cbs_init(out, value + (out->data - copy), out->len);
  } else {
    assert_int_equal(st->code, GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(out->len, 0);
    assert_null(out->data);
    if (secret != NULL && strstr(st->msg, secret) != NULL) {
      fail_msg("message \"%s\" shows the token", st->msg);
    }
  }
  free(copy);
  return ok;
}

static void test_auth_parse_bearer_accepts_any_case_scheme_and_padding(
    void **state) {
  (void)state;
  static const char *const kGood[] = {
      "Bearer sst_abc-DEF_123", "bearer sst_abc-DEF_123",
      "BEARER sst_abc-DEF_123", "bEaReR sst_abc-DEF_123"};
  for (size_t i = 0; i < 4; i++) {
    ss_cbs token;
    ss_status st;
    assert_true(
        parse_bearer_str(kGood[i], strlen(kGood[i]), &token, &st, NULL));
    assert_true(ss_cbs_equal_str(&token, "sst_abc-DEF_123"));
  }
  ss_cbs token;
  ss_status st;
  const char *v = "Bearer a.b~c+d/e==";
  assert_true(parse_bearer_str(v, strlen(v), &token, &st, NULL));
  assert_true(ss_cbs_equal_str(&token, "a.b~c+d/e=="));
}

static void expect_bearer_refusal(const char *value, const char *want) {
  ss_cbs token;
  ss_status st;
  if (parse_bearer_str(value, strlen(value), &token, &st, "SeCrEt")) {
    fail_msg("\"%s\" was accepted", value);
  }
  if (strstr(st.msg, want) == NULL) {
    fail_msg("message \"%s\" lacks \"%s\"", st.msg, want);
  }
}

static void test_auth_parse_bearer_refuses_malformed_values_with_a_reason(
    void **state) {
  (void)state;
  expect_bearer_refusal("", "credentials are empty");
  expect_bearer_refusal("SeCrEt", "no scheme");
  expect_bearer_refusal("Basic SeCrEt", "scheme is not Bearer");
  expect_bearer_refusal("Bearerx SeCrEt", "scheme is not Bearer");
  expect_bearer_refusal("SeCrEt SeCrEt", "scheme is not Bearer");
  expect_bearer_refusal("Bearer", "no scheme");
  expect_bearer_refusal("Bearer ", "bearer token is empty");
  expect_bearer_refusal("Bearer  SeCrEt", "more than one space");
  expect_bearer_refusal("Bearer\tSeCrEt", "no scheme");
  expect_bearer_refusal("Bearer SeCrEt ", "character 7");
  expect_bearer_refusal("Bearer SeCrEt\r", "character 7");
  expect_bearer_refusal("Bearer SeC=rEt", "character 5");
  expect_bearer_refusal("Bearer =SeCrEt", "character 1");
  expect_bearer_refusal("Bearer SeC\"rEt", "b64token");
  expect_bearer_refusal("Bearer SeCrEt,x", "character 7");
  char *big = malloc(SS_PROXY_TOKEN_MAX_BYTES + 16);
  assert_non_null(big);
  strcpy(big, "Bearer ");
  memset(big + 7, 'a', SS_PROXY_TOKEN_MAX_BYTES + 1);
  big[7 + SS_PROXY_TOKEN_MAX_BYTES + 1] = '\0';
  expect_bearer_refusal(big, "longer than 4096 bytes");
  big[7 + SS_PROXY_TOKEN_MAX_BYTES] = '\0';
  ss_cbs token;
  ss_status st;
  assert_true(parse_bearer_str(big, strlen(big), &token, &st, NULL));
  assert_int_equal(token.len, SS_PROXY_TOKEN_MAX_BYTES);
  free(big);
  // A NUL byte inside the value.
  ss_status_init(&st);
  assert_false(parse_bearer_str("Bearer ab\0cd", 12, &token, &st, NULL));
  assert_non_null(strstr(st.msg, "character 3"));
}

static void test_auth_parse_bearer_survives_truncation_at_every_length(
    void **state) {
  (void)state;
  const char *value = "Bearer sst_0123456789abcdef==";
  for (size_t cut = 0; cut <= strlen(value); cut++) {
    ss_cbs token;
    ss_status st;
    int ok = parse_bearer_str(value, cut, &token, &st, NULL);
    // Every cut that keeps "Bearer " and one token character parses.
    assert_int_equal(ok, cut >= 8);
  }
}

static void test_tokens_authenticate_reports_unknown_and_forbidden_tokens(
    void **state) {
  ss_proxy_tokens *tokens = *state;
  ss_status st;
  const ss_proxy_token *entry = NULL;
  const char *good = "Bearer alpha-token";
  assert_true(ss_proxy_tokens_authenticate(&entry, tokens,
                                           (const uint8_t *)good, strlen(good),
                                           (const uint8_t *)"b", 1, &st));
  assert_string_equal(ss_proxy_token_name(entry), "alice");

  ss_status_init(&st);
  assert_false(ss_proxy_tokens_authenticate(&entry, tokens,
                                            (const uint8_t *)good, strlen(good),
                                            (const uint8_t *)"c", 1, &st));
  assert_null(entry);
  assert_int_equal(st.code, GRPC_STATUS_PERMISSION_DENIED);
  assert_non_null(strstr(st.msg, "token 'alice' may not use route 'c'"));
  assert_null(strstr(st.msg, "alpha-token"));

  const char *unknown = "Bearer alpha-tokeN";
  entry = (const ss_proxy_token *)1;
  assert_false(ss_proxy_tokens_authenticate(
      &entry, tokens, (const uint8_t *)unknown, strlen(unknown),
      (const uint8_t *)"a", 1, &st));
  assert_null(entry);
  assert_int_equal(st.code, GRPC_STATUS_UNAUTHENTICATED);
  assert_null(strstr(st.msg, "alpha-tokeN"));

  const char *bad = "Token alpha-token";
  assert_false(ss_proxy_tokens_authenticate(&entry, tokens,
                                            (const uint8_t *)bad, strlen(bad),
                                            (const uint8_t *)"a", 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_UNAUTHENTICATED);
  assert_null(strstr(st.msg, "alpha-token"));
}

static void test_token_generate_output_parses_and_looks_up(void **state) {
  (void)state;
  char *token = NULL, *line = NULL, *token2 = NULL, *line2 = NULL;
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_proxy_token_generate(&token, &line, "svc-1", "a,b", &st));
  assert_true(ss_proxy_token_generate(&token2, &line2, "svc-2", "*", &st));
  assert_int_equal(strlen(token), 4 + 43);
  assert_memory_equal(token, SS_PROXY_TOKEN_PREFIX, 4);
  assert_string_not_equal(token, token2);
  assert_int_equal(line[strlen(line) - 1], '\n');
  assert_null(strstr(line, token));
  char text[512];
  snprintf(text, sizeof(text), "# generated\n%s%s", line, line2);
  ss_proxy_tokens *tokens = parse_str(text, &st);
  assert_non_null(tokens);
  char header[128];
  snprintf(header, sizeof(header), "Bearer %s", token);
  const ss_proxy_token *entry = NULL;
  assert_true(ss_proxy_tokens_authenticate(
      &entry, tokens, (const uint8_t *)header, strlen(header),
      (const uint8_t *)"b", 1, &st));
  assert_string_equal(ss_proxy_token_name(entry), "svc-1");
  assert_false(ss_proxy_token_allows_route(entry, (const uint8_t *)"c", 1));
  snprintf(header, sizeof(header), "Bearer %s", token2);
  assert_true(ss_proxy_tokens_authenticate(
      &entry, tokens, (const uint8_t *)header, strlen(header),
      (const uint8_t *)"zz", 2, &st));
  assert_string_equal(ss_proxy_token_name(entry), "svc-2");
  ss_proxy_tokens_unref(tokens);
  ss_proxy_secret_free(token);
  ss_proxy_secret_free(token2);
  ss_proxy_secret_free(NULL);
  free(line);
  free(line2);
}

static void test_token_generate_refuses_bad_names_and_routes(void **state) {
  (void)state;
  char *token = (char *)1, *line = (char *)1;
  ss_status st;
  ss_status_init(&st);
  assert_false(ss_proxy_token_generate(&token, &line, "bad name", "*", &st));
  assert_null(token);
  assert_null(line);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "token name 'bad name'"));
  assert_false(ss_proxy_token_generate(&token, &line, "ok", "a,,b", &st));
  assert_non_null(strstr(st.msg, "route list: route 2 is empty"));
  assert_false(ss_proxy_token_generate(&token, &line, "ok", "", &st));
  assert_non_null(strstr(st.msg, "route list is empty"));
  assert_false(ss_proxy_token_generate(&token, &line, "", "*", &st));
  assert_non_null(strstr(st.msg, "token name is empty"));
  assert_null(token);
  assert_null(line);
}

static void test_name_and_route_list_checks_name_what_is_checked(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_proxy_name_check("x", (const uint8_t *)"A.b_c-9", 7, &st));
  assert_false(ss_proxy_name_check("--route", (const uint8_t *)"a b", 3, &st));
  assert_non_null(strstr(st.msg, "--route 'a b': character 2"));
  assert_true(
      ss_proxy_route_list_check("ROUTES", (const uint8_t *)"*", 1, &st));
  assert_true(
      ss_proxy_route_list_check("ROUTES", (const uint8_t *)"a,b.c", 5, &st));
  assert_false(
      ss_proxy_route_list_check("ROUTES", (const uint8_t *)"a,b,", 4, &st));
  assert_non_null(strstr(st.msg, "ROUTES: route 3 is empty"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          test_tokens_parse_reads_entries_comments_blanks_and_crlf),
      cmocka_unit_test(
          test_tokens_parse_accepts_an_empty_file_that_matches_nothing),
      cmocka_unit_test(
          test_tokens_parse_refuses_uppercase_hex_naming_file_and_line),
      cmocka_unit_test(test_tokens_parse_refuses_hex_of_the_wrong_length),
      cmocka_unit_test(test_tokens_parse_refuses_a_missing_hash_or_route_list),
      cmocka_unit_test(test_tokens_parse_refuses_text_after_the_route_list),
      cmocka_unit_test(test_tokens_parse_refuses_bad_names),
      cmocka_unit_test(test_tokens_parse_refuses_bad_route_lists),
      cmocka_unit_test(
          test_tokens_parse_refuses_duplicate_names_with_both_lines),
      cmocka_unit_test(
          test_tokens_parse_refuses_duplicate_hashes_without_showing_them),
      cmocka_unit_test(
          test_tokens_parse_reports_the_first_repeat_in_file_order),
      cmocka_unit_test(
          test_tokens_parse_accepts_the_entry_cap_and_refuses_one_more),
      cmocka_unit_test(test_tokens_parse_survives_truncation_at_every_length),
      cmocka_unit_test(test_tokens_load_reads_a_file_and_names_missing_ones),
      cmocka_unit_test(test_tokens_load_refuses_a_file_over_the_size_cap),
      cmocka_unit_test_setup_teardown(
          test_tokens_lookup_finds_each_entry_and_nothing_else,
          three_entries_setup, three_entries_teardown),
      cmocka_unit_test(test_tokens_lookup_finds_the_first_and_last_of_many),
      cmocka_unit_test_setup_teardown(
          test_token_allows_only_its_routes_by_exact_bytes, three_entries_setup,
          three_entries_teardown),
      cmocka_unit_test_setup_teardown(
          test_tokens_ref_keeps_entries_alive_until_the_last_unref,
          three_entries_setup, three_entries_teardown),
      cmocka_unit_test(
          test_auth_parse_bearer_accepts_any_case_scheme_and_padding),
      cmocka_unit_test(
          test_auth_parse_bearer_refuses_malformed_values_with_a_reason),
      cmocka_unit_test(
          test_auth_parse_bearer_survives_truncation_at_every_length),
      cmocka_unit_test_setup_teardown(
          test_tokens_authenticate_reports_unknown_and_forbidden_tokens,
          three_entries_setup, three_entries_teardown),
      cmocka_unit_test(test_token_generate_output_parses_and_looks_up),
      cmocka_unit_test(test_token_generate_refuses_bad_names_and_routes),
      cmocka_unit_test(test_name_and_route_list_checks_name_what_is_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
