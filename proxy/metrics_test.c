#include "proxy/metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PREFIX "sealstream_proxy_"

static int setup_metrics(void **state) {
  ss_status st;
  ss_status_init(&st);
  ss_proxy_metrics *m = ss_proxy_metrics_new(&st);
  *state = m;
  return m == NULL ? -1 : 0;
}

static int teardown_metrics(void **state) {
  ss_proxy_metrics_free(*state);
  return 0;
}

// render returns the exposition of |m| as a NUL-terminated string to free.
static char *render(ss_proxy_metrics *m) {
  ss_status st;
  ss_status_init(&st);
  ss_buf out;
  ss_buf_init(&out, 0);
  assert_true(ss_proxy_metrics_render(m, &out, &st));
  assert_true(ss_buf_nul_terminate(&out));
  uint8_t *data;
  size_t len;
  assert_true(ss_buf_release(&out, &data, &len));
  return (char *)data;
}

// sample_value returns the value of the sample line `|series| value` in
// |text|, or -1 when there is none.
static double sample_value(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *line = text; *line != '\0';) {
    const char *end = strchr(line, '\n');
    assert_non_null(end);
    if ((size_t)(end - line) > n && memcmp(line, series, n) == 0 &&
        line[n] == ' ') {
      return strtod(line + n + 1, NULL);
    }
    line = end + 1;
  }
  return -1;
}

static int is_name_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == ':';
}

// check_sample checks the syntax of one sample line of |len| bytes (labels
// quoted with only \\, \" and \n escapes, a number after one space) and
// returns the length of its metric name.
static size_t check_sample(const char *line, size_t len) {
  size_t i = 0;
  while (i < len && is_name_char(line[i])) {
    i++;
  }
  size_t name_len = i;
  assert_true(name_len > 0);
  if (i < len && line[i] == '{') {
    i++;
    for (;;) {
      size_t start = i;
      while (i < len && is_name_char(line[i])) {
        i++;
      }
      assert_true(i > start);
      assert_true(i + 1 < len && line[i] == '=' && line[i + 1] == '"');
      i += 2;
      while (i < len && line[i] != '"') {
        if (line[i] == '\\') {
          assert_true(i + 1 < len && strchr("\\\"n", line[i + 1]) != NULL);
          i++;
        }
        i++;
      }
      assert_true(i < len);
      i++;  // closing quote
      assert_true(i < len);
      if (line[i] == ',') {
        i++;
        continue;
      }
      assert_int_equal(line[i], '}');
      i++;
      break;
    }
  }
  assert_true(i < len && line[i] == ' ');
  i++;
  char value[64];
  assert_true(len - i > 0 && len - i < sizeof(value));
  memcpy(value, line + i, len - i);
  value[len - i] = '\0';
  char *end;
  strtod(value, &end);
  assert_true(*end == '\0');
  return name_len;
}

// check_exposition parses |text| line by line: each family has one HELP
// then one TYPE line, every sample belongs to the family declared above it
// (histograms by _bucket, _sum and _count), every name has the prefix.
// Returns the number of samples.
static size_t check_exposition(const char *text) {
  char family[128] = "";
  char type[16] = "";
  char seen[32][128];
  size_t num_seen = 0, num_samples = 0;
  for (const char *line = text; *line != '\0';) {
    const char *end = strchr(line, '\n');
    assert_non_null(end);
    size_t len = (size_t)(end - line);
    char name[128];
    if (strncmp(line, "# HELP ", 7) == 0) {
      assert_int_equal(sscanf(line, "# HELP %127s", name), 1);
      assert_true(strncmp(name, PREFIX, strlen(PREFIX)) == 0);
      for (size_t i = 0; i < num_seen; i++) {
        assert_string_not_equal(seen[i], name);
      }
      assert_true(num_seen < 32);
      strcpy(seen[num_seen++], name);
      strcpy(family, name);
      type[0] = '\0';
    } else if (strncmp(line, "# TYPE ", 7) == 0) {
      assert_int_equal(sscanf(line, "# TYPE %127s %15s", name, type), 2);
      assert_string_equal(name, family);
      assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                  strcmp(type, "histogram") == 0);
    } else {
      assert_true(line[0] != '#');
      assert_true(type[0] != '\0');
      size_t name_len = check_sample(line, len);
      assert_true(name_len < sizeof(name));
      memcpy(name, line, name_len);
      name[name_len] = '\0';
      if (strcmp(type, "histogram") == 0) {
        size_t f = strlen(family);
        assert_true(strncmp(name, family, f) == 0);
        assert_true(strcmp(name + f, "_bucket") == 0 ||
                    strcmp(name + f, "_sum") == 0 ||
                    strcmp(name + f, "_count") == 0);
      } else {
        assert_string_equal(name, family);
      }
      num_samples++;
    }
    line = end + 1;
  }
  return num_samples;
}

// family_type returns the TYPE declared for |family| in |text|, or "".
static const char *family_type(const char *text, const char *family) {
  static char type[16];
  char needle[160];
  snprintf(needle, sizeof(needle), "# TYPE %s ", family);
  const char *at = strstr(text, needle);
  type[0] = '\0';
  if (at != NULL) {
    sscanf(at + strlen(needle), "%15s", type);
  }
  return type;
}

static void set_routes(ss_proxy_metrics *m, const char *const *names,
                       size_t n) {
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_proxy_metrics_set_routes(m, names, n, &st));
}

static void end_call(ss_proxy_metrics *m, const char *route,
                     grpc_status_code code) {
  ss_proxy_metrics_stream_started(m);
  ss_proxy_metrics_stream_ended(m, route, route == NULL ? 0 : strlen(route),
                                code);
}

static void test_metrics_render_lists_every_family_with_help_and_type(
    void **state) {
  ss_proxy_metrics *m = *state;
  char *text = render(m);
  assert_true(check_exposition(text) >= 4);
  assert_string_equal(family_type(text, PREFIX "streams_active"), "gauge");
  assert_string_equal(family_type(text, PREFIX "streams_total"), "counter");
  assert_string_equal(family_type(text, PREFIX "forwarded_bytes_total"),
                      "counter");
  assert_string_equal(family_type(text, PREFIX "calls_total"), "counter");
  assert_string_equal(family_type(text, PREFIX "upstream_connect_seconds"),
                      "histogram");
  assert_string_equal(family_type(text, PREFIX "upstream_first_byte_seconds"),
                      "histogram");
  assert_string_equal(family_type(text, PREFIX "process_resident_memory_bytes"),
                      "gauge");
  assert_true(sample_value(text, PREFIX "streams_active") == 0);
  assert_true(sample_value(text, PREFIX "streams_total") == 0);
  assert_true(sample_value(text,
                           PREFIX "forwarded_bytes_total"
                                  "{direction=\"client_to_backend\"}") == 0);
  assert_true(sample_value(text, PREFIX "process_resident_memory_bytes") > 0);
  free(text);
}

#define NUM_THREADS 4
#define NUM_ITERATIONS 100000

typedef struct counting {
  ss_proxy_metrics *m;
  atomic_int stop;  // set when the workers are done; ends the reloader
} counting;

static void *count_calls(void *arg) {
  counting *c = arg;
  for (int i = 0; i < NUM_ITERATIONS; i++) {
    ss_proxy_metrics_stream_started(c->m);
    ss_proxy_metrics_add_bytes(c->m, SS_PROXY_CLIENT_TO_BACKEND, 3);
    ss_proxy_metrics_add_bytes(c->m, SS_PROXY_BACKEND_TO_CLIENT, 5);
    ss_proxy_metrics_observe_first_byte(c->m, "a", 1, 0.002);
    ss_proxy_metrics_stream_ended(
        c->m, "a", 1, i % 2 ? GRPC_STATUS_OK : GRPC_STATUS_UNAVAILABLE);
  }
  return NULL;
}

// reload alternates the route set between {a, b} and {a, c} until stopped,
// so lookups of "a" race with reloads that keep it.
static void *reload(void *arg) {
  counting *c = arg;
  static const char *const kAB[] = {"a", "b"};
  static const char *const kAC[] = {"a", "c"};
  for (unsigned i = 0; !atomic_load(&c->stop); i++) {
    ss_status st;
    ss_status_init(&st);
    if (!ss_proxy_metrics_set_routes(c->m, i % 2 ? kAB : kAC, 2, &st)) {
      return (void *)1;
    }
  }
  return NULL;
}

static void test_metrics_counters_from_four_threads_add_up_exactly(
    void **state) {
  ss_proxy_metrics *m = *state;
  static const char *const kA[] = {"a"};
  set_routes(m, kA, 1);
  counting c = {.m = m};
  atomic_init(&c.stop, 0);
  pthread_t workers[NUM_THREADS], reloader;
  assert_int_equal(pthread_create(&reloader, NULL, reload, &c), 0);
  for (int i = 0; i < NUM_THREADS; i++) {
    assert_int_equal(pthread_create(&workers[i], NULL, count_calls, &c), 0);
  }
  for (int i = 0; i < NUM_THREADS; i++) {
    assert_int_equal(pthread_join(workers[i], NULL), 0);
  }
  atomic_store(&c.stop, 1);
  void *reload_failed;
  assert_int_equal(pthread_join(reloader, &reload_failed), 0);
  assert_null(reload_failed);

  char *text = render(m);
  check_exposition(text);
  const double total = (double)NUM_THREADS * NUM_ITERATIONS;
  assert_true(sample_value(text, PREFIX "streams_total") == total);
  assert_true(sample_value(text, PREFIX "streams_active") == 0);
  assert_true(sample_value(text, PREFIX
                           "forwarded_bytes_total"
                           "{direction=\"client_to_backend\"}") == 3 * total);
  assert_true(sample_value(text, PREFIX
                           "forwarded_bytes_total"
                           "{direction=\"backend_to_client\"}") == 5 * total);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"a\",code=\"OK\"}") ==
      total / 2);
  assert_true(sample_value(text, PREFIX
                           "calls_total{route=\"a\",code=\"UNAVAILABLE\"}") ==
              total / 2);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"\",code=\"OK\"}") == -1);
  assert_true(sample_value(text, PREFIX
                           "upstream_first_byte_seconds_count{route=\"a\"}") ==
              total);
  assert_true(sample_value(text, PREFIX "upstream_first_byte_seconds_bucket"
                                        "{route=\"a\",le=\"0.001\"}") == 0);
  assert_true(sample_value(text,
                           PREFIX "upstream_first_byte_seconds_bucket"
                                  "{route=\"a\",le=\"0.0025\"}") == total);
  assert_true(fabs(sample_value(text, PREFIX "upstream_first_byte_seconds_sum"
                                             "{route=\"a\"}") -
                   0.002 * total) < 1e-6);
  free(text);
}

static void test_metrics_unknown_route_counts_under_empty_label(void **state) {
  ss_proxy_metrics *m = *state;
  static const char *const kRoutes[] = {"users"};
  set_routes(m, kRoutes, 1);
  end_call(m, "nope", GRPC_STATUS_NOT_FOUND);
  end_call(m, NULL, GRPC_STATUS_NOT_FOUND);
  end_call(m, "user", GRPC_STATUS_NOT_FOUND);
  end_call(m, "users/", GRPC_STATUS_NOT_FOUND);
  ss_proxy_metrics_stream_started(m);
  ss_proxy_metrics_stream_ended(m, "users\0x", 7, GRPC_STATUS_NOT_FOUND);
  char long_name[SS_PROXY_METRICS_ROUTE_MAX_LEN + 10];
  memset(long_name, 'u', sizeof(long_name));
  ss_proxy_metrics_stream_started(m);
  ss_proxy_metrics_stream_ended(m, long_name, sizeof(long_name),
                                GRPC_STATUS_NOT_FOUND);
  end_call(m, "users", GRPC_STATUS_OK);
  end_call(m, "users", (grpc_status_code)99);
  ss_proxy_metrics_observe_connect(m, "nope", 4, 0.01);

  char *text = render(m);
  check_exposition(text);
  assert_true(sample_value(text, PREFIX
                           "calls_total{route=\"\",code=\"NOT_FOUND\"}") == 6);
  assert_true(sample_value(text, PREFIX
                           "calls_total{route=\"users\",code=\"OK\"}") == 1);
  assert_true(sample_value(text, PREFIX
                           "calls_total{route=\"users\",code=\"UNKNOWN\"}") ==
              1);
  assert_true(sample_value(text, PREFIX
                           "upstream_connect_seconds_count{route=\"\"}") == 1);
  assert_null(strstr(text, "nope"));
  assert_null(strstr(text, "uuuu"));
  free(text);
}

static void test_metrics_label_values_escape_quotes_backslashes_and_newlines(
    void **state) {
  ss_proxy_metrics *m = *state;
  static const char *const kRoutes[] = {"a\"b\\c\nd"};
  set_routes(m, kRoutes, 1);
  end_call(m, kRoutes[0], GRPC_STATUS_OK);
  ss_proxy_metrics_observe_connect(m, kRoutes[0], strlen(kRoutes[0]), 0.5);
  char *text = render(m);
  check_exposition(text);
  assert_true(sample_value(text, PREFIX "calls_total{route=\"a\\\"b\\\\c\\nd\","
                                        "code=\"OK\"}") == 1);
  assert_true(sample_value(text, PREFIX
                           "upstream_connect_seconds_bucket{"
                           "route=\"a\\\"b\\\\c\\nd\",le=\"0.5\"}") == 1);
  free(text);
}

static void test_metrics_reload_keeps_counts_of_routes_that_remain(
    void **state) {
  ss_proxy_metrics *m = *state;
  static const char *const kAB[] = {"a", "b"};
  static const char *const kAC[] = {"a", "c", "a"};
  set_routes(m, kAB, 2);
  end_call(m, "a", GRPC_STATUS_OK);
  end_call(m, "a", GRPC_STATUS_OK);
  end_call(m, "b", GRPC_STATUS_OK);
  set_routes(m, kAC, 3);
  end_call(m, "a", GRPC_STATUS_OK);
  end_call(m, "b", GRPC_STATUS_OK);
  end_call(m, "c", GRPC_STATUS_OK);

  char *text = render(m);
  check_exposition(text);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"a\",code=\"OK\"}") == 3);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"b\",code=\"OK\"}") == 1);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"c\",code=\"OK\"}") == 1);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"\",code=\"OK\"}") == 1);
  free(text);

  set_routes(m, kAB, 2);
  end_call(m, "b", GRPC_STATUS_OK);
  end_call(m, "c", GRPC_STATUS_OK);
  text = render(m);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"b\",code=\"OK\"}") == 2);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"c\",code=\"OK\"}") == 1);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"\",code=\"OK\"}") == 2);
  free(text);
}

static void test_metrics_histogram_buckets_are_cumulative_and_count_matches(
    void **state) {
  ss_proxy_metrics *m = *state;
  static const char *const kRoutes[] = {"r"};
  set_routes(m, kRoutes, 1);
  const double observed[] = {0.0001, 0.0005, 0.003, 0.7, 20, -1, NAN};
  for (size_t i = 0; i < sizeof(observed) / sizeof(observed[0]); i++) {
    ss_proxy_metrics_observe_connect(m, "r", 1, observed[i]);
  }
  char *text = render(m);
  check_exposition(text);

  // Every bucket line of route "r", in order.
  const char *series =
      PREFIX "upstream_connect_seconds_bucket{route=\"r\",le=\"";
  double previous = 0, inf = -1;
  size_t num_buckets = 0;
  for (const char *at = strstr(text, series); at != NULL;
       at = strstr(at + 1, series)) {
    const char *value = strchr(at, ' ');
    assert_non_null(value);
    double count = strtod(value + 1, NULL);
    assert_true(count >= previous);
    previous = count;
    num_buckets++;
    if (strncmp(at + strlen(series), "+Inf\"", 5) == 0) {
      inf = count;
    }
  }
  assert_int_equal(num_buckets, 15);
  assert_true(inf == 7);
  assert_true(sample_value(text, PREFIX "upstream_connect_seconds_count{"
                                        "route=\"r\"}") == 7);
  assert_true(sample_value(text, PREFIX "upstream_connect_seconds_bucket{"
                                        "route=\"r\",le=\"0.0005\"}") == 4);
  assert_true(sample_value(text, PREFIX "upstream_connect_seconds_bucket{"
                                        "route=\"r\",le=\"0.005\"}") == 5);
  assert_true(sample_value(text, PREFIX "upstream_connect_seconds_bucket{"
                                        "route=\"r\",le=\"10\"}") == 6);
  assert_true(fabs(sample_value(text, PREFIX "upstream_connect_seconds_sum{"
                                             "route=\"r\"}") -
                   20.7036) < 1e-9);
  // Routes without observations list no histogram.
  assert_true(sample_value(text, PREFIX "upstream_first_byte_seconds_count{"
                                        "route=\"r\"}") == -1);
  free(text);
}

static void test_metrics_set_routes_refuses_bad_names_and_keeps_the_set(
    void **state) {
  ss_proxy_metrics *m = *state;
  static const char *const kGood[] = {"good"};
  set_routes(m, kGood, 1);
  char too_long[SS_PROXY_METRICS_ROUTE_MAX_LEN + 2];
  memset(too_long, 'x', sizeof(too_long) - 1);
  too_long[sizeof(too_long) - 1] = '\0';
  const char *const bad[][2] = {
      {"new", ""},
      {"new", too_long},
      {"new", "\xc0\xaf"},
      {"new", "\xed\xa0\x80"},
      {"new", "\xf4\x90\x80\x80"},
      {"new", "\xe2\x82"},
      {"new", NULL},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ss_status st;
    ss_status_init(&st);
    assert_false(ss_proxy_metrics_set_routes(m, bad[i], 2, &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  }
  ss_status st;
  ss_status_init(&st);
  assert_false(ss_proxy_metrics_set_routes(m, NULL, 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  static const char *const kUtf8[] = {"caf\xc3\xa9", "\xf0\x9f\x9a\x80"};
  set_routes(m, kUtf8, 2);
  set_routes(m, kGood, 1);

  end_call(m, "good", GRPC_STATUS_OK);
  end_call(m, "new", GRPC_STATUS_OK);
  char *text = render(m);
  check_exposition(text);
  assert_true(sample_value(
                  text, PREFIX "calls_total{route=\"good\",code=\"OK\"}") == 1);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"\",code=\"OK\"}") == 1);
  free(text);
}

static void test_metrics_route_table_refuses_names_beyond_its_bound(
    void **state) {
  ss_proxy_metrics *m = *state;
  enum { kHalf = SS_PROXY_METRICS_MAX_ROUTES / 2 };
  char storage[SS_PROXY_METRICS_MAX_ROUTES + 1][16];
  const char *names[SS_PROXY_METRICS_MAX_ROUTES + 1];
  for (size_t i = 0; i <= SS_PROXY_METRICS_MAX_ROUTES; i++) {
    snprintf(storage[i], sizeof(storage[i]), "route%zu", i);
    names[i] = storage[i];
  }
  set_routes(m, names, kHalf);
  set_routes(m, names + kHalf, SS_PROXY_METRICS_MAX_ROUTES - kHalf);
  ss_status st;
  ss_status_init(&st);
  assert_false(ss_proxy_metrics_set_routes(
      m, names + kHalf, SS_PROXY_METRICS_MAX_ROUTES - kHalf + 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  // The failed reload changed nothing: the last good set still counts.
  end_call(m, names[SS_PROXY_METRICS_MAX_ROUTES - 1], GRPC_STATUS_OK);
  end_call(m, names[0], GRPC_STATUS_OK);
  end_call(m, names[SS_PROXY_METRICS_MAX_ROUTES], GRPC_STATUS_OK);
  // Names configured before are not new: a full table takes them back.
  set_routes(m, names, SS_PROXY_METRICS_MAX_ROUTES);

  char *text = render(m);
  check_exposition(text);
  assert_true(sample_value(text, PREFIX
                           "calls_total{route=\"route1023\",code=\"OK\"}") ==
              1);
  assert_true(
      sample_value(text, PREFIX "calls_total{route=\"\",code=\"OK\"}") == 2);
  assert_null(strstr(text, "route1024"));
  free(text);
}

static void test_metrics_render_fails_when_the_output_cap_is_too_small(
    void **state) {
  ss_proxy_metrics *m = *state;
  ss_status st;
  ss_status_init(&st);
  ss_buf out;
  ss_buf_init(&out, 64);
  assert_false(ss_proxy_metrics_render(m, &out, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  ss_buf_cleanup(&out);
}

static void test_metrics_free_accepts_null(void **state) {
  (void)state;
  ss_proxy_metrics_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_metrics, teardown_metrics)
      T(test_metrics_render_lists_every_family_with_help_and_type),
      T(test_metrics_counters_from_four_threads_add_up_exactly),
      T(test_metrics_unknown_route_counts_under_empty_label),
      T(test_metrics_label_values_escape_quotes_backslashes_and_newlines),
      T(test_metrics_reload_keeps_counts_of_routes_that_remain),
      T(test_metrics_histogram_buckets_are_cumulative_and_count_matches),
      T(test_metrics_set_routes_refuses_bad_names_and_keeps_the_set),
      T(test_metrics_route_table_refuses_names_beyond_its_bound),
      T(test_metrics_render_fails_when_the_output_cap_is_too_small),
      cmocka_unit_test(test_metrics_free_accepts_null),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
