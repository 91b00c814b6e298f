// gRPC TLS credentials from PEM files, shared by the server, the client and
// the proxy (its client listener and its backend channels).
//
// Every file is read with a size cap and parsed before gRPC sees it, so a
// wrong file is named when the credentials are made rather than at the first
// handshake: unreadable, too large, not PEM, an encrypted key (never a
// passphrase prompt), a key that does not match its certificate. Messages
// name a file by its setting, spelled as in the server's and the client's
// options (tls_cert_file, tls_key_file, tls_client_ca_file, tls_ca_file), and
// by its path. Private keys are wiped from memory on every path; gRPC keeps
// its own copy inside the credentials.
//
// The files come from the operator and are trusted to be what the operator
// meant; the checks only catch mistakes.
#ifndef SEALSTREAM_LIB_RPC_TLS_H
#define SEALSTREAM_LIB_RPC_TLS_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// Largest PEM file read (a long certificate chain is a few KiB).
#define SS_TLS_MAX_PEM_BYTES (1024 * 1024)

// Where a server's TLS files are. All NULL: no TLS.
typedef struct ss_tls_server_options {
  const char *tls_cert_file;  // PEM certificate chain presented to clients
  const char *tls_key_file;   // its PEM private key, unencrypted
  // PEM roots; when set, clients must present a certificate they verify.
  const char *tls_client_ca_file;
} ss_tls_server_options;

// ss_tls_server_credentials_new returns new server credentials (release with
// grpc_server_credentials_release): insecure when |options| names no file,
// else TLS with the certificate and key, requiring and verifying client
// certificates when a client CA is named. Errors, all INVALID_ARGUMENT: a
// certificate without a key or the other way round, a client CA without
// both, or a file that is unreadable, larger than SS_TLS_MAX_PEM_BYTES, holds
// no PEM certificate (key: no unencrypted PEM private key) or a key that does
// not match the certificate. Returns NULL with |st| set on failure.
grpc_server_credentials *ss_tls_server_credentials_new(
    const ss_tls_server_options *options, ss_status *st);

// Where a client's TLS files are.
typedef struct ss_tls_channel_options {
  const char *tls_ca_file;    // PEM roots to trust; NULL: gRPC's default
  const char *tls_cert_file;  // PEM client certificate chain (mutual TLS)
  const char *tls_key_file;   // its PEM private key; set with tls_cert_file
} ss_tls_channel_options;

// ss_tls_channel_credentials_new returns new TLS channel credentials
// (release with grpc_channel_credentials_release) trusting the roots in
// |options->tls_ca_file|, or gRPC's default roots (the file named by
// GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, else its bundled set) when it is NULL,
// and presenting the client certificate when one is named. Errors are those
// of ss_tls_server_credentials_new; a certificate without a key or the other
// way round is refused. Returns NULL with |st| set on failure.
grpc_channel_credentials *ss_tls_channel_credentials_new(
    const ss_tls_channel_options *options, ss_status *st);

// ss_tls_channel_credentials_from_pem is ss_tls_channel_credentials_new for
// PEM texts in memory (borrowed, NUL-terminated): |ca_pem| NULL for gRPC's
// default roots, |cert_pem| and |key_pem| both NULL for no client
// certificate. The texts are checked as the files would be. The caller
// wipes its own copy of |key_pem|.
grpc_channel_credentials *ss_tls_channel_credentials_from_pem(
    const char *ca_pem, const char *cert_pem, const char *key_pem,
    ss_status *st);

// ss_tls_server_name_arg sets |out_arg| to the channel argument that makes a
// TLS channel check |server_name| (borrowed; must outlive |out_arg|'s use,
// gRPC copies it when the channel is made) in the server's certificate
// instead of the target's host name.
void ss_tls_server_name_arg(grpc_arg *out_arg, const char *server_name);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_TLS_H
