//! The completion thread: each chunk's counters back from the device, its
//! checks, its staging buffer mapped again, and its rows handed back to the
//! judges.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use super::feed::Ring;
use super::handback::{self, Task};
use super::{Counters, GpuJob, InFlight, LINE_WORD_BYTES, STATS_WORDS};
use crate::error::Result;
use crate::figures::GpuFigures;
use crate::scan::ChunkReport;

/// The completion thread: waits for each chunk of `done` in turn, checks
/// and reports what the device found, hands the blocks it gave back to the
/// judges (`tasks`), and gives the chunk's ring slot back (`free`). True
/// when it took in every chunk's counters; false when the run stopped
/// early.
pub(super) fn complete(
    job: &GpuJob<'_>,
    ring: &Ring,
    done: Receiver<InFlight>,
    free: Sender<usize>,
    tasks: SyncSender<Task>,
    figures: &Mutex<GpuFigures>,
) -> Result<bool> {
    let context = job.context;
    let shape = ring.shape;
    for chunk in done {
        if job.failing() {
            let _ = free.send(chunk.slot);
            continue;
        }
        let waited = Instant::now();
        let readback = &ring.readbacks[chunk.slot];
        let (counters, back, used) = context.read_back(
            readback,
            readback.size(),
            Some(chunk.submission.clone()),
            |bytes| {
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
                if counters.handed_back == 0 && counters.partial == 0 {
                    // Nothing came back: no bits, no line counts needed.
                    return Ok((counters, back, used));
                }
                let span = chunk.own.end - chunk.own.start;
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
                Ok((counters, back, used))
            },
        )?;
        // The chunk is done with its staging memory: mapped again for the
        // next chunk of the slot.
        context.map_for_writing(&ring.staging[chunk.slot], Some(chunk.submission.clone()))?;
        figures.lock().unwrap_or_else(|e| e.into_inner()).wait += waited.elapsed();
        if free.send(chunk.slot).is_err() {
            return Ok(false); // the feeder stopped
        }
        let Counters {
            rows,
            counted,
            blank,
            handed_back: blocks_back,
            lines,
            no_page,
            checksum,
            waited: blocks_waited,
            ..
        } = counters;
        ring.sums.device.fetch_add(checksum, Ordering::AcqRel);
        ring.tiles.next(job, &chunk)?;
        // Pages running low, or a chunk that wanted more than there were:
        // the feeder folds (and grows) before its next chunk.
        let requests = &ring.requests;
        requests.used.fetch_max(used, Ordering::Relaxed);
        if no_page > 0 {
            requests
                .grow_to
                .fetch_max(used.saturating_add(no_page), Ordering::Relaxed);
        }
        {
            let mut figures = figures.lock().unwrap_or_else(|e| e.into_inner());
            figures.rows_on_device += u64::from(counted);
            figures.blocks_reparsed += u64::from(blocks_waited);
            let span = chunk.own.end - chunk.own.start;
            if blocks_back > 0 && blocks_back == span.div_ceil(shape.block) {
                figures.chunks_on_cpu += 1;
            }
        }
        let mut device = ChunkReport {
            seq: chunk.seq,
            lines: u64::from(lines),
            span: u64::from(chunk.own.end - chunk.own.start),
            ..ChunkReport::default()
        };
        device.stats.counted = u64::from(counted);
        device.stats.blank = u64::from(blank);
        let sent = handback::hand_back(job, &chunk, back, u64::from(rows), device, &tasks)?;
        if !sent {
            return Ok(false);
        }
    }
    Ok(!job.failing())
}
