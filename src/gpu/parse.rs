//! The GPU backend: raw bytes in, counts out, parsed on the device.
//!
//! Host threads read each chunk of a plain local file straight into wgpu's
//! mapped staging memory (`queue.write_buffer_with`: no copy on the host);
//! `shaders/parse.wgsl` finds the chunk's rows, parses them and counts them
//! into bins of (day in a window of days, region slot); a second pass adds
//! the chunk's bins to the run's. The CPU only fills buffers and looks at the
//! few rows the shader hands back: anything not canonical, not in the region
//! table's dense ids, or dated outside the window. Those go to the same exact
//! parser as on the CPU backend, through the same ledger, so counts, reasons,
//! rejects, `--strict` and line numbers are the CPU backend's, byte for byte.
//! A chunk whose retry list overflows is counted by the CPU instead, whole.
//!
//! Chunks are read while the GPU works on the ones before (a few in flight);
//! each one's counters and retry list come back through a small readback
//! buffer, and the bins at the end (or before they could wrap).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use wgpu::util::DeviceExt;

use super::{buffer, compute_pipeline, device_bins, grid, layout_entry, GpuContext};
use crate::date::{date_text, day_number, DateText};
use crate::error::{Error, Result};
use crate::figures::GpuFigures;
use crate::format::{Layout, MAX_LINE};
use crate::histogram::{FoldInterval, Histogram, KeySink};
use crate::input::{ChunkBuf, ChunkSource, Next, Object, RangeSource, PAD};
use crate::scan::{ChunkReport, ScanContext, Scanner};

/// Default bytes of file per chunk: large enough that the upload runs at
/// the bus's speed (16 MiB chunks reached 17.6 GB/s on an H200, 64 MiB 26).
const CHUNK_BYTES: u32 = 64 << 20;

/// Bytes read past a chunk's end to finish its last row: a row running
/// further is read by the host.
const OVERLAP: u32 = 64 << 10;

/// Bytes of a chunk each invocation owns: a few rows.
const BLOCK_BYTES: u32 = 256;

/// Rows per chunk the shader may hand back before the chunk is the CPU's.
const RETRY_CAPACITY: u32 = 1 << 16;

/// The longest row the shader parses; longer ones go back to the host
/// unscanned. It bounds the loop iterations of every invocation (its block
/// and one such row past it, walked twice): a driver may stop a shader that
/// loops too long without a word, as llvmpipe does after 65,535 iterations
/// of a group of invocations, and rows near a 33 KB row were lost so.
const DEVICE_MAX_LINE: u32 = 4 << 10;

/// The counters at the head of a chunk's stats buffer (`Stats` in
/// parse.wgsl): rows, counted, blank, retries, lines; the retry list
/// follows.
const STATS_WORDS: usize = 5;

/// Bytes each invocation of `lines` looks at (`LINES_SPAN` in parse.wgsl).
const LINES_SPAN: u64 = 256;

/// Chunks in flight: one being read, one on the GPU, one coming back.
const RING: usize = 3;

/// The most bins the window may take: 16 MiB of them, twice (the chunk's
/// and the run's) on the device. Thousands of regions over years of days
/// fit; a key space far larger (100,000 regions) gets a narrower window,
/// and its rows outside it are the CPU's.
const MAX_WINDOW_BINS: u32 = 1 << 22;

/// Days the window spans beyond the sampled dates' (half before, half
/// after): a year.
const WINDOW_MARGIN_DAYS: i64 = 366;

/// Bytes of bins read back at a time, so that host memory stays flat.
const READBACK_BYTES: u64 = 16 << 20;

/// A counted row is at least this long, newline included (`1,2019-01-01`):
/// a chunk of `n` bytes adds at most `n / 13` to any bin.
const SHORTEST_COUNTED_ROW: u64 = 13;

/// The parse shader's uniform block (`Params` in parse.wgsl).
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
    ids: u32,
    window_start: i32,
    window_days: u32,
    slots: u32,
    retry_capacity: u32,
    block: u32,
    max_line: u32,
    row_width: u32,
    _pad: u32,
}

/// The merge shader's uniform block (`MergeParams` in parse.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct MergeParams {
    bins: u32,
    retry_capacity: u32,
    row_width: u32,
    _pad: u32,
}

/// A row starts at `own_start` (the chunk holds the file's first row).
const FIRST_ROW: u32 = 1;
/// The chunk's data ends where the file does.
const FILE_END: u32 = 2;

/// The parse and merge pipelines, part of a [`GpuContext`].
pub(super) struct Pipelines {
    parse_layout: wgpu::BindGroupLayout,
    merge_layout: wgpu::BindGroupLayout,
    parse: wgpu::ComputePipeline,
    lines: wgpu::ComputePipeline,
    merge: wgpu::ComputePipeline,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Self {
        let module = device.create_shader_module(wgpu::include_wgsl!("../../shaders/parse.wgsl"));
        let storage = |read_only| wgpu::BufferBindingType::Storage { read_only };
        let parse_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("parse"),
            entries: &[
                layout_entry(0, wgpu::BufferBindingType::Uniform),
                layout_entry(1, storage(true)),
                layout_entry(2, storage(true)),
                layout_entry(3, storage(false)),
                layout_entry(4, storage(false)),
            ],
        });
        let merge_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("merge"),
            entries: &[
                layout_entry(0, wgpu::BufferBindingType::Uniform),
                layout_entry(1, storage(false)),
                layout_entry(2, storage(false)),
                layout_entry(3, storage(true)),
            ],
        });
        Pipelines {
            parse: compute_pipeline(device, &parse_layout, &module, "parse", &[]),
            lines: compute_pipeline(device, &parse_layout, &module, "lines", &[]),
            merge: compute_pipeline(device, &merge_layout, &module, "merge", &[]),
            parse_layout,
            merge_layout,
        }
    }
}

/// A plain local file the GPU counts, and the part of it this run owns.
pub struct GpuFile<'a> {
    /// Its index in the run's plan: how reports name it.
    pub index: usize,
    /// Its bytes.
    pub object: Arc<dyn Object>,
    /// Its chunks, as the CPU reads them: for a chunk the GPU gives back.
    pub source: &'a dyn ChunkSource,
    /// Its columns.
    pub layout: Layout,
    /// The bytes whose rows this run owns, after the header.
    pub rows: Range<u64>,
    /// Where the file's first row starts: just after its header.
    pub first_row: u64,
}

/// What the GPU backend tells the run as it goes.
pub enum Event {
    /// Chunk `report.seq` of the plan's file `file` is counted.
    Chunk {
        /// The file's index in the plan.
        file: usize,
        /// What was found in it.
        report: ChunkReport,
    },
    /// File `file` had `chunks` chunks.
    End {
        /// The file's index in the plan.
        file: usize,
        /// How many.
        chunks: u64,
    },
}

/// One count's use of the GPU backend: counts `files` (in order), telling
/// `events` about each chunk (it answers `false` when the run is failing),
/// and adds the counts to `histogram`'s totals.
#[allow(clippy::too_many_arguments)]
pub fn count_files(
    context: &GpuContext,
    files: &[GpuFile<'_>],
    scan: &ScanContext<'_>,
    histogram: &dyn Histogram,
    threads: usize,
    flush: FoldInterval,
    events: &mut dyn FnMut(Event) -> bool,
    abort: &AtomicBool,
) -> Result<GpuFigures> {
    let Some(first) = files.first() else {
        return Ok(GpuFigures::default());
    };
    let mut sink = histogram.sink()?;
    let mut scanner = Scanner::new(scan, first.layout);
    let window = Window::sample(first, scan, &mut scanner, context)?;
    log::info!(
        "gpu: a window of {} days from {}",
        window.days,
        String::from_utf8_lossy(&date_text(window.start).unwrap_or(*b"????-??-??"))
    );
    // No chunk larger than the largest file needs: small files, small buffers.
    let largest = files
        .iter()
        .map(|f| f.rows.end - f.rows.start)
        .max()
        .unwrap_or(0);
    let mut run = Run::new(
        context,
        scan,
        histogram,
        window,
        largest,
        threads.max(1),
        flush,
    )?;
    let result = (|| {
        for file in files {
            let chunks = file.chunk_count(run.chunk_bytes);
            for seq in 0..chunks {
                if abort.load(Ordering::Relaxed) {
                    return Ok(());
                }
                crate::cancel::check()?;
                run.submit(file, seq)?;
                if run.in_flight.len() >= RING
                    && !run.finish_oldest(files, &mut scanner, sink.as_mut(), events)?
                {
                    return Ok(());
                }
            }
            if !events(Event::End {
                file: file.index,
                chunks,
            }) {
                return Ok(());
            }
        }
        while !run.in_flight.is_empty() {
            if !run.finish_oldest(files, &mut scanner, sink.as_mut(), events)? {
                return Ok(());
            }
        }
        run.fold_bins()
    })();
    let finished = sink.finish();
    result.and(finished)?;
    let mut figures = run.figures;
    figures.open = context.opened_in;
    log::info!("gpu: {figures}");
    Ok(figures)
}

impl GpuFile<'_> {
    fn chunk_count(&self, chunk_bytes: u32) -> u64 {
        (self.rows.end - self.rows.start).div_ceil(u64::from(chunk_bytes))
    }
}

/// The window of days the shader counts: `days` days from day `start`
/// (days since 1970-01-01).
#[derive(Clone, Copy, Debug)]
struct Window {
    start: i64,
    days: u32,
}

impl Window {
    /// A window around the dates of the first file's first rows, as wide as
    /// the bins allow: the CPU scans a megabyte (which teaches the run those
    /// dates) and the window is centred on them.
    fn sample(
        first: &GpuFile<'_>,
        scan: &ScanContext<'_>,
        scanner: &mut Scanner<'_>,
        context: &GpuContext,
    ) -> Result<Window> {
        let sample_end = first.rows.end.min(first.rows.start + (1 << 20));
        let sample = RangeSource::open(
            first.object.clone(),
            1 << 20,
            Some(first.rows.start..sample_end),
        )?;
        let mut buf = ChunkBuf::default();
        if let Next::Chunk(chunk) = sample.next_chunk(&mut buf, true)? {
            let mut report = ChunkReport::default();
            scanner.scan(buf.data(), chunk.range, &mut Vec::new(), &mut report)?;
        }
        let days: Vec<i64> = scan.dates.dates().iter().map(day_number).collect();
        let (low, high) = match (days.iter().min(), days.iter().max()) {
            (Some(&low), Some(&high)) => (low, high),
            _ => (day_number(b"2000-01-01"), day_number(b"2000-01-01")),
        };
        let spread = high - low + 1;
        // As wide as the sampled dates and a margin, as far as the bins go:
        // memory follows the dates in use, not every date there could be.
        let slots = scan.keys.region_slots();
        let max_bins = MAX_WINDOW_BINS.min(device_bins(&context.limits));
        let widest = (max_bins / slots).max(1);
        let wanted = (spread + WINDOW_MARGIN_DAYS).min(i64::from(widest)) as u32;
        let days_wide = context
            .options
            .window_days
            .map_or(wanted, |d| d.clamp(1, widest));
        let start = if spread >= i64::from(days_wide) {
            low
        } else {
            low - (i64::from(days_wide) - spread) / 2
        };
        // The text of every day of the window must exist (years 0 to 9999).
        let start = start.clamp(
            day_number(b"0000-01-01"),
            day_number(b"9999-12-31") - i64::from(days_wide) + 1,
        );
        Ok(Window {
            start,
            days: days_wide,
        })
    }
}

/// Bind group entries for `buffers`, bound in order from 0.
fn entries<'a>(buffers: &[&'a wgpu::Buffer]) -> Vec<wgpu::BindGroupEntry<'a>> {
    buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect()
}

/// A chunk on its way through the GPU.
struct InFlight {
    slot: usize,
    /// Index into the files being counted.
    file: usize,
    seq: u64,
    /// Where the chunk's data starts in the file, and its length.
    data_start: u64,
    data_len: u32,
    /// The rows it owns, in the data.
    own: Range<u32>,
    first_row: bool,
    submission: wgpu::SubmissionIndex,
}

/// The GPU state of one count.
struct Run<'c> {
    context: &'c GpuContext,
    scan: &'c ScanContext<'c>,
    /// The run's totals, which the bins are added to.
    histogram: &'c dyn Histogram,
    window: Window,
    threads: usize,
    chunk_bytes: u32,
    block: u32,
    /// The longest row the shader parses, at least a block.
    max_line: u32,
    retry_capacity: u32,
    bins: u32,
    params: wgpu::Buffer,
    data: wgpu::Buffer,
    data_capacity: u64,
    ids: u32,
    total_bins: wgpu::Buffer,
    bins_readback: wgpu::Buffer,
    stats: Vec<wgpu::Buffer>,
    stats_readback: Vec<wgpu::Buffer>,
    parse_groups: Vec<wgpu::BindGroup>,
    merge_groups: Vec<wgpu::BindGroup>,
    merge_grid: (u32, u32, u32),
    in_flight: VecDeque<InFlight>,
    next_slot: usize,
    /// The most any bin can have grown since the bins were last read back.
    since_fold: u64,
    flush: FoldInterval,
    /// Where the time and bytes went.
    figures: GpuFigures,
}

impl<'c> Run<'c> {
    fn new(
        context: &'c GpuContext,
        scan: &'c ScanContext<'c>,
        histogram: &'c dyn Histogram,
        window: Window,
        largest: u64,
        threads: usize,
        flush: FoldInterval,
    ) -> Result<Run<'c>> {
        let device = &context.device;
        let options = &context.options;
        let binding = u64::from(device_bins(&context.limits)) * 4;
        let most = (binding - u64::from(OVERLAP) - 8)
            .min(u64::from(u32::MAX) / 2)
            .min(largest.max(1)) as u32;
        let chunk_bytes = options
            .chunk_bytes
            .unwrap_or(CHUNK_BYTES)
            .clamp(1, most.max(1));
        let block = options.block_bytes.unwrap_or(BLOCK_BYTES).max(1);
        let max_line = options
            .device_max_line
            .unwrap_or(DEVICE_MAX_LINE)
            .max(block);
        let retry_capacity = options.retry_capacity.unwrap_or(RETRY_CAPACITY).max(1);
        let slots = scan.keys.region_slots();
        let bins = window.days * slots;

        // The region table, dense: slot_of_id[id] for ids below `ids`.
        let mut table = Vec::new();
        for &id in scan.regions.ids() {
            if let (Ok(at), Some(slot)) = (usize::try_from(id), scan.regions.slot(id)) {
                if at < crate::regions::DENSE_IDS as usize {
                    if table.len() <= at {
                        table.resize(at + 1, u32::MAX);
                    }
                    table[at] = slot;
                }
            }
        }
        let ids = table.len() as u32;
        table.push(u32::MAX); // never empty
        let slot_of_id = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("slot of id"),
            contents: bytemuck::cast_slice(&table),
            usage: wgpu::BufferUsages::STORAGE,
        });

        let data_capacity = (u64::from(chunk_bytes) + 1 + u64::from(OVERLAP)).next_multiple_of(4);
        let new = |label, size, usage| buffer(device, label, size, usage);
        use wgpu::BufferUsages as U;
        let data = new("chunk", data_capacity, U::STORAGE | U::COPY_DST);
        let bins_size = u64::from(bins.max(1)) * 4;
        // Fresh buffers are zeroed by wgpu.
        let chunk_bins = new("chunk bins", bins_size, U::STORAGE);
        let total_bins = new("bins", bins_size, U::STORAGE | U::COPY_SRC | U::COPY_DST);
        let bins_readback = new(
            "bins readback",
            bins_size.min(READBACK_BYTES),
            U::MAP_READ | U::COPY_DST,
        );
        let params = new(
            "params",
            std::mem::size_of::<Params>() as u64,
            U::UNIFORM | U::COPY_DST,
        );
        let merge_grid = grid(u64::from(bins));
        let merge_params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("merge params"),
            contents: bytemuck::bytes_of(&MergeParams {
                bins,
                retry_capacity,
                row_width: merge_grid.2,
                _pad: 0,
            }),
            usage: U::UNIFORM,
        });
        let stats_size = (STATS_WORDS as u64 + u64::from(retry_capacity)) * 4;
        let stats: Vec<wgpu::Buffer> = (0..RING)
            .map(|_| new("stats", stats_size, U::STORAGE | U::COPY_SRC | U::COPY_DST))
            .collect();
        let stats_readback = (0..RING)
            .map(|_| new("stats readback", stats_size, U::MAP_READ | U::COPY_DST))
            .collect();
        let pipelines = &context.parse;
        let parse_groups = stats
            .iter()
            .map(|s| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("parse"),
                    layout: &pipelines.parse_layout,
                    entries: &entries(&[&params, &data, &slot_of_id, &chunk_bins, s]),
                })
            })
            .collect();
        let merge_groups = stats
            .iter()
            .map(|s| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("merge"),
                    layout: &pipelines.merge_layout,
                    entries: &entries(&[&merge_params, &chunk_bins, &total_bins, s]),
                })
            })
            .collect();
        context.check()?;
        Ok(Run {
            context,
            scan,
            histogram,
            window,
            threads,
            chunk_bytes,
            block,
            max_line,
            retry_capacity,
            bins,
            params,
            data,
            data_capacity,
            ids,
            total_bins,
            bins_readback,
            stats,
            stats_readback,
            parse_groups,
            merge_groups,
            merge_grid,
            in_flight: VecDeque::new(),
            next_slot: 0,
            since_fold: 0,
            flush,
            figures: GpuFigures::default(),
        })
    }

    /// Reads chunk `seq` of `file` into the GPU's memory and sets it going.
    fn submit(&mut self, file: &GpuFile<'_>, seq: u64) -> Result<()> {
        let start = file.rows.start + seq * u64::from(self.chunk_bytes);
        let end = (start + u64::from(self.chunk_bytes)).min(file.rows.end);
        let first_row = start == file.first_row;
        // One byte early: a row starts at `start` when that byte ends a line.
        let data_start = if first_row { start } else { start - 1 };
        let file_len = file.object.len();
        let data_end = (end + u64::from(OVERLAP)).min(file_len);
        let data_len = (data_end - data_start) as u32;
        let own = (start - data_start) as u32..(end - data_start) as u32;

        // Bins must be read back before any could wrap.
        let bound = u64::from(data_len).div_ceil(SHORTEST_COUNTED_ROW);
        if self.since_fold + bound > self.flush.every {
            self.fold_bins()?;
        }
        self.since_fold += bound;

        let started = Instant::now();
        self.upload(file, data_start, data_len)?;
        self.figures.upload += started.elapsed();
        self.figures.bytes_uploaded += u64::from(data_len);
        let span = own.end - own.start;
        let parse_grid = grid(u64::from(span.div_ceil(self.block)));
        // `lines` on grid rows of the same width (the shader's `row_width`):
        // one invocation per LINES_SPAN bytes, from a byte before `own`.
        let lines_groups = (u64::from(span) + 1).div_ceil(LINES_SPAN).div_ceil(256);
        let lines_grid = (
            parse_grid.0,
            lines_groups.div_ceil(u64::from(parse_grid.0)).max(1) as u32,
        );
        let params = Params {
            data_len,
            own_start: own.start,
            own_end: own.end,
            flags: if first_row { FIRST_ROW } else { 0 }
                | if data_end == file_len { FILE_END } else { 0 },
            columns: file.layout.columns,
            id_col: file.layout.id_col,
            date_col: file.layout.date_col,
            ids: self.ids,
            window_start: self.window.start as i32,
            window_days: self.window.days,
            slots: self.scan.keys.region_slots(),
            retry_capacity: self.retry_capacity,
            block: self.block,
            max_line: self.max_line,
            row_width: parse_grid.2,
            _pad: 0,
        };
        let context = self.context;
        context
            .queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let slot = self.next_slot;
        self.next_slot = (slot + 1) % RING;
        let mut encoder = context.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&self.stats[slot], 0, Some(STATS_WORDS as u64 * 4));
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&context.parse.parse);
            pass.set_bind_group(0, &self.parse_groups[slot], &[]);
            pass.dispatch_workgroups(parse_grid.0, parse_grid.1, 1);
        }
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&context.parse.lines);
            pass.set_bind_group(0, &self.parse_groups[slot], &[]);
            pass.dispatch_workgroups(lines_grid.0, lines_grid.1, 1);
        }
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&context.parse.merge);
            pass.set_bind_group(0, &self.merge_groups[slot], &[]);
            pass.dispatch_workgroups(self.merge_grid.0, self.merge_grid.1, 1);
        }
        let stats_size = self.stats[slot].size();
        encoder.copy_buffer_to_buffer(
            &self.stats[slot],
            0,
            &self.stats_readback[slot],
            0,
            stats_size,
        );
        let submission = context.queue.submit([encoder.finish()]);
        self.in_flight.push_back(InFlight {
            slot,
            file: file.index,
            seq,
            data_start,
            data_len,
            own,
            first_row,
            submission,
        });
        Ok(())
    }

    /// Reads `len` bytes of `file` from `start` into the GPU's chunk buffer,
    /// on every thread, straight into wgpu's staging memory.
    fn upload(&self, file: &GpuFile<'_>, start: u64, len: u32) -> Result<()> {
        let padded = u64::from(len).next_multiple_of(4).max(4);
        debug_assert!(padded <= self.data_capacity);
        let size = wgpu::BufferSize::new(padded).expect("at least 4 bytes");
        let mut view = self
            .context
            .queue
            .write_buffer_with(&self.data, 0, size)
            .ok_or_else(|| Error::Gpu("cannot stage a chunk for the GPU".into()))?;
        let whole = view.slice(..);
        let (mut rest, mut tail) = whole.split_at(len as usize);
        // The bytes past the data, up to the next word: zeros, so the shader
        // never sees what the staging memory held before.
        tail.fill(0);
        let per_thread = (len as usize).div_ceil(self.threads).max(64 << 10);
        let object = &file.object;
        // Each thread's piece of the staging memory, as (address, length):
        // the pieces themselves stay here, alive until every thread is done.
        let mut pieces = Vec::new();
        while !rest.is_empty() {
            let take = per_thread.min(rest.len());
            let (mut part, later) = rest.split_at(take);
            rest = later;
            pieces.push((part.as_raw_element_ptr().as_ptr() as usize, take, part));
        }
        std::thread::scope(|scope| -> Result<()> {
            let mut workers = Vec::new();
            let mut at = start;
            for &(address, len, _) in &pieces {
                let offset = at;
                at += len as u64;
                workers.push(scope.spawn(move || -> Result<()> {
                    // SAFETY: `address..address + len` is this thread's own
                    // piece of the mapped staging memory (the pieces do not
                    // overlap), valid for writes while `pieces` and the view
                    // live, which is past the end of this scope. It is only
                    // written, by the kernel's read into it, never read.
                    let bytes = unsafe { std::slice::from_raw_parts_mut(address as *mut u8, len) };
                    let got = object
                        .read_at(bytes, offset)
                        .map_err(|e| object.read_error(e))?;
                    if got < len {
                        return Err(object.read_error(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file shrank while it was read",
                        )));
                    }
                    Ok(())
                }));
            }
            for worker in workers {
                worker
                    .join()
                    .map_err(|_| Error::Internal("a reading thread panicked".into()))??;
            }
            Ok(())
        })?;
        drop(pieces);
        drop(view); // the copy to the GPU is queued now, for the next submit
        Ok(())
    }

    /// Waits for the oldest chunk in flight and turns what the GPU found into
    /// the chunk's report, told to `events`: the counters, and the rows
    /// handed back run through the exact parser. False when `events` says
    /// the run is failing.
    fn finish_oldest(
        &mut self,
        files: &[GpuFile<'_>],
        scanner: &mut Scanner<'_>,
        sink: &mut dyn KeySink,
        events: &mut dyn FnMut(Event) -> bool,
    ) -> Result<bool> {
        let chunk = self.in_flight.pop_front().expect("a chunk in flight");
        let file = files
            .iter()
            .find(|f| f.index == chunk.file)
            .expect("a file of this run");
        let context = self.context;
        let readback = &self.stats_readback[chunk.slot];
        let written = Some(chunk.submission.clone());
        let waited = Instant::now();
        let (counters, retries) =
            context.read_back(readback, readback.size(), written, |bytes| {
                let words: &[u32] = bytemuck::cast_slice(bytes);
                let counters: [u32; STATS_WORDS] = words[..STATS_WORDS].try_into().unwrap();
                let kept = (counters[3] as usize).min(self.retry_capacity as usize);
                Ok((counters, words[STATS_WORDS..STATS_WORDS + kept].to_vec()))
            })?;
        self.figures.wait += waited.elapsed();
        let [rows, counted, blank, handed_back, lines] = counters;
        // The rows the parse accounted for against a plain count of line
        // ends that shares nothing with it: a row lost on the device (a
        // driver that cut a shader short) fails the run, never the counts.
        if rows != lines {
            return Err(Error::Internal(format!(
                "{}: the GPU parsed {rows} rows of a chunk at byte {} that has {lines}; \
                 the device lost rows, so nothing is written",
                file.object.name(),
                chunk.data_start + u64::from(chunk.own.start)
            )));
        }
        scanner.set_layout(file.layout);
        let span = u64::from(chunk.own.end - chunk.own.start);
        if handed_back > self.retry_capacity {
            // The list overflowed and the GPU's counts of this chunk were
            // dropped: the CPU counts it, whole, reporting it in parts.
            let started = Instant::now();
            self.figures.chunks_on_cpu += 1;
            self.figures.bytes_reread += span;
            let going_on = self.on_cpu(file, &chunk, scanner, sink, events);
            self.figures.judge += started.elapsed();
            return going_on;
        }
        self.figures.rows_on_device += u64::from(counted);
        self.figures.rows_handed_back += retries.len() as u64;
        let mut report = {
            let mut report = ChunkReport {
                lines: u64::from(rows),
                ..ChunkReport::default()
            };
            report.stats.counted = u64::from(counted);
            report.stats.blank = u64::from(blank);
            if !retries.is_empty() {
                let started = Instant::now();
                self.figures.bytes_reread +=
                    self.retry(file, &chunk, retries, scanner, sink, &mut report)?;
                self.figures.judge += started.elapsed();
            }
            // Every row was judged once (unless --strict stopped the chunk
            // at a row handed back: the run ends there).
            let judged = report.stats.data_rows() + report.stats.blank;
            if judged != u64::from(rows) && !report.stopped {
                return Err(Error::Internal(format!(
                    "{}: the GPU saw {rows} rows in a chunk but {judged} were judged",
                    file.object.name()
                )));
            }
            report
        };
        report.seq = chunk.seq;
        report.span = span;
        Ok(events(Event::Chunk {
            file: file.index,
            report,
        }))
    }

    /// Runs the rows the GPU handed back through the exact parser, each on
    /// its own line of the chunk, into `report`; returns the bytes it read
    /// of the file to do so.
    fn retry(
        &self,
        file: &GpuFile<'_>,
        chunk: &InFlight,
        mut retries: Vec<u32>,
        scanner: &mut Scanner<'_>,
        sink: &mut dyn KeySink,
        report: &mut ChunkReport,
    ) -> Result<u64> {
        retries.sort_unstable();
        // The chunk's bytes again (from the page cache), for line numbers
        // and the rows' text.
        let object = &file.object;
        let mut data = vec![0u8; chunk.data_len as usize];
        let got = object
            .read_at(&mut data, chunk.data_start)
            .map_err(|e| object.read_error(e))?;
        data.truncate(got);
        let mut reread = got as u64;
        // A row's line in the chunk: the rows that start before it.
        let mut line = u64::from(chunk.first_row);
        let mut counted_to = if chunk.first_row {
            chunk.own.start
        } else {
            chunk.own.start - 1
        } as usize;
        let mut keys = Vec::new();
        let mut row = Vec::new();
        for offset in retries {
            let offset = offset as usize;
            if offset > counted_to {
                line += memchr::memchr_iter(b'\n', &data[counted_to..offset - 1]).count() as u64;
                counted_to = offset - 1;
            }
            let row_line = if chunk.first_row && offset == chunk.own.start as usize {
                0
            } else {
                line
            };
            // The row's text: to its newline, read from the file if it runs
            // past the chunk's data, but never more than a line may hold.
            row.clear();
            match memchr::memchr(b'\n', &data[offset..]) {
                Some(n) => row.extend_from_slice(&data[offset..offset + n + 1]),
                None => {
                    let at = chunk.data_start + offset as u64;
                    let want = (object.len() - at).min(MAX_LINE as u64 + 2) as usize;
                    row.resize(want, 0);
                    let got = object
                        .read_at(&mut row, at)
                        .map_err(|e| object.read_error(e))?;
                    row.truncate(got);
                    reread += got as u64;
                    if let Some(n) = memchr::memchr(b'\n', &row) {
                        row.truncate(n + 1);
                    }
                }
            }
            let len = row.len();
            row.resize(len + PAD, 0);
            let mut one = ChunkReport::default();
            scanner.scan(&row, 0..len, &mut keys, &mut one)?;
            for mut problem in one.problems {
                problem.line = row_line;
                let raw = problem.raw.clone();
                problem.raw = report.raw.len()..report.raw.len() + raw.len();
                report.raw.extend_from_slice(&one.raw[raw]);
                report.problems.push(problem);
            }
            for id in one.unmatched_ids {
                if report.unmatched_ids.len() < crate::scan::SAMPLES
                    && !report.unmatched_ids.contains(&id)
                {
                    report.unmatched_ids.push(id);
                }
            }
            report.stats.add(&one.stats);
            if one.stopped {
                report.stopped = true;
                break;
            }
        }
        sink.add(&mut keys, self.scan.keys.bins(self.scan.dates.len()))?;
        Ok(reread)
    }

    /// Counts a chunk on the CPU, as the CPU backend would have: its own
    /// rows, in pieces of the CPU's chunk size, each told to `events` as a
    /// part of the chunk's report, so that memory stays at a piece's
    /// report however many of its rows are bad. False when `events` says
    /// the run is failing.
    fn on_cpu(
        &self,
        file: &GpuFile<'_>,
        chunk: &InFlight,
        scanner: &mut Scanner<'_>,
        sink: &mut dyn KeySink,
        events: &mut dyn FnMut(Event) -> bool,
    ) -> Result<bool> {
        let range = chunk.data_start + u64::from(chunk.own.start)
            ..chunk.data_start + u64::from(chunk.own.end);
        let source = RangeSource::open(file.object.clone(), 4 << 20, Some(range))?;
        let mut buf = ChunkBuf::default();
        let mut keys = Vec::new();
        let mut next = source.next_chunk(&mut buf, true)?;
        let mut part = 0;
        loop {
            let mut report = ChunkReport {
                seq: chunk.seq,
                part,
                ..ChunkReport::default()
            };
            if let Next::Chunk(piece) = next {
                report.span = piece.span;
                scanner.scan(buf.data(), piece.range, &mut keys, &mut report)?;
                sink.add(&mut keys, self.scan.keys.bins(self.scan.dates.len()))?;
                next = if report.stopped {
                    Next::End
                } else {
                    source.next_chunk(&mut buf, true)?
                };
            }
            report.more_parts = matches!(next, Next::Chunk(_));
            let last = !report.more_parts;
            if !events(Event::Chunk {
                file: file.index,
                report,
            }) {
                return Ok(false);
            }
            if last {
                return Ok(true);
            }
            part += 1;
        }
    }

    /// Reads the bins back, adds them to the run's totals, and clears them:
    /// at the end, and before any could wrap. Chunks still in flight are
    /// in: the copy comes after them on the queue, and their reports come
    /// later from their own readback buffers.
    fn fold_bins(&mut self) -> Result<()> {
        let started = Instant::now();
        let context = self.context;
        let slots = u64::from(self.scan.keys.region_slots());
        let total = u64::from(self.bins) * 4;
        let step = self.bins_readback.size();
        let mut offset = 0;
        while offset < total {
            let size = step.min(total - offset);
            let mut encoder = context.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(&self.total_bins, offset, &self.bins_readback, 0, size);
            encoder.clear_buffer(&self.total_bins, offset, Some(size));
            context.queue.submit([encoder.finish()]);
            let first_bin = offset / 4;
            context.read_back(&self.bins_readback, size, None, |bytes| {
                let bins: &[u32] = bytemuck::cast_slice(bytes);
                // Day by day: a day's bins are one row of region slots.
                let mut at = 0usize;
                while at < bins.len() {
                    let bin = first_bin + at as u64;
                    let (day, slot) = (bin / slots, bin % slots);
                    let row_end = at + (slots - slot).min((bins.len() - at) as u64) as usize;
                    let row = &bins[at..row_end];
                    if row.iter().any(|&n| n != 0) {
                        self.add_day(day as i64, slot as u32, row)?;
                    }
                    at = row_end;
                }
                Ok(())
            })?;
            offset += size;
        }
        self.since_fold = 0;
        self.figures.readback += started.elapsed();
        Ok(())
    }

    /// Adds the bins of day `day` of the window, from region slot `slot` on,
    /// to the run's totals, under the date's index in the run's dictionary.
    fn add_day(&self, day: i64, slot: u32, bins: &[u32]) -> Result<()> {
        let text: DateText = date_text(self.window.start + day)
            .ok_or_else(|| Error::Internal("a window day past the year 9999".into()))?;
        let index = self
            .scan
            .dates
            .intern(&text)
            .map_err(|_| self.scan.too_many_dates())?;
        let key_space = self.scan.keys.bins(self.scan.dates.len());
        let base = self.scan.keys.pack(index, slot);
        self.histogram.totals().add_bins(base, bins, key_space)
    }
}
