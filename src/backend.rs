//! Which backend counts, and why: the user's choice, the rules of `auto`,
//! and the set-up of the backend chosen, done once and usable for many
//! counts. The library words its reasons without the command line's flag
//! names; the command line puts them in context.

#[cfg(feature = "gpu")]
use std::sync::Arc;

use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::gpu::{device, GpuContext, GpuOptions};
use crate::histogram::cpu::CpuHistogram;
use crate::histogram::{Flush, Histogram};

/// Where the user asked a count to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A hardware GPU if there is one, else the CPU.
    Auto,
    /// CPU threads only.
    Cpu,
    /// The best GPU adapter, software ones included; an error if none.
    Gpu,
}

/// A backend, set up and ready to count.
pub enum Engine {
    /// Every scanning thread counts its own keys.
    Cpu,
    /// Scanning threads hand their keys to a GPU histogram.
    #[cfg(feature = "gpu")]
    Gpu(Arc<GpuContext>),
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
            Backend::Gpu => {
                let candidates = device::candidates(device::Search::Usual);
                let best = device::best(&candidates)
                    .ok_or_else(|| Error::NoAdapter(device::no_adapter_reason(&candidates)))?;
                let context = GpuContext::new(&candidates[best].adapter, GpuOptions::default())?;
                (Engine::Gpu(context), Reason::Asked)
            }
            #[cfg(not(feature = "gpu"))]
            Backend::Gpu => return Err(Error::NoAdapter(NOT_BUILT.into())),
            #[cfg(feature = "gpu")]
            Backend::Auto => {
                let candidates = device::candidates(device::Search::Usual);
                match device::auto_choice(&candidates) {
                    device::AutoChoice::Gpu(i) => {
                        let context =
                            GpuContext::new(&candidates[i].adapter, GpuOptions::default())?;
                        let why = format!("found a hardware GPU ({})", candidates[i].info.name);
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
        flush: Flush,
        threads: usize,
        dense_bins: Option<usize>,
    ) -> Result<Box<dyn Histogram>> {
        Ok(match self {
            Engine::Cpu => Box::new(match dense_bins {
                Some(bins) => CpuHistogram::with_dense_bins(flush, bins),
                None => CpuHistogram::new(flush, threads),
            }),
            #[cfg(feature = "gpu")]
            Engine::Gpu(context) => {
                Box::new(crate::gpu::GpuHistogram::new(context.clone(), flush)?)
            }
        })
    }

    /// "cpu", or "gpu: " and the adapter's name and API.
    pub fn describe(&self) -> String {
        match self.adapter() {
            None => self.kind().into(),
            Some(adapter) => format!("{}: {adapter}", self.kind()),
        }
    }

    /// The backend's name: "cpu" or "gpu".
    pub fn kind(&self) -> &'static str {
        match self {
            Engine::Cpu => "cpu",
            #[cfg(feature = "gpu")]
            Engine::Gpu(_) => "gpu",
        }
    }

    /// The GPU adapter's name and API, as in "NVIDIA H100 (Vulkan)".
    pub fn adapter(&self) -> Option<String> {
        match self {
            Engine::Cpu => None,
            #[cfg(feature = "gpu")]
            Engine::Gpu(context) => Some(format!(
                "{} ({:?})",
                context.info.name, context.info.backend
            )),
        }
    }
}

/// Why a build without the `gpu` feature counts on the CPU.
#[cfg(not(feature = "gpu"))]
const NOT_BUILT: &str =
    "this build of event-counter has no GPU support (built without the gpu feature)";
