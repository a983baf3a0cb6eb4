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
use std::sync::Arc;

use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::gpu::{device, GpuContext, GpuOptions};
use crate::histogram::cpu::CpuHistogram;
use crate::histogram::{FoldInterval, Histogram};

/// Where the user asked a count to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The GPU backend on a hardware GPU, else the CPU.
    Auto,
    /// CPU threads only.
    Cpu,
    /// The GPU parses the bytes and counts the rows (the best adapter,
    /// software ones included; an error if there is none).
    Gpu,
    /// CPU threads parse, the GPU counts their keys.
    GpuKeys,
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
                    Backend::Gpu => Engine::Gpu(context),
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
            Backend::Auto => {
                let candidates = device::candidates(device::Search::Usual);
                match device::auto_choice(&candidates) {
                    device::AutoChoice::Gpu(i) => {
                        let context =
                            GpuContext::new(&candidates[i].adapter, GpuOptions::default())?;
                        let why = format!(
                            "found a hardware GPU ({}); files it cannot read whole \
                             (compressed, S3, pipes) are parsed on the CPU",
                            candidates[i].info.name
                        );
                        (Engine::Gpu(context), Reason::Auto(why))
                    }
                    device::AutoChoice::Cpu(why) => (Engine::Cpu, Reason::Auto(why)),
                }
            }
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
            Engine::Gpu(_) => cpu(),
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
        }
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
            Engine::Cpu => None,
            Engine::Gpu(context) | Engine::GpuKeys(context) => Some(context),
        }
    }
}

/// Mesa's Vulkan drivers probe for a Wayland display when wgpu starts, and
/// libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set" to
/// stderr where that variable is unset (containers, CI). We draw no windows,
/// so this points it at the temp folder, keeping stderr to our own
/// messages. Call it before looking for a GPU, while no other thread of the
/// program reads the environment (first thing in `main`).
pub fn quiet_wayland_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
}

/// Why a build without the `gpu` feature counts on the CPU.
#[cfg(not(feature = "gpu"))]
const NOT_BUILT: &str =
    "this build of event-counter has no GPU support (built without the gpu feature)";
