"""CI test of the Spark driver: pyspark in local mode on generated data must
give the same result.csv as one `event-counter count`, for 1, 3 and 7 shards.

    EVENT_COUNTER_BIN=target/release/event-counter python deploy/spark/test_local.py
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "event_counter_spark.py")


def main():
    binary = os.environ["EVENT_COUNTER_BIN"]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        subprocess.run([binary, "generate", "-q", "--size", "8M", "--seed", "7", a], check=True)
        subprocess.run([binary, "generate", "-q", "--size", "3M", "--seed", "8", b], check=True)
        regions = os.path.join(a, "region.csv")
        locations = [os.path.join(a, "location.csv"), os.path.join(b, "location.csv")]
        want = os.path.join(tmp, "want.csv")
        subprocess.run([binary, "count", "-q", "--regions", regions, "--locations", *locations, "-o", want], check=True)
        for shards in (1, 3, 7):
            got = os.path.join(tmp, f"got-{shards}.csv")
            # Run as spark-submit would: the driver script as the main
            # program, the binary shipped to the executors by the driver.
            subprocess.run([
                sys.executable, DRIVER, "--master", "local[2]", "--binary", binary,
                "--regions", regions, "--locations", *locations, "--shards", str(shards),
                "--threads", "1", "--backend", "cpu", "--output", got,
            ], check=True)
            if open(got, "rb").read() != open(want, "rb").read():
                sys.exit(f"{shards} shards on Spark gave another result than one count: {got} vs {want}")
            print(f"spark driver, {shards} shards: equal to one count")


if __name__ == "__main__":
    main()
