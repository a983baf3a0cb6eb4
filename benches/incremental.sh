#!/usr/bin/env bash
# `count --state` (issue 31): a log of SIZE counted once with a state, then
# APPEND more bytes appended and counted again. Done when that second run
# takes at most 2x the time of counting the APPEND bytes alone plus writing
# the result: a full count's wall time less its setup, scan and histogram
# stages (so writing includes the fsync and rename of the commit, which
# `stages.output_seconds` leaves out; `out_s` shows that one), and its result is
# byte for byte a full recount's. On the 53 New Zealand districts (dates
# over a year; REGIONS "53" is the shipped region.csv, which `generate`
# writes) and on 70,000 regions (dates over four years).
#
#   benches/incremental.sh
#   SIZE=64M APPEND=1M benches/incremental.sh     a smoke run
#
# Environment: SIZE (10G), APPEND (10M), REGIONS ("53 70000"), RUNS (3: the
# best of each timing); EVENT_COUNTER_BIN_DIR (take event-counter from
# there instead of building). Needs twice SIZE of disk under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

size=${SIZE:-10G}
append=${APPEND:-10M}
runs=${RUNS:-3}
. benches/bin.sh
release_bin
ec="$bin/event-counter"

now() { date +%s.%N; }
# Best wall time of `runs` runs of "$@", in seconds.
best() {
  local best="" t0 t
  for _ in $(seq "$runs"); do
    t0=$(now)
    "$@"
    t=$(echo "$(now) - $t0" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

printf '%-8s %6s %6s %8s %8s %8s %8s %8s %8s %6s\n' regions size append first_s full_s again_s alone_s out_s target_s ratio
for regions in ${REGIONS:-53 70000}; do
  data=target/incremental-$regions
  if [ "$(cat "$data/.made" 2>/dev/null)" != "$size $append" ]; then
    rm -rf "$data"
    mkdir -p "$data/base" "$data/more"
    days=365
    if [ "$regions" != 53 ]; then
      days=1461
      python3 -c "import sys; print('region_id,region_name'); [print(f'{i},\"Region {i:06}\"') for i in range(int(sys.argv[1]))]" \
        "$regions" > "$data/base/region.csv"
    fi
    "$ec" -q generate --size "$size" --days "$days" "$data/base"
    cp "$data/base/region.csv" "$data/region.csv"
    "$ec" -q generate --size "$append" --days "$days" --seed 1 --regions "$data/region.csv" "$data/more"
    # The appended bytes alone, without their header: what the second run reads.
    tail -n +2 "$data/more/location.csv" > "$data/more/rows"
    echo "$size $append" > "$data/.made"
  fi
  count=("$ec" -q count --backend cpu --regions "$data/region.csv")

  # The log before: counted once with a state (the state's first run).
  first() {
    cp "$data/base/location.csv" "$data/log.csv"
    rm -f "$data/state.bin"
    t0=$(now)
    "${count[@]}" --locations "$data/log.csv" -o "$data/inc.csv" --state "$data/state.bin"
    echo "$(now) - $t0" | bc
  }
  first_s=$(first)
  cp "$data/state.bin" "$data/state.first"
  cat "$data/more/rows" >> "$data/log.csv"
  # The second run, from the first run's state each time.
  again() {
    cp "$data/state.first" "$data/state.bin"
    "${count[@]}" --locations "$data/log.csv" -o "$data/inc.csv" --state "$data/state.bin" \
      --stats-json "$data/inc.json"
  }
  again_s=$(best again)
  # The target: the appended bytes counted alone, plus writing the whole
  # result (as a full count writes it).
  alone_s=$(best "${count[@]}" --locations "$data/more/location.csv" -o "$data/alone.csv")
  # Writing the result, in one full count: its wall time less its reading
  # stages (so with the commit's fsync and rename, which
  # `stages.output_seconds` leaves out); the least of `runs` counts.
  write_s="" full_s=""
  for _ in $(seq "$runs"); do
    t0=$(now)
    "${count[@]}" --locations "$data/log.csv" -o "$data/full.csv" --stats-json "$data/full.json"
    t=$(echo "$(now) - $t0" | bc)
    read_s=$(python3 -c "import json; s = json.load(open('$data/full.json'))['stages']; print(s['setup_seconds'] + s['scan_seconds'] + s['histogram_seconds'])")
    w=$(echo "$t - $read_s" | bc)
    if [ -z "$write_s" ] || [ "$(echo "$w < $write_s" | bc)" = 1 ]; then write_s=$w; fi
    if [ -z "$full_s" ] || [ "$(echo "$t < $full_s" | bc)" = 1 ]; then full_s=$t; fi
  done
  out_s=$(json "$data/full.json" "['stages']['output_seconds']")
  target_s=$(echo "$alone_s + $write_s" | bc)
  cmp "$data/inc.csv" "$data/full.csv" || { echo "the result differs from a full recount"; exit 1; }
  new=$(json "$data/inc.json" "['state']['bytes_new']")
  [ "$new" = "$(stat -c %s "$data/more/rows")" ] || { echo "read $new new bytes"; exit 1; }
  ratio=$(echo "scale=2; $again_s / $target_s" | bc)
  printf '%-8s %6s %6s %8.2f %8.2f %8.3f %8.3f %8.3f %8.3f %6s\n' "$regions" "$size" "$append" \
    "$first_s" "$full_s" "$again_s" "$alone_s" "$out_s" "$target_s" "$ratio"
done
echo "(again: the second run, from the first run's state; alone: the appended bytes counted alone;"
echo " target = alone + full less its reading stages; ratio = again / target, done when at most 2;"
echo " every result equals a full recount byte for byte)"
