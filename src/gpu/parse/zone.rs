//! The run's time zone as the parse shader reads it: the zone's offsets
//! per UTC day, for the days event times are expected on, so that the
//! device finds an instant's local day with one lookup (`zone_day` in
//! parse.wgsl). A fixed offset (UTC among them) needs no table.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::date::{day_number, Zone};

/// The UTC days the table covers: 1900-01-01 to 2099-12-31, 73,049 days
/// (1.2 MB on the device). An instant outside them goes to the host.
const FIRST_DAY: &[u8; 10] = b"1900-01-01";
const END_DAY: &[u8; 10] = b"2100-01-01";

/// Marks a day on which the zone changes its offset more than once: its
/// instants go to the host (`NO_SLOT` in parse.wgsl).
const SEVERAL_CHANGES: u32 = u32::MAX;

/// A zone for the shader: a fixed offset, or a table of two entries a day
/// from `first_day` (days since 1970-01-01): (second of the day the offset
/// changes, or 86,400 if it does not; offset before it), (offset from it
/// on, 0). Offsets are seconds east of UTC, as `i32` bits.
pub(super) struct ZoneTable {
    pub(super) fixed: i32,
    pub(super) first_day: i32,
    pub(super) entries: Vec<[u32; 2]>,
}

impl ZoneTable {
    pub(super) fn new(zone: &Zone) -> ZoneTable {
        let first_day = day_number(FIRST_DAY);
        // UTC and fixed offsets: one offset, whatever the day.
        let (fixed, entries) = match zone.tz().to_fixed_offset() {
            Ok(offset) => (offset.seconds(), Vec::new()),
            Err(_) => (0, day_offsets(zone.tz(), first_day, day_number(END_DAY))),
        };
        ZoneTable {
            fixed,
            first_day: first_day as i32,
            entries,
        }
    }

    /// Days in the table; 0 for a fixed offset.
    pub(super) fn days(&self) -> u32 {
        (self.entries.len() / 2) as u32
    }
}

/// The two entries of each UTC day in `first..end`, from the zone's
/// transitions in that span (a few hundred at most).
fn day_offsets(tz: &TimeZone, first: i64, end: i64) -> Vec<[u32; 2]> {
    let second = |day: i64| Timestamp::from_second(day * 86_400).expect("a day of 1900-2100");
    let start = second(first);
    let stop = end * 86_400;
    let mut offset = tz.to_offset(start).seconds();
    // `following` gives the transitions strictly after `start`; one at
    // `start` itself is already in `offset`.
    let mut changes = tz
        .following(start)
        .map(|t| (t.timestamp().as_second(), t.offset().seconds()))
        .take_while(|&(at, _)| at < stop)
        .peekable();
    let mut entries = Vec::with_capacity(2 * (end - first) as usize);
    for day in first..end {
        let day_end = (day + 1) * 86_400;
        let before = offset;
        let mut change = 86_400;
        let mut count = 0;
        while let Some(&(at, after)) = changes.peek() {
            if at >= day_end {
                break;
            }
            if count == 0 {
                change = (at - day * 86_400) as u32;
            }
            offset = after;
            count += 1;
            changes.next();
        }
        let change = if count > 1 { SEVERAL_CHANGES } else { change };
        entries.push([change, before as u32]);
        entries.push([offset as u32, 0]);
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::{EventTimes, ZoneCursor};

    /// What the shader does with the table (`zone_day` in parse.wgsl).
    fn local_day(table: &ZoneTable, second: i64) -> Option<i64> {
        let utc_day = second.div_euclid(86_400);
        let of_day = second.rem_euclid(86_400) as u32;
        let mut offset = table.fixed;
        if table.days() != 0 {
            let i = usize::try_from(utc_day - i64::from(table.first_day)).ok()?;
            let [change, before] = *table.entries.get(2 * i)?;
            if change == SEVERAL_CHANGES {
                return None;
            }
            offset = if of_day >= change {
                table.entries[2 * i + 1][0] as i32
            } else {
                before as i32
            };
        }
        Some((second + i64::from(offset)).div_euclid(86_400))
    }

    /// The table gives every instant the local day the CPU's cursor
    /// gives, around each DST change of the zones tried, and in between.
    #[test]
    fn the_table_agrees_with_the_zone() {
        for name in [
            "Pacific/Auckland",
            "America/New_York",
            "Europe/London",
            "UTC",
            "+05:45",
            "-0330",
        ] {
            let times = EventTimes {
                zone: Zone::named(name).unwrap(),
                epoch: None,
            };
            let table = ZoneTable::new(&times.zone);
            let mut cursor = ZoneCursor::default();
            let mut checked = 0;
            // Every 7,919 seconds over 2018-2022, and a minute either side
            // of each of the table's changes.
            let from = day_number(b"2018-01-01") * 86_400;
            let to = day_number(b"2022-12-31") * 86_400;
            let mut seconds: Vec<i64> = (from..to).step_by(7_919).collect();
            for (i, pair) in table.entries.chunks(2).enumerate() {
                let day = i64::from(table.first_day) + i as i64;
                if pair[0][0] < 86_400 && (from / 86_400..to / 86_400).contains(&day) {
                    let at = day * 86_400 + i64::from(pair[0][0]);
                    seconds.extend([at - 60, at - 1, at, at + 1, at + 60]);
                }
            }
            for second in seconds {
                let expected = cursor.local_day(&times.zone, second).unwrap();
                assert_eq!(
                    local_day(&table, second),
                    Some(expected),
                    "{name} at {second}"
                );
                checked += 1;
            }
            assert!(checked > 15_000, "{name}: {checked}");
        }
    }

    /// Auckland's table has its changes: two a year.
    #[test]
    fn auckland_changes_twice_a_year() {
        let table = ZoneTable::new(&Zone::named("Pacific/Auckland").unwrap());
        let first = day_number(b"2019-01-01") - i64::from(table.first_day);
        let changes = (first..first + 365)
            .filter(|&i| table.entries[2 * i as usize][0] < 86_400)
            .count();
        assert_eq!(changes, 2);
    }
}
