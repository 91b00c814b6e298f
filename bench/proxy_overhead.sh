#!/usr/bin/env bash
# What sealstream-proxy costs a query: the same encrypted query run directly
# against the server and through the proxy on loopback, interleaved and
# repeated so that noise on a shared machine cancels in the ratio. Prints the
# wall time of each run, min and median per path, and the proxy's peak RSS.
#
# Usage: bench/proxy_overhead.sh [ROWS] [RUNS]   (defaults: 1000000 rows, 5 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000000}"
runs="${2:-5}"

bazel build -c opt //server:sealstream-server //server:sealstream-demo-data \
  //client:sealstream-query //proxy:sealstream-proxy >/dev/null 2>&1
bin=$(bazel info -c opt bazel-bin 2>/dev/null)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 200); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.05
  done
  return 1
}

"$bin/server/sealstream-demo-data" --out "$work/t.db" --rows "$rows" --seed 3 >/dev/null
"$bin/server/sealstream-server" --db "$work/t.db" --listen 127.0.0.1:0 \
  --port-file "$work/s.port" 2>"$work/s.log" &
pids+=($!)
server="127.0.0.1:$(wait_port "$work/s.port")"
"$bin/proxy/sealstream-proxy" --listen 127.0.0.1:0 --port-file "$work/p.port" \
  --plaintext --no-auth --backend-plaintext --route bench="$server" \
  --default-route bench --no-access-log 2>"$work/p.log" &
proxy_pid=$!
pids+=($proxy_pid)
proxy="127.0.0.1:$(wait_port "$work/p.port")"

# run TARGET: seconds for the whole result through the client library and CLI
# (CSV to /dev/null).
run() {
  local start end
  start=$(date +%s.%N)
  "$bin/client/sealstream-query" --target "$1" --format csv \
    "SELECT * FROM http_events" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

run "$server" >/dev/null  # warm the page cache and both processes
direct=()
via=()
for i in $(seq 1 "$runs"); do
  direct+=("$(run "$server")")
  via+=("$(run "$proxy")")
  printf 'run %d: direct %.3f s, via proxy %.3f s\n' "$i" "${direct[-1]}" "${via[-1]}"
done

stats() {  # prints "min median" of its arguments
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%s %s", a[1], a[int((NR+1)/2)]}'
}
read -r dmin dmed <<<"$(stats "${direct[@]}")"
read -r vmin vmed <<<"$(stats "${via[@]}")"
bytes=$(stat -c %s "$work/t.db")
printf '\n%d rows (%d MB database), %d runs each, interleaved\n' "$rows" $((bytes / 1000000)) "$runs"
printf 'direct:    min %.3f s  median %.3f s  (%.0f rows/s)\n' "$dmin" "$dmed" "$(echo "$rows / $dmin" | bc -l)"
printf 'via proxy: min %.3f s  median %.3f s  (%.0f rows/s)\n' "$vmin" "$vmed" "$(echo "$rows / $vmin" | bc -l)"
printf 'proxy / direct wall time: min %.3f  median %.3f\n' \
  "$(echo "$vmin / $dmin" | bc -l)" "$(echo "$vmed / $dmed" | bc -l)"
printf 'proxy peak RSS: %s\n' "$(grep VmHWM "/proc/$proxy_pid/status" | awk '{print $2, $3}')"
