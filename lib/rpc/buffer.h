// Conversions between gRPC byte buffers, flat bytes and protobuf-c messages.
//
// Received buffers are untrusted: they are flattened (and inflated, when
// compressed) with a size cap before anything parses them, and a message that
// does not parse is INVALID_ARGUMENT.
#ifndef SEALSTREAM_LIB_RPC_BUFFER_H
#define SEALSTREAM_LIB_RPC_BUFFER_H

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_rpc_buffer_take wraps |len| bytes at |data| (allocated with malloc) in a
// new byte buffer without copying. Takes ownership of |data| on success: it
// is freed with free() when gRPC drops its last reference. Returns NULL (and
// leaves |data| to the caller) with |st| set on failure.
grpc_byte_buffer *ss_rpc_buffer_take(uint8_t *data, size_t len, ss_status *st);

// ss_rpc_buffer_copy returns a new byte buffer holding a copy of |len| bytes
// of |data|, or NULL with |st| set.
grpc_byte_buffer *ss_rpc_buffer_copy(const void *data, size_t len,
                                     ss_status *st);

// ss_rpc_buffer_send_flags returns the write flags that send |msg| as it
// is: a buffer still compressed as its sender compressed it (its
// data.raw.compression names the algorithm; see keep_compressed in
// server.h) goes out with the same bytes and the compressed flag; any other
// goes out uncompressed, whatever compression the call negotiated.
uint32_t ss_rpc_buffer_send_flags(const grpc_byte_buffer *msg);

// ss_rpc_buffer_read resets |out| and copies the whole message in |bb| into
// it. A buffer still compressed as its sender compressed it (see
// keep_compressed in server.h) is inflated here with gRPC's gzip or deflate,
// never past |out|'s cap: the first byte beyond it stops inflation. Errors:
// RESOURCE_EXHAUSTED when the message, as sent or inflated, is longer than
// |out|'s cap (the message names the cap); INVALID_ARGUMENT when |bb| is
// NULL or its compressed data is corrupt, truncated or followed by other
// bytes. Returns 1, or 0 with |st| set and |out| empty.
int ss_rpc_buffer_read(grpc_byte_buffer *bb, ss_buf *out, ss_status *st);

// ss_rpc_buffer_pack serializes |msg| into a new byte buffer. Returns NULL
// with |st| set on failure.
grpc_byte_buffer *ss_rpc_buffer_pack(const ProtobufCMessage *msg,
                                     ss_status *st);

// ss_rpc_buffer_unpack parses |bb| (at most |max_len| bytes) as a message of
// |descriptor|, inflating it first if compressed (see ss_rpc_buffer_read).
// Returns a new message (free with protobuf_c_message_free_unpacked(msg,
// NULL)), or NULL with |st| set: INVALID_ARGUMENT naming |what| when |bb| is
// NULL, malformed or badly compressed, RESOURCE_EXHAUSTED when too long.
ProtobufCMessage *ss_rpc_buffer_unpack(
    const ProtobufCMessageDescriptor *descriptor, grpc_byte_buffer *bb,
    size_t max_len, const char *what, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_BUFFER_H
