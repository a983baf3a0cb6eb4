//! `event-counter generate`: synthetic location.csv files for tests and
//! benchmarks.

use std::path::PathBuf;

use clap::Args;

use event_counter::generate;
use event_counter::options::GenerateOptions;
use event_counter::Error;

use super::progress_bar::{as_progress, Bar};
use crate::Global;
use event_counter::options::parse_size;

/// Write a synthetic location.csv (and region.csv when DATA_DIR has none)
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  event-counter generate data/                    1 GiB of rows into data/location.csv
  event-counter generate --size 10G --seed 7 data/
  event-counter generate --size 64M --start 2020-01-01 --days 31 data/
  event-counter generate --size 64M --timestamps --time-zone Pacific/Auckland data/

The same arguments give the same bytes, whatever the number of threads.")]
pub struct GenerateArgs {
    /// Folder to write location.csv into; created if missing
    data_dir: PathBuf,

    /// Size of location.csv: bytes, or a number with K, M, G or T (powers of 1024).
    /// The file ends at the last row that fits
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    size: u64,

    /// Seed of the random rows
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// First date of the range, YYYY-MM-DD
    #[arg(long, default_value = "2019-01-01", value_name = "DATE")]
    start: String,

    /// Number of days in the date range
    #[arg(long, default_value_t = 365, value_name = "N")]
    days: u32,

    /// Draw region ids from this region.csv [default: DATA_DIR/region.csv, written from the
    /// shipped New Zealand districts if missing]
    #[arg(long, value_name = "PATH")]
    regions: Option<PathBuf>,

    /// Threads making rows, at most 1024 [default: all cores]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,

    /// Write event times (RFC 3339 with the offsets of --time-zone) instead of dates: the same
    /// rows, each at a time of its day, so that `count --time-zone ZONE` gives the date file's result
    #[arg(long)]
    timestamps: bool,

    /// The zone of --timestamps: an IANA name such as Pacific/Auckland, UTC, or an offset
    // allow_hyphen_values: a negative offset (-05:00) is a value.
    #[arg(long, value_name = "ZONE", default_value = "UTC", requires = "timestamps",
          value_parser = event_counter::options::Zone::named, allow_hyphen_values = true)]
    time_zone: event_counter::options::Zone,

    /// Replace DATA_DIR/location.csv if it exists (else generate refuses to)
    #[arg(long)]
    force: bool,

    /// Rows per block (for tests: many tiny blocks make threads race)
    #[arg(long, hide = true, default_value_t = event_counter::options::ROWS_PER_BLOCK)]
    block_rows: u64,
}

pub fn run(args: GenerateArgs, global: Global) -> Result<(), Error> {
    let options = GenerateOptions {
        dir: args.data_dir,
        size: args.size,
        seed: args.seed,
        start: args.start,
        days: args.days,
        regions: args.regions,
        threads: args
            .threads
            .map(|t| t as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        block_rows: args.block_rows,
        replace: args.force,
        timestamps: args.timestamps.then_some(args.time_zone),
        cancel: super::signals::token().clone(),
    };
    let bar = Bar::new(global, "written");
    let generated = generate(&options, as_progress(&bar));
    if let Some(bar) = &bar {
        bar.clear();
    }
    let generated = generated.map_err(|e| match e {
        Error::Exists(path) => Error::Usage(format!(
            "{}: exists already; generate never replaces data unless given --force",
            path.display()
        )),
        e => e,
    })?;
    if !global.quiet {
        let seconds = generated.elapsed.as_secs_f64();
        if generated.wrote_regions {
            eprintln!(
                "event-counter: wrote {} (the New Zealand districts)",
                generated.path.with_file_name("region.csv").display()
            );
        }
        eprintln!(
            "event-counter: wrote {} rows, {} bytes, to {} in {seconds:.2} s ({:.2} GB/s)",
            generated.rows,
            generated.bytes,
            generated.path.display(),
            generated.bytes as f64 / seconds.max(1e-9) / 1e9
        );
    }
    Ok(())
}
