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
//!   thread sees it. A date field is validated by the exact reader
//!   ([`parse_event`], through [`EventTimes::local_date`]) the first time
//!   a thread meets it, before its date reaches the dictionary or the
//!   thread's cache; later rows find it in the cache unchecked: a terabyte
//!   holds billions of rows but only thousands of distinct dates.
//!   ([`DateDict::intern`] validates a text itself, for callers that have
//!   not read it.)
//! - [`DateCache`] is one thread's lock-free way from a date's digits (or
//!   its day number) to its index, consulted by every row.
//! - [`EventDays`] is one thread's way from an event time to its date's
//!   index around the calendar, by its (day, offset) pair: see
//!   `event_days.rs`.
//!
//! The files: `calendar.rs` (day numbers and month lengths),
//! `event_time.rs` (reading a date field), `zone.rs` (the time zone and
//! [`EventTimes`]), `dict.rs` (the date tables), `event_days.rs`; this file
//! holds the date's text type and the errors every reader shares.

use std::fmt;

mod calendar;
mod dict;
mod event_days;
mod event_time;
#[cfg(test)]
mod tests;
mod zone;

pub use calendar::{date_text, day_number, days_from_civil, digits, parse_date};
pub use dict::{DateCache, DateDict};
pub use event_days::EventDays;
use event_time::{canonical_shape, canonical_time, offset};
pub use event_time::{fast_event, Epoch, EventTime};
pub use zone::{tzdb_version, EventTimes, Zone, ZoneCursor};
// What only the tests judge, here and in tests/ (through `testing`).
#[cfg(any(test, feature = "testing"))]
pub use calendar::{civil_from_days, days_in_month};
#[cfg(any(test, feature = "testing"))]
pub use dict::InternError;
#[cfg(any(test, feature = "testing"))]
pub use event_time::parse_event;

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
