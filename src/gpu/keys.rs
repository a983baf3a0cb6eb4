//! The GPU histogram of the CPU's keys (the design card's path):
//! `shaders/histogram.wgsl` counts the keys with atomics.
//!
//! Set-up ([`GpuContext`]: device, pipelines) is separate from a count
//! ([`GpuHistogram`]), so that tests can reuse one device for many runs.
//!
//! A count runs one GPU thread that owns all GPU state. Scanning threads
//! send it their keys per chunk; it packs them into one of a ring of key
//! buffers (so that the upload of one batch overlaps the dispatch of the one
//! before) and dispatches when a buffer is full, with at most a few
//! submissions in flight. Bins are `u32` on the GPU; before any could wrap,
//! and whenever the bins must grow, they are copied back, added to the
//! run's totals and cleared.
//!
//! The bins are dense, one per possible key, so they serve key spaces up to
//! [`MAX_BINS`] (or the device's binding size): the usual regions times
//! years of days, many times over. A larger key space (100,000 regions
//! times thousands of dates, mostly empty) is no job for dense bins: its
//! keys are counted on the host, in the totals whose memory follows the
//! groups that occur (`-v` says so).

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytemuck::Zeroable;
use wgpu::util::DeviceExt;

use super::{buffer, compute_pipeline, device_bins, layout_entry, GpuContext, GpuOptions};
use crate::error::{Error, Result};
use crate::histogram::{FoldInterval, Histogram, KeySink, KeyTotals};

/// Keys per GPU key buffer: large enough that a dispatch does real work,
/// small enough that the ring stays a few tens of MiB.
pub const DEFAULT_BATCH_KEYS: usize = 2 << 20;

/// Key buffers in the ring, and so also submissions in flight.
const RING: usize = 3;

const WORKGROUP_SIZE: u32 = 256;

/// The shader's uniform block (`Params` in histogram.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    key_count: u32,
    bin_count: u32,
    _pad: [u32; 2],
}

/// The most bins counted on the GPU: 64 MiB of them, and as much again to
/// read them back through, which on a discrete GPU is host memory.
pub const MAX_BINS: u32 = 1 << 24;

/// The keys histogram's pipelines and limits, part of a
/// [`GpuContext`](super::GpuContext).
pub(super) struct Pipelines {
    layout: wgpu::BindGroupLayout,
    count_global: wgpu::ComputePipeline,
    count_private: wgpu::ComputePipeline,
    /// Bins that fit in one workgroup's memory.
    private_bins: u32,
    /// Most bins counted on the GPU: [`MAX_BINS`], or less where one
    /// storage binding holds fewer.
    max_bins: u32,
    /// The most keys one dispatch reads.
    max_keys: u32,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device, limits: &wgpu::Limits, options: &GpuOptions) -> Self {
        let module =
            device.create_shader_module(wgpu::include_wgsl!("../../shaders/histogram.wgsl"));
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("histogram"),
            entries: &[
                layout_entry(0, wgpu::BufferBindingType::Uniform),
                layout_entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
                layout_entry(2, wgpu::BufferBindingType::Storage { read_only: false }),
            ],
        });
        // A quarter of workgroup memory per bin, capped so that clearing and
        // adding the private bins stays cheap next to the keys a group reads.
        let private_bins = (limits.max_compute_workgroup_storage_size / 4).clamp(1, 16 * 1024);
        let constants = [("PRIVATE_BINS", f64::from(private_bins))];
        let pipeline = |entry: &str| compute_pipeline(device, &layout, &module, entry, &constants);
        let device_bins = device_bins(limits);
        Pipelines {
            count_global: pipeline("count_global"),
            count_private: pipeline("count_private"),
            layout,
            private_bins: options
                .private_bins
                .map_or(private_bins, |p| p.min(private_bins)),
            max_bins: options.max_bins.unwrap_or(MAX_BINS).clamp(1, device_bins),
            max_keys: options
                .max_keys
                .unwrap_or(DEFAULT_BATCH_KEYS as u32)
                .clamp(1, device_bins),
        }
    }
}

impl GpuContext {
    /// Records one counting pass of `len` keys into `count` bins: private
    /// bins in workgroup memory when they fit, else global atomics.
    fn encode_count(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        bind_group: &wgpu::BindGroup,
        len: u32,
        count: u32,
    ) {
        let private = count <= self.keys().private_bins;
        // Keys per workgroup: enough that clearing and adding private bins
        // is small next to the counting, and a few keys per invocation.
        let per_group = if private {
            (WORKGROUP_SIZE * 32).max(count.saturating_mul(16))
        } else {
            WORKGROUP_SIZE * 8
        };
        let groups = len.div_ceil(per_group).clamp(1, 65_535);
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(if private {
            &self.keys().count_private
        } else {
            &self.keys().count_global
        });
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(groups, 1, 1);
    }

    /// The shader alone, for benchmarks: uploads `keys` (all below `bins`)
    /// once, counts them `repeats` times, and returns the time of one pass
    /// and the bins of the first, so that callers can check them. Only for
    /// `benches/histogram.rs` (the `testing` feature).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn time_shader(
        &self,
        keys: &[u32],
        bins: u32,
        repeats: u32,
    ) -> Result<(std::time::Duration, Vec<u32>)> {
        let len = (keys.len() as u32).min(self.keys().max_keys);
        let bins = bins.min(self.keys().max_bins).max(1);
        let device = &self.device;
        let key_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("bench keys"),
            contents: bytemuck::cast_slice(&keys[..len as usize]),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("bench params"),
            contents: bytemuck::bytes_of(&Params {
                key_count: len,
                bin_count: bins,
                _pad: [0; 2],
            }),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let size = u64::from(bins) * 4;
        use wgpu::BufferUsages as U;
        let bin_buffer = buffer(device, "bench bins", size, U::STORAGE | U::COPY_SRC);
        let readback = buffer(device, "bench readback", size, U::MAP_READ | U::COPY_DST);
        let group = bind_group(self, &params, &key_buffer, &bin_buffer);
        // One pass first, read back for checking; it also warms up.
        let mut encoder = device.create_command_encoder(&Default::default());
        self.encode_count(&mut encoder, &group, len, bins);
        encoder.copy_buffer_to_buffer(&bin_buffer, 0, &readback, 0, size);
        let index = self.queue.submit([encoder.finish()]);
        let first: Vec<u32> = self.read_back(&readback, size, Some(index), |bytes| {
            Ok(bytemuck::cast_slice(bytes).to_vec())
        })?;

        let started = std::time::Instant::now();
        let mut encoder = device.create_command_encoder(&Default::default());
        for _ in 0..repeats {
            self.encode_count(&mut encoder, &group, len, bins);
        }
        let index = self.queue.submit([encoder.finish()]);
        self.wait(Some(index))?;
        Ok((started.elapsed() / repeats.max(1), first))
    }
}

/// A keys batch on its way to the GPU thread, and the bins its keys need.
struct Batch {
    keys: Vec<u32>,
    bins: u64,
}

/// One count on the GPU.
pub struct GpuHistogram {
    sender: Mutex<Option<SyncSender<Batch>>>,
    /// Emptied key vectors coming back from the GPU thread, for reuse.
    spares: Arc<Mutex<Receiver<Vec<u32>>>>,
    thread: Option<JoinHandle<Result<()>>>,
    /// The run's totals: the GPU thread adds its bins, and sinks the keys
    /// of a key space too large for the GPU's bins.
    counts: Arc<KeyTotals>,
    max_bins: u32,
}

impl GpuHistogram {
    /// Starts the GPU thread of one count.
    pub fn new(context: Arc<GpuContext>, flush: FoldInterval) -> Result<GpuHistogram> {
        // Two batches queued per direction is enough to keep the GPU thread
        // busy while bounding memory.
        let (sender, batches) = mpsc::sync_channel::<Batch>(2);
        let (spare_sender, spares) = mpsc::channel::<Vec<u32>>();
        let counts = Arc::new(KeyTotals::default());
        let max_bins = context.keys().max_bins;
        let counter = Counter::new(context, flush, counts.clone());
        let thread = std::thread::Builder::new()
            .name("gpu".into())
            .spawn(move || counter.run(batches, spare_sender))
            .map_err(|e| Error::Gpu(format!("cannot start the GPU thread: {e}")))?;
        Ok(GpuHistogram {
            sender: Mutex::new(Some(sender)),
            spares: Arc::new(Mutex::new(spares)),
            thread: Some(thread),
            counts,
            max_bins,
        })
    }
}

impl Histogram for GpuHistogram {
    fn sink(&self) -> Result<Box<dyn KeySink + '_>> {
        let sender = self
            .sender
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| Error::Gpu("count already finished".into()))?;
        Ok(Box::new(GpuSink {
            sender,
            spares: self.spares.clone(),
            counts: &self.counts,
            max_bins: self.max_bins,
            on_host: false,
            scratch: Vec::new(),
        }))
    }

    fn totals(&self) -> &KeyTotals {
        &self.counts
    }

    fn finish(mut self: Box<Self>) -> Result<KeyTotals> {
        self.sender.lock().unwrap().take();
        let thread = self.thread.take().expect("finish is called once");
        thread
            .join()
            .map_err(|_| Error::Gpu("the GPU thread panicked".into()))??;
        Arc::try_unwrap(self.counts)
            .map_err(|_| Error::Internal("the GPU histogram's totals are still shared".into()))
    }
}

struct GpuSink<'h> {
    sender: SyncSender<Batch>,
    spares: Arc<Mutex<Receiver<Vec<u32>>>>,
    counts: &'h KeyTotals,
    max_bins: u32,
    /// The key space outgrew the GPU's bins: keys are counted on the host.
    on_host: bool,
    scratch: Vec<u32>,
}

impl KeySink for GpuSink<'_> {
    fn add(&mut self, keys: &mut Vec<u32>, bins: u64) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        if bins > u64::from(self.max_bins) {
            if !self.on_host {
                log::info!(
                    "the key space ({bins} bins) outgrew the GPU's {} bins: counting on the host",
                    self.max_bins
                );
                self.on_host = true;
            }
            self.counts.add_keys(keys, bins, &mut self.scratch)?;
            keys.clear();
            return Ok(());
        }
        let spare = self.spares.lock().unwrap().try_recv().unwrap_or_default();
        let batch = Batch {
            keys: std::mem::replace(keys, spare),
            bins,
        };
        self.sender
            .send(batch)
            // The GPU thread only hangs up after an error, which `finish`
            // reports; this one just stops the scan.
            .map_err(|_| Error::Gpu("the GPU thread stopped".into()))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// The bins on the device and the buffer they are read back through.
struct Bins {
    bins: wgpu::Buffer,
    readback: wgpu::Buffer,
    capacity: u32,
}

/// One buffer of the key ring.
struct Slot {
    keys: wgpu::Buffer,
    params: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    len: u32,
    bins: u64,
}

/// All GPU state of one count; lives on the GPU thread.
struct Counter {
    context: Arc<GpuContext>,
    flush: FoldInterval,
    counts: Arc<KeyTotals>,
    bins: Option<Bins>,
    ring: Vec<Slot>,
    current: usize,
    in_flight: VecDeque<wgpu::SubmissionIndex>,
    /// Keys staged or dispatched since the bins were last read back.
    since_flush: u64,
    /// Bins the dispatched keys may have touched since then.
    dirty_bins: u64,
}

impl Counter {
    fn new(context: Arc<GpuContext>, flush: FoldInterval, counts: Arc<KeyTotals>) -> Counter {
        Counter {
            context,
            flush,
            counts,
            bins: None,
            ring: Vec::new(),
            current: 0,
            in_flight: VecDeque::new(),
            since_flush: 0,
            dirty_bins: 0,
        }
    }

    fn run(mut self, batches: Receiver<Batch>, spares: mpsc::Sender<Vec<u32>>) -> Result<()> {
        for mut batch in batches {
            self.add(&batch.keys, batch.bins)?;
            batch.keys.clear();
            // A scanning thread may have finished already; then drop it.
            let _ = spares.send(batch.keys);
        }
        self.read_back()?;
        self.context.check()
    }

    /// Stages `keys` into the ring, dispatching and reading back as needed.
    fn add(&mut self, mut keys: &[u32], bins: u64) -> Result<()> {
        while !keys.is_empty() {
            if self.since_flush >= self.flush.every {
                self.read_back()?;
            }
            if self.ring.is_empty() || self.ring[self.current].len == self.context.keys().max_keys {
                self.dispatch()?;
            }
            let slot = &mut self.ring[self.current];
            let room = (self.context.keys().max_keys - slot.len) as u64;
            let n = room
                .min(self.flush.every - self.since_flush)
                .min(keys.len() as u64) as usize;
            self.context.queue.write_buffer(
                &slot.keys,
                u64::from(slot.len) * 4,
                bytemuck::cast_slice(&keys[..n]),
            );
            slot.len += n as u32;
            slot.bins = slot.bins.max(bins);
            self.since_flush += n as u64;
            keys = &keys[n..];
        }
        Ok(())
    }

    /// Dispatches the current slot's keys (if any) and moves to the next
    /// slot, creating the ring on first use.
    fn dispatch(&mut self) -> Result<()> {
        if self.ring.is_empty() {
            self.ring = (0..RING).map(|_| self.new_slot()).collect::<Result<_>>()?;
            return Ok(());
        }
        let (len, needed) = {
            let slot = &self.ring[self.current];
            (slot.len, slot.bins)
        };
        if len == 0 {
            return Ok(());
        }
        // The sinks keep larger key spaces on the host.
        debug_assert!(needed <= u64::from(self.context.keys().max_bins));
        self.ensure_bins(needed)?;
        self.submit(len, needed as u32)?;
        self.dirty_bins = self.dirty_bins.max(needed);
        let slot = &mut self.ring[self.current];
        slot.len = 0;
        slot.bins = 0;
        self.current = (self.current + 1) % RING;
        Ok(())
    }

    /// Encodes and submits one pass of the current slot over the first
    /// `count` bins, keeping at most `RING` submissions in flight.
    fn submit(&mut self, len: u32, count: u32) -> Result<()> {
        let context = &self.context;
        let slot = &self.ring[self.current];
        let params = Params {
            key_count: len,
            bin_count: count,
            _pad: [0; 2],
        };
        context
            .queue
            .write_buffer(&slot.params, 0, bytemuck::bytes_of(&params));
        let mut encoder = context.device.create_command_encoder(&Default::default());
        context.encode_count(&mut encoder, &slot.bind_group, len, count);
        let index = context.queue.submit([encoder.finish()]);
        self.in_flight.push_back(index);
        if self.in_flight.len() >= RING {
            let oldest = self.in_flight.pop_front();
            context.wait(oldest)?;
        }
        Ok(())
    }

    /// Makes sure the bins hold at least `needed` (reading back and
    /// reallocating if they must grow); bind groups follow the new buffer.
    fn ensure_bins(&mut self, needed: u64) -> Result<()> {
        if self
            .bins
            .as_ref()
            .is_some_and(|b| u64::from(b.capacity) >= needed)
        {
            return Ok(());
        }
        self.read_dirty()?;
        let old = self.bins.as_ref().map_or(0, |b| u64::from(b.capacity));
        // Dates keep arriving early in a run; grow geometrically.
        let capacity = needed
            .max(old * 2)
            .max(1024)
            .min(u64::from(self.context.keys().max_bins)) as u32;
        let device = &self.context.device;
        let size = u64::from(capacity) * 4;
        use wgpu::BufferUsages as U;
        // Fresh buffers are zeroed by wgpu.
        let bins = buffer(device, "bins", size, U::STORAGE | U::COPY_SRC | U::COPY_DST);
        let readback = buffer(device, "bins readback", size, U::MAP_READ | U::COPY_DST);
        for slot in &mut self.ring {
            slot.bind_group = bind_group(&self.context, &slot.params, &slot.keys, &bins);
        }
        self.bins = Some(Bins {
            bins,
            readback,
            capacity,
        });
        self.context.check()
    }

    fn new_slot(&mut self) -> Result<Slot> {
        // Bins must exist before a bind group can name them.
        self.ensure_bins(1)?;
        let device = &self.context.device;
        let keys = buffer(
            device,
            "keys",
            u64::from(self.context.keys().max_keys) * 4,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::bytes_of(&Params::zeroed()),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let bins = &self.bins.as_ref().expect("created above").bins;
        let bind_group = bind_group(&self.context, &params, &keys, bins);
        Ok(Slot {
            keys,
            params,
            bind_group,
            len: 0,
            bins: 0,
        })
    }

    /// Dispatches what is staged, then adds the bins to the totals and
    /// clears them.
    fn read_back(&mut self) -> Result<()> {
        if !self.ring.is_empty() {
            self.dispatch()?;
        }
        self.read_dirty()?;
        self.since_flush = 0;
        Ok(())
    }

    /// Copies the bins of the keys dispatched so far back, adds them to the
    /// totals, and clears them. Keys staged but not yet dispatched stay
    /// where they are.
    fn read_dirty(&mut self) -> Result<()> {
        if self.dirty_bins == 0 {
            return Ok(());
        }
        let context = &self.context;
        let bins = self
            .bins
            .as_ref()
            .expect("bins exist once keys were dispatched");
        let size = self.dirty_bins * 4;
        let mut encoder = context.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&bins.bins, 0, &bins.readback, 0, size);
        encoder.clear_buffer(&bins.bins, 0, Some(size));
        let index = context.queue.submit([encoder.finish()]);
        self.in_flight.clear();
        let counts = &self.counts;
        let dirty = self.dirty_bins;
        context.read_back(&bins.readback, size, Some(index), |view| {
            counts.add_bins(0, bytemuck::cast_slice(view), dirty)
        })?;
        self.dirty_bins = 0;
        Ok(())
    }
}

/// The histogram's bind group: its parameters, keys and bins.
fn bind_group(
    context: &GpuContext,
    params: &wgpu::Buffer,
    keys: &wgpu::Buffer,
    bins: &wgpu::Buffer,
) -> wgpu::BindGroup {
    let layout = &context.keys().layout;
    super::bind_group(&context.device, layout, "histogram", &[params, keys, bins])
}
