//! Histograms of packed keys: one trait, a CPU implementation here and a
//! GPU one in `crate::gpu`, both ending in the run's [`KeyTotals`].
//!
//! Scanning threads each get a [`KeySink`] and hand it batches of keys.
//! Small key spaces are counted in dense 32-bit bins (per thread on the CPU,
//! on the device for the GPU: the GPU has no 64-bit atomics, and half the
//! width keeps twice as many CPU bins in cache), folded into the 64-bit
//! totals before any bin could wrap: at most every [`FoldInterval::every`] keys,
//! which by default is `u32::MAX`. A terabyte (~25 billion rows) therefore
//! counts exactly; tests set a tiny interval to make the fold run often.
//! Key spaces too large for dense bins go straight to the [`KeyTotals`].

pub mod cpu;
mod key_totals;

pub use key_totals::{DenseKeyTotals, FinalTotals, KeyTotals};

use crate::error::Result;

/// A histogram that scanning threads feed through their own sinks.
pub trait Histogram: Sync {
    /// A sink for one scanning thread.
    fn sink(&self) -> Result<Box<dyn KeySink + '_>>;

    /// The run's totals, for counts made elsewhere (the GPU backend's bins,
    /// so a build without the GPU never asks).
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    fn totals(&self) -> &KeyTotals;

    /// Ends counting once every sink is finished and returns the totals.
    fn finish(self: Box<Self>) -> Result<KeyTotals>;
}

/// One scanning thread's way into a [`Histogram`].
pub trait KeySink: Send {
    /// Counts `keys` (every one below `bins`, the size of the key space so
    /// far) and leaves `keys` empty, maybe swapped for another buffer.
    fn add(&mut self, keys: &mut Vec<u32>, bins: u64) -> Result<()>;

    /// Hands over whatever this sink still holds.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// When 32-bit bins must be folded into the 64-bit totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoldInterval {
    /// At most this many keys between folds. A bin grows by one per key, so
    /// with `every <= u32::MAX` no bin can wrap.
    pub every: u64,
}

impl Default for FoldInterval {
    fn default() -> Self {
        FoldInterval {
            every: u64::from(u32::MAX),
        }
    }
}

impl FoldInterval {
    /// Folds at most every `every` keys (clamped to what cannot wrap).
    pub fn new(every: u64) -> Self {
        FoldInterval {
            every: every.clamp(1, u64::from(u32::MAX)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_interval_never_lets_a_bin_wrap() {
        assert_eq!(FoldInterval::default().every, u64::from(u32::MAX));
        assert_eq!(FoldInterval::new(u64::MAX).every, u64::from(u32::MAX));
        assert_eq!(FoldInterval::new(0).every, 1);
    }
}
