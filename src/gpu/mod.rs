//! Everything that runs on a GPU, through wgpu: finding an adapter
//! ([`device`]) and counting the CPU's keys in a WGSL histogram ([`keys`]).
//!
//! This module is the `gpu` cargo feature: a build without it has no wgpu
//! and counts on the CPU only.

pub mod device;
pub mod keys;

pub use keys::{GpuContext, GpuHistogram, GpuOptions};
