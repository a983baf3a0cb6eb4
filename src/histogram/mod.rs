//! Histograms of packed keys: one trait, a CPU and a GPU implementation.
//!
//! Scanning threads each get a [`KeySink`] and hand it batches of keys. Both
//! backends count into 32-bit bins (the GPU has no 64-bit atomics, and half
//! the width keeps twice as many CPU bins in cache) and fold them into 64-bit
//! [`Totals`] before any bin could wrap: at most every [`Flush::every`] keys,
//! which by default is `u32::MAX`. A terabyte (~25 billion rows) therefore
//! counts exactly; tests set a tiny interval to make the fold run often.

pub mod cpu;

use std::sync::Mutex;

use crate::error::Result;

/// A histogram that scanning threads feed through their own sinks.
pub trait Histogram: Sync {
    /// A sink for one scanning thread.
    fn sink(&self) -> Result<Box<dyn KeySink + '_>>;

    /// Ends counting once every sink is finished and returns the totals,
    /// indexed by key (trailing zero bins may be missing).
    fn finish(self: Box<Self>) -> Result<Vec<u64>>;
}

/// One scanning thread's way into a [`Histogram`].
pub trait KeySink: Send {
    /// Counts `keys` (every one below `bins`) and leaves `keys` empty, maybe
    /// swapped for another buffer.
    fn add(&mut self, keys: &mut Vec<u32>, bins: u64) -> Result<()>;

    /// Hands over whatever this sink still holds.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// When 32-bit bins must be folded into the 64-bit totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flush {
    /// At most this many keys between folds. A bin grows by one per key, so
    /// with `every <= u32::MAX` no bin can wrap.
    pub every: u64,
}

impl Default for Flush {
    fn default() -> Self {
        Flush {
            every: u64::from(u32::MAX),
        }
    }
}

impl Flush {
    /// Folds at most every `every` keys (clamped to what cannot wrap).
    pub fn new(every: u64) -> Self {
        Flush {
            every: every.clamp(1, u64::from(u32::MAX)),
        }
    }
}

/// The 64-bit counts, shared by the sinks of one histogram.
#[derive(Debug, Default)]
pub struct Totals {
    counts: Mutex<Vec<u64>>,
}

impl Totals {
    /// Adds `bins` to the totals of keys `base..base + bins.len()`.
    pub fn add(&self, base: usize, bins: &[u32]) {
        let mut counts = self.counts.lock().expect("a counting thread panicked");
        if counts.len() < base + bins.len() {
            counts.resize(base + bins.len(), 0);
        }
        for (total, &n) in counts[base..].iter_mut().zip(bins) {
            *total += u64::from(n);
        }
    }

    /// The totals, indexed by key.
    pub fn into_counts(self) -> Vec<u64> {
        self.counts
            .into_inner()
            .expect("a counting thread panicked")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_grow_and_add_at_an_offset() {
        let totals = Totals::default();
        totals.add(2, &[1, 2]);
        totals.add(0, &[u32::MAX, 0, 1]);
        totals.add(0, &[u32::MAX]);
        assert_eq!(totals.into_counts(), [2 * u64::from(u32::MAX), 0, 2, 2]);
    }

    #[test]
    fn flush_interval_never_lets_a_bin_wrap() {
        assert_eq!(Flush::default().every, u64::from(u32::MAX));
        assert_eq!(Flush::new(u64::MAX).every, u64::from(u32::MAX));
        assert_eq!(Flush::new(0).every, 1);
    }
}
