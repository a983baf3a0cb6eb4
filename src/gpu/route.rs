//! Which files of a count the GPU backend reads itself, and the job that
//! counts them beside the CPU's pool: the count asks, the GPU answers. The
//! job tells the count's ledger of its chunks with the same
//! [`ScanEvent`]s as the pool's workers.

use std::sync::{Arc, Mutex};

use super::parse::{count_files, GpuFile, GpuJob, Member, Pack};
use super::{GpuContext, GpuOptions};
use crate::cancel::CancelToken;
use crate::figures::GpuFigures;
use crate::format::Layout;
use crate::histogram::{FoldInterval, Histogram};
use crate::input::{ChunkSource, Object, Plan};
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
/// files that cannot share chunks are not among them: they go to the
/// CPU's threads whatever the engine, so they cannot pay for the device's
/// start-up.
pub fn gpu_bytes(plan: &Plan, sources: &[Box<dyn ChunkSource>]) -> u64 {
    gpu_files(plan, sources, &GpuOptions::default())
        .into_iter()
        .map(|i| sources[i].total_bytes().unwrap_or(0))
        .sum()
}

/// Where there are many files, those under this many bytes share chunks
/// (`gpu/parse/pack.rs`): a chunk of the GPU's each would cost more to
/// submit and read back than to count.
const SMALL_FILE: u64 = 1 << 20;

/// Bytes of rows a small file needs to share a chunk; smaller ones are the
/// CPU pool's. Each file of a chunk costs the host a read of up to a KiB
/// to number its lines: a chunk of 64 MiB of 64 KiB files, 1,024 of them.
const PACKED_FILE: u64 = 64 << 10;

/// The files of the plan that the GPU backend (with `options`) reads
/// itself: plain local files, but for small ones among many that cannot
/// share a chunk.
pub fn gpu_files(
    plan: &Plan,
    sources: &[Box<dyn ChunkSource>],
    options: &GpuOptions,
) -> Vec<usize> {
    let plain: Vec<usize> = plain_local(plan, sources).collect();
    if plain.len() == 1 {
        return plain;
    }
    let fewest = options.packed_file.unwrap_or(PACKED_FILE);
    plain
        .into_iter()
        .filter(|&i| !is_small(sources[i].as_ref()) || packable(plan, sources, i, fewest))
        .collect()
}

fn is_small(source: &dyn ChunkSource) -> bool {
    source.total_bytes().is_none_or(|n| n < SMALL_FILE)
}

/// Whether plain local file `i` of the plan can share chunks: its rows
/// whole (not a shard's part, nor the new rows of a file counted before),
/// at least `fewest` bytes of them, ending with a newline, so that no row
/// runs into the next file's.
fn packable(plan: &Plan, sources: &[Box<dyn ChunkSource>], i: usize, fewest: u64) -> bool {
    let object = &plan.inputs[i].object;
    let Some((rows, first_row)) = sources[i].byte_rows() else {
        return false;
    };
    let mut last = [0];
    rows.start == first_row
        && rows.end == object.len()
        && rows.end - rows.start >= fewest.max(1)
        && object.read_exact_at(&mut last, rows.end - 1).is_ok()
        && last[0] == b'\n'
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

/// Small files of one `layout`, neighbours on the GPU's list, as the
/// job's file: a pack, or the file itself when it is alone (a small file
/// alone on the list may be a shard's part of it: only files that share
/// chunks must be whole, see `packable`).
fn packed(mut members: Vec<Member>, layout: Layout) -> GpuFile {
    if members.len() == 1 {
        let member = members.pop().expect("one");
        return GpuFile {
            index: member.index,
            object: member.object,
            layout,
            rows: member.rows,
            first_row: member.first_row,
            pack: None,
        };
    }
    let index = members[0].index;
    let pack = Arc::new(Pack::new(members));
    GpuFile {
        index,
        object: pack.clone(),
        layout,
        rows: 0..pack.len(),
        first_row: 0,
        pack: Some(pack),
    }
}

impl<'a, 'b: 'a> GpuWork<'a, 'b> {
    /// The job's files, in the plan's order: neighbouring small files with
    /// the same columns share chunks, as one pack.
    fn files(&self) -> Vec<GpuFile> {
        let mut files = Vec::new();
        let mut small: Vec<Member> = Vec::new();
        for &i in self.on_gpu {
            let (rows, first_row) = self.sources[i].byte_rows().expect("a plain file");
            let (layout, object) = (self.layouts[i], self.plan.inputs[i].object.clone());
            let is_small = is_small(self.sources[i].as_ref());
            if let Some(last) = small.last().map(|last| self.layouts[last.index]) {
                if !is_small || last != layout {
                    files.push(packed(std::mem::take(&mut small), last));
                }
            }
            if is_small {
                small.push(Member {
                    index: i,
                    object,
                    rows,
                    first_row,
                });
            } else {
                files.push(GpuFile {
                    index: i,
                    object,
                    layout,
                    rows,
                    first_row,
                    pack: None,
                });
            }
        }
        if let Some(last) = small.last().map(|last| self.layouts[last.index]) {
            files.push(packed(small, last));
        }
        files
    }

    /// The job to run beside the pool; none when no file is the GPU's.
    pub fn job(self) -> Option<ScanJob<'a>> {
        if self.on_gpu.is_empty() {
            return None;
        }
        let files = self.files();
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
        // Files too small to share a chunk: the CPU's threads count them.
        let tiny: u64 = (0..3)
            .map(|i| location_file(dir.path(), &format!("tiny-{i}.csv"), 100))
            .sum();
        assert!(tiny > 0);
        let (plan, sources) = opened(dir.path());
        assert_eq!(plan.inputs.len(), 3);
        assert_eq!(gpu_files(&plan, &sources, &GpuOptions::default()), Vec::<usize>::new());
        assert_eq!(gpu_bytes(&plan, &sources), 0);
        // So is a small file without a final newline: its last row would
        // run into the next file's first.
        let unended = location_file(dir.path(), "unended.csv", 20_000);
        let path = dir.path().join("unended.csv");
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 1]).unwrap();
        assert!(unended > PACKED_FILE);
        // Small files that can share chunks are the GPU's, and a large
        // one; their bytes alone are weighed.
        let small: u64 = (0..2)
            .map(|i| location_file(dir.path(), &format!("small-{i}.csv"), 20_000))
            .sum();
        let large = location_file(dir.path(), "large.csv", 120_000);
        assert!(large >= SMALL_FILE);
        let (plan, sources) = opened(dir.path());
        assert_eq!(gpu_files(&plan, &sources, &GpuOptions::default()).len(), 3);
        assert_eq!(gpu_bytes(&plan, &sources), small + large);
    }
}
