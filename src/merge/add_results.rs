//! Adding up result files: every (region, date) summed over the parts,
//! written sorted as count writes result.csv.

use std::collections::HashMap;

use crate::date::DateText;
use crate::error::{Error, Result};
use crate::format::{ShardManifest, RESULT_FILE};
use crate::input::{self, InputSpec};
use crate::output::{self, Destination, PendingOutput, ResultRow, ResultTable};
use crate::result_reader::parse_results;
use crate::s3;

/// The shard manifests beside `parts` ([`ShardManifest`]), checked: when
/// any part has one, every part must, all of one count, each shard once and
/// none missing. Returns where they are, for `merge -d` to delete.
pub(super) fn check_shards(parts: &[InputSpec]) -> Result<Vec<InputSpec>> {
    let mut found = Vec::new();
    for part in parts {
        let beside = match part {
            InputSpec::Local(path) => {
                InputSpec::Local(ShardManifest::beside(&path.to_string_lossy()).into())
            }
            InputSpec::S3(url) => InputSpec::S3(ShardManifest::beside(url)),
        };
        let bytes = match &beside {
            InputSpec::Local(path) => match std::fs::read(path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(Error::Open {
                        path: path.clone(),
                        source,
                    })
                }
            },
            InputSpec::S3(url) => match s3::read_all(url, 1 << 20) {
                Ok(bytes) => bytes,
                Err(Error::Open { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    None
                }
                Err(e) => return Err(e),
            },
        };
        if let Some(bytes) = bytes {
            let manifest = ShardManifest::parse(&bytes).map_err(|reason| Error::Data {
                file: beside.name(),
                line: 1,
                reason,
            })?;
            found.push((part, beside, manifest));
        }
    }
    let Some((_, _, first)) = found.first() else {
        return Ok(Vec::new());
    };
    let (shards, input_bytes) = (first.shards, first.input_bytes);
    if let Some(part) = parts.iter().find(|p| !found.iter().any(|(f, _, _)| f == p)) {
        return Err(Error::Usage(format!(
            "{}: has no shard manifest beside it, though other parts do: it is not a shard \
             of the same count",
            part.name()
        )));
    }
    // By shard: a crafted manifest may say 2^64 shards.
    let mut seen: HashMap<u64, String> = HashMap::new();
    for (part, _, manifest) in &found {
        if manifest.shards != shards || manifest.input_bytes != input_bytes {
            return Err(Error::Usage(format!(
                "{} is shard {}/{} of {} input bytes, {} one of {shards} shards of {input_bytes}: \
                 they are parts of different counts",
                part.name(),
                manifest.shard,
                manifest.shards,
                manifest.input_bytes,
                found[0].0.name()
            )));
        }
        if let Some(other) = seen.insert(manifest.shard, part.name()) {
            return Err(Error::Usage(format!(
                "{} and {other} are both shard {}/{shards}",
                part.name(),
                manifest.shard
            )));
        }
    }
    // Within the first seen.len() + 1 shards, one is missing if any is.
    if let Some(missing) = (0..shards).find(|i| !seen.contains_key(i)) {
        return Err(Error::Usage(format!(
            "the result of shard {missing}/{shards} is missing: each shard counts its own rows, \
             so merge needs the result of every shard"
        )));
    }
    Ok(found.into_iter().map(|(_, beside, _)| beside).collect())
}

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
