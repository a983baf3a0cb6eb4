//! result.csv: the counts decoded into (region name, date, count) rows,
//! sorted by date, then region name in byte order.
//!
//! A count's groups are written without sorting the rows themselves
//! ([`Groups`]): the dates (thousands) and the region names (at most
//! tens of thousands) are ranked once, the groups are bucketed by date, and
//! each date's groups are walked in name order, from a dense row when the
//! date has many groups and by a small sort when it has few. Each row's text
//! is copied from pre-quoted names and dates; nothing is allocated per row.
//! Tens of millions of groups are written at disk speed.
//!
//! The rows' bytes and the writers that take them out are in
//! `row_bytes.rs`; the groups handed back instead ([`Counts`]) in
//! `counts.rs`.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use crate::csv::write_quoted;
use crate::date::DateText;
use crate::error::{Error, Result};
use crate::format::RESULT_HEADER;
use crate::histogram::{DenseKeyTotals, FinalTotals};
use crate::regions::{KeySpace, RegionTable};

use super::counts::{Columns, Counts};
use super::row_bytes::{push_row, row_len, AtOffset, RowWriter};

/// One row of result.csv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRow<'a> {
    /// The region's name.
    pub region: &'a [u8],
    /// The day.
    pub date: &'a DateText,
    /// Rows of that region on that day.
    pub count: u64,
}

/// Rows of result.csv in any order, sorted on the way out: for `merge`,
/// whose rows come from files.
#[derive(Debug)]
pub struct ResultTable<'a> {
    rows: Vec<ResultRow<'a>>,
}

impl<'a> ResultTable<'a> {
    /// A table of rows in any order.
    pub fn from_rows(mut rows: Vec<ResultRow<'a>>) -> ResultTable<'a> {
        rows.sort_unstable_by(|a, b| (a.date, a.region).cmp(&(b.date, b.region)));
        ResultTable { rows }
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The rows, in result order.
    #[cfg(test)]
    pub fn rows(&self) -> &[ResultRow<'a>] {
        &self.rows
    }
}

/// Writes `table` as result.csv, its header first.
pub fn write_table(out: &mut dyn Write, table: &ResultTable<'_>) -> io::Result<()> {
    let mut rows = RowWriter::new(out)?;
    let (mut region, mut date) = (Vec::new(), Vec::new());
    for row in &table.rows {
        region.clear();
        write_quoted(&mut region, row.region);
        region.push(b',');
        date.clear();
        write_quoted(&mut date, row.date);
        date.extend_from_slice(b",\"");
        rows.row(&region, &date, row.count)?;
    }
    rows.finish().map(drop)
}

/// The groups of a count, ready to be written in result order: the dates
/// and names ranked, and the totals arranged by date.
pub struct Groups<'a> {
    dates: &'a [DateText],
    date_of_rank: Vec<usize>,
    slot_of_rank: Vec<u32>,
    /// Every name quoted and followed by its `,`, in name order, one after
    /// another: rank `r`'s is `names[name_starts[r]..name_starts[r + 1]]`.
    /// (One block read in order, not a heap string per name: on 70,000
    /// regions the row loop was bound by those scattered small copies.)
    names: Vec<u8>,
    name_starts: Vec<usize>,
    by_date: ByDate,
}

/// The totals, arranged so that each date's are found together.
enum ByDate {
    /// Bucketed by date rank: `starts[r]..starts[r + 1]` in `names` (name
    /// ranks) and `totals` are date rank `r`'s groups.
    Buckets {
        starts: Vec<usize>,
        names: Vec<u32>,
        totals: Vec<u64>,
    },
    /// Dense totals, indexed by key: each date's are one row of slots.
    Rows(DenseKeyTotals),
}

impl<'a> Groups<'a> {
    /// Ranks the dates and names and arranges `totals` by date. Fails only
    /// when memory runs out.
    pub fn new(
        totals: FinalTotals,
        keys: KeySpace,
        dates: &'a [DateText],
        regions: &RegionTable,
    ) -> Result<Groups<'a>> {
        let date_rank = ranks(dates.len(), |a, b| dates[a].cmp(&dates[b]));
        let slots = regions.slots() as usize;
        let name_rank = ranks(slots, |a, b| {
            regions.name(a as u32).cmp(regions.name(b as u32))
        });
        let by_date = match totals {
            FinalTotals::Dense(table) => ByDate::Rows(table),
            FinalTotals::Sparse(groups) => {
                // A counting sort by date rank.
                let mut starts = vec![0usize; dates.len() + 1];
                for &(key, total) in &groups {
                    if total > 0 {
                        let (date, _) = keys.unpack(key);
                        starts[date_rank[date as usize] as usize + 1] += 1;
                    }
                }
                for i in 0..dates.len() {
                    starts[i + 1] += starts[i];
                }
                let count = starts[dates.len()];
                let mut names = try_vec::<u32>(count)?;
                let mut totals = try_vec::<u64>(count)?;
                let mut next = starts.clone();
                for (key, total) in groups {
                    if total > 0 {
                        let (date, slot) = keys.unpack(key);
                        let at = &mut next[date_rank[date as usize] as usize];
                        names[*at] = name_rank[slot as usize];
                        totals[*at] = total;
                        *at += 1;
                    }
                }
                ByDate::Buckets {
                    starts,
                    names,
                    totals,
                }
            }
        };
        let slot_of_rank: Vec<u32> = invert(&name_rank).into_iter().map(|s| s as u32).collect();
        let mut names = Vec::new();
        let mut name_starts = Vec::with_capacity(slots + 1);
        name_starts.push(0);
        for &slot in &slot_of_rank {
            write_quoted(&mut names, regions.name(slot));
            names.push(b',');
            name_starts.push(names.len());
        }
        Ok(Groups {
            dates,
            date_of_rank: invert(&date_rank),
            slot_of_rank,
            names,
            name_starts,
            by_date,
        })
    }

    /// Writes result.csv, its header first; returns how many rows it has.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<usize> {
        let mut rows = RowWriter::new(out)?;
        let mut scratch = DateScratch::default();
        for rank in 0..self.dates.len() {
            self.visit(rank, &mut scratch, |name, date, total| {
                rows.row(name, date, total)
            })?;
        }
        rows.finish()
    }

    /// Sizes every date's rows, on `threads` threads, for
    /// [`Groups::write_at`].
    pub fn sizes(&self, threads: usize) -> DateSizes {
        DateSizes(self.date_sizes(threads))
    }

    /// Writes result.csv into `file` at offset 0 with `threads` threads,
    /// each writing its share of the dates at their offsets (from `sizes`):
    /// formatting and the kernel's copy into the page cache, the two costs
    /// of a large result, run on every core. Returns how many rows it
    /// wrote.
    pub fn write_at(&self, file: &File, sizes: &DateSizes, threads: usize) -> io::Result<usize> {
        let sizes = &sizes.0;
        file.write_all_at(RESULT_HEADER, 0)?;
        let total: u64 = sizes.iter().sum();
        // Each thread takes a run of dates of about an equal share of bytes.
        let share = total / threads.max(1) as u64 + 1;
        let mut runs = Vec::new();
        let (mut start, mut offset, mut run_bytes) = (0, RESULT_HEADER.len() as u64, 0);
        for (rank, &size) in sizes.iter().enumerate() {
            run_bytes += size;
            if run_bytes >= share || rank + 1 == sizes.len() {
                runs.push((start..rank + 1, offset));
                offset += run_bytes;
                (start, run_bytes) = (rank + 1, 0);
            }
        }
        std::thread::scope(|scope| {
            let workers: Vec<_> = runs
                .into_iter()
                .map(|(ranks, offset)| {
                    scope.spawn(move || -> io::Result<usize> {
                        let mut out = AtOffset::new(file, offset);
                        let mut scratch = DateScratch::default();
                        let mut rows = 0;
                        for rank in ranks {
                            self.visit(rank, &mut scratch, |name, date, total| {
                                push_row(&mut out.buf, name, date, total);
                                rows += 1;
                                out.spill(false)
                            })?;
                        }
                        out.spill(true)?;
                        Ok(rows)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("an output thread panicked"))
                .sum()
        })
    }

    /// The bytes of each date's rows, by date rank, counted on `threads`
    /// threads.
    fn date_sizes(&self, threads: usize) -> Vec<u64> {
        let mut sizes = vec![0u64; self.dates.len()];
        let per_thread = sizes.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            for (part, sizes) in sizes.chunks_mut(per_thread).enumerate() {
                scope.spawn(move || {
                    let mut scratch = DateScratch::default();
                    for (i, size) in sizes.iter_mut().enumerate() {
                        let rank = part * per_thread + i;
                        let _ = self.visit(rank, &mut scratch, |name, date, total| {
                            *size += row_len(name, date, total);
                            Ok(())
                        });
                    }
                });
            }
        });
        sizes
    }

    /// Calls `row(quoted name, quoted date, total)` for every group of date
    /// rank `rank`, in name order.
    fn visit(
        &self,
        rank: usize,
        scratch: &mut DateScratch,
        mut row: impl FnMut(&[u8], &[u8], u64) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut date_middle = std::mem::take(&mut scratch.date_middle);
        date_middle.clear();
        write_quoted(&mut date_middle, &self.dates[self.date_of_rank[rank]]);
        date_middle.extend_from_slice(b",\"");
        let quoted_name =
            |name: usize| &self.names[self.name_starts[name]..self.name_starts[name + 1]];
        let visited = self.visit_ranks(rank, scratch, |name, total| {
            row(quoted_name(name), &date_middle, total)
        });
        scratch.date_middle = date_middle;
        visited
    }

    /// How many groups (rows of result.csv) there are: the walk of
    /// [`Groups::write`] with nothing formatted, for a count that neither
    /// writes nor keeps them.
    pub fn len(&self) -> usize {
        let mut groups = 0;
        let mut scratch = DateScratch::default();
        for rank in 0..self.dates.len() {
            let counted = self.visit_ranks(rank, &mut scratch, |_, _| {
                groups += 1;
                Ok(())
            });
            counted.expect("counting fails nowhere");
        }
        groups
    }

    /// Calls `row(name rank, total)` for every group of date rank `rank`, in
    /// name order: the one walk that both result.csv and [`Counts`] take.
    fn visit_ranks(
        &self,
        rank: usize,
        scratch: &mut DateScratch,
        mut row: impl FnMut(usize, u64) -> io::Result<()>,
    ) -> io::Result<()> {
        let DateScratch { dense, few, .. } = scratch;
        let slots = self.slot_of_rank.len();
        let date = self.date_of_rank[rank];
        match &self.by_date {
            ByDate::Rows(table) => {
                let start = date * slots;
                for name in 0..slots {
                    let key = start + self.slot_of_rank[name] as usize;
                    let total = if key < table.len() { table.get(key) } else { 0 };
                    if total > 0 {
                        row(name, total)?;
                    }
                }
            }
            ByDate::Buckets {
                starts,
                names,
                totals,
            } => {
                let (start, end) = (starts[rank], starts[rank + 1]);
                // A bucket of many groups walks a dense row of every name;
                // one of few sorts them.
                if end - start >= (slots / 16).max(1) {
                    dense.resize(slots, 0);
                    for i in start..end {
                        dense[names[i] as usize] += totals[i];
                    }
                    for (name, total) in dense.iter_mut().enumerate() {
                        if *total > 0 {
                            row(name, *total)?;
                            *total = 0;
                        }
                    }
                } else {
                    few.clear();
                    few.extend((start..end).map(|i| (names[i], totals[i])));
                    few.sort_unstable_by_key(|&(name, _)| name);
                    for &(name, total) in few.iter() {
                        row(name as usize, total)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The groups as [`Counts`], in result order, without writing a byte.
    /// Fails only when memory runs out.
    pub fn counts(&self, regions: &RegionTable) -> Result<Counts> {
        let names = self
            .slot_of_rank
            .iter()
            .map(|&slot| String::from_utf8_lossy(regions.name(slot)).into_owned())
            .collect();
        let dates: Vec<DateText> = self.date_of_rank.iter().map(|&d| self.dates[d]).collect();
        let mut columns = Columns::default();
        if let ByDate::Buckets { totals, .. } = &self.by_date {
            columns.reserve(totals.len());
        }
        let mut scratch = DateScratch::default();
        for rank in 0..dates.len() {
            let date = rank as u32;
            let visited = self.visit_ranks(rank, &mut scratch, |name, total| {
                columns.push(name as u32, date, total)
            });
            visited.map_err(|_| {
                Error::Limit(format!(
                    "not enough memory to keep {} groups (region names × dates) on this machine",
                    columns.count.len()
                ))
            })?;
        }
        Ok(Counts::from_columns(names, dates, columns))
    }
}

/// The bytes of each date's rows in result.csv, by date rank.
pub struct DateSizes(Vec<u64>);

impl DateSizes {
    /// The bytes of the whole result.csv, its header included.
    pub fn file_len(&self) -> u64 {
        RESULT_HEADER.len() as u64 + self.0.iter().sum::<u64>()
    }
}

/// One thread's scratch space for walking dates.
#[derive(Default)]
struct DateScratch {
    dense: Vec<u64>,
    few: Vec<(u32, u64)>,
    /// The date quoted, with the `,"` that comes before the count.
    date_middle: Vec<u8>,
}

/// The inverse of a permutation: for each rank, the item.
fn invert(rank: &[u32]) -> Vec<usize> {
    let mut item = vec![0; rank.len()];
    for (i, &r) in rank.iter().enumerate() {
        item[r as usize] = i;
    }
    item
}

/// For `n` items and their order, each item's rank: the position it takes
/// when sorted.
fn ranks(n: usize, order: impl Fn(usize, usize) -> std::cmp::Ordering) -> Vec<u32> {
    let mut sorted: Vec<usize> = (0..n).collect();
    sorted.sort_unstable_by(|&a, &b| order(a, b));
    let mut rank = vec![0u32; n];
    for (r, &item) in sorted.iter().enumerate() {
        rank[item] = r as u32;
    }
    rank
}

/// A zeroed vector of `len`, or an error if memory runs out.
fn try_vec<T: Clone + Default>(len: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        Error::Limit(format!(
            "not enough memory to write {len} groups (region names × dates) on this machine"
        ))
    })?;
    v.resize(len, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(groups: Vec<(u32, u64)>, dates: &[DateText], regions: &RegionTable) -> String {
        let keys = KeySpace::new(regions.slots());
        let mut out = Vec::new();
        let sparse =
            Groups::new(FinalTotals::Sparse(groups.clone()), keys, dates, regions).unwrap();
        let rows = sparse.write(&mut out).unwrap();
        assert_eq!(rows, groups.iter().filter(|&&(_, n)| n > 0).count());
        // The same totals, dense, give the same text.
        let len = groups
            .iter()
            .map(|&(key, _)| key as usize + 1)
            .max()
            .unwrap_or(0);
        let table = DenseKeyTotals::zeroed(len).unwrap();
        for &(key, n) in &groups {
            table.set(key, n);
        }
        let mut dense_out = Vec::new();
        let dense = Groups::new(FinalTotals::Dense(table), keys, dates, regions).unwrap();
        assert_eq!(dense.write(&mut dense_out).unwrap(), rows);
        assert_eq!(dense_out, out);
        // The counts handed back are the same rows, in the same order.
        for groups in [&sparse, &dense] {
            let counts = groups.counts(regions).unwrap();
            assert_eq!(counts.len(), rows);
            let handed: Vec<ResultRow> = counts
                .rows()
                .map(|(name, date, count)| ResultRow {
                    region: name.as_bytes(),
                    date: date.as_bytes().try_into().unwrap(),
                    count,
                })
                .collect();
            let table = ResultTable::from_rows(handed.clone());
            assert_eq!(table.rows(), &handed[..], "handed back in result order");
            let mut from_counts = Vec::new();
            write_table(&mut from_counts, &table).unwrap();
            assert_eq!(from_counts, out);
        }
        // And written at offsets by any number of threads, too.
        for threads in [1, 2, 3, 7] {
            let file = tempfile::tempfile().unwrap();
            let sizes = dense.sizes(threads);
            assert_eq!(sizes.file_len(), out.len() as u64);
            assert_eq!(dense.write_at(&file, &sizes, threads).unwrap(), rows);
            let mut at_offsets = Vec::new();
            std::io::Read::read_to_end(&mut &file, &mut at_offsets).unwrap();
            assert_eq!(at_offsets, out, "{threads} threads");
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn groups_come_out_by_date_then_name_in_byte_order() {
        let regions = RegionTable::parse(b"region_id,region_name\n1,b\n2,a\n3,B\n", "r").unwrap();
        let keys = KeySpace::new(regions.slots());
        let dates = [*b"2019-01-02", *b"2019-01-01"];
        let groups = vec![
            (keys.pack(0, 0), 5),  // b, 01-02
            (keys.pack(1, 2), 7),  // B, 01-01
            (keys.pack(0, 1), 1),  // a, 01-02
            (keys.pack(1, 1), 0),  // a, 01-01: no row
            (keys.pack(0, 2), 12), // B, 01-02
        ];
        assert_eq!(
            written(groups, &dates, &regions),
            "\"region_name\",\"date\",\"count\"\n\
             \"B\",\"2019-01-01\",\"7\"\n\
             \"B\",\"2019-01-02\",\"12\"\n\
             \"a\",\"2019-01-02\",\"1\"\n\
             \"b\",\"2019-01-02\",\"5\"\n"
        );
    }

    /// Dense dates (a row scratch) and sparse ones (a sort) give what sorting
    /// every row does, and both agree with `write_table`.
    #[test]
    fn dense_and_sparse_dates_agree_with_a_plain_sort() {
        let mut text = String::from("region_id,region_name\n");
        for i in 0..100 {
            text.push_str(&format!("{i},\"R {}\"\n", (i * 37) % 101));
        }
        let regions = RegionTable::parse(text.as_bytes(), "r").unwrap();
        let keys = KeySpace::new(regions.slots());
        let dates = [*b"2019-03-01", *b"2019-01-01", *b"2019-02-01"];
        let mut groups = Vec::new();
        for slot in 0..100u32 {
            groups.push((keys.pack(0, slot), u64::from(slot) + 1)); // dense
            if slot % 40 == 0 {
                groups.push((keys.pack(1, slot), 1 << 40)); // sparse
            }
        }
        let rows: Vec<ResultRow<'_>> = groups
            .iter()
            .map(|&(key, count)| {
                let (date, slot) = keys.unpack(key);
                ResultRow {
                    region: regions.name(slot),
                    date: &dates[date as usize],
                    count,
                }
            })
            .collect();
        let mut sorted = Vec::new();
        write_table(&mut sorted, &ResultTable::from_rows(rows)).unwrap();
        assert_eq!(
            written(groups, &dates, &regions),
            String::from_utf8(sorted).unwrap()
        );
    }

    /// Threads write at offsets from `row_len`: it must be what
    /// `push_row` writes, for every number of digits.
    #[test]
    fn row_len_is_what_push_row_writes() {
        for n in [0, 7, 10, 99, 100, 1234567890, u64::MAX] {
            let mut out = Vec::new();
            push_row(&mut out, b"\"A\",", b"\"2019-01-01\",\"", n);
            assert_eq!(
                out.len() as u64,
                row_len(b"\"A\",", b"\"2019-01-01\",\"", n)
            );
            assert_eq!(out, format!("\"A\",\"2019-01-01\",\"{n}\"\n").as_bytes());
        }
    }
}
