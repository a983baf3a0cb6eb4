//! The completion thread: each chunk's counters back from the device, its
//! checks, its staging buffer mapped again, and its rows handed back to the
//! judges; or, when some of its blocks found no room for their pages, the
//! chunk back to the feeder for its next round.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use super::feed::Returned;
use super::handback::{self, Task};
use super::ring::Ring;
use super::{Counters, GpuJob, InFlight, LINE_WORD_BYTES, STATS_WORDS};
use crate::error::Result;
use crate::figures::{DeviceTime, GpuFigures};
use crate::scan::ChunkReport;

/// The completion thread: waits for each chunk of `done` in turn, checks
/// and reports what the device found, hands the blocks it gave back to the
/// judges (`tasks`), and gives the chunk's ring slot back (`free`); a
/// chunk with blocks that found no room goes back to the feeder whole
/// instead, for another round. True when it took in every chunk's
/// counters; false when the run stopped early.
pub(super) fn complete(
    job: &GpuJob<'_>,
    ring: &Ring,
    done: Receiver<InFlight>,
    free: Sender<Returned>,
    tasks: SyncSender<Task>,
    figures: &Mutex<GpuFigures>,
) -> Result<bool> {
    let context = job.context;
    let shape = ring.shape;
    for mut chunk in done {
        if job.failing() {
            let _ = free.send(Returned::Free(chunk.slot));
            continue;
        }
        let waited = Instant::now();
        let (counters, back, used, device_time) = read_back(job, ring, &chunk)?;
        if chunk.round == 0 {
            // Its bytes, whatever rounds it takes.
            ring.tiles.next(job, &chunk)?;
        }
        chunk.waiting = chunk.waiting_after(&counters);
        chunk.deferred = counters.deferred;
        chunk.first_waiting = !counters.not_first_deferred;
        // Pages running low, or a chunk that wanted more than there were:
        // the feeder folds (and grows) before its next chunk.
        let requests = &ring.requests;
        requests.used.fetch_max(used, Ordering::Relaxed);
        if counters.no_page > 0 {
            requests
                .grow_to
                .fetch_max(used.saturating_add(counters.no_page), Ordering::Relaxed);
        }
        {
            let mut figures = figures.lock().unwrap_or_else(|e| e.into_inner());
            figures.wait += waited.elapsed();
            figures.blocks_reparsed += u64::from(counters.waited);
            figures.blocks_deferred += u64::from(counters.deferred);
            if let Some(time) = device_time {
                *figures.device.get_or_insert_default() += time;
            }
        }
        if chunk.waiting > 0 {
            // Blocks that found no room: the chunk keeps its slot and its
            // staged bytes for its next round, after a fold. Its counters
            // go on adding up on the device.
            if free.send(Returned::Deferred(Box::new(chunk))).is_err() {
                return Ok(false);
            }
            continue;
        }
        // The chunk is done with its staging memory: mapped again for the
        // next chunk of the slot.
        context.map_for_writing(&ring.staging[chunk.slot], Some(chunk.submission.clone()))?;
        if free.send(Returned::Free(chunk.slot)).is_err() {
            return Ok(false); // the feeder stopped
        }
        // The sum over every round: counters add up across them.
        ring.sums
            .device
            .fetch_add(counters.checksum, Ordering::AcqRel);
        let span = chunk.params.own_end - chunk.params.own_start;
        {
            let mut figures = figures.lock().unwrap_or_else(|e| e.into_inner());
            figures.rows_on_device += u64::from(counters.counted);
            let blocks_back = counters.handed_back;
            if blocks_back > 0 && blocks_back == span.div_ceil(shape.block) {
                figures.chunks_on_cpu += 1;
            }
        }
        let mut device = ChunkReport {
            seq: chunk.seq,
            lines: u64::from(counters.lines),
            span: u64::from(span),
            ..ChunkReport::default()
        };
        device.stats.counted = u64::from(counters.counted);
        device.stats.blank = u64::from(counters.blank);
        let rows = u64::from(counters.rows);
        if let Some(pack) = &job.files[chunk.file].pack {
            // Its files' lines, before any of its reports.
            let lines = handback::pack_lines(job, &chunk, pack, &back, device.lines)?;
            pack.expect(chunk.seq, lines);
        }
        if !handback::hand_back(job, &chunk, back, rows, device, &tasks)? {
            return Ok(false);
        }
    }
    Ok(!job.failing())
}

/// Waits for chunk `chunk`'s round and reads its counters back, with the
/// pages in use and the device's time on it; and, once the chunk is done
/// (no block waits), what it handed back.
fn read_back(
    job: &GpuJob<'_>,
    ring: &Ring,
    chunk: &InFlight,
) -> Result<(Counters, handback::Back, u32, Option<DeviceTime>)> {
    let shape = ring.shape;
    let readback = &ring.readbacks[chunk.slot];
    let submission = Some(chunk.submission.clone());
    job.context
        .read_back(readback, readback.size(), submission, |bytes| {
            let (bytes, stamps) = bytes.split_at(shape.readback_bytes() as usize);
            let device_time = ring.clock.as_ref().map(|clock| clock.spans(stamps));
            let words: &[u32] = bytemuck::cast_slice(bytes);
            let counters: Counters = bytemuck::pod_read_unaligned(&bytes[..STATS_WORDS * 4]);
            let words = &words[STATS_WORDS..];
            let used = *words.last().unwrap();
            let mut back = handback::Back {
                block: shape.block,
                whole: Vec::new(),
                partial: Vec::new(),
                line_counts: Vec::new(),
            };
            let packed = job.files[chunk.file].pack.is_some();
            if chunk.waiting_after(&counters) > 0
                || (counters.handed_back == 0 && counters.partial == 0 && !packed)
            {
                // Not done, or nothing came back: no bits, no line counts
                // needed (but for a pack's, which number its files' lines).
                return Ok((counters, back, used, device_time));
            }
            let span = chunk.params.own_end - chunk.params.own_start;
            let blocks = span.div_ceil(shape.block);
            back.whole = words[..blocks.div_ceil(32) as usize].to_vec();
            let listed = counters.partial.min(shape.partial_capacity) as usize;
            let at = shape.partial_at() as usize;
            back.partial = words[at..at + 3 * listed]
                .chunks(3)
                .map(|entry| (entry[0], entry[1], entry[2]))
                .collect();
            let lines = (span + 1).div_ceil(LINE_WORD_BYTES) as usize;
            let at = shape.line_counts_at() as usize;
            back.line_counts = words[at..at + lines].to_vec();
            Ok((counters, back, used, device_time))
        })
}
