//! Adding up result files: every (region, date) summed over the parts,
//! written sorted as count writes result.csv.

use std::collections::HashMap;

use crate::date::DateText;
use crate::error::{Error, Result};
use crate::count::nothing_counted;
use crate::format::{ShardManifest, ShardRows, RESULT_FILE};
use crate::input::{self, InputSpec};
use crate::output::{self, Destination, PendingOutput, Placed, ResultRow, ResultTable};
use crate::result_reader::parse_results;
use crate::s3;

/// The shard manifests beside `parts` ([`ShardManifest`]), checked: when
/// any part has one, every part must, all of one count (the same inputs,
/// region.csv and options), each shard once and none missing. Returns
/// where they are, for `merge -d` to delete.
pub(super) fn check_shards(parts: &[InputSpec]) -> Result<Vec<InputSpec>> {
    let mut found = Vec::new();
    for part in parts {
        let beside = match part {
            InputSpec::Local(path) => {
                match output::manifest_beside(&Destination::File(path.clone())) {
                    Some(Destination::File(manifest)) => InputSpec::Local(manifest),
                    // A device or a pipe: no manifest can be beside it.
                    _ => continue,
                }
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
    let Some((first_part, _, first)) = found.first() else {
        return Ok(Vec::new());
    };
    let shards = first.shards;
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
        if let Some(difference) = first.difference(manifest) {
            return Err(Error::Usage(format!(
                "{} (shard {}/{}) and {} (shard {}/{}): they are parts of different counts \
                 ({difference})",
                first_part.name(),
                first.shard,
                first.shards,
                part.name(),
                manifest.shard,
                manifest.shards,
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
    judge_whole_count(found.iter().map(|(_, _, manifest)| manifest))?;
    Ok(found.into_iter().map(|(_, beside, _)| beside).collect())
}

/// Fails a merge of shards that, together, counted none of their data
/// rows, as the count itself would have failed ([`nothing_counted`]): each
/// shard succeeds alone, since one part may well hold no row to count, so
/// every row malformed (epoch numbers without `--epoch`, say) merged into
/// an empty result with exit 0. Manifests of older versions, without
/// their rows, are not judged.
fn judge_whole_count<'a>(manifests: impl Iterator<Item = &'a ShardManifest>) -> Result<()> {
    let mut totals = ShardRows::default();
    let mut options = None;
    for manifest in manifests {
        let Some(rows) = manifest.rows else {
            return Ok(());
        };
        totals.counted += rows.counted;
        totals.malformed += rows.malformed;
        totals.unmatched += rows.unmatched;
        options = Some(&manifest.count.options);
    }
    let Some(options) = options else {
        return Ok(());
    };
    // As the count's identity keeps them: "None" where not given.
    let given = |name: &str| options.iter().any(|(n, value)| n == name && value != "None");
    match nothing_counted(
        totals.counted,
        totals.malformed,
        totals.unmatched,
        [given("max_bad"), given("max_unmatched")],
    ) {
        Some(why) => Err(Error::TooManyBad(format!(
            "the shards together: {why}; count a shard alone, or with --rejects, to see why its \
             rows were not counted"
        ))),
        None => Ok(()),
    }
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
    pending.prepare()?;
    // The merged result is no shard: a manifest beside its path (the
    // output was a shard, or had been) goes with the commit.
    let stale = output::manifest_beside(output);
    let mut steps: Vec<Box<dyn FnOnce() -> Result<Placed>>> = Vec::new();
    if let Some(stale) = &stale {
        steps.push(Box::new(|| output::take_away_stale(stale)));
    }
    steps.push(Box::new(|| pending.put_in_place()));
    // Not stopped by a token: the command line's signal thread keeps a
    // commit from starting (`stop_commits`), and Python's merge waits.
    output::place_together(&crate::cancel::CancelToken::new(), steps)?;
    if let Some(stale) = &stale {
        output::delete_stale_object(stale)?;
    }

    Ok((rows_in, table.len() as u64))
}
