"""Runs event-counter as N shards on a Spark cluster and merges the parts.

Each Spark task runs `event-counter count --split i/N` on its executor, which
reads only its own byte range of the inputs (local paths every executor can
see, or s3:// URLs), and returns its small result as text. The driver writes
the parts to a temporary folder and runs `event-counter merge` into the
output (a path or an s3:// URL). Spark does the scheduling and the retries;
a shard is deterministic, so a retried task gives the same part.

    spark-submit --files event-counter event_counter_spark.py \\
        --regions s3://bucket/region.csv --locations s3://bucket/events/ \\
        --shards 64 --output s3://bucket/result.csv
"""

import argparse
import os
import shutil
import stat
import subprocess
import tempfile

from pyspark import SparkFiles
from pyspark.sql import SparkSession


def binary(name):
    """The event-counter binary: shipped with --files (or addFile), else a
    path or a name on PATH."""
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


def count_shard(index, args):
    """One task: counts shard `index` and returns its result.csv text."""
    cmd = [
        binary(args.binary), "count", "-q",
        "--regions", args.regions,
        "--locations", *args.locations,
        "--split", f"{index}/{args.shards}",
        "--backend", args.backend,
        "-o", "-",
    ]
    if args.threads:
        cmd += ["-j", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        # Failing the task makes Spark retry it, then fail the job with this.
        raise RuntimeError(f"shard {index}/{args.shards} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regions", required=True, help="region.csv: path or s3:// URL")
    p.add_argument("--locations", required=True, nargs="+", help="files, folders, globs or s3:// URLs")
    p.add_argument("--output", required=True, help="result.csv: path or s3:// URL")
    p.add_argument("--shards", type=int, help="number of shards (default: Spark's default parallelism)")
    p.add_argument("--threads", type=int, help="threads per shard (default: all cores of the executor)")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--binary", default="event-counter", help="binary name shipped with --files, or a path")
    p.add_argument("--master", help="Spark master, for running without spark-submit (e.g. local[2])")
    args = p.parse_args(argv)

    builder = SparkSession.builder.appName("event-counter")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    if os.path.exists(args.binary):
        # Shipped from here, as --files would, so executors need no copy.
        sc.addFile(os.path.abspath(args.binary))
    args.shards = args.shards or sc.defaultParallelism

    # One partition per shard, so each task counts exactly one.
    parts = (
        sc.parallelize(range(args.shards), args.shards)
        .map(lambda i: (i, count_shard(i, args)))
        .collect()
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, text in sorted(parts):
            path = os.path.join(tmp, f"part-{i:05}.csv")
            with open(path, "w") as f:
                f.write(text)
            paths.append(path)
        subprocess.run([binary(args.binary), "merge", "-d", "-o", args.output, *paths], check=True)
    spark.stop()


if __name__ == "__main__":
    main()
