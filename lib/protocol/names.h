// Names both ends of the sealstream protocol, and the proxy between them,
// must agree on: the query method's path and the request headers a proxy
// routes and authenticates on.
#ifndef SEALSTREAM_LIB_PROTOCOL_NAMES_H
#define SEALSTREAM_LIB_PROTOCOL_NAMES_H

// The query service (protos/sealstream/v1/query.proto) and its one method.
#define SS_PROTOCOL_QUERY_SERVICE "sealstream.v1.QueryService"
#define SS_PROTOCOL_EXECUTE_QUERY_METHOD \
  "/" SS_PROTOCOL_QUERY_SERVICE "/ExecuteQuery"

// The request header naming the route (the backend) a proxy sends a call to.
#define SS_PROTOCOL_ROUTE_HEADER "x-sealstream-route"

// The request header carrying a proxy's bearer token ("Bearer <token>").
#define SS_PROTOCOL_AUTH_HEADER "authorization"

#endif  // SEALSTREAM_LIB_PROTOCOL_NAMES_H
