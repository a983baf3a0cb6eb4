//! The `count` job from end to end:
//!
//! 1. open (`open`): region.csv, the location files (or this shard's part
//!    of them), every header checked before any row is read; the engine's
//!    histogram and the outputs;
//! 2. scan (`scan`): every thread of the pool (`pool.rs`) takes chunks from
//!    any file, scans them into keys and counts the keys in the histogram;
//!    the ledger (`ledger.rs`) books the chunks' reports in file order
//!    (line numbers, `--strict`, rejects);
//! 3. finish (`count_plan`'s end): the verdict, the histogram's totals
//!    decoded into [`Counts`] handed back ([`count_groups`]) and/or
//!    result.csv, and every output committed together (`commit`).

mod gate;
mod ledger;
mod outputs;
mod pool;
pub(crate) mod summary;
mod verdict;

pub use ledger::BookedRows;
pub use summary::{Summary, Timings};
pub use verdict::{Threshold, Thresholds};

use std::sync::Mutex;
use std::time::Instant;

use crate::backend::Engine;
use crate::cancel::CancelToken;
use crate::date::{DateDict, EventTimes};
use crate::error::{Error, Result};
use crate::figures::GpuFigures;
use crate::format::{
    self, CountOfShard, Layout, LocationFormat, RegionFormat, ShardManifest, SmallFile,
};
use crate::histogram::FoldInterval;
use crate::histogram::{Histogram, KeyTotals};
use crate::input::{self, ChunkSource, InputSpec, Plan, Split};
use crate::output::{Counts, Destination, Groups, RejectsWriter, ShardPart};
use crate::progress::Progress;
use crate::regions::{KeySpace, RegionTable};
use crate::scan::{RowPolicy, ScanContext};
use crate::state::{self, Resumed, StateOptions};
use ledger::Ledger;
use outputs::Outputs;

/// Default bytes per chunk: big enough that per-chunk costs vanish, small
/// enough that every thread's buffer stays in the low MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// The most scanning threads a count takes ([`CountOptions::threads`]).
pub const MAX_THREADS: usize = 1024;

/// Everything one count needs to know.
#[derive(Clone, Debug)]
pub struct CountOptions {
    /// region.csv.
    pub regions: InputSpec,
    /// Files, folders, globs or S3 URLs, counted in this order.
    pub locations: Vec<InputSpec>,
    /// Count only this shard's part of the locations.
    pub split: Option<Split>,
    /// Where result.csv goes; `None`: nowhere, for a caller that takes the
    /// counts from [`count_groups`].
    pub output: Option<Destination>,
    /// Scanning threads.
    pub threads: usize,
    /// Stop at the first malformed row.
    pub strict: bool,
    /// Write every row not counted here.
    pub rejects: Option<Destination>,
    /// Write the summary here as JSON.
    pub stats_json: Option<Destination>,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Whether chunks of local files are views of the file mapped instead
    /// of read with `pread` (the default; see `input::mapping` for why);
    /// for measuring the two.
    pub map_files: bool,
    /// When 32-bit bins are folded into the totals.
    pub flush: FoldInterval,
    /// The most bins a CPU thread counts densely (for tests, to make the
    /// shared totals count small inputs); `None`: as memory allows. Only
    /// with the `testing` feature.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub dense_bins: Option<usize>,
    /// How many malformed and unmatched rows fail the run (see
    /// [`Thresholds`]); by default, only a run that counted none of its
    /// data rows fails.
    pub thresholds: Thresholds,
    /// How the date column is read: what a bare number is, and the zone
    /// that decides the day of an instant (`--epoch`, `--time-zone`). A
    /// shard's manifest should record it: shards counted in other zones
    /// do not merge into one count.
    pub times: EventTimes,
    /// How location files are read: their delimiter and which columns
    /// hold the region id and the date (`--delimiter`, `--columns`);
    /// what is not given is found in each header. A shard's manifest
    /// should record it too.
    pub format: LocationFormat,
    /// Which columns of region.csv hold the region id and the name
    /// (`--region-columns`); `None` of each: found by name.
    pub region_format: RegionFormat,
    /// Asks this count to stop ([`CancelToken::cancel`]): a clone is kept
    /// by whoever may stop it. Each count has its own unless given one.
    pub cancel: CancelToken,
    /// Count only what is new since the state file's run (`--state`).
    pub state: Option<StateOptions>,
}

impl CountOptions {
    /// Options with the defaults: all cores, skip malformed rows.
    pub fn new(regions: InputSpec, locations: Vec<InputSpec>, output: Destination) -> Self {
        CountOptions {
            regions,
            locations,
            split: None,
            output: Some(output),
            threads: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS),
            strict: false,
            rejects: None,
            stats_json: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            map_files: false,
            flush: FoldInterval::default(),
            #[cfg(feature = "testing")]
            dense_bins: None,
            thresholds: Thresholds::default(),
            times: EventTimes::default(),
            format: LocationFormat::default(),
            region_format: RegionFormat::default(),
            cancel: CancelToken::new(),
            state: None,
        }
    }

    /// What happens to the rows not counted.
    pub fn policy(&self) -> RowPolicy {
        RowPolicy {
            stop_at_malformed: self.strict,
            keep_rejects: self.rejects.is_some(),
        }
    }

    /// [`CountOptions::dense_bins`]; `None` in a build without `testing`.
    fn dense_bins(&self) -> Option<usize> {
        #[cfg(feature = "testing")]
        return self.dense_bins;
        #[cfg(not(feature = "testing"))]
        None
    }
}

/// The files of the plan that the GPU backend can read itself: plain local
/// files (not compressed, not pipes).
fn plain_local<'a>(
    plan: &'a Plan,
    sources: &'a [Box<dyn ChunkSource>],
) -> impl Iterator<Item = usize> + 'a {
    plan.inputs
        .iter()
        .zip(sources)
        .enumerate()
        .filter(|(_, (input, source))| {
            input.compression.is_none()
                && !input.object.is_pipe()
                && input.object.path().is_some()
                && source.byte_rows().is_some()
        })
        .map(|(i, _)| i)
}

/// Where there are many files, those under this many bytes are the CPU
/// pool's, beside the GPU: a chunk of the GPU's each would cost more to
/// submit and read back than to count.
#[cfg(feature = "gpu")]
const SMALL_FILE: u64 = 1 << 20;

/// The files of the plan that the GPU backend reads itself: plain local
/// files, but for small ones among many; none for another engine.
fn gpu_files(engine: &Engine, plan: &Plan, sources: &[Box<dyn ChunkSource>]) -> Vec<usize> {
    #[cfg(feature = "gpu")]
    if let Engine::Gpu(_) = engine {
        let plain: Vec<usize> = plain_local(plan, sources).collect();
        if plain.len() == 1 {
            return plain;
        }
        return plain
            .into_iter()
            .filter(|&i| sources[i].total_bytes().is_some_and(|n| n >= SMALL_FILE))
            .collect();
    }
    let _ = (engine, plan, sources);
    Vec::new()
}

/// What the GPU backend's job needs of a count: the files `on_gpu` of the
/// plan, and where their counts, reports and figures go. (A build without
/// the GPU never reads it.)
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
struct GpuWork<'a, 'b> {
    engine: &'a Engine,
    on_gpu: &'a [usize],
    plan: &'a Plan,
    sources: &'a [Box<dyn ChunkSource>],
    layouts: &'a [Layout],
    scan: &'a ScanContext<'b>,
    histogram: &'a dyn Histogram,
    threads: usize,
    flush: FoldInterval,
    figures: &'a Mutex<Option<GpuFigures>>,
    cancel: &'a CancelToken,
}

impl<'a, 'b: 'a> GpuWork<'a, 'b> {
    /// The job to run beside the pool; none for an engine other than the
    /// GPU backend's, or no file for it.
    fn job(self) -> Option<pool::Job<'a>> {
        #[cfg(feature = "gpu")]
        if let (Engine::Gpu(gpu), false) = (self.engine, self.on_gpu.is_empty()) {
            use crate::gpu::parse::{count_files, Event, GpuFile, GpuJob};
            let files: Vec<GpuFile> = self
                .on_gpu
                .iter()
                .map(|&i| {
                    let (rows, first_row) = self.sources[i].byte_rows().expect("a plain file");
                    GpuFile {
                        index: i,
                        object: self.plan.inputs[i].object.clone(),
                        layout: self.layouts[i],
                        rows,
                        first_row,
                    }
                })
                .collect();
            let GpuWork {
                scan,
                histogram,
                threads,
                flush,
                figures,
                cancel,
                ..
            } = self;
            return Some(Box::new(
                move |send: &(dyn Fn(ledger::Msg) -> bool + Sync), abort| {
                    let events = |event| {
                        send(match event {
                            Event::Chunk { file, report } => ledger::Msg::Report { file, report },
                            Event::End { file, chunks } => ledger::Msg::End { file, chunks },
                        })
                    };
                    // Stops when a worker or the ledger fails, as the
                    // workers do.
                    let counted = count_files(&GpuJob {
                        context: gpu,
                        files: &files,
                        scan,
                        histogram,
                        threads,
                        flush,
                        events: &events,
                        abort,
                        cancel,
                    })?;
                    *figures.lock().unwrap_or_else(|e| e.into_inner()) = Some(counted);
                    Ok(())
                },
            ));
        }
        None
    }
}

/// The engine that counts with `options`: the GPU backend's parse reads
/// calendar dates and event times (in any zone, with any delimiter) in its
/// shader, but not epoch numbers, so a count with `--epoch` is parsed and
/// counted on the CPU instead (the `gpu-keys` backend, whose CPU parses,
/// keeps its GPU histogram). A row the shader cannot read (a rare form, a
/// repeated header) is handed back to the CPU's exact path, which reads it.
fn cpu_parse_for<'e>(engine: &'e Engine, options: &CountOptions) -> &'e Engine {
    // A bare number the shader hands back: an epoch file would be every
    // row the host's, through the slower hand-back.
    #[cfg(feature = "gpu")]
    if let (Engine::Gpu(_), Some(_)) = (engine, options.times.epoch) {
        static CPU: Engine = Engine::Cpu;
        log::info!(
            "the GPU backend's parse does not read epoch numbers yet: parsed and counted on the \
             CPU (--backend gpu-keys parses on the CPU and counts on the GPU)"
        );
        return &CPU;
    }
    let _ = options;
    engine
}

/// Says (`-v`) how each location file's fields are separated and which
/// columns are counted, when it is not the usual comma file.
fn log_layouts(sources: &[Box<dyn ChunkSource>], layouts: &[Layout], format: &LocationFormat) {
    for (source, layout) in sources.iter().zip(layouts) {
        let how = if format.delimiter.is_some() {
            "--delimiter"
        } else if format.no_header {
            "sniffed from its first row, as it has no header"
        } else {
            "sniffed from its header"
        };
        if layout.delimiter != b',' || format.delimiter.is_some() {
            log::info!(
                "{}: fields separated by {} ({how})",
                source.name(),
                format::delimiter_name(layout.delimiter)
            );
        }
        if format.region_id.is_some() || format.date.is_some() {
            log::info!(
                "{}: region ids from column {}, dates from column {} (of {})",
                source.name(),
                layout.id_col + 1,
                layout.date_col + 1,
                layout.columns
            );
        }
    }
}

/// What [`count_groups`] hands back.
#[derive(Clone, Debug)]
pub struct Counted {
    /// The groups counted, in result order.
    pub counts: Counts,
    /// The rest of what the count found.
    pub summary: Summary,
}

/// Runs one count on `engine`, telling `progress` how it advances, and
/// writes its outputs (result.csv to `options.output`, when given).
pub fn count(options: &CountOptions, engine: &Engine, progress: &dyn Progress) -> Result<Summary> {
    run(options, engine, progress, false).map(|(_, summary)| summary)
}

/// Runs one count as [`count`] does, and hands back the counts as well: an
/// embedder that wants only the counts sets `options.output` to `None`,
/// and no result.csv is written (the other outputs still are, when asked).
pub fn count_groups(
    options: &CountOptions,
    engine: &Engine,
    progress: &dyn Progress,
) -> Result<Counted> {
    let (counts, summary) = run(options, engine, progress, true)?;
    Ok(Counted {
        counts: counts.unwrap_or_default(),
        summary,
    })
}

/// A count, the counts kept when `keep`.
fn run(
    options: &CountOptions,
    engine: &Engine,
    progress: &dyn Progress,
    keep: bool,
) -> Result<(Option<Counts>, Summary)> {
    let started = Instant::now();
    if !(1..=MAX_THREADS).contains(&options.threads) {
        // In the command line's words (its flag checks the same range).
        return Err(Error::Usage(format!(
            "threads: {} is not in 1..={MAX_THREADS}",
            options.threads
        )));
    }
    options.format.check().map_err(Error::Usage)?;
    options.region_format.check().map_err(Error::Usage)?;
    // Columns named otherwise are looked for by the parse, not the header
    // check of the usual names.
    let region_file = match options.region_format == RegionFormat::default() {
        true => format::REGION_FILE,
        false => SmallFile {
            columns: &[],
            ..format::REGION_FILE
        },
    };
    let regions_bytes = input::read_small(&options.regions, &region_file)?;
    let regions = RegionTable::parse_with(
        &regions_bytes,
        &options.regions.name(),
        &options.region_format,
    )?;
    let mut plan = Plan::new(&options.locations, options.split)?;
    let fingerprint = format::fingerprint(&regions_bytes);
    let resumed = match &options.state {
        Some(state) => {
            refuse_with_state(options)?;
            Some(state::resume(
                state,
                &regions_bytes,
                &reading_options(options),
                options.strict,
                match &options.rejects {
                    Some(Destination::File(path)) => Some(path.as_path()),
                    _ => None,
                },
                &mut plan,
            )?)
        }
        None => None,
    };
    count_plan(
        options,
        (&regions, &fingerprint),
        plan,
        resumed,
        engine,
        progress,
        started,
        keep,
    )
}

/// What `--state` cannot be combined with, and why.
fn refuse_with_state(options: &CountOptions) -> Result<()> {
    let why = if options.split.is_some() {
        "a shard counts part of the inputs, and the state follows whole files: count with \
         --state on one machine, or shard without it"
    } else if matches!(
        options.rejects,
        Some(Destination::S3(_) | Destination::Stdout)
    ) {
        "--rejects must be a local file: each run carries the rows of the runs before into it"
    } else {
        return Ok(());
    };
    Err(crate::Error::Usage(format!("--state: {why}")))
}

/// What a shard of this count is a part of, for its manifest: the same for
/// every shard of one count, and different for shards of another.
fn count_of_shard(options: &CountOptions, plan: &Plan, regions: &str) -> CountOfShard {
    let inputs = plan
        .listed
        .iter()
        .map(|object| {
            // A local file by where it is, however the shard spelled it.
            let name = match object.path() {
                Some(path) => input::follow_links(path).0.display().to_string(),
                None => object.name().to_string(),
            };
            (name, object.len())
        })
        .collect();
    // Shards counted under another policy are not parts of one count
    // either: one of them might have failed where another did not.
    let thresholds = &options.thresholds;
    let mut policy = vec![
        ("strict".into(), options.strict.to_string()),
        ("max_bad".into(), format!("{:?}", thresholds.malformed)),
        (
            "max_unmatched".into(),
            format!("{:?}", thresholds.unmatched),
        ),
    ];
    policy.extend(reading_options(options));
    CountOfShard::new(inputs, regions.to_string(), policy)
}

/// The options that change how rows are read, and so what a count of the
/// same inputs gives, as (name, value) pairs: shards read with other
/// values are not parts of one count, and a `--state` kept with other
/// values cannot be added to.
fn reading_options(options: &CountOptions) -> Vec<(String, String)> {
    vec![
        ("time_zone".into(), options.times.zone.name().to_string()),
        ("epoch".into(), format!("{:?}", options.times.epoch)),
        (
            "delimiter".into(),
            format!("{:?}", options.format.delimiter),
        ),
        (
            "columns".into(),
            format!("{:?}", (&options.format.region_id, &options.format.date)),
        ),
        (
            "region_columns".into(),
            // Its columns alone: the header rule is the next pair.
            format!(
                "RegionFormat {{ region_id: {:?}, region_name: {:?} }}",
                options.region_format.region_id, options.region_format.region_name
            ),
        ),
        ("no_header".into(), options.format.no_header.to_string()),
        (
            "regions_no_header".into(),
            options.region_format.no_header.to_string(),
        ),
    ]
}

/// A count's inputs, engine, histogram and outputs, opened: what the scan
/// needs, and the figures the summary takes from the set-up.
struct Opened<'e> {
    sources: Vec<Box<dyn ChunkSource>>,
    layouts: Vec<Layout>,
    engine: &'e Engine,
    outputs: Outputs,
    threads: usize,
    header_bytes: u64,
    setup_done: Instant,
}

/// What the scan stage hands to the finish: the histogram's totals and the
/// ledger's books.
struct Scanned {
    totals: KeyTotals,
    tally: BookedRows,
    gpu: Option<GpuFigures>,
    scan_done: Instant,
}

/// Counts the inputs of `plan` (which `options.locations` listed), against
/// the regions (and the fingerprint of their file), in three stages: open,
/// scan, finish. `keep`: hand the counts back.
#[allow(clippy::too_many_arguments)]
fn count_plan(
    options: &CountOptions,
    (regions, regions_fingerprint): (&RegionTable, &str),
    plan: Plan,
    resumed: Option<Resumed>,
    engine: &Engine,
    progress: &dyn Progress,
    started: Instant,
    keep: bool,
) -> Result<(Option<Counts>, Summary)> {
    let (mut opened, histogram) = open(options, &plan, resumed.as_ref(), engine, progress)?;
    let keys = KeySpace::new(regions.slots());
    let dates = DateDict::new(keys.max_dates());
    let context = ScanContext {
        regions,
        dates: &dates,
        keys,
        policy: options.policy(),
        times: &options.times,
    };
    let Scanned {
        totals,
        tally,
        gpu,
        scan_done,
    } = scan(
        options,
        &plan,
        resumed.as_ref(),
        &mut opened,
        histogram,
        &context,
        progress,
    )?;
    // A file followed by the state is counted up to its last line when the
    // run started; what came since is the next run's.
    refuse_changed_files(&plan, resumed.is_some())?;
    // A run that reads only what is new is, like a shard, part of a count:
    // new bytes without a countable row are no failure of the whole.
    let part = options.split.is_some() || resumed.as_ref().is_some_and(|r| r.bytes_skipped > 0);
    verdict::judge(&tally, options.thresholds, regions, part)?;
    let histogram_done = Instant::now();

    let mut totals = totals.into_totals()?;
    let mut state_bytes = None;
    if let Some(resumed) = resumed {
        state_bytes = Some((resumed.bytes_new, resumed.bytes_skipped));
        let rejects = opened.outputs.rejects.as_ref().map(RejectsWriter::written);
        let (all, encoded) = resumed.finish(totals, keys, &dates, &tally.lines, rejects)?;
        totals = all;
        let state = opened.outputs.state.as_mut().expect("opened with --state");
        let written = state.writer().write_all(&encoded);
        state.check(written)?;
    }
    let date_texts = dates.dates();
    let groups = Groups::new(totals, keys, &date_texts, regions)?;
    let counts = keep.then(|| groups.counts(regions)).transpose()?;
    let rows = write_result(&groups, &mut opened.outputs, opened.threads)?;
    let summary = Summary {
        groups: rows
            .or(counts.as_ref().map(Counts::len))
            // Nothing written and nothing kept: counted all the same.
            .unwrap_or_else(|| groups.len()),
        timings: Timings {
            setup: opened.setup_done - started,
            scan: scan_done - opened.setup_done,
            histogram: histogram_done - scan_done,
            output: Instant::now() - histogram_done,
        },
        state_bytes,
        ..summarize(options, &plan, &opened, (tally, gpu), started)
    };
    commit(
        options,
        &plan,
        regions_fingerprint,
        opened.outputs,
        &summary,
    )?;
    Ok((counts, summary))
}

/// Stage 1: opens every input, the engine's histogram and the outputs.
fn open<'e>(
    options: &CountOptions,
    plan: &Plan,
    resumed: Option<&Resumed>,
    engine: &'e Engine,
    progress: &dyn Progress,
) -> Result<(Opened<'e>, Box<dyn Histogram>)> {
    // Open every input first: a bad header in the last file should stop
    // the run before hours are spent on the first.
    let sources = plan
        .inputs
        .iter()
        .map(|input| {
            input.open(
                options.chunk_size,
                options.map_files,
                !options.format.no_header,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let layouts = sources
        .iter()
        .map(|source| Layout::read(source.header(), source.name(), &options.format))
        .collect::<Result<Vec<_>>>()?;
    log_layouts(&sources, &layouts, &options.format);
    let total_bytes: u64 = sources.iter().filter_map(|s| s.total_bytes()).sum();
    let threads = options.threads.max(1);
    let plain_bytes = plain_local(plan, &sources)
        .map(|i| sources[i].total_bytes().unwrap_or(0))
        .sum();
    let (engine, why) = engine.for_input(plain_bytes, threads)?;
    if let Some(why) = why {
        log::info!("{why}");
    }
    let engine = cpu_parse_for(engine, options);
    let mut outputs = Outputs::open(options, plan, resumed)?;
    // The rejects of earlier runs first: this run's follow them.
    if let (Some(resumed), Some(rejects)) = (resumed, &mut outputs.rejects) {
        resumed.carry_rejects(rejects)?;
    }
    let histogram = engine.histogram(options.flush, threads, options.dense_bins())?;
    let setup_done = Instant::now();
    log::info!(
        "{threads} scanning thread{}, {} KiB chunks{}, {total_bytes} bytes in {} file{}{}",
        if threads == 1 { "" } else { "s" },
        options.chunk_size >> 10,
        if options.map_files { " mapped" } else { "" },
        sources.len(),
        if sources.len() == 1 { "" } else { "s" },
        options.split.map_or(String::new(), |s| format!(
            " (shard {}/{})",
            s.index, s.count
        )),
    );
    log::info!(
        "dates: instants counted by their local day in {}",
        options.times.describe()
    );
    progress.start(Some(total_bytes));
    // The header lines, which no chunk spans: read all the same.
    let header_bytes: u64 = sources.iter().map(|s| s.header_bytes()).sum();
    progress.advance(header_bytes, 0);
    let opened = Opened {
        sources,
        layouts,
        engine,
        outputs,
        threads,
        header_bytes,
        setup_done,
    };
    Ok((opened, histogram))
}

/// Stage 2: every chunk scanned into the histogram (on the CPU's pool, and
/// on the GPU for the files it reads itself) and booked by the ledger.
fn scan(
    options: &CountOptions,
    plan: &Plan,
    resumed: Option<&Resumed>,
    opened: &mut Opened,
    histogram: Box<dyn Histogram>,
    context: &ScanContext,
    progress: &dyn Progress,
) -> Result<Scanned> {
    let Opened {
        sources,
        layouts,
        engine,
        outputs,
        threads,
        ..
    } = opened;
    let parts = shard_parts(plan);
    let mut ledger = Ledger::new(
        sources,
        parts,
        context.policy,
        outputs.rejects.as_mut(),
        progress,
    );
    // A resumed run numbers its rows after the lines counted before.
    if let Some(resumed) = resumed {
        ledger.number_lines_after(&resumed.lines_before());
    }
    // Which files the GPU backend reads itself, and which the CPU's pool.
    let on_gpu = gpu_files(engine, plan, sources);
    let cpu_files: Vec<usize> = (0..sources.len()).filter(|i| !on_gpu.contains(i)).collect();
    if !on_gpu.is_empty() {
        log::info!(
            "{} of {} files parsed on the GPU; the rest (compressed, S3, pipes) on the CPU",
            on_gpu.len(),
            sources.len()
        );
    }
    let gpu_figures = Mutex::new(None);
    let job = GpuWork {
        engine,
        on_gpu: &on_gpu,
        plan,
        sources,
        layouts,
        scan: context,
        histogram: histogram.as_ref(),
        threads: *threads,
        flush: options.flush,
        figures: &gpu_figures,
        cancel: &options.cancel,
    }
    .job();
    let scanned = if sources.is_empty() {
        drop(job);
        Ok(())
    } else {
        pool::Pool {
            context,
            sources,
            files: &cpu_files,
            layouts,
            histogram: histogram.as_ref(),
            threads: *threads,
            cancel: &options.cancel,
        }
        .scan(job, &mut ledger)
    };
    let scan_done = Instant::now();
    // Always finish the histogram, to join the GPU thread; its error (a
    // device failure) explains a scan error better than "GPU stopped".
    let totals = histogram.finish();
    scanned?;
    Ok(Scanned {
        totals: totals?,
        tally: ledger.finish()?,
        gpu: gpu_figures.into_inner().unwrap_or_else(|e| e.into_inner()),
        scan_done,
    })
}

/// Where each input of `plan` lies in its file, for the ledger's line
/// numbers and a shard's rejects.
fn shard_parts(plan: &Plan) -> Vec<ShardPart> {
    plan.inputs
        .iter()
        .map(|input| {
            let source_bytes = input.object.len();
            ShardPart {
                source_bytes,
                range: input.range.clone().unwrap_or(0..source_bytes),
            }
        })
        .collect()
}

/// Writes result.csv where `outputs` has one (not yet in place); returns
/// its rows, or `None` when there is none or standard output closed early.
fn write_result(groups: &Groups, outputs: &mut Outputs, threads: usize) -> Result<Option<usize>> {
    let Some(result) = &mut outputs.result else {
        return Ok(None);
    };
    let written = if result.has_offsets() {
        let sizes = groups.sizes(threads);
        let file = result.at_offsets(sizes.file_len())?;
        groups.write_at(file, &sizes, threads)
    } else {
        groups.write(result.writer())
    };
    // A reader of standard output that stopped early (`| head`) is no
    // error, but the summary still says how many groups there were.
    result.check(written.map(Some))
}

/// The summary of a count, but for its groups, state and timings.
fn summarize(
    options: &CountOptions,
    plan: &Plan,
    opened: &Opened,
    (tally, gpu): (BookedRows, Option<GpuFigures>),
    started: Instant,
) -> Summary {
    Summary {
        stats: tally.stats,
        groups: 0,
        bytes: tally.bytes + opened.header_bytes,
        files: opened.sources.len(),
        elapsed: started.elapsed(),
        samples: tally.samples,
        unmatched_ids: tally.unmatched_ids,
        backend: opened.engine.kind(),
        regions: options.regions.name(),
        locations: plan
            .inputs
            .iter()
            .map(|i| i.object.name().to_string())
            .collect(),
        outputs: summary::Outputs {
            result: options.output.as_ref().map(Destination::name),
            rejects: options.rejects.as_ref().map(Destination::name),
            stats: options.stats_json.as_ref().map(Destination::name),
        },
        adapter: opened.engine.adapter(),
        threads: opened.threads,
        timings: Timings::default(),
        peak_memory: summary::peak_memory(),
        gpu,
        times: options.times.clone(),
        no_header: summary::NoHeader {
            locations: options.format.no_header,
            regions: options.region_format.no_header,
        },
        state_bytes: None,
    }
}

/// Stage 3's end: a shard's manifest and the stats written, then every
/// output put in place together.
fn commit(
    options: &CountOptions,
    plan: &Plan,
    regions_fingerprint: &str,
    mut outputs: Outputs,
    summary: &Summary,
) -> Result<()> {
    if let (Some(manifest), Some(split)) = (&mut outputs.manifest, options.split) {
        let text = ShardManifest {
            shard: split.index,
            shards: split.count,
            input_bytes: plan.listed_bytes,
            count: count_of_shard(options, plan, regions_fingerprint),
        }
        .to_json();
        let written = manifest.writer().write_all(text.as_bytes());
        manifest.check(written)?;
    }
    if let Some(stats) = &mut outputs.stats {
        let written = stats.writer().write_all(summary.to_json().as_bytes());
        stats.check(written)?;
    }
    // A stop asked for while the outputs were written: none appears.
    options.cancel.check()?;
    outputs.commit(&options.cancel)
}

/// Fails if a local file's size or times are not what they were when the
/// plan opened it ([`Object::changed_since_open`]): rows appended, cut or
/// rewritten while it was read would be counted in part, without a word.
/// `following`: the state counts plain files only up to where they ended
/// at the start, so only compressed ones are checked.
fn refuse_changed_files(plan: &Plan, following: bool) -> Result<()> {
    for input in &plan.inputs {
        if following && input.compression.is_none() {
            continue;
        }
        if let Some(why) = input.object.changed_since_open() {
            return Err(input.object.read_error(std::io::Error::other(format!(
                "{why}: count a file once it is complete"
            ))));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::input::plan::PlannedInput;
    use crate::input::{LocalObject, Object, HEADER_READ};
    use std::ops::Range;
    use std::sync::Arc;

    /// Issue 29: the command line refused more than 1024 threads, Python
    /// clamped, the library took any number. The library refuses, in the
    /// command line's words, before reading anything.
    #[test]
    fn threads_out_of_range_are_a_usage_error() {
        let missing = InputSpec::Local("no such folder/region.csv".into());
        for threads in [0, MAX_THREADS + 1] {
            let mut options =
                CountOptions::new(missing.clone(), vec![missing.clone()], Destination::Stdout);
            options.threads = threads;
            let error = count(&options, &Engine::Cpu, &()).unwrap_err();
            assert!(matches!(error, Error::Usage(_)), "{error}");
            assert_eq!(
                error.to_string(),
                format!("threads: {threads} is not in 1..=1024")
            );
        }
    }

    /// A file that fails every read of a byte between its header and
    /// `forbidden.end`: the part before a shard's range.
    struct FailsBefore {
        inner: LocalObject,
        forbidden: Range<u64>,
    }

    impl Object for FailsBefore {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            let end = offset + buf.len() as u64;
            if offset < self.forbidden.end && end > self.forbidden.start {
                return Err(std::io::Error::other(format!(
                    "read of {offset}..{end}, before the shard's range"
                )));
            }
            self.inner.read_at(buf, offset)
        }
        fn len(&self) -> u64 {
            self.inner.len()
        }
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn path(&self) -> Option<&std::path::Path> {
            // So that the GPU backend reads it too.
            self.inner.path()
        }
    }

    /// Issue 15's check: shard 6 of 7 with bad rows everywhere and
    /// `--rejects`, on every engine, reads nothing before its range but the
    /// header (a read of it would fail the count), and its rejects number
    /// their lines from the shard's start.
    #[test]
    fn a_shard_reads_nothing_before_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("lat,long,region_id,date\n");
        for i in 0..20_000u32 {
            text.push_str(&match i % 13 {
                0 => format!("1,2,x{i},2019-01-01\n"),
                1 => format!("1,2,1,2019-02-3{}\n", i % 10),
                _ => format!("{i}.5,-{i}.25,{},2019-01-{:02}\n", i % 4, 1 + i % 28),
            });
        }
        let path = dir.path().join("location.csv");
        std::fs::write(&path, &text).unwrap();
        let regions = RegionTable::parse(b"region_id,region_name\n1,A\n2,B\n3,C\n", "r").unwrap();
        let split = Split { index: 6, count: 7 };
        let len = text.len() as u64;
        let range = split.range(len);
        assert!(text.find('\n').unwrap() < HEADER_READ && (HEADER_READ as u64) < range.start);

        let mut engines = vec![Engine::Cpu];
        if let Ok(selection) = Engine::select(Backend::Gpu) {
            engines.push(selection.engine);
        }
        for engine in &engines {
            let object = FailsBefore {
                inner: LocalObject::open(&path).unwrap(),
                // The header's own first read may reach past the header.
                forbidden: HEADER_READ as u64..range.start,
            };
            let plan = Plan {
                inputs: vec![PlannedInput {
                    object: Arc::new(object),
                    compression: None,
                    range: Some(range.clone()),
                }],
                listed_bytes: len,
                listed: Vec::new(),
            };
            let rejects = dir.path().join("rejects.csv");
            let mut options = CountOptions::new(
                InputSpec::Local("r".into()),
                vec![InputSpec::Local(path.clone())],
                Destination::File(dir.path().join("out.csv")),
            );
            options.split = Some(split);
            options.rejects = Some(Destination::File(rejects.clone()));
            options.chunk_size = 4096;
            options.threads = 2;
            let summary = count_plan(
                &options,
                (&regions, ""),
                plan,
                None,
                engine,
                &(),
                Instant::now(),
                false,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", engine.kind()))
            .1;
            assert!(summary.stats.malformed_total() > 100, "{}", engine.kind());

            // Every rejected row is where its shard line says.
            let newline = range.start as usize + text[range.start as usize..].find('\n').unwrap();
            let lines: Vec<&str> = text[newline + 1..].lines().collect();
            let written = std::fs::read_to_string(&rejects).unwrap();
            let mut records = 0;
            for record in written.lines().skip(1) {
                let fields: Vec<&str> = record.split(',').collect();
                if fields[5].is_empty() && !fields[1].is_empty() {
                    let n: usize = fields[6].trim_matches('"').parse().unwrap();
                    // The row, then `header_lines`.
                    let row = fields[8..fields.len() - 1].join(",");
                    assert_eq!(row.trim_matches('"'), lines[n - 1], "{}", engine.kind());
                    records += 1;
                }
            }
            let rejected = summary.stats.malformed_total() + summary.stats.unmatched;
            assert_eq!(records as u64, rejected, "{}", engine.kind());
        }
    }
}
