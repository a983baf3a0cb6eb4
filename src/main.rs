//! The command line: clap definitions, exit codes and what is printed on
//! stderr. All the work is in the library; `src/cli/` has one module per
//! subcommand that turns its flags into a library call and its result into
//! output.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use event_counter::error::exit;

#[derive(Parser, Debug)]
#[command(
    name = "event-counter",
    version,
    about = "Counts events per region per day in large CSV files, on a GPU or on every CPU core",
    after_help = "\
Examples:
  event-counter count data/            count data/location.csv into data/result.csv
  event-counter generate --size 1G data/
  event-counter merge -o result.csv part-*.csv
  event-counter plot data/result.csv -o heatmap.png
  event-counter adapters
  event-counter count --help           more examples for each subcommand",
    // One place for -v, -q and the exit codes of every subcommand.
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log the choices made (backend, adapter, threads, chunk size); RUST_LOG overrides
    #[arg(short, long, global = true)]
    verbose: bool,

    /// Print nothing on stderr but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    Count(cli::count::CountArgs),
    Generate(cli::generate::GenerateArgs),
    Merge(cli::merge::MergeArgs),
    Plot(cli::plot::PlotArgs),
    Adapters(cli::adapters::AdaptersArgs),
    Completions(cli::completions::CompletionsArgs),
    Man(cli::completions::ManArgs),
}

/// What every subcommand is told besides its own flags.
#[derive(Clone, Copy, Debug)]
pub struct Global {
    pub verbose: bool,
    pub quiet: bool,
}

fn main() -> ExitCode {
    quiet_wayland_probe();
    let cli = Cli::parse();
    let global = Global {
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    cli::logging::init(global);
    let result = match cli.command {
        Command::Count(args) => cli::count::run(args, global),
        Command::Generate(args) => cli::generate::run(args, global),
        Command::Merge(args) => cli::merge::run(args, global),
        Command::Plot(args) => cli::plot::run(args, global),
        Command::Adapters(args) => cli::adapters::run(args),
        Command::Completions(args) => cli::completions::run_completions(args),
        Command::Man(args) => cli::completions::run_man(args),
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
