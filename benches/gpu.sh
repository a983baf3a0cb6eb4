#!/usr/bin/env bash
# The GPU backends against the CPU backend on a machine with a GPU and no
# Rust toolchain: one prepared script. It generates SIZE (default 16G) of
# rows into /dev/shm, runs cpu, gpu and gpu-keys at every thread count in
# THREADS (default "16 8 2"; cpu also at 1, and read with pread or in
# 32 MiB chunks at the most threads), alternately, best of RUNS
# (default 3), checks every output equals the CPU backend's byte for byte,
# and prints a Markdown table of seconds, GB/s and peak memory. Then the
# shapes real data has (benches/gpu_shapes.py: date-sorted, 70,000
# regions, a bad row per MiB, 1,000 small files), SHAPE_SIZE each (default
# 4G), cpu and gpu at SHAPE_THREADS (default "16 2"); SHAPE_SIZE=0 skips
# them.
#
#   benches/gpu.sh [BIN_DIR]        default: target/release
#
# BIN_DIR holds the release binary `event-counter` and `newline_floor`
# (cargo build --release --bin event-counter --example newline_floor, then
# copy target/release/examples/newline_floor next to it). On a machine
# without the Vulkan loader, carry its Debian packages in .gl/ (see the
# device README); they are unpacked first. With a software adapter (Mesa's
# lavapipe) it runs too, slowly: try SIZE=64M THREADS="2".
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/release}
size=${SIZE:-16G}
runs=${RUNS:-3}
threads=${THREADS:-"16 8 2"}
data=${DATA:-/dev/shm/event-counter-gpu}

if ! ldconfig -p | grep -q libvulkan && ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

"$bin/event-counter" adapters
if [ "$(cat "$data/.made" 2>/dev/null)" != "$size" ]; then
  rm -rf "$data"
  "$bin/event-counter" generate --size "$size" --seed 7 --days 1461 "$data"
  echo "$size" > "$data/.made"
fi
python3 benches/gpu.py --bin "$bin" --data "$data" --runs "$runs" --threads $threads
if [ "${SHAPE_SIZE:-4G}" != 0 ]; then
  python3 benches/gpu_shapes.py --bin "$bin" --root "$data-shapes" --size "${SHAPE_SIZE:-4G}" \
    --runs "${SHAPE_RUNS:-2}" --threads ${SHAPE_THREADS:-16 2}
fi
