#!/usr/bin/env bash
# Peak memory of a count whose result has tens of millions of groups,
# written to a local file and streamed to s3:// on moto: the result must
# not be held in memory on its way out. The data is every (region, day) of
# REGIONS x DAYS once (default 20,548 x 1,460: 30,000,080 groups, a 614 MB
# file); both results must be equal.
#
#   benches/s3_groups.sh
#
# Environment: REGIONS, DAYS; EVENT_COUNTER_BIN_DIR (take event-counter
# from there instead of building it); EVENT_COUNTER_MOTO (the moto_server
# to run; default target/ci-venv/bin/moto_server, else the one on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

regions=${REGIONS:-20548}
days=${DAYS:-1460}
. benches/bin.sh
release_bin
moto=${EVENT_COUNTER_MOTO:-target/ci-venv/bin/moto_server}
[ -x "$moto" ] || moto=moto_server

data=target/s3-groups-data
if [ "$(cat "$data/.made" 2>/dev/null)" != "$regions x $days" ]; then
  rm -rf "$data"
  mkdir -p "$data"
  python3 - "$data" "$regions" "$days" <<'EOF'
import datetime, sys
data, regions, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(f"{data}/region.csv", "w") as f:
    f.write("region_id,region_name\n")
    f.writelines(f"{r},Region {r}\n" for r in range(regions))
start = datetime.date(2019, 1, 1)
dates = [(start + datetime.timedelta(d)).isoformat() for d in range(days)]
with open(f"{data}/location.csv", "w") as f:
    f.write("lat,long,region_id,date\n")
    for r in range(regions):
        f.write("".join(f"0,0,{r},{d}\n" for d in dates))
EOF
  echo "$regions x $days" > "$data/.made"
fi

port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$moto" -H 127.0.0.1 -p "$port" > /dev/null 2>&1 &
server=$!
out=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$out"' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$port"; do sleep 0.2; done
curl -s -X PUT "http://127.0.0.1:$port/groups" > /dev/null
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true
export AWS_ACCESS_KEY_ID=moto AWS_SECRET_ACCESS_KEY=moto AWS_REGION=us-east-1

peak() { awk '/Maximum resident/ {printf "%.0f", $6 / 1024}' "$1"; }
count() {
  /usr/bin/time -v -o "$out/time" "$bin/event-counter" count -q --backend "$2" \
    --regions "$data/region.csv" --locations "$data/location.csv" -o "$1" --stats-json "$out/stats.json"
  python3 -c "import json,sys; s = json.load(open(sys.argv[1])); print(s['groups'], round(s['seconds'], 2))" \
    "$out/stats.json"
}
echo "| result to | backend | groups | seconds | peak RSS MiB |"
echo "| --- | --- | --- | --- | --- |"
# auto looks for a GPU first, and the drivers it loads to look stay mapped.
for to in local s3; do
  for backend in auto cpu; do
    target=$out/result.csv
    [ $to = s3 ] && target=s3://groups/result.csv
    read -r groups seconds < <(count "$target" $backend)
    echo "| $to | $backend | $groups | $seconds | $(peak "$out/time") |"
  done
done
curl -s "http://127.0.0.1:$port/groups/result.csv" | cmp -s - "$out/result.csv" \
  || { echo "the s3:// result differs from the local one"; exit 1; }
