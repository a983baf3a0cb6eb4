//! Row scanning: turns a chunk of location.csv into histogram keys, counts
//! what it could not use, and keeps what the user will want to see of it.
//!
//! Every line is one row (see `csv` for why). Each row ends up as exactly one
//! of: a key, *unmatched* (well formed, but its region_id is not in
//! region.csv), *blank*, or *malformed* (with a reason). So
//! `counted + unmatched + malformed = data rows`, always.
//!
//! Each row first tries the [`fast`] path; what it declines goes to the
//! exact path, the general CSV rules of [`crate::csv`]. Which rows not
//! counted are reported, and with what, is the [`RowPolicy`]'s business.

mod event;
pub mod fast;
mod policy;
mod row;

pub use event::{ScanEvent, ScanJob};
pub(crate) use policy::{listed_ids, sample_unmatched};
pub use policy::{RowPolicy, SAMPLES};
pub use row::{Malformed, MalformedKind, Row, RowOutcomes};

use std::ops::Range;
use std::sync::Arc;

use crate::csv::{self, Field};
use crate::date::{
    self, DateCache, DateDict, DateError, EventDays, EventTime, EventTimes, ZoneCursor,
};
use crate::error::{Error, Result};
use crate::format::{Layout, MAX_LINE};
use crate::input::PAD;
use crate::regions::{parse_region_id, KeySpace, RegionTable};

/// A row that was not counted and that the user gets to see: a malformed
/// row (always, up to a few per chunk) or, with rejects kept, every
/// malformed and unmatched row with its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Line within the chunk, 0-based.
    pub line: u64,
    /// `None` for an unmatched row.
    pub kind: Option<MalformedKind>,
    /// Why the row was not counted, as one line: shared with the problem
    /// before it when the two say the same (a file of one mistake keeps
    /// one text, not one per row).
    pub reason: Arc<str>,
    /// The row's text in [`ChunkReport::raw`] (empty unless rejects are kept).
    pub raw: Range<usize>,
}

impl ChunkReport {
    /// The memory it holds, about: what the pool lets wait for the ledger
    /// is bounded by this.
    pub fn heap_bytes(&self) -> usize {
        self.problems.capacity() * std::mem::size_of::<Problem>() + self.raw.capacity()
    }
}

/// Everything a scanned chunk tells the rest of the run besides its keys.
#[derive(Clone, Debug, Default)]
pub struct ChunkReport {
    /// The chunk's place in its file.
    pub seq: u64,
    /// A large chunk may be reported in parts (the GPU backend's chunk
    /// counted on the CPU): this one's place among them, from 0.
    pub part: u32,
    /// Whether more parts of this chunk's report follow.
    pub more_parts: bool,
    /// Lines in the chunk, blank ones included.
    pub lines: u64,
    /// Input bytes the chunk accounts for.
    pub span: u64,
    /// The chunk's rows by outcome.
    pub stats: RowOutcomes,
    /// The rows not counted that the policy reports, in order.
    pub problems: Vec<Problem>,
    /// The text of the problems' rows, when the policy keeps it.
    pub raw: Vec<u8>,
    /// A few distinct region_ids of unmatched rows, for the summary.
    pub unmatched_ids: Vec<i64>,
    /// The chunk stopped at a malformed row, as the policy asked.
    pub stopped: bool,
}

/// A chunk being scanned, and where its scan is: every row before `pos`
/// either pushed a key (those after `first_key`) or is one of `uncounted`,
/// so the two count the lines and the fast path keeps no counter of its
/// own.
struct Position<'b> {
    /// The buffer; the chunk's rows end at `end`, and at least
    /// [`PAD`] bytes follow them.
    buf: &'b [u8],
    end: usize,
    pos: usize,
    first_key: usize,
    uncounted: u64,
}

/// What every scanning thread shares.
#[derive(Debug)]
pub struct ScanContext<'a> {
    /// region_id to region slot.
    pub regions: &'a RegionTable,
    /// Every date seen so far.
    pub dates: &'a DateDict,
    /// How keys are packed.
    pub keys: KeySpace,
    /// What to report of the rows not counted.
    pub policy: RowPolicy,
    /// How the date column is read: event times, their zone.
    pub times: &'a EventTimes,
}

impl ScanContext<'_> {
    /// The error of a run with more distinct dates than the key has room
    /// for, wherever a date is learnt.
    pub fn too_many_dates(&self) -> Error {
        Error::Limit(format!(
            "more than {} distinct dates: with {} region names the 32-bit key has room for no more",
            self.dates.capacity(),
            self.keys.region_slots()
        ))
    }
}

/// One thread's scanner: the shared context plus its own date cache.
pub struct Scanner<'a> {
    ctx: &'a ScanContext<'a>,
    /// The columns of the file being scanned.
    layout: Layout,
    /// What the fast path needs of them.
    finder: fast::GeneralFinder,
    cache: DateCache,
    /// The zone's offsets on the days seen so far.
    cursor: ZoneCursor,
    /// The (day, offset) pairs of the event times seen so far.
    events: EventDays,
    /// Reused for every row that takes the exact path.
    fields: Vec<Field<'static>>,
}

impl<'a> Scanner<'a> {
    /// A scanner of files laid out as `layout` (see [`Scanner::set_layout`]).
    pub fn new(ctx: &'a ScanContext<'a>, layout: Layout) -> Self {
        Scanner {
            ctx,
            layout,
            finder: fast::GeneralFinder::of(&layout),
            cache: DateCache::default(),
            cursor: ZoneCursor::default(),
            events: EventDays::default(),
            fields: Vec::new(),
        }
    }

    /// Scans the chunks of another file from now on, keeping what this
    /// scanner learnt of dates.
    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
        self.finder = fast::GeneralFinder::of(&layout);
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
        if fast::has_avx512() {
            // SAFETY: the CPU has every feature `scan_avx512` is compiled for.
            return unsafe { self.scan_avx512(buf, range, keys, report) };
        }
        #[cfg(target_arch = "x86_64")]
        if fast::has_avx2() {
            // SAFETY: the CPU has every feature `scan_avx2` is compiled for.
            return unsafe { self.scan_avx2(buf, range, keys, report) };
        }
        self.scan_kernel::<fast::Baseline>(buf, range, keys, report)
    }

    /// The same loop for CPUs with AVX-512 BW (Intel from Skylake-SP,
    /// AMD from Zen 4): the masks of a row's 64 bytes in three compares.
    ///
    /// # Safety
    /// The CPU must support every feature this function is compiled for.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx2,bmi1,bmi2,popcnt,lzcnt")]
    unsafe fn scan_avx512(
        &mut self,
        buf: &[u8],
        range: Range<usize>,
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> Result<()> {
        self.scan_kernel::<fast::Avx512>(buf, range, keys, report)
    }

    /// The same loop compiled for AVX2 CPUs (2013 on): 32-byte compares for
    /// the masks, and POPCNT/BMI for the bit counting of the fast path.
    /// Everything the loop inlines is compiled with these features too,
    /// which is worth ~15% on the whole count.
    ///
    /// # Safety
    /// The CPU must support every feature this function is compiled for.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    unsafe fn scan_avx2(
        &mut self,
        buf: &[u8],
        range: Range<usize>,
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> Result<()> {
        self.scan_kernel::<fast::Avx2>(buf, range, keys, report)
    }

    /// The loop with kernel `K`, specialised for the usual layout.
    #[inline(always)]
    fn scan_kernel<K: fast::Kernel>(
        &mut self,
        buf: &[u8],
        range: Range<usize>,
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> Result<()> {
        match self.finder.standard() {
            Some(standard) => self.scan_with::<K, _>(standard, buf, range, keys, report),
            None => self.scan_with::<K, _>(self.finder, buf, range, keys, report),
        }
    }

    #[inline(always)]
    fn scan_with<K: fast::Kernel, F: fast::FieldFinder>(
        &mut self,
        finder: F,
        buf: &[u8],
        range: Range<usize>,
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> Result<()> {
        let end = range.end;
        assert!(
            end <= buf.len().saturating_sub(PAD),
            "chunk buffers extend PAD bytes past their rows"
        );
        let mut at = Position {
            buf,
            end,
            pos: range.start,
            first_key: keys.len(),
            uncounted: 0,
        };
        // A row with a key is at least 16 bytes ("0,0,1,2019-01-01\n").
        keys.reserve((end - at.pos) / 16 + 1);
        // Rows whose 64-byte window ends inside the chunk need no cut of
        // their masks; only the last few see bytes past its end. Two loops
        // keep that test out of nearly every row.
        let whole_windows = end.saturating_sub(63);
        let mut stopped = false;
        while at.pos < whole_windows {
            if self.row::<K, F, false>(finder, &mut at, keys, report)? {
                stopped = true;
                break;
            }
        }
        while !stopped && at.pos < end {
            stopped = self.row::<K, F, true>(finder, &mut at, keys, report)?;
        }
        report.stopped = stopped;
        let counted = (keys.len() - at.first_key) as u64;
        report.stats.counted += counted;
        report.lines = counted + at.uncounted;
        Ok(())
    }

    /// Scans the row at `at.pos` and moves past it; true if the chunk must
    /// stop there. `CUT`: the row's window may reach past the chunk's end.
    #[inline(always)]
    fn row<K: fast::Kernel, F: fast::FieldFinder, const CUT: bool>(
        &mut self,
        finder: F,
        at: &mut Position<'_>,
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> Result<bool> {
        let (buf, end, pos) = (at.buf, at.end, at.pos);
        // SAFETY: `pos < end` and `end + PAD <= buf.len()` (asserted by
        // the caller), so the 64 bytes from `pos` are inside `buf`.
        let window: &[u8; 64] = unsafe { &*buf.as_ptr().add(pos).cast::<[u8; 64]>() };
        // SAFETY: `scan` picks a kernel the CPU supports.
        let masks = unsafe { K::masks(window, self.layout.delimiter) };
        let avail = end - pos;
        let newlines = if CUT {
            masks.newline & fast::low_bits(avail)
        } else {
            masks.newline
        };

        // The fast path: a row that ends inside the window and is
        // canonical, with a known date and region, is one key.
        if newlines != 0 {
            let line_end = newlines.trailing_zeros() as usize;
            let len = line_end - usize::from(line_end > 0 && window[line_end - 1] == b'\r');
            if let Some(key) = self.fast_key(finder, window, len, masks) {
                keys.push(key);
                at.pos = pos + line_end + 1;
                return Ok(false);
            }
        }

        // Every other row: found whole, and judged by the exact path.
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
        // The limit is on the row's text, line end aside (CRLF or LF). A
        // cut line (see input::stream) is only its first bytes: judge its
        // length, never the fields it seems to have. Its text is its first
        // MAX_LINE bytes, whatever the chunk, shard or backend held of it.
        let too_long = len > MAX_LINE;
        let text = &buf[pos..pos + len.min(MAX_LINE)];
        let row = if too_long {
            Row::Malformed(Malformed::TooLong)
        } else {
            self.exact_row(text)?
        };
        let line = (keys.len() - at.first_key) as u64 + at.uncounted;
        let has_key = matches!(row, Row::Key(_));
        if self.record(row, line, text, keys, report) {
            return Ok(true);
        }
        at.uncounted += u64::from(!has_key);
        at.pos = next;
        Ok(false)
    }

    /// The fast path (see [`fast`]): the key of a row of `len` bytes at the
    /// start of `window`, or `None` to ask the exact path, which has the
    /// last word on everything (and learns the dates this path has not
    /// seen yet).
    #[inline(always)]
    fn fast_key(
        &mut self,
        finder: impl fast::FieldFinder,
        window: &[u8; 64],
        len: usize,
        masks: fast::Masks,
    ) -> Option<u32> {
        if len == 0 || len >= 64 {
            return None;
        }
        let cut = fast::low_bits(len);
        let (id_at, date_at) = finder.find(len, masks.comma & cut, masks.quote & cut)?;
        let regions = self.ctx.regions;
        let region = if id_at.len().wrapping_sub(1) < 2 {
            let word = u16::from_le_bytes([window[id_at.start], window[id_at.start + 1]]);
            regions.short_slot(word, id_at.len())?
        } else {
            regions.slot(fast::window_id(window, id_at)?)?
        };
        let field = &window[date_at];
        let date = match self.cache.get(field) {
            Some(date) => date,
            None => self.fast_event(field)?,
        };
        Some(self.ctx.keys.pack(date, region))
    }

    /// The date index of an event time in a canonical form (see
    /// [`date::fast_event`]) whose local day this thread has seen, else
    /// `None`. Mostly one lookup of its (day, offset) pair ([`EventDays`]);
    /// the first time of a pair, a parse at fixed positions, a load from
    /// the zone's table of the day's offsets and one from the cache's table
    /// of days, after which the pair is learnt.
    #[inline(always)]
    fn fast_event(&mut self, field: &[u8]) -> Option<u32> {
        if let Some(index) = self.events.get(field) {
            return Some(index);
        }
        self.fast_event_first(field)
    }

    #[inline(never)]
    fn fast_event_first(&mut self, field: &[u8]) -> Option<u32> {
        let zone = &self.ctx.times.zone;
        let day = match date::fast_event(field, self.ctx.times.epoch)? {
            EventTime::Day(day) => day,
            EventTime::Instant(second) => self.cursor.local_day(zone, second)?,
        };
        let index = self.cache.get_day(day)?;
        self.events
            .learn(field, zone, &mut self.cursor, &self.cache);
        Some(index)
    }

    /// The exact path: split with the general CSV rules, then check fields.
    fn exact_row<'t>(&mut self, text: &'t [u8]) -> Result<Row<'t>> {
        if csv::trim(text).is_empty() {
            return Ok(Row::Blank);
        }
        if self
            .layout
            .header
            .is_some_and(|header| header.matches(text))
        {
            return Ok(Row::Header);
        }
        let mut fields = reuse(std::mem::take(&mut self.fields));
        let row = self.classify(text, &mut fields);
        self.fields = reuse(fields);
        row
    }

    fn classify<'t>(&mut self, text: &'t [u8], fields: &mut Vec<Field<'t>>) -> Result<Row<'t>> {
        let layout = self.layout;
        if let Err(e) = csv::parse_record_with(text, layout.delimiter, fields) {
            return Ok(Row::Malformed(Malformed::Quoting(e)));
        }
        if fields.len() != layout.columns as usize {
            let found = fields.len();
            return Ok(Row::Malformed(Malformed::FieldCount { found }));
        }
        let id_value = fields[layout.id_col as usize].value();
        let id = match parse_region_id(&id_value) {
            Ok(id) => id,
            Err(e) => return Ok(Row::Malformed(Malformed::RegionId(e, id_value))),
        };
        let date_value = fields[layout.date_col as usize].value();
        let date = match self.cache.get(&date_value) {
            Some(index) => index,
            None => match self.learn_date(&date_value)? {
                Ok(index) => index,
                Err(e) => return Ok(Row::Malformed(Malformed::Date(e, date_value))),
            },
        };
        Ok(self.resolve(id, date))
    }

    /// The index of a date field's local date, read exactly, for a date
    /// field not in this thread's cache (an event time, or a date not seen
    /// yet): from the cache if its local date is there, else from the
    /// shared dictionary. The outer error stops the run.
    #[cold]
    fn learn_date(&mut self, raw: &[u8]) -> Result<Result<u32, DateError>> {
        let text = match self.ctx.times.local_date(&mut self.cursor, raw) {
            Ok(text) => text,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(index) = self.cache.get(&text) {
            return Ok(Ok(index));
        }
        match self.ctx.dates.intern_text(&text) {
            Some(index) => {
                self.cache.insert(&text, index);
                Ok(Ok(index))
            }
            None => Err(self.ctx.too_many_dates()),
        }
    }

    #[inline(always)]
    fn resolve(&self, id: i64, date: u32) -> Row<'static> {
        match self.ctx.regions.slot(id) {
            Some(region) => Row::Key(self.ctx.keys.pack(date, region)),
            None => Row::Unmatched(id),
        }
    }

    /// Books one row; returns true if the chunk must stop here.
    #[inline(always)]
    fn record(
        &self,
        row: Row<'_>,
        line: u64,
        text: &[u8],
        keys: &mut Vec<u32>,
        report: &mut ChunkReport,
    ) -> bool {
        let policy = self.ctx.policy;
        match row {
            Row::Key(key) => {
                // Counted with the fast path's keys, by the caller.
                keys.push(key);
                false
            }
            Row::Blank => {
                report.stats.blank += 1;
                false
            }
            Row::Header => {
                report.stats.headers += 1;
                false
            }
            Row::Unmatched(id) => {
                report.stats.unmatched += 1;
                sample_unmatched(&mut report.unmatched_ids, id);
                if policy.reports_unmatched() {
                    let reason = format!("region_id {id} is not in region.csv");
                    Self::keep(policy, report, line, None, reason, text);
                }
                false
            }
            Row::Malformed(m) => {
                let kind = m.kind();
                report.stats.malformed[kind as usize] += 1;
                if policy.reports_malformed(report.problems.len()) {
                    let reason = m.message(&self.layout);
                    Self::keep(policy, report, line, Some(kind), reason, text);
                }
                policy.stops_at_malformed()
            }
        }
    }

    #[cold]
    fn keep(
        policy: RowPolicy,
        report: &mut ChunkReport,
        line: u64,
        kind: Option<MalformedKind>,
        reason: String,
        text: &[u8],
    ) {
        let start = report.raw.len();
        if policy.keeps_text() {
            report.raw.extend_from_slice(text);
        }
        let reason = match report.problems.last() {
            Some(last) if *last.reason == *reason => last.reason.clone(),
            _ => Arc::from(reason),
        };
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

#[cfg(test)]
mod tests;
