//! Stage 1 of a count: every input opened and its header read, the engine
//! chosen, its histogram and the outputs opened.

use std::time::Instant;

use super::outputs::Outputs;
use super::CountOptions;
use crate::backend::Engine;
use crate::error::{Error, Result};
use crate::format::{self, Layout, LocationFormat};
use crate::histogram::Histogram;
use crate::input::{ChunkSource, Plan};
use crate::progress::Progress;
use crate::state::Resumed;

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

/// Says which inputs are empty files: no error among others, as an
/// export's empty parts are normal. But a run whose inputs are all empty
/// fails as a run that counts none of its rows does
/// ([`verdict`](super::verdict)): a failed export leaves such a file, and
/// a result of no rows would replace a good one without a word. A shard
/// (its part of the inputs may be empty files alone) and a resumed run
/// (the result holds the counts of earlier runs) count nothing instead.
fn check_empty(sources: &[Box<dyn ChunkSource>], may_be_empty: bool, no_header: bool) -> Result<()> {
    const NAMED: usize = 10;
    let empty: Vec<&str> = sources
        .iter()
        .filter(|source| source.header().is_none())
        .map(|source| source.name())
        .collect();
    if empty.is_empty() {
        return Ok(());
    }
    if empty.len() == sources.len() && !may_be_empty {
        let header = (!no_header).then(|| format::header_text(format::LOCATION_HEADER));
        let others = match empty.len() {
            1 => String::new(),
            2 => " (and so is the other input)".to_string(),
            n => format!(" (and so are the other {} inputs)", n - 1),
        };
        return Err(Error::Data {
            file: empty[0].to_string(),
            line: 1,
            reason: format!("{}{others}", format::empty_file(header)),
        });
    }
    let more = match empty.len().saturating_sub(NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    log::warn!(
        "{}{more}: empty, no header and no rows: {} nothing",
        empty[..empty.len().min(NAMED)].join(", "),
        if empty.len() == 1 { "counts" } else { "count" }
    );
    Ok(())
}

/// A count's inputs, engine, histogram and outputs, opened: what the scan
/// needs, and the figures the summary takes from the set-up.
pub(super) struct Opened<'e> {
    pub(super) sources: Vec<Box<dyn ChunkSource>>,
    pub(super) layouts: Vec<Layout>,
    pub(super) engine: &'e Engine,
    pub(super) outputs: Outputs,
    pub(super) threads: usize,
    pub(super) header_bytes: u64,
    pub(super) setup_done: Instant,
}

/// Stage 1: opens every input, the engine's histogram and the outputs.
pub(super) fn open<'e>(
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
        .map(|source| match source.header() {
            Some(header) => Layout::read(header, source.name(), &options.format),
            // No rows to find columns in: any layout counts them.
            None => Ok(Layout::default()),
        })
        .collect::<Result<Vec<_>>>()?;
    let may_be_empty = options.split.is_some() || resumed.is_some();
    check_empty(&sources, may_be_empty, options.format.no_header)?;
    log_layouts(&sources, &layouts, &options.format);
    let total_bytes: u64 = sources.iter().filter_map(|s| s.total_bytes()).sum();
    let threads = options.threads.max(1);
    let engine = engine_for(engine, options, plan, &sources, threads)?;
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

/// The engine that counts these inputs: `auto` weighs the bytes the GPU
/// backend would read itself ([`Engine::for_input`]), and a count the GPU's
/// parse cannot read is parsed on the CPU ([`Engine::for_epoch`]).
fn engine_for<'e>(
    engine: &'e Engine,
    options: &CountOptions,
    plan: &Plan,
    sources: &[Box<dyn ChunkSource>],
    threads: usize,
) -> Result<&'e Engine> {
    #[cfg(feature = "gpu")]
    let gpu_bytes = || crate::gpu::route::gpu_bytes(plan, sources);
    // Without the GPU, `auto` is the CPU whatever the bytes.
    #[cfg(not(feature = "gpu"))]
    let gpu_bytes = || {
        let _ = (plan, sources);
        0
    };
    let (engine, why) = engine.for_input(gpu_bytes, threads)?;
    if let Some(why) = why {
        log::info!("{why}");
    }
    Ok(engine.for_epoch(options.times.epoch))
}
