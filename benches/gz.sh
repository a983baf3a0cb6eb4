#!/usr/bin/env bash
# A folder of compressed files on one core and on several: each .gz file is
# one stream that only one thread can decompress, so the speed-up must come
# from workers taking chunks from any file of the plan at once. Makes
# FILES gzip files of SIZE each from `generate` (different seeds), counts
# the folder with each -j in THREADS, best of RUNS, and checks every result
# is the same.
#
#   benches/gz.sh
#
# Environment: FILES (8), SIZE (48M), THREADS ("1 2 <all cores>"), RUNS (3);
# EVENT_COUNTER_BIN_DIR (take event-counter from there instead of building).
set -euo pipefail
cd "$(dirname "$0")/.."

files=${FILES:-8}
size=${SIZE:-48M}
threads=${THREADS:-$(printf '%s\n' 1 2 "$(nproc)" | sort -nu | tr '\n' ' ')}
runs=${RUNS:-3}
. benches/bin.sh
release_bin

data=target/gz-data
if [ "$(cat "$data/.made" 2>/dev/null)" != "$files x $size" ]; then
  rm -rf "$data"
  mkdir -p "$data/in"
  for i in $(seq 0 $((files - 1))); do
    "$bin/event-counter" generate -q --size "$size" --seed "$i" "$data/gen"
    gzip -c "$data/gen/location.csv" > "$data/in/part$i.csv.gz"
    # generate never replaces a file: the next seed writes a new one.
    rm "$data/gen/location.csv"
  done
  mv "$data/gen/region.csv" "$data/region.csv"
  rm -rf "$data/gen"
  echo "$files x $size" > "$data/.made"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
first_j=${threads%% *}
echo "| -j | best of $runs, s | x -j $first_j |"
echo "| ---: | ---: | ---: |"
first=
for j in $threads; do
  best=
  for _ in $(seq "$runs"); do
    s=$( { /usr/bin/time -f %e "$bin/event-counter" count -q --backend cpu -j "$j" \
      --regions "$data/region.csv" --locations "$data/in/" -o "$out/j$j.csv"; } 2>&1 )
    best=$(python3 -c "import sys; print(min(float(a) for a in sys.argv[1:] if a))" $s $best)
  done
  [ -n "$first" ] || first=$best
  cmp "$out/j$first_j.csv" "$out/j$j.csv" \
    || { echo "-j $j gave another result"; exit 1; }
  echo "| $j | $best | $(python3 -c "print(f'{$first / $best:.2f}')") |"
done
