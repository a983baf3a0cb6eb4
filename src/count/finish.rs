//! Stage 3 of a count: the verdict, the totals decoded into groups,
//! result.csv written, the summary made, and every output committed
//! together.

use std::time::Instant;

use super::identity::count_of_shard;
use super::open::Opened;
use super::outputs::Outputs;
use super::scanning::Scanned;
use super::summary::{self, Summary, Timings};
use super::{verdict, BookedRows, CountOptions};
use crate::date::DateDict;
use crate::error::Result;
use crate::figures::GpuFigures;
use crate::format::{ShardManifest, ShardRows};
use crate::input::Plan;
use crate::output::{Counts, Destination, Groups, RejectsWriter};
use crate::regions::{KeySpace, RegionTable};
use crate::state::Resumed;

/// What the finish needs of the count besides what the stages hand it.
pub(super) struct Finish<'a> {
    pub(super) options: &'a CountOptions,
    pub(super) plan: &'a Plan,
    pub(super) regions: &'a RegionTable,
    pub(super) regions_fingerprint: &'a str,
    pub(super) keys: KeySpace,
    pub(super) dates: &'a DateDict,
    pub(super) started: Instant,
    /// Hand the counts back.
    pub(super) keep: bool,
}

/// Stage 3: judges the scan, adds a resumed state's totals (and writes the
/// new state), decodes the groups, writes result.csv, and commits every
/// output with the summary.
pub(super) fn finish(
    count: &Finish,
    resumed: Option<Resumed>,
    mut opened: Opened,
    scanned: Scanned,
) -> Result<(Option<Counts>, Summary)> {
    let Scanned {
        totals,
        tally,
        gpu,
        scan_done,
    } = scanned;
    // A file followed by the state is counted up to its last line when the
    // run started; what came since is the next run's.
    refuse_changed_files(count.plan, resumed.is_some())?;
    // A run that reads only what is new is, like a shard, part of a count:
    // new bytes without a countable row are no failure of the whole.
    let part =
        count.options.split.is_some() || resumed.as_ref().is_some_and(|r| r.bytes_skipped > 0);
    verdict::judge(&tally, count.options.thresholds, count.regions, part)?;
    let histogram_done = Instant::now();

    let mut totals = totals.into_totals()?;
    let mut state_bytes = None;
    if let Some(resumed) = resumed {
        state_bytes = Some((resumed.bytes_new, resumed.bytes_skipped));
        let rejects = opened.outputs.rejects.as_ref().map(RejectsWriter::written);
        let (all, encoded) =
            resumed.finish(totals, count.keys, count.dates, &tally.lines, rejects)?;
        totals = all;
        let state = opened.outputs.state.as_mut().expect("opened with --state");
        let written = state.writer().write_all(&encoded);
        state.check(written)?;
    }
    let date_texts = count.dates.dates();
    let groups = Groups::new(totals, count.keys, &date_texts, count.regions)?;
    let counts = count
        .keep
        .then(|| groups.counts(count.regions))
        .transpose()?;
    let rows = write_result(&groups, &mut opened.outputs, opened.threads)?;
    let summary = Summary {
        groups: rows
            .or(counts.as_ref().map(Counts::len))
            // Nothing written and nothing kept: counted all the same.
            .unwrap_or_else(|| groups.len()),
        timings: Timings {
            setup: opened.setup_done - count.started,
            scan: scan_done - opened.setup_done,
            histogram: histogram_done - scan_done,
            output: Instant::now() - histogram_done,
        },
        state_bytes,
        ..summarize(
            count.options,
            count.plan,
            &opened,
            (tally, gpu),
            count.started,
        )
    };
    commit(
        count.options,
        count.plan,
        count.regions_fingerprint,
        opened.outputs,
        &summary,
    )?;
    Ok((counts, summary))
}

/// Writes result.csv where `outputs` has one (not yet in place); returns
/// its rows, or `None` when there is none or standard output closed early.
fn write_result(groups: &Groups, outputs: &mut Outputs, threads: usize) -> Result<Option<usize>> {
    let Some(result) = &mut outputs.result else {
        return Ok(None);
    };
    let written = if result.has_offsets() {
        let sizes = groups.sizes(threads);
        let file = result.at_offsets(sizes.file_len())?;
        groups.write_at(file, &sizes, threads)
    } else {
        groups.write(result.writer())
    };
    // A reader of standard output that stopped early (`| head`) is no
    // error, but the summary still says how many groups there were.
    result.check(written.map(Some))
}

/// The summary of a count, but for its groups, state and timings.
fn summarize(
    options: &CountOptions,
    plan: &Plan,
    opened: &Opened,
    (tally, gpu): (BookedRows, Option<GpuFigures>),
    started: Instant,
) -> Summary {
    Summary {
        stats: tally.stats,
        groups: 0,
        bytes: tally.bytes + opened.header_bytes,
        files: opened.sources.len(),
        elapsed: started.elapsed(),
        samples: tally.samples,
        unmatched_ids: tally.unmatched_ids,
        backend: opened.engine.kind(),
        regions: options.regions.name(),
        locations: plan
            .inputs
            .iter()
            .map(|i| i.object.name().to_string())
            .collect(),
        outputs: summary::Outputs {
            result: options.output.as_ref().map(Destination::name),
            rejects: options.rejects.as_ref().map(Destination::name),
            stats: options.stats_json.as_ref().map(Destination::name),
        },
        adapter: opened.engine.adapter(),
        threads: opened.threads,
        timings: Timings::default(),
        peak_memory: summary::peak_memory(),
        gpu,
        times: options.times.clone(),
        no_header: summary::NoHeader {
            locations: options.format.no_header,
            regions: options.region_format.no_header,
        },
        state_bytes: None,
    }
}

/// Stage 3's end: a shard's manifest and the stats written, then every
/// output put in place together.
fn commit(
    options: &CountOptions,
    plan: &Plan,
    regions_fingerprint: &str,
    mut outputs: Outputs,
    summary: &Summary,
) -> Result<()> {
    if let (Some(manifest), Some(split)) = (&mut outputs.manifest, options.split) {
        let text = ShardManifest {
            shard: split.index,
            shards: split.count,
            input_bytes: plan.listed_bytes,
            count: count_of_shard(options, plan, regions_fingerprint),
            rows: Some(ShardRows {
                counted: summary.stats.counted,
                malformed: summary.stats.malformed_total(),
                unmatched: summary.stats.unmatched,
            }),
        }
        .to_json();
        let written = manifest.writer().write_all(text.as_bytes());
        manifest.check(written)?;
    }
    if let Some(stats) = &mut outputs.stats {
        let written = stats.writer().write_all(summary.to_json().as_bytes());
        stats.check(written)?;
    }
    // A stop asked for while the outputs were written: none appears.
    options.cancel.check()?;
    outputs.commit(&options.cancel)
}

/// Fails if a local file's size or times are not what they were when the
/// plan opened it ([`Object::changed_since_open`]): rows appended, cut or
/// rewritten while it was read would be counted in part, without a word.
/// `following`: the state counts plain files only up to where they ended
/// at the start, so only compressed ones are checked.
fn refuse_changed_files(plan: &Plan, following: bool) -> Result<()> {
    for input in &plan.inputs {
        if following && input.compression.is_none() {
            continue;
        }
        if let Some(why) = input.object.changed_since_open() {
            return Err(input.object.read_error(std::io::Error::other(format!(
                "{why}: count a file once it is complete"
            ))));
        }
    }
    Ok(())
}
