//! Putting results of parallel work back in sequence order.
//!
//! Threads finish chunks (of input to scan, or of output to generate) in any
//! order; [`Reorder`] holds the early ones until every one before them is in.
//! `generate` numbers its blocks 0, 1, 2, ...; the count's ledger numbers a
//! chunk's reports `(chunk, part)`, where only a part itself says whether
//! another part of its chunk follows.

use std::collections::BTreeMap;

/// Items keyed by their place in a sequence, released strictly in order.
/// What comes after an item is known once it is in: see [`Reorder::pop`].
#[derive(Debug)]
pub struct Reorder<K, T> {
    pending: BTreeMap<K, T>,
    next: K,
}

impl<K: Ord + Copy + Default, T> Default for Reorder<K, T> {
    /// Starting at the default key: 0, or (0, 0).
    fn default() -> Self {
        Reorder {
            pending: BTreeMap::new(),
            next: K::default(),
        }
    }
}

impl<K: Ord + Copy + std::fmt::Debug, T> Reorder<K, T> {
    /// Holds `item` until it is next.
    pub fn insert(&mut self, key: K, item: T) {
        debug_assert!(
            key >= self.next && !self.pending.contains_key(&key),
            "item {key:?} given twice"
        );
        self.pending.insert(key, item);
    }

    /// Takes the next item if it is in; `after(key, item)` says which key
    /// comes after it.
    pub fn pop(&mut self, after: impl FnOnce(K, &T) -> K) -> Option<T> {
        let item = self.pending.remove(&self.next)?;
        self.next = after(self.next, &item);
        Some(item)
    }

    /// The key of the next item to release.
    pub fn next(&self) -> K {
        self.next
    }
}

impl<T> Reorder<u64, T> {
    /// Takes item `seq` of items numbered 0, 1, 2, ... and calls `release`
    /// on it and on every item that was waiting for it, in order. Stops at
    /// the first error `release` returns.
    pub fn push<E>(
        &mut self,
        seq: u64,
        item: T,
        mut release: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        self.insert(seq, item);
        while let Some(item) = self.pop(|seq, _| seq + 1) {
            release(item)?;
        }
        Ok(())
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
        assert_eq!(reorder.next(), 6);
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

    /// Reports in parts, as the ledger gets them: each part says whether
    /// another of its chunk follows.
    #[test]
    fn an_item_says_what_comes_after_it() {
        let mut reorder: Reorder<(u64, u32), bool> = Reorder::default();
        let after = |(seq, part), &more: &bool| {
            if more {
                (seq, part + 1)
            } else {
                (seq + 1, 0)
            }
        };
        reorder.insert((1, 0), false);
        reorder.insert((0, 1), false);
        assert_eq!(reorder.pop(after), None);
        reorder.insert((0, 0), true);
        let mut out = Vec::new();
        while reorder.pop(after).is_some() {
            out.push(reorder.next());
        }
        assert_eq!(out, [(0, 1), (1, 0), (2, 0)]);
    }
}
