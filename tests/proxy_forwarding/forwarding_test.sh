#!/bin/bash
# Generic forwarding through sealstream-proxy, checked against a direct
# connection: starts echo_service.py (test.echo.v1.Echo, a service the proxy
# has never heard of), starts two sealstream-proxy instances in front of it
# (the second with --max-message-bytes 4194304, for the gzip case), runs
# forwarding_test.py, and stops the proxies with SIGTERM: each must exit 0
# with no sanitizer report in its log.
#
# Usage: forwarding_test.sh [--direct-only] ECHO_SERVICE FORWARDING_TEST
#                           [PROXY]
# (runfiles paths under Bazel). --direct-only, or FORWARDING_DIRECT_ONLY=1,
# runs only the control half against the backend, with no proxy. Ends with
# "N passed, M failed" alone on a line.
set -uo pipefail

direct_only="${FORWARDING_DIRECT_ONLY:-0}"
if [[ "${1:-}" == "--direct-only" ]]; then
  direct_only=1
  shift
fi
echo_service="${1:?usage: forwarding_test.sh [--direct-only] ECHO_SERVICE FORWARDING_TEST [PROXY]}"
client="${2:?usage: forwarding_test.sh [--direct-only] ECHO_SERVICE FORWARDING_TEST [PROXY]}"
proxy_bin="${3:-}"

fail() {
  echo "$1"
  echo "0 passed, 1 failed"
  exit 1
}

if [[ "$direct_only" != 1 && -z "$proxy_bin" ]]; then
  fail "no sealstream-proxy given (pass --direct-only to test the backend alone)"
fi

# Debian's packages are visible only to Debian's interpreter; a python3
# earlier on PATH may be another one.
python=/usr/bin/python3
if ! "$python" -c 'import grpc' 2>/dev/null; then
  fail "python3-grpcio is missing for $python (apt-get install python3-grpcio)"
fi

tmp="${TEST_TMPDIR:-$(mktemp -d)}"
rm -f "$tmp"/backend.* "$tmp"/dead.port "$tmp"/proxy.* "$tmp"/gzip-proxy.* \
  "$tmp/client.out"

pids=()
# Never leave a child behind, whatever happens below.
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done' EXIT

# wait_port FILE PID NAME: prints the port once FILE holds one; fails if
# NAME exits first or takes a minute.
wait_port() {
  local file="$1" pid="$2" name="$3" port=""
  for _ in $(seq 1 600); do
    if [[ -s "$file" ]]; then
      port="$(tr -d '[:space:]' <"$file")"
      [[ "$port" =~ ^[0-9]+$ ]] && break
      port=""
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "$name did not write its port" >&2
    return 1
  fi
  echo "$port"
}

# stop PID: SIGTERM, then waits up to a minute; sets stop_status to the
# exit status (124 if it was still running, and then kills it). Not called
# in $(...): only this shell can wait for its children.
stop() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    stop_status=124
  else
    wait "$pid"
    stop_status=$?
  fi
}

"$python" "$echo_service" --port-file "$tmp/backend.port" \
  --dead-port-file "$tmp/dead.port" </dev/null >"$tmp/backend.log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
backend_port="$(wait_port "$tmp/backend.port" "$backend_pid" echo_service.py)" ||
  { cat "$tmp/backend.log"; fail "the echo backend did not start"; }
dead_port="$(tr -d '[:space:]' <"$tmp/dead.port")"

# start_proxy NAME MAX_MESSAGE_BYTES: starts sealstream-proxy logging to
# $tmp/NAME.log; sets proxy_pid and proxy_port.
start_proxy() {
  local name="$1" max="$2"
  "$proxy_bin" --listen 127.0.0.1:0 --port-file "$tmp/$name.port" \
    --plaintext --no-auth --backend-plaintext \
    --route "echo=127.0.0.1:$backend_port" \
    --route "down-backend=127.0.0.1:$dead_port" \
    --default-route echo --max-message-bytes "$max" \
    </dev/null >"$tmp/$name.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  proxy_port="$(wait_port "$tmp/$name.port" "$proxy_pid" "$name")" ||
    { cat "$tmp/$name.log"; fail "sealstream-proxy ($name) did not start"; }
}

client_args=(--backend "127.0.0.1:$backend_port")
if [[ "$direct_only" != 1 ]]; then
  # 32 MiB, so the 8 MiB cases fit whatever the default limit is.
  start_proxy proxy 33554432
  main_pid=$proxy_pid
  client_args+=(--proxy "127.0.0.1:$proxy_port")
  start_proxy gzip-proxy 4194304
  gzip_pid=$proxy_pid
  client_args+=(--gzip-proxy "127.0.0.1:$proxy_port" --gzip-proxy-pid "$gzip_pid")
fi

"$python" "$client" "${client_args[@]}" | tee "$tmp/client.out"
client_status=${PIPESTATUS[0]}

summary="$(tail -n 1 "$tmp/client.out")"
passed=0
failed=1
if [[ "$summary" =~ ^forwarding:\ ([0-9]+)\ ok,\ ([0-9]+)\ failed$ ]]; then
  passed="${BASH_REMATCH[1]}"
  failed="${BASH_REMATCH[2]}"
fi
if [[ "$client_status" -ne 0 && "$failed" -eq 0 ]]; then
  failed=1
fi

if [[ "$direct_only" != 1 ]]; then
  for name in proxy gzip-proxy; do
    if [[ "$name" == proxy ]]; then pid=$main_pid; else pid=$gzip_pid; fi
    stop "$pid"
    status=$stop_status
    if [[ "$status" -eq 0 ]] && ! grep -q -e 'ERROR: AddressSanitizer' \
      -e LeakSanitizer -e 'runtime error' "$tmp/$name.log"; then
      echo "ok   sealstream-proxy ($name) exited 0 after SIGTERM, no sanitizer report"
      passed=$((passed + 1))
    else
      echo "FAIL sealstream-proxy ($name) after SIGTERM: status $status; its log:"
      cat "$tmp/$name.log"
      failed=$((failed + 1))
    fi
  done
fi

stop "$backend_pid"
backend_status=$stop_status
if [[ "$backend_status" -ne 0 ]]; then
  echo "FAIL echo backend after SIGTERM: status $backend_status; its log:"
  cat "$tmp/backend.log"
  failed=$((failed + 1))
fi
trap - EXIT

echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 && "$passed" -gt 0 ]]
