#!/bin/bash
# Runs jwcrypto_interop.py against the sealstream-jose in this test's
# runfiles. Usage: jwcrypto_interop_test.sh CLI SCRIPT (runfiles paths).
set -euo pipefail

cli="$1"
script="$2"

# Debian's python3-jwcrypto is visible only to Debian's interpreter; a python3
# earlier on PATH may be another one.
python=/usr/bin/python3
if ! "$python" -c 'import jwcrypto' 2>/dev/null; then
  echo "python3-jwcrypto is not installed for $python (apt-get install python3-jwcrypto)"
  echo "0 passed, 1 failed"
  exit 1
fi

exec "$python" "$script" "$cli"
