#!/usr/bin/env bash
# The sealstream demo: builds the JOSE tool, makes a recipient key pair,
# encrypts a message to the public key and decrypts it with the private one.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install_deps.sh
bazel build //lib/jose:sealstream-jose
jose=bazel-bin/lib/jose/sealstream-jose
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$jose" keygen --kty EC --crv P-256 > "$work/private.jwk"
"$jose" pub < "$work/private.jwk" > "$work/public.jwk"
echo "recipient public key: $(cat "$work/public.jwk")"
echo "thumbprint (kid):     $("$jose" thumbprint < "$work/public.jwk")"

message="telemetry only its reader can see"
jwe=$(printf '%s' "$message" |
  "$jose" encrypt --key "$work/public.jwk" --alg ECDH-ES+A256KW --enc A256GCM)
echo "compact JWE:          $jwe"
plaintext=$(printf '%s' "$jwe" | "$jose" decrypt --key "$work/private.jwk")
echo "decrypted:            $plaintext"
[ "$plaintext" = "$message" ]
