//! Row scanning: turns a chunk of location.csv into histogram keys, counts
//! what it could not use, and keeps what the user will want to see of it.
//!
//! Every line is one row (see `csv` for why). Each row ends up as exactly one
//! of: a key, *unmatched* (well formed, but its region_id is not in
//! region.csv), *blank*, or *malformed* (with a reason). So
//! `counted + unmatched + malformed = data rows`, always.

pub mod fast;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use crate::csv::{self, Field, QuoteError};
use crate::dict::{
    describe_id_error, find_column, parse_region_id, quote_for_message, DateCache, DateDict,
    DateError, DateText, IdError, InternError, KeySpace, RegionTable,
};
use crate::error::{Error, Result};

/// Where the two columns we need are, found by name in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub columns: u32,
    pub id_col: u32,
    pub date_col: u32,
}

impl Layout {
    /// Reads the header line of a location file; `file` names it in errors.
    pub fn from_header(header: &[u8], file: &str) -> Result<Layout> {
        let error = |reason: String| Error::Data {
            file: file.to_string(),
            line: 1,
            reason,
        };
        let mut fields = Vec::new();
        csv::parse_record(header, &mut fields).map_err(|e| error(format!("bad header: {e}")))?;
        let names: Vec<Vec<u8>> = fields.iter().map(|f| f.value().into_owned()).collect();
        if names.len() > 64 {
            return Err(error(format!(
                "header has {} columns; at most 64 are supported",
                names.len()
            )));
        }
        Ok(Layout {
            columns: names.len() as u32,
            id_col: find_column(&names, "region_id").map_err(error)? as u32,
            date_col: find_column(&names, "date").map_err(error)? as u32,
        })
    }
}

/// The kinds of malformed row, in the order the summary lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MalformedKind {
    UnclosedQuote,
    TextAfterQuote,
    StrayQuote,
    FieldCount,
    EmptyRegionId,
    BadRegionId,
    BadDateFormat,
    NoSuchDate,
}

impl MalformedKind {
    pub const ALL: [MalformedKind; 8] = [
        MalformedKind::UnclosedQuote,
        MalformedKind::TextAfterQuote,
        MalformedKind::StrayQuote,
        MalformedKind::FieldCount,
        MalformedKind::EmptyRegionId,
        MalformedKind::BadRegionId,
        MalformedKind::BadDateFormat,
        MalformedKind::NoSuchDate,
    ];

    /// A short name for summaries and JSON: stable, lowercase, no spaces.
    pub fn label(self) -> &'static str {
        match self {
            MalformedKind::UnclosedQuote => "unclosed_quote",
            MalformedKind::TextAfterQuote => "text_after_quote",
            MalformedKind::StrayQuote => "stray_quote",
            MalformedKind::FieldCount => "wrong_field_count",
            MalformedKind::EmptyRegionId => "empty_region_id",
            MalformedKind::BadRegionId => "bad_region_id",
            MalformedKind::BadDateFormat => "bad_date_format",
            MalformedKind::NoSuchDate => "no_such_date",
        }
    }
}

/// A malformed row: what is wrong, and the piece of it to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed<'a> {
    pub kind: MalformedKind,
    /// The offending field's value, or for `FieldCount` nothing.
    value: Cow<'a, [u8]>,
    /// For `FieldCount`: how many fields the row has.
    found: usize,
}

impl Malformed<'_> {
    fn quoting(e: QuoteError) -> Self {
        let kind = match e {
            QuoteError::Unclosed => MalformedKind::UnclosedQuote,
            QuoteError::TextAfterQuote => MalformedKind::TextAfterQuote,
            QuoteError::StrayQuote => MalformedKind::StrayQuote,
        };
        Malformed {
            kind,
            value: Cow::Borrowed(b""),
            found: 0,
        }
    }

    /// The reason, as one line for a message or the rejects file.
    pub fn message(&self, layout: &Layout) -> String {
        match self.kind {
            MalformedKind::UnclosedQuote => QuoteError::Unclosed.to_string(),
            MalformedKind::TextAfterQuote => QuoteError::TextAfterQuote.to_string(),
            MalformedKind::StrayQuote => QuoteError::StrayQuote.to_string(),
            MalformedKind::FieldCount => {
                format!("expected {} fields, found {}", layout.columns, self.found)
            }
            MalformedKind::EmptyRegionId => describe_id_error(IdError::Empty, &self.value),
            MalformedKind::BadRegionId => describe_id_error(IdError::NotInteger, &self.value),
            MalformedKind::BadDateFormat => {
                format!(
                    "date {} {}",
                    quote_for_message(&self.value),
                    DateError::NotIso
                )
            }
            MalformedKind::NoSuchDate => {
                format!(
                    "date {} {}",
                    quote_for_message(&self.value),
                    DateError::NoSuchDay
                )
            }
        }
    }
}

/// What one row turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row<'a> {
    Key(u32),
    Unmatched(i64),
    Blank,
    Malformed(Malformed<'a>),
}

/// Counts of rows by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowStats {
    pub counted: u64,
    pub unmatched: u64,
    pub blank: u64,
    pub malformed: [u64; MalformedKind::ALL.len()],
}

impl RowStats {
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }

    /// Data rows: every line after the header except blank ones.
    pub fn data_rows(&self) -> u64 {
        self.counted + self.unmatched + self.malformed_total()
    }

    pub fn add(&mut self, other: &RowStats) {
        self.counted += other.counted;
        self.unmatched += other.unmatched;
        self.blank += other.blank;
        for (a, b) in self.malformed.iter_mut().zip(other.malformed) {
            *a += b;
        }
    }
}

/// A row that was not counted and that the user gets to see: a malformed
/// row (always, up to a few per chunk) or, with rejects kept, every
/// malformed and unmatched row with its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Line within the chunk, 0-based.
    pub line: u64,
    /// `None` for an unmatched row.
    pub kind: Option<MalformedKind>,
    pub reason: String,
    /// The row's text in [`ChunkReport::raw`] (empty unless rejects are kept).
    pub raw: Range<usize>,
}

/// Malformed rows reported per chunk when rejects are not kept: enough for
/// the summary's first few, whatever chunk they fall in.
pub const SAMPLES: usize = 5;

/// Everything a scanned chunk tells the rest of the run besides its keys.
#[derive(Clone, Debug, Default)]
pub struct ChunkReport {
    pub seq: u64,
    /// Lines in the chunk, blank ones included.
    pub lines: u64,
    /// Input bytes the chunk accounts for.
    pub span: u64,
    pub stats: RowStats,
    pub problems: Vec<Problem>,
    pub raw: Vec<u8>,
    /// A few distinct region_ids of unmatched rows, for the summary.
    pub unmatched_ids: Vec<i64>,
    /// Under `--strict`: the chunk stopped at its first malformed row.
    pub stopped: bool,
}

/// What every scanning thread shares.
#[derive(Debug)]
pub struct ScanContext<'a> {
    pub layout: Layout,
    pub regions: &'a RegionTable,
    pub dates: &'a DateDict,
    pub keys: KeySpace,
    /// Keep every malformed and unmatched row's text (for `--rejects`).
    pub keep_rejects: bool,
    /// Stop a chunk at its first malformed row (for `--strict`).
    pub strict: bool,
}

/// One thread's scanner: the shared context plus its own date cache.
pub struct Scanner<'a> {
    ctx: &'a ScanContext<'a>,
    cache: DateCache,
    /// Reused for every row that takes the exact path.
    fields: Vec<Field<'static>>,
}

impl<'a> Scanner<'a> {
    pub fn new(ctx: &'a ScanContext<'a>) -> Self {
        Scanner {
            ctx,
            cache: DateCache::default(),
            fields: Vec::new(),
        }
    }

    /// Scans the rows in `buf[range]`, appending keys to `keys` and filling
    /// `report` (whose `seq` and `span` the caller sets). `buf` must extend at
    /// least [`crate::input::PAD`] bytes past `range`.
    ///
    /// Fails only when the run must stop: the key has no room for a new date.
    pub fn scan(
        &mut self,
        buf: &[u8],
        range: Range<usize>,
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if fast::has_avx2() {
            // SAFETY: the CPU has every feature `scan_avx2` is compiled for.
            return unsafe { self.scan_avx2(buf, range, keys, report) };
        }
        self.scan_with::<fast::Baseline>(buf, range, keys, report)
    }

    /// The same loop compiled for AVX2 CPUs (2013 on): 32-byte compares for
    /// the masks, and POPCNT/BMI for the bit counting of the fast path.
    /// Everything the loop inlines is compiled with these features too,
    /// which is worth ~15% on the whole count.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    unsafe fn scan_avx2(
        &mut self,
        buf: &[u8],
        range: Range<usize>,
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> Result<()> {
        self.scan_with::<fast::Avx2>(buf, range, keys, report)
    }

    #[inline(always)]
    fn scan_with<K: fast::Kernel>(
        &mut self,
        buf: &[u8],
        range: Range<usize>,
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> Result<()> {
        let end = range.end;
        let mut pos = range.start;
        let mut line: u64 = 0;
        // Rows are rarely shorter than 24 bytes; growing past this is fine.
        keys.reserve((end - pos) / 24);
        while pos < end {
            let window: &[u8; 64] = buf[pos..pos + 64]
                .try_into()
                .expect("chunk buffers extend PAD bytes past their rows");
            // SAFETY: `scan` picks a kernel the CPU supports.
            let masks = unsafe { K::masks(window) };
            let avail = end - pos;
            let newlines = masks.newline & fast::low_bits(avail);
            let (line_end, next) = if newlines != 0 {
                let i = pos + newlines.trailing_zeros() as usize;
                (i, i + 1)
            } else if avail <= 64 {
                (end, end) // the last line of the file, without a newline
            } else {
                match memchr::memchr(b'\n', &buf[pos + 64..end]) {
                    Some(i) => (pos + 64 + i, pos + 64 + i + 1),
                    None => (end, end),
                }
            };
            let mut len = line_end - pos;
            if len > 0 && buf[line_end - 1] == b'\r' {
                len -= 1;
            }
            let text = &buf[pos..pos + len];
            let row = match self.fast_row(text, masks)? {
                Some(row) => row,
                None => self.exact_row(text)?,
            };
            if self.record(row, line, text, keys, report) {
                report.stopped = true;
                break;
            }
            line += 1;
            pos = next;
        }
        report.lines = line;
        Ok(())
    }

    /// The fast path (see [`fast`]): `None` means "ask the exact path".
    #[inline(always)]
    fn fast_row(&mut self, text: &[u8], masks: fast::Masks) -> Result<Option<Row<'static>>> {
        let len = text.len();
        if len == 0 || len >= 64 {
            return Ok(None);
        }
        let layout = &self.ctx.layout;
        let cut = fast::low_bits(len);
        let Some((id_at, date_at)) = fast::canonical_fields(
            len,
            masks.comma & cut,
            masks.quote & cut,
            layout.columns,
            layout.id_col,
            layout.date_col,
        ) else {
            return Ok(None);
        };
        let Some(id) = fast::plain_id(&text[id_at]) else {
            return Ok(None);
        };
        let Ok(date) = <&DateText>::try_from(&text[date_at]) else {
            return Ok(None);
        };
        let date = match self.cache.get(date) {
            Some(index) => index,
            None => match self.learn_date(date)? {
                Ok(index) => index,
                Err(_) => return Ok(None), // let the exact path explain it
            },
        };
        Ok(Some(self.resolve(id, date)))
    }

    /// The exact path: split with the general CSV rules, then check fields.
    fn exact_row<'t>(&mut self, text: &'t [u8]) -> Result<Row<'t>> {
        if csv::trim(text).is_empty() {
            return Ok(Row::Blank);
        }
        let mut fields = reuse(std::mem::take(&mut self.fields));
        let row = self.classify(text, &mut fields);
        self.fields = reuse(fields);
        row
    }

    fn classify<'t>(&mut self, text: &'t [u8], fields: &mut Vec<Field<'t>>) -> Result<Row<'t>> {
        let layout = self.ctx.layout;
        if let Err(e) = csv::parse_record(text, fields) {
            return Ok(Row::Malformed(Malformed::quoting(e)));
        }
        if fields.len() != layout.columns as usize {
            return Ok(Row::Malformed(Malformed {
                kind: MalformedKind::FieldCount,
                value: Cow::Borrowed(b""),
                found: fields.len(),
            }));
        }
        let id_value = fields[layout.id_col as usize].value();
        let id = match parse_region_id(&id_value) {
            Ok(id) => id,
            Err(e) => {
                let kind = match e {
                    IdError::Empty => MalformedKind::EmptyRegionId,
                    IdError::NotInteger => MalformedKind::BadRegionId,
                };
                return Ok(Row::Malformed(Malformed {
                    kind,
                    value: id_value,
                    found: 0,
                }));
            }
        };
        let date_value = fields[layout.date_col as usize].value();
        let cached = <&DateText>::try_from(&date_value[..])
            .ok()
            .and_then(|d| self.cache.get(d));
        let date = match cached {
            Some(index) => index,
            None => match self.learn_date(&date_value)? {
                Ok(index) => index,
                Err(e) => {
                    let kind = match e {
                        DateError::NotIso => MalformedKind::BadDateFormat,
                        DateError::NoSuchDay => MalformedKind::NoSuchDate,
                    };
                    return Ok(Row::Malformed(Malformed {
                        kind,
                        value: date_value,
                        found: 0,
                    }));
                }
            },
        };
        Ok(self.resolve(id, date))
    }

    /// Gives a date not in this thread's cache its index from the shared
    /// dictionary, which validates it. The outer error stops the run.
    #[cold]
    fn learn_date(&mut self, raw: &[u8]) -> Result<Result<u32, DateError>> {
        match self.ctx.dates.intern(raw) {
            Ok(index) => {
                let text: &DateText = raw.try_into().expect("valid dates are 10 bytes");
                self.cache.insert(text, index);
                Ok(Ok(index))
            }
            Err(InternError::Invalid(e)) => Ok(Err(e)),
            Err(InternError::Full) => Err(Error::Limit(format!(
                "more than {} distinct dates: with {} region names the 32-bit key has room for no more",
                self.ctx.dates.capacity(),
                self.ctx.keys.region_slots()
            ))),
        }
    }

    #[inline(always)]
    fn resolve(&self, id: i64, date: u32) -> Row<'static> {
        match self.ctx.regions.slot(id) {
            Some(region) => Row::Key(self.ctx.keys.pack(date, region)),
            None => Row::Unmatched(id),
        }
    }

    /// Books one row; returns true if the chunk must stop here (strict mode).
    #[inline(always)]
    fn record(
        &self,
        row: Row<'_>,
        line: u64,
        text: &[u8],
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> bool {
        match row {
            Row::Key(key) => {
                keys.push(key);
                report.stats.counted += 1;
                false
            }
            Row::Blank => {
                report.stats.blank += 1;
                false
            }
            Row::Unmatched(id) => {
                report.stats.unmatched += 1;
                if report.unmatched_ids.len() < SAMPLES && !report.unmatched_ids.contains(&id) {
                    report.unmatched_ids.push(id);
                }
                if self.ctx.keep_rejects {
                    let reason = format!("region_id {id} is not in region.csv");
                    self.keep(report, line, None, reason, text);
                }
                false
            }
            Row::Malformed(m) => {
                report.stats.malformed[m.kind as usize] += 1;
                let wanted =
                    self.ctx.keep_rejects || report.problems.len() < SAMPLES || self.ctx.strict;
                if wanted {
                    let reason = m.message(&self.ctx.layout);
                    self.keep(report, line, Some(m.kind), reason, text);
                }
                self.ctx.strict
            }
        }
    }

    #[cold]
    fn keep(
        &self,
        report: &mut ChunkReport,
        line: u64,
        kind: Option<MalformedKind>,
        reason: String,
        text: &[u8],
    ) {
        let start = report.raw.len();
        if self.ctx.keep_rejects {
            report.raw.extend_from_slice(text);
        }
        report.problems.push(Problem {
            line,
            kind,
            reason,
            raw: start..report.raw.len(),
        });
    }
}

/// Empties a vector and gives it back with another lifetime, keeping its
/// allocation: the exact path splits every row into the same `Vec<Field>`
/// although each row's fields borrow from a different line.
fn reuse<'x, 'y>(mut v: Vec<Field<'x>>) -> Vec<Field<'y>> {
    v.clear();
    // An in-place collect of an empty vector: no allocation, no copy.
    v.into_iter().map(|_| unreachable!()).collect()
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests;
