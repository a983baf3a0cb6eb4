//! The `count` job from end to end: region.csv -> scan location.csv on every
//! thread -> histogram -> result.csv.
//!
//! Threads pull chunks, scan them into keys and feed their keys to the
//! histogram. Each chunk's report (row counts, problems) goes to this
//! thread, which puts the reports back in file order: that is how line
//! numbers stay exact, how `--strict` stops at the *first* bad row, and how
//! the rejects file comes out in input order.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::device::{self, AutoChoice};
use crate::dict::{DateDict, KeySpace, RegionTable};
use crate::error::{Error, Result};
use crate::histogram::cpu::CpuHistogram;
use crate::histogram::gpu::{GpuContext, GpuHistogram, GpuOptions};
use crate::histogram::{Flush, Histogram};
use crate::input::{display_name, ChunkBuf, ChunkSource, LocalFile};
use crate::output::{self, Destination, RejectsWriter};
use crate::progress::Progress;
use crate::reorder::Reorder;
use crate::scan::{ChunkReport, Layout, RowStats, ScanContext, Scanner, SAMPLES};

/// Which histogram backend the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// A hardware GPU if there is one, else the CPU.
    Auto,
    /// CPU threads only.
    Cpu,
    /// The best GPU adapter, software ones included; an error if none.
    Gpu,
}

/// A histogram backend, set up once and usable for many counts.
pub enum Engine {
    Cpu,
    Gpu(Arc<GpuContext>),
}

impl Engine {
    /// Sets up the backend `choice` asks for, and logs which and why (`-v`).
    pub fn select(choice: BackendChoice) -> Result<Engine> {
        let (engine, why) = Engine::choose(choice)?;
        log::info!("backend {} ({why})", engine.describe());
        Ok(engine)
    }

    fn choose(choice: BackendChoice) -> Result<(Engine, String)> {
        match choice {
            BackendChoice::Cpu => Ok((Engine::Cpu, "--backend cpu".into())),
            BackendChoice::Gpu => {
                let candidates = device::candidates(device::Search::Usual);
                let best = device::best(&candidates).ok_or_else(|| {
                    Error::NoAdapter(format!(
                        "{}, or use --backend cpu",
                        device::no_adapter_reason(&candidates)
                    ))
                })?;
                let context = GpuContext::new(&candidates[best].adapter, GpuOptions::default())?;
                Ok((Engine::Gpu(context), "--backend gpu".into()))
            }
            BackendChoice::Auto => {
                let candidates = device::candidates(device::Search::Usual);
                match device::auto_choice(&candidates) {
                    AutoChoice::Gpu(i) => {
                        let context =
                            GpuContext::new(&candidates[i].adapter, GpuOptions::default())?;
                        Ok((
                            Engine::Gpu(context),
                            "--backend auto found a hardware GPU".into(),
                        ))
                    }
                    AutoChoice::Cpu(why) => {
                        Ok((Engine::Cpu, format!("--backend auto chose the CPU: {why}")))
                    }
                }
            }
        }
    }

    fn histogram(&self, flush: Flush) -> Result<Box<dyn Histogram>> {
        Ok(match self {
            Engine::Cpu => Box::new(CpuHistogram::new(flush)),
            Engine::Gpu(context) => Box::new(GpuHistogram::new(context.clone(), flush)?),
        })
    }

    /// "cpu", or the adapter's name and API.
    pub fn describe(&self) -> String {
        match self.adapter() {
            None => "cpu".into(),
            Some(adapter) => format!("gpu: {adapter}"),
        }
    }

    /// "cpu" or "gpu".
    pub fn kind(&self) -> &'static str {
        match self {
            Engine::Cpu => "cpu",
            Engine::Gpu(_) => "gpu",
        }
    }

    /// The GPU adapter's name and API, as in "NVIDIA H100 (Vulkan)".
    pub fn adapter(&self) -> Option<String> {
        match self {
            Engine::Cpu => None,
            Engine::Gpu(context) => Some(format!(
                "{} ({:?})",
                context.info.name, context.info.backend
            )),
        }
    }
}

/// Default bytes per chunk: big enough that per-chunk costs vanish, small
/// enough that every thread's buffer stays in the low MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// Everything one count needs to know.
#[derive(Clone, Debug)]
pub struct CountOptions {
    pub regions: PathBuf,
    pub locations: PathBuf,
    pub output: Destination,
    pub threads: usize,
    pub strict: bool,
    pub rejects: Option<PathBuf>,
    pub chunk_size: usize,
    pub flush: Flush,
}

impl CountOptions {
    pub fn new(regions: PathBuf, locations: PathBuf, output: Destination) -> Self {
        CountOptions {
            regions,
            locations,
            output,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            strict: false,
            rejects: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            flush: Flush::default(),
        }
    }
}

/// What a count did, for the summary on stderr.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub stats: RowStats,
    /// Rows of result.csv.
    pub groups: usize,
    /// Input bytes of location.csv after the header.
    pub bytes: u64,
    pub elapsed: Duration,
    /// The first few malformed rows, as `FILE:LINE: reason`.
    pub samples: Vec<String>,
    /// A few region_ids that are not in region.csv.
    pub unmatched_ids: Vec<i64>,
    /// "cpu" or "gpu".
    pub backend: &'static str,
    /// The GPU adapter, for the gpu backend.
    pub adapter: Option<String>,
    pub threads: usize,
    pub timings: Timings,
}

/// Where the time of a count went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Reading region.csv and the header of location.csv.
    pub setup: Duration,
    /// Scanning location.csv into keys and counting them, which overlap.
    pub scan: Duration,
    /// From the last chunk scanned until the totals are in: the GPU's last
    /// batches and the read-back, or the merge of the CPU threads' bins.
    pub histogram: Duration,
    /// Decoding, sorting and writing result.csv (and the rejects file).
    pub output: Duration,
}

/// Runs one count on `engine`, telling `progress` how it advances.
pub fn count(options: &CountOptions, engine: &Engine, progress: &dyn Progress) -> Result<Summary> {
    let started = Instant::now();
    let regions_bytes = std::fs::read(&options.regions).map_err(|source| Error::Open {
        path: options.regions.clone(),
        source,
    })?;
    let regions = RegionTable::parse(&regions_bytes, &display_name(&options.regions))?;
    let source = LocalFile::open(&options.locations, options.chunk_size)?;
    let file = display_name(&options.locations);
    let file_name = file.clone();
    let layout = Layout::from_header(source.header(), &file)?;
    let keys = KeySpace::new(regions.slots());
    let dates = DateDict::new(keys.max_dates());
    let context = ScanContext {
        layout,
        regions: &regions,
        dates: &dates,
        keys,
        keep_rejects: options.rejects.is_some(),
        strict: options.strict,
    };
    let rejects = options
        .rejects
        .as_deref()
        .map(RejectsWriter::create)
        .transpose()?;
    let mut collector = Collector::new(file, options.strict, rejects, progress);

    let histogram = engine.histogram(options.flush)?;
    let threads = options.threads.max(1);
    let setup_done = Instant::now();
    log::info!(
        "{threads} scanning threads, {} KiB chunks, {} bytes of rows in {file_name}",
        options.chunk_size >> 10,
        source.total_bytes().unwrap_or(0),
    );
    progress.start(source.total_bytes());
    let scanned = scan_all(
        &context,
        &source,
        histogram.as_ref(),
        threads,
        &mut collector,
    );
    let scan_done = Instant::now();
    // Always finish the histogram, to join the GPU thread; its error (a
    // device failure) explains a scan error better than "GPU stopped".
    let counts = histogram.finish();
    scanned?;
    let counts = counts?;
    let histogram_done = Instant::now();

    let date_texts = dates.dates();
    let table = output::ResultTable::new(&counts, keys, &date_texts, &regions);
    output::write_result(&options.output, &table)?;
    let summary = collector.finish()?;
    let finished = Instant::now();
    Ok(Summary {
        groups: table.len(),
        bytes: source.total_bytes().unwrap_or(0),
        elapsed: finished - started,
        backend: engine.kind(),
        adapter: engine.adapter(),
        threads,
        timings: Timings {
            setup: setup_done - started,
            scan: scan_done - setup_done,
            histogram: histogram_done - scan_done,
            output: finished - histogram_done,
        },
        ..summary
    })
}

/// Runs the scanning threads and collects their reports on this thread.
fn scan_all(
    context: &ScanContext<'_>,
    source: &dyn ChunkSource,
    histogram: &dyn Histogram,
    threads: usize,
    collector: &mut Collector<'_>,
) -> Result<()> {
    let abort = AtomicBool::new(false);
    // Under --strict, no chunk after the first one that stopped is needed.
    let last_needed = AtomicU64::new(u64::MAX);
    std::thread::scope(|scope| {
        let (reports, received) = mpsc::sync_channel::<ChunkReport>(threads * 4);
        let mut workers = Vec::new();
        for i in 0..threads {
            let sink = histogram.sink()?;
            let reports = reports.clone();
            let (abort, last_needed) = (&abort, &last_needed);
            let worker = std::thread::Builder::new()
                .name(format!("scan-{i}"))
                .spawn_scoped(scope, move || {
                    let result = scan_worker(context, source, sink, reports, abort, last_needed);
                    if result.is_err() {
                        abort.store(true, Ordering::Relaxed);
                    }
                    result
                })
                .map_err(|e| Error::Internal(format!("cannot start a scanning thread: {e}")))?;
            workers.push(worker);
        }
        drop(reports);
        let mut collected = Ok(());
        for report in received {
            if collected.is_ok() {
                collected = collector.take(report);
                if collected.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
            }
        }
        let mut result = collected;
        for worker in workers {
            let joined = worker
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("a scanning thread panicked".into())));
            // The collector's error (the first bad row in file order) wins
            // over a worker's, which in turn wins over later ones.
            if result.is_ok() {
                result = joined;
            }
        }
        result
    })
}

fn scan_worker(
    context: &ScanContext<'_>,
    source: &dyn ChunkSource,
    mut sink: Box<dyn crate::histogram::KeySink + '_>,
    reports: mpsc::SyncSender<ChunkReport>,
    abort: &AtomicBool,
    last_needed: &AtomicU64,
) -> Result<()> {
    let mut scanner = Scanner::new(context);
    let mut buf = ChunkBuf::default();
    let mut keys = Vec::new();
    while !abort.load(Ordering::Relaxed) {
        let Some(chunk) = source.next_chunk(&mut buf)? else {
            break;
        };
        if chunk.seq > last_needed.load(Ordering::Relaxed) {
            break;
        }
        let mut report = ChunkReport {
            seq: chunk.seq,
            span: chunk.span,
            ..ChunkReport::default()
        };
        scanner.scan(&buf.bytes, chunk.range, &mut keys, &mut report)?;
        if report.stopped {
            last_needed.fetch_min(chunk.seq, Ordering::Relaxed);
        }
        if keys.len() >= sink.batch_keys() {
            // Read after the keys were made, so it covers every date in them.
            let bins = context.keys.bins(context.dates.len());
            sink.add(&mut keys, bins)?;
        }
        if reports.send(report).is_err() {
            break; // the collector stopped: the run is failing
        }
    }
    if !keys.is_empty() {
        sink.add(&mut keys, context.keys.bins(context.dates.len()))?;
    }
    sink.finish()
}

/// Puts chunk reports back in file order and books them.
struct Collector<'p> {
    order: Reorder<ChunkReport>,
    ledger: Ledger<'p>,
}

/// What the reports add up to, booked in file order.
struct Ledger<'p> {
    file: String,
    progress: &'p dyn Progress,
    strict: bool,
    rejects: Option<RejectsWriter>,
    /// Line number of the next chunk's first line; the header is line 1.
    next_line: u64,
    summary: Summary,
}

impl<'p> Collector<'p> {
    fn new(
        file: String,
        strict: bool,
        rejects: Option<RejectsWriter>,
        progress: &'p dyn Progress,
    ) -> Self {
        Collector {
            order: Reorder::default(),
            ledger: Ledger {
                file,
                progress,
                strict,
                rejects,
                next_line: 2,
                summary: Summary::default(),
            },
        }
    }

    /// Takes one report; books it and any that were waiting for it.
    fn take(&mut self, report: ChunkReport) -> Result<()> {
        // Reports are small unless rejects are kept; a waiting report is
        // only held until the chunks before it (being scanned right now by
        // other threads) are in.
        self.order
            .push(report.seq, report, |report| self.ledger.book(report))
    }

    fn finish(self) -> Result<Summary> {
        if let Some(rejects) = self.ledger.rejects {
            rejects.commit()?;
        }
        Ok(self.ledger.summary)
    }
}

impl Ledger<'_> {
    fn book(&mut self, report: ChunkReport) -> Result<()> {
        for problem in &report.problems {
            let line = self.next_line + problem.line;
            if problem.kind.is_some() {
                if self.strict {
                    return Err(Error::Data {
                        file: self.file.clone(),
                        line,
                        reason: problem.reason.clone(),
                    });
                }
                if self.summary.samples.len() < SAMPLES {
                    self.summary
                        .samples
                        .push(format!("{}:{line}: {}", self.file, problem.reason));
                }
            }
            if let Some(rejects) = &mut self.rejects {
                rejects.write(
                    &self.file,
                    line,
                    &problem.reason,
                    &report.raw[problem.raw.clone()],
                )?;
            }
        }
        for &id in &report.unmatched_ids {
            if self.summary.unmatched_ids.len() < SAMPLES
                && !self.summary.unmatched_ids.contains(&id)
            {
                self.summary.unmatched_ids.push(id);
            }
        }
        self.summary.stats.add(&report.stats);
        self.next_line += report.lines;
        self.progress.advance(report.span, report.stats.data_rows());
        Ok(())
    }
}
