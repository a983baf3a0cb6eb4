//! The command line: clap definitions, exit codes (error kinds mapped in
//! `cli::exit_code`) and what is printed on stderr. All the work is in the
//! library; `src/cli/` has one module per
//! subcommand that turns its flags into a library call and its result into
//! output.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::exit;

#[derive(Parser, Debug)]
#[command(
    name = "event-counter",
    version = version(),
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

    /// Log the choices made (for count: backend, adapter, threads, chunk size); RUST_LOG overrides
    #[arg(short, long, global = true)]
    verbose: bool,

    /// Print nothing on stderr but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

/// The version, with the time zone database's, which decides the local
/// days of event times.
fn version() -> String {
    format!(
        "{} (tz database {})",
        env!("CARGO_PKG_VERSION"),
        event_counter::tzdb_version()
    )
}

#[derive(Subcommand, Debug)]
enum Command {
    // Boxed: its flags (zones, column choices) make it far the largest.
    Count(Box<cli::count::CountArgs>),
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
    guard_standard_descriptors();
    quiet_wayland_probe();
    cli::signals::install();
    let cli = Cli::parse();
    let global = Global {
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    cli::logging::init(global);
    let result = match cli.command {
        Command::Count(args) => cli::count::run(*args, global),
        Command::Generate(args) => cli::generate::run(args, global),
        Command::Merge(args) => cli::merge::run(args, global),
        Command::Plot(args) => cli::plot::run(args, global),
        Command::Adapters(args) => cli::adapters::run(args),
        Command::Completions(args) => cli::completions::run_completions(args),
        Command::Man(args) => cli::completions::run_man(args),
    };
    if cli::signals::token().signal().is_some() {
        // A signal came: its thread exits with 128 + N once the outputs
        // are whole (a commit under way is let finish) or dropped. Only it
        // may exit: the code must not depend on which thread ends first,
        // and two threads exiting at once crashed in the GPU driver's
        // destructors (exit 139 instead of 130, about 1 run in 4).
        if let Err(e) = &result {
            eprintln!("event-counter: error: {e}");
        }
        loop {
            std::thread::park();
        }
    }
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("event-counter: error: {e}");
            ExitCode::from(cli::exit_code(e.kind()))
        }
    }
}

/// Mesa's Vulkan drivers probe for a Wayland display when wgpu starts, and
/// libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set" to
/// stderr where that variable is unset (containers, CI). We draw no windows,
/// so this points it at the temp folder, keeping stderr to our own
/// messages. The environment is the process's, so this is done here, first
/// thing in `main`, while no other thread reads it (the library never sets
/// it; the Python package does the same when it is imported).
fn quiet_wayland_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
}

/// Finds out whether the process started with standard output closed
/// (`-o - >&-`). Rust's runtime fills a closed standard descriptor with
/// /dev/null before `main`, opened for reading and writing, so output to it
/// would vanish without a word; a shell's `> /dev/null` opens it write-only.
/// Such a stdout is remembered, so that `-o -` fails instead.
fn guard_standard_descriptors() {
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let read_write = rustix::fs::fcntl_getfl(std::io::stdout())
            .is_ok_and(|flags| flags & OFlags::RWMODE == OFlags::RDWR);
        let stdout = std::fs::metadata("/dev/stdout");
        let null = std::fs::metadata("/dev/null");
        if let (true, Ok(stdout), Ok(null)) = (read_write, stdout, null) {
            if stdout.file_type().is_char_device() && stdout.rdev() == null.rdev() {
                cli::set_stdout_closed();
            }
        }
    }
}
