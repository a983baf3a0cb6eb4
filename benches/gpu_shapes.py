"""The shapes real data has, for benches/gpu.sh (issue 20): each one made
in its own folder, then counted by the cpu and gpu backends at each thread
count, best of RUNS, every result checked against the CPU backend's.

  date-sorted: four years of rows in date order, as an append-only log is.
  70,000 regions: 70,000 region names, dates over four years.
  bad row per MiB: one malformed row in every MiB.
  1,000 small files: a folder of 1,000 files.

For each it prints cpu and gpu GB/s and the share of rows the device
handed back to the host (the `gpu` object of --stats-json).
"""

import argparse
import datetime
import json
import os
import subprocess
import sys

from peers import run

DAYS = 1461
START = "2019-01-01"


def generate(ec, folder, size, *extra):
    subprocess.run([ec, "generate", "-q", "--force", "--size", str(size), *extra, folder], check=True)


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def make_sorted(ec, root, size):
    """Four years in date order: a day of rows at a time, each day's file
    generated on its own and appended without its header."""
    folder = os.path.join(root, "sorted")
    loc = os.path.join(folder, "location.csv")
    if os.path.exists(loc):
        return folder
    day_dir = os.path.join(root, "sorted-day")
    os.makedirs(folder, exist_ok=True)
    with open(loc + ".tmp", "wb") as out:
        out.write(b"lat,long,region_id,date\n")
        first = datetime.date.fromisoformat(START)
        for d in range(DAYS):
            day = (first + datetime.timedelta(days=d)).isoformat()
            generate(ec, day_dir, max(size // DAYS, 4096), "--seed", str(d), "--start", day, "--days", "1")
            with open(os.path.join(day_dir, "location.csv"), "rb") as f:
                f.readline()
                while True:
                    block = f.read(16 << 20)
                    if not block:
                        break
                    out.write(block)
    os.replace(loc + ".tmp", loc)
    os.replace(os.path.join(day_dir, "region.csv"), os.path.join(folder, "region.csv"))
    return folder


def make_regions(ec, root, size):
    folder = os.path.join(root, "regions-70000")
    if os.path.exists(os.path.join(folder, "location.csv")):
        return folder
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "region.csv"), "w") as f:
        f.write("region_id,region_name\n")
        for i in range(1, 70_001):
            f.write(f"{i},Region {i:05}\n")
    generate(ec, folder, size, "--seed", "70000", "--start", START, "--days", str(DAYS))
    return folder


def make_bad_rows(ec, root, size):
    """The plain file with a malformed row after the first row end past
    every MiB."""
    folder = os.path.join(root, "bad-per-mib")
    loc = os.path.join(folder, "location.csv")
    if os.path.exists(loc):
        return folder
    generate(ec, folder, size, "--seed", "11", "--start", START, "--days", str(DAYS))
    with open(loc, "rb") as f, open(loc + ".tmp", "wb") as out:
        out.write(f.readline())
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            rest = f.readline()
            out.write(block + rest)
            if rest.endswith(b"\n"):
                out.write(b"-36.8,174.7,not-an-id,2019-01-01\n")
    os.replace(loc + ".tmp", loc)
    return folder


def make_small_files(ec, root, size):
    folder = os.path.join(root, "small-files")
    if os.path.exists(os.path.join(folder, "done")):
        return folder
    each = max(size // 1000, 4096)
    for i in range(1000):
        one = os.path.join(root, "small-one")
        generate(ec, one, each, "--seed", str(i), "--start", START, "--days", str(DAYS))
        os.makedirs(os.path.join(folder, "parts"), exist_ok=True)
        os.replace(os.path.join(one, "location.csv"), os.path.join(folder, "parts", f"part-{i:04}.csv"))
        if i == 0:
            os.replace(os.path.join(one, "region.csv"), os.path.join(folder, "region.csv"))
    open(os.path.join(folder, "done"), "w").close()
    return folder


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--size", default="4G")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--threads", type=int, nargs="+", default=[16, 2])
    args = p.parse_args()
    ec = os.path.join(args.bin, "event-counter")
    size = parse_size(args.size)
    os.makedirs(args.root, exist_ok=True)
    shapes = [
        ("date-sorted, 4 years", make_sorted(ec, args.root, size), []),
        ("70,000 regions, 4 years", make_regions(ec, args.root, size), []),
        ("1 bad row per MiB", make_bad_rows(ec, args.root, size), ["--max-bad", "100%"]),
    ]
    small = make_small_files(ec, args.root, size)
    shapes.append(("1,000 small files", small, ["--locations", os.path.join(small, "parts")]))
    print()
    print(f"Shapes of real data, {args.size} each, best of {args.runs} runs, every result equal to the CPU backend's")
    print()
    print("| shape | threads | cpu GB/s | gpu GB/s | gpu × cpu | rows handed back | bytes read again | gpu peak MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, folder, extra in shapes:
        for t in args.threads:
            best = {}
            for _ in range(args.runs):
                for backend in ["cpu", "gpu"]:
                    out = os.path.join(folder, f"out-{backend}-{t}.csv")
                    stats_path = out + ".json"
                    cmd = [ec, "count", folder, "--backend", backend, "-j", str(t), "-q",
                           "-o", out, "--stats-json", stats_path] + extra
                    seconds, _, _ = run(cmd)
                    stats = json.load(open(stats_path))
                    if backend not in best or seconds < best[backend][0]:
                        best[backend] = (seconds, stats, out)
            if open(best["gpu"][2], "rb").read() != open(best["cpu"][2], "rb").read():
                sys.exit(f"{name}: the gpu backend wrote another result than the cpu backend")
            cpu_s, cpu_stats, _ = best["cpu"]
            gpu_s, gpu_stats, _ = best["gpu"]
            nbytes = cpu_stats["bytes"]
            rows = cpu_stats["rows"]["data"] + cpu_stats["rows"]["blank"]
            g = gpu_stats.get("gpu")
            if g:
                back = f"{g['rows_handed_back'] / max(rows, 1):.4%}"
                reread = f"{g['bytes_reread'] / max(nbytes, 1):.4%}"
            else:
                back = reread = "all on the CPU"  # files too small to share a chunk
            peak = (gpu_stats.get("peak_memory_bytes") or 0) / 2**20
            print(f"| {name} | {t} | {nbytes / cpu_s / 1e9:.2f} | {nbytes / gpu_s / 1e9:.2f} | "
                  f"{cpu_s / gpu_s:.2f} | {back} | {reread} | {peak:.0f} |")


if __name__ == "__main__":
    main()
