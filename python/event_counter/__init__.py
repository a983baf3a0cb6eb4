"""Counts events per region per day in CSV files of up to a terabyte.

The same counts as the ``event-counter`` command, from the same Rust
library, in one call: ``count()`` returns a :class:`Result` that pyarrow,
Polars, pandas and DuckDB read without a copy (it speaks the Arrow
PyCapsule interface).

>>> import event_counter
>>> result = event_counter.count("sample")              # doctest: +SKIP
>>> result.to_polars()                                   # doctest: +SKIP
>>> result.summary["rows"]["counted"]                    # doctest: +SKIP
2000

Errors are :class:`EventCounterError` and its subclasses, one per exit code
of the command line; Ctrl-C stops a count with ``KeyboardInterrupt`` and
leaves no partial output. Warnings (an empty input, files a folder leaves
out) are records of the :mod:`logging` logger ``"event_counter"``; at INFO,
the choices a count made (backend, threads, chunk size).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Mapping, Optional, Sequence, Union

# Mesa's Vulkan drivers probe for a Wayland display when wgpu starts, and
# libwayland prints "XDG_RUNTIME_DIR is invalid or not set" on stderr where
# it is unset; nothing here draws a window. The environment is the
# process's, so the package sets it once, on import, and the library never.
if "XDG_RUNTIME_DIR" not in os.environ:
    import tempfile

    os.environ["XDG_RUNTIME_DIR"] = tempfile.gettempdir()

from . import _event_counter as _native
from ._event_counter import (
    CancelToken,
    DataError,
    EventCounterError,
    InternalError,
    IOFailureError,
    MissingInputError,
    NoGpuError,
    UsageError,
)

__all__ = [
    "count",
    "generate",
    "merge",
    "adapters",
    "Result",
    "CancelToken",
    "EventCounterError",
    "UsageError",
    "DataError",
    "MissingInputError",
    "NoGpuError",
    "InternalError",
    "IOFailureError",
]

PathLike = Union[str, "os.PathLike[str]"]


class Result:
    """The counts of one run: one row per (region name, day).

    Columns ``region_name`` (utf8), ``date`` (date32) and ``count`` (int64),
    sorted by date, then region name, as ``result.csv``. Any Arrow consumer
    takes it without a copy: ``pyarrow.table(result)``,
    ``polars.DataFrame(result)``, ``duckdb.sql("from result")``.

    ``summary`` is a dict with the fields of ``--stats-json`` (see the
    README): ``summary["rows"]["counted"]``, ``summary["groups"]``, ...
    """

    def __init__(self, table: Any, summary: dict) -> None:
        self._table = table
        self.summary = summary

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule stream interface."""
        return self._table.__arrow_c_stream__(requested_schema)

    def __len__(self) -> int:
        return int(self.summary["groups"])

    def to_arrow(self) -> "Any":
        """The result as a ``pyarrow.Table`` (needs pyarrow)."""
        import pyarrow

        return pyarrow.table(self)

    def to_pandas(self) -> "Any":
        """The result as a ``pandas.DataFrame`` (needs pandas and pyarrow)."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> "Any":
        """The result as a ``polars.DataFrame`` (needs polars)."""
        import polars

        return polars.DataFrame(self)

    def __repr__(self) -> str:
        rows = self.summary["rows"]
        head = f"<event_counter.Result: {self.summary['groups']} groups from {rows['counted']} rows counted"
        head += f" ({rows['unmatched']} unmatched, {rows['malformed']} malformed)>"
        try:
            table = self.to_arrow()
        except ImportError:
            return head
        lines = [head]
        # The first rows alone: converting whole columns took seconds and
        # gigabytes for millions of groups.
        first = table.slice(0, 5)
        regions, counts = first.column(0).to_pylist(), first.column(2).to_pylist()
        try:
            dates = first.column(1).to_pylist()
        except (OverflowError, ValueError):
            # Python's dates start at year 1; the result's may be 0000.
            dates = first.column(1).cast("string").to_pylist()
        for region, date, n in zip(regions, dates, counts):
            lines.append(f"  {region!r:32} {date} {n}")
        if table.num_rows > 5:
            lines.append(f"  ... {table.num_rows - 5} more")
        return "\n".join(lines)


def count(
    data_dir: Optional[PathLike] = None,
    *,
    regions: Optional[PathLike] = None,
    locations: Union[PathLike, Sequence[PathLike], None] = None,
    backend: str = "auto",
    threads: Optional[int] = None,
    split: Optional[str] = None,
    strict: bool = False,
    rejects: Optional[PathLike] = None,
    output: Optional[PathLike] = None,
    stats_json: Optional[PathLike] = None,
    max_bad: Union[int, str, None] = None,
    max_unmatched: Union[int, str, None] = None,
    state: Optional[PathLike] = None,
    recount: bool = False,
    forget_missing: bool = False,
    progress: Union[bool, Callable[[int, int, int], None]] = False,
    time_zone: Optional[str] = None,
    epoch: Optional[str] = None,
    delimiter: Optional[str] = None,
    columns: Union[Mapping[str, Union[str, int]], str, None] = None,
    no_header: bool = False,
    region_columns: Union[Mapping[str, Union[str, int]], str, None] = None,
    regions_no_header: bool = False,
    cancel: Optional[CancelToken] = None,
) -> Result:
    """Counts events per region and day, as ``event-counter count`` does.

    Args:
        data_dir: a folder with ``region.csv`` and ``location.csv`` (or, if
            it has none, ``location.csv.gz`` or ``location.csv.zst``).
        regions: ``region.csv`` to use instead (a path or ``s3://`` URL).
        locations: location files instead: paths, folders (their ``*.csv``,
            ``*.csv.gz``, ``*.csv.zst``), globs, ``s3://bucket/key`` or
            ``s3://bucket/prefix/``; one or a list.
        backend: ``"auto"`` (the GPU on a hardware adapter for input large
            enough to pay for its start-up, else the CPU),
            ``"cpu"``, ``"gpu"`` or ``"gpu-keys"``.
        threads: scanning threads, 1 to 1024 (default: all cores).
        split: ``"I/N"``, count only shard I of N (see ``merge``).
        strict: stop at the first malformed row (:class:`DataError`).
        rejects: write every row not counted there, with line and reason.
        output: also write ``result.csv`` there (a path or ``s3://`` URL),
            whole or not at all.
        stats_json: write the summary there as JSON.
        max_bad: fail when more rows are malformed: a number, or a share
            such as ``"0.1%"``.
        max_unmatched: the same for rows whose region_id is not in
            region.csv.
        state: count only the bytes added since the run that wrote this
            state file, and write the new state with the result (as
            ``count --state``; the README's "Counting a growing log").
        recount: with ``state``, count every input from scratch.
        forget_missing: with ``state``, count from scratch without the
            inputs no longer listed (else their counts stay).
        progress: ``True`` shows a progress bar (tqdm where installed, a
            line on stderr otherwise); or a function called with (bytes
            done, bytes in all, rows) as the count goes: an exception it
            raises stops the count, which then writes nothing.
        time_zone: the zone whose calendar decides the day of an event time
            with an offset or an epoch number: an IANA name such as
            ``"Pacific/Auckland"``, ``"UTC"`` (the default) or an offset
            such as ``"+13:00"``. Dates and local times count on their own
            date.
        epoch: ``"s"`` or ``"ms"``: a bare number in the date column is
            epoch seconds or milliseconds (by default it is malformed).
        delimiter: the byte between the location files' fields (``","``,
            ``";"``, ``"\t"``, ``"|"``); by default sniffed from each file's
            header, as region.csv's always is.
        columns: the columns holding the region id and the date when they
            are not named ``region_id`` and ``date``: a dict such as
            ``{"region_id": "Zone", "date": "Timestamp"}`` (a name, or a
            1-based position), or the command line's
            ``"region_id=Zone,date=Timestamp"``.
        no_header: the location files have no header row: their first
            line is a row (line 1), and ``columns`` must give the region id
            and the date as 1-based positions, as ``--no-header`` does.
        region_columns: the columns of region.csv holding the region id
            and the name when they are not named ``region_id`` and
            ``region_name``: a dict such as ``{"region_id": "Code",
            "region_name": 1}``, or ``"region_id=Code,region_name=1"``.
        regions_no_header: region.csv has no header row, as
            ``--regions-no-header`` says; ``region_columns`` must give
            positions.
        cancel: a :class:`CancelToken`, to stop this count from another
            thread with ``cancel.cancel()``; other counts go on. Without
            one the count has its own, which Ctrl-C cancels. Either
            answers within about 2 s, even while an input sends nothing.

    Returns:
        a :class:`Result`.

    Raises:
        DataError: bad data (a bad header, a malformed row under strict,
            no row counted, more bad rows than allowed); ``file`` and
            ``line`` say where.
        MissingInputError: an input is missing.
        NoGpuError: ``backend="gpu"`` and no GPU.
        IOFailureError: reading or writing failed.
        UsageError: arguments that make no sense.
        KeyboardInterrupt: Ctrl-C, or ``cancel.cancel()``; no output was
            written.

    Example:
        >>> r = event_counter.count(regions="r.csv", locations=["2019/", "2020/*.csv.gz"])  # doctest: +SKIP
        >>> r.to_pandas().groupby("region_name")["count"].sum()                            # doctest: +SKIP
    """
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        _native.check_data_dir(data_dir)
    if regions is None:
        if data_dir is None:
            raise UsageError("give data_dir, or both regions and locations")
        regions = os.path.join(data_dir, "region.csv")
    if locations is None:
        if data_dir is None:
            raise UsageError("give data_dir, or both regions and locations")
        locations = [_native.data_dir_locations(data_dir)]
    elif isinstance(locations, (str, os.PathLike)):
        locations = [locations]
    threshold = lambda t: None if t is None else str(t)
    table, summary = _native.count(
        os.fspath(regions),
        [os.fspath(p) for p in locations],
        None if output is None else os.fspath(output),
        backend,
        threads,
        split,
        strict,
        None if rejects is None else os.fspath(rejects),
        None if stats_json is None else os.fspath(stats_json),
        threshold(max_bad),
        threshold(max_unmatched),
        None if state is None else os.fspath(state),
        recount,
        forget_missing,
        _progress(progress),
        time_zone,
        epoch,
        delimiter,
        _columns(columns),
        no_header,
        _columns(region_columns),
        regions_no_header,
        cancel,
    )
    return Result(table, json.loads(summary))


def _columns(columns: Union[Mapping[str, Union[str, int]], str, None]) -> Optional[str]:
    """``columns`` (or ``region_columns``) as the command line writes them:
    ``region_id=NAME,date=NAME``."""
    if columns is None or isinstance(columns, str):
        return columns
    return ",".join(f"{key}={value}" for key, value in columns.items())


def _progress(progress: Union[bool, Callable[[int, int, int], None]]) -> Optional[Callable[[int, int, int], None]]:
    """The callback for ``progress``: a tqdm bar, a line on stderr, or the
    caller's function."""
    if callable(progress):
        return progress
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm  # a bar in a terminal and in a notebook
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(unit="B", unit_scale=True, desc="counted")

        def update(done: int, total: int, rows: int) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix(rows=rows, refresh=False)

        return update

    def line(done: int, total: int, rows: int) -> None:
        share = f" of {total / 1e9:.2f} GB" if total else ""
        sys.stderr.write(f"\revent-counter: {done / 1e9:.2f} GB{share}, {rows} rows")
        sys.stderr.flush()

    return line


def generate(
    data_dir: PathLike,
    *,
    size: Union[int, str] = "1G",
    seed: int = 0,
    start: str = "2019-01-01",
    days: int = 365,
    regions: Optional[PathLike] = None,
    threads: Optional[int] = None,
    force: bool = False,
    timestamps: Optional[str] = None,
) -> dict:
    """Writes a synthetic ``location.csv`` into ``data_dir``, as
    ``event-counter generate`` does (and ``region.csv`` from the shipped
    New Zealand districts if there is none). An existing location.csv is
    replaced only with ``force=True``. With ``timestamps="Pacific/Auckland"``
    (a zone), the date column holds event times with that zone's offsets
    (``generate --timestamps --time-zone``). Returns what was written:
    ``path``, ``rows``, ``bytes``, ``seconds``.

    >>> event_counter.generate("data", size="64M", seed=7)   # doctest: +SKIP
    """
    return _native.generate(
        os.fspath(data_dir),
        size,
        seed,
        start,
        days,
        None if regions is None else os.fspath(regions),
        threads,
        force,
        timestamps,
    )


def merge(parts: Union[PathLike, Sequence[PathLike]], output: PathLike, *, delete: bool = False) -> dict:
    """Adds up the result files of shards (``count(split="I/N")``) into
    ``output``, or joins their rejects files, as ``event-counter merge``
    does; ``delete=True`` removes the parts afterwards. Returns ``parts``,
    ``rows_in``, ``rows_out``, ``deleted``.

    >>> event_counter.merge(["p0.csv", "p1.csv"], "result.csv")   # doctest: +SKIP
    """
    if isinstance(parts, (str, os.PathLike)):
        parts = [parts]  # one part, not its characters
    if not parts:
        raise UsageError("merge needs at least one part")
    return _native.merge([os.fspath(p) for p in parts], os.fspath(output), delete)


def adapters() -> list:
    """Every GPU adapter wgpu finds: ``name``, ``backend``, ``device_type``,
    ``driver``, ``software``, and ``auto`` (the one ``backend="auto"``
    takes, if any)."""
    return _native.adapters()
