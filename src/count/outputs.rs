//! The outputs of a count: result, rejects and stats. They are checked and
//! opened before the first row is read, so a bad path fails in a second
//! rather than after an hour's scan; none may be an input or another
//! output; and they are committed together, once all are written.

use std::path::Path;

use super::CountOptions;
use crate::error::{Error, Result};
use crate::input::same_file;
use crate::input::{InputSpec, Plan};
use crate::output::{Destination, PendingOutput, RejectsWriter};

/// The opened outputs of one count.
pub(super) struct Outputs {
    pub(super) result: PendingOutput,
    pub(super) rejects: Option<RejectsWriter>,
    pub(super) stats: Option<PendingOutput>,
}

impl Outputs {
    /// Checks the outputs of `options` against each other and against the
    /// inputs (region.csv and every file of `plan`), then opens them.
    pub(super) fn open(options: &CountOptions, plan: &Plan) -> Result<Outputs> {
        let mut outputs = vec![("result", options.output.clone())];
        if let Some(rejects) = &options.rejects {
            outputs.push(("rejects", rejects.clone()));
        }
        if let Some(stats) = &options.stats_json {
            outputs.push(("stats", stats.clone()));
        }
        let mut inputs: Vec<Destination> = plan
            .inputs
            .iter()
            .map(|input| match input.object.path() {
                Some(path) => Destination::File(path.to_path_buf()),
                None => Destination::S3(input.object.name().to_string()),
            })
            .collect();
        inputs.push(match &options.regions {
            InputSpec::Local(path) => Destination::File(path.clone()),
            InputSpec::S3(url) => Destination::S3(url.clone()),
        });
        for (i, (role, output)) in outputs.iter().enumerate() {
            if let Some(input) = inputs.iter().find(|input| same_target(output, input)) {
                return Err(Error::Usage(format!(
                    "{}: the {role} would overwrite {}, an input of this count",
                    output.name(),
                    input.name()
                )));
            }
            for (other_role, other) in &outputs[..i] {
                if same_target(output, other) && !is_device(output) {
                    return Err(Error::Usage(format!(
                        "{}: the {other_role} and the {role} cannot go to the same place",
                        output.name()
                    )));
                }
            }
        }
        Ok(Outputs {
            result: PendingOutput::create(&options.output)?,
            rejects: options
                .rejects
                .as_ref()
                .map(|rejects| RejectsWriter::create(rejects, options.split))
                .transpose()?,
            stats: options
                .stats_json
                .as_ref()
                .map(PendingOutput::create)
                .transpose()?,
        })
    }

    /// Makes every output appear, once all are written: every file is on
    /// disk before the first is renamed into place, and uploads (which can
    /// still fail on their own) complete before any rename.
    pub(super) fn commit(self) -> Result<()> {
        let mut all: Vec<PendingOutput> = [
            Some(self.result),
            self.rejects.map(RejectsWriter::finish).transpose()?,
            self.stats,
        ]
        .into_iter()
        .flatten()
        .collect();
        for output in &mut all {
            output.prepare()?;
        }
        all.sort_by_key(|output| !output.is_remote());
        for output in all {
            output.commit()?;
        }
        Ok(())
    }
}

/// Whether two destinations are the same file, object or stream.
fn same_target(a: &Destination, b: &Destination) -> bool {
    match (a, b) {
        (Destination::File(a), Destination::File(b)) => same_file(a, b),
        (Destination::S3(a), Destination::S3(b)) => a == b,
        (Destination::Stdout, Destination::Stdout) => true,
        _ => false,
    }
}

/// An existing file that is not a regular one (`/dev/null`): written in
/// place, so two outputs may share it.
fn is_device(destination: &Destination) -> bool {
    match destination {
        Destination::File(path) => is_special(path),
        _ => false,
    }
}

fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}
