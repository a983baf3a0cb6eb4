//! Feeding the device: the ring of chunks in flight and its sizes, and the
//! feeding thread, which reads each chunk straight into a mapped staging
//! buffer (`readers.rs`), folds the bins when the pages will not last, and
//! submits the chunk's passes over two data buffers. The completion thread
//! (`complete.rs`) takes each chunk back.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use super::checks::{KeySums, Tiles};
use super::pages::{IdTable, PageBins, PageShape, MOST_WANTED};
use super::readers::Readers;
use super::zone::ZoneTable;
use super::{
    GpuJob, InFlight, Params, BLOCK_BYTES, CHUNK_BYTES, DATA_BUFFERS, DEVICE_MAX_LINE, FILE_END,
    FIRST_ROW, LINE_WORD_BYTES, OVERLAP, RING, SHORTEST_COUNTED_ROW, STATS_WORDS,
};
use crate::date::day_number;
use crate::error::{Error, Result};
use crate::figures::GpuFigures;
use crate::gpu::Fault;
use crate::input::{ChunkBuf, ChunkSource, Next, RangeSource};
use crate::scan::{ChunkReport, ScanEvent, Scanner};

use super::super::{bind_group, buffer, device_bins, grid};

/// Invocations of `assign` (`ASSIGN_INVOCATIONS` in parse.wgsl).
const ASSIGN_INVOCATIONS: u32 = 4096;

/// Bytes of the first file the CPU scans to size the pages.
const SAMPLE_BYTES: u64 = 1 << 20;

/// The sizes every chunk shares, and where each part of its stats lies.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shape {
    pub(super) chunk_bytes: u32,
    pub(super) block: u32,
    pub(super) max_line: u32,
    /// Words of a bitmap with a bit per block.
    pub(super) bitmap_words: u32,
    /// Words of line counts, one per `LINE_WORD_BYTES`.
    pub(super) line_words: u32,
    /// Pairs a chunk may put on its wanted list.
    pub(super) wanted_capacity: u32,
    /// Blocks a chunk may hand back in part.
    pub(super) partial_capacity: u32,
}

impl Shape {
    /// Offsets in `Stats::words` (parse.wgsl): the bits of blocks handed
    /// back whole first, then the blocks handed back in part, the line
    /// counts, the bits of blocks waiting for pages, the wanted list.
    pub(super) fn partial_at(&self) -> u32 {
        self.bitmap_words
    }
    pub(super) fn line_counts_at(&self) -> u32 {
        self.partial_at() + 3 * self.partial_capacity
    }
    fn waiting_at(&self) -> u32 {
        self.line_counts_at() + self.line_words
    }
    fn wanted_at(&self) -> u32 {
        self.waiting_at() + self.bitmap_words
    }
    fn stats_bytes(&self) -> u64 {
        (STATS_WORDS as u64 + u64::from(self.wanted_at()) + u64::from(self.wanted_capacity)) * 4
    }
    /// What comes back of a chunk: all before the waiting bits, and the
    /// pages in use.
    fn readback_bytes(&self) -> u64 {
        (STATS_WORDS as u64 + u64::from(self.waiting_at()) + 1) * 4
    }
}

/// What the completion thread tells the feeder of the pages, which decides
/// when to fold (and grow) them.
#[derive(Default)]
pub(super) struct Requests {
    /// The most pages a chunk found in use since the last fold.
    pub(super) used: AtomicU32,
    /// The pages a chunk wanted, at least, when there were too few.
    pub(super) grow_to: AtomicU32,
}

/// The buffers of the chunks in flight, which the feeder and the
/// completion thread share: fixed for the run.
pub(super) struct Ring {
    pub(super) shape: Shape,
    pub(super) params: wgpu::Buffer,
    /// A chunk's staging memory per slot, mapped for writing while the
    /// slot is free: readers write the file straight into it, and the
    /// chunk's submission copies it to its data buffer. Persistent, so
    /// that no chunk waits for staging memory to be found and mapped
    /// (26.9 GB/s against 25.3 for wgpu's own staging on an H200).
    pub(super) staging: Vec<wgpu::Buffer>,
    pub(super) data: Vec<wgpu::Buffer>,
    pub(super) stats: Vec<wgpu::Buffer>,
    pub(super) readbacks: Vec<wgpu::Buffer>,
    pub(super) requests: Requests,
    /// The key checksums of the chunks and the folds.
    pub(super) sums: KeySums,
    /// Where each file's chunks have reached.
    pub(super) tiles: Tiles,
}
impl Ring {
    pub(super) fn new(job: &GpuJob<'_>) -> Ring {
        let context = job.context;
        let device = &context.device;
        let options = &context.options;
        // No chunk larger than the largest file needs: small files, small
        // buffers.
        let largest = job
            .files
            .iter()
            .map(|f| f.rows.end - f.rows.start)
            .max()
            .unwrap_or(0);
        let binding = u64::from(device_bins(&context.limits)) * 4;
        let most = (binding - u64::from(OVERLAP) - 8)
            .min(u64::from(u32::MAX) / 2)
            .min(largest.max(1)) as u32;
        let chunk_bytes = options
            .chunk_bytes
            .unwrap_or(CHUNK_BYTES)
            .clamp(1, most.max(1));
        let block = options
            .block_bytes
            .unwrap_or(BLOCK_BYTES)
            .clamp(1, BLOCK_BYTES);
        let max_line = options
            .device_max_line
            .unwrap_or(DEVICE_MAX_LINE)
            .max(block);
        let most_pages = PageShape::new(context, job.scan.keys.region_slots(), 0, None).most_pages;
        let shape = Shape {
            chunk_bytes,
            block,
            max_line,
            bitmap_words: chunk_bytes.div_ceil(block).div_ceil(32),
            line_words: chunk_bytes.div_ceil(LINE_WORD_BYTES) + 1,
            wanted_capacity: most_pages.min(MOST_WANTED),
            // Every block: rows handed back cost only themselves, however
            // many blocks have one (14% unmatched ids touch most blocks).
            // Three words a block, read back with the counters: 4.7% of
            // the chunk's bytes at worst.
            partial_capacity: chunk_bytes.div_ceil(block),
        };
        use wgpu::BufferUsages as U;
        let data_capacity = (u64::from(chunk_bytes) + 1 + u64::from(OVERLAP)).next_multiple_of(4);
        Ring {
            params: buffer(
                device,
                "params",
                std::mem::size_of::<Params>() as u64,
                U::UNIFORM | U::COPY_DST,
            ),
            staging: (0..RING)
                .map(|_| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("chunk staging"),
                        size: data_capacity,
                        usage: U::MAP_WRITE | U::COPY_SRC,
                        mapped_at_creation: true,
                    })
                })
                .collect(),
            data: (0..DATA_BUFFERS)
                .map(|_| buffer(device, "chunk", data_capacity, U::STORAGE | U::COPY_DST))
                .collect(),
            stats: (0..RING)
                .map(|_| {
                    buffer(
                        device,
                        "stats",
                        shape.stats_bytes(),
                        U::STORAGE | U::COPY_SRC | U::COPY_DST,
                    )
                })
                .collect(),
            readbacks: (0..RING)
                .map(|_| {
                    buffer(
                        device,
                        "stats readback",
                        shape.readback_bytes(),
                        U::MAP_READ | U::COPY_DST,
                    )
                })
                .collect(),
            shape,
            requests: Requests::default(),
            sums: KeySums::default(),
            tiles: Tiles::new(job),
        }
    }
}

/// The feeding thread's state: the device's tables, the bind groups, the
/// readers.
pub(super) struct Feeder<'a> {
    job: &'a GpuJob<'a>,
    ring: &'a Ring,
    figures: &'a Mutex<GpuFigures>,
    ids: IdTable,
    zone: ZoneTable,
    pages: PageBins,
    bind_groups: Vec<wgpu::BindGroup>,
    readers: Readers,
    /// The most any bin can have grown since the bins were last folded.
    since_fold: u64,
    /// The (day, region group) pairs a chunk is expected to want pages
    /// for, from the sample.
    pairs_per_chunk: u64,
}

impl<'a> Feeder<'a> {
    pub(super) fn new<'scope>(
        job: &'a GpuJob<'a>,
        ring: &'a Ring,
        figures: &'a Mutex<GpuFigures>,
        scope: &'scope std::thread::Scope<'scope, '_>,
    ) -> Result<Feeder<'a>>
    where
        'a: 'scope,
    {
        let context = job.context;
        let sampled = sample_pairs(job, ring.shape.chunk_bytes)?;
        let shape = PageShape::new(
            context,
            job.scan.keys.region_slots(),
            sampled,
            context.options.max_pages,
        );
        log::info!(
            "gpu: bins for {} pages of {} region slots (at most {})",
            shape.pages,
            shape.page_slots,
            shape.most_pages
        );
        let zone = ZoneTable::new(&job.scan.times.zone);
        let ids = IdTable::new(&context.device, job.scan.regions, &zone);
        let pages = PageBins::new(context, shape);
        let mut feeder = Feeder {
            job,
            ring,
            figures,
            ids,
            zone,
            pages,
            bind_groups: Vec::new(),
            readers: Readers::new(scope, job.threads.max(1), figures)?,
            since_fold: 0,
            pairs_per_chunk: sampled,
        };
        feeder.bind();
        context.check()?;
        Ok(feeder)
    }

    /// Bind groups for every slot of the ring, over the current pages.
    fn bind(&mut self) {
        let ring = self.ring;
        let device = &self.job.context.device;
        let layout = &self.job.context.parse().layout;
        self.bind_groups = (0..RING)
            .map(|slot| {
                let buffers = [
                    &ring.params,
                    &ring.data[slot % DATA_BUFFERS],
                    &self.ids.buffer,
                    &self.pages.bins,
                    &ring.stats[slot],
                    &self.pages.table,
                    &self.pages.pages,
                ];
                bind_group(device, layout, "parse", &buffers)
            })
            .collect();
    }

    /// Feeds every chunk of every file, then waits for none: the completion
    /// thread takes them from `chunks`, and gives their ring slots back on
    /// `free`. True when every chunk was fed; false when the run stopped
    /// early (it failed, or `--strict` stopped it).
    pub(super) fn feed_all(
        &mut self,
        chunks: &SyncSender<InFlight>,
        free: &Receiver<usize>,
    ) -> Result<bool> {
        let job = self.job;
        for (at, file) in job.files.iter().enumerate() {
            let count = file.chunk_count(self.ring.shape.chunk_bytes);
            for seq in 0..count {
                if job.failing() {
                    return Ok(false);
                }
                job.cancel.check()?;
                if seq == 1 && job.context.options.fault == Some(Fault::DroppedChunk) {
                    continue; // a test's fault
                }
                let waiting = Instant::now();
                let Ok(slot) = free.recv() else {
                    return Ok(false); // the completion thread stopped: it says why
                };
                self.figures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .feeder_wait += waiting.elapsed();
                let chunk = self.submit(at, seq, slot)?;
                if chunks.send(chunk).is_err() {
                    return Ok(false);
                }
            }
            if !(job.events)(ScanEvent::End {
                file: file.index,
                chunks: count,
            }) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Folds the bins into the run's totals (and grows them if asked).
    pub(super) fn fold(&mut self) -> Result<()> {
        let started = Instant::now();
        let job = self.job;
        let (sum, pages) = self.pages.fold(job.context, job.scan, job.histogram)?;
        self.ring.sums.folded.fetch_add(sum, Ordering::AcqRel);
        self.since_fold = 0;
        self.ring.requests.used.store(0, Ordering::Relaxed);
        let wanted = self.ring.requests.grow_to.swap(0, Ordering::Relaxed);
        if wanted > self.pages.shape.pages {
            let mut shape = self.pages.shape;
            if shape.pages < shape.most_pages {
                // Room for what the chunk wanted, twice over: one step.
                shape.pages = wanted
                    .saturating_mul(2)
                    .max(shape.pages.saturating_mul(2))
                    .min(shape.most_pages);
                log::info!("gpu: the bins grow to {} pages", shape.pages);
                self.pages = PageBins::new(job.context, shape);
                self.bind();
                job.context.check()?;
            }
        }
        let mut figures = self.figures.lock().unwrap_or_else(|e| e.into_inner());
        figures.readback += started.elapsed();
        figures.folds += 1;
        figures.pages_read_back += pages;
        Ok(())
    }

    /// Whether a chunk wanted more pages than there were, or the free
    /// pages are fewer than the chunks that may be in flight after this
    /// one are expected to want (the sample's estimate). A fold drains the
    /// queue and reads the bins back, so it waits until it is needed: the
    /// pages in use alone (many regions use most of them) are no reason.
    fn pages_run_low(&self) -> bool {
        let requests = &self.ring.requests;
        let used = requests.used.load(Ordering::Relaxed);
        let free = self.pages.shape.pages.saturating_sub(used);
        requests.grow_to.load(Ordering::Relaxed) > 0
            || (used > 0 && u64::from(free) < self.pairs_per_chunk * RING as u64)
    }

    /// Reads chunk `seq` of file `at` into the device's memory and sets it
    /// going in ring slot `slot`.
    fn submit(&mut self, at: usize, seq: u64, slot: usize) -> Result<InFlight> {
        let job = self.job;
        let file = &job.files[at];
        let shape = self.ring.shape;
        let mut start = file.rows.start + seq * u64::from(shape.chunk_bytes);
        if seq > 0 && job.context.options.fault == Some(Fault::Overlap) {
            start -= 1; // a test's fault: a byte of the chunk before
        }
        let end = (start + u64::from(shape.chunk_bytes)).min(file.rows.end);
        let first_row = start == file.first_row;
        // One byte early: a row starts at `start` when that byte ends a line.
        let data_start = if first_row { start } else { start - 1 };
        let file_len = file.object.len();
        let data_end = (end + u64::from(OVERLAP)).min(file_len);
        let data_len = (data_end - data_start) as u32;
        let own = (start - data_start) as u32..(end - data_start) as u32;

        // Bins must be read back before any could wrap, and pages freed
        // when they run low.
        let bound = u64::from(data_len).div_ceil(SHORTEST_COUNTED_ROW);
        if self.since_fold + bound > job.flush.every || self.pages_run_low() {
            self.fold()?;
        }
        self.since_fold += bound;

        let context = job.context;
        let started = Instant::now();
        let data = &self.ring.data[slot % DATA_BUFFERS];
        let staging = &self.ring.staging[slot];
        let padded = u64::from(data_len).next_multiple_of(4).max(4);
        {
            let mut view = staging
                .get_mapped_range_mut(..padded)
                .map_err(|e| Error::Gpu(format!("cannot stage a chunk for the GPU: {e}")))?;
            let whole = view.slice(..);
            let (mut bytes, mut tail) = whole.split_at(data_len as usize);
            // The bytes past the data, up to the next word: zeros, so the
            // shader never sees what the staging memory held before.
            tail.fill(0);
            self.readers.read(&file.object, data_start, &mut bytes)?;
        }
        staging.unmap();
        {
            let mut figures = self.figures.lock().unwrap_or_else(|e| e.into_inner());
            figures.upload += started.elapsed();
            figures.bytes_uploaded += u64::from(data_len);
        }

        let span = own.end - own.start;
        let parse_grid = grid(u64::from(span.div_ceil(shape.block)));
        // `lines` on grid rows of the same width (the shader's
        // `row_width`): one invocation per 256 bytes, from a byte before
        // `own`.
        let lines_groups = (u64::from(span) + 1).div_ceil(256).div_ceil(256);
        let lines_grid = (
            parse_grid.0,
            lines_groups.div_ceil(u64::from(parse_grid.0)).max(1) as u32,
        );
        let pages = self.pages.shape;
        let places = pages.places();
        let params = Params {
            data_len,
            own_start: own.start,
            own_end: own.end,
            flags: if first_row { FIRST_ROW } else { 0 }
                | if data_end == file_len { FILE_END } else { 0 },
            columns: file.layout.columns,
            id_col: file.layout.id_col,
            date_col: file.layout.date_col,
            id_mask: self.ids.mask,
            id_shift: self.ids.shift,
            id_probes: self.ids.probes,
            day_zero: day_number(b"0000-01-01") as i32,
            page_slots: pages.page_slots,
            groups: pages.groups,
            pages: pages.pages,
            table_mask: places - 1,
            table_shift: 32 - places.trailing_zeros(),
            block: shape.block,
            max_line: shape.max_line,
            row_width: parse_grid.2,
            line_counts_at: shape.line_counts_at(),
            waiting_at: shape.waiting_at(),
            wanted_at: shape.wanted_at(),
            wanted_capacity: shape.wanted_capacity,
            partial_at: shape.partial_at(),
            partial_capacity: shape.partial_capacity,
            lose_block: context.options.lose_block.unwrap_or(u32::MAX),
            fault: match context.options.fault {
                Some(fault @ (Fault::OtherSlot | Fault::DayLate | Fault::DroppedKey)) => {
                    fault as u32
                }
                _ => 0,
            },
            delimiter: u32::from(file.layout.delimiter),
            zone_first: self.zone.first_day,
            zone_days: self.zone.days(),
            zone_at: self.ids.zone_at,
            zone_offset: self.zone.fixed,
        };
        context
            .queue
            .write_buffer(&self.ring.params, 0, bytemuck::bytes_of(&params));
        let stats = &self.ring.stats[slot];
        let pipelines = context.parse();
        let mut encoder = context.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(staging, 0, data, 0, padded);
        let counted_words = STATS_WORDS as u64 + u64::from(shape.bitmap_words);
        encoder.clear_buffer(stats, 0, Some(counted_words * 4));
        encoder.clear_buffer(
            stats,
            (STATS_WORDS as u64 + u64::from(shape.waiting_at())) * 4,
            Some(u64::from(shape.bitmap_words) * 4),
        );
        let passes = [
            (&pipelines.parse, (parse_grid.0, parse_grid.1)),
            (&pipelines.assign, (ASSIGN_INVOCATIONS / 256, 1)),
            (&pipelines.reparse, (parse_grid.0, parse_grid.1)),
            (&pipelines.lines, lines_grid),
        ];
        for (pipeline, (x, y)) in passes {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &self.bind_groups[slot], &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        let readback = &self.ring.readbacks[slot];
        let read = shape.readback_bytes() - 4;
        encoder.copy_buffer_to_buffer(stats, 0, readback, 0, read);
        encoder.copy_buffer_to_buffer(&self.pages.pages, 0, readback, read, 4);
        let submission = context.queue.submit([encoder.finish()]);
        Ok(InFlight {
            slot,
            file: at,
            seq,
            data_start,
            own,
            first_row,
            submission,
        })
    }
}

/// How many (day, region group) pairs a chunk of `chunk_bytes` may want
/// pages for, from a sample of the first file scanned on the CPU (which
/// also teaches the run its dates): the sample's pairs, and as many more
/// as the rest of a chunk's rows would add at the rate the sample's rows
/// brought new ones. Sparse pairs (many regions) ask for many pages, dense
/// ones (a few regions, pairs that repeat) for few.
fn sample_pairs(job: &GpuJob<'_>, chunk_bytes: u32) -> Result<u64> {
    let first = &job.files[0];
    let scan = job.scan;
    let sample_end = first.rows.end.min(first.rows.start + SAMPLE_BYTES);
    let sample = RangeSource::open(
        first.object.clone(),
        SAMPLE_BYTES as usize,
        Some(first.rows.start..sample_end),
        // A file without a header row (no header to know again) has its
        // first row at byte 0, where `rows` may start.
        first.layout.header.is_some(),
    )?;
    let mut buf = ChunkBuf::default();
    let mut keys = Vec::new();
    let mut report = ChunkReport::default();
    if let Next::Chunk(chunk) = sample.next_chunk(&mut buf, true)? {
        let mut scanner = Scanner::new(scan, first.layout);
        scanner.scan(buf.data(), chunk.range, &mut keys, &mut report)?;
    }
    let slots = scan.keys.region_slots();
    let page_slots = PageShape::page_slots(slots);
    let mut pairs: Vec<(u32, u32)> = keys
        .iter()
        .map(|&key| {
            let (date, slot) = scan.keys.unpack(key);
            (date, slot / page_slots)
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let sampled = (sample_end - first.rows.start).max(1) as f64;
    let rows = keys.len() as f64;
    let chunk_rows = rows * f64::from(chunk_bytes) / sampled;
    Ok(expected_pairs(pairs.len() as f64, rows, chunk_rows) as u64)
}

/// The distinct pairs `chunk_rows` rows hold, where `rows` rows held
/// `found`: as if each row drew one of `k` pairs alike, `k` being what
/// makes `rows` draws find `found` (found = k (1 - e^(-rows / k))).
fn expected_pairs(found: f64, rows: f64, chunk_rows: f64) -> f64 {
    if found >= rows {
        return chunk_rows.max(found); // no pair seen twice: as many as rows
    }
    let draws = |k: f64| k * (1.0 - (-rows / k).exp());
    // `draws` grows with k: halve the interval until it finds `found`.
    let (mut low, mut high) = (found, found * 2.0);
    while draws(high) < found {
        high *= 2.0;
    }
    for _ in 0..64 {
        let k = (low + high) / 2.0;
        if draws(k) < found {
            low = k;
        } else {
            high = k;
        }
    }
    let k = high;
    (k * (1.0 - (-chunk_rows / k).exp())).max(found)
}

#[cfg(test)]
mod tests {
    use super::expected_pairs;

    #[test]
    fn pairs_expected_in_a_chunk_follow_the_sample() {
        // 53 regions over four years (77,433 pairs), 24,000 rows sampled.
        let k = 77_433.0_f64;
        let found = k * (1.0 - (-24_000.0 / k).exp());
        let chunk = expected_pairs(found, 24_000.0, 1.5e6);
        assert!((chunk - k).abs() < k * 0.01, "{chunk}");
        // One day of a date-sorted file: 53 pairs, seen again and again.
        assert!(expected_pairs(53.0, 24_000.0, 1.5e6) < 60.0);
        // Every row a new pair: as many as the chunk has rows.
        assert_eq!(expected_pairs(100.0, 100.0, 5_000.0), 5_000.0);
        // Nothing sampled.
        assert_eq!(expected_pairs(0.0, 0.0, 5_000.0), 5_000.0);
    }
}
