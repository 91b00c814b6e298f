// Output formats of sealstream-query (query_format.h): aligned table, CSV
// per RFC 4180, JSON lines per RFC 8259, timestamps per RFC 3339, bytes as
// RFC 4648 base64. Cell text comes from the server's database: it is escaped
// for the terminal (table) or for JSON, and checked as UTF-8 in both.
#include "client/query_format.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ss_output_format_parse(const char *name, ss_output_format *out) {
  if (strcmp(name, "table") == 0) {
    *out = SS_OUTPUT_TABLE;
  } else if (strcmp(name, "csv") == 0) {
    *out = SS_OUTPUT_CSV;
  } else if (strcmp(name, "jsonl") == 0) {
    *out = SS_OUTPUT_JSONL;
  } else {
    return 0;
  }
  return 1;
}

// --- ss_text ---

void ss_text_cleanup(ss_text *text) {
  free(text->data);
  memset(text, 0, sizeof(*text));
}

static void text_reset(ss_text *text) {
  text->len = 0;
  if (text->data != NULL) {
    text->data[0] = '\0';
  }
}

static int text_reserve(ss_text *text, size_t n) {
  if (text->failed) {
    return 0;
  }
  if (n < text->cap - text->len) {
    return 1;  // room for n bytes and the NUL
  }
  if (n > SIZE_MAX / 2 - text->len - 1) {
    text->failed = 1;
    return 0;
  }
  size_t cap = text->cap != 0 ? text->cap : 256;
  while (cap - text->len <= n) {
    cap *= 2;
  }
  char *data = realloc(text->data, cap);
  if (data == NULL) {
    text->failed = 1;
    return 0;
  }
  text->data = data;
  text->cap = cap;
  return 1;
}

static void text_append(ss_text *text, const void *data, size_t len) {
  if (!text_reserve(text, len)) {
    return;
  }
  memcpy(text->data + text->len, data, len);
  text->len += len;
  text->data[text->len] = '\0';
}

static void text_puts(ss_text *text, const char *s) {
  text_append(text, s, strlen(s));
}

static void text_putc(ss_text *text, char c) { text_append(text, &c, 1); }

static void text_pad(ss_text *text, size_t n) {
  if (!text_reserve(text, n)) {
    return;
  }
  memset(text->data + text->len, ' ', n);
  text->len += n;
  text->data[text->len] = '\0';
}

// --- values ---

void ss_format_timestamp(ss_text *out, int64_t ns) {
  int64_t seconds = ns / 1000000000;
  int64_t fraction = ns % 1000000000;
  if (fraction < 0) {
    fraction += 1000000000;
    seconds -= 1;
  }
  time_t t = (time_t)seconds;
  struct tm tm;
  char text[64];
  // int64 nanoseconds span the years 1677..2262: gmtime_r cannot fail.
  if (gmtime_r(&t, &tm) == NULL) {
    text_puts(out, "invalid-time");
    return;
  }
  size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  if (fraction != 0) {
    int digits = 9;
    while (fraction % 10 == 0) {
      fraction /= 10;
      digits--;
    }
    snprintf(text + n, sizeof(text) - n, ".%0*" PRId64, digits, fraction);
    n = strlen(text);
  }
  snprintf(text + n, sizeof(text) - n, "Z");
  text_puts(out, text);
}

void ss_format_double(ss_text *out, double v) {
  if (isnan(v)) {
    text_puts(out, "NaN");
    return;
  }
  if (isinf(v)) {
    text_puts(out, v > 0 ? "Infinity" : "-Infinity");
    return;
  }
  char text[40];
  for (int precision = 15; precision <= 17; precision++) {
    snprintf(text, sizeof(text), "%.*g", precision, v);
    if (strtod(text, NULL) == v) {
      break;
    }
  }
  text_puts(out, text);
}

void ss_format_base64(ss_text *out, const uint8_t *data, size_t len) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (len > (SIZE_MAX / 4) * 3 - 3 ||
      !text_reserve(out, (len + 2) / 3 * 4)) {
    out->failed = 1;
    return;
  }
  char *p = out->data + out->len;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 |
                 data[i + 2];
    *p++ = kAlphabet[v >> 18];
    *p++ = kAlphabet[(v >> 12) & 63];
    *p++ = kAlphabet[(v >> 6) & 63];
    *p++ = kAlphabet[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)data[i] << 16;
    if (i + 1 < len) {
      v |= (uint32_t)data[i + 1] << 8;
    }
    *p++ = kAlphabet[v >> 18];
    *p++ = kAlphabet[(v >> 12) & 63];
    *p++ = i + 1 < len ? kAlphabet[(v >> 6) & 63] : '=';
    *p++ = '=';
  }
  out->len = (size_t)(p - out->data);
  out->data[out->len] = '\0';
}

// utf8_sequence returns the length (1 to 4) of the valid UTF-8 sequence at
// the start of |s| and its code point, or 0 when it is invalid (overlong,
// surrogate, above U+10FFFF or cut short).
static size_t utf8_sequence(const unsigned char *s, size_t len,
                            uint32_t *out_cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *out_cp = c;
    return 1;
  }
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
    if (c == 0xe0) {
      lo = 0xa0;
    } else if (c == 0xed) {
      hi = 0x9f;  // no surrogates
    }
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
    if (c == 0xf0) {
      lo = 0x90;
    } else if (c == 0xf4) {
      hi = 0x8f;
    }
  } else {
    return 0;
  }
  if (len < n || s[1] < lo || s[1] > hi) {
    return 0;
  }
  cp = cp << 6 | (s[1] & 0x3f);
  for (size_t i = 2; i < n; i++) {
    if (s[i] < 0x80 || s[i] > 0xbf) {
      return 0;
    }
    cp = cp << 6 | (s[i] & 0x3f);
  }
  *out_cp = cp;
  return n;
}

void ss_format_json_string(ss_text *out, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  text_putc(out, '"');
  size_t i = 0;
  while (i < len) {
    uint32_t cp;
    size_t n = utf8_sequence(p + i, len - i, &cp);
    if (n == 0) {
      text_puts(out, "\\ufffd");
      i++;
      continue;
    }
    if (n > 1) {
      text_append(out, p + i, n);
    } else if (cp == '"' || cp == '\\') {
      text_putc(out, '\\');
      text_putc(out, (char)cp);
    } else if (cp == '\n') {
      text_puts(out, "\\n");
    } else if (cp == '\r') {
      text_puts(out, "\\r");
    } else if (cp == '\t') {
      text_puts(out, "\\t");
    } else if (cp < 0x20) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
      text_puts(out, esc);
    } else {
      text_putc(out, (char)cp);
    }
    i += n;
  }
  text_putc(out, '"');
}

void ss_format_csv_field(ss_text *out, const char *s, size_t len) {
  int quote = len == 0;
  for (size_t i = 0; i < len && !quote; i++) {
    quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
  }
  if (!quote) {
    text_append(out, s, len);
    return;
  }
  text_putc(out, '"');
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '"') {
      text_append(out, s + start, i + 1 - start);  // through the quote
      text_putc(out, '"');                          // doubled
      start = i + 1;
    }
  }
  text_append(out, s + start, len - start);
  text_putc(out, '"');
}

size_t ss_format_display_text(ss_text *out, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t width = 0;
  size_t i = 0;
  while (i < len) {
    uint32_t cp;
    size_t n = utf8_sequence(p + i, len - i, &cp);
    char esc[8];
    if (n == 0) {
      text_puts(out, "\xef\xbf\xbd");  // U+FFFD
      width++;
      i++;
      continue;
    }
    if (cp == '\n' || cp == '\r' || cp == '\t') {
      text_puts(out, cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : "\\t");
      width += 2;
    } else if (cp < 0x20 || cp == 0x7f) {
      snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
      text_puts(out, esc);
      width += 4;
    } else if (cp >= 0x80 && cp <= 0x9f) {
      snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
      text_puts(out, esc);
      width += 6;
    } else {
      text_append(out, p + i, n);
      width++;
    }
    i += n;
  }
  return width;
}

// --- the printer ---

struct ss_printer {
  FILE *out;                 // borrowed
  ss_output_format format;
  const ss_query *query;     // borrowed: names and types
  size_t num_columns;
  size_t *widths;            // table: display width of each column
  ss_text *json_keys;        // jsonl: "name": per column
  int header_written;
  uint64_t rows;
  ss_text line;              // the row being built
  ss_text cell;              // scratch for one value
};

static int is_numeric(ss_column_type type) {
  return type == SS_COLUMN_INT64 || type == SS_COLUMN_DOUBLE;
}

// render_value appends the value of one non-null cell in the format's
// spelling and returns its display width (used by the table only).
static size_t render_value(ss_text *out, ss_output_format format,
                           const ss_batch *batch, ss_column_type type,
                           size_t column, size_t row) {
  size_t start = out->len;
  size_t len;
  switch (type) {
    case SS_COLUMN_INT64: {
      char text[32];
      snprintf(text, sizeof(text), "%" PRId64,
               ss_batch_int64(batch, column, row));
      text_puts(out, text);
      break;
    }
    case SS_COLUMN_DOUBLE: {
      double v = ss_batch_double(batch, column, row);
      int quoted = format == SS_OUTPUT_JSONL && !isfinite(v);
      if (quoted) {
        text_putc(out, '"');  // JSON has no NaN or infinity
      }
      ss_format_double(out, v);
      if (quoted) {
        text_putc(out, '"');
      }
      break;
    }
    case SS_COLUMN_BOOL:
      text_puts(out, ss_batch_bool(batch, column, row) ? "true" : "false");
      break;
    case SS_COLUMN_STRING: {
      const char *s = ss_batch_string(batch, column, row, &len);
      if (s == NULL) {
        s = "";  // cannot happen: the type was checked
        len = 0;
      }
      if (format == SS_OUTPUT_TABLE) {
        return ss_format_display_text(out, s, len);
      }
      if (format == SS_OUTPUT_CSV) {
        ss_format_csv_field(out, s, len);
      } else {
        ss_format_json_string(out, s, len);
      }
      return 0;
    }
    case SS_COLUMN_BYTES: {
      const uint8_t *b = ss_batch_bytes(batch, column, row, &len);
      if (format == SS_OUTPUT_JSONL) {
        text_putc(out, '"');
      }
      if (b != NULL) {
        ss_format_base64(out, b, len);
      }
      if (format == SS_OUTPUT_CSV && len == 0) {
        text_puts(out, "\"\"");  // empty, not null
      }
      if (format == SS_OUTPUT_JSONL) {
        text_putc(out, '"');
      }
      break;
    }
    case SS_COLUMN_TIMESTAMP:
      if (format == SS_OUTPUT_JSONL) {
        text_putc(out, '"');
      }
      ss_format_timestamp(out, ss_batch_timestamp(batch, column, row));
      if (format == SS_OUTPUT_JSONL) {
        text_putc(out, '"');
      }
      break;
  }
  // Everything but strings is ASCII: one column per byte.
  return out->failed ? 0 : out->len - start;
}

// render_cell appends one cell, nulls included; returns its display width.
static size_t render_cell(ss_printer *p, ss_text *out, const ss_batch *batch,
                          size_t column, size_t row) {
  if (ss_batch_is_null(batch, column, row)) {
    switch (p->format) {
      case SS_OUTPUT_TABLE:
        text_puts(out, "NULL");
        return 4;
      case SS_OUTPUT_CSV:
        return 0;  // an empty, unquoted field
      case SS_OUTPUT_JSONL:
        text_puts(out, "null");
        return 0;
    }
  }
  return render_value(out, p->format, batch,
                      ss_query_column_type(p->query, column), column, row);
}

static int write_line(ss_printer *p) {
  if (p->line.failed) {
    return 0;
  }
  if (p->line.len > 0 && fwrite(p->line.data, 1, p->line.len, p->out) !=
                             p->line.len) {
    return 0;
  }
  text_reset(&p->line);
  return 1;
}

ss_printer *ss_printer_new(FILE *out, ss_output_format format,
                           const ss_query *query) {
  ss_printer *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    return NULL;
  }
  p->out = out;
  p->format = format;
  p->query = query;
  p->num_columns = ss_query_num_columns(query);
  size_t n = p->num_columns > 0 ? p->num_columns : 1;
  p->widths = calloc(n, sizeof(*p->widths));
  p->json_keys = calloc(n, sizeof(*p->json_keys));
  if (p->widths == NULL || p->json_keys == NULL) {
    ss_printer_free(p);
    return NULL;
  }
  for (size_t c = 0; c < p->num_columns; c++) {
    const char *name = ss_query_column_name(query, c);
    text_reset(&p->cell);
    p->widths[c] = ss_format_display_text(&p->cell, name, strlen(name));
    ss_format_json_string(&p->json_keys[c], name, strlen(name));
    text_putc(&p->json_keys[c], ':');
    if (p->json_keys[c].failed) {
      ss_printer_free(p);
      return NULL;
    }
  }
  return p;
}

void ss_printer_free(ss_printer *p) {
  if (p == NULL) {
    return;
  }
  if (p->json_keys != NULL) {
    for (size_t c = 0; c < p->num_columns; c++) {
      ss_text_cleanup(&p->json_keys[c]);
    }
  }
  free(p->json_keys);
  free(p->widths);
  ss_text_cleanup(&p->line);
  ss_text_cleanup(&p->cell);
  free(p);
}

uint64_t ss_printer_rows(const ss_printer *p) { return p->rows; }

static int write_header(ss_printer *p) {
  p->header_written = 1;
  if (p->format == SS_OUTPUT_JSONL) {
    return 1;
  }
  for (size_t c = 0; c < p->num_columns; c++) {
    const char *name = ss_query_column_name(p->query, c);
    if (p->format == SS_OUTPUT_CSV) {
      if (c > 0) {
        text_putc(&p->line, ',');
      }
      ss_format_csv_field(&p->line, name, strlen(name));
      continue;
    }
    if (c > 0) {
      text_puts(&p->line, " | ");
    }
    size_t width = ss_format_display_text(&p->line, name, strlen(name));
    if (c + 1 < p->num_columns) {
      text_pad(&p->line, p->widths[c] - width);
    }
  }
  if (p->format == SS_OUTPUT_CSV) {
    text_puts(&p->line, "\r\n");
    return write_line(p);
  }
  text_putc(&p->line, '\n');
  for (size_t c = 0; c < p->num_columns; c++) {
    if (c > 0) {
      text_puts(&p->line, "-+-");
    }
    for (size_t i = 0; i < p->widths[c]; i++) {
      text_putc(&p->line, '-');
    }
  }
  text_putc(&p->line, '\n');
  return write_line(p);
}

static int print_table_batch(ss_printer *p, const ss_batch *batch) {
  size_t num_rows = ss_batch_num_rows(batch);
  // Pass 1: widen columns for this batch's values.
  for (size_t row = 0; row < num_rows; row++) {
    for (size_t c = 0; c < p->num_columns; c++) {
      text_reset(&p->cell);
      size_t width = render_cell(p, &p->cell, batch, c, row);
      if (width > p->widths[c]) {
        p->widths[c] = width;
      }
    }
  }
  if (!p->header_written && !write_header(p)) {
    return 0;
  }
  // Pass 2: write the rows.
  for (size_t row = 0; row < num_rows; row++) {
    for (size_t c = 0; c < p->num_columns; c++) {
      if (c > 0) {
        text_puts(&p->line, " | ");
      }
      text_reset(&p->cell);
      size_t width = render_cell(p, &p->cell, batch, c, row);
      size_t pad = p->widths[c] - width;
      int right = is_numeric(ss_query_column_type(p->query, c)) &&
                  !ss_batch_is_null(batch, c, row);
      if (right) {
        text_pad(&p->line, pad);
      }
      text_append(&p->line, p->cell.data, p->cell.len);
      if (!right && c + 1 < p->num_columns) {
        text_pad(&p->line, pad);
      }
    }
    text_putc(&p->line, '\n');
    if (p->cell.failed || !write_line(p)) {
      return 0;
    }
    p->rows++;
  }
  return 1;
}

int ss_printer_batch(ss_printer *p, const ss_batch *batch) {
  if (p->format == SS_OUTPUT_TABLE) {
    return print_table_batch(p, batch);
  }
  if (!p->header_written && !write_header(p)) {
    return 0;
  }
  size_t num_rows = ss_batch_num_rows(batch);
  for (size_t row = 0; row < num_rows; row++) {
    if (p->format == SS_OUTPUT_JSONL) {
      text_putc(&p->line, '{');
    }
    for (size_t c = 0; c < p->num_columns; c++) {
      if (c > 0) {
        text_putc(&p->line, ',');
      }
      if (p->format == SS_OUTPUT_JSONL) {
        text_append(&p->line, p->json_keys[c].data, p->json_keys[c].len);
      }
      render_cell(p, &p->line, batch, c, row);
    }
    text_puts(&p->line, p->format == SS_OUTPUT_JSONL ? "}\n" : "\r\n");
    if (!write_line(p)) {
      return 0;
    }
    p->rows++;
  }
  return 1;
}

int ss_printer_finish(ss_printer *p) {
  if (!p->header_written && !write_header(p)) {
    return 0;
  }
  if (p->format == SS_OUTPUT_TABLE) {
    char footer[64];
    snprintf(footer, sizeof(footer), "(%" PRIu64 " row%s)\n", p->rows,
             p->rows == 1 ? "" : "s");
    text_puts(&p->line, footer);
    if (!write_line(p)) {
      return 0;
    }
  }
  return fflush(p->out) == 0 && !ferror(p->out);
}
