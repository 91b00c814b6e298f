#!/bin/bash
# Protocol interop with a Python client built only from Debian's
# python3-grpcio, python3-protobuf and python3-jwcrypto: makes a database
# with sealstream-demo-data, starts sealstream-server on loopback, runs
# python_client.py against it, and stops the server with SIGTERM, which must
# exit 0 with no sanitizer report.
#
# Usage: python_client_test.sh SERVER DEMO_DATA QUERY_PB2 SCRIPT (runfiles
# paths). Ends with "N passed, M failed" alone on a line.
set -uo pipefail

server_bin="$1"
demo_bin="$2"
query_pb2="$3"
script="$4"

# Debian's packages are visible only to Debian's interpreter; a python3
# earlier on PATH may be another one.
python=/usr/bin/python3
if ! "$python" -c 'import grpc, google.protobuf, jwcrypto' 2>/dev/null; then
  echo "python3-grpcio, python3-protobuf or python3-jwcrypto is missing for" \
    "$python (apt-get install python3-grpcio python3-protobuf python3-jwcrypto)"
  echo "0 passed, 1 failed"
  exit 1
fi

tmp="${TEST_TMPDIR:-$(mktemp -d)}"
db="$tmp/interop.db"
port_file="$tmp/server.port"
log="$tmp/server.log"
rm -f "$db" "$port_file" "$log"

fail() {
  echo "$1"
  echo "0 passed, 1 failed"
  exit 1
}

"$demo_bin" --out "$db" --rows 3000 --seed 17 >"$tmp/demo.log" 2>&1 ||
  fail "sealstream-demo-data failed: $(cat "$tmp/demo.log")"
"$python" "$script" prepare "$db" || fail "preparing py_types failed"

"$server_bin" --db "$db" --listen 127.0.0.1:0 --port-file "$port_file" \
  </dev/null >"$log" 2>&1 &
server_pid=$!
# Never leave the server behind, whatever happens below.
trap 'kill -KILL "$server_pid" 2>/dev/null' EXIT

port=""
for _ in $(seq 1 600); do
  if [[ -s "$port_file" ]]; then
    port="$(tr -d '[:space:]' <"$port_file")"
    [[ "$port" =~ ^[0-9]+$ ]] && break
    port=""
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$port" ]]; then
  cat "$log"
  fail "sealstream-server did not write its port"
fi

"$python" "$script" run "127.0.0.1:$port" "$db" "$query_pb2" |
  tee "$tmp/python.out"
python_status=${PIPESTATUS[0]}

kill -TERM "$server_pid"
server_status=0
for _ in $(seq 1 600); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  server_status=124
else
  wait "$server_pid"
  server_status=$?
fi
trap - EXIT

summary="$(tail -n 1 "$tmp/python.out")"
passed=0
failed=1
if [[ "$summary" =~ ^python\ client:\ ([0-9]+)\ ok,\ ([0-9]+)\ failed$ ]]; then
  passed="${BASH_REMATCH[1]}"
  failed="${BASH_REMATCH[2]}"
fi
if [[ "$python_status" -ne 0 && "$failed" -eq 0 ]]; then
  failed=1
fi

if [[ "$server_status" -eq 0 ]] && ! grep -q -e Sanitizer -e 'runtime error:' "$log"; then
  echo "ok   sealstream-server exited 0 after SIGTERM"
  passed=$((passed + 1))
else
  echo "FAIL sealstream-server after SIGTERM: status $server_status; its log:"
  cat "$log"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 && "$passed" -gt 0 ]]
