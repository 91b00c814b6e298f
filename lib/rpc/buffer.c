// Byte-buffer conversions (see buffer.h). Bytes received from a peer are
// untrusted: they are length-checked against the caller's cap while being
// flattened (and, when the peer compressed them, while being inflated with
// zlib), and only then handed to protobuf-c.
#include "lib/rpc/buffer.h"

#include <grpc/slice.h>
#include <grpc/slice_buffer.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

grpc_byte_buffer *ss_rpc_buffer_take(uint8_t *data, size_t len, ss_status *st) {
  if (data == NULL) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "no message bytes to send");
    return NULL;
  }
  grpc_slice slice = grpc_slice_new(data, len, free);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  // The byte buffer took its own reference; from here |data| belongs to the
  // slice, even if creating the buffer failed.
  if (bb == NULL) {
    // grpc_raw_byte_buffer_create aborts rather than fail in gRPC 1.51;
    // handled in case a later version returns NULL. Dropping the slice
    // would free |data|, which the contract leaves to the caller.
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  grpc_slice_unref(slice);
  return bb;
}

grpc_byte_buffer *ss_rpc_buffer_copy(const void *data, size_t len,
                                     ss_status *st) {
  grpc_slice slice = grpc_slice_from_copied_buffer(data, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  if (bb == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return bb;
}

uint32_t ss_rpc_buffer_send_flags(const grpc_byte_buffer *msg) {
  // gRPC itself marks a compressed buffer so that it is not compressed again.
  return msg->type == GRPC_BB_RAW &&
                 msg->data.raw.compression != GRPC_COMPRESS_NONE
             ? 0
             : GRPC_WRITE_NO_COMPRESS;
}

// Inflation works in steps of this many output bytes, so a buffer grows
// toward its cap only as fast as the stream really produces output.
#define INFLATE_STEP (16 * 1024)

// append_slices appends every slice of |in| to |out|. Returns 1, or 0 when
// |out|'s cap is reached or memory is short (|out| then failed).
static int append_slices(const grpc_slice_buffer *in, ss_buf *out) {
  for (size_t i = 0; i < in->count; i++) {
    if (!ss_buf_append(out, GRPC_SLICE_START_PTR(in->slices[i]),
                       GRPC_SLICE_LENGTH(in->slices[i]))) {
      return 0;
    }
  }
  return 1;
}

// input_cursor walks the slices of a compressed message for zlib, which
// takes at most UINT_MAX bytes at once.
typedef struct input_cursor {
  const grpc_slice_buffer *in;  // borrowed
  size_t slice;                 // index of the current slice
  size_t offset;                // bytes of it already given to zlib
} input_cursor;

// input_feed points |zs| at the next unread input bytes, if any remain.
static void input_feed(input_cursor *c, z_stream *zs) {
  while (c->slice < c->in->count &&
         c->offset == GRPC_SLICE_LENGTH(c->in->slices[c->slice])) {
    c->slice++;
    c->offset = 0;
  }
  if (c->slice == c->in->count) {
    zs->next_in = NULL;
    zs->avail_in = 0;
    return;
  }
  size_t left = GRPC_SLICE_LENGTH(c->in->slices[c->slice]) - c->offset;
  zs->next_in = GRPC_SLICE_START_PTR(c->in->slices[c->slice]) + c->offset;
  zs->avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
}

// input_consumed records that zlib read |n| of the bytes last fed.
static void input_consumed(input_cursor *c, size_t n) { c->offset += n; }

// input_left returns 1 if unread bytes remain after the slice position.
static int input_left(input_cursor *c) {
  for (size_t i = c->slice; i < c->in->count; i++) {
    size_t used = i == c->slice ? c->offset : 0;
    if (GRPC_SLICE_LENGTH(c->in->slices[i]) > used) {
      return 1;
    }
  }
  return 0;
}

// inflate_capped inflates |in|, compressed with |algorithm| the way gRPC
// compresses messages (src/core/lib/compression/message_compress.cc:
// gzip is an RFC 1952 member, deflate an RFC 1950 zlib stream, both with a
// 32 KiB window; one stream that must end exactly where the message ends;
// an empty message stays empty), into |out|, which is empty. Output is
// written only up to |out|'s cap: the first byte beyond it stops inflation
// at once, so a small message that would inflate to gigabytes costs no more
// than the cap. Returns 1, or 0 with |st| set (|out| is then reset by the
// caller).
static int inflate_capped(const grpc_slice_buffer *in,
                          grpc_compression_algorithm algorithm, ss_buf *out,
                          ss_status *st) {
  const char *name;
  int window_bits;
  switch (algorithm) {
    case GRPC_COMPRESS_GZIP:
      name = "gzip";
      window_bits = 15 + 16;  // gzip wrapper only, as gRPC inflates it
      break;
    case GRPC_COMPRESS_DEFLATE:
      name = "deflate";
      window_bits = 15;  // zlib wrapper
      break;
    default:
      // gRPC refuses an encoding it does not support before any message
      // arrives; a value it someday adds is handled, not trusted.
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "message compressed with unsupported algorithm %d",
                           (int)algorithm);
  }
  if (in->length == 0) {
    return 1;
  }
  size_t max = out->max == 0 ? SIZE_MAX : out->max;
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, window_bits) != Z_OK) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "out of memory inflating a %s message", name);
  }
  input_cursor cursor = {in, 0, 0};
  int ok = 0;
  for (;;) {
    if (zs.avail_in == 0) {
      input_feed(&cursor, &zs);
    }
    size_t fed = zs.avail_in;
    // With the cap reached, one byte of scratch space tells an exact fit
    // (the stream ends without output) from a message over the cap.
    uint8_t probe;
    uint8_t *dst = &probe;
    size_t room = max - out->len;
    if (room > INFLATE_STEP) {
      room = INFLATE_STEP;
    }
    if (room > 0) {
      if (!ss_buf_reserve(out, room, &dst)) {
        ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                      "out of memory inflating a %s message", name);
        goto done;
      }
    }
    size_t given = room > 0 ? room : 1;
    zs.next_out = dst;
    zs.avail_out = (uInt)given;
    int zr = inflate(&zs, Z_NO_FLUSH);
    input_consumed(&cursor, fed - zs.avail_in);
    size_t produced = given - zs.avail_out;
    if (room == 0 && produced > 0) {
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "%s message inflates past %zu bytes, the limit for one "
                    "message",
                    name, max);
      goto done;
    }
    ss_buf_advance(out, produced);
    if (zr == Z_STREAM_END) {
      break;
    }
    if (zr == Z_MEM_ERROR) {
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "out of memory inflating a %s message", name);
      goto done;
    }
    if (zr == Z_BUF_ERROR && zs.avail_in == 0 && !input_left(&cursor)) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s message is truncated: the compressed stream does not "
                    "end",
                    name);
      goto done;
    }
    if (zr != Z_OK && zr != Z_BUF_ERROR) {
      // Z_DATA_ERROR, Z_NEED_DICT (gRPC sets no dictionary) or
      // Z_STREAM_ERROR. zs.msg is zlib's own text, never input bytes.
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s message is corrupt (%s)", name,
                    zs.msg != NULL ? zs.msg : "not a valid stream");
      goto done;
    }
    if (zr == Z_BUF_ERROR && zs.avail_in > 0) {
      // zlib reports no progress only without input or output space; both
      // were given. Handled so that the loop cannot spin.
      ss_status_set(st, GRPC_STATUS_INTERNAL,
                    "inflating a %s message made no progress", name);
      goto done;
    }
  }
  if (zs.avail_in > 0 || input_left(&cursor)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s message has bytes after the end of its compressed "
                  "stream",
                  name);
    goto done;
  }
  ok = 1;
done:
  inflateEnd(&zs);
  return ok;
}

int ss_rpc_buffer_read(grpc_byte_buffer *bb, ss_buf *out, ss_status *st) {
  ss_buf_reset(out);
  if (bb == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "no message");
  }
  if (bb->type != GRPC_BB_RAW) {
    // GRPC_BB_RAW is the only type gRPC 1.51 has.
    return ss_status_set(st, GRPC_STATUS_INTERNAL,
                         "byte buffer of unknown type %d", (int)bb->type);
  }
  size_t max = out->max;
  size_t wire_len = grpc_byte_buffer_length(bb);
  if (max != 0 && wire_len > max) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "message of %zu bytes exceeds the limit of %zu",
                         wire_len, max);
  }
  // A compressed buffer is inflated here rather than by
  // grpc_byte_buffer_reader_init, which inflates all of it, unbounded,
  // before returning a byte.
  const grpc_slice_buffer *slices = &bb->data.raw.slice_buffer;
  if (bb->data.raw.compression != GRPC_COMPRESS_NONE) {
    if (!inflate_capped(slices, bb->data.raw.compression, out, st)) {
      ss_buf_reset(out);
      return 0;
    }
    return 1;
  }
  if (!append_slices(slices, out)) {
    ss_buf_reset(out);
    // |wire_len| was checked against the cap: only memory can be short.
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return 1;
}

grpc_byte_buffer *ss_rpc_buffer_pack(const ProtobufCMessage *msg,
                                     ss_status *st) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  // malloc(0) may return NULL; an empty message still needs a buffer.
  uint8_t *data = malloc(len > 0 ? len : 1);
  if (data == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "out of memory packing a %zu-byte message", len);
    return NULL;
  }
  size_t packed = protobuf_c_message_pack(msg, data);
  if (packed != len) {
    // protobuf-c packs exactly get_packed_size bytes; a mismatch means the
    // message was modified concurrently.
    free(data);
    ss_status_set(st, GRPC_STATUS_INTERNAL, "message changed while packed");
    return NULL;
  }
  grpc_byte_buffer *bb = ss_rpc_buffer_take(data, len, st);
  if (bb == NULL) {
    free(data);
  }
  return bb;
}

ProtobufCMessage *ss_rpc_buffer_unpack(
    const ProtobufCMessageDescriptor *descriptor, grpc_byte_buffer *bb,
    size_t max_len, const char *what, ss_status *st) {
  if (bb == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: no request message",
                  what);
    return NULL;
  }
  ss_buf flat;
  ss_buf_init(&flat, max_len);
  ProtobufCMessage *msg = NULL;
  if (!ss_rpc_buffer_read(bb, &flat, st)) {
    ss_status_prefix(st, "%s: ", what);
    goto done;
  }
  msg = protobuf_c_message_unpack(
      descriptor, NULL, flat.len,
      flat.data != NULL ? flat.data : (const uint8_t *)"");
  if (msg == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: malformed %s message",
                  what, descriptor->name);
  }
done:
  ss_buf_cleanup(&flat);
  return msg;
}
