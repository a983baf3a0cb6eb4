//! The outputs of a count: result, rejects and stats. They are checked and
//! opened before the first row is read, so a bad path fails in a second
//! rather than after an hour's scan; none may be an input or another
//! output; and they are committed together, once all are written.

use std::collections::HashMap;
use std::path::Path;

use super::CountOptions;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::input::{Identity, Plan};
use crate::output::{self, Destination, PendingOutput, Placed, RejectsWriter};
use crate::state::Resumed;

/// The opened outputs of one count.
pub(super) struct Outputs {
    /// None when the counts are only handed back.
    pub(super) result: Option<PendingOutput>,
    pub(super) rejects: Option<RejectsWriter>,
    pub(super) stats: Option<PendingOutput>,
    /// A shard's result says which shard it is, for `merge` (see
    /// [`crate::format::ShardManifest`]); none for standard output.
    pub(super) manifest: Option<PendingOutput>,
    /// An unsharded result takes away the manifest of a shard that an
    /// older result at its path had, so that `merge` cannot take the new
    /// result for that shard.
    stale_manifest: Option<Destination>,
    /// The new `--state`, committed last: whatever happens to the others,
    /// the state on disk then still describes a result that a run from it
    /// writes again.
    pub(super) state: Option<PendingOutput>,
}

impl Outputs {
    /// Checks the outputs of `options` against each other and against the
    /// inputs (region.csv and every file of `plan`), then opens them.
    /// `resumed`: the `--state` this run goes on from.
    pub(super) fn open(
        options: &CountOptions,
        plan: &Plan,
        resumed: Option<&Resumed>,
    ) -> Result<Outputs> {
        check_file_paths(options)?;
        // A shard's result in a file (not a device or a pipe) or an object.
        let beside = options.output.as_ref().and_then(output::manifest_beside);
        let (manifest, stale_manifest) = match options.split {
            Some(_) => (beside, None),
            None => (None, beside),
        };
        let mut outputs: Vec<(&str, Destination)> = options
            .output
            .iter()
            .map(|result| ("result", result.clone()))
            .collect();
        if let Some(manifest) = &manifest {
            outputs.push(("shard manifest", manifest.clone()));
        }
        if let Some(rejects) = &options.rejects {
            outputs.push(("rejects", rejects.clone()));
        }
        if let Some(stats) = &options.stats_json {
            outputs.push(("stats", stats.clone()));
        }
        let state = options
            .state
            .as_ref()
            .map(|state| Destination::from_arg(state.path.clone()));
        if let Some(state) = &state {
            outputs.push(("state", state.clone()));
        }
        refuse_clashes(options, plan, &outputs)?;
        Ok(Outputs {
            result: options
                .output
                .as_ref()
                .map(PendingOutput::create)
                .transpose()?,
            rejects: options
                .rejects
                .as_ref()
                .map(|rejects| {
                    RejectsWriter::create(rejects, options.split, !options.format.no_header)
                })
                .transpose()?,
            stats: options
                .stats_json
                .as_ref()
                .map(PendingOutput::create)
                .transpose()?,
            manifest: manifest.as_ref().map(PendingOutput::create).transpose()?,
            stale_manifest,
            state: resumed.map(Resumed::output).transpose()?,
        })
    }

    /// Makes every output appear, once all are written: every file is on
    /// disk before the first is renamed into place, and uploads (which can
    /// still fail on their own) complete before any rename.
    /// A stop asked for on `cancel` before the first is put in place
    /// puts none.
    pub(super) fn commit(self, cancel: &CancelToken) -> Result<()> {
        let mut all: Vec<PendingOutput> = [
            self.result,
            self.rejects.map(RejectsWriter::finish).transpose()?,
            self.stats,
            self.manifest,
            self.state,
        ]
        .into_iter()
        .flatten()
        .collect();
        for output in &mut all {
            output.prepare()?;
        }
        // Local files first: each can be put back. Uploads last: a
        // completed one cannot be undone, and one that fails puts every
        // file back as it was.
        all.sort_by_key(PendingOutput::is_remote);
        let stale = self.stale_manifest;
        let mut steps: Vec<Box<dyn FnOnce() -> Result<Placed>>> = Vec::new();
        if let Some(stale) = &stale {
            steps.push(Box::new(|| output::take_away_stale(stale)));
        }
        for output in all {
            steps.push(Box::new(|| output.put_in_place()));
        }
        output::place_together(cancel, steps)?;
        match &stale {
            Some(stale) => output::delete_stale_object(stale),
            None => Ok(()),
        }
    }
}

/// Checks every local output's path before anything is resolved:
/// `loc.csv/` must not become `loc.csv`.
fn check_file_paths(options: &CountOptions) -> Result<()> {
    for output in [
        options.output.as_ref(),
        options.rejects.as_ref(),
        options.stats_json.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if let Destination::File(path) = output {
            output::check_file_path(path).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Fails when an output (`outputs`: each with its role) would overwrite an
/// input of the count, or two outputs would go to the same place.
fn refuse_clashes(
    options: &CountOptions,
    plan: &Plan,
    outputs: &[(&str, Destination)],
) -> Result<()> {
    let mut inputs: HashMap<Identity, String> = plan
        .inputs
        .iter()
        .map(|input| {
            let identity = Identity::of_object(input.object.as_ref());
            (identity, input.object.name().to_string())
        })
        .collect();
    inputs.insert(options.regions.identity(), options.regions.name());
    let null = Identity::of_path(Path::new("/dev/null"));
    let mut taken: Vec<(Identity, &str)> = Vec::new();
    for (role, output) in outputs {
        let identity = output.identity();
        if let Some(input) = inputs.get(&identity) {
            return Err(Error::Usage(format!(
                "{}: the {role} would overwrite {input}, an input of this count",
                output.name(),
            )));
        }
        // Only /dev/null may take two outputs: anything else (standard
        // output however it is named, a pipe, a file) would mix them.
        if let Some((_, other_role)) = taken.iter().find(|(other, _)| *other == identity) {
            if identity != null {
                return Err(Error::Usage(format!(
                    "{}: the {other_role} and the {role} cannot go to the same place",
                    output.name()
                )));
            }
        }
        taken.push((identity, role));
    }
    Ok(())
}
