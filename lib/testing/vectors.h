// Test support: published test vectors read at run time from ../shared
// (Wycheproof, JOSE cookbook), and small decoding helpers for them.
#ifndef SEALSTREAM_LIB_TESTING_VECTORS_H
#define SEALSTREAM_LIB_TESTING_VECTORS_H

#include <jansson.h>
#include <stddef.h>

#include "lib/base/bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_test_vectors_load parses ../shared/vectors/|relpath| (for example
// "wycheproof/aes_gcm_test.json") as found in the test's runfiles. Returns a
// new reference, or NULL after printing why to stderr.
json_t *ss_test_vectors_load(const char *relpath);

// A vector file for a cmocka test: pass a pointer to one as the test's
// state with ss_test_vector_file_setup / _teardown, which load and release
// |doc|.
typedef struct ss_test_vector_file {
  const char *path;   // under ../shared/vectors
  const char *param;  // the test's own parameter for this file; may be NULL
  json_t *doc;        // owned between setup and teardown
} ss_test_vector_file;

// ss_test_vector_file_setup loads the file |*state| points to. Returns 0,
// or -1 (cmocka then fails the test) if it cannot be read.
int ss_test_vector_file_setup(void **state);

// ss_test_vector_file_teardown releases what setup loaded. Returns 0.
int ss_test_vector_file_teardown(void **state);

// ss_test_hex_decode appends the bytes of hex string |hex| to |out| (reset
// first). Returns 1, or 0 for odd length or a non-hex digit.
int ss_test_hex_decode(ss_buf *out, const char *hex);

// ss_test_read_file reads the whole file at |path| into |out| (reset first).
// Returns 1 or 0.
int ss_test_read_file(ss_buf *out, const char *path);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_TESTING_VECTORS_H
