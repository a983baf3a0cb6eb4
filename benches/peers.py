"""The measuring half of benches/peers.sh.

Runs every tool as its own process (so its peak RSS is its own, read from
wait4), round-robin over the runs so that drift hits every tool alike, keeps
each tool's fastest run, checks every output against event-counter's, and
prints a Markdown table. DuckDB and Polars run as `python peers.py --peer ...`
children, with the same thread count as the others.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def duckdb_count(data, out, threads, zone=None):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    loc = os.path.join(data, "location.csv")
    reg = os.path.join(data, "region.csv")
    # region_id joins as an integer; a date stays the text it was, an event
    # time becomes its local date in the session's time zone.
    day = "l.date"
    if zone:
        con.execute(f"SET TimeZone = '{zone}'")
        day = "CAST(CAST(l.date AS TIMESTAMPTZ) AS DATE)"
    con.execute(
        f"""
        COPY (
            SELECT r.region_name, {day} AS date, count(*) AS count
            FROM read_csv('{loc}', header = true,
                          columns = {{'lat': 'VARCHAR', 'long': 'VARCHAR',
                                      'region_id': 'BIGINT', 'date': 'VARCHAR'}}) l
            JOIN read_csv('{reg}', header = true,
                          columns = {{'region_id': 'BIGINT', 'region_name': 'VARCHAR'}}) r
              ON l.region_id = r.region_id
            GROUP BY ALL
            ORDER BY date, region_name COLLATE "binary"
        ) TO '{out}' (HEADER, FORCE_QUOTE *)
        """
    )


def polars_count(data, out, threads, zone=None):
    import polars as pl  # POLARS_MAX_THREADS is set by the parent

    loc = pl.scan_csv(
        os.path.join(data, "location.csv"),
        schema={"lat": pl.Utf8, "long": pl.Utf8, "region_id": pl.Int64, "date": pl.Utf8},
    )
    reg = pl.scan_csv(
        os.path.join(data, "region.csv"),
        schema={"region_id": pl.Int64, "region_name": pl.Utf8},
    )
    if zone:
        # RFC 3339 with offsets: instants, then their local date in the zone.
        local = (
            pl.col("date")
            .str.to_datetime(format="%Y-%m-%dT%H:%M:%S%:z", time_unit="us")
            .dt.convert_time_zone(zone)
            .dt.date()
            .cast(pl.Utf8)
        )
        loc = loc.with_columns(local.alias("date"))
    (
        loc.join(reg, on="region_id")
        .group_by(["region_name", "date"])
        .agg(pl.len().alias("count"))
        .sort(["date", "region_name"])
        .select(["region_name", "date", "count"])
        .sink_csv(out, quote_style="always")
    )


def run(cmd, env=None):
    """Runs `cmd`; returns (seconds, peak RSS in MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024, out


def machine():
    """A line naming the day, the system, the CPU and its cores."""
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    return f"{datetime.date.today()}, {platform.system()} {platform.release()} {platform.machine()}, {cpu}, {os.cpu_count()} cores"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin")
    p.add_argument("--data")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count()])
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--peer", choices=["duckdb", "polars"])
    p.add_argument("--out")
    # The data's dates are event times (generate --timestamps), counted by
    # their local day in this zone by every tool.
    p.add_argument("--time-zone")
    args = p.parse_args()
    if args.peer:
        count = {"duckdb": duckdb_count, "polars": polars_count}[args.peer]
        count(args.data, args.out, args.threads[0], args.time_zone)
        return
    zone = ["--time-zone", args.time_zone] if args.time_zone else []

    loc = os.path.join(args.data, "location.csv")
    size = os.path.getsize(loc)
    tmp = os.path.join(os.path.dirname(args.data), "peers-out")
    os.makedirs(tmp, exist_ok=True)
    ec = os.path.join(args.bin, "event-counter")
    floor = os.path.join(args.bin, "newline_floor")
    gpu = subprocess.run([ec, "adapters"], capture_output=True, text=True).stdout
    gpu_line = next((l for l in gpu.splitlines() if l.startswith("--backend auto")), "")
    has_gpu = "backend:" in gpu

    def tools(t):
        out = lambda name: os.path.join(tmp, f"{name}-{t}.csv")
        yield "memchr floor", None, [floor, loc, str(t)], None
        yield "event-counter cpu", out("cpu"), [ec, "count", args.data, "--backend", "cpu", "-j", str(t), "-q", "-o", out("cpu")] + zone, None
        if has_gpu:
            yield "event-counter gpu", out("gpu"), [ec, "count", args.data, "--backend", "gpu", "-j", str(t), "-q", "-o", out("gpu")] + zone, None
        if not args.skip_peers:
            for peer in ("duckdb", "polars"):
                env = dict(os.environ, POLARS_MAX_THREADS=str(t))
                cmd = [sys.executable, __file__, "--peer", peer, "--data", args.data, "--out", out(peer), "--threads", str(t)]
                cmd += ["--time-zone", args.time_zone] if args.time_zone else []
                yield peer, out(peer), cmd, env

    # Warm the page cache: every measured run then reads from memory.
    run([floor, loc, str(max(args.threads))])
    best = {}
    rows = None
    for _ in range(args.runs):
        for t in args.threads:
            for name, out, cmd, env in tools(t):
                seconds, rss, stdout = run(cmd, env)
                if name == "memchr floor":
                    lines = int(stdout)
                    rows = lines - 1
                key = (name, t)
                if key not in best or seconds < best[key][0]:
                    best[key] = (seconds, rss, out)

    # Every output must equal event-counter's, byte for byte.
    for (name, t), (_, _, out) in best.items():
        if out is None:
            continue
        want = open(best[("event-counter cpu", t)][2], "rb").read()
        got = open(out, "rb").read()
        if got != want:
            sys.exit(f"{name} with {t} threads wrote a different result than event-counter ({out})")

    print(machine())
    stamp = os.path.join(args.data, ".size")
    made_with = open(stamp).read().strip() if os.path.exists(stamp) else "?"
    print(
        f"{size / 2**30:.2f} GiB, {rows:,} rows from `event-counter generate --size {made_with}`, "
        f"{'event times counted by their day in ' + args.time_zone + ', ' if args.time_zone else ''}"
        f"page cache warm; best of {args.runs} runs, tools alternating; "
        "every output checked equal to event-counter's"
    )
    if gpu_line:
        print(f"GPU: {gpu_line}")
    print()
    print("| tool | threads | seconds | GB/s | peak RSS MiB | × DuckDB | × floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in args.threads:
        floor_s = best[("memchr floor", t)][0]
        duck = best.get(("duckdb", t))
        for name, _, _, _ in tools(t):
            seconds, rss, _ = best[(name, t)]
            vs_duck = f"{duck[0] / seconds:.1f}" if duck else "-"
            print(f"| {name} | {t} | {seconds:.3f} | {size / seconds / 1e9:.2f} | {rss:.0f} | {vs_duck} | {seconds / floor_s:.2f} |")
    print()
    print("× DuckDB: DuckDB's time over the tool's (above 1 is faster than DuckDB). × floor: the tool's time over a memchr newline count of the same file.")


if __name__ == "__main__":
    main()
