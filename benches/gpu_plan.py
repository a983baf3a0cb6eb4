"""The measuring half of benches/gpu.sh: one plan of runs for one lent
machine, every figure appended to OUT as soon as it is measured, so that a
run cut short by its time limit still leaves what it measured.

  quick (< 3 min on a 16-core H200 box): the bench file at the first size,
    cpu, gpu and auto at the first and last thread counts, one run each;
    a folder of files under 1 MiB.
  full (< 6 min): the bench file at every size (4 and 16 GiB: start-up and
    steady state separate), cpu, gpu and auto at every thread count (16, 8,
    2); then the shapes real data has (benches/gpu_shapes.py's makers:
    date-sorted, 70,000 regions, a bad row per MiB) and the folder of
    small files, cpu and gpu at every thread count.

Each run is its own process. Per run it writes: seconds, GB/s, peak memory
twice (the binary's VmHWM from --stats-json, and the fall in the machine's
MemAvailable while it ran, sampled every 20 ms: mapped pages and device
memory that VmHWM does not see), the `gpu` object's stage seconds and
counters, and whether the stats' row counts and result.csv equal the CPU
backend's for the same data (the first cpu run of it).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from gpu_shapes import generate, make_bad_rows, make_regions, make_small_files, make_sorted, parse_size

GPU_FIELDS = [
    "open_seconds", "upload_seconds", "wait_seconds", "readback_seconds", "judge_seconds",
    "feeder_wait_seconds", "reader_idle_seconds", "device_copy_seconds", "device_pass_seconds", "folds", "pages_read_back", "blocks_reparsed", "blocks_deferred",
    "rows_on_device", "rows_handed_back", "bytes_reread", "chunks", "files_packed",
]


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def timed(cmd):
    """Runs `cmd`; returns (seconds, the most MemAvailable fell, exit code)."""
    before = mem_available()
    low = [before]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            low[0] = min(low[0], mem_available())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    rc = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return seconds, max(0, before - low[0]), rc


class Report:
    """Appends to OUT/gpu-bench.md (a table) and OUT/gpu-bench.jsonl (every
    field), flushed after each line."""

    def __init__(self, out):
        os.makedirs(out, exist_ok=True)
        self.md = open(os.path.join(out, "gpu-bench.md"), "a", buffering=1)
        self.jsonl = open(os.path.join(out, "gpu-bench.jsonl"), "a", buffering=1)

    def line(self, text):
        print(text, flush=True)
        self.md.write(text + "\n")
        self.md.flush()
        os.fsync(self.md.fileno())

    def record(self, row):
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        os.fsync(self.jsonl.fileno())
        gpu = row.get("gpu") or {}
        # The device's own clock (device_*) is null where the adapter has none.
        stages = ", ".join(f"{k.replace('_seconds', '')} {gpu[k]:.3f}" for k in GPU_FIELDS[:9]
                           if gpu.get(k) is not None)
        counts = ", ".join(f"{k} {gpu[k]}" for k in GPU_FIELDS[9:] if k in gpu)
        self.line(
            f"| {row['data']} | {row['backend']} | {row['threads']} | {row['seconds']:.3f} | {row['gb_s']:.2f} "
            f"| {row['vmhwm_mib']:.0f} | {row['memavail_fall_mib']:.0f} | {row['chose'] or ''} "
            f"| {row['same_as_cpu']} | {stages} | {counts} |"
        )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--root", required=True, help="where the data is made")
    p.add_argument("--out", required=True)
    p.add_argument("--plan", choices=["quick", "full"], default="quick")
    p.add_argument("--sizes", nargs="+", default=["4G", "16G"])
    p.add_argument("--threads", type=int, nargs="+", default=[16, 8, 2])
    p.add_argument("--shape-size", default="1G")
    p.add_argument("--small-size", default="256M", help="the folder of files under 1 MiB, in all")
    args = p.parse_args()

    ec = os.path.join(args.bin, "event-counter")
    report = Report(args.out)
    os.makedirs(args.root, exist_ok=True)
    quick = args.plan == "quick"
    sizes = args.sizes[:1] if quick else args.sizes
    threads = sorted({args.threads[0], args.threads[-1]}, reverse=True) if quick else args.threads
    subprocess.run([ec, "adapters"])
    report.line(f"\n## benches/gpu.sh, plan {args.plan}, {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores\n")
    report.line("| data | backend | -j | seconds | GB/s | VmHWM MiB | MemAvailable fall MiB | auto chose "
                "| same as cpu (result, rows) | gpu stage seconds | gpu counters |")
    report.line("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |")

    def count(name, folder, backends, extra=()):
        out_dir = folder.rstrip("/") + "-out"
        os.makedirs(out_dir, exist_ok=True)
        cpu = None
        for t in threads:
            for backend in backends:
                out = os.path.join(out_dir, f"{backend}-{t}.csv")
                stats_path = out + ".json"
                cmd = [ec, "count", folder, "--backend", backend, "-j", str(t), "-q", "-o", out,
                       "--stats-json", stats_path, *extra]
                seconds, fall, rc = timed(cmd)
                if rc != 0:
                    report.line(f"| {name} | {backend} | {t} | exit {rc} | | | | | | | |")
                    continue
                stats = json.load(open(stats_path))
                size = stats["bytes"]
                result = open(out, "rb").read()
                if cpu is None and backend == "cpu":
                    cpu = (result, stats["rows"])
                same = "-" if cpu is None else ("yes" if (result, stats["rows"]) == cpu else "NO")
                report.record({
                    "data": name, "backend": backend, "threads": t, "seconds": seconds,
                    "gb_s": size / seconds / 1e9, "bytes": size,
                    "vmhwm_mib": (stats.get("peak_memory_bytes") or 0) / 2**20,
                    "memavail_fall_mib": fall / 2**20,
                    "chose": stats.get("backend") if backend == "auto" else None,
                    "same_as_cpu": same, "rows": stats["rows"], "gpu": stats.get("gpu"),
                })
                if same == "NO":
                    report.line(f"**{name}: {backend} -j {t} differs from cpu (result.csv or row counts)**")

    for size in sizes:
        folder = os.path.join(args.root, f"bench-{size}")
        if not os.path.exists(os.path.join(folder, "location.csv")):
            generate(ec, folder, parse_size(size), "--seed", "7", "--days", "1461")
        # Into the page cache, as every later run finds it.
        subprocess.run(["cat", os.path.join(folder, "location.csv")], stdout=subprocess.DEVNULL)
        count(f"bench {size}", folder, ["cpu", "gpu", "auto"])
    shapes = [] if quick else [("date-sorted", make_sorted, []), ("70,000 regions", make_regions, []),
                                ("bad row per MiB", make_bad_rows, ["--max-bad", "100%"])]
    for name, make, extra in shapes:
        folder = make(ec, args.root, parse_size(args.shape_size))
        count(f"{name} {args.shape_size}", folder, ["cpu", "gpu"], extra)
    small = make_small_files(ec, args.root, parse_size(args.small_size))
    count("1,000 files < 1 MiB", small, ["cpu", "gpu", "auto"], ["--locations", os.path.join(small, "parts")])
    report.line(f"\nplan {args.plan} done at {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    sys.exit(main())
