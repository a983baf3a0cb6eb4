//! The totals a state keeps: every (day, region slot) group counted so far,
//! and how a run adds its own to them.
//!
//! They are kept encoded, as the state file holds them: by day, each day a
//! block of its groups (slot steps and totals as varints, 3-4 bytes a
//! group rather than 16) behind its day, group count and byte length. A
//! run reads the days alone first (a step over each block), so that it can
//! size one table for the sum; then it decodes each group straight into
//! that table. Tens of millions of groups, which a 70,000-region log over
//! years has, are never held as a list nor sorted: the table's walk in day
//! order gives the new state and the result.

use std::path::Path;

use super::numbers::{put_varint, unzigzag, zigzag, Reader};
use crate::date::{self, DateDict};
use crate::error::{Error, Result};
use crate::histogram::{DenseKeyTotals, FinalTotals};
use crate::regions::KeySpace;

/// One group of the totals: region slot, day number, count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Group {
    pub slot: u32,
    pub day: i32,
    pub total: u64,
}

impl Group {
    /// The state's order of groups: by day, then region slot.
    fn order(&self) -> (i32, u32) {
        (self.day, self.slot)
    }
}

/// The totals as the state file holds them (see the module's comment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Totals {
    /// How many groups, and how many days they fall on.
    pub groups: u64,
    pub days: u64,
    /// The day blocks, from `start` (a state read back keeps its file's
    /// bytes whole rather than copy hundreds of megabytes).
    pub bytes: Vec<u8>,
    pub start: usize,
}

impl Totals {
    /// The day blocks.
    pub fn blocks(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// The totals of `groups`, which come in [`Group::order`], each once.
    #[cfg(test)]
    pub fn of(groups: impl IntoIterator<Item = Group>) -> Totals {
        let mut writer = Writer::default();
        groups.into_iter().for_each(|g| writer.push(g));
        writer.finish()
    }

    /// Calls `f` with each day, in order; an error if the blocks are
    /// damaged.
    fn each_day(
        &self,
        mut f: impl FnMut(i32) -> std::result::Result<(), String>,
    ) -> std::result::Result<(), String> {
        let mut r = Reader(self.blocks());
        let mut day = None;
        for _ in 0..self.days {
            let (next, _, bytes) = block_head(&mut r, day)?;
            r.take(bytes)?;
            day = Some(next);
            f(next)?;
        }
        Ok(())
    }

    /// Calls `f` with each group, in order; an error if the blocks are
    /// damaged.
    pub fn each_group(&self, mut f: impl FnMut(Group)) -> std::result::Result<(), String> {
        let damaged = || "a group is out of range: the file is damaged".to_string();
        let mut r = Reader(self.blocks());
        let (mut day, mut seen) = (None, 0u64);
        for _ in 0..self.days {
            let (this, groups, bytes) = block_head(&mut r, day)?;
            day = Some(this);
            let mut block = Reader(r.take(bytes)?);
            let mut slot: Option<u32> = None;
            for _ in 0..groups {
                let step = u32::try_from(block.varint()?).map_err(|_| damaged())?;
                let next = match slot {
                    None => Some(step),
                    Some(s) => s.checked_add(step).and_then(|s| s.checked_add(1)),
                };
                slot = Some(next.ok_or_else(damaged)?);
                f(Group {
                    slot: slot.expect("just set"),
                    day: this,
                    total: block.varint()?,
                });
            }
            if !block.0.is_empty() {
                return Err(damaged());
            }
            seen += groups;
        }
        if seen != self.groups || !r.0.is_empty() {
            return Err(damaged());
        }
        Ok(())
    }
}

/// A day block's head: its day (after `before`), its groups and its bytes.
fn block_head(
    r: &mut Reader<'_>,
    before: Option<i32>,
) -> std::result::Result<(i32, u64, usize), String> {
    let damaged = || "a day is out of range: the file is damaged".to_string();
    let step = r.varint()?;
    let day = match before {
        None => unzigzag(step),
        // Days only go forward: the order every reader relies on.
        Some(b) if step > 0 => i64::try_from(step)
            .ok()
            .and_then(|s| i32::try_from(i64::from(b) + s).ok()),
        Some(_) => None,
    };
    let groups = r.varint()?;
    let bytes = usize::try_from(r.varint()?).map_err(|_| damaged())?;
    Ok((day.ok_or_else(damaged)?, groups, bytes))
}

/// Encodes groups that come in order into day blocks.
#[derive(Default)]
struct Writer {
    totals: Totals,
    /// The day being written, and its last slot.
    day: Option<(i32, u32)>,
    block: Vec<u8>,
    block_groups: u64,
}

impl Writer {
    fn push(&mut self, g: Group) {
        let slot_step = match self.day {
            Some((day, slot)) if day == g.day => g.slot - slot - 1,
            _ => {
                self.end_day();
                let step = match self.day {
                    None => zigzag(g.day),
                    Some((day, _)) => (i64::from(g.day) - i64::from(day)) as u64,
                };
                put_varint(&mut self.totals.bytes, step);
                g.slot
            }
        };
        self.day = Some((g.day, g.slot));
        put_varint(&mut self.block, u64::from(slot_step));
        put_varint(&mut self.block, g.total);
        self.block_groups += 1;
    }

    /// Writes the block of the day written so far (its day is written).
    fn end_day(&mut self) {
        if self.block_groups == 0 {
            return;
        }
        let bytes = &mut self.totals.bytes;
        put_varint(bytes, self.block_groups);
        put_varint(bytes, self.block.len() as u64);
        bytes.append(&mut self.block);
        self.totals.groups += self.block_groups;
        self.totals.days += 1;
        self.block_groups = 0;
    }

    /// A writer with room for `bytes` of blocks, so that hundreds of
    /// megabytes are not copied as they grow.
    fn with_capacity(bytes: usize) -> Writer {
        let mut writer = Writer::default();
        writer.totals.bytes.reserve(bytes);
        writer
    }

    fn finish(mut self) -> Totals {
        self.end_day();
        self.totals
    }
}

/// Adds `before`, the totals of earlier runs (of the state at `path`), to
/// this run's `totals`, whose keys are `keys` over `dates`: the sum keyed
/// the same way (the state's days interned in `dates`), and encoded.
pub(super) fn add_up(
    path: &Path,
    before: &Totals,
    totals: FinalTotals,
    keys: KeySpace,
    dates: &DateDict,
) -> Result<(FinalTotals, Totals)> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    if before.groups == 0 {
        // Nothing counted before (a first run, a recount): this run's
        // totals are the sum, as they are.
        let mut writer = Writer::default();
        in_day_order(&totals, keys, dates, |g| writer.push(g));
        return Ok((totals, writer.finish()));
    }
    // The state's days first, each interned once, so that one table has
    // room for every group.
    let indices = intern_days(before, dates).map_err(bad)?;
    let bins = keys.bins(dates.len());
    let fresh = match &totals {
        FinalTotals::Sparse(groups) => groups.len() as u64,
        FinalTotals::Dense(table) => table.len() as u64,
    };
    // A table of 4 bytes a key when at least one key in 16 has a group
    // (16 bytes a listed group: at most 4 times a list's memory).
    let dense = (before.groups + fresh).saturating_mul(16) >= bins && bins <= 1 << 32;
    // The sum's blocks take about the state's bytes: a log grows by a
    // little each run.
    let old_bytes = before.blocks().len();
    let mut writer = Writer::with_capacity(old_bytes + old_bytes / 8 + 4096);
    let sum = Sum {
        path,
        before,
        indices: &indices,
        keys,
        dates,
    };
    let sum = if dense {
        sum.dense(totals, bins, &mut writer)?
    } else {
        sum.sparse(totals, &mut writer)?
    };
    Ok((sum, writer.finish()))
}

/// The state's days, each interned in `dates`: (day, its index), in the
/// state's day order.
fn intern_days(before: &Totals, dates: &DateDict) -> std::result::Result<Vec<(i32, u32)>, String> {
    let mut indices = Vec::with_capacity(before.days as usize);
    before.each_day(|day| {
        let text =
            date::date_text(i64::from(day)).ok_or_else(|| format!("day {day} is out of range"))?;
        let index = dates
            .intern(&text)
            .map_err(|e| format!("date {}: {e:?}", String::from_utf8_lossy(&text)))?;
        indices.push((day, index));
        Ok(())
    })?;
    Ok(indices)
}

/// What [`add_up`] adds this run's totals to: the state's totals (of the
/// state at `path`), their days' `indices` ([`intern_days`]), and the
/// run's keys over `dates`.
struct Sum<'a> {
    path: &'a Path,
    before: &'a Totals,
    indices: &'a [(i32, u32)],
    keys: KeySpace,
    dates: &'a DateDict,
}

impl Sum<'_> {
    fn bad(&self, why: String) -> Error {
        Error::Usage(format!("{}: {why}", self.path.display()))
    }

    /// The sum in a table of `bins` keys; the new state written from the
    /// table's walk in day order.
    fn dense(&self, totals: FinalTotals, bins: u64, writer: &mut Writer) -> Result<FinalTotals> {
        let (keys, indices) = (self.keys, self.indices);
        let table = DenseKeyTotals::zeroed(bins as usize)?;
        let (mut at, mut out_of_range) = (0, false);
        self.before
            .each_group(|g| {
                while indices[at].0 != g.day {
                    at += 1; // the same days, in the same order
                }
                if g.slot >= keys.region_slots() {
                    out_of_range = true;
                    return;
                }
                table.set(keys.pack(indices[at].1, g.slot), g.total);
            })
            .map_err(|why| self.bad(why))?;
        if out_of_range {
            return Err(self.bad("a region slot is out of range".into()));
        }
        let add = |key: u32, total: u64| table.set(key, table.get(key as usize) + total);
        match totals {
            FinalTotals::Sparse(groups) => groups.into_iter().for_each(|(k, t)| add(k, t)),
            FinalTotals::Dense(fresh) => {
                for key in 0..fresh.len() {
                    let total = fresh.get(key);
                    if total > 0 {
                        add(key as u32, total);
                    }
                }
            }
        }
        let sum = FinalTotals::Dense(table);
        in_day_order(&sum, keys, self.dates, |g| writer.push(g));
        Ok(sum)
    }

    /// Few groups over a long span: the sum as a list, merged in day order
    /// with the state's, which is the new state as it is.
    fn sparse(&self, totals: FinalTotals, writer: &mut Writer) -> Result<FinalTotals> {
        let (keys, indices) = (self.keys, self.indices);
        let mut fresh = Vec::new();
        in_day_order(&totals, keys, self.dates, |g| fresh.push(g));
        drop(totals);
        let mut old = Vec::with_capacity(self.before.groups as usize);
        self.before
            .each_group(|g| old.push(g))
            .map_err(|why| self.bad(why))?;
        let index = |day: i32| indices.binary_search_by_key(&day, |&(d, _)| d).ok();
        let mut sum = Vec::new();
        for g in merge_sorted(old, fresh) {
            writer.push(g); // merged in day order: the new state as it is
            let date = match index(g.day) {
                Some(i) => indices[i].1,
                // A day of this run's alone: its index is in `dates`.
                None => self
                    .dates
                    .intern(&date::date_text(i64::from(g.day)).expect("a counted day"))
                    .map_err(|e| self.bad(format!("{e:?}")))?,
            };
            if g.slot >= keys.region_slots() {
                return Err(self.bad("a region slot is out of range".into()));
            }
            sum.push((keys.pack(date, g.slot), g.total));
        }
        Ok(FinalTotals::Sparse(sum))
    }
}

/// Calls `f` with each group of `totals` (keys over `dates`) with a total,
/// in [`Group::order`].
fn in_day_order(totals: &FinalTotals, keys: KeySpace, dates: &DateDict, mut f: impl FnMut(Group)) {
    let texts = dates.dates();
    let day = |date: u32| date::day_number(&texts[date as usize]) as i32;
    match totals {
        // Few when little is new: sorted.
        FinalTotals::Sparse(counted) => {
            let mut groups: Vec<Group> = counted
                .iter()
                .filter(|&&(_, total)| total > 0)
                .map(|&(key, total)| {
                    let (date, slot) = keys.unpack(key);
                    Group {
                        slot,
                        day: day(date),
                        total,
                    }
                })
                .collect();
            groups.sort_unstable_by_key(Group::order);
            groups.into_iter().for_each(f);
        }
        // Many: read in order, dates by day and each date's slots up,
        // without sorting.
        FinalTotals::Dense(table) => {
            let mut by_day: Vec<u32> = (0..texts.len() as u32).collect();
            by_day.sort_unstable_by_key(|&date| day(date));
            for date in by_day {
                let day = day(date);
                for slot in 0..keys.region_slots() {
                    let key = keys.pack(date, slot) as usize;
                    let total = if key < table.len() { table.get(key) } else { 0 };
                    if total > 0 {
                        f(Group { slot, day, total });
                    }
                }
            }
        }
    }
}

/// The groups of `a` and `b` (each in [`Group::order`], each group once),
/// in that order, the totals of a group in both added.
fn merge_sorted(a: Vec<Group>, b: Vec<Group>) -> Vec<Group> {
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match x.order().cmp(&y.order()) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next(),
                std::cmp::Ordering::Equal => {
                    let y = b.next().expect("peeked");
                    a.next().map(|x| Group {
                        total: x.total + y.total,
                        ..x
                    })
                }
            },
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(group) => merged.push(group),
            None => return merged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(day: i32, slot: u32, total: u64) -> Group {
        Group { slot, day, total }
    }

    fn groups(totals: &Totals) -> Vec<Group> {
        let mut all = Vec::new();
        totals.each_group(|g| all.push(g)).unwrap();
        all
    }

    #[test]
    fn totals_read_back_in_order_and_damage_is_found() {
        let list = vec![
            g(-4, 3, 1 << 40),
            g(-4, 7, 2),
            g(70_000, 1, 1),
            g(70_000, 9, 300),
        ];
        let totals = Totals::of(list.clone());
        assert_eq!((totals.groups, totals.days), (4, 2));
        assert_eq!(groups(&totals), list);
        let mut days = Vec::new();
        totals
            .each_day(|d| {
                days.push(d);
                Ok(())
            })
            .unwrap();
        assert_eq!(days, [-4, 70_000]);
        for cut in [1, 2, totals.bytes.len() - 1] {
            let short = Totals {
                bytes: totals.bytes[..totals.bytes.len() - cut].to_vec(),
                ..totals.clone()
            };
            assert!(short.each_group(|_| {}).is_err(), "cut {cut}");
        }
        let miscounted = Totals {
            groups: 5,
            ..totals.clone()
        };
        assert!(miscounted.each_group(|_| {}).is_err());
    }

    #[test]
    fn totals_are_added_group_by_group_in_order() {
        let before = vec![g(-1, 5, 1), g(3, 0, 2), g(3, 2, 3), g(9, 1, 4)];
        let fresh = vec![g(-2, 0, 10), g(3, 2, 20), g(3, 4, 30), g(12, 0, 40)];
        assert_eq!(
            merge_sorted(before, fresh),
            [
                g(-2, 0, 10),
                g(-1, 5, 1),
                g(3, 0, 2),
                g(3, 2, 23),
                g(3, 4, 30),
                g(9, 1, 4),
                g(12, 0, 40)
            ]
        );
    }

    /// The table's sum and the list's sum agree, and each is the sum of
    /// the state's groups and the run's, whatever the run's dates were
    /// interned as and whichever form the run's totals took.
    #[test]
    fn the_table_and_the_list_add_up_alike() {
        let day = |text: &[u8; 10]| date::day_number(text) as i32;
        let before = Totals::of([
            g(day(b"2019-01-02"), 1, 5),
            g(day(b"2019-01-02"), 9, 1 << 33),
            g(day(b"2019-03-01"), 0, 7),
        ]);
        let want = vec![
            g(day(b"2019-01-02"), 1, 5),
            g(day(b"2019-01-02"), 9, 1 << 33),
            g(day(b"2019-02-01"), 4, 2),
            g(day(b"2019-03-01"), 0, 10),
        ];
        // 10 slots: five groups against 30 keys; 100,000 slots: against
        // 300,000 keys.
        for (slots, run_dense) in [(10, false), (10, true), (100_000, false), (100_000, true)] {
            let keys = KeySpace::new(slots);
            let dates = DateDict::new(keys.max_dates());
            // This run met 2019-03-01 first, then 2019-02-01.
            let march = dates.intern(b"2019-03-01").unwrap();
            let feb = dates.intern(b"2019-02-01").unwrap();
            let fresh = vec![(keys.pack(march, 0), 3), (keys.pack(feb, 4), 2)];
            let totals = if run_dense {
                let table = DenseKeyTotals::zeroed(keys.bins(dates.len()) as usize).unwrap();
                fresh.iter().for_each(|&(k, t)| table.set(k, t));
                FinalTotals::Dense(table)
            } else {
                FinalTotals::Sparse(fresh)
            };
            let (sum, encoded) = add_up(Path::new("s"), &before, totals, keys, &dates).unwrap();
            let case = format!("{slots} slots, the run's totals dense: {run_dense}");
            // A table when the groups are many for the keys, or the run's
            // own totals were one already.
            let table = slots == 10 || run_dense;
            assert_eq!(matches!(sum, FinalTotals::Dense(_)), table, "{case}");
            assert_eq!(groups(&encoded), want, "{case}");
            let mut listed = Vec::new();
            in_day_order(&sum, keys, &dates, |g| listed.push(g));
            assert_eq!(listed, want, "{case}");
        }
    }
}
