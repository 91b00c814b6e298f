// Output formats of sealstream-query: an aligned table, CSV (RFC 4180) and
// JSON lines. A printer writes each batch as it arrives, so memory stays
// bounded by one batch. Cell values come from the server's database and are
// untrusted text: the table escapes control characters so that they cannot
// drive the terminal, JSON escapes per RFC 8259 and replaces invalid UTF-8
// with U+FFFD, CSV passes text through byte for byte (quoted as needed).
#ifndef SEALSTREAM_CLIENT_QUERY_FORMAT_H
#define SEALSTREAM_CLIENT_QUERY_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sealstream/client.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ss_output_format {
  SS_OUTPUT_TABLE,
  SS_OUTPUT_CSV,
  SS_OUTPUT_JSONL,
} ss_output_format;

// ss_output_format_parse sets |*out| from "table", "csv" or "jsonl".
// Returns 1, or 0 for another name.
int ss_output_format_parse(const char *name, ss_output_format *out);

// A growable text buffer. The zero value is empty and valid; after a failed
// allocation |failed| is set and further appends do nothing.
typedef struct ss_text {
  char *data;  // owned; NUL-terminated when len > 0
  size_t len;  // bytes written, without the NUL
  size_t cap;  // bytes allocated
  int failed;
} ss_text;

void ss_text_cleanup(ss_text *text);

// Value renderings shared by the formats, appended to |out|.

// ss_format_timestamp appends |ns| (nanoseconds since the Unix epoch) as an
// RFC 3339 UTC time with as many fraction digits as needed:
// "2023-11-14T22:13:20.123456789Z", "1970-01-01T00:00:00Z".
void ss_format_timestamp(ss_text *out, int64_t ns);

// ss_format_double appends the shortest decimal that reads back as |v|
// ("0.1", "1e+300"); NaN and infinities as "NaN", "Infinity", "-Infinity".
void ss_format_double(ss_text *out, double v);

// ss_format_base64 appends standard base64 with padding (RFC 4648 sec. 4).
void ss_format_base64(ss_text *out, const uint8_t *data, size_t len);

// ss_format_json_string appends |len| bytes of |s| as a JSON string with its
// quotes; invalid UTF-8 becomes U+FFFD.
void ss_format_json_string(ss_text *out, const char *s, size_t len);

// ss_format_csv_field appends |s| as one CSV field, quoted when it holds a
// comma, quote, CR or LF, or when it is empty (so that "" differs from a
// null, which is written as nothing).
void ss_format_csv_field(ss_text *out, const char *s, size_t len);

// ss_format_display_text appends |s| for a terminal: control characters
// (C0, DEL, C1) as \n, \r, \t or \xNN / \u0080 escapes, invalid UTF-8 as
// U+FFFD. Returns the display width added, counted in code points.
size_t ss_format_display_text(ss_text *out, const char *s, size_t len);

typedef struct ss_printer ss_printer;

// ss_printer_new makes a printer of |query|'s rows to |out| (both borrowed;
// they must outlive the printer). Returns NULL when out of memory.
ss_printer *ss_printer_new(FILE *out, ss_output_format format,
                           const ss_query *query);

// ss_printer_batch writes the rows of |batch|. The table is aligned per
// batch: column widths come from the header and the rows seen so far and
// only grow, so a later batch with a wider value shifts the columns from
// that batch on (the header is written once, with the first batch). Returns
// 1, or 0 when out of memory or the write failed.
int ss_printer_batch(ss_printer *printer, const ss_batch *batch);

// ss_printer_finish completes the output: the table's header when no row
// came and its "(N rows)" footer. Returns 1, or 0 as above.
int ss_printer_finish(ss_printer *printer);

// ss_printer_rows returns the number of rows written.
uint64_t ss_printer_rows(const ss_printer *printer);

// ss_printer_free frees |printer|. NULL is ignored.
void ss_printer_free(ss_printer *printer);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_CLIENT_QUERY_FORMAT_H
