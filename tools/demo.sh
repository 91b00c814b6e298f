#!/usr/bin/env bash
# The sealstream demo, the whole system on loopback: builds everything, makes
# a demo telemetry database, starts the server, starts sealstream-proxy in
# front of it with a freshly generated bearer token and one route, and runs
# queries through the proxy with the client CLI, which decrypts the result
# stream batch by batch and prints the rows. Ends with what the proxy saw:
# one access-log line per call, routing metadata and sizes only.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install_deps.sh
bazel build -c opt //server:sealstream-server //server:sealstream-demo-data \
  //client:sealstream-query //lib/jose:sealstream-jose //proxy:sealstream-proxy
bin=$(bazel info -c opt bazel-bin 2>/dev/null)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# wait_port FILE LOG: waits for a daemon to write its port to FILE.
wait_port() {
  for _ in $(seq 1 100); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.1
  done
  cat "$2" >&2
  return 1
}

echo "== making a demo database of 200,000 HTTP events"
"$bin/server/sealstream-demo-data" --out "$work/telemetry.db" --rows 200000 --seed 7

echo "== starting sealstream-server on loopback"
"$bin/server/sealstream-server" --db "$work/telemetry.db" \
  --listen 127.0.0.1:0 --port-file "$work/server.port" 2> "$work/server.log" &
pids+=($!)
server_port=$(wait_port "$work/server.port" "$work/server.log")

echo "== making a bearer token for route 'demo' (the proxy stores its hash only)"
"$bin/proxy/sealstream-proxy" gen-token demo-user demo > "$work/token.txt" 2>/dev/null
head -n 1 "$work/token.txt" > "$work/token"
tail -n 1 "$work/token.txt" > "$work/tokens"
rm "$work/token.txt"
echo "tokens file: $(cat "$work/tokens")"

echo "== starting sealstream-proxy: route demo -> 127.0.0.1:$server_port"
"$bin/proxy/sealstream-proxy" --listen 127.0.0.1:0 --port-file "$work/proxy.port" \
  --plaintext --backend-plaintext --tokens "$work/tokens" \
  --route "demo=127.0.0.1:$server_port" --default-route demo \
  2> "$work/proxy.log" &
pids+=($!)
target="127.0.0.1:$(wait_port "$work/proxy.port" "$work/proxy.log")"

# The token reaches the CLI through the environment, not the command line.
SEALSTREAM_TOKEN=$(cat "$work/token")
export SEALSTREAM_TOKEN

query="SELECT service, COUNT(*) AS requests,
               ROUND(AVG(latency_ms), 1) AS avg_latency_ms,
               SUM(status >= 500) AS errors
        FROM http_events GROUP BY service ORDER BY requests DESC"
echo "== querying through the proxy at $target (results encrypted end to end to a fresh P-256 key)"
"$bin/client/sealstream-query" --target "$target" --route demo --query "$query" --format table

echo "== the first rows of the raw events, as JSON lines (X25519 key)"
"$bin/client/sealstream-query" --target "$target" --route demo --key x25519 --format jsonl \
  --query "SELECT * FROM http_events ORDER BY time LIMIT 3"

echo "== what the proxy saw: routing metadata and sizes, never rows, keys or tokens"
kill -TERM "${pids[1]}"
wait "${pids[1]}"
cat "$work/proxy.log"

echo "== server log"
kill -TERM "${pids[0]}"
wait "${pids[0]}"
pids=()
cat "$work/server.log"
