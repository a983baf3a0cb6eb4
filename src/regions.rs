//! The regions of region.csv, and how a row's region and date pack into
//! one dense `u32` key and back again for the result.
//!
//! - [`RegionTable`] maps each id to a *region slot*, one per distinct region
//!   name, so two ids with the same name fold into one result row exactly as
//!   the original `groupBy(region_name, date)` did.
//! - [`KeySpace`] packs a date's index and a region slot:
//!   `key = date * region_slots + region`. Keys are dense, so a small key
//!   space is counted in a plain array, which is what both the GPU shader and
//!   the CPU loop want.

use std::collections::HashMap;

use crate::csv::quote_for_message;
use crate::error::{Error, Result};
use crate::format::{RegionFormat, SmallFile, Table, REGION_FILE};

/// Why a region_id field is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdError {
    /// Nothing there.
    Empty,
    /// Not a decimal integer that fits 64 bits.
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

/// The message for a region_id that does not parse, quoting what was there.
pub fn describe_id_error(e: IdError, raw: &[u8]) -> String {
    match e {
        IdError::Empty => "region_id is empty".to_string(),
        IdError::NotInteger => format!("region_id {} is not an integer", quote_for_message(raw)),
    }
}

/// How (date index, region slot) pairs pack into one `u32` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpace {
    region_slots: u32,
}

impl KeySpace {
    /// The key space of `region_slots` region names.
    pub fn new(region_slots: u32) -> Self {
        // With no regions at all no key is ever made; one slot keeps the
        // arithmetic simple.
        KeySpace {
            region_slots: region_slots.max(1),
        }
    }

    /// How many region slots a date has.
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

    /// The key of a date index and a region slot.
    #[inline(always)]
    pub fn pack(&self, date: u32, region: u32) -> u32 {
        debug_assert!(region < self.region_slots && date < self.max_dates());
        date * self.region_slots + region
    }

    /// The (date index, region slot) of a key.
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
    /// The slots of ids as rows write them in one or two digits, looked up
    /// by their text: see [`RegionTable::short_slot`].
    short_ids: Box<[u32; SHORT_IDS]>,
}

/// Entries of [`RegionTable::short_slot`]'s table: one per byte, then one
/// per pair of bytes.
const SHORT_IDS: usize = 256 + 65536;

/// When every id of region.csv is in `0..DENSE_IDS`, ids are looked up in
/// a flat array as long as the largest id (4 bytes an entry); a negative
/// id, or one at or past this bound, makes the table a hash map. (Ids that
/// rows write in one or two digits are found by their text first:
/// [`RegionTable::short_slot`]. The GPU backend's table of ids is a hash
/// table whatever the ids.)
pub const DENSE_IDS: i64 = 1 << 20;
const NO_SLOT: u32 = u32::MAX;

#[derive(Debug)]
enum IdIndex {
    Dense(Vec<u32>),
    Sparse(HashMap<i64, u32>),
}

/// Where a one- or two-digit id text is in the short ids' table.
#[inline(always)]
fn short_index(word: u16, len: usize) -> usize {
    // A select, not a branch: ids of one and two digits come mixed.
    if len == 1 {
        usize::from(word as u8)
    } else {
        256 + usize::from(word)
    }
}

impl RegionTable {
    /// Parses region.csv. `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<RegionTable> {
        RegionTable::parse_with(bytes, file, &RegionFormat::default())
    }

    /// [`RegionTable::parse`] with the columns `format` names
    /// (`--region-columns`).
    pub fn parse_with(bytes: &[u8], file: &str, format: &RegionFormat) -> Result<RegionTable> {
        let kind = SmallFile {
            headerless: format.no_header,
            ..REGION_FILE
        };
        let table = Table::new(bytes, file, &kind)?;
        let (id_col, name_col) = format
            .find(&table.header)
            .map_err(|why| table.error(1, why))?;
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
        let mut table = RegionTable {
            names,
            by_id,
            ids: ids.iter().map(|&(id, _)| id).collect(),
            short_ids: vec![NO_SLOT; SHORT_IDS]
                .into_boxed_slice()
                .try_into()
                .expect("SHORT_IDS entries"),
        };
        // Every text of one or two digits, leading zeros included, as
        // `parse_region_id` reads it.
        for text in (0..10)
            .map(|d| vec![b'0' + d])
            .chain((0..100).map(|n| vec![b'0' + n / 10, b'0' + n % 10]))
        {
            let id = parse_region_id(&text).expect("digits");
            if let Some(slot) = table.slot(id) {
                let word = u16::from_le_bytes([text[0], text.get(1).copied().unwrap_or(0)]);
                table.short_ids[short_index(word, text.len())] = slot;
            }
        }
        Ok(table)
    }

    /// The slot of a region_id written as `len` digits, 1 or 2, from its
    /// text alone: `word` holds the field's first two bytes, the first
    /// lowest (for one digit, the second byte is whatever follows). `None`
    /// when the text is not digits or no listed id. One load instead of
    /// parsing and a second lookup: almost every real id is this short.
    #[inline(always)]
    pub fn short_slot(&self, word: u16, len: usize) -> Option<u32> {
        debug_assert!(len == 1 || len == 2);
        let slot = self.short_ids[short_index(word, len)];
        (slot != NO_SLOT).then_some(slot)
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

    /// The region name of a slot.
    pub fn name(&self, slot: u32) -> &[u8] {
        &self.names[slot as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short ids' table answers as parsing and looking up would, for
    /// every text of one or two bytes.
    #[test]
    fn short_ids_agree_with_parsing() {
        let table =
            RegionTable::parse(b"region_id,region_name\n7,A\n42,B\n0,C\n-3,D\n100,A\n", "r")
                .unwrap();
        for a in 0..=255u8 {
            for (text, len) in [([a, b','], 1), ([a, b'"'], 1)] {
                let word = u16::from_le_bytes(text);
                let want = parse_region_id(&text[..len])
                    .ok()
                    .and_then(|id| table.slot(id));
                let want = want.filter(|_| a.is_ascii_digit());
                assert_eq!(table.short_slot(word, len), want, "{:?}", &text[..len]);
            }
            for b in 0..=255u8 {
                let text = [a, b];
                let want = parse_region_id(&text).ok().and_then(|id| table.slot(id));
                // Signs are the exact path's business.
                let want = want.filter(|_| a.is_ascii_digit());
                assert_eq!(
                    table.short_slot(u16::from_le_bytes(text), 2),
                    want,
                    "{text:?}"
                );
            }
        }
        assert_eq!(
            table.short_slot(u16::from_le_bytes(*b"07"), 2),
            table.slot(7)
        );
        assert!(table.slot(7).is_some());
    }

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
    fn a_file_without_a_header_is_read_by_position() {
        use crate::format::Column;
        let format = RegionFormat {
            region_id: Some(Column::Position(2)),
            region_name: Some(Column::Position(1)),
            no_header: true,
        };
        let table = RegionTable::parse_with(b"\xEF\xBB\xBFA,1\nB,2\n", "r.csv", &format).unwrap();
        assert_eq!((table.slot(1), table.slot(2)), (Some(0), Some(1)));
        // Its first line is line 1, so the second is line 2.
        let err = RegionTable::parse_with(b"A,1\nB,x\n", "r.csv", &format).unwrap_err();
        assert!(
            err.to_string().starts_with("r.csv:2: region_id \"x\""),
            "{err}"
        );
    }
}
