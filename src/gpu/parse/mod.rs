//! The GPU backend: raw bytes in, counts out, parsed on the device.
//!
//! Host threads read each chunk of a plain local file straight into wgpu's
//! mapped staging memory (`feed.rs`); `shaders/parse.wgsl` finds the chunk's
//! rows, parses them and counts them into bins of (day, region), kept in
//! pages that are handed out as days appear (`pages.rs`). The CPU only fills
//! buffers and looks at the few rows the shader hands back:
//! anything not canonical or not in the region table (`handback.rs`). Those
//! rows go to the same exact parser as on the CPU backend, on their own
//! threads, through the same ledger, so counts, reasons, rejects, `--strict`
//! and line numbers are the CPU backend's, byte for byte.
//!
//! Three kinds of thread share the work, so that reading never waits for
//! the device: the feeding thread (this one) reads chunks and submits them,
//! a ring of them in flight; the completion thread waits for each chunk's
//! counters and hands its blocks to the judging threads, which run the
//! exact parser and tell the ledger.
//!
//! The files, in the order a chunk passes them: `ring.rs` (the slots of
//! chunks in flight, their buffers and sizes), `sizing.rs` (the pages a
//! chunk is expected to want, from a sample), `readers.rs` (reading into
//! staging memory), `feed.rs` (folding, submitting, and a chunk's next
//! round when its blocks found no room), `pages.rs` (the device's tables
//! and the fold; `zone.rs`, the time zone's), `clock.rs` (the device's
//! own time on each round, where it has a clock), `complete.rs` (a chunk's
//! counters back), `handback.rs` (the rows handed back, judged),
//! `pack.rs` (small files that share chunks, and their reports split back
//! among them) and `checks.rs` (the key checksums and the chunks' tiling,
//! which must hold at the end).

mod checks;
mod clock;
mod complete;
mod feed;
mod handback;
mod pack;
mod pages;
mod readers;
mod ring;
mod sizing;
mod zone;

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::{compute_pipeline, layout_entry, GpuContext};
use crate::error::{Error, Result};
use crate::figures::GpuFigures;
use crate::format::Layout;
use crate::histogram::{FoldInterval, Histogram};
use crate::input::Object;
use crate::scan::{ChunkReport, ScanContext, ScanEvent};

pub(in crate::gpu) use pack::{Member, Pack};

/// Default bytes of file per chunk: large enough that the upload runs at
/// the bus's speed (16 MiB chunks reached 17.6 GB/s on an H200, 64 MiB 26).
const CHUNK_BYTES: u32 = 64 << 20;

/// Bytes read past a chunk's end to finish its last row: a row running
/// further sends its block back to the host.
const OVERLAP: u32 = 64 << 10;

/// Bytes of a chunk each invocation owns: a few rows. At most 256, for the
/// shader keeps a block's keys (`MAX_BLOCK_KEYS`) until the block is judged.
const BLOCK_BYTES: u32 = 256;

/// The most rows of a block the shader counts (`MAX_BLOCK_KEYS` in
/// parse.wgsl): so a block wants at most this many pages.
const MAX_BLOCK_KEYS: u32 = 32;

/// The longest row the shader parses; longer ones send their block back
/// unscanned. It bounds the loop iterations of every invocation (its block
/// and one such row past it): a driver may stop a shader that loops too
/// long without a word, as llvmpipe does after 65,535 iterations of a group
/// of invocations, and rows near a 33 KB row were lost so.
const DEVICE_MAX_LINE: u32 = 4 << 10;

/// The counters at the head of a chunk's stats (`Stats` in parse.wgsl,
/// before its `words`; see there what each means). A test checks that the
/// shader's layout is this one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Counters {
    rows: u32,
    counted: u32,
    blank: u32,
    handed_back: u32,
    lines: u32,
    no_page: u32,
    partial: u32,
    checksum: u32,
    waited: u32,
    deferred: u32,
    taken: u32,
    not_first_deferred: u32,
}

/// Words of [`Counters`].
const STATS_WORDS: usize = std::mem::size_of::<Counters>() / 4;

/// Bytes of a chunk one word of its line counts covers (`LINES_SPAN` times
/// `LINES_PER_WORD` in parse.wgsl).
const LINE_WORD_BYTES: u32 = 1024;

/// Chunks in flight: read, copied, parsed, read back. Even, for chunk `n`
/// uses data buffer `n % DATA_BUFFERS`.
const RING: usize = 4;

/// Device buffers for chunk data: two, so that a chunk's next round after
/// a fold finds its bytes there still when one chunk came between. (They
/// do not make a copy overlap the passes before it: on wgpu's one queue
/// the barrier between a copy and a compute pass waits for every earlier
/// command of the other kind, whatever buffer it used. Where the staging
/// buffers are in the device's own memory, as gpu-allocator puts mapped
/// buffers where a resizable BAR allows, that copy is a fast one within
/// the GPU: the bytes crossed PCIe as the readers wrote them.)
const DATA_BUFFERS: usize = 2;

/// A counted row is at least this long, newline included (`1,2019-01-01`):
/// a chunk of `n` bytes adds at most `n / 13` to any bin.
const SHORTEST_COUNTED_ROW: u64 = 13;

/// The parse shader's uniform block (`Params` in parse.wgsl). A test
/// checks that the shader's layout is this one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    data_len: u32,
    own_start: u32,
    own_end: u32,
    flags: u32,
    columns: u32,
    id_col: u32,
    date_col: u32,
    id_mask: u32,
    id_shift: u32,
    id_probes: u32,
    day_zero: i32,
    page_slots: u32,
    groups: u32,
    pages: u32,
    table_mask: u32,
    table_shift: u32,
    block: u32,
    max_line: u32,
    row_width: u32,
    line_counts_at: u32,
    waiting_at: u32,
    partial_at: u32,
    partial_capacity: u32,
    lose_block: u32,
    fault: u32,
    delimiter: u32,
    zone_first: i32,
    zone_days: u32,
    zone_at: u32,
    zone_offset: i32,
    window_start: u32,
    window_end: u32,
}

/// A row starts at `own_start` (the chunk holds the file's first row).
const FIRST_ROW: u32 = 1;
/// The chunk's data ends where the file does.
const FILE_END: u32 = 2;
/// The chunk again, after a fold, over its blocks that found no room.
const REDO: u32 = 4;
/// Rows that find no room are handed back: a chunk's last round.
const GIVE_UP: u32 = 8;

/// The parse pipelines, part of a [`GpuContext`]: one layout, three passes.
pub(super) struct Pipelines {
    layout: wgpu::BindGroupLayout,
    parse: wgpu::ComputePipeline,
    reparse: wgpu::ComputePipeline,
    lines: wgpu::ComputePipeline,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Self {
        let module =
            device.create_shader_module(wgpu::include_wgsl!("../../../shaders/parse.wgsl"));
        let storage = |read_only| wgpu::BufferBindingType::Storage { read_only };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("parse"),
            entries: &[
                layout_entry(0, wgpu::BufferBindingType::Uniform),
                layout_entry(1, storage(true)),
                layout_entry(2, storage(true)),
                layout_entry(3, storage(false)),
                layout_entry(4, storage(false)),
                layout_entry(5, storage(false)),
                layout_entry(6, storage(false)),
            ],
        });
        let pipeline = |entry| compute_pipeline(device, &layout, &module, entry, &[]);
        Pipelines {
            parse: pipeline("parse"),
            reparse: pipeline("reparse"),
            lines: pipeline("lines"),
            layout,
        }
    }
}

/// A chunk on its way through the device.
struct InFlight {
    slot: usize,
    /// Index into the job's files.
    file: usize,
    seq: u64,
    /// Where the chunk's data starts in the file.
    data_start: u64,
    /// The shader's parameters for it (the pages' shape aside, which a
    /// fold may change before its next round): the rows it owns, its
    /// flags, its bytes.
    params: Params,
    /// Which chunk it is, in the order they were submitted.
    serial: u64,
    /// Its rounds before this one: each after a fold, over the blocks that
    /// found no room in the round before (`REDO` in parse.wgsl).
    round: u32,
    /// Its blocks still waiting for room after this round, those this
    /// round deferred, and the first of them (set by the completion
    /// thread).
    waiting: u32,
    deferred: u32,
    first_waiting: u32,
    /// The blocks this round took, once its rounds take a window of
    /// them at a time (`Feeder::again`).
    window: Option<Range<u32>>,
    submission: wgpu::SubmissionIndex,
}

impl InFlight {
    /// The rows it owns, in the data.
    fn own(&self) -> Range<u32> {
        self.params.own_start..self.params.own_end
    }

    /// Whether a row starts at its first byte (the file's first row).
    fn first_row(&self) -> bool {
        self.params.flags & FIRST_ROW != 0
    }

    /// Its blocks still waiting for room after the round whose counters
    /// are `counters`: those it took off the waiting bitmap (in its
    /// window) are done, those it deferred wait again. (A count off here
    /// leaves rows uncounted, which the row check then fails.)
    fn waiting_after(&self, counters: &Counters) -> u32 {
        self.waiting.saturating_sub(counters.taken) + counters.deferred
    }
}

/// Bytes copied from a chunk's staging memory to its data buffer: its
/// `data_len` bytes, padded to a word.
fn padded(data_len: u32) -> u64 {
    u64::from(data_len).next_multiple_of(4).max(4)
}

/// A plain local file the GPU counts, and the part of it this run owns.
pub struct GpuFile {
    /// Its index in the run's plan: how reports name it.
    pub index: usize,
    /// Its bytes.
    pub object: Arc<dyn Object>,
    /// Its columns.
    pub layout: Layout,
    /// The bytes whose rows this run owns, after the header.
    pub rows: Range<u64>,
    /// Where the file's first row starts: just after its header (at its
    /// start, for a file without one).
    pub first_row: u64,
    /// Where it is a pack of small files (its `object`), the pack, which
    /// splits its reports among them; `index` is then its first file's.
    pub pack: Option<Arc<Pack>>,
}

impl GpuFile {
    fn chunk_count(&self, chunk_bytes: u32) -> u64 {
        (self.rows.end - self.rows.start).div_ceil(u64::from(chunk_bytes))
    }

    /// Whether its first line is a header (not for a pack, whose bytes are
    /// rows alone).
    fn has_header(&self) -> bool {
        self.pack.is_none() && self.layout.header.is_some()
    }
}

/// One count's use of the GPU backend.
pub struct GpuJob<'a> {
    /// The device.
    pub context: &'a GpuContext,
    /// The files, counted in this order.
    pub files: &'a [GpuFile],
    /// What the scanning threads share: regions, dates, keys, policy.
    pub scan: &'a ScanContext<'a>,
    /// The run's totals, which the bins and the judged rows' keys go to.
    pub histogram: &'a dyn Histogram,
    /// Threads to read chunks and to judge the rows handed back.
    pub threads: usize,
    /// When bins must be folded before they could wrap.
    pub flush: FoldInterval,
    /// Told of every part of every chunk, from any thread; answers `false`
    /// when the run is failing.
    pub events: &'a (dyn Fn(ScanEvent) -> bool + Sync),
    /// Set once any part of the run has failed.
    pub abort: &'a AtomicBool,
    /// The count's token: feeding stops once a stop is asked for.
    pub cancel: &'a crate::cancel::CancelToken,
}

impl GpuJob<'_> {
    fn failing(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    fn fail(&self) {
        self.abort.store(true, Ordering::Relaxed);
    }

    /// Tells the run of a chunk's report (or a part of it) of file `at`
    /// of the job: a pack's go to its files. False when the run is
    /// failing.
    fn report(&self, at: usize, report: ChunkReport) -> Result<bool> {
        let file = &self.files[at];
        match &file.pack {
            Some(pack) => pack.report(report, self.events),
            None => Ok((self.events)(ScanEvent::Chunk {
                file: file.index,
                report,
            })),
        }
    }

    /// Tells the run that file `at` of the job has `chunks` chunks in
    /// all: a pack's files are told as their last chunks are split. False
    /// when the run is failing.
    fn end(&self, at: usize, chunks: u64) -> bool {
        let file = &self.files[at];
        file.pack.is_some()
            || (self.events)(ScanEvent::End {
                file: file.index,
                chunks,
            })
    }
}

/// Counts `job.files` (in order) on the device, adding the counts to
/// `job.histogram`'s totals; returns where the time and bytes went.
pub fn count_files(job: &GpuJob<'_>) -> Result<GpuFigures> {
    if job.files.is_empty() {
        return Ok(GpuFigures::default());
    }
    // The pipelines are built the first time the backend counts (on a
    // thread of their own since the engine was chosen, where it was
    // chosen by name or by `auto`): the wait for them is part of opening
    // the device.
    let started = std::time::Instant::now();
    job.context.parse();
    let figures = Mutex::new(GpuFigures {
        open: job.context.opened_in + started.elapsed(),
        files_packed: (job.files.iter())
            .filter_map(|file| file.pack.as_ref())
            .map(|pack| pack.files() as u64)
            .sum(),
        ..GpuFigures::default()
    });
    let threads = job.threads.max(1);
    let ring = ring::Ring::new(job);
    let (tasks, task_queue) = mpsc::sync_channel::<handback::Task>(threads * 2);
    let task_queue = Mutex::new(task_queue);
    let result = std::thread::scope(|scope| -> Result<()> {
        let mut feeder = feed::Feeder::new(job, &ring, &figures, scope)?;
        let (chunks, done) = mpsc::sync_channel::<InFlight>(RING);
        let (free, returned) = mpsc::channel::<feed::Returned>();
        for slot in 0..RING {
            free.send(feed::Returned::Free(slot))
                .expect("the receiver is here");
        }
        let mut judges = Vec::new();
        for i in 0..threads {
            let (task_queue, figures) = (&task_queue, &figures);
            judges.push(spawn(scope, format!("gpu-judge-{i}"), move || {
                handback::judge_tasks(job, task_queue, figures).inspect_err(|_| job.fail())
            })?);
        }
        let completion = {
            let (ring, figures) = (&ring, &figures);
            spawn(scope, "gpu-complete".into(), move || {
                complete::complete(job, ring, done, free, tasks, figures)
                    .inspect_err(|_| job.fail())
            })?
        };
        let fed = feeder.feed_all(&chunks, &returned);
        if fed.is_err() {
            job.fail();
        }
        drop(chunks);
        let completed = completion
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the GPU completion thread panicked".into())));
        // Every chunk is in: the bins hold the rest of the counts.
        let folded = match (&fed, &completed) {
            (Ok(all_fed), Ok(all_done)) if !job.failing() => feeder.fold().and_then(|()| {
                // The sums and ranges are whole only when every chunk was
                // fed and taken in: a run that `--strict` stopped holds
                // chunks whose counters nobody read.
                if *all_fed && *all_done {
                    ring.sums.check()?;
                    ring.tiles.check_all(job)?;
                }
                Ok(())
            }),
            _ => Ok(()),
        };
        drop(feeder); // its readers end
        let mut judged = Ok(());
        for judge in judges {
            let joined = judge
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("a judging thread panicked".into())));
            judged = judged.and(joined);
        }
        // A device error explains the others best; then the judges' (a
        // file that cannot be read), then the feeder's.
        completed
            .map(|_| ())
            .and(judged)
            .and(fed.map(|_| ()))
            .and(folded)
    });
    let figures = figures.into_inner().unwrap_or_else(|e| e.into_inner());
    result?;
    log::info!("gpu: {figures}");
    Ok(figures)
}

/// Starts a named thread in `scope`.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: String,
    work: impl FnOnce() -> Result<T> + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, Result<T>>> {
    std::thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, work)
        .map_err(|e| Error::Internal(format!("cannot start a thread: {e}")))
}

#[cfg(test)]
mod tests {
    use super::checks::key_check;
    use super::{Counters, Params};
    use std::mem::offset_of;
    use wgpu::naga;

    /// The members of struct `name` in parse.wgsl, with their offsets.
    fn wgsl_layout(name: &str) -> Vec<(String, u32)> {
        let module = naga::front::wgsl::parse_str(include_str!("../../../shaders/parse.wgsl"))
            .expect("parse.wgsl parses");
        let mut layouter = naga::proc::Layouter::default();
        layouter
            .update(module.to_ctx())
            .expect("parse.wgsl lays out");
        for (_, ty) in module.types.iter() {
            if ty.name.as_deref() != Some(name) {
                continue;
            }
            let naga::TypeInner::Struct { members, .. } = &ty.inner else {
                panic!("{name} is not a struct");
            };
            return members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect();
        }
        panic!("no struct {name} in parse.wgsl")
    }

    macro_rules! layout {
        ($ty:ty { $($field:ident),* $(,)? }) => {
            vec![$((stringify!($field).to_string(), offset_of!($ty, $field) as u32)),*]
        };
    }

    /// The host's mirrors of the shader's structs: same names, same order,
    /// same offsets (`Stats` then goes on with its words).
    #[test]
    fn the_host_mirrors_have_the_shaders_layout() {
        let params = layout!(Params {
            data_len,
            own_start,
            own_end,
            flags,
            columns,
            id_col,
            date_col,
            id_mask,
            id_shift,
            id_probes,
            day_zero,
            page_slots,
            groups,
            pages,
            table_mask,
            table_shift,
            block,
            max_line,
            row_width,
            line_counts_at,
            waiting_at,
            partial_at,
            partial_capacity,
            lose_block,
            fault,
            delimiter,
            zone_first,
            zone_days,
            zone_at,
            zone_offset,
            window_start,
            window_end,
        });
        assert_eq!(wgsl_layout("Params"), params);
        assert_eq!(std::mem::size_of::<Params>(), params.len() * 4);
        let counters = layout!(Counters {
            rows,
            counted,
            blank,
            handed_back,
            lines,
            no_page,
            partial,
            checksum,
            waited,
            deferred,
            taken,
            not_first_deferred,
        });
        assert_eq!(std::mem::size_of::<Counters>(), counters.len() * 4);
        let mut stats = wgsl_layout("Stats");
        assert_eq!(
            stats.pop(),
            Some(("words".into(), counters.len() as u32 * 4))
        );
        assert_eq!(stats, counters);
    }

    /// The constants the host and the shader share have one value: the
    /// host's, which the shader's must equal.
    #[test]
    fn the_host_and_the_shader_share_their_constants() {
        use super::{
            FILE_END, FIRST_ROW, GIVE_UP, LINE_WORD_BYTES, MAX_BLOCK_KEYS, REDO,
        };
        let module = naga::front::wgsl::parse_str(include_str!("../../../shaders/parse.wgsl"))
            .expect("parse.wgsl parses");
        let value = |name: &str| -> u32 {
            let (_, constant) = module
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no const {name} in parse.wgsl"));
            match module.global_expressions[constant.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                ref other => panic!("{name} is {other:?}"),
            }
        };
        for (name, host) in [
            ("FIRST_ROW", FIRST_ROW),
            ("FILE_END", FILE_END),
            ("REDO", REDO),
            ("GIVE_UP", GIVE_UP),
            ("MAX_BLOCK_KEYS", MAX_BLOCK_KEYS),
            ("LINES_WORD_BYTES", LINE_WORD_BYTES),
        ] {
            assert_eq!(value(name), host, "{name}");
        }
        assert_eq!(
            value("LINES_SPAN") * value("LINES_PER_WORD"),
            LINE_WORD_BYTES
        );
    }

    /// The key check mixes its inputs: neighbouring keys differ.
    #[test]
    fn key_checks_of_neighbouring_keys_differ() {
        let base = key_check(738_000, 5);
        assert_ne!(base, key_check(738_001, 5));
        assert_ne!(base, key_check(738_000, 6));
        assert_ne!(key_check(1, 0), key_check(0, 1));
    }
}
