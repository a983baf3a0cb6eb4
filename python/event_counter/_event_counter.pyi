"""Type stubs of the native module; use the functions of ``event_counter``."""

from typing import Any, Callable, Optional

class EventCounterError(Exception):
    exit_code: int
    file: Optional[str]
    line: Optional[int]

class UsageError(EventCounterError): ...
class DataError(EventCounterError): ...
class MissingInputError(EventCounterError): ...
class NoGpuError(EventCounterError): ...
class InternalError(EventCounterError): ...
class IOFailureError(EventCounterError): ...

class CancelToken:
    """Stops the count it is given to (``count(..., cancel=token)``) from
    another thread; that count raises ``KeyboardInterrupt``."""

    def __init__(self) -> None: ...
    def cancel(self, signal: int = 2) -> None: ...
    @property
    def cancelled(self) -> bool: ...

def check_data_dir(dir: str) -> None: ...
def data_dir_locations(dir: str) -> str: ...
def count(
    regions: str,
    locations: list[str],
    output: Optional[str],
    backend: str,
    threads: Optional[int],
    split: Optional[str],
    strict: bool,
    rejects: Optional[str],
    stats_json: Optional[str],
    max_bad: Optional[str],
    max_unmatched: Optional[str],
    state: Optional[str],
    recount: bool,
    forget_missing: bool,
    progress: Optional[Callable[[int, int, int], None]],
    time_zone: Optional[str],
    epoch: Optional[str],
    delimiter: Optional[str],
    columns: Optional[str],
    no_header: bool,
    region_columns: Optional[str],
    regions_no_header: bool,
    cancel: Optional[CancelToken],
) -> tuple[Any, str]: ...
def generate(
    dir: str,
    size: int,
    seed: int,
    start: str,
    days: int,
    regions: Optional[str],
    threads: Optional[int],
    force: bool,
    timestamps: Optional[str],
) -> dict[str, Any]: ...
def merge(parts: list[str], output: str, delete: bool) -> dict[str, Any]: ...
def adapters() -> list[dict[str, Any]]: ...
