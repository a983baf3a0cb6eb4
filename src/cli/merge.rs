//! `event-counter merge`: one result.csv from the results of many shards.

use std::path::PathBuf;

use clap::Args;

use event_counter::merge;
use event_counter::options::InputSpec;
use event_counter::Error;

use super::counted;
use crate::Global;

/// Add up the results of shards (count --split) into one sorted result.csv, or join their rejects
#[derive(Args, Debug)]
#[command(after_help = "\
Result files are added up. The --rejects files of shards number their rows
from each shard's start; merged, every row has its line in the file (this
needs the rejects of every shard of the split).

Examples:
  event-counter merge -o result.csv part-0.csv part-1.csv part-2.csv
  event-counter merge -d -o result.csv parts/*.csv     delete the parts afterwards
  event-counter merge -o rejects.csv rejects-*.csv     the shards' rejects, with file lines
  event-counter merge -o - part-*.csv | head")]
pub struct MergeArgs {
    /// Result files, or the rejects files of every shard (or s3:// URLs), in any order
    #[arg(required = true, value_name = "PART")]
    parts: Vec<PathBuf>,

    /// Where to write the merged result: a path, an s3:// URL, or - for standard output
    #[arg(short, long, value_name = "PATH")]
    output: PathBuf,

    /// Delete the parts once the merged result is written
    #[arg(short, long)]
    delete: bool,
}

pub fn run(args: MergeArgs, global: Global) -> Result<(), Error> {
    let parts: Vec<InputSpec> = args.parts.iter().map(|p| InputSpec::from_path(p)).collect();
    let merged = merge(&parts, &super::destination(args.output)?, args.delete)?;
    if !global.quiet {
        let deleted = if args.delete {
            format!(
                ", deleted {}",
                counted(merged.deleted as u64, "part", "parts")
            )
        } else {
            String::new()
        };
        if merged.rejects {
            eprintln!(
                "event-counter: merged the rejects of {}: {}{deleted}",
                counted(merged.parts as u64, "shard", "shards"),
                counted(merged.rows_out as u64, "row", "rows")
            );
        } else {
            eprintln!(
                "event-counter: merged {} of {} into {}{deleted}",
                counted(merged.rows_in as u64, "row", "rows"),
                counted(merged.parts as u64, "part", "parts"),
                counted(merged.rows_out as u64, "group", "groups")
            );
        }
    }
    Ok(())
}
