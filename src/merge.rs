//! `merge`: adds up result files (the outputs of `count --split I/N` shards,
//! in any number and order) into one sorted result.csv, as the original's
//! final step merged its Spark partitions.

use std::collections::HashMap;

use crate::date::DateText;
use crate::error::{Error, Result};
use crate::format::RESULT_FILE;
use crate::input::{self, InputSpec};
use crate::output::{self, same_file, Destination, PendingOutput, ResultRow, ResultTable};
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
    // A part named twice would be added twice (and, with `delete`, deleted
    // before its second reading).
    for (i, part) in parts.iter().enumerate() {
        if let Some(other) = parts[..i].iter().find(|other| same_part(part, other)) {
            return Err(Error::Usage(format!(
                "{}: named twice (also as {}); each part is added once, so name it once",
                part.name(),
                other.name()
            )));
        }
    }
    let mut totals: HashMap<(DateText, Box<[u8]>), u64> = HashMap::new();
    let mut rows_in = 0u64;
    for part in parts {
        let bytes = input::read_small(part, &RESULT_FILE)?;
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
    match (part, output) {
        (InputSpec::Local(part), Destination::File(out)) => same_file(part, out),
        (InputSpec::S3(part), Destination::S3(out)) => part == out,
        _ => false,
    }
}

/// Whether two parts are the same file or object.
fn same_part(a: &InputSpec, b: &InputSpec) -> bool {
    match (a, b) {
        (InputSpec::Local(a), InputSpec::Local(b)) => same_file(a, b),
        (InputSpec::S3(a), InputSpec::S3(b)) => a == b,
        _ => false,
    }
}
