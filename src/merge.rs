//! `merge`: adds up result files (the outputs of `count --split I/N` shards,
//! in any number and order) into one sorted result.csv, as the original's
//! final step merged its Spark partitions.

use std::collections::HashMap;
use std::path::Path;

use crate::date::DateText;
use crate::error::{Error, Result};
use crate::input::{self, InputSpec};
use crate::output::{self, Destination, PendingOutput, ResultRow, ResultTable};
use crate::results::parse_results;
use crate::s3;

/// What a merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Parts read.
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
pub fn merge(parts: &[InputSpec], output: &Destination, delete: bool) -> Result<Merged> {
    let mut totals: HashMap<(DateText, Box<[u8]>), u64> = HashMap::new();
    let mut rows_in = 0u64;
    for part in parts {
        let bytes = input::read_whole(part)?;
        let file = part.name();
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
    let mut pending = PendingOutput::create(output)?;
    let written = output::write_table(pending.writer(), &table);
    pending.check(written)?;
    pending.commit()?;

    let mut deleted = 0;
    if delete {
        for part in parts {
            if is_output(part, output) {
                continue;
            }
            match part {
                InputSpec::Local(path) => {
                    std::fs::remove_file(path).map_err(|source| Error::Write {
                        path: path.clone(),
                        source,
                    })?
                }
                InputSpec::S3(url) => s3::delete(url)?,
            }
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

/// Whether `part` is where the merged result was written.
fn is_output(part: &InputSpec, output: &Destination) -> bool {
    let same = |a: &Path, b: &Path| matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b);
    match (part, output) {
        (InputSpec::Local(part), Destination::File(out)) => same(part, out),
        (InputSpec::S3(part), Destination::S3(out)) => part == out,
        _ => false,
    }
}
