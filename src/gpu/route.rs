//! Which files of a count the GPU backend reads itself, and the job that
//! counts them beside the CPU's pool: the count asks, the GPU answers. The
//! job tells the count's ledger of its chunks with the same
//! [`ScanEvent`]s as the pool's workers.

use std::sync::Mutex;

use super::parse::{count_files, GpuFile, GpuJob};
use super::GpuContext;
use crate::cancel::CancelToken;
use crate::figures::GpuFigures;
use crate::format::Layout;
use crate::histogram::{FoldInterval, Histogram};
use crate::input::{ChunkSource, Plan};
use crate::scan::{ScanContext, ScanEvent, ScanJob};

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

/// The bytes the GPU backend would read itself (those of [`gpu_files`]),
/// which `auto` weighs ([`crate::backend::Engine::for_input`]). Small
/// files among many are not among them: they go to the CPU's threads
/// whatever the engine, so they cannot pay for the device's start-up.
pub fn gpu_bytes(plan: &Plan, sources: &[Box<dyn ChunkSource>]) -> u64 {
    gpu_files(plan, sources)
        .into_iter()
        .map(|i| sources[i].total_bytes().unwrap_or(0))
        .sum()
}

/// Where there are many files, those under this many bytes are the CPU
/// pool's, beside the GPU: a chunk of the GPU's each would cost more to
/// submit and read back than to count.
const SMALL_FILE: u64 = 1 << 20;

/// The files of the plan that the GPU backend reads itself: plain local
/// files, but for small ones among many.
pub fn gpu_files(plan: &Plan, sources: &[Box<dyn ChunkSource>]) -> Vec<usize> {
    let plain: Vec<usize> = plain_local(plan, sources).collect();
    if plain.len() == 1 {
        return plain;
    }
    plain
        .into_iter()
        .filter(|&i| sources[i].total_bytes().is_some_and(|n| n >= SMALL_FILE))
        .collect()
}

/// What the GPU backend's job needs of a count: the files `on_gpu` of the
/// plan (see [`gpu_files`]), and where their counts, reports and figures
/// go.
pub struct GpuWork<'a, 'b> {
    /// The device that parses.
    pub gpu: &'a GpuContext,
    /// The plan's files that the GPU reads.
    pub on_gpu: &'a [usize],
    /// The count's inputs.
    pub plan: &'a Plan,
    /// The plan's inputs, opened.
    pub sources: &'a [Box<dyn ChunkSource>],
    /// Each input's columns.
    pub layouts: &'a [Layout],
    /// What the scanning threads share: regions, dates, keys, policy.
    pub scan: &'a ScanContext<'b>,
    /// The run's totals.
    pub histogram: &'a dyn Histogram,
    /// Threads to read chunks and to judge the rows handed back.
    pub threads: usize,
    /// When bins must be folded before they could wrap.
    pub flush: FoldInterval,
    /// Where the GPU's figures go, for the summary.
    pub figures: &'a Mutex<Option<GpuFigures>>,
    /// The count's token.
    pub cancel: &'a CancelToken,
}

impl<'a, 'b: 'a> GpuWork<'a, 'b> {
    /// The job to run beside the pool; none when no file is the GPU's.
    pub fn job(self) -> Option<ScanJob<'a>> {
        if self.on_gpu.is_empty() {
            return None;
        }
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
            gpu,
            scan,
            histogram,
            threads,
            flush,
            figures,
            cancel,
            ..
        } = self;
        Some(Box::new(
            move |events: &(dyn Fn(ScanEvent) -> bool + Sync), abort| {
                // Stops when a worker or the ledger fails, as the workers
                // do.
                let counted = count_files(&GpuJob {
                    context: gpu,
                    files: &files,
                    scan,
                    histogram,
                    threads,
                    flush,
                    events,
                    abort,
                    cancel,
                })?;
                *figures.lock().unwrap_or_else(|e| e.into_inner()) = Some(counted);
                Ok(())
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputSpec;

    /// The plan of every file in `dir`, opened.
    fn opened(dir: &std::path::Path) -> (Plan, Vec<Box<dyn ChunkSource>>) {
        let plan = Plan::new(&[InputSpec::from_path(dir)], None).unwrap();
        let sources = plan
            .inputs
            .iter()
            .map(|input| input.open(1 << 20, false, true).unwrap())
            .collect();
        (plan, sources)
    }

    /// A location file of `rows` rows in `dir`; its size in bytes.
    fn location_file(dir: &std::path::Path, name: &str, rows: usize) -> u64 {
        let mut text = String::from("region_id,date\n");
        for row in 0..rows {
            text.push_str(&format!("{},2020-01-{:02}\n", row % 50 + 1, row % 28 + 1));
        }
        std::fs::write(dir.join(name), &text).unwrap();
        text.len() as u64
    }

    #[test]
    fn auto_weighs_only_the_bytes_the_gpu_would_read() {
        let dir = tempfile::tempdir().unwrap();
        let small: u64 = (0..3)
            .map(|i| location_file(dir.path(), &format!("small-{i}.csv"), 20_000))
            .sum();
        // Many small files: the CPU's threads count them all.
        let (plan, sources) = opened(dir.path());
        assert_eq!(plan.inputs.len(), 3);
        assert!(small > 0);
        assert_eq!(gpu_files(&plan, &sources), Vec::<usize>::new());
        assert_eq!(gpu_bytes(&plan, &sources), 0);
        // Beside a large one, the large one is the GPU's, and its bytes
        // alone are weighed.
        let large = location_file(dir.path(), "large.csv", 120_000);
        assert!(large >= SMALL_FILE);
        let (plan, sources) = opened(dir.path());
        assert_eq!(gpu_files(&plan, &sources).len(), 1);
        assert_eq!(gpu_bytes(&plan, &sources), large);
    }
}
