#!/usr/bin/env bash
# The GPU backend against the CPU backend on one lent machine with a GPU
# and no Rust toolchain: one prepared script, two plans (benches/gpu_plan.py
# says what each runs). Every figure is appended to $OUT/gpu-bench.md (a
# table) and $OUT/gpu-bench.jsonl (every field) as soon as it is measured,
# so a run cut short keeps what it measured.
#
#   PLAN=quick benches/gpu.sh [BIN_DIR]   under 3 minutes on a 16-core H200 box
#   PLAN=full  benches/gpu.sh [BIN_DIR]   under 6 minutes
#
# BIN_DIR (default target/release) holds the release binary `event-counter`.
# Sizes and thread counts come from the environment: SIZES (default
# "4G 16G"; quick takes the first), THREADS (default "16 8 2"; quick takes
# the first and the last), SHAPE_SIZE (default 1G), SMALL_SIZE (the folder
# of 1,000 files under 1 MiB, default 256M in all), DATA (default
# /dev/shm/event-counter-gpu; made once, kept for the next plan) and OUT
# (default ./bench-out). On a machine without the Vulkan loader, carry its
# Debian packages in .gl/ (see the device README); they are unpacked first.
# With a software adapter (Mesa's lavapipe) it runs too, slowly:
#   PLAN=quick SIZES=16M THREADS="2" SMALL_SIZE=4M benches/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/release}
out=${OUT:-bench-out}
data=${DATA:-/dev/shm/event-counter-gpu}

if ! ldconfig -p | grep -q libvulkan && ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

# shellcheck disable=SC2086 # the lists are split on purpose
python3 benches/gpu_plan.py --bin "$bin" --root "$data" --out "$out" --plan "${PLAN:-quick}" \
  --sizes ${SIZES:-4G 16G} --threads ${THREADS:-16 8 2} \
  --shape-size "${SHAPE_SIZE:-1G}" --small-size "${SMALL_SIZE:-256M}"
