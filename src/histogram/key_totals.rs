//! The run's 64-bit totals, shared by every thread that counts, in memory
//! that follows the groups that occur rather than every group that could.
//!
//! Region names × distinct dates can be billions of possible keys while a
//! file holds a few thousand groups, so the totals start as a hash table
//! ([`Mode::Sparse`]): shards behind their own locks, which threads fill
//! with batches of keys partitioned by shard, so a lock is taken once per
//! shard per batch, never per key. When the groups come to fill a sixteenth
//! of the key space (70,000 regions × four years of days, tens of millions
//! of rows), a table with a slot for every key costs at most 64 bytes per
//! group, not much more than the hash table, and is several times faster:
//! the totals then move into one ([`DenseKeyTotals`]), counted with atomic
//! adds, its pages only taking memory once touched. Its slots are 32-bit,
//! with the rare total past 2^32 carried aside, so that 30 million groups
//! take 120 MB rather than 240.
//!
//! Small key spaces never come here key by key: every thread counts them in
//! dense bins of its own (see `cpu.rs`, and the GPU's) and adds the bins
//! once at the end.

use std::alloc::Layout;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use crate::error::{Error, Result};

/// Shards of the hash table: enough that threads rarely wait for one
/// another.
const SHARDS: usize = 64;

/// The hash table turns dense once it holds this fraction (1/n) of the key
/// space: then a slot per key (32 bits, carries aside) costs at most
/// `4 * n` bytes per group.
const DENSE_WHEN_ONE_IN: u64 = 16;

/// Key spaces smaller than this stay in the hash table: threads count them
/// in dense bins of their own anyway, and hand over only their totals.
const DENSE_FROM_KEYS: u64 = 1 << 16;

/// A key's shard: the top bits of its hash, so that keys next to each
/// other (dense packing) spread over all shards.
#[inline]
fn shard_of(key: u32) -> usize {
    (spread(key) >> (64 - SHARDS.trailing_zeros())) as usize
}

/// Fibonacci hashing: one multiplication mixes a `u32` well enough for a
/// table, at a fraction of SipHash's cost.
#[inline]
fn spread(key: u32) -> u64 {
    u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The hasher of the shards' maps (keys are `u32`s, nothing adversarial).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = spread(self.0 as u32 ^ u32::from(b));
        }
    }

    fn write_u32(&mut self, key: u32) {
        self.0 = spread(key);
    }
}

type Shard = HashMap<u32, u64, BuildHasherDefault<KeyHasher>>;

/// How the totals are held.
enum Mode {
    /// A hash table in shards.
    Sparse(Vec<Mutex<Shard>>),
    /// A slot for every key below its length.
    Dense(DenseKeyTotals),
}

/// What the totals must become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// Move from the hash table into a dense one.
    Densify,
    /// A longer dense table.
    Grow,
}

/// The 64-bit total of every key (date and region slot) of one count,
/// shared by every thread that counts: a hash table while few keys occur,
/// a [`DenseKeyTotals`] once many do. At the end of the count it becomes
/// the [`FinalTotals`].
pub struct KeyTotals {
    mode: RwLock<Mode>,
    /// Groups in the hash table (while sparse).
    groups: AtomicUsize,
    /// The largest key space any caller has named: every key so far is
    /// below it.
    key_space: AtomicU64,
}

/// What a [`KeyTotals`] holds once the count is over, for the result.
pub enum FinalTotals {
    /// Every group and its total, in no order.
    Sparse(Vec<(u32, u64)>),
    /// The total of every key below its length (most of them zero).
    Dense(DenseKeyTotals),
}

/// A total for every key below a length: 32-bit slots added to atomically,
/// and the carries of the few that pass 2^32 in a map aside. Half the
/// memory of 64-bit slots, with 64-bit totals all the same.
pub struct DenseKeyTotals {
    low: Box<[AtomicU32]>,
    /// Key → how many times its slot wrapped past 2^32.
    carries: Mutex<HashMap<u32, u64>>,
    /// Whether `carries` has any: reading a total skips the lock if not.
    any_carry: AtomicBool,
}

impl DenseKeyTotals {
    /// Zero totals for the keys below `len`; an error if memory runs out.
    pub fn zeroed(len: usize) -> Result<DenseKeyTotals> {
        Ok(DenseKeyTotals {
            low: zeroed_table(len)?,
            carries: Mutex::default(),
            any_carry: AtomicBool::new(false),
        })
    }

    /// How many keys it has a total for.
    pub fn len(&self) -> usize {
        self.low.len()
    }

    /// Adds `n` to `key`'s total, from any thread.
    #[inline]
    pub fn add(&self, key: u32, n: u32) {
        let old = self.low[key as usize].fetch_add(n, Ordering::Relaxed);
        // Exactly the add that wraps the slot sees it wrap (each add is
        // below 2^32), and carries its 2^32 aside.
        if old.checked_add(n).is_none() {
            self.carry(key, 1);
        }
    }

    #[cold]
    fn carry(&self, key: u32, carries: u64) {
        let mut map = self.carries.lock().expect("a counting thread panicked");
        *map.entry(key).or_insert(0) += carries;
        self.any_carry.store(true, Ordering::Relaxed);
    }

    /// Sets `key`'s total, which no other thread is adding to.
    pub fn set(&self, key: u32, total: u64) {
        self.low[key as usize].store(total as u32, Ordering::Relaxed);
        if total >> 32 != 0 {
            self.carry(key, total >> 32);
        }
    }

    /// `key`'s total, once no thread adds any more.
    #[inline]
    pub fn get(&self, key: usize) -> u64 {
        let low = u64::from(self.low[key].load(Ordering::Relaxed));
        if !self.any_carry.load(Ordering::Relaxed) {
            return low;
        }
        let map = self.carries.lock().expect("a counting thread panicked");
        low + (map.get(&(key as u32)).copied().unwrap_or(0) << 32)
    }
}

impl Default for KeyTotals {
    fn default() -> Self {
        KeyTotals {
            mode: RwLock::new(Mode::Sparse(
                (0..SHARDS).map(|_| Mutex::default()).collect(),
            )),
            groups: AtomicUsize::new(0),
            key_space: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for KeyTotals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyTotals")
    }
}

impl KeyTotals {
    /// Adds one to the total of every key in `keys` (each may repeat, all
    /// below `bins`, the key space so far). `scratch` is the caller's,
    /// reused between calls.
    pub fn add_keys(&self, keys: &[u32], bins: u64, scratch: &mut Vec<u32>) -> Result<()> {
        self.add(bins, |mode| match mode {
            Mode::Dense(table) => {
                for &key in keys {
                    table.add(key, 1);
                }
                Ok(())
            }
            Mode::Sparse(shards) => partition(keys, scratch, |shard, part| {
                let mut map = shards[shard].lock().expect("a counting thread panicked");
                reserve(&mut map, part.len())?;
                let before = map.len();
                for &key in part {
                    *map.entry(key).or_insert(0) += 1;
                }
                self.groups.fetch_add(map.len() - before, Ordering::Relaxed);
                Ok(())
            }),
        })
    }

    /// Adds `bins[i]` to the total of key `base + i`, for every non-zero
    /// bin: how a dense table (a thread's, or the GPU's) hands over.
    /// `key_space` is the number of keys so far (at least the bins').
    pub fn add_bins(&self, base: u32, bins: &[u32], key_space: u64) -> Result<()> {
        let key_space = key_space.max(u64::from(base) + bins.len() as u64);
        self.add(key_space, |mode| match mode {
            Mode::Dense(table) => {
                for (i, &n) in bins.iter().enumerate() {
                    if n != 0 {
                        table.add(base + i as u32, n);
                    }
                }
                Ok(())
            }
            Mode::Sparse(shards) => {
                let mut by_shard: Vec<Vec<(u32, u32)>> = vec![Vec::new(); SHARDS];
                for (i, &n) in bins.iter().enumerate() {
                    if n != 0 {
                        let key = base + i as u32;
                        by_shard[shard_of(key)].push((key, n));
                    }
                }
                for (lock, part) in shards.iter().zip(by_shard) {
                    if part.is_empty() {
                        continue;
                    }
                    let mut map = lock.lock().expect("a counting thread panicked");
                    reserve(&mut map, part.len())?;
                    let before = map.len();
                    for (key, n) in part {
                        *map.entry(key).or_insert(0) += u64::from(n);
                    }
                    self.groups.fetch_add(map.len() - before, Ordering::Relaxed);
                }
                Ok(())
            }
        })
    }

    /// Runs `add` on the totals, with a dense table long enough for `bins`
    /// keys if they are dense; then turns them dense if they have filled
    /// enough of the key space.
    fn add(&self, bins: u64, mut add: impl FnMut(&Mode) -> Result<()>) -> Result<()> {
        self.key_space.fetch_max(bins, Ordering::Relaxed);
        loop {
            let mode = self.mode.read().expect("a counting thread panicked");
            if self.change(&mode, bins) == Some(Change::Grow) {
                // New dates came: the dense table grows before counting.
                drop(mode);
                self.reshape(bins)?;
                continue;
            }
            add(&mode)?;
            let densify = self.change(&mode, bins) == Some(Change::Densify);
            drop(mode);
            return if densify { self.reshape(bins) } else { Ok(()) };
        }
    }

    /// What the totals need for a key space of `bins`, if anything.
    fn change(&self, mode: &Mode, bins: u64) -> Option<Change> {
        match mode {
            Mode::Dense(table) if bins > table.len() as u64 => Some(Change::Grow),
            Mode::Dense(_) => None,
            Mode::Sparse(_) => {
                let groups = self.groups.load(Ordering::Relaxed) as u64;
                let space = self.key_space.load(Ordering::Relaxed);
                (space >= DENSE_FROM_KEYS && groups * DENSE_WHEN_ONE_IN >= space)
                    .then_some(Change::Densify)
            }
        }
    }

    /// Makes the totals dense, or their dense table longer, as the key
    /// space of `bins` now needs (unless another thread already did).
    fn reshape(&self, bins: u64) -> Result<()> {
        let mut mode = self.mode.write().expect("a counting thread panicked");
        let space = self.key_space.load(Ordering::Relaxed);
        let len = match (self.change(&mode, bins), &*mode) {
            (None, _) => return Ok(()),
            (Some(_), Mode::Dense(table)) => space.max(table.len() as u64 * 2),
            (Some(_), Mode::Sparse(_)) => space,
        };
        let table = DenseKeyTotals::zeroed(len.min(1 << 32) as usize)?;
        match std::mem::replace(&mut *mode, Mode::Sparse(Vec::new())) {
            Mode::Dense(old) => {
                for key in 0..old.len() {
                    table.set(key as u32, old.get(key));
                }
            }
            Mode::Sparse(shards) => {
                for shard in shards {
                    for (key, n) in shard.into_inner().expect("a counting thread panicked") {
                        table.set(key, n);
                    }
                }
            }
        }
        *mode = Mode::Dense(table);
        Ok(())
    }

    /// The totals, for the result.
    pub fn into_totals(self) -> Result<FinalTotals> {
        match self.mode.into_inner().expect("a counting thread panicked") {
            Mode::Dense(table) => Ok(FinalTotals::Dense(table)),
            Mode::Sparse(shards) => {
                let groups = self.groups.load(Ordering::Relaxed);
                let mut all = Vec::new();
                all.try_reserve_exact(groups)
                    .map_err(|_| out_of_memory(groups))?;
                for shard in shards {
                    all.extend(shard.into_inner().expect("a counting thread panicked"));
                }
                Ok(FinalTotals::Sparse(all))
            }
        }
    }
}

/// Splits `keys` by shard (a counting sort into `scratch`) and calls `add`
/// once per shard that has keys.
fn partition(
    keys: &[u32],
    scratch: &mut Vec<u32>,
    mut add: impl FnMut(usize, &[u32]) -> Result<()>,
) -> Result<()> {
    let mut starts = [0usize; SHARDS + 1];
    for &key in keys {
        starts[shard_of(key) + 1] += 1;
    }
    for i in 0..SHARDS {
        starts[i + 1] += starts[i];
    }
    scratch.clear();
    scratch.resize(keys.len(), 0);
    let mut next = starts;
    for &key in keys {
        let shard = shard_of(key);
        scratch[next[shard]] = key;
        next[shard] += 1;
    }
    for shard in 0..SHARDS {
        let part = &scratch[starts[shard]..starts[shard + 1]];
        if !part.is_empty() {
            add(shard, part)?;
        }
    }
    Ok(())
}

/// A table of `len` zeroed slots, whose memory the system hands out only
/// as its pages are touched; an error, not an abort, if there is none.
fn zeroed_table(len: usize) -> Result<Box<[AtomicU32]>> {
    let layout = Layout::array::<AtomicU32>(len).map_err(|_| out_of_memory(len))?;
    if layout.size() == 0 {
        return Ok(Box::new([]));
    }
    // SAFETY: the layout has a non-zero size. Zeroed bytes are a valid
    // AtomicU32 (zero), so the memory is an initialised [AtomicU32; len],
    // allocated with the layout Box frees it with.
    let table = unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<AtomicU32>();
        if ptr.is_null() {
            return Err(out_of_memory(len));
        }
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len))
    };
    huge_pages(&table);
    Ok(table)
}

/// Asks for the table in huge pages where the system gives them on request
/// (Linux's transparent huge pages in `madvise` mode): every row lands in a
/// random slot of hundreds of MB, and with 4 KiB pages most of those
/// lookups also miss the TLB.
fn huge_pages(table: &[AtomicU32]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = table.as_ptr() as usize;
        let end = start + std::mem::size_of_val(table);
        let aligned = start.next_multiple_of(HUGE);
        if end > aligned + HUGE {
            // SAFETY: advice on whole pages inside memory we own; it changes
            // how the pages are backed, never their contents.
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    (end - aligned) & !(HUGE - 1),
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
}

/// Makes room for `more` keys before inserting them, so that running out
/// of memory is an error with a message, not an abort.
fn reserve(map: &mut Shard, more: usize) -> Result<()> {
    let needed = map.len() + more;
    if needed > map.capacity() {
        map.try_reserve(more)
            .map_err(|_| out_of_memory(needed * SHARDS))?;
    }
    Ok(())
}

fn out_of_memory(groups: usize) -> Error {
    Error::Limit(format!(
        "not enough memory for about {groups} groups (region names × dates) on this machine: \
         count fewer files at a time, or count the input in shards"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(counts: KeyTotals) -> Vec<(u32, u64)> {
        let mut all: Vec<(u32, u64)> = match counts.into_totals().unwrap() {
            FinalTotals::Sparse(all) => all,
            FinalTotals::Dense(table) => (0..table.len())
                .map(|key| (key as u32, table.get(key)))
                .filter(|&(_, n)| n > 0)
                .collect(),
        };
        all.sort_unstable();
        all
    }

    fn is_dense(counts: &KeyTotals) -> bool {
        matches!(*counts.mode.read().unwrap(), Mode::Dense(_))
    }

    #[test]
    fn keys_and_bins_add_up_in_a_sparse_key_space() {
        let counts = KeyTotals::default();
        let mut scratch = Vec::new();
        let bins = 1 << 32;
        counts
            .add_keys(&[7, u32::MAX, 7, 0, 1 << 20], bins, &mut scratch)
            .unwrap();
        counts.add_bins(5, &[0, 0, 3, 0, 1], bins).unwrap();
        counts.add_keys(&[], bins, &mut scratch).unwrap();
        assert!(!is_dense(&counts));
        assert_eq!(
            sorted(counts),
            [(0, 1), (7, 5), (9, 1), (1 << 20, 1), (u32::MAX, 1)]
        );
    }

    /// Groups filling the key space turn the totals dense, which then grow
    /// with the key space; nothing counted before or after is lost.
    #[test]
    fn a_filling_key_space_turns_dense_and_grows() {
        let counts = KeyTotals::default();
        let mut scratch = Vec::new();
        counts.add_keys(&[1, 2, 3], 1000, &mut scratch).unwrap();
        assert!(!is_dense(&counts));
        let many: Vec<u32> = (0..20_000).collect();
        counts.add_keys(&many, 100_000, &mut scratch).unwrap();
        assert!(is_dense(&counts));
        counts
            .add_keys(&[99_999, 500_000], 500_001, &mut scratch)
            .unwrap();
        counts.add_bins(499_999, &[2, 3], 500_001).unwrap();
        // A thread that has not seen the key space grow yet still counts.
        counts.add_keys(&[5], 1000, &mut scratch).unwrap();
        let all = sorted(counts);
        assert_eq!(all.len(), 20_003);
        assert_eq!(all[1..4], [(1, 2), (2, 2), (3, 2)]);
        assert_eq!(all[5], (5, 2));
        assert_eq!(all[20_000..], [(99_999, 1), (499_999, 2), (500_000, 4)]);
    }

    /// Totals past 2^32 in 32-bit slots: carried aside, from several
    /// threads at once, through sparse totals turning dense and a dense
    /// table growing.
    #[test]
    fn dense_totals_carry_past_32_bits() {
        let big = u32::MAX - 10;
        let counts = KeyTotals::default();
        // Sparse first: 3 × big in key 7, then dense by filling the space.
        counts.add_bins(7, &[big, 0, big], 100_000).unwrap();
        counts.add_bins(7, &[big], 100_000).unwrap();
        let many: Vec<u32> = (0..20_000).collect();
        counts.add_keys(&many, 100_000, &mut Vec::new()).unwrap();
        assert!(is_dense(&counts));
        // Dense: 4 threads × 3 × big more in key 7, and key 9's wraps.
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let counts = &counts;
                scope.spawn(move || {
                    for _ in 0..3 {
                        counts.add_bins(7, &[big, 0, 5], 100_000).unwrap();
                    }
                });
            }
        });
        // The table grows with the key space, carries and all.
        counts
            .add_keys(&[7, 1_000_000], 1_000_001, &mut Vec::new())
            .unwrap();
        let all = sorted(counts);
        let big = u64::from(big);
        assert_eq!(all[7], (7, 14 * big + 2));
        assert_eq!(all[9], (9, big + 60 + 1));
        assert_eq!(all.last(), Some(&(1_000_000, 1)));

        let table = DenseKeyTotals::zeroed(3).unwrap();
        table.set(1, 5 << 32 | 9);
        table.add(1, u32::MAX);
        assert_eq!(table.get(1), (5 << 32) + 9 + u64::from(u32::MAX));
        assert_eq!((table.get(0), table.get(2)), (0, 0));
    }

    #[test]
    fn dense_keys_spread_over_every_shard() {
        let mut seen = [false; SHARDS];
        for key in 0..10_000 {
            seen[shard_of(key)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn threads_adding_at_once_lose_nothing() {
        for bins in [DENSE_FROM_KEYS, 1 << 30] {
            let counts = KeyTotals::default();
            std::thread::scope(|scope| {
                for t in 0..4u32 {
                    let counts = &counts;
                    scope.spawn(move || {
                        let mut scratch = Vec::new();
                        let keys: Vec<u32> = (0..50_000).map(|i| (i * 7 + t) % 10_000).collect();
                        for part in keys.chunks(333) {
                            counts.add_keys(part, bins, &mut scratch).unwrap();
                        }
                    });
                }
            });
            let all = sorted(counts);
            assert_eq!(all.iter().map(|&(_, n)| n).sum::<u64>(), 200_000);
            assert_eq!(all.len(), 10_000);
        }
    }
}
