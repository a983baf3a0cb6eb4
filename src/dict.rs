//! The dictionaries that turn a row's `region_id` and `date` into one dense
//! `u32` key, and back again for the result.
//!
//! - [`RegionTable`] comes from region.csv: each id maps to a *region slot*,
//!   one per distinct region name, so two ids with the same name fold into
//!   one result row exactly as the original `groupBy(region_name, date)` did.
//! - [`DateDict`] gives each distinct date string an index the first time any
//!   thread sees it. That is also the only place a date is validated: a
//!   terabyte holds billions of rows but only thousands of distinct dates.
//! - [`KeySpace`] packs the two indices: `key = date * region_slots + region`.
//!   The keys are dense, so a histogram is a plain array with one bin per
//!   (date, region), which is what both the GPU shader and the CPU loop want.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::csv;
use crate::error::{Error, Result};

/// A date as it appears in the data after validation: `YYYY-MM-DD`.
/// Sorting these bytes sorts chronologically.
pub type DateText = [u8; 10];

/// Why a region_id field is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdError {
    Empty,
    NotInteger,
}

/// Parses a region_id: an optionally signed decimal integer that fits an
/// `i64`, leading zeros allowed ("01" is 1). The input is already trimmed.
pub fn parse_region_id(raw: &[u8]) -> Result<i64, IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    let (negative, digits) = match raw[0] {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() {
        return Err(IdError::NotInteger);
    }
    // Accumulate negatively so that i64::MIN parses too.
    let mut value: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(IdError::NotInteger);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_sub(i64::from(d)))
            .ok_or(IdError::NotInteger)?;
    }
    if negative {
        Ok(value)
    } else {
        value.checked_neg().ok_or(IdError::NotInteger)
    }
}

/// Why a date field is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateError {
    /// Not of the form `YYYY-MM-DD`.
    NotIso,
    /// Of that form, but no such day exists (2019-02-30, 2019-13-01).
    NoSuchDay,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateError::NotIso => "is not a date written YYYY-MM-DD",
            DateError::NoSuchDay => "is not a real calendar date",
        })
    }
}

/// Validates a date written `YYYY-MM-DD` (proleptic Gregorian calendar).
pub fn parse_date(raw: &[u8]) -> Result<DateText, DateError> {
    let text: DateText = raw.try_into().map_err(|_| DateError::NotIso)?;
    let digit_at = |i: usize| -> Result<u32, DateError> {
        let d = text[i].wrapping_sub(b'0');
        if d > 9 {
            return Err(DateError::NotIso);
        }
        Ok(u32::from(d))
    };
    if text[4] != b'-' || text[7] != b'-' {
        return Err(DateError::NotIso);
    }
    let year = digit_at(0)? * 1000 + digit_at(1)? * 100 + digit_at(2)? * 10 + digit_at(3)?;
    let month = digit_at(5)? * 10 + digit_at(6)?;
    let day = digit_at(8)? * 10 + digit_at(9)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(DateError::NoSuchDay),
    };
    if day == 0 || day > days_in_month {
        return Err(DateError::NoSuchDay);
    }
    Ok(text)
}

/// How (date index, region slot) pairs pack into one `u32` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpace {
    region_slots: u32,
}

impl KeySpace {
    pub fn new(region_slots: u32) -> Self {
        // With no regions at all no key is ever made; one slot keeps the
        // arithmetic simple.
        KeySpace {
            region_slots: region_slots.max(1),
        }
    }

    pub fn region_slots(&self) -> u32 {
        self.region_slots
    }

    /// How many distinct dates the key has room for.
    pub fn max_dates(&self) -> u32 {
        ((1u64 << 32) / u64::from(self.region_slots)).min(u64::from(u32::MAX)) as u32
    }

    /// The number of histogram bins that `dates` distinct dates need.
    pub fn bins(&self, dates: u32) -> u64 {
        u64::from(dates) * u64::from(self.region_slots)
    }

    #[inline(always)]
    pub fn pack(&self, date: u32, region: u32) -> u32 {
        debug_assert!(region < self.region_slots && date < self.max_dates());
        date * self.region_slots + region
    }

    pub fn unpack(&self, key: u32) -> (u32, u32) {
        (key / self.region_slots, key % self.region_slots)
    }
}

/// The regions of region.csv: which region slot each id maps to, and the name
/// of each slot.
#[derive(Debug)]
pub struct RegionTable {
    names: Vec<Box<[u8]>>,
    by_id: IdIndex,
    /// Every id, in file order.
    ids: Vec<i64>,
}

/// Ids up to this bound are looked up in a flat array (4 bytes per possible
/// id); any id beyond it switches the table to a hash map.
const DENSE_IDS: i64 = 1 << 20;
const NO_SLOT: u32 = u32::MAX;

#[derive(Debug)]
enum IdIndex {
    Dense(Vec<u32>),
    Sparse(HashMap<i64, u32>),
}

impl RegionTable {
    /// Parses region.csv. `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<RegionTable> {
        let table = csv::Table::new(bytes, file, "\"region_id\",\"region_name\"")?;
        let id_col = table.column("region_id")?;
        let name_col = table.column("region_name")?;
        let data_error = |line: u64, reason: String| Error::Data {
            file: file.to_string(),
            line,
            reason,
        };

        let mut ids: Vec<(i64, u32)> = Vec::new(); // (id, slot)
        let mut names: Vec<Box<[u8]>> = Vec::new();
        let mut slot_of_name: HashMap<Box<[u8]>, u32> = HashMap::new();
        let mut first_line_of_id: HashMap<i64, u64> = HashMap::new();
        table.for_each(|line, fields| {
            let raw_id = fields[id_col].value();
            let id = parse_region_id(&raw_id)
                .map_err(|e| data_error(line, describe_id_error(e, &raw_id)))?;
            if let Some(first) = first_line_of_id.insert(id, line) {
                return Err(data_error(
                    line,
                    format!("region_id {id} is already defined on line {first}"),
                ));
            }
            let name: Box<[u8]> = fields[name_col].value().into();
            let next = names.len() as u32;
            let slot = *slot_of_name.entry(name.clone()).or_insert_with(|| {
                names.push(name);
                next
            });
            ids.push((id, slot));
            Ok(())
        })?;

        let dense = ids.iter().all(|&(id, _)| (0..DENSE_IDS).contains(&id));
        let by_id = if dense {
            let len = ids.iter().map(|&(id, _)| id + 1).max().unwrap_or(0) as usize;
            let mut table = vec![NO_SLOT; len];
            for &(id, slot) in &ids {
                table[id as usize] = slot;
            }
            IdIndex::Dense(table)
        } else {
            IdIndex::Sparse(ids.iter().copied().collect())
        };
        Ok(RegionTable {
            names,
            by_id,
            ids: ids.iter().map(|&(id, _)| id).collect(),
        })
    }

    /// The region slot of `id`, or `None` if region.csv does not list it.
    #[inline(always)]
    pub fn slot(&self, id: i64) -> Option<u32> {
        match &self.by_id {
            IdIndex::Dense(table) => {
                let slot = *table.get(usize::try_from(id).ok()?)?;
                (slot != NO_SLOT).then_some(slot)
            }
            IdIndex::Sparse(map) => map.get(&id).copied(),
        }
    }

    /// The number of distinct region names, which is the number of slots.
    pub fn slots(&self) -> u32 {
        self.names.len() as u32
    }

    /// Every region_id of region.csv, in file order.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    pub fn name(&self, slot: u32) -> &[u8] {
        &self.names[slot as usize]
    }
}

/// Finds a header column by name, ignoring ASCII case.
pub fn find_column(header: &[Vec<u8>], name: &str) -> Result<usize, String> {
    let mut hits = header
        .iter()
        .enumerate()
        .filter(|(_, h)| h.eq_ignore_ascii_case(name.as_bytes()));
    match (hits.next(), hits.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some(_), Some(_)) => Err(format!("header has two \"{name}\" columns")),
        (None, _) => {
            let found: Vec<String> = header
                .iter()
                .map(|h| format!("\"{}\"", String::from_utf8_lossy(h)))
                .collect();
            Err(format!(
                "header has no \"{name}\" column (found {})",
                found.join(",")
            ))
        }
    }
}

/// The message for a region_id that does not parse, quoting what was there.
pub fn describe_id_error(e: IdError, raw: &[u8]) -> String {
    match e {
        IdError::Empty => "region_id is empty".to_string(),
        IdError::NotInteger => format!("region_id {} is not an integer", quote_for_message(raw)),
    }
}

/// Shows a piece of input inside a message: quoted, lossy UTF-8, and cut
/// short so that one bad row cannot flood the terminal.
pub fn quote_for_message(raw: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&raw[..raw.len().min(MAX)]);
    let more = if raw.len() > MAX { "..." } else { "" };
    format!("\"{}{more}\"", text.escape_debug())
}

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
        let mut inner = self.inner.lock().expect("a scanning thread panicked");
        if let Some(&index) = inner.index.get(&text) {
            return Ok(index);
        }
        let index = inner.dates.len() as u32;
        if index >= self.max {
            return Err(InternError::Full);
        }
        inner.index.insert(text, index);
        inner.dates.push(text);
        // Release: a thread that reads this length and then receives a key
        // batch sees every date the batch's keys refer to.
        self.len.store(index + 1, Ordering::Release);
        Ok(index)
    }

    /// How many dates have indices so far. Every key made before this call
    /// (on any thread that has since handed its keys over) refers to one.
    pub fn len(&self) -> u32 {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
/// with no lock and no hashing. Every row looks its date up here, so this
/// is the hottest table of the scan.
///
/// It is direct-mapped: the digits of `YYYY-MM-DD` are read with a few word
/// operations, `(year, month)` picks a page of 32 days, and the day picks
/// the entry. A random date costs two loads and no unpredictable branch (a
/// hash table with probing mispredicted on a fifth of lookups). Only dates
/// the shared [`DateDict`] has validated are ever entered.
pub struct DateCache {
    /// For `year * 100 + month`: 1 + the page of that month, or 0. Allocated
    /// zeroed, so only the months that occur are ever touched.
    months: Vec<u16>,
    /// Per page, for each day: 1 + the date's index, or 0.
    days: Vec<[u32; 32]>,
}

impl std::fmt::Debug for DateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DateCache({} months)", self.days.len())
    }
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache {
            months: vec![0; 10_000 * 100],
            days: Vec::new(),
        }
    }
}

impl DateCache {
    /// `(year * 100 + month, day)` of text shaped like `YYYY-MM-DD` (digits
    /// and dashes; the calendar is the dictionary's business), else `None`.
    #[inline(always)]
    fn slot(text: &DateText) -> Option<(usize, usize)> {
        let head = u64::from_le_bytes(text[..8].try_into().unwrap());
        let tail = u64::from(u16::from_le_bytes([text[8], text[9]]));
        const DASHES: u64 = 0xFF00_00FF_0000_0000; // bytes 4 and 7
        if head & DASHES != 0x2D00_002D_0000_0000 {
            return None;
        }
        // Put '0' where the dashes are, then test 10 bytes for digits:
        // the high nibble is 3, and adding 6 keeps it 3 (no carry can
        // cross bytes once every byte is 0x30..=0x3F).
        let x = (head & !DASHES) | 0x3000_0030_0000_0000;
        let is_digits = |x: u64, ones: u64| {
            x & (ones * 0xF0) == ones * 0x30
                && x.wrapping_add(ones * 0x06) & (ones * 0xF0) == ones * 0x30
        };
        if !is_digits(x, 0x0101_0101_0101_0101) || !is_digits(tail, 0x0101) {
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

    /// The index of a date seen before by this thread.
    #[inline(always)]
    pub fn get(&self, text: &DateText) -> Option<u32> {
        let (month, day) = Self::slot(text)?;
        let page = self.months[month];
        if page == 0 {
            return None;
        }
        self.days[usize::from(page) - 1][day].checked_sub(1)
    }

    /// Remembers a valid date's index.
    pub fn insert(&mut self, text: &DateText, index: u32) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_ids() {
        assert_eq!(parse_region_id(b"01"), Ok(1));
        assert_eq!(parse_region_id(b"-7"), Ok(-7));
        assert_eq!(parse_region_id(b"+7"), Ok(7));
        assert_eq!(parse_region_id(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            parse_region_id(b"9223372036854775808"),
            Err(IdError::NotInteger)
        );
        assert_eq!(parse_region_id(b""), Err(IdError::Empty));
        assert_eq!(parse_region_id(b"-"), Err(IdError::NotInteger));
        assert_eq!(parse_region_id(b"1.0"), Err(IdError::NotInteger));
        assert_eq!(parse_region_id(b"1 2"), Err(IdError::NotInteger));
    }

    #[test]
    fn dates_are_real_calendar_days() {
        assert!(parse_date(b"2019-01-17").is_ok());
        assert!(parse_date(b"2020-02-29").is_ok());
        assert!(parse_date(b"2000-02-29").is_ok());
        assert_eq!(parse_date(b"1900-02-29"), Err(DateError::NoSuchDay));
        assert_eq!(parse_date(b"2019-02-29"), Err(DateError::NoSuchDay));
        assert_eq!(parse_date(b"2019-02-30"), Err(DateError::NoSuchDay));
        assert_eq!(parse_date(b"2019-13-01"), Err(DateError::NoSuchDay));
        assert_eq!(parse_date(b"2019-00-10"), Err(DateError::NoSuchDay));
        assert_eq!(parse_date(b"2019-04-31"), Err(DateError::NoSuchDay));
        assert_eq!(parse_date(b"2019-1-17"), Err(DateError::NotIso));
        assert_eq!(parse_date(b"2019/01/17"), Err(DateError::NotIso));
        assert_eq!(parse_date(b"17-01-2019"), Err(DateError::NotIso));
        assert_eq!(parse_date(b"2019-01-1x"), Err(DateError::NotIso));
    }

    #[test]
    fn keys_round_trip_and_fill_u32() {
        let keys = KeySpace::new(65_536);
        assert_eq!(keys.max_dates(), 65_536);
        let key = keys.pack(65_535, 65_535);
        assert_eq!(key, u32::MAX);
        assert_eq!(keys.unpack(key), (65_535, 65_535));
        assert_eq!(KeySpace::new(1).max_dates(), u32::MAX);
        assert_eq!(KeySpace::new(0).region_slots(), 1);
    }

    #[test]
    fn region_table_folds_names_and_rejects_duplicates() {
        let table = RegionTable::parse(
            b"\xEF\xBB\xBF\"region_name\",\"region_id\"\r\n\"A\",\"1\"\r\n\r\n\"B\",2\n\"A\",\" 03 \"\n",
            "region.csv",
        )
        .unwrap();
        assert_eq!(table.slots(), 2);
        assert_eq!(table.ids(), [1, 2, 3]);
        assert_eq!(table.slot(1), Some(0));
        assert_eq!(table.slot(3), Some(0));
        assert_eq!(table.slot(2), Some(1));
        assert_eq!(table.slot(4), None);
        assert_eq!(table.slot(-1), None);

        let err = RegionTable::parse(b"region_id,region_name\n1,A\n\"multi\nline\",B\n", "r.csv")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.csv:3: region_id \"multi\\nline\" is not an integer"
        );
        let err = RegionTable::parse(b"region_id,region_name\n1,A\n\"x\ny\",B\n1,C\n", "r.csv")
            .unwrap_err();
        assert!(err.to_string().starts_with("r.csv:3:"), "{err}");
        let err =
            RegionTable::parse(b"region_id,region_name\n1,A\n2,B\n1,C\n", "r.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.csv:4: region_id 1 is already defined on line 2"
        );
        let err = RegionTable::parse(b"id,region_name\n1,A\n", "r.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.csv:1: header has no \"region_id\" column (found \"id\",\"region_name\")"
        );
    }

    #[test]
    fn sparse_ids_work_like_dense_ones() {
        let table =
            RegionTable::parse(b"region_id,region_name\n-5,A\n9000000000,B\n7,C\n", "r.csv")
                .unwrap();
        assert_eq!(table.slot(-5), Some(0));
        assert_eq!(table.slot(9_000_000_000), Some(1));
        assert_eq!(table.slot(7), Some(2));
        assert_eq!(table.slot(8), None);
    }

    #[test]
    fn date_dict_validates_once_and_stops_when_full() {
        let dict = DateDict::new(2);
        assert_eq!(dict.intern(b"2019-01-01"), Ok(0));
        assert_eq!(dict.intern(b"2019-01-02"), Ok(1));
        assert_eq!(dict.intern(b"2019-01-01"), Ok(0));
        assert_eq!(
            dict.intern(b"2019-02-30"),
            Err(InternError::Invalid(DateError::NoSuchDay))
        );
        assert_eq!(dict.intern(b"2019-01-03"), Err(InternError::Full));
        assert_eq!(dict.len(), 2);
        assert_eq!(dict.dates(), [*b"2019-01-01", *b"2019-01-02"]);
    }

    #[test]
    fn date_cache_grows_and_finds_everything() {
        let mut cache = DateCache::default();
        let texts: Vec<DateText> = (0..5000)
            .map(|i| {
                let s = format!("{:04}-{:02}-{:02}", 1000 + i / 12, i % 12 + 1, i % 28 + 1);
                s.as_bytes().try_into().unwrap()
            })
            .collect();
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(cache.get(t), None);
            cache.insert(t, i as u32);
        }
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(cache.get(t), Some(i as u32));
        }
    }

    /// The cache reads digits with word tricks: it must take exactly the
    /// `DDDD-DD-DD` shapes and read the same numbers a plain parse does.
    #[test]
    fn date_cache_reads_exactly_digit_dash_shapes() {
        let alphabet = b"0123459:/-+ \x2f\xb0";
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..200_000 {
            let mut text: DateText = *b"2019-01-17";
            for b in text.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly keep the date, sometimes put odd bytes anywhere.
                if x.is_multiple_of(4) {
                    *b = alphabet[(x >> 8) as usize % alphabet.len()];
                }
            }
            let plain = std::str::from_utf8(&text).ok().and_then(|t| {
                let shaped = t.len() == 10
                    && t.bytes().enumerate().all(|(i, b)| {
                        if i == 4 || i == 7 {
                            b == b'-'
                        } else {
                            b.is_ascii_digit()
                        }
                    });
                let (y, m, d): (usize, usize, usize) = (
                    t.get(0..4)?.parse().ok()?,
                    t.get(5..7)?.parse().ok()?,
                    t.get(8..10)?.parse().ok()?,
                );
                (shaped && d < 32).then_some((y * 100 + m, d))
            });
            assert_eq!(
                DateCache::slot(&text),
                plain,
                "{}",
                String::from_utf8_lossy(&text)
            );
        }
    }
}
