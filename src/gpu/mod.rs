//! Everything that runs on a GPU, through wgpu: finding an adapter
//! ([`device`]), parsing raw bytes on the device ([`parse`], the GPU
//! backend), and counting the CPU's keys in a WGSL histogram ([`keys`], the
//! design card's path); [`route`] says which files of a count the GPU
//! backend reads and gives the count its job.
//!
//! Set-up ([`GpuContext`]: the device, and each backend's pipelines once
//! built) is separate from a count, so that one device serves any number
//! of counts (and tests).
//!
//! This module is the `gpu` cargo feature: a build without it has no wgpu
//! and counts on the CPU only.

pub mod device;
pub mod keys;
pub mod parse;
pub mod route;

pub use keys::GpuHistogram;

use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// Limits below the device's own and the GPU backend's sizes, so that tests
/// can drive every edge path with small inputs. `None` keeps the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuOptions {
    /// Keys path: most bins counted on the GPU.
    pub max_bins: Option<u32>,
    /// Keys path: most keys per dispatch.
    pub max_keys: Option<u32>,
    /// Keys path: most bins counted in workgroup memory.
    pub private_bins: Option<u32>,
    /// GPU backend: bytes of file per chunk.
    pub chunk_bytes: Option<u32>,
    /// GPU backend: bytes of a chunk each invocation owns.
    pub block_bytes: Option<u32>,
    /// GPU backend: the most pages of bins (one day of a group of region
    /// slots each) the device may hold before they are folded.
    pub max_pages: Option<u32>,
    /// GPU backend: the longest row the shader parses. Only a test raises
    /// it, to see that rows near a long one are not lost.
    pub device_max_line: Option<u32>,
    /// GPU backend: the fewest bytes of rows a file under a MiB needs to
    /// share chunks with its neighbours. Only a test lowers it, so that
    /// files of a few rows are packed.
    pub packed_file: Option<u64>,
    /// GPU backend: a block of every chunk whose rows the shader loses on
    /// purpose, as a driver that cut a shader short would: a test's fault,
    /// to see the row check fail the run. Only with the `testing` feature.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub lose_block: Option<u32>,
    /// GPU backend: a fault put in on purpose, so that a test sees the key
    /// and range checks fail the run. Only with the `testing` feature: no
    /// flag or Python argument reaches it.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fault: Option<Fault>,
}

impl GpuOptions {
    /// [`GpuOptions::lose_block`]; none in a build without `testing`.
    pub(crate) fn lose_block(&self) -> Option<u32> {
        #[cfg(feature = "testing")]
        return self.lose_block;
        #[cfg(not(feature = "testing"))]
        None
    }

    /// [`GpuOptions::fault`]; none in a build without `testing`.
    pub(crate) fn fault(&self) -> Option<Fault> {
        #[cfg(feature = "testing")]
        return self.fault;
        #[cfg(not(feature = "testing"))]
        None
    }
}

/// The faults a test may put into the GPU backend ([`GpuOptions::fault`]):
/// each must fail the run with an internal error
/// ([`ErrorKind::Internal`](crate::ErrorKind::Internal)), never write a
/// wrong count.
#[doc(hidden)]
// Only a test puts one in (`testing`); the backend only compares.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The device counts every row under the region slot next to its own.
    OtherSlot = 1,
    /// The device counts every row a day late.
    DayLate = 2,
    /// The device drops a key of some blocks before adding it, its
    /// counters unchanged.
    DroppedKey = 3,
    /// The host does not clear the bins when it folds them.
    BinsNotCleared = 4,
    /// Chunks overlap by a byte.
    Overlap = 5,
    /// The host never submits a file's second chunk.
    DroppedChunk = 6,
}

/// A device ready to count: created once, used for any number of counts.
pub struct GpuContext {
    /// The adapter's name, API and driver.
    pub info: wgpu::AdapterInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    limits: wgpu::Limits,
    options: GpuOptions,
    /// Each backend's pipelines, built the first time it counts: a run
    /// builds only the one it uses.
    keys: OnceLock<keys::Pipelines>,
    parse: OnceLock<parse::Pipelines>,
    /// The first error the device reported, if any.
    error: Arc<Mutex<Option<String>>>,
    /// How long opening the device took (no pipeline is built then).
    pub opened_in: std::time::Duration,
    /// Nanoseconds per tick of the device's timestamps, where it can
    /// write them between commands: the GPU backend then times each
    /// chunk's copy and passes on the device itself.
    timestamp_period: Option<f32>,
}

/// What the device must do for [`GpuContext::timestamp_period`].
const TIMESTAMPS: wgpu::Features =
    wgpu::Features::TIMESTAMP_QUERY.union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS);

impl GpuContext {
    /// Opens `adapter`. Builds no pipeline: each backend's are built when
    /// it first needs them.
    pub fn new(adapter: &wgpu::Adapter, options: GpuOptions) -> Result<Arc<GpuContext>> {
        let started = std::time::Instant::now();
        let info = adapter.get_info();
        let limits = adapter.limits();
        let timestamps = adapter.features().contains(TIMESTAMPS);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("event-counter"),
            required_features: if timestamps {
                TIMESTAMPS
            } else {
                wgpu::Features::empty()
            },
            // Ask for what the adapter has: larger bindings mean larger
            // chunks and bins, more workgroup memory more private bins.
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("{}: cannot open the device: {e}", info.name)))?;

        let error = Arc::new(Mutex::new(None::<String>));
        let sink = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().get_or_insert_with(|| e.to_string());
        }));
        let timestamp_period = timestamps.then(|| queue.get_timestamp_period());
        let context = GpuContext {
            keys: OnceLock::new(),
            parse: OnceLock::new(),
            info,
            device,
            queue,
            limits,
            options,
            error,
            opened_in: std::time::Duration::ZERO,
            timestamp_period,
        };
        context.check()?;
        let context = GpuContext {
            opened_in: started.elapsed(),
            ..context
        };
        Ok(Arc::new(context))
    }

    /// The limits it was made with.
    pub fn options(&self) -> &GpuOptions {
        &self.options
    }

    /// The keys path's pipelines.
    fn keys(&self) -> &keys::Pipelines {
        self.keys
            .get_or_init(|| keys::Pipelines::new(&self.device, &self.limits, &self.options))
    }

    /// Builds the GPU backend's pipelines on a thread of their own, so that
    /// they compile while the count opens and plans its inputs; the count
    /// waits for them only if they are not ready by its first chunk.
    pub fn build_parse_pipelines_meanwhile(self: &Arc<Self>) {
        let context = self.clone();
        // Where no thread can start, the count builds them itself.
        let _ = std::thread::Builder::new()
            .name("gpu-pipelines".into())
            .spawn(move || {
                context.parse();
            });
    }

    /// The GPU backend's pipelines.
    fn parse(&self) -> &parse::Pipelines {
        self.parse
            .get_or_init(|| parse::Pipelines::new(&self.device))
    }

    /// Fails with the first error the device reported.
    fn check(&self) -> Result<()> {
        match self.error.lock().unwrap().clone() {
            Some(e) => Err(Error::Gpu(format!("{}: {e}", self.info.name))),
            None => Ok(()),
        }
    }

    /// Waits for a submission (or all work) to finish.
    fn wait(&self, index: Option<wgpu::SubmissionIndex>) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: index,
                timeout: None,
            })
            .map_err(|e| Error::Gpu(format!("{}: {e}", self.info.name)))?;
        self.check()
    }

    /// Reads back `buffer` (mappable for reading, `size` bytes) once
    /// `submission` (the last work that wrote it), or all work submitted so
    /// far, is done, and gives its bytes to `read`. Waiting for the one
    /// submission leaves the GPU busy with the ones after it.
    fn read_back<T>(
        &self,
        buffer: &wgpu::Buffer,
        size: u64,
        submission: Option<wgpu::SubmissionIndex>,
        read: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<T> {
        self.map(buffer, size, wgpu::MapMode::Read, submission)?;
        let result = {
            let view = buffer
                .slice(..size)
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("cannot read a buffer back: {e}")))?;
            read(&view)
        };
        buffer.unmap();
        result
    }

    /// Maps `buffer` (mappable for writing) once `submission` (the last
    /// work that used it), or all work so far, is done.
    fn map_for_writing(
        &self,
        buffer: &wgpu::Buffer,
        submission: Option<wgpu::SubmissionIndex>,
    ) -> Result<()> {
        self.map(buffer, buffer.size(), wgpu::MapMode::Write, submission)
    }

    /// Maps the first `size` bytes of `buffer` for `mode` once
    /// `submission`, or all work so far, is done.
    fn map(
        &self,
        buffer: &wgpu::Buffer,
        size: u64,
        mode: wgpu::MapMode,
        submission: Option<wgpu::SubmissionIndex>,
    ) -> Result<()> {
        let (sender, receiver) = std::sync::mpsc::channel();
        buffer.slice(..size).map_async(mode, move |result| {
            let _ = sender.send(result);
        });
        self.wait(submission)?;
        receiver
            .recv()
            .map_err(|_| Error::Gpu("a buffer was never mapped".into()))?
            .map_err(|e| Error::Gpu(format!("cannot map a buffer: {e}")))
    }
}

/// An unmapped buffer. wgpu hands out fresh buffers zeroed, which bins
/// rely on.
fn buffer(
    device: &wgpu::Device,
    label: &str,
    size: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: false,
    })
}

/// A bind group of `buffers`, bound in order from 0.
fn bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    label: &str,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<_> = buffers
        .iter()
        .enumerate()
        .map(|(i, buffer)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: buffer.as_entire_binding(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// A bind group layout entry for a compute shader's buffer.
fn layout_entry(binding: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A compute pipeline of one bind group.
fn compute_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    module: &wgpu::ShaderModule,
    entry: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(entry),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: Some(&pipeline_layout),
        module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            // The shaders clear their own workgroup memory; wgpu's zeroing
            // makes Mesa's GL take ~40 s to compile them.
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    })
}

/// How many `u32`s one storage binding holds on this device.
fn device_bins(limits: &wgpu::Limits) -> u32 {
    let binding = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    (binding / 4).min(u64::from(u32::MAX)) as u32
}

/// Workgroups to dispatch for `invocations` (of 256 each), as a grid that
/// stays within the 65,535 per dimension every device allows; and the
/// invocations per grid row, which shaders need to number themselves.
fn grid(invocations: u64) -> (u32, u32, u32) {
    let groups = invocations.div_ceil(256).max(1);
    let x = groups.min(65_535) as u32;
    let y = groups.div_ceil(u64::from(x)) as u32;
    (x, y, x * 256)
}
