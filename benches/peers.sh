#!/usr/bin/env bash
# Compares event-counter with DuckDB, Polars and the memory floor on the same
# generated file, each tool run alternately, and checks every output equals
# ours. Prints a Markdown table (also saved as target/peers-<date>.md).
#
#   benches/peers.sh [SIZE] [RUNS]        default: 1G 3
#
# Environment: THREADS="1 2" (thread counts to try; default "1 2 <all cores>"),
# EVENT_COUNTER_BIN_DIR (take event-counter and newline_floor from there
# instead of building them), SKIP_PEERS=1 (only event-counter and the floor),
# REGIONS=70000 DAYS=1461 (a region.csv of that many names and dates over
# that many days instead of the New Zealand districts over a year: a result
# of tens of millions of groups), TIME_ZONE=Pacific/Auckland (the same rows
# written as RFC 3339 event times with that zone's offsets, by
# `generate --timestamps`, and counted by their local day in it).
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-1G}
runs=${2:-3}
# A -j sweep: one thread, two, and every core.
threads=${THREADS:-$(printf '%s\n' 1 2 "$(nproc)" | sort -nu | tr '\n' ' ')}

. benches/bin.sh
release_bin newline_floor

# DuckDB and Polars in a venv of their own.
venv=target/peers-venv
if [ -z "${SKIP_PEERS:-}" ] && ! "$venv/bin/python" -c "import duckdb, polars" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check duckdb polars
fi
python=python3
[ -x "$venv/bin/python" ] && python=$venv/bin/python

# The data: regenerated only when what it is made of changes.
data=target/peers-data
made="$size${REGIONS:+ --regions ($REGIONS names)}${DAYS:+ --days $DAYS}${TIME_ZONE:+ --timestamps --time-zone $TIME_ZONE}"
if [ "$(cat "$data/.size" 2>/dev/null)" != "$made" ]; then
  rm -rf "$data"
  mkdir -p "$data"
  if [ -n "${REGIONS:-}" ]; then
    python3 -c "import sys; print('region_id,region_name'); [print(f'{i},\"Region {i:06}\"') for i in range(int(sys.argv[1]))]" \
      "$REGIONS" > "$data/region.csv"
  fi
  "$bin/event-counter" generate --size "$size" ${DAYS:+--days "$DAYS"} \
    ${TIME_ZONE:+--timestamps --time-zone "$TIME_ZONE"} "$data"
  echo "$made" > "$data/.size"
fi

"$python" benches/peers.py --bin "$bin" --data "$data" --runs "$runs" --threads $threads \
  ${SKIP_PEERS:+--skip-peers} ${TIME_ZONE:+--time-zone "$TIME_ZONE"} | tee "target/peers-$(date +%F).md"
