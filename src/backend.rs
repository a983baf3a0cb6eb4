//! Which backend counts, and why: the user's choice, the rules of `auto`,
//! and the set-up of the backend chosen, done once and usable for many
//! counts. The library words its reasons without the command line's flag
//! names; the command line puts them in context.
//!
//! | backend | who parses the rows | who counts them |
//! | --- | --- | --- |
//! | `cpu` | every CPU core | every CPU core, each into its own bins |
//! | `gpu` | the GPU (raw bytes uploaded); the CPU for what it hands back and for files it cannot read (compressed, S3, pipes) | the GPU |
//! | `gpu-keys` | every CPU core | the GPU, from the keys the cores hand it (the design card's path) |

#[cfg(feature = "gpu")]
use std::sync::{Arc, OnceLock};

use crate::date::Epoch;
use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::gpu::{device, GpuContext, GpuOptions};
use crate::histogram::cpu::CpuHistogram;
use crate::histogram::{FoldInterval, Histogram};

/// Where the user asked a count to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The GPU backend on a hardware GPU for input large enough to pay for
    /// its start-up, else the CPU.
    Auto,
    /// CPU threads only.
    Cpu,
    /// The GPU parses the bytes and counts the rows (the best adapter,
    /// software ones included; an error if there is none).
    Gpu,
    /// CPU threads parse, the GPU counts their keys.
    GpuKeys,
}

impl Backend {
    /// Every backend, in the order they are offered.
    pub const ALL: [Backend; 4] = [Backend::Auto, Backend::Cpu, Backend::Gpu, Backend::GpuKeys];

    /// The backend's name, as `--backend` and Python's `backend=` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
            Backend::GpuKeys => "gpu-keys",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    /// A backend by its [`name`](Backend::name); the error lists them.
    fn from_str(text: &str) -> Result<Self, String> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == text)
            .ok_or_else(|| {
                format!("backend {text:?}: use \"auto\", \"cpu\", \"gpu\" or \"gpu-keys\"")
            })
    }
}

/// A backend, set up and ready to count.
pub enum Engine {
    /// Every scanning thread counts its own keys.
    Cpu,
    /// The GPU parses and counts the rows of plain local files.
    #[cfg(feature = "gpu")]
    Gpu(Arc<GpuContext>),
    /// Scanning threads hand their keys to a GPU histogram.
    #[cfg(feature = "gpu")]
    GpuKeys(Arc<GpuContext>),
    /// `Backend::Auto`: the GPU backend for a count whose plain local input
    /// is large enough that the device's start-up pays, on a hardware GPU;
    /// the CPU's otherwise (see [`Engine::for_input`]).
    #[cfg(feature = "gpu")]
    Auto(Box<AutoGpu>),
}

/// The GPU that `auto` may use, looked for the first time a count is large
/// enough for it. Looking loads the system's GPU drivers (a Vulkan instance
/// and its ICDs: tens of milliseconds and about 60 MB with Mesa's alone),
/// which a count too small for the GPU, nearly every count under a GB,
/// should not pay.
#[cfg(feature = "gpu")]
#[derive(Default)]
pub struct AutoGpu {
    found: OnceLock<Found>,
}

/// What `auto` found when it looked.
#[cfg(feature = "gpu")]
enum Found {
    /// A hardware GPU, opened: the GPU backend on it.
    Gpu(Box<Engine>),
    /// None that pays (only a software adapter, or none at all), in words.
    Cpu(String),
}

#[cfg(feature = "gpu")]
impl AutoGpu {
    /// What `auto` found, looking the first time it is asked. Two threads
    /// asking at once may both look; the first answer kept is the one every
    /// later count gets.
    fn found(&self) -> Result<&Found> {
        if let Some(found) = self.found.get() {
            return Ok(found);
        }
        let candidates = device::candidates(device::Search::Usual);
        let found = match device::auto_choice(&candidates) {
            device::AutoChoice::Gpu(i) => {
                let context = GpuContext::new(&candidates[i].adapter, GpuOptions::default())?;
                Found::Gpu(Box::new(Engine::parsing_on(context)))
            }
            device::AutoChoice::Cpu(why) => Found::Cpu(why),
        };
        let _ = self.found.set(found);
        Ok(self.found.get().expect("set above"))
    }
}

/// What the CPU backend reads a second, per scanning thread: 1 GiB on 2
/// threads in 0.16-0.21 s on a 2-core VM.
const CPU_BYTES_PER_THREAD: f64 = 2.5e9;

/// What the CPU backend reads a second at most, however many threads: 13.6
/// GB/s measured at `-j 16` on the 16-core H200 machine (the 16 GiB bench
/// file; issue 28).
const CPU_MOST_BYTES: f64 = 13.6e9;

/// What the GPU backend reads a second, wall time, on a discrete GPU: an
/// estimate from reading the code (issue 28: 15-18 GB/s at `-j 16` on an
/// H200), not yet a measurement; `benches/gpu.sh` measures it. A file read
/// into wgpu's staging memory and copied to an H200 alone reached 25-31
/// GB/s, the ceiling.
const GPU_BYTES: f64 = 16e9;

/// What starting the GPU backend costs, in seconds: opening the device and
/// compiling its pipelines (an estimate for a discrete GPU; 0.02 s on
/// llvmpipe, whose device is a library).
const GPU_START_SECONDS: f64 = 0.3;

/// The plain local input (bytes) from which the GPU backend counts sooner
/// than the CPU's on `threads` threads, by the figures above; `None` when
/// the CPU's is as fast whatever the size. (Only `auto`'s GPU choice
/// asks, and the tests of these figures.)
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
pub fn gpu_pays_from(threads: usize) -> Option<u64> {
    let saved_per_byte = 1.0 / cpu_bytes(threads) - 1.0 / GPU_BYTES;
    (saved_per_byte > 0.0).then(|| (GPU_START_SECONDS / saved_per_byte) as u64)
}

/// What the CPU backend reads a second on `threads` threads, by the
/// figures above.
fn cpu_bytes(threads: usize) -> f64 {
    (CPU_BYTES_PER_THREAD * threads.max(1) as f64).min(CPU_MOST_BYTES)
}

/// Both estimates `auto` weighs, in words, for `-v`: the seconds `bytes`
/// would take on the CPU backend and on the GPU backend (its start-up
/// included).
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
fn estimates(bytes: u64, threads: usize) -> String {
    let cpu = cpu_bytes(threads);
    format!(
        "estimated {:.2} s on the CPU ({:.1} GB/s on {}), {:.2} s on the GPU \
         ({:.1} GB/s and {GPU_START_SECONDS} s to start)",
        bytes as f64 / cpu,
        cpu / 1e9,
        on_threads(threads),
        bytes as f64 / GPU_BYTES + GPU_START_SECONDS,
        GPU_BYTES / 1e9,
    )
}

/// "1 thread", "16 threads".
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
fn on_threads(threads: usize) -> String {
    match threads {
        1 => "1 thread".into(),
        n => format!("{n} threads"),
    }
}

/// The engine chosen for a [`Backend`], and why.
pub struct Selection {
    /// The engine, set up.
    pub engine: Engine,
    /// Why this engine: for `Backend::Auto`, what it found.
    pub reason: Reason,
}

/// Why a backend was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The user asked for it by name.
    Asked,
    /// `Backend::Auto` decided, for this reason (in words, e.g. "only a
    /// software adapter (llvmpipe) was found, and it is slower than the
    /// CPU backend").
    Auto(String),
}

impl Engine {
    /// Sets up the engine `backend` asks for.
    pub fn select(backend: Backend) -> Result<Selection> {
        let (engine, reason) = match backend {
            Backend::Cpu => (Engine::Cpu, Reason::Asked),
            #[cfg(feature = "gpu")]
            Backend::Gpu | Backend::GpuKeys => {
                let candidates = device::candidates(device::Search::Usual);
                let best = device::best(&candidates)
                    .ok_or_else(|| Error::NoAdapter(device::no_adapter_reason(&candidates)))?;
                let context = GpuContext::new(&candidates[best].adapter, GpuOptions::default())?;
                let engine = match backend {
                    Backend::Gpu => Engine::parsing_on(context),
                    _ => Engine::GpuKeys(context),
                };
                (engine, Reason::Asked)
            }
            #[cfg(not(feature = "gpu"))]
            Backend::Gpu | Backend::GpuKeys => {
                return Err(Error::NotBuilt(format!(
                    "{NOT_BUILT}: count on the CPU, or build with the default features"
                )))
            }
            #[cfg(feature = "gpu")]
            Backend::Auto => (
                Engine::Auto(Box::default()),
                Reason::Auto(
                    "looks for a hardware GPU only for a count whose plain local files are \
                     large enough to pay for its start-up; compressed, S3 and piped input is \
                     parsed on the CPU"
                        .into(),
                ),
            ),
            #[cfg(not(feature = "gpu"))]
            Backend::Auto => (Engine::Cpu, Reason::Auto(NOT_BUILT.into())),
        };
        Ok(Selection { engine, reason })
    }

    /// A fresh histogram for one count on this engine, fed by `threads`
    /// scanning threads (see [`crate::CountOptions`] for `dense_bins`).
    pub(crate) fn histogram(
        &self,
        flush: FoldInterval,
        threads: usize,
        dense_bins: Option<usize>,
    ) -> Result<Box<dyn Histogram>> {
        let cpu = || -> Box<dyn Histogram> {
            Box::new(match dense_bins {
                Some(bins) => CpuHistogram::with_dense_bins(flush, bins),
                None => CpuHistogram::new(flush, threads),
            })
        };
        Ok(match self {
            Engine::Cpu => cpu(),
            // The GPU backend's own bins join these totals at the end; the
            // rows the CPU parses are counted the CPU's way.
            #[cfg(feature = "gpu")]
            Engine::Gpu(_) | Engine::Auto(_) => cpu(),
            #[cfg(feature = "gpu")]
            Engine::GpuKeys(context) => {
                Box::new(crate::gpu::GpuHistogram::new(context.clone(), flush)?)
            }
        })
    }

    /// "cpu", or the backend's name and the adapter's name and API.
    pub fn describe(&self) -> String {
        match self.adapter() {
            None => self.kind().into(),
            Some(adapter) => format!("{}: {adapter}", self.kind()),
        }
    }

    /// The backend's name: "cpu", "gpu" or "gpu-keys".
    pub fn kind(&self) -> &'static str {
        match self {
            Engine::Cpu => "cpu",
            #[cfg(feature = "gpu")]
            Engine::Gpu(_) => "gpu",
            #[cfg(feature = "gpu")]
            Engine::GpuKeys(_) => "gpu-keys",
            #[cfg(feature = "gpu")]
            Engine::Auto(_) => "auto",
        }
    }

    /// The engine for a count in which the GPU backend would read
    /// `gpu_bytes()` bytes itself (`gpu::route::gpu_bytes`) on `threads`
    /// threads, and why:
    /// `auto` takes the GPU only where its start-up pays (`gpu_pays_from`),
    /// and only then looks for one ([`AutoGpu`]); any other engine is
    /// itself, and never asks for the bytes (weighing them reads a byte of
    /// every small file).
    pub fn for_input(
        &self,
        gpu_bytes: impl FnOnce() -> u64,
        threads: usize,
    ) -> Result<(&Engine, Option<String>)> {
        #[cfg(feature = "gpu")]
        if let Engine::Auto(auto) = self {
            let gpu_bytes = gpu_bytes();
            static CPU: Engine = Engine::Cpu;
            let Some(from) = gpu_pays_from(threads) else {
                return Ok((
                    &CPU,
                    Some(format!(
                        "auto counts on the CPU: on {} it reads as fast as the GPU \
                         would; {}",
                        on_threads(threads),
                        estimates(gpu_bytes, threads)
                    )),
                ));
            };
            if gpu_bytes < from {
                return Ok((
                    &CPU,
                    Some(format!(
                        "auto counts on the CPU: {} of files the GPU would read, under the {} from \
                         which the GPU's start-up pays on {}; {}",
                        megabytes(gpu_bytes),
                        megabytes(from),
                        on_threads(threads),
                        estimates(gpu_bytes, threads)
                    )),
                ));
            }
            let gpu = match auto.found()? {
                Found::Gpu(gpu) => gpu,
                Found::Cpu(why) => {
                    return Ok((
                        &CPU,
                        Some(format!(
                            "auto counts on the CPU: {why}; {} of files the GPU would read",
                            megabytes(gpu_bytes)
                        )),
                    ))
                }
            };
            return Ok((
                gpu.as_ref(),
                Some(format!(
                    "auto counts on the GPU ({}): {} of files the GPU would read, at least the {} \
                     from which its start-up pays on {}; {}",
                    gpu.adapter().unwrap_or_default(),
                    megabytes(gpu_bytes),
                    megabytes(from),
                    on_threads(threads),
                    estimates(gpu_bytes, threads)
                )),
            ));
        }
        let _ = (gpu_bytes, threads);
        Ok((self, None))
    }

    /// The GPU adapter's name and API, as in "NVIDIA H100 (Vulkan)".
    pub fn adapter(&self) -> Option<String> {
        #[cfg(feature = "gpu")]
        {
            self.gpu()
                .map(|context| format!("{} ({:?})", context.info.name, context.info.backend))
        }
        #[cfg(not(feature = "gpu"))]
        {
            None
        }
    }

    /// Whether it counts on a software adapter (llvmpipe), which runs the
    /// shaders on the CPU's own cores: far slower than the CPU backend.
    pub fn on_software_adapter(&self) -> bool {
        #[cfg(feature = "gpu")]
        {
            self.gpu()
                .is_some_and(|context| context.info.device_type == wgpu::DeviceType::Cpu)
        }
        #[cfg(not(feature = "gpu"))]
        {
            false
        }
    }

    /// The GPU the engine uses, if it uses one.
    #[cfg(feature = "gpu")]
    pub fn gpu(&self) -> Option<&Arc<GpuContext>> {
        match self {
            Engine::Cpu | Engine::Auto(_) => None,
            Engine::Gpu(context) | Engine::GpuKeys(context) => Some(context),
        }
    }

    /// The GPU backend on `context`, chosen for a count: its pipelines
    /// start compiling now, on a thread of their own, while the count opens
    /// its inputs.
    #[cfg(feature = "gpu")]
    fn parsing_on(context: Arc<GpuContext>) -> Engine {
        context.build_parse_pipelines_meanwhile();
        Engine::Gpu(context)
    }

    /// The GPU that parses raw bytes itself: the GPU backend's (not
    /// `gpu-keys`', whose CPU parses).
    #[cfg(feature = "gpu")]
    pub fn gpu_parse(&self) -> Option<&GpuContext> {
        match self {
            Engine::Gpu(context) => Some(context),
            _ => None,
        }
    }

    /// The engine that parses a count whose bare numbers are `epoch`: the
    /// GPU backend's parse reads calendar dates and event times (in any
    /// zone, with any delimiter) in its shader, but not epoch numbers, so a
    /// count with `--epoch` is parsed and counted on the CPU instead (the
    /// `gpu-keys` backend, whose CPU parses, keeps its GPU histogram). A row
    /// the shader cannot read (a rare form, a repeated header) is handed
    /// back to the CPU's exact path, which reads it.
    pub fn for_epoch(&self, epoch: Option<Epoch>) -> &Engine {
        // A bare number the shader hands back: an epoch file would be every
        // row the host's, through the slower hand-back.
        #[cfg(feature = "gpu")]
        if let (Engine::Gpu(_), Some(_)) = (self, epoch) {
            static CPU: Engine = Engine::Cpu;
            log::info!(
                "the GPU backend's parse does not read epoch numbers yet: parsed and counted on \
                 the CPU (--backend gpu-keys parses on the CPU and counts on the GPU)"
            );
            return &CPU;
        }
        let _ = epoch;
        self
    }
}

/// `n` bytes in MB, for messages.
#[cfg(feature = "gpu")]
fn megabytes(n: u64) -> String {
    format!("{:.1} MB", n as f64 / 1e6)
}

/// Why a build without the `gpu` feature counts on the CPU.
#[cfg(not(feature = "gpu"))]
const NOT_BUILT: &str =
    "this build of event-counter has no GPU support (built without the gpu feature)";

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 20: `auto` took the GPU for a 1 KB file. The GPU's start-up
    /// pays only from some size, larger the more threads the CPU has.
    #[test]
    fn the_gpu_pays_only_for_large_inputs() {
        let two = gpu_pays_from(2).expect("2 threads are slower than the GPU");
        assert!(two > 1 << 30, "{two}");
        let eight = gpu_pays_from(8).expect("8 threads are slower than the GPU");
        assert!(eight > two, "{eight} <= {two}");
        assert!(gpu_pays_from(64) >= gpu_pays_from(8));
        // Issue 28: at the measured 13.6 GB/s of the CPU at -j 16, the 16
        // GiB bench file is not the GPU's by the estimate; 64 GiB is.
        let sixteen = gpu_pays_from(16).expect("the GPU estimate is above the CPU's");
        assert!(sixteen > 16 << 30 && sixteen < 64 << 30, "{sixteen}");
    }

    #[test]
    fn verbose_says_both_estimates() {
        let text = estimates(13_600_000_000, 16);
        assert!(
            text.contains("1.00 s on the CPU (13.6 GB/s on 16 threads)"),
            "{text}"
        );
        assert!(
            text.contains("1.15 s on the GPU (16.0 GB/s and 0.3 s to start)"),
            "{text}"
        );
    }

    #[test]
    fn engines_other_than_auto_are_themselves_for_any_input() {
        // Nor do they weigh the input: that reads a byte of every small file.
        let (engine, why) = Engine::Cpu
            .for_input(|| unreachable!("only auto weighs the input"), 16)
            .unwrap();
        assert_eq!(engine.kind(), "cpu");
        assert!(why.is_none());
    }
}
