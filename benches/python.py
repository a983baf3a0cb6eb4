"""event_counter.count() against DuckDB and Polars, from one Python process.

Generates (or reuses) SIZE of data with the package's own generate(), then
times, best of RUNS, tools alternating: event_counter.count() into an Arrow
table; DuckDB reading the CSVs, joining and grouping into an Arrow table;
Polars' lazy scan_csv, join and group_by; and the command line on the same
files, as a child process. Every result is compared with event_counter's
(as sets of rows). Prints a Markdown table.

    target/py-venv/bin/python benches/python.py [--size 1G] [--runs 3] [--threads 2]
        [--regions 70000 --days 1461] [--skip-peers]

--regions N writes a region.csv of N names first (70,000 over 1,461 days
give a result of 20 million groups, where building the table dominates);
--skip-peers times only event_counter.count() and the command line, for a
before/after of the package (run it with each build, alternately).

Needs the package installed (pip install ./python) with duckdb and polars;
the command line from EVENT_COUNTER_BIN or target/release.
"""

import argparse
import os
import platform
import subprocess
import sys
import time

import event_counter

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def tools(data, threads, skip_peers=False):
    loc = os.path.join(data, "location.csv")
    reg = os.path.join(data, "region.csv")

    def ours():
        return event_counter.count(data, backend="cpu", threads=threads).to_arrow()

    def duckdb_sql():
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        return con.sql(
            f"""
            SELECT r.region_name, l.date, count(*) AS count
            FROM read_csv('{loc}', header = true,
                          columns = {{'lat': 'VARCHAR', 'long': 'VARCHAR',
                                      'region_id': 'BIGINT', 'date': 'DATE'}}) l
            JOIN read_csv('{reg}', header = true,
                          columns = {{'region_id': 'BIGINT', 'region_name': 'VARCHAR'}}) r
              ON l.region_id = r.region_id
            GROUP BY r.region_name, l.date
            ORDER BY l.date, r.region_name
            """
        ).to_arrow_table()

    def polars_lazy():
        import polars as pl

        locations = pl.scan_csv(
            loc,
            schema={"lat": pl.Utf8, "long": pl.Utf8, "region_id": pl.Int64, "date": pl.Date},
        )
        regions = pl.scan_csv(reg, schema={"region_id": pl.Int64, "region_name": pl.Utf8})
        return (
            locations.join(regions, on="region_id")
            .group_by(["region_name", "date"])
            .agg(pl.len().alias("count"))
            .sort(["date", "region_name"])
            .collect()
            .to_arrow()
        )

    def command_line():
        binary = os.environ.get("EVENT_COUNTER_BIN") or os.path.join(REPO, "target", "release", "event-counter")
        out = os.path.join(data, "cli-result.csv")
        subprocess.run([binary, "count", data, "-q", "--backend", "cpu", "-j", str(threads), "-o", out], check=True)
        return None

    ours_and_cli = [
        ("event_counter.count()", ours),
        ("command line (event-counter count)", command_line),
    ]
    if skip_peers:
        return ours_and_cli
    return ours_and_cli + [
        (f"DuckDB {version('duckdb')}", duckdb_sql),
        (f"Polars {version('polars')}", polars_lazy),
    ]


def version(module):
    try:
        return __import__(module).__version__
    except ImportError:
        return "(not installed)"


def rows(table):
    names = table.column(0).to_pylist()
    dates = [str(d) for d in table.column(1).to_pylist()]
    counts = table.column(2).to_pylist()
    return set(zip(names, dates, counts))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="1G")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--regions", type=int, help="names in a region.csv of its own")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--data", default=os.path.join(REPO, "target", "python-bench"))
    args = p.parse_args()
    os.environ["POLARS_MAX_THREADS"] = str(args.threads)

    made = os.path.join(args.data, ".made")
    recipe = f"{args.size} {args.regions} {args.days}"
    if not os.path.exists(made) or open(made).read() != recipe:
        regions = None
        if args.regions:
            os.makedirs(args.data, exist_ok=True)
            # generate() reads this region.csv and leaves it in place.
            regions = os.path.join(args.data, "region.csv")
            with open(regions, "w") as f:
                f.write("region_id,region_name\n")
                f.writelines(f'{i},"Region {i:06}"\n' for i in range(args.regions))
        event_counter.generate(
            args.data, size=args.size, seed=1, days=args.days, regions=regions, force=True
        )
        open(made, "w").write(recipe)
    size = os.path.getsize(os.path.join(args.data, "location.csv"))

    runs = tools(args.data, args.threads, args.skip_peers)
    best = {name: float("inf") for name, _ in runs}
    want = None
    for _ in range(args.runs):
        for name, run in runs:
            started = time.perf_counter()
            table = run()
            best[name] = min(best[name], time.perf_counter() - started)
            if table is None:
                continue
            got = rows(table)
            if want is None:
                want = got
            elif got != want:
                sys.exit(f"{name}: another result than event_counter's")

    ours = best["event_counter.count()"]
    print(f"{size / 2**30:.2f} GiB, {args.threads} threads, best of {args.runs}; {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print()
    print("| tool | s | GB/s | x event_counter |")
    print("| --- | ---: | ---: | ---: |")
    for name, _ in runs:
        s = best[name]
        print(f"| {name} | {s:.3f} | {size / s / 1e9:.2f} | {s / ours:.2f} |")


if __name__ == "__main__":
    main()
