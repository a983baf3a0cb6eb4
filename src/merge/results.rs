//! Adding up result files: every (region, date) summed over the parts,
//! written sorted as count writes result.csv.

use std::collections::HashMap;

use crate::date::DateText;
use crate::error::{Error, Result};
use crate::format::RESULT_FILE;
use crate::input::{self, InputSpec};
use crate::output::{self, Destination, PendingOutput, ResultRow, ResultTable};
use crate::results::parse_results;

/// Sums `parts` into `output`: returns the rows read and the groups written.
pub(super) fn add_up(parts: &[InputSpec], output: &Destination) -> Result<(u64, u64)> {
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

    Ok((rows_in, table.len() as u64))
}
