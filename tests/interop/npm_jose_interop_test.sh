#!/bin/bash
# Runs npm_jose_interop.mjs against the sealstream-jose in this test's
# runfiles. Usage: npm_jose_interop_test.sh CLI SCRIPT (runfiles paths).
#
# npm packages are not Bazel inputs: `npm ci --prefix tests/interop` installs
# them in the source tree, found here through the script's real path (the
# runfiles entry is a symlink to the source file).
set -euo pipefail

cli="$1"
script="$(readlink -f "$2")"
node_modules="$(dirname "$script")/node_modules"

if [[ ! -f "$node_modules/jose/package.json" ]]; then
  echo "npm package \"jose\" is missing from $node_modules;"
  echo "run \`npm ci --prefix tests/interop\` in the repository first"
  echo "0 passed, 1 failed"
  exit 1
fi
if ! command -v node >/dev/null; then
  echo "node is not on PATH ($PATH); Node 20 is needed"
  echo "0 passed, 1 failed"
  exit 1
fi

export SEALSTREAM_INTEROP_NODE_MODULES="$node_modules"
exec node "$script" "$cli"
