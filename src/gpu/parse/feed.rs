//! Feeding the device: the feeding thread reads each chunk straight into
//! its ring slot's mapped staging memory (`readers.rs`), folds the bins
//! when the pages will not last, and submits the chunk's passes over two
//! data buffers. The completion thread (`complete.rs`) takes each chunk
//! back, and gives its slot back, or, when some of its blocks found no room
//! for their pages, the chunk itself: the feeder then folds and submits
//! the chunk's next round, over those blocks alone. What a round puts on
//! the device (its parameters, copies and passes) is `feed/launch.rs`.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use super::pages::{IdTable, PageBins, PageShape};
use super::readers::{Pending, Readers};
use super::ring::Ring;
use super::sizing::sample_pairs;
use super::zone::ZoneTable;
use super::{
    padded, GpuJob, InFlight, DATA_BUFFERS, FILE_END, FIRST_ROW, GIVE_UP, MAX_BLOCK_KEYS, OVERLAP,
    REDO, RING, SHORTEST_COUNTED_ROW,
};
use crate::error::{Error, Result};
use crate::figures::GpuFigures;
use crate::gpu::Fault;

use super::super::bind_group;

mod launch;

/// What the completion thread hands the feeder back.
pub(super) enum Returned {
    /// A ring slot, free for the next chunk.
    Free(usize),
    /// A chunk with blocks that found no room for their pages: it keeps
    /// its slot (its staging memory still holds its bytes) for its next
    /// round, after a fold. (Boxed: a chunk's parameters are large, and
    /// slots come back far more often.)
    Deferred(Box<InFlight>),
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
    /// Chunks submitted so far, and the chunk (by that count) whose bytes
    /// each data buffer holds.
    serial: u64,
    in_data: [Option<u64>; DATA_BUFFERS],
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
            serial: 0,
            in_data: [None; DATA_BUFFERS],
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
                    &ring.params[slot],
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

    /// Feeds every chunk of every file, and every round of a chunk that
    /// found no room, until every ring slot is back: the completion thread
    /// takes the chunks from `chunks`, and hands back slots and deferred
    /// chunks on `returned`, which starts with every slot. Chunks are read
    /// ahead into every free slot, so the readers go on with the next
    /// chunks while one is submitted. True when every chunk was fed; false
    /// when the run stopped early (it failed, or `--strict` stopped it).
    pub(super) fn feed_all(
        &mut self,
        chunks: &SyncSender<InFlight>,
        returned: &Receiver<Returned>,
    ) -> Result<bool> {
        let job = self.job;
        let chunk_bytes = self.ring.shape.chunk_bytes;
        let order: Vec<(usize, u64)> = job
            .files
            .iter()
            .enumerate()
            .flat_map(|(at, file)| (0..file.chunk_count(chunk_bytes)).map(move |seq| (at, seq)))
            .filter(|&(_, seq)| {
                // A test's fault: the second chunk of each file is never fed.
                !(seq == 1 && job.context.options.fault() == Some(Fault::DroppedChunk))
            })
            .collect();
        let mut staged = VecDeque::new();
        let mut next = order.iter().copied().peekable();
        let mut ended = 0;
        loop {
            if job.failing() {
                return Ok(false);
            }
            job.cancel.check()?;
            // Start reading into every slot free now, and the next chunk
            // at least, waiting for a slot if none is staged.
            while let Some(&(at, seq)) = next.peek() {
                let slot = if staged.is_empty() {
                    match self.next_free(chunks, returned)? {
                        Some(slot) => slot,
                        None => return Ok(false), // the completion thread stopped: it says why
                    }
                } else {
                    match self.free_now(chunks, returned)? {
                        Some(slot) => slot,
                        None => break,
                    }
                };
                staged.push_back(self.stage(at, seq, slot)?);
                next.next();
            }
            let Some(chunk) = staged.pop_front() else {
                break; // every chunk fed
            };
            // Every file before this one is fed whole.
            if !self.end_files(chunk.at, &mut ended) {
                return Ok(false);
            }
            let chunk = self.submit(chunk)?;
            if chunks.send(chunk).is_err() {
                return Ok(false);
            }
        }
        if !self.end_files(job.files.len(), &mut ended) {
            return Ok(false);
        }
        // The chunks in flight may still come back for another round: each
        // slot was taken once for each chunk fed, and every one comes back.
        for _ in 0..RING {
            if self.next_free(chunks, returned)?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Tells the run how many chunks each file before `upto` had, from
    /// file `*ended` on. False when the run is failing.
    fn end_files(&self, upto: usize, ended: &mut usize) -> bool {
        let job = self.job;
        while *ended < upto {
            let chunks = job.files[*ended].chunk_count(self.ring.shape.chunk_bytes);
            if !job.end(*ended, chunks) {
                return false;
            }
            *ended += 1;
        }
        true
    }

    /// The next free ring slot; a deferred chunk that comes back meanwhile
    /// is set going again. `None` when the completion thread stopped.
    fn next_free(
        &mut self,
        chunks: &SyncSender<InFlight>,
        returned: &Receiver<Returned>,
    ) -> Result<Option<usize>> {
        loop {
            let waiting = Instant::now();
            let Ok(news) = returned.recv() else {
                return Ok(None);
            };
            self.figures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .feeder_wait += waiting.elapsed();
            if let Some(slot) = self.take(news, chunks)? {
                return Ok(Some(slot));
            }
        }
    }

    /// A ring slot free now, if any, without waiting; a deferred chunk
    /// back meanwhile is set going again.
    fn free_now(
        &mut self,
        chunks: &SyncSender<InFlight>,
        returned: &Receiver<Returned>,
    ) -> Result<Option<usize>> {
        while let Ok(news) = returned.try_recv() {
            if let Some(slot) = self.take(news, chunks)? {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    /// A free slot, or a deferred chunk set going again (`None`).
    fn take(&mut self, news: Returned, chunks: &SyncSender<InFlight>) -> Result<Option<usize>> {
        match news {
            Returned::Free(slot) => Ok(Some(slot)),
            Returned::Deferred(chunk) => {
                let chunk = self.again(*chunk)?;
                // A closed channel: the completion thread stopped, and says
                // why; the next wait for a slot sees it.
                let _ = chunks.send(chunk);
                Ok(None)
            }
        }
    }

    /// Folds the bins into the run's totals (and grows them if asked).
    pub(super) fn fold(&mut self) -> Result<()> {
        let started = Instant::now();
        let job = self.job;
        let (sum, pages) = self
            .pages
            .fold(job.context, job.scan, job.histogram, job.threads)?;
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

    /// Folds first if the bins could wrap with `bytes` more of rows in
    /// them, or if `fold` says so; then counts those bytes against the next
    /// fold.
    fn fold_before(&mut self, bytes: u64, fold: bool) -> Result<()> {
        let bound = bytes.div_ceil(SHORTEST_COUNTED_ROW);
        if fold || self.since_fold + bound > self.job.flush.every {
            self.fold()?;
        }
        self.since_fold += bound;
        Ok(())
    }

    /// Starts reading chunk `seq` of file `at` into ring slot `slot`'s
    /// staging memory.
    fn stage(&mut self, at: usize, seq: u64, slot: usize) -> Result<Staged> {
        let job = self.job;
        let file = &job.files[at];
        let chunk_bytes = u64::from(self.ring.shape.chunk_bytes);
        let mut start = file.rows.start + seq * chunk_bytes;
        if seq > 0 && job.context.options.fault() == Some(Fault::Overlap) {
            start -= 1; // a test's fault: a byte of the chunk before
        }
        let end = (start + chunk_bytes).min(file.rows.end);
        let first_row = start == file.first_row;
        // One byte early: a row starts at `start` when that byte ends a line.
        let data_start = if first_row { start } else { start - 1 };
        let file_len = file.object.len();
        let data_end = (end + u64::from(OVERLAP)).min(file_len);
        let data_len = (data_end - data_start) as u32;
        let padded = padded(data_len);
        let mut view = self.ring.staging[slot]
            .get_mapped_range_mut(..padded)
            .map_err(|e| Error::Gpu(format!("cannot stage a chunk for the GPU: {e}")))?;
        let read = {
            let whole = view.slice(..);
            let (mut bytes, mut tail) = whole.split_at(data_len as usize);
            // The bytes past the data, up to the next word: zeros, so the
            // shader never sees what the staging memory held before.
            tail.fill(0);
            self.readers.start(&file.object, data_start, &mut bytes)?
        };
        Ok(Staged {
            at,
            seq,
            slot,
            data_start,
            own: (start - data_start) as u32..(end - data_start) as u32,
            first_row,
            file_end: data_end == file_len,
            data_len,
            read: Some(read),
            view: Some(view),
        })
    }

    /// Waits for staged chunk `staged`'s bytes and sets it going in its
    /// ring slot.
    fn submit(&mut self, mut staged: Staged) -> Result<InFlight> {
        let waiting = Instant::now();
        staged.finish_read()?;
        self.ring.staging[staged.slot].unmap();
        {
            let mut figures = self.figures.lock().unwrap_or_else(|e| e.into_inner());
            figures.upload += waiting.elapsed();
            figures.bytes_uploaded += u64::from(staged.data_len);
            figures.chunks += 1;
        }
        // Bins must be read back before any could wrap, and pages freed
        // when they run low.
        let low = self.pages_run_low();
        self.fold_before(u64::from(staged.data_len), low)?;
        let file = &self.job.files[staged.at];
        let mut params = self.params(file, staged.data_len, staged.own.clone());
        params.flags = if staged.first_row { FIRST_ROW } else { 0 }
            | if staged.file_end { FILE_END } else { 0 };
        self.serial += 1;
        let serial = self.serial;
        let submission = self.launch(serial, staged.slot, &mut params);
        Ok(InFlight {
            slot: staged.slot,
            file: staged.at,
            seq: staged.seq,
            data_start: staged.data_start,
            params,
            serial,
            round: 0,
            waiting: 0,
            deferred: 0,
            first_waiting: 0,
            window: None,
            submission,
        })
    }

    /// Sets chunk `chunk`'s next round going, over its blocks that found no
    /// room, right after a fold: the round meets empty pages, whatever
    /// other chunks in flight use. (A round without a fold could meet pages
    /// that the rounds of other deferred chunks and new chunks took, round
    /// after round.)
    ///
    /// A round that met empty pages and still left blocks waiting says that
    /// the chunk's (day, region group) pairs outnumber the pages, or that
    /// the pages went to a few rows of many blocks, none of which could
    /// count. From then on each of its rounds takes a window of blocks,
    /// from its first block still waiting: one that fits, as the last one
    /// did, is followed by one half as large again; one that did not, by
    /// one half its size, from its first block that did not fit, down to a
    /// window so small that its pages fit whatever its rows, which counts
    /// every block in it. A bound on the rounds (a table whose probes ran
    /// out, say) hands what is left to the host in a last round.
    fn again(&mut self, mut chunk: InFlight) -> Result<InFlight> {
        let shape = self.ring.shape;
        let blocks = (chunk.params.own_end - chunk.params.own_start).div_ceil(shape.block);
        self.fold_before(padded(chunk.params.data_len), true)?;
        let room = self.pages.shape.pages;
        // Blocks whose pages fit the pages whatever their rows.
        let sure = (room / MAX_BLOCK_KEYS).max(1);
        let window = match chunk.window.clone() {
            None if chunk.round == 0 => 0..blocks,
            // The first window: as if a block wanted 8 pages.
            None => chunk.first_waiting..chunk.first_waiting + (room / 8).max(sure),
            Some(last) if chunk.deferred > 0 => {
                let len = ((last.end - last.start) / 2).max(sure);
                chunk.first_waiting..chunk.first_waiting + len
            }
            Some(last) => {
                let len = (last.end - last.start).saturating_mul(3) / 2;
                last.end..last.end.saturating_add(len.min(room))
            }
        };
        let window = if window.start >= blocks {
            0..window.end - window.start // round again, from the start
        } else {
            window
        };
        let window = window.start..window.end.min(blocks);
        chunk.round += 1;
        chunk.params.flags |= REDO;
        let most_rounds = 8 + 2 * blocks.div_ceil(sure);
        if chunk.round > most_rounds {
            chunk.params.flags |= GIVE_UP;
            chunk.window = None;
            (chunk.params.window_start, chunk.params.window_end) = (0, blocks);
        } else {
            if chunk.round > 1 {
                chunk.window = Some(window.clone());
            }
            (chunk.params.window_start, chunk.params.window_end) = (window.start, window.end);
        }
        chunk.submission = self.launch(chunk.serial, chunk.slot, &mut chunk.params);
        Ok(chunk)
    }
}

/// A chunk being read into its ring slot's staging memory, not submitted
/// yet.
struct Staged {
    at: usize,
    seq: u64,
    slot: usize,
    data_start: u64,
    own: Range<u32>,
    first_row: bool,
    /// Its data ends where the file does.
    file_end: bool,
    data_len: u32,
    /// The read, until it is waited for.
    read: Option<Pending>,
    /// The staging memory it is read into, mapped until then.
    view: Option<wgpu::BufferViewMut>,
}

impl Staged {
    /// Waits for its bytes, and lets its view go: the staging buffer may
    /// then be unmapped.
    fn finish_read(&mut self) -> Result<()> {
        let result = self.read.take().map_or(Ok(()), |mut read| read.wait());
        self.view = None;
        result
    }
}

impl Drop for Staged {
    /// A chunk dropped unsubmitted (the run stopped) still waits for its
    /// readers: they write into its staging memory until then.
    fn drop(&mut self) {
        let _ = self.finish_read();
    }
}
