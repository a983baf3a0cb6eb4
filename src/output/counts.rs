//! A count's groups handed back instead of (or as well as) written:
//! [`Counts`], three columns of indexes and counts in result order.

use std::io;

use crate::date::DateText;

/// The three columns of [`Counts`] as they fill, growing without aborting
/// when memory runs out.
#[derive(Default)]
pub(super) struct Columns {
    name: Vec<u32>,
    date: Vec<u32>,
    pub(super) count: Vec<u64>,
}

impl Columns {
    /// Room for `more` rows, when it can be had; the pushes grow it if not.
    pub(super) fn reserve(&mut self, more: usize) {
        let _ = self.name.try_reserve_exact(more).is_ok()
            && self.date.try_reserve_exact(more).is_ok()
            && self.count.try_reserve_exact(more).is_ok();
    }

    pub(super) fn push(&mut self, name: u32, date: u32, count: u64) -> io::Result<()> {
        if self.count.len() == self.count.capacity() {
            let more = self.count.len().max(1 << 16);
            let grown = self.name.try_reserve(more).is_ok()
                && self.date.try_reserve(more).is_ok()
                && self.count.try_reserve(more).is_ok();
            if !grown {
                return Err(io::ErrorKind::OutOfMemory.into());
            }
        }
        self.name.push(name);
        self.date.push(date);
        self.count.push(count);
        Ok(())
    }
}

/// A count's groups, handed back instead of (or as well as) written:
/// (region name, date, count) rows in result order (by date, then name
/// in byte order), as three columns of indexes and counts. Each name and
/// date is kept once, so 20 million groups take 16 bytes each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    names: Vec<String>,
    dates: Vec<DateText>,
    name: Vec<u32>,
    date: Vec<u32>,
    count: Vec<u64>,
}

impl Counts {
    /// The counts of `columns`, whose indexes are into `names` and `dates`.
    pub(super) fn from_columns(
        names: Vec<String>,
        dates: Vec<DateText>,
        columns: Columns,
    ) -> Counts {
        Counts {
            names,
            dates,
            name: columns.name,
            date: columns.date,
            count: columns.count,
        }
    }

    /// How many groups (rows) there are.
    pub fn len(&self) -> usize {
        self.count.len()
    }

    /// Whether no group was counted.
    pub fn is_empty(&self) -> bool {
        self.count.is_empty()
    }

    /// The region names, in byte order: row `i`'s is
    /// `names()[name_indexes()[i]]`. (A region's name that is not UTF-8
    /// has its bad bytes replaced by U+FFFD.)
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The dates (`YYYY-MM-DD`), in order: row `i`'s is
    /// `dates()[date_indexes()[i]]`.
    pub fn dates(&self) -> &[DateText] {
        &self.dates
    }

    /// Each row's index into [`Counts::names`].
    pub fn name_indexes(&self) -> &[u32] {
        &self.name
    }

    /// Each row's index into [`Counts::dates`].
    pub fn date_indexes(&self) -> &[u32] {
        &self.date
    }

    /// Each row's count.
    pub fn counts(&self) -> &[u64] {
        &self.count
    }

    /// The rows, in result order: (region name, date, count).
    pub fn rows(&self) -> impl Iterator<Item = (&str, &str, u64)> + '_ {
        (0..self.len()).map(move |i| {
            let date = &self.dates[self.date[i] as usize];
            (
                self.names[self.name[i] as usize].as_str(),
                // Dates are validated ASCII digits and dashes.
                std::str::from_utf8(date).unwrap_or_default(),
                self.count[i],
            )
        })
    }
}
