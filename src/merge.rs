//! `merge`: adds up result files (the outputs of `count --split I/N` shards,
//! in any number and order) into one sorted result.csv, as the original's
//! final step merged its Spark partitions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::dict::DateText;
use crate::error::{Error, Result};
use crate::input::display_name;
use crate::output::{self, Destination, ResultRow, ResultTable};
use crate::results::parse_results;

/// What a merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    pub parts: usize,
    /// Rows read from all parts.
    pub rows_in: u64,
    /// Rows written.
    pub groups: usize,
    /// Parts deleted (with `delete`).
    pub deleted: usize,
}

/// Sums `parts` into `output`; with `delete`, removes the parts once the
/// output is safely written (never the output itself, if it was a part).
pub fn merge(parts: &[PathBuf], output: &Destination, delete: bool) -> Result<Merged> {
    let mut totals: HashMap<(DateText, Box<[u8]>), u64> = HashMap::new();
    let mut rows_in = 0u64;
    for part in parts {
        let bytes = std::fs::read(part).map_err(|source| Error::Open {
            path: part.clone(),
            source,
        })?;
        let file = display_name(part);
        for record in parse_results(&bytes, &file)? {
            rows_in += 1;
            let total = totals.entry((record.date, record.region)).or_insert(0);
            *total = total
                .checked_add(record.count)
                .ok_or_else(|| Error::Limit(format!("{file}: counts add up to more than 2^64")))?;
        }
    }
    let rows: Vec<ResultRow<'_>> = totals
        .iter()
        .filter(|&(_, &count)| count > 0)
        .map(|((date, region), &count)| ResultRow {
            region,
            date,
            count,
        })
        .collect();
    let table = ResultTable::from_rows(rows);
    output::write_result(output, &table)?;

    let mut deleted = 0;
    if delete {
        let written = match output {
            Destination::File(path) => std::fs::canonicalize(path).ok(),
            Destination::Stdout => None,
        };
        for part in parts {
            if same_file(part, written.as_deref()) {
                continue;
            }
            std::fs::remove_file(part).map_err(|source| Error::Write {
                path: part.clone(),
                source,
            })?;
            deleted += 1;
        }
    }
    Ok(Merged {
        parts: parts.len(),
        rows_in,
        groups: table.len(),
        deleted,
    })
}

fn same_file(part: &Path, written: Option<&Path>) -> bool {
    written.is_some_and(|w| std::fs::canonicalize(part).is_ok_and(|p| p == w))
}
