//! The tables that take a row's date to a dense index during a count:
//! [`DateDict`], shared by all threads, and [`DateCache`], one thread's
//! lock-free way to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::calendar::{day_number, parse_date};
use super::event_time::all_digits;
use super::{DateError, DateText};

/// Why a date could not be given an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternError {
    /// The text is not a valid date: the row is malformed.
    Invalid(DateError),
    /// The key has no room for another date: the run must stop.
    Full,
}

/// Every distinct valid date seen so far, shared by all scanning threads.
///
/// Threads look dates up in their own [`DateCache`] first and come here only
/// for a date they have not seen before, so the lock is taken a few thousand
/// times per run, not once per row.
#[derive(Debug)]
pub struct DateDict {
    inner: Mutex<DateDictInner>,
    len: AtomicU32,
    max: u32,
}

#[derive(Debug, Default)]
struct DateDictInner {
    index: HashMap<DateText, u32>,
    dates: Vec<DateText>,
}

impl DateDict {
    /// A dictionary with room for at most `max` dates.
    pub fn new(max: u32) -> Self {
        DateDict {
            inner: Mutex::new(DateDictInner::default()),
            len: AtomicU32::new(0),
            max,
        }
    }

    /// The index of `raw`, validating and adding it if it is new.
    pub fn intern(&self, raw: &[u8]) -> Result<u32, InternError> {
        let text = parse_date(raw).map_err(InternError::Invalid)?;
        self.intern_text(&text).ok_or(InternError::Full)
    }

    /// The index of a date already validated, adding it if it is new;
    /// `None` when the dictionary is full.
    pub fn intern_text(&self, text: &DateText) -> Option<u32> {
        let mut inner = self.inner.lock().expect("a scanning thread panicked");
        if let Some(&index) = inner.index.get(text) {
            return Some(index);
        }
        let index = inner.dates.len() as u32;
        if index >= self.max {
            return None;
        }
        inner.index.insert(*text, index);
        inner.dates.push(*text);
        // Release: a thread that reads this length and then receives a key
        // batch sees every date the batch's keys refer to.
        self.len.store(index + 1, Ordering::Release);
        Some(index)
    }

    /// How many dates have indices so far. Every key made before this call
    /// (on any thread that has since handed its keys over) refers to one.
    pub fn len(&self) -> u32 {
        self.len.load(Ordering::Acquire)
    }

    /// The most dates this dictionary accepts.
    pub fn capacity(&self) -> u32 {
        self.max
    }

    /// The dates in index order.
    pub fn dates(&self) -> Vec<DateText> {
        self.inner
            .lock()
            .expect("a scanning thread panicked")
            .dates
            .clone()
    }
}

/// One thread's date lookup: from a date's text straight to its index,
/// with no lock. Every row looks its date up here, so this is the hottest
/// table of the scan.
///
/// Two levels. The first is a small set-associative table keyed by the
/// date's ten raw bytes (two words): a hash, one load, two compares, and no
/// validation at all, since only dates the shared [`DateDict`] validated
/// are ever entered. It holds the dates in use (two per set of 4,096, so
/// thousands of distinct dates rarely push each other out). Behind it, the
/// second level never forgets: the digits of `YYYY-MM-DD` are read with a
/// few word operations, `(year, month)` picks a page of 32 days, and the day
/// picks the entry; a date found there moves into the first level.
pub struct DateCache {
    /// The first level: two ways per set (a fixed size, so a set's index
    /// needs no bounds check).
    sets: Box<[[Recent; 2]; SETS]>,
    /// For `year * 100 + month`: 1 + the page of that month, or 0. Allocated
    /// zeroed, so only the months that occur are ever touched.
    months: Vec<u16>,
    /// Per page, for each day: 1 + the date's index, or 0.
    days: Vec<[u32; 32]>,
    /// For each day from 0000-01-01 to 9999-12-31: 1 + the date's index,
    /// or 0, for the event times of the fast path, which know their day's
    /// number, not its text. Allocated zeroed (14 MiB of address space),
    /// so only the pages of the days that occur are ever touched.
    by_day: Vec<u32>,
}

/// [`days_from_civil`] of 0000-01-01, the first day a date's text can hold.
pub(super) const FIRST_DAY: i64 = -719_528;

/// Days from 0000-01-01 to 9999-12-31, both included.
pub(super) const TEXT_DAYS: usize = 3_652_425;

/// A date of the first level: its bytes 0..8 and 8..10, and its index. An
/// empty way holds [`Recent::EMPTY`], whose bytes no field looked up can
/// have, so a hit needs no other check.
#[derive(Clone, Copy, Debug)]
struct Recent {
    head: u64,
    tail: u16,
    index: u32,
}

impl Recent {
    /// An empty way: newlines, which no field of a row holds (a row is
    /// one line), so no lookup ever matches it.
    const EMPTY: Recent = Recent {
        head: u64::from_le_bytes(*b"\n\n\n\n\n\n\n\n"),
        tail: u16::from_le_bytes(*b"\n\n"),
        index: 0,
    };
}

/// Sets of the first level (a power of two): 4,096 sets of two ways, 128
/// KiB, which stays in a core's L2 cache.
pub(super) const SETS: usize = 1 << 12;

impl std::fmt::Debug for DateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DateCache({} months)", self.days.len())
    }
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache {
            sets: vec![[Recent::EMPTY; 2]; SETS]
                .into_boxed_slice()
                .try_into()
                .expect("SETS sets"),
            months: vec![0; 10_000 * 100],
            days: Vec::new(),
            by_day: vec![0; TEXT_DAYS],
        }
    }
}

impl DateCache {
    /// `(year * 100 + month, day)` of text shaped like `YYYY-MM-DD` (digits
    /// and dashes; the calendar is the dictionary's business), else `None`.
    #[inline(always)]
    pub(super) fn slot(text: &DateText) -> Option<(usize, usize)> {
        let head = u64::from_le_bytes(text[..8].try_into().unwrap());
        let tail = u64::from(u16::from_le_bytes([text[8], text[9]]));
        const DASHES: u64 = 0xFF00_00FF_0000_0000; // bytes 4 and 7
        if head & DASHES != 0x2D00_002D_0000_0000 {
            return None;
        }
        // Put '0' where the dashes are, then test 10 bytes for digits.
        let x = (head & !DASHES) | 0x3000_0030_0000_0000;
        if !all_digits(x, 0x0101_0101_0101_0101) || !all_digits(tail, 0x0101) {
            return None;
        }
        let digit = |i: u32| ((x >> (8 * i)) & 0x0F) as usize;
        let year = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
        let month = digit(5) * 10 + digit(6);
        let day = (tail & 0x0F) as usize * 10 + ((tail >> 8) & 0x0F) as usize;
        if day >= 32 {
            return None;
        }
        Some((year * 100 + month, day))
    }

    /// The index of a date seen before by this thread: `raw` is the bytes
    /// where a date should be, of any length, from one line (no newline).
    #[inline(always)]
    pub fn get(&mut self, raw: &[u8]) -> Option<u32> {
        let text: &DateText = raw.try_into().ok()?;
        let head = u64::from_le_bytes(text[..8].try_into().unwrap());
        let tail = u16::from_le_bytes([text[8], text[9]]);
        let set = Self::set_of(head, tail);
        let ways = &self.sets[set];
        for way in ways {
            if way.head == head && way.tail == tail {
                return Some(way.index);
            }
        }
        self.get_exact(text, set, head, tail)
    }

    /// The second level, for a date not in the first; promotes what it
    /// finds.
    #[cold]
    fn get_exact(&mut self, text: &DateText, set: usize, head: u64, tail: u16) -> Option<u32> {
        let (month, day) = Self::slot(text)?;
        let page = self.months[month];
        if page == 0 {
            return None;
        }
        let index = self.days[usize::from(page) - 1][day].checked_sub(1)?;
        self.promote(set, head, tail, index);
        Some(index)
    }

    /// The set of a date's bytes. Dates differ only in a few digits, in
    /// the high bytes of `head` and in `tail`: those are folded down before
    /// the multiply, whose high bits (the set) would otherwise see little
    /// of them (365 days fell into 160 sets, up to four in one).
    #[inline(always)]
    pub(super) fn set_of(head: u64, tail: u16) -> usize {
        let folded = head ^ (head >> 29) ^ (u64::from(tail) << 3);
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SETS.trailing_zeros())) as usize
    }

    /// Puts a date in its set, first; the other way keeps the date used
    /// most recently before it.
    fn promote(&mut self, set: usize, head: u64, tail: u16, index: u32) {
        let ways = &mut self.sets[set];
        ways[1] = ways[0];
        ways[0] = Recent { head, tail, index };
    }

    /// The index of the date of day `day` (days since 1970-01-01), if this
    /// thread has seen that date.
    #[inline(always)]
    pub fn get_day(&self, day: i64) -> Option<u32> {
        let i = day.wrapping_sub(FIRST_DAY) as usize;
        self.by_day.get(i)?.checked_sub(1)
    }

    /// Remembers a valid date's index.
    pub fn insert(&mut self, text: &DateText, index: u32) {
        if let Some(slot) = self
            .by_day
            .get_mut(day_number(text).wrapping_sub(FIRST_DAY) as usize)
        {
            *slot = index + 1;
        }
        let head = u64::from_le_bytes(text[..8].try_into().unwrap());
        let tail = u16::from_le_bytes([text[8], text[9]]);
        self.promote(Self::set_of(head, tail), head, tail, index);
        let Some((month, day)) = Self::slot(text) else {
            return;
        };
        if self.months[month] == 0 {
            if self.days.len() >= usize::from(u16::MAX) {
                return; // more months than pages: look the rest up in the dictionary
            }
            self.days.push([0; 32]);
            self.months[month] = self.days.len() as u16;
        }
        self.days[usize::from(self.months[month]) - 1][day] = index + 1;
    }
}
