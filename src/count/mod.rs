//! The `count` job from end to end, a stage a file:
//!
//! 1. open (`open.rs`): region.csv, the location files (or this shard's
//!    part of them), every header checked before any row is read; the
//!    engine, its histogram and the outputs;
//! 2. scan (`scanning.rs`): every thread of the pool (`pool.rs`) takes
//!    chunks from any file, scans them into keys and counts the keys in
//!    the histogram, beside the GPU backend's job for the files it reads
//!    itself (`crate::gpu::route`); the ledger (`ledger.rs`) books the
//!    chunks' reports in file order (line numbers, `--strict`, rejects);
//! 3. finish (`finish.rs`): the verdict (`verdict.rs`), the histogram's
//!    totals decoded into [`Counts`] handed back ([`count_groups`]) and/or
//!    result.csv, and every output committed together.
//!
//! This file holds the options and the front door ([`count`],
//! [`count_groups`]), which reads region.csv and the `--state` before the
//! stages; `identity.rs` says which options make two counts the same
//! count (for a shard's manifest and the state).

mod finish;
mod gate;
mod identity;
mod ledger;
mod open;
mod outputs;
mod pool;
mod scanning;
pub(crate) mod summary;
#[cfg(test)]
mod tests;
mod verdict;

pub use ledger::BookedRows;
pub use summary::Summary;
pub use verdict::{Threshold, Thresholds};
pub(crate) use verdict::nothing_counted;

use std::time::Instant;

use crate::backend::Engine;
use crate::cancel::CancelToken;
use crate::date::{DateDict, EventTimes};
use crate::error::{Error, Result};
use crate::format::{self, LocationFormat, RegionFormat, SmallFile};
use crate::histogram::FoldInterval;
use crate::input::{self, InputSpec, Plan, Split};
use crate::output::{Counts, Destination};
use crate::progress::Progress;
use crate::regions::{KeySpace, RegionTable};
use crate::scan::{RowPolicy, ScanContext};
use crate::state::{self, Resumed, StateOptions};
use finish::Finish;
use identity::reading_options;

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
    pub(crate) fn dense_bins(&self) -> Option<usize> {
        #[cfg(feature = "testing")]
        return self.dense_bins;
        #[cfg(not(feature = "testing"))]
        None
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
            headerless: options.region_format.no_header,
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
    let (mut opened, histogram) = open::open(options, &plan, resumed.as_ref(), engine, progress)?;
    let keys = KeySpace::new(regions.slots());
    let dates = DateDict::new(keys.max_dates());
    let context = ScanContext {
        regions,
        dates: &dates,
        keys,
        policy: options.policy(),
        times: &options.times,
    };
    let scanned = scanning::scan(
        options,
        &plan,
        resumed.as_ref(),
        &mut opened,
        histogram,
        &context,
        progress,
    )?;
    finish::finish(
        &Finish {
            options,
            plan: &plan,
            regions,
            regions_fingerprint,
            keys,
            dates: &dates,
            started,
            keep,
        },
        resumed,
        opened,
        scanned,
    )
}
