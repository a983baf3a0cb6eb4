//! `event_counter._event_counter`: the library's count, generate, merge and
//! adapters for Python, wrapped by `event_counter/__init__.py`.
//!
//! A count runs on a thread of its own with the GIL released; the calling
//! thread wakes every 50 ms to look for Ctrl-C (Python only sees a signal
//! while it runs Python code) and to report progress. On `KeyboardInterrupt`
//! the run's own token is cancelled ([`event_counter::cancel`]; each call
//! has its own, so a count in another thread goes on) and the run unwinds as
//! a failed run does, so no partial output is left. The counts come back as
//! an Arrow table built from the library's columns (no file is written or
//! read unless `output` asks for result.csv), with the summary as the JSON
//! of `--stats-json`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use arrow_array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyTable;

use event_counter::options::{
    self, Destination, Epoch, EventTimes, GenerateOptions, InputSpec, LocationFormat, RegionFormat,
    Split, StateOptions, Threshold, Thresholds, Zone, ROWS_PER_BLOCK,
};
use event_counter::{
    Backend, CancelToken, CountOptions, Counts, Engine, Error, ErrorKind, Progress, Reason,
};

create_exception!(
    _event_counter,
    EventCounterError,
    PyException,
    "Every error of event_counter: `exit_code` is the command line's exit code for it; `file` and `line` say where, when the error is about a place in a file."
);
create_exception!(
    _event_counter,
    UsageError,
    EventCounterError,
    "An argument that makes no sense (exit code 2), or an output that would replace an input."
);
create_exception!(_event_counter, DataError, EventCounterError, "Data the tool cannot use (exit code 65): a bad header or region.csv, a malformed row under strict, no row counted, more bad rows than allowed.");
create_exception!(
    _event_counter,
    MissingInputError,
    EventCounterError,
    "An input that is missing or cannot be opened (exit code 66), a local file or an S3 object."
);
create_exception!(
    _event_counter,
    NoGpuError,
    EventCounterError,
    "backend=\"gpu\" with no usable GPU adapter, or a feature this build lacks (exit code 69)."
);
create_exception!(
    _event_counter,
    InternalError,
    EventCounterError,
    "A GPU failure or a bug (exit code 70)."
);
create_exception!(_event_counter, IOFailureError, EventCounterError, "Reading or writing failed (exit code 74): a full disk, a missing output folder, a file that changed while read. Nothing partial is left.");

/// The exception class and the command line's exit code (README's table)
/// for each kind of the library's errors.
fn class_of(py: Python<'_>, kind: ErrorKind) -> (Bound<'_, pyo3::types::PyType>, i32) {
    match kind {
        ErrorKind::Usage | ErrorKind::Exists => (py.get_type::<UsageError>(), 2),
        ErrorKind::Data => (py.get_type::<DataError>(), 65),
        ErrorKind::InputMissing => (py.get_type::<MissingInputError>(), 66),
        ErrorKind::Unavailable => (py.get_type::<NoGpuError>(), 69),
        ErrorKind::Io => (py.get_type::<IOFailureError>(), 74),
        ErrorKind::Interrupted { signal } => (py.get_type::<PyKeyboardInterrupt>(), 128 + signal),
        // Internal, and any kind a newer library adds.
        _ => (py.get_type::<InternalError>(), 70),
    }
}

/// The library's error as the exception of its kind, with `exit_code`,
/// `file` and `line`.
fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let (class, code) = class_of(py, error.kind());
    let (file, line) = match &error {
        Error::Data { file, line, .. } => (Some(file.clone()), Some(*line)),
        Error::ShardData { file, .. } => (Some(file.clone()), None),
        Error::Open { path, .. } | Error::Read { path, .. } | Error::Write { path, .. } => {
            (Some(path.display().to_string()), None)
        }
        _ => (None, None),
    };
    let err = PyErr::from_type(class, error.to_string());
    let value = err.value(py);
    let _ = value.setattr("exit_code", code);
    let _ = value.setattr("file", file);
    let _ = value.setattr("line", line);
    err
}

/// Progress as counters the calling thread reads while it waits.
#[derive(Default)]
struct Counters {
    total: AtomicU64,
    bytes: AtomicU64,
    rows: AtomicU64,
}

impl Progress for Counters {
    fn start(&self, total_bytes: Option<u64>) {
        self.total
            .store(total_bytes.unwrap_or(0), Ordering::Relaxed);
    }

    fn advance(&self, bytes: u64, rows: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }
}

/// A way to stop one count (or generate) from another thread:
/// `count(..., cancel=token)`, then `token.cancel()`; the call raises
/// `KeyboardInterrupt` once its outputs are dropped. Counts given other
/// tokens (or none) go on.
#[pyclass(name = "CancelToken", module = "event_counter", frozen)]
struct PyCancelToken(CancelToken);

#[pymethods]
impl PyCancelToken {
    #[new]
    fn new() -> Self {
        PyCancelToken(CancelToken::new())
    }

    /// Asks the runs given this token to stop, as `signal` would (2, SIGINT,
    /// by default).
    #[pyo3(signature = (signal = 2))]
    fn cancel(&self, signal: i32) {
        self.0.cancel(signal);
    }

    /// Whether a stop was asked for.
    #[getter]
    fn cancelled(&self) -> bool {
        self.0.signal().is_some()
    }
}

/// Runs `work` on a thread of its own with the GIL released, calling
/// `progress(bytes, total, rows)` and looking for Ctrl-C every 50 ms. On
/// Ctrl-C `cancel` (the work's own token) is cancelled, and
/// `KeyboardInterrupt` raised once the work has stopped (its outputs
/// dropped, as in any failed run).
fn run_interruptibly<T: Send + 'static>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    counters: Arc<Counters>,
    cancel: &CancelToken,
    work: impl FnOnce(&Counters) -> event_counter::Result<T> + Send + 'static,
) -> PyResult<T> {
    let (done, finished) = mpsc::channel();
    // Shared with the closures that run without the GIL, which must be Send.
    let finished = std::sync::Mutex::new(finished);
    let wait = |timeout: Option<Duration>| {
        let finished = finished.lock().unwrap_or_else(|e| e.into_inner());
        match timeout {
            Some(timeout) => finished.recv_timeout(timeout),
            None => finished
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        }
    };
    let shared = counters.clone();
    let worker = std::thread::Builder::new()
        .name("event-counter".into())
        .spawn(move || {
            let _ = done.send(work(&shared));
        })
        .map_err(|e| InternalError::new_err(format!("cannot start the count's thread: {e}")))?;
    // Called with the GIL held (`progress` is bound to it).
    let report = || -> PyResult<()> {
        if let Some(progress) = progress {
            let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
            progress.call1((
                read(&counters.bytes),
                read(&counters.total),
                read(&counters.rows),
            ))?;
        }
        Ok(())
    };
    // Stops the count for `why` (Ctrl-C, or a progress callback that
    // raised): cancelled, it writes nothing. Its thread is waited for a
    // while, not for ever: one blocked reading an idle pipe sees the
    // cancel only when its read returns, and Ctrl-C must not wait for a
    // writer that may never come.
    let stop = |worker: std::thread::JoinHandle<()>, why: PyErr| -> PyErr {
        // SIGINT's number: as the command line's exit code 130 says.
        cancel.cancel(2);
        let ended = py.detach(|| wait(Some(STOP_WAIT)));
        match ended {
            Err(mpsc::RecvTimeoutError::Timeout) => log::warn!(
                target: "event_counter",
                "the count's thread is still waiting for its input (a pipe with no writer?): \
                 it stops when that read returns, writing nothing"
            ),
            _ => {
                py.detach(|| worker.join()).ok();
            }
        }
        why
    };
    loop {
        let waited = py.detach(|| wait(Some(Duration::from_millis(50))));
        match waited {
            Ok(result) => {
                // Detached: the thread may still log on its way out.
                py.detach(|| worker.join()).ok();
                // The count is done, its outputs in place: a callback that
                // raises now cannot undo it, so its error is only shown.
                if let Err(e) = report() {
                    e.write_unraisable(py, None);
                }
                return result.map_err(|e| to_py(py, e));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                py.detach(|| worker.join()).ok();
                return Err(InternalError::new_err("the count's thread panicked"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(interrupt) = py.check_signals() {
            return Err(stop(worker, interrupt));
        }
        // Cancelled from another thread: the count may be blocked reading
        // and not see it for a long time; the caller is answered now.
        if let Some(signal) = cancel.signal() {
            return Err(stop(worker, to_py(py, Error::Interrupted(signal))));
        }
        // A callback that raises stops the count: it had gone on, and
        // written its outputs after the call had failed.
        if let Err(e) = report() {
            return Err(stop(worker, e));
        }
    }
}

/// How long a count stopped from Python (Ctrl-C, a callback's error) is
/// waited for before the call returns: a count stops between chunks, in
/// milliseconds, unless it is blocked reading.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The engine `backend` names: "auto", "cpu", "gpu" or "gpu-keys", set up
/// once per backend for the process (a GPU device is opened once) and
/// shared by every count after, in any thread; with why it was chosen, in
/// the words of the command line's -v.
fn engine(py: Python<'_>, backend: &str) -> PyResult<Chosen> {
    static ENGINES: Mutex<Vec<(Backend, Chosen)>> = Mutex::new(Vec::new());
    let backend: Backend = backend.parse().map_err(UsageError::new_err)?;
    let engines = || ENGINES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, chosen)) = engines().iter().find(|(b, _)| *b == backend) {
        return Ok(chosen.clone());
    }
    // Set up without the lock: two threads may both set one up, and the
    // first kept is the one every later count uses.
    let selection = py
        .detach(|| Engine::select(backend))
        .map_err(|e| to_py(py, e))?;
    let why = match &selection.reason {
        Reason::Asked => format!("backend={:?}", backend.name()),
        Reason::Auto(why) => format!("backend=\"auto\": {why}"),
    };
    let chosen = Chosen {
        why: format!("backend {} ({why})", selection.engine.describe()).into(),
        engine: Arc::new(selection.engine),
    };
    let mut engines = engines();
    if let Some((_, kept)) = engines.iter().find(|(b, _)| *b == backend) {
        return Ok(kept.clone());
    }
    engines.push((backend, chosen.clone()));
    Ok(chosen)
}

/// An engine set up, and why: what each count logs at INFO.
#[derive(Clone)]
struct Chosen {
    engine: Arc<Engine>,
    why: Arc<str>,
}

fn threshold(text: Option<&str>) -> PyResult<Option<Threshold>> {
    text.map(|t| t.parse().map_err(UsageError::new_err))
        .transpose()
}

/// Counts, writes result.csv to `output` when given (a path or URL; no
/// file otherwise), and returns the counts as an Arrow table and the
/// summary as JSON.
#[pyfunction]
#[pyo3(signature = (regions, locations, output, backend, threads, split, strict, rejects, stats_json, max_bad, max_unmatched, state, recount, forget_missing, progress, time_zone, epoch, delimiter, columns, no_header, region_columns, regions_no_header, cancel))]
#[allow(clippy::too_many_arguments)]
fn count(
    py: Python<'_>,
    regions: String,
    locations: Vec<String>,
    output: Option<String>,
    backend: &str,
    threads: Option<usize>,
    split: Option<String>,
    strict: bool,
    rejects: Option<String>,
    stats_json: Option<String>,
    max_bad: Option<String>,
    max_unmatched: Option<String>,
    state: Option<String>,
    recount: bool,
    forget_missing: bool,
    progress: Option<Bound<'_, PyAny>>,
    time_zone: Option<String>,
    epoch: Option<String>,
    delimiter: Option<String>,
    columns: Option<String>,
    no_header: bool,
    region_columns: Option<String>,
    regions_no_header: bool,
    cancel: Option<PyRef<'_, PyCancelToken>>,
) -> PyResult<(Py<PyAny>, String)> {
    if locations.is_empty() {
        return Err(UsageError::new_err("no locations to count"));
    }
    let Chosen { engine, why } = engine(py, backend)?;
    // The library's target: this crate's own is not forwarded (PythonLog).
    log::info!(target: "event_counter", "{why}");
    let output = output.map(|o| Destination::from_arg(o.into()));
    if output == Some(Destination::Stdout) {
        return Err(UsageError::new_err(
            "output \"-\": the result is returned; give a path to write it too",
        ));
    }
    let mut options = CountOptions::new(
        InputSpec::parse(&regions),
        locations.iter().map(|l| InputSpec::parse(l)).collect(),
        Destination::Stdout,
    );
    // The counts come back from the library: result.csv only when asked.
    options.output = output;
    if let Some(threads) = threads {
        // Checked by the library: 1 to 1024.
        options.threads = threads;
    }
    options.split = split
        .map(|s| s.parse::<Split>().map_err(UsageError::new_err))
        .transpose()?;
    options.strict = strict;
    options.rejects = rejects.map(|r| Destination::from_arg(r.into()));
    options.stats_json = stats_json.map(|s| Destination::from_arg(s.into()));
    options.thresholds = Thresholds {
        malformed: threshold(max_bad.as_deref())?,
        unmatched: threshold(max_unmatched.as_deref())?,
    };
    options.state = state.map(|path| StateOptions {
        path: path.into(),
        recount,
        forget_missing,
    });
    options.times = event_times(time_zone, epoch)?;
    options.format = LocationFormat {
        no_header,
        ..location_format(delimiter, columns)?
    };
    let region_columns = region_columns
        .map(|text| RegionFormat::from_columns(&text).map_err(UsageError::new_err))
        .transpose()?;
    options.region_format = RegionFormat {
        no_header: regions_no_header,
        ..region_columns.unwrap_or_default()
    };
    // This call's own token, or the caller's: never another count's.
    options.cancel = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let token = options.cancel.clone();
    let counters = Arc::new(Counters::default());
    let counted = run_interruptibly(py, progress.as_ref(), counters, &token, move |progress| {
        event_counter::count_groups(&options, &engine, progress)
    })?;
    let table = counts_table(py, &counted.counts)?;
    Ok((table, counted.summary.to_json()))
}

/// The counts as an Arrow table (region_name, date, count), built straight
/// from their columns: each name and date made once.
fn counts_table(py: Python<'_>, counts: &Counts) -> PyResult<Py<PyAny>> {
    let names: ArrayRef = Arc::new(StringArray::from_iter_values(
        counts
            .name_indexes()
            .iter()
            .map(|&i| counts.names()[i as usize].as_str()),
    ));
    let day_numbers: Vec<i32> = counts
        .dates()
        .iter()
        .map(|d| event_counter::day_number(d) as i32)
        .collect();
    let days: Date32Array = counts
        .date_indexes()
        .iter()
        .map(|&d| day_numbers[d as usize])
        .collect::<Vec<i32>>()
        .into();
    let counts: Int64Array = counts
        .counts()
        .iter()
        .map(|&n| i64::try_from(n).unwrap_or(i64::MAX))
        .collect::<Vec<i64>>()
        .into();
    let schema = Arc::new(Schema::new(vec![
        Field::new("region_name", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("count", DataType::Int64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![names, Arc::new(days), Arc::new(counts)];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| InternalError::new_err(format!("cannot make the table: {e}")))?;
    let table = PyTable::try_new(vec![batch], schema)?;
    Ok(Bound::new(py, table)?.into_any().unbind())
}

/// `count`'s `time_zone` and `epoch`, as the command line reads them.
fn event_times(time_zone: Option<String>, epoch: Option<String>) -> PyResult<EventTimes> {
    let zone = match time_zone {
        Some(name) => Zone::named(&name).map_err(UsageError::new_err)?,
        None => Zone::utc(),
    };
    let epoch = match epoch.as_deref() {
        None => None,
        Some("s") => Some(Epoch::Seconds),
        Some("ms") => Some(Epoch::Millis),
        Some(other) => {
            return Err(UsageError::new_err(format!(
                "epoch={other:?}: give \"s\" (seconds) or \"ms\" (milliseconds)"
            )))
        }
    };
    Ok(EventTimes { zone, epoch })
}

/// `count`'s `delimiter` and `columns` (`region_id=NAME,date=NAME`, which
/// the Python side makes of a dict), as the command line reads them.
fn location_format(delimiter: Option<String>, columns: Option<String>) -> PyResult<LocationFormat> {
    let delimiter = delimiter
        .map(|d| options::parse_delimiter(&d).map_err(UsageError::new_err))
        .transpose()?;
    let columns = columns
        .map(|text| LocationFormat::from_columns(&text).map_err(UsageError::new_err))
        .transpose()?;
    Ok(LocationFormat {
        delimiter,
        ..columns.unwrap_or_default()
    })
}

/// Checks that `dir` is a data folder, as the command line checks its
/// DATA_DIR.
#[pyfunction]
fn check_data_dir(py: Python<'_>, dir: &str) -> PyResult<()> {
    options::check_data_dir(std::path::Path::new(dir), "data_dir").map_err(|e| to_py(py, e))
}

/// The location file of data folder `dir`, as the command line finds its
/// DATA_DIR's: location.csv, else location.csv.gz or location.csv.zst.
#[pyfunction]
fn data_dir_locations(py: Python<'_>, dir: &str) -> PyResult<String> {
    options::data_dir_locations(std::path::Path::new(dir))
        .map(|path| path.display().to_string())
        .map_err(|e| match e {
            Error::Open { path, source } => Error::Open {
                source: std::io::Error::new(
                    source.kind(),
                    format!("{source}; to count other files, give regions= and locations="),
                ),
                path,
            },
            e => e,
        })
        .map_err(|e| to_py(py, e))
}

/// A size as Python gives it: bytes, or a text such as `"1G"`, read by
/// the library's one reader of sizes.
#[derive(FromPyObject)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// Writes `dir/location.csv`; returns what was written.
#[pyfunction]
#[pyo3(signature = (dir, size, seed, start, days, regions, threads, force, timestamps))]
#[allow(clippy::too_many_arguments)]
fn generate(
    py: Python<'_>,
    dir: String,
    size: Size,
    seed: u64,
    start: String,
    days: u32,
    regions: Option<String>,
    threads: Option<usize>,
    force: bool,
    timestamps: Option<String>,
) -> PyResult<Py<PyDict>> {
    let timestamps = timestamps
        .map(|zone| Zone::named(&zone).map_err(UsageError::new_err))
        .transpose()?;
    let size = match size {
        Size::Bytes(n) => n,
        Size::Text(text) => options::parse_size(&text).map_err(UsageError::new_err)?,
    };
    let options = GenerateOptions {
        dir: dir.into(),
        size,
        seed,
        start,
        days,
        regions: regions.map(Into::into),
        threads: threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        block_rows: ROWS_PER_BLOCK,
        replace: force,
        timestamps,
        cancel: CancelToken::new(),
    };
    let token = options.cancel.clone();
    let counters = Arc::new(Counters::default());
    let generated = run_interruptibly(py, None, counters, &token, move |progress| {
        event_counter::generate(&options, progress).map_err(|e| match e {
            // The library says a file exists; in Python words:
            Error::Exists(path) => Error::Usage(format!(
                "{}: exists already; give force=True to replace it",
                path.display()
            )),
            e => e,
        })
    })?;
    let dict = PyDict::new(py);
    dict.set_item("path", generated.path.display().to_string())?;
    dict.set_item("rows", generated.rows)?;
    dict.set_item("bytes", generated.bytes)?;
    dict.set_item("seconds", generated.elapsed.as_secs_f64())?;
    dict.set_item("wrote_regions", generated.wrote_regions)?;
    Ok(dict.unbind())
}

/// Adds up result parts (or joins shards' rejects) into `output`.
#[pyfunction]
#[pyo3(signature = (parts, output, delete))]
fn merge(py: Python<'_>, parts: Vec<String>, output: String, delete: bool) -> PyResult<Py<PyDict>> {
    let parts: Vec<InputSpec> = parts.iter().map(|p| InputSpec::parse(p)).collect();
    let output = Destination::from_arg(output.into());
    let merged = py
        .detach(|| event_counter::merge(&parts, &output, delete))
        .map_err(|e| to_py(py, e))?;
    let dict = PyDict::new(py);
    dict.set_item("parts", merged.parts)?;
    dict.set_item("rejects", merged.rejects)?;
    dict.set_item("rows_in", merged.rows_in)?;
    dict.set_item("rows_out", merged.rows_out)?;
    dict.set_item("deleted", merged.deleted)?;
    Ok(dict.unbind())
}

/// Every GPU adapter wgpu finds, and whether `backend="auto"` would take it.
#[pyfunction]
fn adapters(py: Python<'_>) -> PyResult<Vec<Py<PyDict>>> {
    use event_counter::adapters::{self as device, AutoChoice, Search};
    let candidates = py.detach(|| device::candidates(Search::All));
    let chosen = match device::auto_choice(&candidates) {
        AutoChoice::Gpu(i) => Some(i),
        AutoChoice::Cpu(_) => None,
    };
    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let dict = PyDict::new(py);
            dict.set_item("name", &c.info.name)?;
            dict.set_item("backend", format!("{:?}", c.info.backend))?;
            dict.set_item("device_type", format!("{:?}", c.info.device_type))?;
            dict.set_item("driver", &c.info.driver)?;
            dict.set_item("software", c.is_software())?;
            dict.set_item("auto", chosen == Some(i))?;
            Ok(dict.unbind())
        })
        .collect()
}

/// The library's log records as records of Python's `logging` logger
/// `event_counter`: its warnings (an empty input, files a folder leaves
/// out, a file the state no longer finds) and, at level INFO, the choices
/// it made (backend, adapter, threads). Where no handler is configured,
/// Python prints warnings on stderr, as the command line does.
///
/// Records come from the count's threads too, which take the GIL for
/// each: so no thread may wait for a count's thread while it holds the
/// GIL ([`run_interruptibly`] waits and joins detached).
struct PythonLog;

impl log::Log for PythonLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // Other crates' records (wgpu's, the S3 client's) are theirs to
        // tell, as on the command line without RUST_LOG.
        metadata.level() <= log::Level::Info && metadata.target().starts_with("event_counter")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // logging's numbers for ERROR, WARNING and INFO.
        let level = match record.level() {
            log::Level::Error => 40,
            log::Level::Warn => 30,
            _ => 20,
        };
        let message = record.args().to_string();
        // Not while the interpreter is shutting down; and a record that
        // logging cannot take is dropped rather than failing the count.
        let _ = Python::try_attach(|py| -> PyResult<()> {
            let logger = py
                .import("logging")?
                .call_method1("getLogger", ("event_counter",))?;
            // No arguments: the message is not a %-format.
            logger.call_method1("log", (level, message))?;
            Ok(())
        });
    }

    fn flush(&self) {}
}

#[pymodule]
fn _event_counter(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Once per process; a host that set another `log` logger keeps it.
    if log::set_logger(&PythonLog).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    m.add_function(wrap_pyfunction!(check_data_dir, m)?)?;
    m.add_function(wrap_pyfunction!(data_dir_locations, m)?)?;
    m.add_function(wrap_pyfunction!(count, m)?)?;
    m.add_function(wrap_pyfunction!(generate, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add_function(wrap_pyfunction!(adapters, m)?)?;
    m.add_class::<PyCancelToken>()?;
    // Every error class has `exit_code`, `file` and `line`, so that an
    // error raised before the library is reached (a bad argument, built
    // with `new_err`) has them too: its class's code, and no place.
    // `to_py` sets them on each error it makes.
    for kind in [
        ErrorKind::Usage,
        ErrorKind::Data,
        ErrorKind::InputMissing,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
        ErrorKind::Io,
    ] {
        let (class, code) = class_of(py, kind);
        class.setattr("exit_code", code)?;
    }
    let base = py.get_type::<EventCounterError>();
    base.setattr("file", py.None())?;
    base.setattr("line", py.None())?;
    m.add("EventCounterError", py.get_type::<EventCounterError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("MissingInputError", py.get_type::<MissingInputError>())?;
    m.add("NoGpuError", py.get_type::<NoGpuError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("IOFailureError", py.get_type::<IOFailureError>())?;
    Ok(())
}
