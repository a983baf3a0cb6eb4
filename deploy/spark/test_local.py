"""CI test of the Spark driver: pyspark in local mode on generated data must
give the same result.csv as one `event-counter count`, byte for byte, for 1,
3 and 7 shards; region.csv holds a name in Latin-1, not UTF-8, which the
binary passes through as bytes and so must the driver.

The driver runs a stand-in for the binary that logs every call, and fails
the first attempt of shard 0 after leaving a broken file where it was told
to write its part. So the test sees that each task writes its part with
`count -o` under <output>.parts/, that Spark's retry writes the same part,
over the broken file (a part named per attempt would leave that behind),
and that the driver merges exactly those parts with `merge -d`, leaving
none behind.

    EVENT_COUNTER_BIN=target/release/event-counter python deploy/spark/test_local.py
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "event_counter_spark.py")
LATIN_1 = b"Caf\xe9 District"  # "Café District" in Latin-1: 0xE9 alone is no UTF-8

STAND_IN = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "count" and args[args.index("--split") + 1].startswith("0/"):
    failed_once = {log!r} + ".failed"
    if not os.path.exists(failed_once):
        open(failed_once, "w").close()
        with open(args[args.index("-o") + 1], "wb") as part:
            part.write(b"a broken part")
        sys.exit("the first attempt of shard 0 fails on purpose")
os.execv({binary!r}, [{binary!r}, *args])
"""


def add_latin_1_region(data):
    """Appends a region named in Latin-1 to data/region.csv and two events
    in it, on one day, to data/location.csv."""
    with open(os.path.join(data, "region.csv"), "rb") as f:
        ids = [int(line.split(b",")[0].strip(b'"')) for line in f.read().splitlines()[1:]]
    new = max(ids) + 1
    with open(os.path.join(data, "region.csv"), "ab") as f:
        f.write(b'"%d","%s"\n' % (new, LATIN_1))
    with open(os.path.join(data, "location.csv"), "ab") as f:
        f.write(b'"-36.1","170.9","%d","2019-12-28"\n' % new * 2)


def stand_in(binary, folder):
    """The logging, once-failing stand-in for `binary` in `folder`, and its log."""
    path, log = os.path.join(folder, "event-counter"), os.path.join(folder, "calls.jsonl")
    with open(path, "w") as f:
        f.write(STAND_IN.format(python=sys.executable, log=log, binary=os.path.abspath(binary)))
    os.chmod(path, 0o755)
    return path, log


def check_calls(log, shards, got):
    """The stand-in's log: each shard's count wrote a part of its own under
    <got>.parts/, shard 0's retry the same one, and merge -d took them all."""
    with open(log) as f:
        calls = [json.loads(line) for line in f]
    counts = [c for c in calls if c[0] == "count"]
    if len(counts) != shards + 1:
        sys.exit(f"{shards} shards: {len(counts)} counts, not one per shard and shard 0's retry")
    parts = {}
    for call in counts:
        part = call[call.index("-o") + 1]
        shard = int(call[call.index("--split") + 1].split("/")[0])
        if os.path.dirname(part) != got + ".parts":
            sys.exit(f"{shards} shards: shard {shard} wrote its part to {part}, not under {got}.parts/")
        if parts.setdefault(shard, part) != part:
            sys.exit(f"{shards} shards: shard {shard}'s attempts wrote {parts[shard]} and {part}")
    if sorted(parts) != list(range(shards)) or len(set(parts.values())) != shards:
        sys.exit(f"{shards} shards: not one part per shard: {parts}")
    merges = [c for c in calls if c[0] == "merge"]
    want = ["merge", "-d", "-o", got, *(parts[i] for i in range(shards))]
    if merges != [want]:
        sys.exit(f"{shards} shards: the driver ran {merges}, not {want}")
    if os.path.exists(got + ".parts"):
        sys.exit(f"{shards} shards: {got}.parts is left: {os.listdir(got + '.parts')}")


def main():
    binary = os.environ["EVENT_COUNTER_BIN"]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        subprocess.run([binary, "generate", "-q", "--size", "8M", "--seed", "7", a], check=True)
        subprocess.run([binary, "generate", "-q", "--size", "3M", "--seed", "8", b], check=True)
        add_latin_1_region(a)
        regions = os.path.join(a, "region.csv")
        locations = [os.path.join(a, "location.csv"), os.path.join(b, "location.csv")]
        want = os.path.join(tmp, "want.csv")
        subprocess.run([binary, "count", "-q", "--regions", regions, "--locations", *locations, "-o", want], check=True)
        if LATIN_1 not in open(want, "rb").read():
            sys.exit(f"one count left the Latin-1 region name out of {want}")
        print("one count: the Latin-1 region name in its result, as its bytes")
        for shards in (1, 3, 7):
            run = os.path.join(tmp, f"run-{shards}")
            os.mkdir(run)
            logged, log = stand_in(binary, run)
            got = os.path.join(run, "got.csv")
            # Run as spark-submit would: the driver script as the main
            # program, the binary shipped to the executors by the driver.
            # local[2,2]: two task threads, and a second attempt for a
            # failed task, as on a cluster.
            subprocess.run([
                sys.executable, DRIVER, "--master", "local[2,2]", "--binary", logged,
                "--regions", regions, "--locations", *locations, "--shards", str(shards),
                "--threads", "1", "--backend", "cpu", "--output", got,
            ], check=True, cwd=run)
            if open(got, "rb").read() != open(want, "rb").read():
                sys.exit(f"{shards} shards on Spark gave another result than one count: {got} vs {want}")
            print(f"spark driver, {shards} shards: equal to one count")
            check_calls(log, shards, got)
            print(f"spark driver, {shards} shards: each task wrote its part under the output's .parts/, "
                  "a retry the same part, all merged with -d and none left")

        # Event times with `;`, counted by their day in Auckland: the count's
        # options reach every shard (they could not be given: such files
        # were counted by their UTC day).
        c = os.path.join(tmp, "c")
        subprocess.run([binary, "generate", "-q", "--size", "2M", "--seed", "9", "--timestamps",
                        "--time-zone", "Pacific/Auckland", c], check=True)
        stamped = os.path.join(c, "stamped.csv")
        with open(os.path.join(c, "location.csv")) as f, open(stamped, "w") as out:
            out.write(f.read().replace(",", ";"))
        options = ["--time-zone", "Pacific/Auckland", "--delimiter", ";"]
        regions_c = os.path.join(c, "region.csv")
        want_c, utc_c = os.path.join(tmp, "want-c.csv"), os.path.join(tmp, "utc-c.csv")
        subprocess.run([binary, "count", "-q", "--regions", regions_c, "--locations", stamped, "-o", want_c,
                        *options], check=True)
        subprocess.run([binary, "count", "-q", "--regions", regions_c, "--locations", stamped, "-o", utc_c],
                       check=True)
        if open(want_c, "rb").read() == open(utc_c, "rb").read():
            sys.exit("the Auckland count equals the UTC count: the test cannot see the option")
        got_c = os.path.join(tmp, "got-c.csv")
        subprocess.run([
            sys.executable, DRIVER, "--master", "local[2,2]", "--binary", binary,
            "--regions", regions_c, "--locations", stamped, "--shards", "3",
            "--threads", "1", "--backend", "cpu", *options, "--output", got_c,
        ], check=True, cwd=tmp)
        if open(got_c, "rb").read() != open(want_c, "rb").read():
            sys.exit(f"3 shards with {options} gave another result than one count: {got_c} vs {want_c}")
        print(f"spark driver, 3 shards with {' '.join(options)}: equal to one count")


if __name__ == "__main__":
    main()
