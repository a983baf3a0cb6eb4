//! The CPU histogram: every scanning thread counts its own keys into its own
//! bins, right after scanning a chunk while the keys are still in cache, and
//! the threads' bins are summed at the end. No locks or atomics per key.

use super::{Flush, Histogram, KeySink, Totals};
use crate::error::Result;

/// Per-thread bins, added up at the end.
#[derive(Debug, Default)]
pub struct CpuHistogram {
    totals: Totals,
    flush: Flush,
}

impl CpuHistogram {
    /// An empty histogram whose bins are folded as `flush` says.
    pub fn new(flush: Flush) -> Self {
        CpuHistogram {
            totals: Totals::default(),
            flush,
        }
    }
}

impl Histogram for CpuHistogram {
    fn sink(&self) -> Result<Box<dyn KeySink + '_>> {
        Ok(Box::new(CpuSink {
            owner: self,
            bins: Vec::new(),
            since_flush: 0,
        }))
    }

    fn finish(self: Box<Self>) -> Result<Vec<u64>> {
        Ok(self.totals.into_counts())
    }
}

struct CpuSink<'h> {
    owner: &'h CpuHistogram,
    bins: Vec<u32>,
    since_flush: u64,
}

impl CpuSink<'_> {
    fn flush(&mut self) {
        self.owner.totals.add(0, &self.bins);
        self.bins.fill(0);
        self.since_flush = 0;
    }
}

impl KeySink for CpuSink<'_> {
    fn add(&mut self, keys: &mut Vec<u32>, bins: u64) -> Result<()> {
        let bins = bins as usize;
        if self.bins.len() < bins {
            // New dates keep arriving early in a run; grow geometrically.
            let grown = bins.max(self.bins.len() * 2);
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
                self.flush();
            }
            rest = later;
        }
        keys.clear();
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_across_sinks_and_flushes() {
        for every in [1, 2, 3, 1000] {
            let histogram = Box::new(CpuHistogram::new(Flush::new(every)));
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
            assert_eq!(counts[..7], [1, 2, 0, 0, 3, 0, 2], "flush every {every}");
        }
    }
}
