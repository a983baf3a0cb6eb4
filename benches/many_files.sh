#!/usr/bin/env bash
# Set-up that grows with the number of files, not its square: counts a
# folder of FILES tiny location files and merges PARTS result files, best
# of RUNS, and prints the time and peak memory of each. (The check that an
# input or part is named twice once compared every pair: 5,000 files took
# 28 s.) Target: seconds for 100,000 files and 10,000 parts.
#
#   benches/many_files.sh
#
# Environment: FILES (100000), PARTS (10000), RUNS (3);
# EVENT_COUNTER_BIN_DIR (take event-counter from there instead of building).
set -euo pipefail
cd "$(dirname "$0")/.."

files=${FILES:-100000}
parts=${PARTS:-10000}
runs=${RUNS:-3}
. benches/bin.sh
release_bin

data=target/many-files
if [ "$(cat "$data/.made" 2>/dev/null)" != "$files $parts" ]; then
  rm -rf "$data"
  mkdir -p "$data/in" "$data/parts"
  cp sample/region.csv "$data/region.csv"
  python3 - "$data" "$files" "$parts" <<'PY'
import sys
data, files, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(files):
    with open(f"{data}/in/{i:06}.csv", "w") as f:
        f.write("lat,long,region_id,date\n")
        f.write(f"-38.1,176.2,{1 + i % 60},2019-01-{1 + i % 28:02}\n")
for i in range(parts):
    with open(f"{data}/parts/{i:05}.csv", "w") as f:
        f.write('"region_name","date","count"\n')
        f.write(f'"Region {i % 50}","2019-01-{1 + i % 28:02}","{1 + i % 5}"\n')
PY
  echo "$files $parts" > "$data/.made"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
best() { # command...: the best wall time of RUNS, and its peak RSS in MiB
  local s best= rss=
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$out/time" -f '%e %M' "$@" >/dev/null 2>&1
    s=$(tail -1 "$out/time")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(not ${s% *} < $best)"; then
      best=${s% *}; rss=$(( ${s#* } / 1024 ))
    fi
  done
  echo "$best | $rss"
}
echo "| what | s | peak RSS MiB |"
echo "| --- | ---: | ---: |"
echo "| count a folder of $files files | $(best "$bin/event-counter" count -q --backend cpu \
  --regions "$data/region.csv" --locations "$data/in" -o "$out/result.csv") |"
echo "| merge $parts parts | $(best sh -c "\"$bin/event-counter\" merge -q -o \"$out/merged.csv\" \"$data\"/parts/*.csv") |"
