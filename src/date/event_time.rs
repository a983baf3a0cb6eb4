//! Reading a date field: [`parse_event`], the exact reader of dates,
//! local times, instants and epoch numbers, and [`fast_event`], the
//! fixed-position reader of the canonical forms that the fast path uses (a
//! property test holds them equal).

use super::calendar::{days_from_civil, days_in_month, digits};
use super::{DateError, TimePart};

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
pub(super) fn offset(raw: &[u8]) -> Result<i64, DateError> {
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
pub(super) fn canonical_shape(len: usize) -> Option<(bool, usize)> {
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
pub(super) fn canonical_time(raw: &[u8], millis: bool) -> Option<u32> {
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
pub(super) fn all_digits(x: u64, ones: u64) -> bool {
    x & (ones * 0xF0) == ones * 0x30 && x.wrapping_add(ones * 0x06) & (ones * 0xF0) == ones * 0x30
}
