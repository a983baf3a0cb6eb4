//! Stage 2 of a count: every chunk scanned into the histogram, on the
//! CPU's pool and on the GPU for the files it reads itself, and booked by
//! the ledger in file order.

use std::sync::Mutex;
use std::time::Instant;

use super::ledger::Ledger;
use super::open::Opened;
use super::outputs::Outputs;
use super::{pool, BookedRows, CountOptions};
use crate::backend::Engine;
use crate::error::Result;
use crate::figures::GpuFigures;
use crate::histogram::{Histogram, KeyTotals};
use crate::input::{ChunkSource, Plan};
use crate::output::ShardPart;
use crate::progress::Progress;
use crate::scan::ScanContext;
use crate::state::Resumed;

/// What the scan stage hands to the finish: the histogram's totals and the
/// ledger's books.
pub(super) struct Scanned {
    pub(super) totals: KeyTotals,
    pub(super) tally: BookedRows,
    pub(super) gpu: Option<GpuFigures>,
    pub(super) scan_done: Instant,
}

/// Stage 2: every chunk scanned into the histogram (on the CPU's pool, and
/// on the GPU for the files it reads itself) and booked by the ledger.
pub(super) fn scan(
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
    let mut ledger = ledger(plan, resumed, sources, outputs, context, progress);
    // Which files the GPU backend reads itself, and which the CPU's pool.
    let on_gpu = gpu_files(engine, plan, sources);
    let cpu_files: Vec<usize> = (0..sources.len()).filter(|i| !on_gpu.contains(i)).collect();
    let gpu_figures = Mutex::new(None);
    #[cfg(feature = "gpu")]
    let job = engine.gpu_parse().and_then(|gpu| {
        crate::gpu::route::GpuWork {
            gpu,
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
        .job()
    });
    #[cfg(not(feature = "gpu"))]
    let job = None;
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

/// The ledger of this count's chunks, its rejects to `outputs`: a resumed
/// run numbers its rows after the lines counted before.
fn ledger<'a>(
    plan: &Plan,
    resumed: Option<&Resumed>,
    sources: &'a [Box<dyn ChunkSource>],
    outputs: &'a mut Outputs,
    context: &ScanContext,
    progress: &'a dyn Progress,
) -> Ledger<'a> {
    let parts = shard_parts(plan);
    let mut ledger = Ledger::new(
        sources,
        parts,
        context.policy,
        outputs.rejects.as_mut(),
        progress,
    );
    if let Some(resumed) = resumed {
        ledger.number_lines_after(&resumed.lines_before());
    }
    ledger
}

/// Which of the plan's files the GPU backend reads itself: none for
/// another engine (see `gpu::route`).
fn gpu_files(engine: &Engine, plan: &Plan, sources: &[Box<dyn ChunkSource>]) -> Vec<usize> {
    #[cfg(feature = "gpu")]
    if let Some(gpu) = engine.gpu_parse() {
        let on_gpu = crate::gpu::route::gpu_files(plan, sources, gpu.options());
        if !on_gpu.is_empty() {
            log::info!(
                "{} of {} files parsed on the GPU; the rest (compressed, S3, pipes, files too small \
                 to share a chunk) on the CPU",
                on_gpu.len(),
                sources.len()
            );
        }
        return on_gpu;
    }
    let _ = (engine, plan, sources);
    Vec::new()
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
