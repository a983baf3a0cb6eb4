//! `merge`: one file from the outputs of `count --split I/N` shards, as the
//! original's final step merged its Spark partitions.
//!
//! - result files are added up into one sorted result.csv (`add_results.rs`);
//! - shards' rejects files are joined into one rejects file whose lines
//!   are file lines (`rejects.rs`): a shard numbers its rows from its own
//!   start, and only the line counts of every shard before it say where
//!   that is in the file.
//!
//! Which it is comes from the parts' headers, so the same command merges
//! either, and a part of the other kind is refused by name.

mod add_results;
mod rejects;

use std::collections::HashMap;

use crate::csv::find_column;
use crate::error::{Error, Result};
use crate::format;
use crate::input::Identity;
use crate::input::{self, InputSpec};
use crate::output::Destination;
use crate::s3;

/// What a merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Parts read.
    pub parts: usize,
    /// Whether the parts were rejects files (else result files).
    pub rejects: bool,
    /// Rows read from all parts (of a shard's rejects: rejected rows).
    pub rows_in: u64,
    /// Rows written: groups, or rejected rows.
    pub rows_out: u64,
    /// Parts deleted (with `delete`).
    pub deleted: usize,
}

/// What a part is, by its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Results,
    ShardRejects,
}

/// Merges `parts` into `output`; with `delete`, removes the parts once the
/// output is safely written (never the output itself, if it was a part).
pub fn merge(parts: &[InputSpec], output: &Destination, delete: bool) -> Result<Merged> {
    // Before any part is read: `-o p0.csv/` must not become `p0.csv`.
    if let Destination::File(path) = output {
        crate::output::check_file_path(path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    // A part named twice would be added twice (and, with `delete`, deleted
    // before its second reading).
    // Taken before the output is written: it may be one of the parts.
    let identities: Vec<Identity> = parts.iter().map(InputSpec::identity).collect();
    let mut seen = HashMap::with_capacity(parts.len());
    for (part, identity) in parts.iter().zip(&identities) {
        if let Some(other) = seen.insert(identity, part) {
            return Err(Error::Usage(format!(
                "{}: named twice (also as {}); each part is added once, so name it once",
                part.name(),
                other.name()
            )));
        }
    }
    // Standard output is never a part.
    let output_identity = (*output != Destination::Stdout).then(|| output.identity());
    let kinds = parts.iter().map(kind_of).collect::<Result<Vec<_>>>()?;
    if let Some(i) = kinds.iter().position(|&kind| kind != kinds[0]) {
        let what = |kind| match kind {
            Kind::Results => "a result file",
            Kind::ShardRejects => "a shard's rejects file",
        };
        return Err(Error::Usage(format!(
            "{} is {}, but {} is {}: merge results and rejects separately",
            parts[0].name(),
            what(kinds[0]),
            parts[i].name(),
            what(kinds[i])
        )));
    }
    let mut manifests = Vec::new();
    let (rows_in, rows_out) = match kinds.first() {
        Some(Kind::ShardRejects) => rejects::join(parts, output)?,
        _ => {
            manifests = add_results::check_shards(parts)?;
            add_results::add_up(parts, output)?
        }
    };

    let mut deleted = 0;
    if delete {
        for (part, identity) in parts.iter().zip(&identities) {
            if output_identity.as_ref() == Some(identity) {
                continue;
            }
            remove(part)?;
            deleted += 1;
        }
        for manifest in &manifests {
            match remove(manifest) {
                // The output's own went with its commit.
                Err(Error::Write { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                done => done?,
            }
        }
    }
    Ok(Merged {
        parts: parts.len(),
        rejects: kinds.first() == Some(&Kind::ShardRejects),
        rows_in,
        rows_out,
        deleted,
    })
}

/// Deletes a part (or its manifest).
fn remove(part: &InputSpec) -> Result<()> {
    match part {
        InputSpec::Local(path) => std::fs::remove_file(path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        }),
        InputSpec::S3(url) => s3::delete(url),
    }
}

/// Reads a part's header to tell what it is. A plain rejects file (of an
/// unsharded count) has exact lines already: there is nothing to merge.
fn kind_of(part: &InputSpec) -> Result<Kind> {
    let name = part.name();
    let data_error = |reason: String| Error::Data {
        file: name.clone(),
        line: 1,
        reason,
    };
    let mut reader = input::open_stream(part)?;
    let start = input::read_header(&mut reader, &name, format::RESULT_FILE.header, |source| {
        Error::Read {
            path: name.clone().into(),
            source,
        }
    })?;
    let names = format::header_names(&start.header).map_err(data_error)?;
    let has = |column| find_column(&names, column).is_ok();
    if has("shard") && has("part_lines") {
        Ok(Kind::ShardRejects)
    } else if has("source") && has("line") && has("reason") {
        Err(Error::Usage(format!(
            "{name}: the rejects of an unsharded count, whose lines are file lines already; \
             merge adds up result files and joins the rejects of shards"
        )))
    } else {
        // Checked as a result file, with that file's messages.
        Ok(Kind::Results)
    }
}
