//! The file formats, in one place: the header every file starts with, how a
//! header line is found and read, and the header texts the tool writes.
//!
//! | file | header | read by |
//! | --- | --- | --- |
//! | location.csv | [`LOCATION_HEADER`] (only `region_id` and `date` are used, in any order) | [`Layout::from_header`] |
//! | region.csv | [`REGION_HEADER`] | [`crate::regions::RegionTable`] |
//! | result.csv | [`RESULT_HEADER`] | [`crate::result_reader`] |
//! | rejects | [`REJECTS_HEADER`] | people |
//! | a shard's rejects | [`SHARD_REJECTS_HEADER`] | `merge`, which makes rejects of them |
//!
//! Each header is defined here once, by its column names; everything that
//! writes, checks or quotes a header in a message takes it from here.
//!
//! Columns are found by name (ASCII case ignored), so extra columns and any
//! order are fine.
//!
//! The files: this one defines the headers and the small files read whole;
//! `header.rs` finds and reads a header line (and its limits); `columns.rs`
//! says which columns and delimiter a file is read with ([`Layout`]);
//! `shard.rs` is the manifest beside a shard's result; `table.rs` reads a
//! small file whole (region.csv, result files).

use crate::csv::find_column;
use crate::error::Result;

mod columns;
mod header;
mod options;
mod shard;
mod table;
#[cfg(test)]
mod tests;

pub use columns::{
    delimiter_name, parse_columns, parse_delimiter, Column, Layout, LocationFormat, RegionFormat,
};
pub use header::{
    empty_file, header_line, header_names, holds_nothing, GZIP_MAGIC, MAX_LINE, ZSTD_MAGIC,
};
use header::header_names_with;
pub use options::option_text;
pub use shard::{fingerprint, CountOfShard, ShardManifest, ShardRows};
// What only the tests judge, here and in tests/ (through `testing`).
#[cfg(any(test, feature = "testing"))]
pub use columns::{sniff_delimiter, LinePrint};
#[cfg(any(test, feature = "testing"))]
pub use header::{MAX_COLUMNS, MAX_HEADER};
#[cfg(any(test, feature = "testing"))]
pub use shard::LISTED_INPUTS;
pub use table::Table;

/// Defines a header once, from its column names: `$line`, the header line
/// as the tool writes it (every name quoted, then a newline), and
/// `$columns`, the names in order.
macro_rules! header {
    ($(#[$doc:meta])* $line:ident, $columns:ident = [$first:literal $(, $rest:literal)* $(,)?]) => {
        $(#[$doc])*
        pub const $line: &[u8] =
            concat!("\"", $first, "\"" $(, ",\"", $rest, "\"")*, "\n").as_bytes();
        #[doc = concat!("The column names of [`", stringify!($line), "`], in order.")]
        // Not every file's columns are looked up one by one.
        #[allow(dead_code)]
        pub const $columns: &[&str] = &[$first $(, $rest)*];
    };
}

header!(
    /// The header of location.csv as `generate` writes it.
    LOCATION_HEADER,
    LOCATION_COLUMNS = ["lat", "long", "region_id", "date"]
);

header!(
    /// The header of region.csv.
    REGION_HEADER,
    REGION_COLUMNS = ["region_id", "region_name"]
);

header!(
    /// The header of result.csv.
    RESULT_HEADER,
    RESULT_COLUMNS = ["region_name", "date", "count"]
);

/// A header line as messages show it: without its newline.
pub const fn header_text(header: &'static [u8]) -> &'static str {
    let Some((b'\n', line)) = header.split_last() else {
        panic!("a header line ends with a newline");
    };
    match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(_) => panic!("a header is ASCII"),
    }
}

/// A file read whole into memory, whose header is checked before the rest
/// is read, and whose size is capped: a file given to the wrong flag, or
/// `/dev/zero`, fails at once with a message instead of filling memory.
#[derive(Clone, Copy, Debug)]
pub struct SmallFile {
    /// What it is, for messages: "region.csv".
    pub what: &'static str,
    /// The header it should have, for messages.
    pub header: &'static str,
    /// The columns it must have (by name, in any order).
    pub columns: &'static [&'static str],
    /// The most bytes it may have.
    pub limit: u64,
    /// Whether its first line is a row, not a header (region.csv under
    /// `--regions-no-header`).
    pub headerless: bool,
    /// Whether its delimiter is sniffed from its first line, as a location
    /// file's is (region.csv: an export's region table shares its rows'
    /// `;` or tabs); a comma otherwise (the files this tool writes).
    pub sniffed: bool,
}

/// region.csv: 256 MiB holds millions of regions, far past the 32-bit key.
pub const REGION_FILE: SmallFile = SmallFile {
    what: "region.csv",
    header: header_text(REGION_HEADER),
    columns: REGION_COLUMNS,
    limit: 256 << 20,
    headerless: false,
    sniffed: true,
};

/// A result file, read back by `merge` and `plot`: 4 GiB is about 90
/// million groups.
pub const RESULT_FILE: SmallFile = SmallFile {
    what: "a result file",
    header: header_text(RESULT_HEADER),
    columns: RESULT_COLUMNS,
    limit: 4 << 30,
    headerless: false,
    sniffed: false,
};

impl SmallFile {
    /// The delimiter of this file, whose first line is `first`: sniffed
    /// among , ; tab | where [`SmallFile::sniffed`], else a comma.
    pub fn delimiter(&self, first: &[u8]) -> u8 {
        match self.sniffed {
            true => columns::sniff_delimiter(first),
            false => b',',
        }
    }

    /// Checks that `header` (a header line, as [`header_line`] gives it)
    /// has the columns this file must have. The error is the reason, for
    /// an [`Error::Data`](crate::error::Error::Data) on line 1.
    pub fn check_columns(&self, header: &[u8]) -> Result<(), String> {
        let names = header_names_with(header, self.delimiter(header))?;
        for column in self.columns {
            find_column(&names, column).map_err(|why| {
                format!(
                    "{why}; is this {}? its header is {}",
                    self.what, self.header
                )
            })?;
        }
        Ok(())
    }
}

header!(
    /// The header of a `--rejects` file.
    REJECTS_HEADER,
    REJECTS_COLUMNS = ["source", "line", "reason", "row"]
);

header!(
    /// The header of the `--rejects` file of a shard (`count --split I/N`).
    ///
    /// A shard does not read the file before its range, so it cannot know on
    /// which line of the file its rows are. Its rejects say where each row is
    /// in the shard's part instead, and `merge` makes file lines of them with
    /// the line counts that every shard's rejects end with. Three kinds of
    /// record, told apart by which columns are empty:
    /// - a rejected row: `shard`, the part (`source`, `source_bytes`,
    ///   `part_start`, `part_end`: the byte range of the source this shard
    ///   owns), `line_in_part` (1 is the part's first row), `reason`, `row`,
    ///   `header_lines` (1, or 0 for a file read with `--no-header`: what
    ///   comes before the first row); `part_lines` empty;
    /// - the end of a part, after its rejected rows: `shard`, the part and
    ///   `part_lines`, how many lines the part's rows span, and
    ///   `header_lines`; the rest empty;
    /// - the end of the shard, last: `shard` alone.
    SHARD_REJECTS_HEADER,
    SHARD_REJECTS_COLUMNS = [
        "shard",
        "source",
        "source_bytes",
        "part_start",
        "part_end",
        "part_lines",
        "line_in_part",
        "reason",
        "row",
        // Last, and optional to `merge` (1 when a file lacks it: a shard's
        // rejects from before it was written).
        "header_lines",
    ]
);
