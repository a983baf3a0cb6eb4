//! The one error type of the library, and the exit code each kind maps to.
//!
//! Every error that reaches a user names what it is about: the file (and line,
//! for bad data), the device, or the output path. `main` prints the `Display`
//! text as one line and exits with [`Error::exit_code`].

use std::io;
use std::path::PathBuf;

/// The exit codes, following BSD's `sysexits.h` so that scripts can tell
/// "fix your data" from "fix your disk" without parsing messages.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Bad command line (clap's own code for usage errors).
    pub const USAGE: i32 = 2;
    /// Input data the tool cannot use (EX_DATAERR).
    pub const DATA: i32 = 65;
    /// An input file is missing or cannot be opened (EX_NOINPUT).
    pub const NO_INPUT: i32 = 66;
    /// A GPU was asked for and none can be used (EX_UNAVAILABLE).
    pub const UNAVAILABLE: i32 = 69;
    /// A bug or a device failure inside the tool (EX_SOFTWARE).
    pub const SOFTWARE: i32 = 70;
    /// Reading or writing failed part way (EX_IOERR).
    pub const IO: i32 = 74;
}

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file could not be opened or is not a file.
    #[error("{}: {source}", path.display())]
    Open {
        /// The input.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// Reading an input failed after it was opened.
    #[error("{}: read failed: {source}", path.display())]
    Read {
        /// The input.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// Writing an output failed; nothing partial is left behind.
    #[error("{}: write failed: {source}", path.display())]
    Write {
        /// The output.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// Input data that stops the run: a bad header, a bad region.csv, or a
    /// malformed row under `--strict`. `line` is 1-based; the header is line 1.
    #[error("{file}:{line}: {reason}")]
    Data {
        /// The file, as the user named it.
        file: String,
        /// The line, 1-based.
        line: u64,
        /// What is wrong there.
        reason: String,
    },

    /// A malformed row under `--strict` in a shard that does not start at
    /// the file's first row: its line is counted from the shard's start
    /// (see [`crate::input::LineOrigin::AfterByte`]), since the shard does
    /// not read what comes before it.
    #[error("{file}: line {line} after byte {byte}: {reason}")]
    ShardData {
        /// The file, as the user named it.
        file: String,
        /// The byte offset the shard's lines are counted after.
        byte: u64,
        /// The line, 1-based, counted from there.
        line: u64,
        /// What is wrong there.
        reason: String,
    },

    /// A file that would be replaced, and the caller did not say it may be.
    #[error("{}: exists already", .0.display())]
    Exists(PathBuf),

    /// An argument the command line parser could not judge alone, such as a
    /// `--start` date that is not a real date.
    #[error("{0}")]
    Usage(String),

    /// The data is valid but larger than a limit of the tool.
    #[error("{0}")]
    Limit(String),

    /// The run counted nothing of the data rows it read, or more of them
    /// were malformed or unmatched than the caller allowed.
    #[error("{0}")]
    TooManyBad(String),

    /// `--backend gpu` was asked for and no usable adapter exists.
    #[error("{0}")]
    NoAdapter(String),

    /// This build lacks what was asked for (a cargo feature left out).
    #[error("{0}")]
    NotBuilt(String),

    /// The GPU failed while counting (device lost, out of memory, validation).
    #[error("GPU error: {0}")]
    Gpu(String),

    /// A bug: something the code relies on did not hold.
    #[error("internal error: {0}")]
    Internal(String),

    /// The run was asked to stop by this signal ([`crate::cancel`]).
    #[error("interrupted (signal {0}): nothing was written, and older outputs are as they were")]
    Interrupted(i32),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Exists(_) => exit::USAGE,
            Error::Open { .. } => exit::NO_INPUT,
            Error::Read { .. } | Error::Write { .. } => exit::IO,
            Error::Data { .. }
            | Error::ShardData { .. }
            | Error::Limit(_)
            | Error::TooManyBad(_) => exit::DATA,
            Error::NoAdapter(_) | Error::NotBuilt(_) => exit::UNAVAILABLE,
            Error::Gpu(_) | Error::Internal(_) => exit::SOFTWARE,
            // As a shell reports a process killed by the signal.
            Error::Interrupted(signal) => 128 + signal,
        }
    }
}

/// A result whose error is the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
