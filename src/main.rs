//! The command line: flags, exit codes and what is printed on stderr. All
//! the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use event_counter::error::exit;
use event_counter::histogram::Flush;
use event_counter::output::Destination;
use event_counter::scan::MalformedKind;
use event_counter::{count, BackendChoice, CountOptions, Engine, Error, Summary};

#[derive(Parser, Debug)]
#[command(
    name = "event-counter",
    version,
    about = "Counts events per region per day in large CSV files, on a GPU or on every CPU core"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Count rows of location.csv per region name and date into result.csv
    #[command(after_help = "\
Examples:
  event-counter count data/                  writes data/result.csv
  event-counter count data/ -o - --backend cpu
  event-counter count --regions r.csv --locations big.csv -o counts.csv
  event-counter count data/ --strict          stop at the first malformed row
  event-counter count data/ --rejects bad.csv keep every row not counted")]
    Count(CountArgs),
}

#[derive(Args, Debug)]
struct CountArgs {
    /// Folder holding region.csv and location.csv; result.csv is written there
    data_dir: Option<PathBuf>,

    /// region.csv to use instead of DATA_DIR/region.csv
    #[arg(long, value_name = "PATH")]
    regions: Option<PathBuf>,

    /// location.csv to use instead of DATA_DIR/location.csv
    #[arg(long, value_name = "PATH")]
    locations: Option<PathBuf>,

    /// Where to write the result; - for standard output [default: DATA_DIR/result.csv]
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,

    /// Where to count: auto takes a hardware GPU if there is one, else the CPU
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,

    /// Scanning threads [default: all cores]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,

    /// Stop with exit code 65 at the first malformed row, writing no result
    #[arg(long)]
    strict: bool,

    /// Write every malformed and unmatched row to PATH as CSV
    #[arg(long, value_name = "PATH")]
    rejects: Option<PathBuf>,

    /// Say which backend and adapter are used, and why
    #[arg(short, long)]
    verbose: bool,

    /// Print nothing on stderr but errors
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,

    /// Bytes per chunk (for tuning and tests)
    #[arg(long, hide = true, value_name = "BYTES")]
    chunk_size: Option<usize>,

    /// Fold 32-bit bins into 64-bit totals every N keys (for tests)
    #[arg(long, hide = true, value_name = "N")]
    flush_every: Option<u64>,
}

fn main() -> ExitCode {
    quiet_wayland_probe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Count(args) => run_count(args),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK as u8),
        Err(e) => {
            eprintln!("event-counter: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Mesa's Vulkan drivers probe for a Wayland display when wgpu starts, and
/// libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set" to
/// stderr where that variable is unset (containers, CI). We draw no windows,
/// so point it at the temp folder to keep stderr to our own messages. This
/// runs first thing in `main`, before any other thread exists.
fn quiet_wayland_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
}

/// A command line that names no input gets clap's usage error and exit 2.
fn usage_error(message: &str) -> ! {
    use clap::CommandFactory;
    Cli::command()
        .error(clap::error::ErrorKind::MissingRequiredArgument, message)
        .exit()
}

fn run_count(args: CountArgs) -> Result<(), Error> {
    let in_dir = |name: &str| args.data_dir.as_ref().map(|dir| dir.join(name));
    let regions = args.regions.clone().or_else(|| in_dir("region.csv"));
    let locations = args.locations.clone().or_else(|| in_dir("location.csv"));
    let output = args.output.clone().or_else(|| in_dir("result.csv"));
    let (Some(regions), Some(locations)) = (regions, locations) else {
        usage_error("give DATA_DIR, or both --regions and --locations");
    };
    let Some(output) = output else {
        usage_error("without DATA_DIR, say where the result goes with -o PATH (- for stdout)");
    };

    let mut options = CountOptions::new(regions, locations, Destination::from_arg(output));
    options.strict = args.strict;
    options.rejects = args.rejects;
    if let Some(threads) = args.threads {
        options.threads = threads as usize;
    }
    if let Some(size) = args.chunk_size {
        options.chunk_size = size;
    }
    if let Some(every) = args.flush_every {
        options.flush = Flush::new(every);
    }

    let (engine, why) = Engine::select(args.backend)?;
    if args.verbose {
        eprintln!("event-counter: backend {} ({why})", engine.describe());
    }
    let summary = count(&options, &engine)?;
    if !args.quiet {
        eprint!("{}", render_summary(&summary));
    }
    Ok(())
}

/// The end-of-run block on stderr.
fn render_summary(s: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let seconds = s.elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "event-counter: counted {} rows into {} groups in {seconds:.2} s ({:.2} GB/s, {}, {} threads)",
        s.stats.counted,
        s.groups,
        s.bytes as f64 / seconds.max(1e-9) / 1e9,
        s.backend,
        s.threads,
    );
    if s.stats.unmatched > 0 {
        let ids: Vec<String> = s.unmatched_ids.iter().map(i64::to_string).collect();
        let more = if (s.unmatched_ids.len() as u64) < s.stats.unmatched {
            ", ..."
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  unmatched: {} rows whose region_id is not in region.csv (ids {}{more}); dropped",
            s.stats.unmatched,
            ids.join(", ")
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
            "  malformed: {malformed} rows skipped ({})",
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
    if s.stats.blank > 0 {
        let _ = writeln!(out, "  blank: {} lines ignored", s.stats.blank);
    }
    out
}
