// Test support (see vectors.h). Vectors come from the @shared repository,
// which Bazel places in a test's runfiles under "shared/".
#include "lib/testing/vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *ss_test_vectors_load(const char *relpath) {
  const char *root = getenv("TEST_SRCDIR");
  char path[4096];
  snprintf(path, sizeof(path), "%s/shared/vectors/%s",
           root != NULL ? root : "..", relpath);
  json_error_t err;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
  if (doc == NULL) {
    fprintf(stderr, "cannot load vectors %s: %s (line %d)\n", path, err.text,
            err.line);
  }
  return doc;
}

int ss_test_vector_file_setup(void **state) {
  ss_test_vector_file *file = *state;
  file->doc = ss_test_vectors_load(file->path);
  return file->doc == NULL ? -1 : 0;
}

int ss_test_vector_file_teardown(void **state) {
  ss_test_vector_file *file = *state;
  json_decref(file->doc);
  file->doc = NULL;
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

int ss_test_hex_decode(ss_buf *out, const char *hex) {
  ss_buf_reset(out);
  size_t len = strlen(hex);
  if (len % 2 != 0) {
    return 0;
  }
  for (size_t i = 0; i < len; i += 2) {
    int hi = hex_value(hex[i]);
    int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0 || !ss_buf_append_u8(out, (uint8_t)(hi << 4 | lo))) {
      return 0;
    }
  }
  // Keep data non-NULL for empty values so callers can pass it to APIs
  // that reject NULL pointers.
  return ss_buf_nul_terminate(out);
}

int ss_test_read_file(ss_buf *out, const char *path) {
  ss_buf_reset(out);
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    return 0;
  }
  uint8_t chunk[65536];
  size_t n;
  int ok = 1;
  while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) {
    ok = ok && ss_buf_append(out, chunk, n);
  }
  ok = ok && !ferror(file) && ss_buf_nul_terminate(out);
  fclose(file);
  return ok;
}
