//! Putting results of parallel work back in sequence order.
//!
//! Threads finish chunks (of input to scan, or of output to generate) in any
//! order; [`Reorder`] holds the early ones until every one before them is in.

use std::collections::BTreeMap;

/// Items numbered 0, 1, 2, ..., released strictly in that order.
#[derive(Debug)]
pub struct Reorder<T> {
    pending: BTreeMap<u64, T>,
    next: u64,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            pending: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<T> Reorder<T> {
    /// Takes item `seq` and calls `release` on it and on every item that was
    /// waiting for it, in order. Stops at the first error `release` returns.
    pub fn push<E>(
        &mut self,
        seq: u64,
        item: T,
        mut release: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        debug_assert!(
            seq >= self.next && !self.pending.contains_key(&seq),
            "item {seq} given twice"
        );
        self.pending.insert(seq, item);
        while let Some(item) = self.pending.remove(&self.next) {
            self.next += 1;
            release(item)?;
        }
        Ok(())
    }

    /// How many items have been released.
    pub fn released(&self) -> u64 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_order_whatever_the_arrival_order() {
        let mut reorder = Reorder::default();
        let mut out = Vec::new();
        for seq in [2, 0, 3, 1, 5, 4] {
            reorder
                .push::<()>(seq, seq * 10, |x| {
                    out.push(x);
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(out, [0, 10, 20, 30, 40, 50]);
        assert_eq!(reorder.released(), 6);
    }

    #[test]
    fn stops_at_the_first_error() {
        let mut reorder = Reorder::default();
        reorder.push(1, 1, |_| Err("no")).unwrap();
        assert_eq!(
            reorder.push(0, 0, |x| if x == 1 { Err("no") } else { Ok(()) }),
            Err("no")
        );
    }
}
