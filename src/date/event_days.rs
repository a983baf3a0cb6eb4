//! One thread's shortcut from a canonical event time to its date's index,
//! around the calendar.
//!
//! An event time in a canonical form (see [`super::fast_event`]) names a
//! day `D` and an offset `O` (`Z`, `±HH:MM`, or none for a local time).
//! Every instant written with that day and offset falls in the same 24
//! hours, and outside the rare day on which the zone of the count changes
//! its offset within them, the zone's offset is one number all through
//! them. So the local day of such an instant is `D - 1`, `D` or `D + 1`,
//! decided by its time of day alone: `time + (zone's offset - O)` before
//! midnight, within the day, or past it. An event log names a few hundred
//! or thousand such (day, offset) pairs; this table keeps them, keyed by
//! their raw bytes, with the three dates' indices. A row then costs a check
//! of its time's digits, one hash and one load, instead of the calendar
//! arithmetic, the zone's table and the date table's lookup.
//!
//! The pairs come from rows that the full reader (fixed positions, then
//! [`ZoneCursor`]) read first, so a pair in the table is a valid date and
//! offset: a hit checks only the time. Anything not in the table, and the
//! days on which the zone changes, take the full reader, which gives the
//! same day (a test holds the two equal).

use super::{canonical_shape, canonical_time, digits, DateCache, Zone, ZoneCursor};

/// The (day, offset) pairs in use, direct-mapped by their bytes.
#[derive(Debug, Default)]
pub struct EventDays {
    /// Empty until the first pair is learnt, so a count of plain dates
    /// never allocates it.
    sets: Vec<Set>,
}

/// Two ways, the pair learnt last first, in one cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Set([Pair; 2]);

/// Sets of the table (a power of two): 2,048 sets of two pairs of 32
/// bytes, 128 KiB, which stays in a core's L2 cache. A year of days in two
/// offsets (a DST zone) is 730 pairs; direct-mapped, a third of them would
/// push another out, and random row order makes them take turns.
const SETS: usize = 1 << 11;

/// A (day, offset) pair: the day's bytes 0..8, and its bytes 8..10 above
/// the offset's (see [`offset_key`]); what the count's zone adds to a time
/// of day written in that offset; and the indices of the dates before, of
/// and after the written day (`u32::MAX`: not known to this thread yet).
#[derive(Clone, Copy, Debug)]
struct Pair {
    head: u64,
    tail_offset: u64,
    shift: i32,
    index: [u32; 3],
}

impl Pair {
    /// An empty way: newlines, which no field of a row holds (a row is one
    /// line), so no lookup matches it.
    const EMPTY: Pair = Pair {
        head: u64::from_le_bytes(*b"\n\n\n\n\n\n\n\n"),
        tail_offset: 0,
        shift: 0,
        index: [u32::MAX; 3],
    };
}

/// The parts of a canonical event time `raw` that name its pair (its
/// day's first 8 bytes; its last 2 and its offset's, see [`offset_key`]),
/// and its time of day in seconds; `None` for any other field.
#[inline(always)]
fn parts(raw: &[u8]) -> Option<(u64, u64, u32)> {
    let (millis, zone_len) = canonical_shape(raw.len())?;
    let seconds = canonical_time(raw, millis)?;
    let head = u64::from_le_bytes(raw[..8].try_into().unwrap());
    let tail = u64::from(u16::from_le_bytes([raw[8], raw[9]]));
    Some((head, tail << 48 | offset_key(raw, zone_len), seconds))
}

/// The offset's bytes (the last `zone_len` of `raw`, 19 bytes or more:
/// none, `Z` or `±HH:MM`) as a word, from one load of its last 8 bytes: 0
/// for none, which no written offset is. Six bytes at most: the top two
/// are free for the day's.
#[inline(always)]
fn offset_key(raw: &[u8], zone_len: usize) -> u64 {
    let last = u64::from_le_bytes(raw[raw.len() - 8..].try_into().unwrap());
    last.checked_shr(64 - 8 * zone_len as u32).unwrap_or(0)
}

#[inline(always)]
fn set_of(head: u64, tail_offset: u64) -> usize {
    // As the date table's hash (the digits that differ are in the high
    // bytes of both words), with the offset mixed in.
    let folded = head ^ (head >> 29) ^ tail_offset.rotate_left(19);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SETS.trailing_zeros())) as usize
}

impl EventDays {
    /// The date index of the canonical event time `raw` if its pair has
    /// been learnt and this thread knows the date it falls on, else `None`
    /// (then ask the full reader, and [`EventDays::learn`] from it).
    #[inline(always)]
    pub fn get(&self, raw: &[u8]) -> Option<u32> {
        let (head, tail_offset, seconds) = parts(raw)?;
        let ways = &self.sets.get(set_of(head, tail_offset))?.0;
        let pair = ways
            .iter()
            .find(|p| p.head == head && p.tail_offset == tail_offset)?;
        // |shift| < 1 day, so the local time of day is in (-1 day, 2 days).
        let local = seconds as i32 + pair.shift;
        let index = pair.index[usize::from(local >= 0) + usize::from(local >= 86_400)];
        (index != u32::MAX).then_some(index)
    }

    /// Learns the pair of `raw`, a canonical event time that the full
    /// reader has just read: the dates around its day from `dates`, and
    /// what `zone` adds to its time of day, when that is one number all
    /// through the day (else nothing is learnt). Epoch numbers and other
    /// forms are not learnt.
    pub fn learn(&mut self, raw: &[u8], zone: &Zone, cursor: &mut ZoneCursor, dates: &DateCache) {
        let Some((head, tail_offset, _)) = parts(raw) else {
            return;
        };
        let offset = tail_offset & 0xFFFF_FFFF_FFFF;
        let Some((year, month, day)) = digits(&raw[..10]) else {
            return;
        };
        let day = super::days_from_civil(i64::from(year), i64::from(month), i64::from(day));
        let shift = if offset == 0 {
            0 // a local time: its own date, whatever the zone
        } else {
            // The offset as the exact reader reads it (`Z` or `±HH:MM`).
            let zone_len = if offset == u64::from(b'Z') { 1 } else { 6 };
            let Ok(written) = super::offset(&raw[raw.len() - zone_len..]) else {
                return;
            };
            let Some(zone_offset) = cursor.offset_through_day(zone, day * 86_400 - written) else {
                return;
            };
            i64::from(zone_offset) - written
        };
        if shift.abs() >= 86_400 {
            return; // two days off (+14:00 written, counted at -12:00): rare
        }
        if self.sets.is_empty() {
            self.sets = vec![Set([Pair::EMPTY; 2]); SETS];
        }
        let index = [-1, 0, 1].map(|d| dates.get_day(day + d).unwrap_or(u32::MAX));
        let pair = Pair {
            head,
            tail_offset,
            shift: shift as i32,
            index,
        };
        let ways = &mut self.sets[set_of(head, tail_offset)].0;
        // Learnt again (a date around it became known): in place.
        if ways[0].head == head && ways[0].tail_offset == tail_offset {
            ways[0] = pair;
        } else {
            ways[1] = std::mem::replace(&mut ways[0], pair);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{civil_from_days, date_text, fast_event, EventTime};
    use super::*;

    /// Every time of a few days around the DST changes of three zones, in
    /// offsets that match the zone, do not, or are none: what the table
    /// gives equals the full reader's day, and it gives it for most (not
    /// on the days the zone changes, nor 24 hours or more off the zone).
    #[test]
    fn pairs_give_the_full_readers_day() {
        let zones = ["UTC", "Pacific/Auckland", "America/New_York", "+05:45"];
        let offsets = [
            "", "Z", "+13:00", "+12:00", "-04:00", "-05:00", "+14:00", "-11:30",
        ];
        // Around the 2019 and 2020 changes in New Zealand and the US, and
        // ordinary days.
        let days: Vec<i64> = [
            (2019, 4, 6),
            (2019, 9, 28),
            (2019, 11, 2),
            (2020, 3, 7),
            (2020, 6, 15),
        ]
        .iter()
        .flat_map(|&(y, m, d)| {
            let day = crate::date::days_from_civil(y, m, d);
            day - 1..=day + 2
        })
        .collect();
        for zone in zones {
            let zone = Zone::named(zone).unwrap();
            let mut dates = DateCache::default();
            for (index, day) in days.iter().flat_map(|d| d - 2..=d + 2).enumerate() {
                dates.insert(&date_text(day).unwrap(), index as u32);
            }
            let mut table = EventDays::default();
            let mut cursor = ZoneCursor::default();
            let (mut hits, mut asked) = (0, 0);
            for &day in &days {
                let (y, m, d) = civil_from_days(day);
                for offset in offsets {
                    // Every 7 minutes and 13 seconds, and the day's edges.
                    let seconds = (0..86_400).step_by(433).chain([0, 1, 86_399]);
                    for (n, second) in seconds.enumerate() {
                        let raw = format!(
                            "{y:04}-{m:02}-{d:02}{}{:02}:{:02}:{:02}{}{offset}",
                            if n % 2 == 0 { 'T' } else { ' ' },
                            second / 3600,
                            second / 60 % 60,
                            second % 60,
                            if n % 3 == 0 { ".123" } else { "" },
                        );
                        let raw = raw.as_bytes();
                        let full = match fast_event(raw, None).unwrap() {
                            EventTime::Day(day) => day,
                            EventTime::Instant(s) => cursor.local_day(&zone, s).unwrap(),
                        };
                        let want = dates.get_day(full);
                        asked += 1;
                        match table.get(raw) {
                            Some(got) => {
                                hits += 1;
                                assert_eq!(
                                    Some(got),
                                    want,
                                    "{} in {}",
                                    raw.escape_ascii(),
                                    zone.name()
                                );
                            }
                            None => table.learn(raw, &zone, &mut cursor, &dates),
                        }
                    }
                }
            }
            assert!(hits * 3 > asked * 2, "{hits} of {asked} in {}", zone.name());
        }
    }

    /// What is not a canonical event time is never answered.
    #[test]
    fn other_fields_are_not_answered() {
        let zone = Zone::named("Pacific/Auckland").unwrap();
        let mut dates = DateCache::default();
        let day = crate::date::days_from_civil(2019, 10, 23);
        for (i, d) in (day - 1..=day + 1).enumerate() {
            dates.insert(&date_text(d).unwrap(), i as u32);
        }
        let mut table = EventDays::default();
        let mut cursor = ZoneCursor::default();
        table.learn(b"2019-10-23T10:00:00+13:00", &zone, &mut cursor, &dates);
        assert_eq!(table.get(b"2019-10-23T23:59:59+13:00"), Some(1));
        for raw in [
            "2019-10-23T24:00:00+13:00",
            "2019-10-23T10:60:00+13:00",
            "2019-10-23T10:00:60+13:00",
            "2019-10-23T1a:00:00+13:00",
            "2019-10-23X10:00:00+13:00",
            "2019-10-23T10-00:00+13:00",
            "2019-10-23T10:00:00.1x3+13:00",
            "2019-10-23T10:00:00+13:01",
            "2019-10-23T10:00:00+1300",
            "2019-10-24T10:00:00+13:00",
            "2019-10-23",
            "1571781600",
        ] {
            assert_eq!(table.get(raw.as_bytes()), None, "{raw}");
        }
    }
}
