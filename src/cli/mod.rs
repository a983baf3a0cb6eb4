//! One module per subcommand, plus what they share: logging, the progress
//! bar, size arguments, exit codes.

pub mod adapters;
pub mod completions;
pub mod count;
pub mod generate;
pub mod logging;
pub mod merge;
pub mod plot;
pub mod progress_bar;
pub mod signals;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::CommandFactory;

use event_counter::options::Destination;
use event_counter::{process, Error, ErrorKind};

/// Set when the process started with standard output closed (`main`'s
/// guard): this process's state, so the command line's, not the library's.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Notes that the process started with standard output closed.
pub fn set_stdout_closed() {
    STDOUT_CLOSED.store(true, Ordering::Relaxed);
}

/// Whether standard output was open when the process started: writing to
/// a closed one would lose what is written without a word.
pub fn stdout_is_open() -> bool {
    !STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// The output an argument names (`-`, a path, an `s3://` URL); refused,
/// before anything is read, when it is standard output and that was closed
/// when the process started.
pub fn destination(arg: PathBuf) -> Result<Destination, Error> {
    let destination = Destination::from_arg(arg);
    if !stdout_is_open() && destination.is_standard_output() {
        return Err(process::stdout_closed(&destination));
    }
    Ok(destination)
}

/// The exit codes, following BSD's `sysexits.h` so that scripts can tell
/// "fix your data" from "fix your disk" without parsing messages (the
/// README's table).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Bad command line (clap's own code for usage errors).
    pub const USAGE: u8 = 2;
    /// Input data the tool cannot use (EX_DATAERR).
    pub const DATA: u8 = 65;
    /// An input file is missing or cannot be opened (EX_NOINPUT).
    pub const NO_INPUT: u8 = 66;
    /// A GPU was asked for and none can be used (EX_UNAVAILABLE).
    pub const UNAVAILABLE: u8 = 69;
    /// A bug or a device failure inside the tool (EX_SOFTWARE).
    pub const SOFTWARE: u8 = 70;
    /// Reading or writing failed part way (EX_IOERR).
    pub const IO: u8 = 74;
}

/// The exit code of a failure of this kind.
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Usage | ErrorKind::Exists => exit::USAGE,
        ErrorKind::Data => exit::DATA,
        ErrorKind::InputMissing => exit::NO_INPUT,
        ErrorKind::Unavailable => exit::UNAVAILABLE,
        ErrorKind::Io => exit::IO,
        // As a shell reports a process killed by the signal.
        ErrorKind::Interrupted { signal } => (128 + signal).clamp(0, 255) as u8,
        // Internal, and any kind a newer library adds.
        _ => exit::SOFTWARE,
    }
}

/// A command line that clap accepted but that makes no sense gets clap's
/// usage error and exit code 2.
pub fn usage_error(kind: clap::error::ErrorKind, message: &str) -> ! {
    crate::Cli::command().error(kind, message).exit()
}

/// `n` and the noun for it: "1 row", "2 rows".
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}
