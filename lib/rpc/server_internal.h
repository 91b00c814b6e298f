// Internal to lib/rpc: what outgoing calls need of the server calls that are
// their parents.
#ifndef SEALSTREAM_LIB_RPC_SERVER_INTERNAL_H
#define SEALSTREAM_LIB_RPC_SERVER_INTERNAL_H

#include "lib/rpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss__rpc_call_ref keeps |call| (and so its server's shutdown) alive until
// the matching ss__rpc_call_unref. Only while the application holds |call|.
void ss__rpc_call_ref(ss_rpc_call *call);

// ss__rpc_call_unref drops a reference taken by ss__rpc_call_ref; |call|
// may be released by it.
void ss__rpc_call_unref(ss_rpc_call *call);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_SERVER_INTERNAL_H
