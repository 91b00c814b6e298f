// Byte cursors and builders (see bytes.h). Cursor input is untrusted; every
// read is checked against the remaining length before it happens.
#include "lib/base/bytes.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void ss_cbs_init(ss_cbs *cbs, const void *data, size_t len) {
  cbs->data = data;
  cbs->len = len;
}

int ss_cbs_skip(ss_cbs *cbs, size_t n) {
  if (n > cbs->len) {
    return 0;
  }
  cbs->data += n;
  cbs->len -= n;
  return 1;
}

int ss_cbs_get_u8(ss_cbs *cbs, uint8_t *out) {
  if (cbs->len == 0) {
    return 0;
  }
  *out = cbs->data[0];
  cbs->data++;
  cbs->len--;
  return 1;
}

int ss_cbs_get_bytes(ss_cbs *cbs, ss_cbs *out, size_t n) {
  if (n > cbs->len) {
    return 0;
  }
  ss_cbs_init(out, cbs->data, n);
  cbs->data += n;
  cbs->len -= n;
  return 1;
}

int ss_cbs_get_until(ss_cbs *cbs, ss_cbs *out, uint8_t delim) {
  if (cbs->len == 0) {
    return 0;
  }
  const uint8_t *hit = memchr(cbs->data, delim, cbs->len);
  if (hit == NULL) {
    return 0;
  }
  size_t n = (size_t)(hit - cbs->data);
  ss_cbs_init(out, cbs->data, n);
  cbs->data += n + 1;
  cbs->len -= n + 1;
  return 1;
}

int ss_cbs_equal_str(const ss_cbs *cbs, const char *str) {
  size_t n = strlen(str);
  return n == cbs->len && (n == 0 || memcmp(cbs->data, str, n) == 0);
}

int ss_cbs_contains(const ss_cbs *cbs, uint8_t byte) {
  return cbs->len > 0 && memchr(cbs->data, byte, cbs->len) != NULL;
}

void ss_buf_init(ss_buf *buf, size_t max) {
  memset(buf, 0, sizeof(*buf));
  buf->max = max;
}

void ss_buf_cleanup(ss_buf *buf) {
  if (buf->data != NULL) {
    OPENSSL_cleanse(buf->data, buf->cap);
    free(buf->data);
  }
  size_t max = buf->max;
  ss_buf_init(buf, max);
}

void ss_buf_reset(ss_buf *buf) {
  buf->len = 0;
  buf->failed = 0;
}

void ss_buf_wipe(ss_buf *buf) {
  if (buf->data != NULL) {
    OPENSSL_cleanse(buf->data, buf->len);
  }
  ss_buf_reset(buf);
}

int ss_buf_reserve(ss_buf *buf, size_t n, uint8_t **out_ptr) {
  *out_ptr = NULL;
  if (buf->failed) {
    return 0;
  }
  size_t max = buf->max == 0 ? SIZE_MAX : buf->max;
  // One spare byte beyond |max| is kept for ss_buf_nul_terminate.
  if (n > max - buf->len || buf->len + n == SIZE_MAX) {
    buf->failed = 1;
    return 0;
  }
  size_t need = buf->len + n + 1;
  // No allocation can exceed PTRDIFF_MAX; asking malloc for more only
  // trips allocators that abort instead of returning NULL.
  if (need > PTRDIFF_MAX) {
    buf->failed = 1;
    return 0;
  }
  if (need > buf->cap) {
    size_t new_cap = buf->cap < 64 ? 64 : buf->cap;
    while (new_cap < need) {
      new_cap = new_cap > SIZE_MAX / 2 ? need : new_cap * 2;
    }
    // realloc would leave a copy of secret bytes in freed memory.
    uint8_t *grown = malloc(new_cap);
    if (grown == NULL) {
      buf->failed = 1;
      return 0;
    }
    if (buf->data != NULL) {
      memcpy(grown, buf->data, buf->len);
      OPENSSL_cleanse(buf->data, buf->cap);
      free(buf->data);
    }
    buf->data = grown;
    buf->cap = new_cap;
  }
  *out_ptr = buf->data + buf->len;
  return 1;
}

void ss_buf_advance(ss_buf *buf, size_t n) { buf->len += n; }

int ss_buf_append(ss_buf *buf, const void *data, size_t len) {
  uint8_t *dst;
  if (!ss_buf_reserve(buf, len, &dst)) {
    return 0;
  }
  if (len > 0) {
    memcpy(dst, data, len);
  }
  buf->len += len;
  return 1;
}

int ss_buf_append_str(ss_buf *buf, const char *str) {
  return ss_buf_append(buf, str, strlen(str));
}

int ss_buf_append_u8(ss_buf *buf, uint8_t byte) {
  return ss_buf_append(buf, &byte, 1);
}

int ss_buf_nul_terminate(ss_buf *buf) {
  uint8_t *dst;
  if (!ss_buf_reserve(buf, 0, &dst)) {
    return 0;
  }
  *dst = '\0';  // the reserve always keeps one spare byte
  return 1;
}

int ss_buf_release(ss_buf *buf, uint8_t **out_data, size_t *out_len) {
  *out_data = NULL;
  *out_len = 0;
  if (buf->failed) {
    return 0;
  }
  *out_data = buf->data;
  *out_len = buf->len;
  size_t max = buf->max;
  ss_buf_init(buf, max);
  return 1;
}
