// Byte-buffer conversions (see buffer.h). Bytes received from a peer are
// untrusted: they are length-checked against the caller's cap while being
// flattened, and only then handed to protobuf-c.
#include "lib/rpc/buffer.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <stdlib.h>

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

int ss_rpc_buffer_read(grpc_byte_buffer *bb, ss_buf *out, ss_status *st) {
  ss_buf_reset(out);
  if (bb == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "no message");
  }
  size_t max = out->max;
  size_t wire_len = grpc_byte_buffer_length(bb);
  if (max != 0 && wire_len > max) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "message of %zu bytes exceeds the limit of %zu",
                         wire_len, max);
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "message cannot be decompressed");
  }
  grpc_slice slice;
  int ok = 1;
  while (grpc_byte_buffer_reader_next(&reader, &slice)) {
    if (ok && !ss_buf_append(out, GRPC_SLICE_START_PTR(slice),
                             GRPC_SLICE_LENGTH(slice))) {
      ok = 0;
    }
    grpc_slice_unref(slice);
  }
  grpc_byte_buffer_reader_destroy(&reader);
  if (!ok) {
    ss_buf_reset(out);
    if (max != 0) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "message exceeds the limit of %zu bytes", max);
    }
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
