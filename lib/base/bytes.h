// Byte cursors and byte builders.
//
// ss_cbs is a read-only, bounds-checked view of untrusted bytes: every getter
// checks the remaining length, advances only on success and returns 1/0, so a
// parser never does pointer arithmetic of its own.
//
// ss_buf is a growable output buffer with a size cap. After a failed write it
// refuses further writes and only allows ss_buf_cleanup, so a caller can chain
// writes and check once. Its contents are wiped when it grows or is cleaned
// up, so it may hold secrets and plaintext.
#ifndef SEALSTREAM_LIB_BASE_BYTES_H
#define SEALSTREAM_LIB_BASE_BYTES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_cbs {
  const uint8_t *data;  // borrowed; not NUL-terminated
  size_t len;           // bytes remaining
} ss_cbs;

// ss_cbs_init points |cbs| at |len| bytes of |data| (borrowed).
void ss_cbs_init(ss_cbs *cbs, const void *data, size_t len);

// ss_cbs_skip advances |cbs| by |n| bytes. Returns 1, or 0 if fewer remain.
int ss_cbs_skip(ss_cbs *cbs, size_t n);

// ss_cbs_get_u8 reads one byte into |*out|. Returns 1, or 0 when empty.
int ss_cbs_get_u8(ss_cbs *cbs, uint8_t *out);

// ss_cbs_get_bytes sets |out| to the next |n| bytes and advances past them.
// Returns 1, or 0 (|cbs| unchanged) if fewer than |n| remain.
int ss_cbs_get_bytes(ss_cbs *cbs, ss_cbs *out, size_t n);

// ss_cbs_get_until sets |out| to the bytes before the first |delim| and
// advances past the delimiter. Returns 1, or 0 (|cbs| unchanged) when |delim|
// does not occur.
int ss_cbs_get_until(ss_cbs *cbs, ss_cbs *out, uint8_t delim);

// ss_cbs_equal_str returns 1 if the remaining bytes of |cbs| equal the
// NUL-terminated |str|.
int ss_cbs_equal_str(const ss_cbs *cbs, const char *str);

// ss_cbs_contains returns 1 if |byte| occurs in the remaining bytes.
int ss_cbs_contains(const ss_cbs *cbs, uint8_t byte);

typedef struct ss_buf {
  uint8_t *data;  // owned; NULL until the first write
  size_t len;     // bytes written
  size_t cap;     // bytes allocated
  size_t max;     // writes beyond this length fail; 0 means SIZE_MAX
  int failed;     // set by a failed write; later writes fail at once
} ss_buf;

// ss_buf_init makes an empty builder that may grow to |max| bytes (0: no
// cap). The zero value is also a valid, uncapped empty builder.
void ss_buf_init(ss_buf *buf, size_t max);

// ss_buf_cleanup wipes and frees the contents and resets |buf| to empty
// (keeping its cap). Safe on a zeroed or failed builder.
void ss_buf_cleanup(ss_buf *buf);

// ss_buf_reset sets the length to 0 without freeing, so the allocation is
// reused, and clears the failed flag. The old bytes stay in the buffer until
// overwritten or wiped by ss_buf_cleanup: resetting a large buffer per
// message must not cost a pass over it.
void ss_buf_reset(ss_buf *buf);

// ss_buf_wipe wipes the bytes written and resets the length to 0, keeping
// the allocation: for plaintext that must not outlive a failed operation.
void ss_buf_wipe(ss_buf *buf);

// ss_buf_reserve makes room for |n| more bytes and sets |*out_ptr| to where
// they go; the caller writes them and then calls ss_buf_advance. Returns 1, or
// 0 when the cap would be exceeded or memory is short (builder then failed).
int ss_buf_reserve(ss_buf *buf, size_t n, uint8_t **out_ptr);

// ss_buf_advance commits |n| bytes written after ss_buf_reserve. |n| must not
// exceed what was reserved.
void ss_buf_advance(ss_buf *buf, size_t n);

// ss_buf_append copies |len| bytes of |data| to the end. Returns 1 or 0.
int ss_buf_append(ss_buf *buf, const void *data, size_t len);

// ss_buf_append_str appends a NUL-terminated string (without the NUL).
int ss_buf_append_str(ss_buf *buf, const char *str);

// ss_buf_append_u8 appends one byte.
int ss_buf_append_u8(ss_buf *buf, uint8_t byte);

// ss_buf_nul_terminate makes data[len] a NUL byte without counting it in the
// length, so the contents can be used as a C string. Returns 1 or 0.
int ss_buf_nul_terminate(ss_buf *buf);

// ss_buf_release hands the contents to the caller: |*out_data| (free with
// free(), wiping first if secret) and |*out_len|; |buf| becomes empty.
// Returns 1, or 0 if the builder failed (outputs NULL/0).
int ss_buf_release(ss_buf *buf, uint8_t **out_data, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_BASE_BYTES_H
