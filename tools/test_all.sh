#!/usr/bin/env bash
# Runs every sealstream test: the whole suite against OpenSSL 3, lib/ against
# BoringSSL (targets that link gRPC are skipped there), and the whole suite
# under AddressSanitizer + UndefinedBehaviorSanitizer with leak detection.
# Prints every test's output; exits non-zero if any configuration fails.
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install_deps.sh || exit 1

status=0
for config in "" "--config=boringssl" "--config=asan"; do
  echo "=== bazel test ${config:-(OpenSSL 3)} //..."
  # shellcheck disable=SC2086
  if ! bazel test $config --test_output=all //...; then
    echo "=== FAILED: bazel test ${config:-(OpenSSL 3)}"
    status=1
  fi
done
bazel shutdown
exit $status
