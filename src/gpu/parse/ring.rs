//! The ring of chunks in flight: the sizes every chunk shares, where each
//! part of a chunk's stats lies, and the buffers of each ring slot, fixed
//! for the run. The feeder (`feed.rs`) fills the slots, the completion
//! thread (`complete.rs`) empties them.

use super::checks::{KeySums, Tiles};
use super::clock::{DeviceClock, STAMP_BYTES};
use super::{
    GpuJob, Params, BLOCK_BYTES, CHUNK_BYTES, DATA_BUFFERS, DEVICE_MAX_LINE, LINE_WORD_BYTES,
    OVERLAP, RING, STATS_WORDS,
};
use std::sync::atomic::AtomicU32;

use super::super::{buffer, device_bins};

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
    /// Blocks a chunk may hand back in part.
    pub(super) partial_capacity: u32,
}

impl Shape {
    /// Offsets in `Stats::words` (parse.wgsl): the bits of blocks handed
    /// back whole first, then the blocks handed back in part, the line
    /// counts, the bits of blocks waiting for pages.
    pub(super) fn partial_at(&self) -> u32 {
        self.bitmap_words
    }
    pub(super) fn line_counts_at(&self) -> u32 {
        self.partial_at() + 3 * self.partial_capacity
    }
    pub(super) fn waiting_at(&self) -> u32 {
        self.line_counts_at() + self.line_words
    }
    pub(super) fn stats_bytes(&self) -> u64 {
        (STATS_WORDS as u64 + u64::from(self.waiting_at()) + u64::from(self.bitmap_words)) * 4
    }
    /// What comes back of a chunk: all before the waiting bits, and the
    /// pages in use.
    pub(super) fn readback_bytes(&self) -> u64 {
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
    /// The shader's parameters per slot: a chunk's own, so that writing
    /// the next chunk's waits for nothing the chunk before still reads.
    pub(super) params: Vec<wgpu::Buffer>,
    /// A chunk's staging memory per slot, mapped for writing while the
    /// slot is free: readers write the file straight into it, and the
    /// chunk's submission copies it to its data buffer. Persistent, so
    /// that no chunk waits for staging memory to be found and mapped
    /// (26.9 GB/s against 25.3 for wgpu's own staging on an H200).
    pub(super) staging: Vec<wgpu::Buffer>,
    pub(super) data: Vec<wgpu::Buffer>,
    pub(super) stats: Vec<wgpu::Buffer>,
    /// Each slot's readback buffer: what `Shape::readback_bytes` says,
    /// then the round's stamps where there is a clock.
    pub(super) readbacks: Vec<wgpu::Buffer>,
    /// The device's clock, where it has one.
    pub(super) clock: Option<DeviceClock>,
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
        let shape = Shape {
            chunk_bytes,
            block,
            max_line,
            bitmap_words: chunk_bytes.div_ceil(block).div_ceil(32),
            line_words: chunk_bytes.div_ceil(LINE_WORD_BYTES) + 1,
            // Every block: rows handed back cost only themselves, however
            // many blocks have one (14% unmatched ids touch most blocks).
            // Three words a block, read back with the counters: 4.7% of
            // the chunk's bytes at worst.
            partial_capacity: chunk_bytes.div_ceil(block),
        };
        use wgpu::BufferUsages as U;
        let data_capacity = (u64::from(chunk_bytes) + 1 + u64::from(OVERLAP)).next_multiple_of(4);
        let clock = DeviceClock::new(device, context.timestamp_period);
        let readback_bytes = shape.readback_bytes() + if clock.is_some() { STAMP_BYTES } else { 0 };
        Ring {
            params: (0..RING)
                .map(|_| {
                    buffer(
                        device,
                        "params",
                        std::mem::size_of::<Params>() as u64,
                        U::UNIFORM | U::COPY_DST,
                    )
                })
                .collect(),
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
                        readback_bytes,
                        U::MAP_READ | U::COPY_DST,
                    )
                })
                .collect(),
            clock,
            shape,
            requests: Requests::default(),
            sums: KeySums::default(),
            tiles: Tiles::new(job),
        }
    }
}
