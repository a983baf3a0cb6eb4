"""Runs event-counter as N shards on a Spark cluster and merges the parts.

Each Spark task runs `event-counter count --split i/N -o <part>` on its
executor, which reads only its own byte range of the inputs (local paths
every executor can see, or s3:// URLs) and writes its part straight to the
parts location; the task returns only the part's location. The driver then
runs `event-counter merge -d` on those locations into the output (a path or
an s3:// URL), which deletes the parts. So no result passes through Spark
or the driver's memory, however many shards and groups, and region names
go from the binary to storage as bytes, whatever their encoding.

The parts location is --parts, by default `<output>.parts/` beside the
output: an s3:// prefix for an s3:// output, a folder for a local one. A
local folder must be one every executor sees (a shared file system, as for
local inputs); the driver makes it when missing, and removes it once the
merge has emptied it. A part's name depends only on its shard and N
(part-00003-of-00064.csv), so a retried or speculative task writes the same
part again; the binary writes it atomically, so the merge reads one whole
copy. Spark does the scheduling and the retries; a shard is deterministic,
so any attempt's part is the same.

    spark-submit --files event-counter event_counter_spark.py \\
        --regions s3://bucket/region.csv --locations s3://bucket/events/ \\
        --shards 64 --output s3://bucket/result.csv
"""

import argparse
import os
import shutil
import stat
import subprocess
import sys

# The options of `event-counter count` that change what a shard counts,
# passed to every shard as given (merge refuses parts counted otherwise):
# (flag, argparse keywords). deploy/emr/launch.py takes the same ones from
# here. --max-bad and --max-unmatched are not among them: each shard would
# judge its own part, so a number of rows would not mean the whole count's.
COUNT_OPTIONS = [
    ("--time-zone", dict(help="count --time-zone: the zone whose calendar decides an event time's "
                              "day, such as Pacific/Auckland (default UTC)")),
    ("--epoch", dict(choices=["s", "ms"], help="count --epoch: a bare number in the date column is "
                                               "epoch seconds or milliseconds")),
    ("--delimiter", dict(help="count --delimiter (default: sniffed from each file's header)")),
    ("--no-header", dict(action="store_true",
                         help="the location files have no header row (count --no-header; give --columns as positions)")),
    ("--columns", dict(help="count --columns: region_id=NAME,date=NAME (a name or a 1-based position)")),
    ("--regions-no-header", dict(action="store_true",
                                 help="region.csv has no header row (count --regions-no-header)")),
    ("--region-columns", dict(help="count --region-columns: region_id=NAME,region_name=NAME")),
    ("--strict", dict(action="store_true", help="count --strict: a malformed row fails its shard, and so the job")),
]


def add_count_options(parser):
    """Adds COUNT_OPTIONS to `parser`."""
    for flag, keywords in COUNT_OPTIONS:
        parser.add_argument(flag, **keywords)


def count_flags(args):
    """The COUNT_OPTIONS `args` holds, as `event-counter count` flags."""
    flags = []
    for flag, keywords in COUNT_OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if keywords.get("action") == "store_true":
            flags += [flag] if value else []
        elif value is not None:
            flags += [flag, value]
    return flags


def binary(name):
    """The event-counter binary: shipped with --files (or addFile), else a
    path or a name on PATH."""
    # Here, not at the top: deploy/emr/launch.py imports this module for
    # COUNT_OPTIONS where pyspark is not installed.
    from pyspark import SparkFiles

    try:
        shipped = SparkFiles.get(os.path.basename(name))
        if os.path.exists(shipped):
            # --files does not keep the executable bit.
            os.chmod(shipped, os.stat(shipped).st_mode | stat.S_IXUSR)
            return shipped
    except Exception:
        pass
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"event-counter binary {name!r} not shipped with --files and not on PATH")
    return found


def part_location(parts, index, shards):
    """Where shard `index` writes its part: the same for every attempt."""
    name = f"part-{index:05}-of-{shards:05}.csv"
    if parts.startswith("s3://"):
        return parts.rstrip("/") + "/" + name
    return os.path.join(parts, name)


def count_shard(index, args):
    """One task: counts shard `index` into its part; returns the part's location."""
    part = part_location(args.parts, index, args.shards)
    cmd = [
        binary(args.binary), "count", "-q",
        "--regions", args.regions,
        "--locations", *args.locations,
        "--split", f"{index}/{args.shards}",
        "--backend", args.backend,
        "-o", part,
    ]
    if args.threads:
        cmd += ["-j", str(args.threads)]
    cmd += count_flags(args)
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        # Failing the task makes Spark retry it, then fail the job with this.
        # The message may quote an input's bytes, in any encoding.
        message = done.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"shard {index}/{args.shards} exited {done.returncode}: {message}")
    return part


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regions", required=True, help="region.csv: path or s3:// URL")
    p.add_argument("--locations", required=True, nargs="+", help="files, folders, globs or s3:// URLs")
    p.add_argument("--output", required=True, help="result.csv: path or s3:// URL")
    p.add_argument("--parts", help="folder or s3:// prefix the shards write their parts to, deleted by the "
                                   "merge; a folder every executor sees (default: <output>.parts/)")
    p.add_argument("--shards", type=int, help="number of shards (default: Spark's default parallelism)")
    p.add_argument("--threads", type=int, help="threads per shard (default: all cores of the executor)")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "gpu", "gpu-keys"])
    p.add_argument("--binary", default="event-counter", help="binary name shipped with --files, or a path")
    add_count_options(p)
    p.add_argument("--master", help="Spark master, for running without spark-submit (e.g. local[2])")
    args = p.parse_args(argv)
    args.parts = args.parts or args.output + ".parts/"
    made = None
    if not args.parts.startswith("s3://"):
        # Absolute, since an executor's working folder is not the driver's.
        args.parts = os.path.abspath(args.parts)
        if not os.path.isdir(args.parts):
            os.makedirs(args.parts)
            made = args.parts

    from pyspark.sql import SparkSession  # see binary()

    builder = SparkSession.builder.appName("event-counter")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    if os.path.exists(args.binary):
        # Shipped from here, as --files would, so executors need no copy.
        sc.addFile(os.path.abspath(args.binary))
    args.shards = args.shards or sc.defaultParallelism

    # One partition per shard, so each task counts exactly one; collect()
    # brings back the parts' locations, in shard order.
    parts = (
        sc.parallelize(range(args.shards), args.shards)
        .map(lambda i: count_shard(i, args))
        .collect()
    )
    subprocess.run([binary(args.binary), "merge", "-d", "-o", args.output, *parts], check=True)
    if made:
        try:
            os.rmdir(made)
        except OSError as e:
            # Only a killed attempt's temporary file can be left: the result is written.
            print(f"event-counter: kept the parts folder: {e}", file=sys.stderr)
    spark.stop()


if __name__ == "__main__":
    main()
