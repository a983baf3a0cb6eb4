//! What a count is a count of: the options that change how rows are read
//! (a `--state` kept with other values cannot be added to), and what a
//! shard's manifest says its count is.

use super::CountOptions;
use crate::format::CountOfShard;
use crate::input::{self, Plan};

/// What a shard of this count is a part of, for its manifest: the same for
/// every shard of one count, and different for shards of another.
pub(super) fn count_of_shard(options: &CountOptions, plan: &Plan, regions: &str) -> CountOfShard {
    let inputs = plan
        .listed
        .iter()
        .map(|object| {
            // A local file by where it is, however the shard spelled it.
            let name = match object.path() {
                Some(path) => input::follow_links(path).0.display().to_string(),
                None => object.name().to_string(),
            };
            (name, object.len())
        })
        .collect();
    // Shards counted under another policy are not parts of one count
    // either: one of them might have failed where another did not.
    let thresholds = &options.thresholds;
    let mut policy = vec![
        ("strict".into(), options.strict.to_string()),
        ("max_bad".into(), format!("{:?}", thresholds.malformed)),
        (
            "max_unmatched".into(),
            format!("{:?}", thresholds.unmatched),
        ),
    ];
    policy.extend(reading_options(options));
    CountOfShard::new(inputs, regions.to_string(), policy)
}

/// The options that change how rows are read, and so what a count of the
/// same inputs gives, as (name, value) pairs: shards read with other
/// values are not parts of one count, and a `--state` kept with other
/// values cannot be added to.
pub(super) fn reading_options(options: &CountOptions) -> Vec<(String, String)> {
    vec![
        ("time_zone".into(), options.times.zone.name().to_string()),
        ("epoch".into(), format!("{:?}", options.times.epoch)),
        (
            "delimiter".into(),
            format!("{:?}", options.format.delimiter),
        ),
        (
            "columns".into(),
            format!("{:?}", (&options.format.region_id, &options.format.date)),
        ),
        (
            "region_columns".into(),
            // Its columns alone: the header rule is the next pair.
            format!(
                "RegionFormat {{ region_id: {:?}, region_name: {:?} }}",
                options.region_format.region_id, options.region_format.region_name
            ),
        ),
        ("no_header".into(), options.format.no_header.to_string()),
        (
            "regions_no_header".into(),
            options.region_format.no_header.to_string(),
        ),
    ]
}
