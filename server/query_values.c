// Values of a result as the query source sends them (see
// query_source_internal.h): protobuf varint sizes, TEXT made valid UTF-8, and
// timestamps read from SQLite's integer, real and ISO 8601 forms. The values
// are the database's: data, never trusted to be well formed.
#include <stdint.h>
#include <string.h>

#include "server/query_source_internal.h"

size_t ss__varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

// utf8_valid_len returns the length of the valid UTF-8 sequence at the start
// of |s| (|n| > 0 bytes), or 0 if it is invalid (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
static size_t utf8_valid_len(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  if (c < 0x80) {
    return 1;
  }
  size_t len;
  uint8_t lo = 0x80;
  uint8_t hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    lo = c == 0xe0 ? 0xa0 : 0x80;
    hi = c == 0xed ? 0x9f : 0xbf;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    lo = c == 0xf0 ? 0x90 : 0x80;
    hi = c == 0xf4 ? 0x8f : 0xbf;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) {
    return 0;
  }
  for (size_t i = 2; i < len; i++) {
    if (s[i] < 0x80 || s[i] > 0xbf) {
      return 0;
    }
  }
  return len;
}

// utf8_valid returns 1 if all |n| bytes of |s| are valid UTF-8.
static int utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (n - i >= 8) {
      uint64_t word;
      memcpy(&word, s + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    size_t len = utf8_valid_len(s + i, n - i);
    if (len == 0) {
      return 0;
    }
    i += len;
  }
  return 1;
}

int ss__copy_text(ss_buf *arena, const uint8_t *s, size_t n,
                  size_t *out_len) {
  const uint8_t *nul = n > 0 ? memchr(s, 0, n) : NULL;
  if (nul != NULL) {
    n = (size_t)(nul - s);
  }
  uint8_t *dst;
  if (utf8_valid(s, n)) {
    if (!ss_buf_reserve(arena, n + 1, &dst)) {
      return 0;
    }
    if (n > 0) {
      memcpy(dst, s, n);
    }
    dst[n] = '\0';
    ss_buf_advance(arena, n + 1);
    *out_len = n;
    return 1;
  }
  // Each invalid byte grows to the 3 bytes of U+FFFD.
  if (n > (SIZE_MAX - 1) / 3 || !ss_buf_reserve(arena, 3 * n + 1, &dst)) {
    return 0;
  }
  size_t w = 0;
  size_t i = 0;
  while (i < n) {
    size_t len = utf8_valid_len(s + i, n - i);
    if (len == 0) {
      dst[w++] = 0xef;
      dst[w++] = 0xbf;
      dst[w++] = 0xbd;
      i++;
      continue;
    }
    memcpy(dst + w, s + i, len);
    w += len;
    i += len;
  }
  dst[w] = '\0';
  ss_buf_advance(arena, w + 1);
  *out_len = w;
  return 1;
}

// get_number reads exactly |digits| decimal digits from |cbs|.
static int get_number(ss_cbs *cbs, int digits, int *out) {
  int v = 0;
  for (int i = 0; i < digits; i++) {
    uint8_t c;
    if (!ss_cbs_get_u8(cbs, &c) || c < '0' || c > '9') {
      return 0;
    }
    v = v * 10 + (c - '0');
  }
  *out = v;
  return 1;
}

// get_digit reads one decimal digit from |cbs|; on anything else |cbs| is
// unchanged.
static int get_digit(ss_cbs *cbs, int *out) {
  ss_cbs probe = *cbs;
  uint8_t c;
  if (!ss_cbs_get_u8(&probe, &c) || c < '0' || c > '9') {
    return 0;
  }
  *out = c - '0';
  *cbs = probe;
  return 1;
}

// get_char reads one byte equal to |want| from |cbs|; on a mismatch |cbs| is
// unchanged.
static int get_char(ss_cbs *cbs, uint8_t want) {
  ss_cbs probe = *cbs;
  uint8_t c;
  if (!ss_cbs_get_u8(&probe, &c) || c != want) {
    return 0;
  }
  *cbs = probe;
  return 1;
}

// days_from_civil returns the days from 1970-01-01 to the proleptic
// Gregorian date |y|-|m|-|d| (H. Hinnant's algorithm).
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// parse_iso8601 converts "YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][Z|(+|-)HH:MM]"
// to nanoseconds since the Unix epoch. Returns 1, or 0 for anything else or
// a time outside int64 nanoseconds (years 1678 to 2261).
static int parse_iso8601(const uint8_t *text, size_t len, int64_t *out_ns) {
  ss_cbs cbs;
  ss_cbs_init(&cbs, text, len);
  int year, month, day, hour = 0, minute = 0, second = 0;
  int64_t nanos = 0;
  int64_t offset_s = 0;
  if (!get_number(&cbs, 4, &year) || !get_char(&cbs, '-') ||
      !get_number(&cbs, 2, &month) || !get_char(&cbs, '-') ||
      !get_number(&cbs, 2, &day) || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, month)) {
    return 0;
  }
  if (get_char(&cbs, 'T') || get_char(&cbs, ' ')) {
    if (!get_number(&cbs, 2, &hour) || !get_char(&cbs, ':') ||
        !get_number(&cbs, 2, &minute) || hour > 23 || minute > 59) {
      return 0;
    }
    if (get_char(&cbs, ':')) {
      if (!get_number(&cbs, 2, &second) || second > 59) {
        return 0;
      }
      if (get_char(&cbs, '.')) {
        // Digits past nanoseconds are dropped.
        int digits = 0;
        int64_t scale = 100000000;
        int d;
        while (get_digit(&cbs, &d)) {
          nanos += d * scale;
          scale /= 10;
          digits++;
        }
        if (digits == 0) {
          return 0;
        }
      }
    }
    if (get_char(&cbs, 'Z')) {
      offset_s = 0;
    } else {
      int sign = get_char(&cbs, '+') ? 1 : get_char(&cbs, '-') ? -1 : 0;
      if (sign != 0) {
        int oh, om;
        if (!get_number(&cbs, 2, &oh) || !get_char(&cbs, ':') ||
            !get_number(&cbs, 2, &om) || oh > 23 || om > 59) {
          return 0;
        }
        offset_s = sign * (oh * 3600 + om * 60);
      }
    }
  }
  if (cbs.len != 0) {
    return 0;
  }
  int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 +
                    minute * 60 + second - offset_s;
  // INT64_MAX nanoseconds is 9223372036.85 seconds.
  if (seconds > INT64_MAX / 1000000000 - 1 ||
      seconds < INT64_MIN / 1000000000 + 1) {
    return 0;
  }
  *out_ns = seconds * 1000000000 + nanos;
  return 1;
}

int ss__timestamp_value(sqlite3_stmt *stmt, int i, int vtype,
                        int64_t *out_ns) {
  if (vtype == SQLITE_INTEGER) {
    *out_ns = sqlite3_column_int64(stmt, i);
    return 1;
  }
  if (vtype == SQLITE_FLOAT) {
    double d = sqlite3_column_double(stmt, i);
    // -2^63 is exact as a double; 2^63 is the first value out of range.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
      return 0;
    }
    *out_ns = (int64_t)d;
    return 1;
  }
  if (vtype == SQLITE_TEXT) {
    const uint8_t *text = sqlite3_column_text(stmt, i);
    int len = sqlite3_column_bytes(stmt, i);
    return text != NULL && parse_iso8601(text, (size_t)len, out_ns);
  }
  return 0;
}
