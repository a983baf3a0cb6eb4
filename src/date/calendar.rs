//! Calendar arithmetic on the proleptic Gregorian calendar: a
//! `YYYY-MM-DD` text checked against the calendar, and the way between a
//! date and its day number (days since 1970-01-01) that `generate`, `plot`
//! and the GPU path share.

use super::{DateError, DateText};

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
