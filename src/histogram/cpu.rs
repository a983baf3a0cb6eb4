//! The CPU histogram: every scanning thread counts its own keys into its own
//! dense bins, right after scanning a chunk while the keys are still in
//! cache, and the threads' bins are added to the totals at the end. No locks
//! or atomics per key.
//!
//! Dense bins cost 4 bytes per possible key per thread, which is nothing
//! for the usual few hundred regions times a few years of days, but would
//! be gigabytes for 100,000 regions times thousands of dates (most of them
//! empty). Past [`DENSE_BYTES`] a thread hands its keys to the shared
//! [`KeyTotals`] instead, whose memory follows the groups that occur.

use super::{FoldInterval, Histogram, KeySink, KeyTotals};
use crate::error::Result;

/// The most memory the dense bins of all threads together may take.
pub const DENSE_BYTES: usize = 256 << 20;

/// The most bins one thread counts densely, whatever the thread count: 16
/// MiB, a few times the last-level cache share of a core already.
const DENSE_MAX_BINS: usize = 1 << 22;

/// Per-thread bins, added up at the end.
#[derive(Debug)]
pub struct CpuHistogram {
    counts: KeyTotals,
    flush: FoldInterval,
    /// The most bins a thread counts densely.
    dense_bins: usize,
}

impl CpuHistogram {
    /// An empty histogram for `threads` sinks, whose bins are folded as
    /// `flush` says.
    pub fn new(flush: FoldInterval, threads: usize) -> Self {
        CpuHistogram::with_dense_bins(
            flush,
            (DENSE_BYTES / 4 / threads.max(1)).min(DENSE_MAX_BINS),
        )
    }

    /// As [`CpuHistogram::new`], with dense bins up to `dense_bins` per
    /// thread (tests use tiny ones to make the shared path run).
    pub fn with_dense_bins(flush: FoldInterval, dense_bins: usize) -> Self {
        CpuHistogram {
            counts: KeyTotals::default(),
            flush,
            dense_bins,
        }
    }
}

impl Histogram for CpuHistogram {
    fn sink(&self) -> Result<Box<dyn KeySink + '_>> {
        Ok(Box::new(CpuSink {
            owner: self,
            bins: Vec::new(),
            since_flush: 0,
            shared: false,
            scratch: Vec::new(),
        }))
    }

    fn totals(&self) -> &KeyTotals {
        &self.counts
    }

    fn finish(self: Box<Self>) -> Result<KeyTotals> {
        Ok(self.counts)
    }
}

struct CpuSink<'h> {
    owner: &'h CpuHistogram,
    bins: Vec<u32>,
    since_flush: u64,
    /// The key space outgrew dense bins: keys go to the shared counts.
    shared: bool,
    scratch: Vec<u32>,
}

impl CpuSink<'_> {
    fn flush(&mut self) -> Result<()> {
        let key_space = self.bins.len() as u64;
        self.owner.counts.add_bins(0, &self.bins, key_space)?;
        self.bins.fill(0);
        self.since_flush = 0;
        Ok(())
    }
}

impl KeySink for CpuSink<'_> {
    fn add(&mut self, keys: &mut Vec<u32>, bins: u64) -> Result<()> {
        if !self.shared && bins > self.owner.dense_bins as u64 {
            self.flush()?;
            self.bins = Vec::new();
            self.shared = true;
        }
        if self.shared {
            self.owner.counts.add_keys(keys, bins, &mut self.scratch)?;
            keys.clear();
            return Ok(());
        }
        let bins = bins as usize;
        if self.bins.len() < bins {
            // New dates keep arriving early in a run; grow geometrically.
            let grown = bins.max(self.bins.len() * 2).min(self.owner.dense_bins);
            self.bins.resize(grown, 0);
        }
        let mut rest = &keys[..];
        while !rest.is_empty() {
            let room = (self.owner.flush.every - self.since_flush) as usize;
            let (now, later) = rest.split_at(room.min(rest.len()));
            for &key in now {
                self.bins[key as usize] += 1;
            }
            self.since_flush += now.len() as u64;
            if self.since_flush >= self.owner.flush.every {
                self.flush()?;
            }
            rest = later;
        }
        keys.clear();
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::FinalTotals;

    fn totals(counts: KeyTotals) -> Vec<u64> {
        let mut out = vec![0; 8];
        match counts.into_totals().unwrap() {
            FinalTotals::Sparse(groups) => {
                for (key, n) in groups {
                    out[key as usize] = n;
                }
            }
            FinalTotals::Dense(table) => {
                for (key, total) in out.iter_mut().enumerate().take(table.len()) {
                    *total = table.get(key);
                }
            }
        }
        out
    }

    #[test]
    fn counts_across_sinks_flushes_and_the_dense_limit() {
        for every in [1, 2, 3, 1000] {
            for dense in [0, 6, 100] {
                let histogram = Box::new(CpuHistogram::with_dense_bins(
                    FoldInterval::new(every),
                    dense,
                ));
                {
                    let mut a = histogram.sink().unwrap();
                    let mut b = histogram.sink().unwrap();
                    a.add(&mut vec![0, 1, 1, 4], 5).unwrap();
                    b.add(&mut vec![4, 4, 6], 7).unwrap();
                    a.add(&mut vec![6], 7).unwrap();
                    a.finish().unwrap();
                    b.finish().unwrap();
                }
                let counts = histogram.finish().unwrap();
                assert_eq!(
                    totals(counts)[..7],
                    [1, 2, 0, 0, 3, 0, 2],
                    "flush every {every}, dense up to {dense}"
                );
            }
        }
    }
}
