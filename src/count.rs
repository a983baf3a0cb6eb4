//! The `count` job from end to end: region.csv -> scan each location file
//! (or this shard's part of them), one after another, on every thread ->
//! one histogram -> result.csv.
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
use crate::input::{self, ChunkBuf, ChunkSource, InputSpec, Plan, Split};
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
    pub regions: InputSpec,
    /// Files, folders, globs or S3 URLs, counted in this order.
    pub locations: Vec<InputSpec>,
    /// Count only this shard's part of the locations.
    pub split: Option<Split>,
    pub output: Destination,
    pub threads: usize,
    pub strict: bool,
    pub rejects: Option<PathBuf>,
    pub chunk_size: usize,
    pub flush: Flush,
}

impl CountOptions {
    pub fn new(regions: InputSpec, locations: Vec<InputSpec>, output: Destination) -> Self {
        CountOptions {
            regions,
            locations,
            split: None,
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
    /// Input bytes read: of the rows, or of compressed files.
    pub bytes: u64,
    /// Location files read.
    pub files: usize,
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
    let regions_name = options.regions.name();
    let regions_bytes = input::read_whole(&options.regions)?;
    let regions = RegionTable::parse(&regions_bytes, &regions_name)?;
    let plan = Plan::new(&options.locations, options.split)?;
    // Open every input first: a bad header in the last file should stop
    // the run before hours are spent on the first.
    let sources = plan
        .inputs
        .iter()
        .map(|input| input.open(options.chunk_size))
        .collect::<Result<Vec<_>>>()?;
    let layouts = sources
        .iter()
        .map(|source| Layout::from_header(source.header(), source.name()))
        .collect::<Result<Vec<_>>>()?;
    let total_bytes: u64 = sources.iter().filter_map(|s| s.total_bytes()).sum();

    let keys = KeySpace::new(regions.slots());
    let dates = DateDict::new(keys.max_dates());
    let mut rejects = options
        .rejects
        .as_deref()
        .map(RejectsWriter::create)
        .transpose()?;
    let histogram = engine.histogram(options.flush)?;
    let threads = options.threads.max(1);
    let setup_done = Instant::now();
    log::info!(
        "{threads} scanning threads, {} KiB chunks, {total_bytes} bytes in {} file{}{}",
        options.chunk_size >> 10,
        sources.len(),
        if sources.len() == 1 { "" } else { "s" },
        options.split.map_or(String::new(), |s| format!(
            " (shard {}/{})",
            s.index, s.count
        )),
    );
    progress.start(Some(total_bytes));

    // One file after another, each with every thread, into one histogram.
    let mut summary = Summary::default();
    let mut scanned = Ok(());
    for (source, layout) in sources.iter().zip(layouts) {
        let context = ScanContext {
            layout,
            regions: &regions,
            dates: &dates,
            keys,
            keep_rejects: rejects.is_some(),
            strict: options.strict,
        };
        let mut collector = Collector::new(
            source.as_ref(),
            options.strict,
            rejects.as_mut(),
            progress,
            &mut summary,
        );
        scanned = scan_all(
            &context,
            source.as_ref(),
            histogram.as_ref(),
            threads,
            &mut collector,
        );
        if scanned.is_err() {
            break;
        }
    }
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
    if let Some(rejects) = rejects {
        rejects.commit()?;
    }
    let finished = Instant::now();
    Ok(Summary {
        groups: table.len(),
        bytes: total_bytes,
        files: sources.len(),
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
        scanner.scan(buf.data(), chunk.range, &mut keys, &mut report)?;
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

/// Puts one file's chunk reports back in file order and books them.
struct Collector<'a> {
    order: Reorder<ChunkReport>,
    ledger: Ledger<'a>,
}

/// What one file's reports add up to, booked in file order.
struct Ledger<'a> {
    source: &'a dyn ChunkSource,
    strict: bool,
    rejects: Option<&'a mut RejectsWriter>,
    progress: &'a dyn Progress,
    /// Lines before the next chunk's first line, counted from the source's
    /// first row.
    lines_done: u64,
    /// The line number of the source's first row, found when first needed
    /// (a shard of a file has to count the lines before it).
    first_line: Option<u64>,
    /// The whole run's summary, which every file's reports add to.
    summary: &'a mut Summary,
}

impl<'a> Collector<'a> {
    fn new(
        source: &'a dyn ChunkSource,
        strict: bool,
        rejects: Option<&'a mut RejectsWriter>,
        progress: &'a dyn Progress,
        summary: &'a mut Summary,
    ) -> Self {
        Collector {
            order: Reorder::default(),
            ledger: Ledger {
                source,
                strict,
                rejects,
                progress,
                lines_done: 0,
                first_line: None,
                summary,
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
}

impl Ledger<'_> {
    fn book(&mut self, report: ChunkReport) -> Result<()> {
        for problem in &report.problems {
            let first_line = match self.first_line {
                Some(line) => line,
                None => *self.first_line.insert(self.source.first_line()?),
            };
            let line = first_line + self.lines_done + problem.line;
            let file = self.source.name();
            if problem.kind.is_some() {
                if self.strict {
                    return Err(Error::Data {
                        file: file.to_string(),
                        line,
                        reason: problem.reason.clone(),
                    });
                }
                let samples = &mut self.summary.samples;
                if samples.len() < SAMPLES {
                    samples.push(format!("{file}:{line}: {}", problem.reason));
                }
            }
            if let Some(rejects) = &mut self.rejects {
                rejects.write(
                    file,
                    line,
                    &problem.reason,
                    &report.raw[problem.raw.clone()],
                )?;
            }
        }
        let ids = &mut self.summary.unmatched_ids;
        for &id in &report.unmatched_ids {
            if ids.len() < SAMPLES && !ids.contains(&id) {
                ids.push(id);
            }
        }
        self.summary.stats.add(&report.stats);
        self.lines_done += report.lines;
        self.progress.advance(report.span, report.stats.data_rows());
        Ok(())
    }
}
