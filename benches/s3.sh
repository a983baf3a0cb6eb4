#!/usr/bin/env bash
# S3 read throughput of one `count`, measured against examples/s3_loopback,
# an endpoint on 127.0.0.1 that answers ranged GETs from memory (moto, the
# test server, answers at a few MB/s and would measure itself). For each
# thread count: GB/s over s3://, the same file read locally, the GETs
# served and the most in flight at once. Every result must equal the local
# one. Prints a Markdown table (also saved as target/s3-<date>.md).
#
#   benches/s3.sh [SIZE]        default: 1G
#
# Environment: THREADS="1 2 4" (default "1 <all cores> <4 x all cores>"),
# EVENT_COUNTER_BIN_DIR (take event-counter and s3_loopback from there
# instead of building them), DATA (a folder to put the data in; default
# target/s3-data: use /dev/shm on a machine whose disk is slow).
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-1G}
cores=$(nproc)
threads=${THREADS:-"1 $cores $((4 * cores))"}

. benches/bin.sh
release_bin s3_loopback

data=${DATA:-target/s3-data}
if [ "$(cat "$data/.size" 2>/dev/null)" != "$size" ]; then
  rm -rf "$data"
  mkdir -p "$data"
  "$bin/event-counter" generate --size "$size" "$data" -q
  echo "$size" > "$data/.size"
fi

# The server loads the data into memory and says its port when ready.
log=$(mktemp)
"$bin/s3_loopback" "$data" > "$log" &
server=$!
out=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$log" "$out"' EXIT
until grep -q listening "$log"; do
  kill -0 $server 2>/dev/null || { echo "s3_loopback failed"; exit 1; }
  sleep 0.2
done
port=$(awk '/listening/ {print $3}' "$log")
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true
export AWS_ACCESS_KEY_ID=loopback AWS_SECRET_ACCESS_KEY=loopback AWS_REGION=us-east-1

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

{
  echo "S3 reads of a $size file over 127.0.0.1 ($(nproc) cores, $(uname -m)), $(date +%F)"
  echo
  echo "| threads | s3:// GB/s | local GB/s | GETs | MiB per GET | GETs in flight (most) |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for j in $threads; do
    "$bin/event-counter" count --regions "$data/region.csv" --locations "$data/location.csv" \
      -j "$j" -q -o "$out/local.csv" --stats-json "$out/local.json"
    curl -s -X POST "http://127.0.0.1:$port/_reset" > /dev/null
    "$bin/event-counter" count --regions s3://bench/region.csv --locations s3://bench/location.csv \
      -j "$j" -q -o "$out/s3.csv" --stats-json "$out/s3.json"
    curl -s "http://127.0.0.1:$port/_stats" > "$out/server.json"
    cmp -s "$out/s3.csv" "$out/local.csv" || { echo "the s3:// result differs at -j $j"; exit 1; }
    gets=$(field "$out/server.json" "['gets']")
    printf '| %s | %.2f | %.2f | %s | %.1f | %s |\n' "$j" \
      "$(field "$out/s3.json" "['gb_per_s']")" "$(field "$out/local.json" "['gb_per_s']")" \
      "$gets" "$(field "$out/server.json" "['bytes'] / $gets / 2**20")" \
      "$(field "$out/server.json" "['max_in_flight']")"
  done
} | tee "target/s3-$(date +%F).md"
