"""event_counter from Python: the same counts as the command line, as an
Arrow table; errors as exceptions of one family; the GIL released; Ctrl-C
leaving nothing behind; S3 on a local moto server.

The command line's binary is EVENT_COUNTER_BIN (else target/release or
target/debug of the repository); moto is EVENT_COUNTER_MOTO, and its test
is skipped without it unless EVENT_COUNTER_REQUIRE_S3=1.
"""

import datetime
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import event_counter

REPO = Path(__file__).resolve().parents[2]


def binary():
    found = os.environ.get("EVENT_COUNTER_BIN")
    if found:
        return found
    for profile in ("release", "debug"):
        path = REPO / "target" / profile / "event-counter"
        if path.exists():
            return str(path)
    pytest.fail("no event-counter binary: build it (cargo build) or set EVENT_COUNTER_BIN")


def cli(*args, cwd=None, check=True):
    done = subprocess.run([binary(), *args], cwd=cwd, capture_output=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{args}: exit {done.returncode}: {done.stderr.decode()}")
    return done


def rows_of(result_csv):
    """The rows of a result.csv file, as (name, date, count)."""
    import csv

    with open(result_csv, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        assert next(reader) == ["region_name", "date", "count"]
        return [(r[0], datetime.date.fromisoformat(r[1]), int(r[2])) for r in reader]


def rows_of_table(table):
    return list(
        zip(
            table.column("region_name").to_pylist(),
            table.column("date").to_pylist(),
            table.column("count").to_pylist(),
        )
    )


@pytest.fixture()
def sample(tmp_path):
    data = tmp_path / "sample"
    shutil.copytree(REPO / "sample", data)
    (data / "result.csv").unlink(missing_ok=True)
    return data


def test_the_sample_counts_as_the_command_line_does(sample, tmp_path):
    import pyarrow as pa

    cli("count", str(sample), "-o", str(tmp_path / "cli.csv"), "--backend", "cpu")
    result = event_counter.count(sample, backend="cpu")
    table = pa.table(result)
    assert table.schema == pa.schema(
        [
            pa.field("region_name", pa.utf8(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),
            pa.field("count", pa.int64(), nullable=False),
        ]
    )
    assert rows_of_table(table) == rows_of(tmp_path / "cli.csv")
    assert len(result) == table.num_rows == result.summary["groups"]
    assert result.summary["rows"]["counted"] == 2000
    assert not (sample / "result.csv").exists(), "no output unless asked for"
    assert "groups from 2000 rows counted" in repr(result)


def test_count_writes_no_file(sample, tmp_path, monkeypatch):
    """Issue 29: count() built its table from a temporary result.csv it
    wrote and read back. The table now comes from the library's counts:
    with the data folder read-only and no temporary folder to write in, it
    counts all the same, writes nothing, and equals the command line's."""
    import pyarrow as pa

    cli("count", str(sample), "-o", str(tmp_path / "cli.csv"), "--backend", "cpu")
    before = sorted(sample.iterdir())
    # A temporary folder that does not exist: making one there fails.
    monkeypatch.setenv("TMPDIR", str(tmp_path / "no-such-folder"))
    for path in [sample, *before]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        for backend in ["cpu", "auto"]:
            table = pa.table(event_counter.count(sample, backend=backend))
            assert rows_of_table(table) == rows_of(tmp_path / "cli.csv"), backend
    finally:
        sample.chmod(0o755)
    assert sorted(sample.iterdir()) == before
    assert not (tmp_path / "no-such-folder").exists()


def test_the_library_s_warnings_reach_python_s_logging(sample, tmp_path, caplog):
    """The library's warnings went nowhere from Python: an empty file
    among the inputs (which counts no rows) must be named, as the command
    line names it, on the logger "event_counter"; at INFO, its choices."""
    import logging

    parts = tmp_path / "parts"
    parts.mkdir()
    shutil.copy(sample / "location.csv", parts / "a.csv")
    (parts / "b.csv").write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="event_counter"):
        result = event_counter.count(
            regions=sample / "region.csv", locations=parts, backend="cpu", threads=2
        )
    assert result.summary["rows"]["counted"] == 2000
    records = [r for r in caplog.records if r.name == "event_counter"]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert warnings == [f"{parts / 'b.csv'}: empty, no header and no rows: counts nothing"]
    infos = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert any("scanning thread" in m for m in infos), infos
    # The backend and why, as -v says them (only the command line said it).
    assert 'backend cpu (backend="cpu")' in infos, infos


def test_generated_data_through_pyarrow_polars_pandas_and_duckdb(tmp_path):
    data = tmp_path / "gen"
    written = event_counter.generate(data, size="8M", seed=3, days=90)
    assert written["bytes"] <= 8 << 20 and written["rows"] > 100_000
    cli("count", str(data), "-o", str(tmp_path / "cli.csv"), "--backend", "cpu")
    want = rows_of(tmp_path / "cli.csv")
    result = event_counter.count(data, threads=2, output=tmp_path / "py.csv")
    assert (tmp_path / "py.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert rows_of_table(result.to_arrow()) == want
    polars = result.to_polars()
    assert list(polars.columns) == ["region_name", "date", "count"]
    assert list(polars.iter_rows()) == want
    pandas = result.to_pandas()
    assert int(pandas["count"].sum()) == result.summary["rows"]["counted"]
    duckdb = pytest.importorskip("duckdb")
    total = duckdb.sql("select sum(count) from result").fetchall()[0][0]
    assert total == result.summary["rows"]["counted"]


def test_event_times_delimiters_and_columns_as_the_command_line_reads_them(tmp_path):
    data = tmp_path / "stamped"
    event_counter.generate(data, size="1M", seed=2, timestamps="Pacific/Auckland")
    first = (data / "location.csv").read_text().splitlines()[1]
    assert first.endswith(('+13:00"', '+12:00"')), first
    cli("count", str(data), "-o", str(tmp_path / "cli.csv"), "--backend", "cpu", "--time-zone", "Pacific/Auckland")
    result = event_counter.count(data, backend="cpu", time_zone="Pacific/Auckland")
    assert rows_of_table(result.to_arrow()) == rows_of(tmp_path / "cli.csv")
    assert result.summary["dates"]["time_zone"] == "Pacific/Auckland"

    export = tmp_path / "export"
    export.mkdir()
    (export / "region.csv").write_text("region_id,region_name\n1,A\n")
    (export / "location.csv").write_text("Zone;Timestamp;Lat;Lon\n1;1571835600;1;2\n1;1571835599;1;2\n")
    for columns in ({"region_id": "Zone", "date": "Timestamp"}, {"region_id": 1, "date": 2}, "region_id=Zone,date=2"):
        result = event_counter.count(export, backend="cpu", delimiter=";", columns=columns, epoch="s", time_zone="+13:00")
        assert rows_of_table(result.to_arrow()) == [("A", datetime.date(2019, 10, 24), 2)], columns
    with pytest.raises(event_counter.UsageError, match="unknown time zone"):
        event_counter.count(export, time_zone="Mars/Olympus")
    with pytest.raises(event_counter.UsageError, match="epoch"):
        event_counter.count(export, epoch="ns")


def test_no_header_counts_a_file_without_its_header_row(sample, tmp_path):
    with_header = event_counter.count(sample, backend="cpu")
    rows = (sample / "location.csv").read_text().splitlines(keepends=True)[1:]
    bare = tmp_path / "bare.csv"
    bare.write_text("".join(rows))
    result = event_counter.count(
        regions=sample / "region.csv",
        locations=[bare],
        backend="cpu",
        no_header=True,
        columns={"region_id": 3, "date": 4},
    )
    assert rows_of_table(result.to_arrow()) == rows_of_table(with_header.to_arrow())
    assert result.summary["no_header"] == {"locations": True, "regions": False}
    with pytest.raises(event_counter.UsageError, match="1-based positions"):
        event_counter.count(regions=sample / "region.csv", locations=[bare], no_header=True)


def test_region_columns_and_a_region_file_without_a_header(sample, tmp_path):
    """count() lacked --region-columns and --regions-no-header."""
    want = rows_of_table(event_counter.count(sample, backend="cpu").to_arrow())
    lines = (sample / "region.csv").read_text().splitlines(keepends=True)
    codes = tmp_path / "codes.csv"
    codes.write_text("Name,Code\n" + "".join(",".join(reversed(l.strip().split(","))) + "\n" for l in lines[1:]))
    bare = tmp_path / "bare.csv"
    bare.write_text("".join(lines[1:]))
    for regions, options in (
        (codes, {"region_columns": {"region_id": "code", "region_name": 1}}),
        (codes, {"region_columns": "region_id=2,region_name=Name"}),
        (bare, {"regions_no_header": True, "region_columns": {"region_id": 1, "region_name": 2}}),
    ):
        result = event_counter.count(
            regions=regions, locations=sample / "location.csv", backend="cpu", **options
        )
        assert rows_of_table(result.to_arrow()) == want, options
    assert event_counter.count(
        regions=bare, locations=sample / "location.csv", backend="cpu",
        regions_no_header=True, region_columns="region_id=1,region_name=2",
    ).summary["no_header"] == {"locations": False, "regions": True}
    with pytest.raises(event_counter.UsageError, match="1-based positions"):
        event_counter.count(regions=bare, locations=sample / "location.csv", regions_no_header=True)
    with pytest.raises(event_counter.DataError, match="region_id"):
        event_counter.count(regions=codes, locations=sample / "location.csv", backend="cpu")


def test_a_data_dir_s_compressed_location_file_is_found(sample, tmp_path, caplog):
    """data_dir found location.csv alone, where the command line finds
    location.csv.gz or .zst too; a folder holding two says which counts."""
    import gzip
    import logging

    want = rows_of_table(event_counter.count(sample, backend="cpu").to_arrow())
    data = tmp_path / "gz"
    data.mkdir()
    shutil.copy(sample / "region.csv", data / "region.csv")
    (data / "location.csv.gz").write_bytes(gzip.compress((sample / "location.csv").read_bytes()))
    assert rows_of_table(event_counter.count(data, backend="cpu").to_arrow()) == want
    shutil.copy(sample / "location.csv", data / "location.csv")
    with caplog.at_level(logging.WARNING, logger="event_counter"):
        assert rows_of_table(event_counter.count(data, backend="cpu").to_arrow()) == want
    assert any("also holds" in r.getMessage() and "location.csv.gz" in r.getMessage() for r in caplog.records)
    (data / "location.csv").unlink()
    (data / "location.csv.gz").unlink()
    with pytest.raises(event_counter.MissingInputError, match="give regions= and locations="):
        event_counter.count(data)


def test_generate_refuses_to_replace_data_without_force(tmp_path):
    event_counter.generate(tmp_path, size="64K")
    with pytest.raises(event_counter.UsageError, match="force=True"):
        event_counter.generate(tmp_path, size="64K")
    event_counter.generate(tmp_path, size="64K", seed=1, force=True)


def test_sizes_are_read_as_the_command_line_reads_them(tmp_path):
    # One reader of sizes, the library's: bytes, or K/M/G/T in any case.
    assert event_counter.generate(tmp_path / "a", size="64k")["bytes"] <= 64 << 10
    assert event_counter.generate(tmp_path / "b", size=65536)["bytes"] <= 65536
    for bad in ["1.5G", "G", "99999999999T"]:
        with pytest.raises(event_counter.UsageError, match="size|too large"):
            event_counter.generate(tmp_path / "c", size=bad)


def test_shards_merge_to_one_count(sample, tmp_path):
    whole = event_counter.count(sample, backend="cpu")
    parts = []
    for i in range(3):
        part = tmp_path / f"part-{i}.csv"
        event_counter.count(sample, backend="cpu", split=f"{i}/3", output=part)
        parts.append(part)
    merged = event_counter.merge(parts, tmp_path / "merged.csv", delete=True)
    assert merged["deleted"] == 3 and not parts[0].exists()
    assert rows_of(tmp_path / "merged.csv") == rows_of_table(whole.to_arrow())


def test_a_state_counts_only_what_is_new(sample, tmp_path):
    log = tmp_path / "log.csv"
    lines = (sample / "location.csv").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[: len(lines) // 2]))
    state = tmp_path / "count.state"
    stats = tmp_path / "stats.json"
    regions = sample / "region.csv"
    event_counter.count(regions=regions, locations=log, backend="cpu", state=state)
    with open(log, "ab") as f:
        f.write(b"".join(lines[len(lines) // 2 :]))
    again = event_counter.count(
        regions=regions, locations=log, backend="cpu", state=state, stats_json=stats
    )
    whole = event_counter.count(regions=regions, locations=log, backend="cpu")
    assert rows_of_table(again.to_arrow()) == rows_of_table(whole.to_arrow())
    import json

    figures = json.loads(stats.read_text())["state"]
    assert figures["bytes_new"] == len(b"".join(lines[len(lines) // 2 :]))
    assert figures["bytes_skipped"] == len(b"".join(lines[: len(lines) // 2]))


def test_every_exception_class_on_its_cause(sample, tmp_path):
    base = event_counter.EventCounterError
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "region.csv").write_text("region_id,region_name\n1,A\n")
    (bad / "location.csv").write_text("lat,long,region_id,date\n0,0,1,2019-01-01\n0,0,x,2019-01-02\n")
    with pytest.raises(event_counter.DataError) as caught:
        event_counter.count(bad, strict=True, backend="cpu")
    assert isinstance(caught.value, base)
    assert (caught.value.exit_code, caught.value.line) == (65, 3)
    assert caught.value.file.endswith("location.csv")
    with pytest.raises(event_counter.DataError, match="more than the 0 rows allowed"):
        event_counter.count(bad, max_bad=0, backend="cpu")
    with pytest.raises(event_counter.MissingInputError) as caught:
        event_counter.count(regions=sample / "region.csv", locations=tmp_path / "nosuch.csv")
    assert caught.value.exit_code == 66
    with pytest.raises(event_counter.MissingInputError):
        event_counter.count(tmp_path / "no-such-folder")
    # A file for data_dir is a usage error, as DATA_DIR is on the command line.
    with pytest.raises(event_counter.UsageError, match="is a file, but data_dir is a folder"):
        event_counter.count(sample / "location.csv")
    with pytest.raises(event_counter.UsageError):
        event_counter.count(sample, backend="quantum")
    with pytest.raises(event_counter.UsageError, match="an input of this count"):
        event_counter.count(sample, output=sample / "location.csv")
    with pytest.raises(event_counter.IOFailureError) as caught:
        event_counter.count(sample, output=tmp_path / "no" / "folder" / "r.csv", backend="cpu")
    assert caught.value.exit_code == 74


def test_threads_and_backends_are_checked_by_the_library(sample):
    """Issue 29: Python clamped threads silently; the library now refuses
    what the command line refuses, with its words, and names the backends."""
    with pytest.raises(event_counter.UsageError, match=r"threads: 0 is not in 1\.\.=1024") as e:
        event_counter.count(sample, backend="cpu", threads=0)
    assert e.value.exit_code == 2
    with pytest.raises(event_counter.UsageError, match='use "auto", "cpu", "gpu" or "gpu-keys"'):
        event_counter.count(sample, backend="fast")


def test_no_gpu_is_its_own_error(sample, monkeypatch):
    # An API that has no adapter on this platform: none is found.
    monkeypatch.setenv("WGPU_BACKEND", "dx12" if sys.platform != "win32" else "metal")
    with pytest.raises(event_counter.NoGpuError) as caught:
        event_counter.count(sample, backend="gpu")
    assert caught.value.exit_code == 69
    # auto falls back to the CPU.
    assert event_counter.count(sample).summary["backend"] == "cpu"


def test_the_gil_is_released_while_counting(tmp_path):
    data = tmp_path / "gen"
    event_counter.generate(data, size="48M", seed=5)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    started = time.perf_counter()
    event_counter.count(data, backend="cpu", threads=1)
    ended = time.perf_counter()
    stop.set()
    thread.join()
    during = [t for t in ticks if started < t < ended]
    # With the GIL held for the whole count, the other thread could not
    # run at all while it lasted.
    assert len(during) >= 5, f"{len(during)} ticks in {ended - started:.3f} s"


def test_keyboard_interrupt_stops_a_count_and_leaves_no_partial_output(sample, tmp_path):
    """A count waiting on a named pipe is interrupted (as by Ctrl-C): it
    raises KeyboardInterrupt, writes nothing, leaves no temporary file, and
    the next count runs."""
    import _thread

    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    (tmp_path / "out.csv").write_text("old")

    def feed_then_interrupt():
        with open(pipe, "w") as f:
            f.write("lat,long,region_id,date\n")
            f.flush()
            time.sleep(0.5)
            _thread.interrupt_main()
            time.sleep(0.3)

    feeder = threading.Thread(target=feed_then_interrupt)
    feeder.start()
    with pytest.raises(KeyboardInterrupt):
        event_counter.count(
            regions=sample / "region.csv",
            locations=pipe,
            output=tmp_path / "out.csv",
            rejects=tmp_path / "rejects.csv",
            backend="cpu",
        )
    feeder.join()
    assert (tmp_path / "out.csv").read_text() == "old"
    assert not (tmp_path / "rejects.csv").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]
    assert event_counter.count(sample, backend="cpu").summary["rows"]["counted"] == 2000


def test_ctrl_c_stops_one_count_and_another_thread_s_count_goes_on(sample, tmp_path):
    """Each count has its own cancel token: Ctrl-C stops the count of the
    main thread (waiting on a named pipe), and a count that another thread
    starts while the first is still unwinding counts the sample exactly as
    the command line does. (With one token for the process, the second was
    interrupted too.)"""
    import _thread

    import pyarrow as pa

    cli("count", str(sample), "-o", str(tmp_path / "cli.csv"), "--backend", "cpu")
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    other = {}

    def count_the_sample():
        try:
            other["table"] = pa.table(event_counter.count(sample, backend="cpu"))
        except BaseException as e:  # noqa: BLE001 - judged below
            other["error"] = e

    def feed_interrupt_then_count():
        with open(pipe, "w") as f:
            f.write("lat,long,region_id,date\n")
            f.flush()
            time.sleep(0.5)
            _thread.interrupt_main()
            # The main thread's count is asked to stop within 50 ms, and
            # stays blocked on the pipe until it is closed: the other
            # count runs meanwhile.
            time.sleep(0.3)
            worker = threading.Thread(target=count_the_sample)
            worker.start()
            worker.join()

    feeder = threading.Thread(target=feed_interrupt_then_count)
    feeder.start()
    with pytest.raises(KeyboardInterrupt):
        event_counter.count(regions=sample / "region.csv", locations=pipe, backend="cpu")
    feeder.join()
    assert "error" not in other, other.get("error")
    assert rows_of_table(other["table"]) == rows_of(tmp_path / "cli.csv")


def test_a_cancel_token_stops_only_its_count(sample, tmp_path):
    """A token cancelled from another thread stops the count it was given
    to, which leaves nothing behind; a count without it, run meanwhile,
    is whole."""
    import pyarrow as pa

    cli("count", str(sample), "-o", str(tmp_path / "cli.csv"), "--backend", "cpu")
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    token = event_counter.CancelToken()
    stopped = {}

    def count_the_pipe():
        try:
            event_counter.count(
                regions=sample / "region.csv",
                locations=pipe,
                output=tmp_path / "out.csv",
                backend="cpu",
                cancel=token,
            )
        except BaseException as e:  # noqa: BLE001 - judged below
            stopped["error"] = e

    counting = threading.Thread(target=count_the_pipe)
    counting.start()
    with open(pipe, "w") as f:
        f.write("lat,long,region_id,date\n")
        f.flush()
        token.cancel()
        assert token.cancelled
        table = pa.table(event_counter.count(sample, backend="cpu"))
    counting.join()
    assert isinstance(stopped.get("error"), KeyboardInterrupt), stopped
    assert not (tmp_path / "out.csv").exists()
    assert rows_of_table(table) == rows_of(tmp_path / "cli.csv")


def test_a_cancel_answers_at_once_while_the_input_is_idle(sample, tmp_path):
    """A count blocked on a pipe whose writer sends nothing did not answer
    a cancel (or Ctrl-C) until the writer closed it; now the call raises
    while the writer still holds the pipe, and the count, once its read
    returns, writes nothing."""
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    release, closed = threading.Event(), threading.Event()

    def hold_the_pipe_open():
        with open(pipe, "w") as f:
            f.write("lat,long,region_id,date\n")
            f.flush()
            release.wait(60)
        closed.set()

    writer = threading.Thread(target=hold_the_pipe_open)
    writer.start()
    token = event_counter.CancelToken()
    threading.Timer(0.5, token.cancel).start()
    with pytest.raises(KeyboardInterrupt):
        event_counter.count(
            regions=sample / "region.csv", locations=pipe, output=tmp_path / "out.csv",
            backend="cpu", cancel=token,
        )
    assert not closed.is_set(), "the call waited for the writer"
    release.set()
    writer.join()
    # The count's thread sees the cancel once its read returns.
    deadline = time.time() + 10
    while [p for p in os.listdir(tmp_path) if p.startswith(".")] and time.time() < deadline:
        time.sleep(0.05)
    assert not (tmp_path / "out.csv").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_a_progress_callback_that_raises_stops_the_count(sample, tmp_path, monkeypatch):
    """The callback's error was raised, but the count went on and wrote its
    result afterwards; now it is stopped and writes nothing. An error of
    the last call, after the result is in place, is only shown."""
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    rows = (sample / "location.csv").read_text()

    def feed_slowly():
        with open(pipe, "w") as f:
            f.write(rows.splitlines(keepends=True)[0])
            f.flush()
            time.sleep(1.0)
            f.write("".join(rows.splitlines(keepends=True)[1:]))

    def fail(done, total, counted):
        raise ValueError("callback failed")

    feeder = threading.Thread(target=feed_slowly)
    feeder.start()
    with pytest.raises(ValueError, match="callback failed"):
        event_counter.count(
            regions=sample / "region.csv", locations=pipe, output=tmp_path / "out.csv",
            backend="cpu", progress=fail,
        )
    feeder.join()
    time.sleep(0.5)
    assert not (tmp_path / "out.csv").exists()
    calls = []

    def fail_at_the_end(done, total, counted):
        calls.append(counted)
        if counted == 2000:
            raise ValueError("too late")

    shown = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: shown.append(u.exc_value))
    result = event_counter.count(sample, backend="cpu", output=tmp_path / "late.csv", progress=fail_at_the_end)
    assert result.summary["rows"]["counted"] == 2000 and calls[-1] == 2000
    assert (tmp_path / "late.csv").exists()
    assert [str(e) for e in shown] == ["too late"]


def test_argument_errors_have_an_exit_code_and_no_place(sample):
    """Errors raised before the library is reached had no exit_code,
    file or line, which every other error of the module has."""
    for kwargs in (
        {"max_bad": -1},
        {"time_zone": "Mars/Base"},
        {"split": "2/2"},
        {"delimiter": ";;"},
        {"columns": "region_idx=1"},
        {"backend": "tpu"},
    ):
        with pytest.raises(event_counter.UsageError) as caught:
            event_counter.count(sample, **kwargs)
        assert (caught.value.exit_code, caught.value.file, caught.value.line) == (2, None, None), kwargs
    with pytest.raises(event_counter.UsageError) as caught:
        event_counter.count()
    assert caught.value.exit_code == 2


def test_a_result_prints_its_first_rows_whatever_their_year(tmp_path):
    """print(result) raised OverflowError for a date in year 0000, which
    Python's dates cannot hold (the Arrow data is right)."""
    (tmp_path / "region.csv").write_text("region_id,region_name\n1,A\n")
    (tmp_path / "location.csv").write_text("region_id,date\n1,0000-01-01\n1,2019-01-01\n")
    text = repr(event_counter.count(tmp_path, backend="cpu"))
    assert "0000-01-01" in text and "2019-01-01" in text, text


def test_merge_takes_one_part_as_a_path_and_refuses_none(sample, tmp_path):
    """merge("part.csv", ...) went through the path's characters, and
    merge([], ...) wrote a header-only file where the command line refuses."""
    event_counter.count(sample, backend="cpu", output=tmp_path / "whole.csv")
    event_counter.merge(str(tmp_path / "whole.csv"), tmp_path / "merged.csv")
    assert (tmp_path / "merged.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    with pytest.raises(event_counter.UsageError, match="at least one part"):
        event_counter.merge([], tmp_path / "none.csv")
    assert not (tmp_path / "none.csv").exists()


def test_progress_is_reported(sample):
    seen = []
    event_counter.count(sample, backend="cpu", progress=lambda done, total, rows: seen.append((done, total, rows)))
    assert seen and seen[-1][2] == 2000 and seen[-1][0] == seen[-1][1] > 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def moto():
    program = os.environ.get("EVENT_COUNTER_MOTO") or shutil.which("moto_server")
    if not program:
        if os.environ.get("EVENT_COUNTER_REQUIRE_S3") == "1":
            pytest.fail("EVENT_COUNTER_REQUIRE_S3=1 but no moto_server (EVENT_COUNTER_MOTO)")
        pytest.skip("no moto_server: set EVENT_COUNTER_MOTO")
    port = free_port()
    server = subprocess.Popen([program, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, "moto did not start"
            time.sleep(0.1)
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield port
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.kill()
        server.wait()


def put(port, key, body):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("PUT", key, body=body)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, (key, response.status)


def test_s3_inputs_and_outputs_on_moto(moto, sample, tmp_path):
    put(moto, "/py-test", b"")
    put(moto, "/py-test/in/region.csv", (sample / "region.csv").read_bytes())
    put(moto, "/py-test/in/loc/a.csv", (sample / "location.csv").read_bytes())
    local = event_counter.count(sample, backend="cpu")
    remote = event_counter.count(
        regions="s3://py-test/in/region.csv",
        locations="s3://py-test/in/loc/",
        output="s3://py-test/out/result.csv",
        backend="cpu",
    )
    assert rows_of_table(remote.to_arrow()) == rows_of_table(local.to_arrow())
    with pytest.raises(event_counter.MissingInputError):
        event_counter.count(regions="s3://py-test/in/region.csv", locations="s3://py-test/nothing.csv")
