//! `event-counter count`: its flags, turned into [`CountOptions`], and the
//! end-of-run summary on stderr (the library writes `--stats-json`).

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::Args;

use event_counter::options::{
    self, Destination, Epoch, EventTimes, FoldInterval, InputSpec, LocationFormat, RegionFormat,
    Split, StateOptions, Threshold, Thresholds, Zone,
};
use event_counter::summary::MalformedKind;
use event_counter::{count, CountOptions, Engine, Error, Summary};
use event_counter::{Backend, Reason};

use super::progress_bar::{as_progress, Bar};
use super::{counted, usage_error};
use crate::Global;

/// Where to count, as `--backend` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// gpu on a hardware GPU for input large enough to pay for its start-up, else cpu
    Auto,
    /// Every CPU core parses and counts
    Cpu,
    /// The GPU parses the file's bytes and counts the rows; the CPU reads the files into its
    /// memory, and parses compressed, S3 and piped input and the rows the GPU hands back
    Gpu,
    /// CPU cores parse rows into keys, the GPU counts the keys (the original design)
    GpuKeys,
}

impl BackendArg {
    fn backend(self) -> Backend {
        match self {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Cpu => Backend::Cpu,
            BackendArg::Gpu => Backend::Gpu,
            BackendArg::GpuKeys => Backend::GpuKeys,
        }
    }
}

/// What a bare number in the date column is, as `--epoch` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EpochArg {
    /// Seconds since 1970-01-01T00:00:00Z
    S,
    /// Milliseconds since 1970-01-01T00:00:00Z
    Ms,
}

/// Count rows of location.csv per region name and date into result.csv
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  event-counter count data/                  writes data/result.csv
  event-counter count data/ -o - --backend cpu
  event-counter count --regions r.csv --locations big.csv -o counts.csv
  event-counter count data/ --strict          stop at the first malformed row
  event-counter count data/ --max-bad 0.1%    fail if more than 0.1% of the rows are malformed
  event-counter count data/ --rejects bad.csv keep every row not counted
  event-counter count data/ --stats-json stats.json
  event-counter count data/ --time-zone Pacific/Auckland   event times counted by their NZ day
  event-counter count --regions r.csv --locations 2019/ 2020/*.csv.gz -o counts.csv
  event-counter count --regions s3://b/region.csv --locations s3://b/events/ --split 3/8 -o s3://b/parts/3.csv")]
pub struct CountArgs {
    /// Folder holding region.csv and location.csv; result.csv is written there
    data_dir: Option<PathBuf>,

    /// region.csv to use instead of DATA_DIR/region.csv (a path or an s3:// URL)
    #[arg(long, value_name = "PATH")]
    regions: Option<PathBuf>,

    /// Location files to count instead of DATA_DIR/location.csv: files, folders (their
    /// *.csv, *.csv.gz, *.csv.zst), globs, s3://bucket/key or s3://bucket/prefix/
    #[arg(long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    locations: Vec<PathBuf>,

    /// Count only shard I of N (0-based): the rows whose preceding newline is in the I-th of
    /// N equal byte ranges of the inputs. Merge the shards' results (and rejects) with
    /// `event-counter merge`
    #[arg(long, value_name = "I/N")]
    split: Option<Split>,

    /// Where to write the result: a path, an s3:// URL, or - for standard output
    /// [default: DATA_DIR/result.csv]
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,

    /// Where to count: auto takes the gpu backend on a hardware GPU for input large
    /// enough to pay for its start-up, else the cpu one
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,

    /// Scanning threads, at most 1024 [default: all cores]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=options::MAX_THREADS as i64))]
    threads: Option<u32>,

    /// Stop with exit code 65 at the first malformed row, writing no result
    #[arg(long)]
    strict: bool,

    /// Fail (exit 65, nothing written) when more rows than this are malformed: a number of
    /// rows, or a share of the data rows such as 0.1% [default: no limit, but a run that counts
    /// none of its data rows fails]
    #[arg(long, value_name = "N|P%")]
    max_bad: Option<Threshold>,

    /// Fail (exit 65, nothing written) when more rows than this have a region_id that is not
    /// in region.csv: a number of rows, or a share such as 5% [default: no limit]
    #[arg(long, value_name = "N|P%")]
    max_unmatched: Option<Threshold>,

    /// Write every malformed and unmatched row to PATH (a path or an s3:// URL) as CSV; a shard's numbers its rows from the shard's start, for merge; with --state, a local file that keeps the rows of the runs before
    #[arg(long, value_name = "PATH")]
    rejects: Option<PathBuf>,

    /// Write the end-of-run summary to PATH as JSON (fields in the README)
    #[arg(long, value_name = "PATH")]
    stats_json: Option<PathBuf>,

    /// The time zone whose calendar decides the day of an event time with an offset (or an
    /// epoch number): an IANA name such as Pacific/Auckland, UTC, or an offset such as +13:00.
    /// Dates and local times without an offset count on their own date
    // A negative offset (-05:00) starts with a hyphen: taken as the value,
    // not as an option.
    #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = parse_zone,
          allow_hyphen_values = true)]
    time_zone: Zone,

    /// Read a bare number in the date column as epoch seconds (s) or milliseconds (ms)
    /// [default: a number is a malformed date]
    #[arg(long, value_enum, value_name = "s|ms")]
    epoch: Option<EpochArg>,

    /// The byte between the fields of the location files: , ; | tab or another single
    /// character [default: sniffed from each file's header among , ; tab |, as
    /// region.csv's always is]
    #[arg(long, value_name = "CHAR", value_parser = options::parse_delimiter)]
    delimiter: Option<u8>,

    /// The columns of the location files to count, when not named region_id and date:
    /// region_id=NAME,date=NAME, a NAME being a header's name (case and surrounding
    /// spaces ignored) or a 1-based position
    #[arg(long, value_name = "region_id=NAME,date=NAME", value_parser = LocationFormat::from_columns)]
    columns: Option<LocationFormat>,

    /// The columns of region.csv, when not named region_id and region_name:
    /// region_id=NAME,region_name=NAME, a NAME being a header's name or a 1-based position
    #[arg(long, value_name = "region_id=NAME,region_name=NAME", value_parser = RegionFormat::from_columns)]
    region_columns: Option<RegionFormat>,

    /// The location files have no header row: their first line is a row (line 1), and
    /// --columns must give region_id and date as 1-based positions; the delimiter is sniffed
    /// from the first row unless --delimiter gives it
    #[arg(long)]
    no_header: bool,

    /// region.csv has no header row: its first line is a region (line 1), and
    /// --region-columns must give region_id and region_name as 1-based positions
    #[arg(long)]
    regions_no_header: bool,

    /// Bytes per chunk (for tuning and tests)
    #[arg(long, hide = true, value_name = "BYTES")]
    chunk_size: Option<usize>,

    /// Map local files into memory instead of reading them with pread (for tuning)
    #[arg(long, hide = true)]
    mmap: bool,

    /// Fold 32-bit bins into 64-bit totals every N keys (for tests)
    #[arg(long, hide = true, value_name = "N")]
    flush_every: Option<u64>,

    // `--state` (issue 31): count only what is new since the last run.
    /// Count only the bytes added since the run that wrote this state file, and write the new
    /// state with the result: a growing log is recounted in the time its new bytes take, with
    /// the result of a full count, and --rejects with a full count's rows and line numbers. A
    /// local file or an s3:// URL (see the README's "Counting a growing log")
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,

    /// With --state: ignore the state's counts and count every input from scratch (a new
    /// region.csv, a damaged state)
    #[arg(long, requires = "state")]
    recount: bool,

    /// With --state: when an input the state knows is no longer listed, count from scratch
    /// without it [default: its counts stay, with a warning]
    #[arg(long, requires = "state")]
    forget_missing: bool,
}

pub fn run(mut args: CountArgs, global: Global) -> Result<(), Error> {
    let (regions, locations, output) = paths(&mut args)?;
    let backend = args.backend;
    let options = count_options(args, regions, locations, output)?;
    let engine = select(backend)?;
    let bar = Bar::new(global, "counted");
    let summary = count(&options, &engine, as_progress(&bar));
    if let Some(bar) = &bar {
        bar.clear();
    }
    let summary = summary?;
    if !global.quiet {
        eprint!("{}", render_summary(&summary));
        print_destinations(&options);
    }
    Ok(())
}

/// region.csv, the location files and the result's path, from DATA_DIR
/// or the flags; a usage error when they do not add up.
fn paths(args: &mut CountArgs) -> Result<(PathBuf, Vec<PathBuf>, PathBuf), Error> {
    // `count --locations s/location.csv s`: clap takes `s` as one more
    // location, but a folder that holds region.csv, last after
    // --locations, with no --regions, is the DATA_DIR the user meant.
    if args.data_dir.is_none() && args.regions.is_none() && args.locations.len() > 1 {
        let last = args.locations.last().expect("more than one");
        if last.is_dir() && last.join("region.csv").is_file() {
            args.data_dir = args.locations.pop();
        }
    }
    if let Some(dir) = &args.data_dir {
        check_data_dir(dir)?;
    }
    let in_dir = |name: &str| args.data_dir.as_ref().map(|dir| dir.join(name));
    let regions = args.regions.clone().or_else(|| in_dir("region.csv"));
    let locations = match &args.data_dir {
        Some(dir) if args.locations.is_empty() => vec![data_dir_locations(dir)?],
        _ => args.locations.clone(),
    };
    if regions.as_deref() == Some(std::path::Path::new("-"))
        && locations.iter().any(|l| l.as_os_str() == "-")
    {
        usage_error(
            ErrorKind::ArgumentConflict,
            "standard input (-) is named by both --regions and --locations; it can be read once",
        );
    }
    let output = args.output.clone().or_else(|| in_dir("result.csv"));
    let (Some(regions), false) = (regions, locations.is_empty()) else {
        usage_error(
            ErrorKind::MissingRequiredArgument,
            "give DATA_DIR, or both --regions and --locations",
        );
    };
    let Some(output) = output else {
        usage_error(
            ErrorKind::MissingRequiredArgument,
            "without DATA_DIR, say where the result goes with -o PATH (- for stdout)",
        );
    };

    Ok((regions, locations, output))
}

/// The count's options, from the flags and the paths [`paths`] found.
fn count_options(
    args: CountArgs,
    regions: PathBuf,
    locations: Vec<PathBuf>,
    output: PathBuf,
) -> Result<CountOptions, Error> {
    let locations = locations.iter().map(|p| InputSpec::from_path(p)).collect();
    let mut options = CountOptions::new(
        InputSpec::from_path(&regions),
        locations,
        super::destination(output)?,
    );
    options.cancel = super::signals::token().clone();
    options.split = args.split;
    options.strict = args.strict;
    options.thresholds = Thresholds {
        malformed: args.max_bad,
        unmatched: args.max_unmatched,
    };
    options.rejects = args.rejects.map(super::destination).transpose()?;
    options.stats_json = args.stats_json.map(super::destination).transpose()?;
    if let Some(threads) = args.threads {
        options.threads = threads as usize;
    }
    if let Some(size) = args.chunk_size {
        options.chunk_size = size;
    }
    options.map_files = args.mmap;
    options.format = LocationFormat {
        delimiter: args.delimiter,
        no_header: args.no_header,
        ..args.columns.unwrap_or_default()
    };
    options.region_format = RegionFormat {
        no_header: args.regions_no_header,
        ..args.region_columns.unwrap_or_default()
    };
    options.times = EventTimes {
        zone: args.time_zone,
        epoch: args.epoch.map(|e| match e {
            EpochArg::S => Epoch::Seconds,
            EpochArg::Ms => Epoch::Millis,
        }),
    };
    if let Some(every) = args.flush_every {
        options.flush = FoldInterval::new(every);
    }
    options.state = args.state.map(|path| StateOptions {
        path,
        recount: args.recount,
        forget_missing: args.forget_missing,
    });
    Ok(options)
}

/// Says (on stderr) where each output of the count went.
fn print_destinations(options: &CountOptions) {
    let state = options
        .state
        .as_ref()
        .map(|state| Destination::from_arg(state.path.clone()));
    let written = [
        ("result", options.output.as_ref()),
        ("rejects", options.rejects.as_ref()),
        ("stats", options.stats_json.as_ref()),
        ("state", state.as_ref()),
    ];
    for (what, destination) in written {
        match destination {
            Some(Destination::Stdout) => {
                eprintln!("  {:<11}standard output", format!("{what}:"))
            }
            Some(destination) => {
                eprintln!("  {:<11}{}", format!("{what}:"), destination.name())
            }
            None => {}
        }
    }
}

/// `--time-zone`'s value.
fn parse_zone(name: &str) -> Result<Zone, String> {
    Zone::named(name)
}

/// DATA_DIR's location file ([`options::data_dir_locations`]); where
/// there is none, the error says how to count the files the folder does
/// hold.
fn data_dir_locations(dir: &std::path::Path) -> Result<PathBuf, Error> {
    options::data_dir_locations(dir).map_err(|e| match e {
        Error::Open { path, source } => Error::Open {
            source: std::io::Error::new(
                source.kind(),
                format!(
                    "{source}; to count other files, name them: event-counter count --regions \
                     {} --locations '{}' -o result.csv",
                    dir.join("region.csv").display(),
                    dir.join("location*.csv").display()
                ),
            ),
            path,
        },
        e => e,
    })
}

/// DATA_DIR must be a folder ([`options::check_data_dir`]); when it is a
/// file (the usual mistake: `count data/location.csv`), say which flags
/// count one file.
fn check_data_dir(dir: &std::path::Path) -> Result<(), Error> {
    options::check_data_dir(dir, "DATA_DIR").map_err(|e| match e {
        Error::Usage(why) => Error::Usage(format!(
            "{why}; to count one file, name it with --locations, and region.csv with --regions: \
             event-counter count --regions region.csv --locations {} -o result.csv",
            dir.display()
        )),
        e => e,
    })
}

/// Sets up the engine the user asked for and logs which and why (`-v`).
fn select(backend: BackendArg) -> Result<Engine, Error> {
    let selection = Engine::select(backend.backend()).map_err(|e| match e {
        Error::NoAdapter(why) => Error::NoAdapter(format!("{why}, or use --backend cpu")),
        Error::NotBuilt(why) => Error::NotBuilt(format!("{why} (--backend cpu)")),
        e => e,
    })?;
    let engine = selection.engine;
    let why = match selection.reason {
        Reason::Asked => format!("--backend {}", backend.backend()),
        Reason::Auto(why) if engine.kind() == "auto" => format!("--backend auto: {why}"),
        Reason::Auto(why) => format!("--backend auto chose the CPU: {why}"),
    };
    log::info!("backend {} ({why})", engine.describe());
    if engine.on_software_adapter() {
        log::warn!(
            "{} is a software adapter: it runs the GPU backend on this CPU's own cores, many \
             times slower than --backend cpu",
            engine.adapter().unwrap_or_default()
        );
    }
    Ok(engine)
}

/// A number of bytes in the unit that fits it: 87.7 KB, 1.07 GB.
fn bytes(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0} bytes"),
        n if n < 1e6 => format!("{:.1} KB", n / 1e3),
        n if n < 1e9 => format!("{:.1} MB", n / 1e6),
        n => format!("{:.2} GB", n / 1e9),
    }
}

/// The end-of-run block on stderr.
fn render_summary(s: &Summary) -> String {
    let mut out = String::new();
    render_what_was_read(&mut out, s);
    render_not_counted(&mut out, s);
    out
}

/// The summary's first lines: the rows by outcome, the bytes read and how
/// fast, the backend and the reading settings, the memory.
fn render_what_was_read(out: &mut String, s: &Summary) {
    use std::fmt::Write;
    let seconds = s.elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "event-counter: counted {} into {}",
        counted(s.stats.counted, "row", "rows"),
        counted(s.groups as u64, "group", "groups")
    );
    let _ = writeln!(
        out,
        "  rows:      {} counted, {} unmatched, {} malformed, {} blank",
        s.stats.counted,
        s.stats.unmatched,
        s.stats.malformed_total(),
        s.stats.blank
    );
    let files = if s.files == 1 {
        String::new()
    } else {
        format!(" of {} files", s.files)
    };
    let _ = writeln!(
        out,
        "  read:      {}{files} in {seconds:.2} s ({}/s)",
        bytes(s.bytes as f64),
        bytes(s.gb_per_s() * 1e9),
    );
    if let Some((new, skipped)) = s.state_bytes {
        let _ = writeln!(
            out,
            "  state:     {} new, {} counted before and skipped",
            bytes(new as f64),
            bytes(skipped as f64)
        );
    }
    let backend = match &s.adapter {
        Some(adapter) => format!("{} on {adapter}", s.backend),
        None => s.backend.to_string(),
    };
    let threads = if s.threads == 1 { "thread" } else { "threads" };
    let _ = writeln!(out, "  backend:   {backend}, {} {threads}", s.threads);
    let _ = writeln!(out, "  time zone: {}", s.times.describe());
    let no_header = match (s.no_header.locations, s.no_header.regions) {
        (false, false) => None,
        (true, false) => Some("location files"),
        (false, true) => Some("region.csv"),
        (true, true) => Some("location files and region.csv"),
    };
    if let Some(which) = no_header {
        let _ = writeln!(out, "  headers:   none in {which}: line 1 is a row");
    }
    if let Some(peak) = s.peak_memory {
        let _ = writeln!(out, "  memory:    {:.0} MB at most", peak as f64 / 1e6);
    }
}

/// The summary's lines on the rows not counted: unmatched, malformed (with
/// samples), repeated headers, blank lines.
fn render_not_counted(out: &mut String, s: &Summary) {
    use std::fmt::Write;
    if s.stats.unmatched > 0 {
        let _ = writeln!(
            out,
            "  unmatched: {} whose region_id is not in region.csv (ids {}); dropped",
            counted(s.stats.unmatched, "row", "rows"),
            s.unmatched_ids_listed()
        );
    }
    let malformed = s.stats.malformed_total();
    if malformed > 0 {
        let by_kind: Vec<String> = MalformedKind::ALL
            .iter()
            .filter(|&&k| s.stats.malformed[k as usize] > 0)
            .map(|&k| format!("{} {}", k.label(), s.stats.malformed[k as usize]))
            .collect();
        let _ = writeln!(
            out,
            "  malformed: {} skipped ({})",
            counted(malformed, "row", "rows"),
            by_kind.join(", ")
        );
        for sample in &s.samples {
            let _ = writeln!(out, "    {sample}");
        }
        if malformed > s.samples.len() as u64 {
            let _ = writeln!(
                out,
                "    ... (--rejects PATH keeps them all, --strict stops at the first)"
            );
        }
    }
    if s.stats.headers > 0 {
        let _ = writeln!(
            out,
            "  headers:   {} lines repeat the header (files joined with cat?); skipped",
            s.stats.headers
        );
    }
    if s.stats.blank > 0 {
        let blank = counted(s.stats.blank, "line", "lines");
        let _ = writeln!(out, "  blank:     {blank} ignored");
    }
}
