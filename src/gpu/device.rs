//! Finding a GPU: which adapters exist, which one the GPU backend takes, and
//! whether `--backend auto` should use it at all.
//!
//! wgpu's own environment variables are honoured: `WGPU_BACKEND` limits the
//! APIs searched (vulkan, metal, dx12, gl), and `WGPU_ADAPTER_NAME` keeps only
//! adapters whose name contains it.

use std::cmp::Reverse;

use wgpu::{Backend, DeviceType};

/// One adapter and what we think of it.
pub struct Candidate {
    /// The adapter, to open.
    pub adapter: wgpu::Adapter,
    /// Its name, API, type and driver.
    pub info: wgpu::AdapterInfo,
    /// What it can do.
    pub limits: wgpu::Limits,
    /// Why this adapter cannot be used, if it cannot.
    pub unusable: Option<String>,
}

impl Candidate {
    /// A software rasterizer such as llvmpipe: correct, but slower at this
    /// job than plain CPU threads.
    pub fn is_software(&self) -> bool {
        self.info.device_type == DeviceType::Cpu
    }

    /// Lower is better: real GPUs before software ones, then by API.
    fn rank(&self) -> (u8, u8) {
        let kind = match self.info.device_type {
            DeviceType::DiscreteGpu => 0,
            DeviceType::IntegratedGpu => 1,
            DeviceType::VirtualGpu => 2,
            DeviceType::Other => 3,
            DeviceType::Cpu => 4,
        };
        let api = match self.info.backend {
            Backend::Vulkan => 0,
            Backend::Metal => 1,
            Backend::Dx12 => 2,
            Backend::Gl => 3,
            _ => 4,
        };
        (kind, api)
    }
}

/// Which graphics APIs to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Vulkan, Metal and DX12; GL only if none of those has an adapter.
    /// Starting GL (EGL) is slow and noisy on headless machines, and a
    /// machine with a GPU nearly always has one of the others.
    Usual,
    /// Every API, for listing adapters.
    All,
}

/// Every adapter wgpu finds, best first, each marked usable or not.
/// `WGPU_BACKEND`, when set, decides the APIs instead of `search`.
pub fn candidates(search: Search) -> Vec<Candidate> {
    let found = match (wgpu::Backends::from_env(), search) {
        (Some(backends), _) => enumerate(backends),
        (None, Search::All) => enumerate(wgpu::Backends::all()),
        (None, Search::Usual) => {
            let primary = enumerate(wgpu::Backends::PRIMARY);
            if primary.is_empty() {
                enumerate(wgpu::Backends::SECONDARY)
            } else {
                primary
            }
        }
    };
    let wanted_name = std::env::var("WGPU_ADAPTER_NAME")
        .ok()
        .map(|name| name.to_lowercase());
    let mut found: Vec<Candidate> = found
        .into_iter()
        .map(|adapter| {
            let info = adapter.get_info();
            let limits = adapter.limits();
            let compute = adapter
                .get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
            let unusable = if !compute {
                Some("no compute shaders".to_string())
            } else {
                wanted_name
                    .as_deref()
                    .filter(|n| !info.name.to_lowercase().contains(n))
                    .map(|n| format!("name does not contain WGPU_ADAPTER_NAME={n:?}"))
            };
            Candidate {
                adapter,
                info,
                limits,
                unusable,
            }
        })
        .collect();
    found.sort_by_key(|c| {
        (
            c.unusable.is_some(),
            c.rank(),
            Reverse(c.limits.max_storage_buffer_binding_size),
        )
    });
    found
}

fn enumerate(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..wgpu::InstanceDescriptor::new_without_display_handle().with_env()
    });
    pollster::block_on(instance.enumerate_adapters(backends))
}

/// What `--backend auto` decided, and why, for `-v` and `adapters`.
pub enum AutoChoice {
    /// Use this candidate (an index into the list).
    Gpu(usize),
    /// Use the CPU backend, for this reason.
    Cpu(String),
}

/// The best usable adapter, software ones included (`--backend gpu`).
pub fn best(candidates: &[Candidate]) -> Option<usize> {
    candidates.iter().position(|c| c.unusable.is_none())
}

/// What `--backend auto` takes: the best usable adapter if it is real
/// hardware; the CPU backend otherwise, since a software adapter only adds
/// overhead to what the CPU backend does directly.
pub fn auto_choice(candidates: &[Candidate]) -> AutoChoice {
    match best(candidates) {
        Some(i) if !candidates[i].is_software() => AutoChoice::Gpu(i),
        Some(i) => AutoChoice::Cpu(format!(
            "only a software adapter ({}) was found, and it is slower than the CPU backend",
            candidates[i].info.name
        )),
        None => AutoChoice::Cpu(no_adapter_reason(candidates)),
    }
}

/// Why no adapter can be used, in words that say what to do.
pub fn no_adapter_reason(candidates: &[Candidate]) -> String {
    if candidates.is_empty() {
        "no GPU adapter was found (install a Vulkan, Metal, DX12 or GL driver; \
         on Debian or Ubuntu: apt-get install mesa-vulkan-drivers)"
            .to_string()
    } else {
        let seen: Vec<String> = candidates
            .iter()
            .map(|c| {
                format!(
                    "{} ({})",
                    c.info.name,
                    c.unusable.as_deref().unwrap_or("usable")
                )
            })
            .collect();
        format!("no usable GPU adapter among: {}", seen.join(", "))
    }
}
