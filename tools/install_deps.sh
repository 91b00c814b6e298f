#!/usr/bin/env bash
# Installs what building and testing sealstream needs on Debian 12, skipping
# what is already there: Debian packages through apt-get, and the npm
# package the interop tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  bazel-bootstrap bazel-platforms gcc libc6-dev
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
  libssl-dev android-libboringssl-dev
  libcmocka-dev libjansson-dev zlib1g-dev libsqlite3-dev sqlite3
  protobuf-compiler python3-jwcrypto python3-grpcio python3-protobuf
  haproxy
)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The interop tests run npm's `jose` from tests/interop/node_modules.
if [ -f tests/interop/package-lock.json ]; then
  stamp=tests/interop/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ tests/interop/package-lock.json -nt "$stamp" ]; then
    npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
  fi
fi
