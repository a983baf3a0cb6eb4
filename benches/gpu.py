"""The measuring half of benches/gpu.sh.

Runs every backend as its own process, round-robin over the runs so that
drift hits each alike, keeps each one's fastest run, checks every result
equals the CPU backend's, and prints a Markdown table. Peak memory is what
the binary itself reports (--stats-json's peak_memory_bytes: its resident
high-water mark), the floor's from wait4.
"""

import argparse
import json
import os
import sys

# Beside this file: how a tool is run and timed, and the machine's line.
from peers import machine, run


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[16, 8, 2])
    args = p.parse_args()

    loc = os.path.join(args.data, "location.csv")
    size = os.path.getsize(loc)
    out_dir = os.path.join(args.data, "out")
    os.makedirs(out_dir, exist_ok=True)
    ec = os.path.join(args.bin, "event-counter")
    floor = os.path.join(args.bin, "newline_floor")

    def runs_of(t):
        yield "memchr floor", t, None, [floor, loc, str(t)]
        backends = ["cpu", "gpu", "gpu-keys"]
        for backend in backends:
            out = os.path.join(out_dir, f"{backend}-{t}.csv")
            stats = out + ".json"
            yield backend, t, (out, stats), [ec, "count", args.data, "--backend", backend, "-j", str(t), "-q", "-o", out, "--stats-json", stats]
        if t == max(args.threads):
            # How the CPU backend reads at the most threads: chunks mapped
            # (the default), read with pread, or mapped in larger chunks.
            # Measured here to choose one per thread count (issue 14).
            for name, extra in [("cpu, pread", ["--pread"]), ("cpu, 32 MiB chunks", ["--chunk-size", str(32 << 20)])]:
                out = os.path.join(out_dir, f"{name.replace(', ', '-').replace(' ', '')}-{t}.csv")
                yield name, t, (out, out + ".json"), [ec, "count", args.data, "--backend", "cpu", "-j", str(t), "-q", "-o", out, "--stats-json", out + ".json"] + extra
        if t == min(args.threads) and 1 not in args.threads:
            out = os.path.join(out_dir, "cpu-1.csv")
            yield "cpu", 1, (out, out + ".json"), [ec, "count", args.data, "--backend", "cpu", "-j", "1", "-q", "-o", out, "--stats-json", out + ".json"]

    run([floor, loc, str(max(args.threads))])  # the file into the page cache
    best = {}
    for _ in range(args.runs):
        for t in args.threads:
            for name, threads, files, cmd in runs_of(t):
                seconds, rss, _ = run(cmd)
                memory = rss
                adapter = None
                if files:
                    stats = json.load(open(files[1]))
                    memory = (stats.get("peak_memory_bytes") or 0) / 2**20 or rss
                    adapter = stats.get("adapter")
                key = (name, threads)
                if key not in best or seconds < best[key][0]:
                    best[key] = (seconds, memory, files, adapter)

    # Every result must equal the CPU backend's, byte for byte.
    want = open(best[("cpu", max(args.threads))][2][0], "rb").read()
    for (name, threads), (_, _, files, _) in best.items():
        if files and open(files[0], "rb").read() != want:
            sys.exit(f"{name} with {threads} threads wrote another result than the CPU backend ({files[0]})")

    adapter = next((a for (_, _, _, a) in best.values() if a), "none")
    print(f"{machine()}, GPU: {adapter}")
    print(f"{size / 2**30:.2f} GiB of `event-counter generate --seed 7 --days 1461` in {args.data}, "
          f"best of {args.runs} runs, backends alternating, every result equal to the CPU backend's")
    print()
    print("| backend | threads | seconds | GB/s | peak memory MiB | × cpu same threads | × floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = sorted(best.items(), key=lambda kv: (-kv[0][1], kv[0][0]))
    for (name, threads), (seconds, memory, _, _) in rows:
        cpu_same = best.get(("cpu", threads))
        floor_s = best.get(("memchr floor", threads))
        vs_cpu = f"{cpu_same[0] / seconds:.2f}" if cpu_same else "-"
        vs_floor = f"{seconds / floor_s[0]:.1f}" if floor_s else "-"
        print(f"| {name} | {threads} | {seconds:.3f} | {size / seconds / 1e9:.2f} | {memory:.0f} | {vs_cpu} | {vs_floor} |")


if __name__ == "__main__":
    main()
