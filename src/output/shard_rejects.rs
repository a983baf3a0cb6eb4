//! The schema of a shard's rejects file ([`SHARD_REJECTS_HEADER`], where
//! its three kinds of record are described) and the rule that numbers its
//! rows: the one home of both, for the writer ([`super::RejectsWriter`])
//! and for `merge`, which reads the shards' files back.

use crate::format::SHARD_REJECTS_COLUMNS;
#[cfg(doc)]
use crate::format::SHARD_REJECTS_HEADER;

/// A column of a shard's rejects; `as usize` is its position in a record
/// as written, and [`ShardColumn::name`] its name in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardColumn {
    /// The shard's `I/N`, in every record.
    Shard,
    /// The source, as named; empty in the shard's end record.
    Source,
    /// The source's size in bytes.
    SourceBytes,
    /// Where the shard's part of the source starts (a byte offset).
    PartStart,
    /// Where it ends.
    PartEnd,
    /// How many lines the part's rows span; set only in a part's end
    /// record.
    PartLines,
    /// A rejected row's line in its part ([`ShardLine`]).
    LineInPart,
    /// Why the row was rejected.
    Reason,
    /// The row's text.
    Row,
    /// What comes before the file's first row: 1 (a header) or 0
    /// (`--no-header`). Last, and optional to `merge`.
    HeaderLines,
}

/// How many columns a shard's rejects have.
pub const SHARD_WIDTH: usize = SHARD_REJECTS_COLUMNS.len();

impl ShardColumn {
    /// Every column, in the order a record has them.
    pub const ALL: [ShardColumn; SHARD_WIDTH] = [
        ShardColumn::Shard,
        ShardColumn::Source,
        ShardColumn::SourceBytes,
        ShardColumn::PartStart,
        ShardColumn::PartEnd,
        ShardColumn::PartLines,
        ShardColumn::LineInPart,
        ShardColumn::Reason,
        ShardColumn::Row,
        ShardColumn::HeaderLines,
    ];

    /// Its name in the header.
    pub fn name(self) -> &'static str {
        SHARD_REJECTS_COLUMNS[self as usize]
    }
}

/// A record being written: a field per column, `None` empty.
pub type ShardFields<'a> = [Option<&'a [u8]>; SHARD_WIDTH];

/// Where a rejected row of a shard is: its line in the shard's part,
/// counted from 1, and how that becomes a line of the file once the
/// lines before the part are known (by the shard itself when it read the
/// file from its start, by `merge` from the other shards' rejects).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardLine(pub u64);

impl ShardLine {
    /// The line of row `line_in_chunk` (counted from 0) of a chunk that
    /// comes after `lines_done` lines of the part.
    pub fn of(lines_done: u64, line_in_chunk: u64) -> ShardLine {
        ShardLine(1 + lines_done + line_in_chunk)
    }

    /// Its line in the file, after the `lines_before` lines that come
    /// before the part's first row (the header's, the earlier parts');
    /// `None` past 2^64, which only a crafted file reaches.
    pub fn in_file(self, lines_before: u64) -> Option<u64> {
        lines_before.checked_add(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_are_the_headers_in_its_order() {
        let names: Vec<&str> = ShardColumn::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names, SHARD_REJECTS_COLUMNS);
        for (i, column) in ShardColumn::ALL.into_iter().enumerate() {
            assert_eq!(column as usize, i);
        }
    }

    #[test]
    fn a_rows_file_line_counts_the_lines_before_its_part_and_its_header() {
        // Row 0 of the first chunk: line 1 of the part; after a header and
        // a part of 10 lines, line 12 of the file.
        let line = ShardLine::of(0, 0);
        assert_eq!(line, ShardLine(1));
        assert_eq!(line.in_file(1 + 10), Some(12));
        assert_eq!(ShardLine::of(5, 2).in_file(0), Some(8));
        assert_eq!(ShardLine(2).in_file(u64::MAX - 1), None);
    }
}
