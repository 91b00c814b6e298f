#!/usr/bin/env bash
# The sealstream demo: builds everything, makes a demo telemetry database,
# starts the server on loopback, and runs a query through the client CLI,
# which decrypts the result stream batch by batch and prints the rows.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install_deps.sh
bazel build -c opt //server:sealstream-server //server:sealstream-demo-data \
  //client:sealstream-query //lib/jose:sealstream-jose
bin=$(bazel info -c opt bazel-bin 2>/dev/null)
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== making a demo database of 200,000 HTTP events"
"$bin/server/sealstream-demo-data" --out "$work/telemetry.db" --rows 200000 --seed 7

echo "== starting sealstream-server on loopback"
"$bin/server/sealstream-server" --db "$work/telemetry.db" \
  --listen 127.0.0.1:0 --port-file "$work/port" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/port" ] && break
  sleep 0.1
done
[ -s "$work/port" ] || { cat "$work/server.log"; exit 1; }
target="127.0.0.1:$(cat "$work/port")"

query="SELECT service, COUNT(*) AS requests,
               ROUND(AVG(latency_ms), 1) AS avg_latency_ms,
               SUM(status >= 500) AS errors
        FROM http_events GROUP BY service ORDER BY requests DESC"
echo "== querying $target (results encrypted end to end to a fresh P-256 key)"
"$bin/client/sealstream-query" --target "$target" --query "$query" --format table

echo "== the first rows of the raw events, as JSON lines"
"$bin/client/sealstream-query" --target "$target" --key x25519 --format jsonl \
  --query "SELECT * FROM http_events ORDER BY time LIMIT 3"

echo "== server log"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
cat "$work/server.log"
