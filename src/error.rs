//! The one error type of the library, and the kind of failure each is.
//!
//! Every error that reaches a user names what it is about: the file (and line,
//! for bad data), the device, or the output path. A front end tells kinds
//! apart with [`Error::kind`], never by the text: the command line maps each
//! to its exit code, the Python package to an exception class.

use std::io;
use std::path::PathBuf;

/// What kind of failure an [`Error`] is: what a caller can act on ("fix
/// your data", "fix your disk") without reading the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument or option that makes no sense.
    Usage,
    /// An output that would replace a file, and the caller did not say it
    /// may ([`Error::Exists`]).
    Exists,
    /// Input data the tool cannot use: a bad header or row, more bad rows
    /// than allowed, data beyond a limit of the tool.
    Data,
    /// An input that is missing or cannot be opened.
    InputMissing,
    /// A GPU was asked for and none can be used, or this build lacks what
    /// was asked for.
    Unavailable,
    /// A bug, or a device that failed while counting.
    Internal,
    /// Reading or writing failed part way.
    Io,
    /// The run was asked to stop ([`crate::cancel::CancelToken`]), for
    /// this signal.
    Interrupted {
        /// The signal's number (2 for Ctrl-C).
        signal: i32,
    },
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
    /// (see `input::LineOrigin::AfterByte`), since the shard does
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

    /// The run was asked to stop by this signal ([`CancelToken`](crate::CancelToken)).
    #[error("interrupted (signal {0}): nothing was written, and older outputs are as they were")]
    Interrupted(i32),
}

impl Error {
    /// The kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage(_) => ErrorKind::Usage,
            Error::Exists(_) => ErrorKind::Exists,
            Error::Open { .. } => ErrorKind::InputMissing,
            Error::Read { .. } | Error::Write { .. } => ErrorKind::Io,
            Error::Data { .. }
            | Error::ShardData { .. }
            | Error::Limit(_)
            | Error::TooManyBad(_) => ErrorKind::Data,
            Error::NoAdapter(_) | Error::NotBuilt(_) => ErrorKind::Unavailable,
            Error::Gpu(_) | Error::Internal(_) => ErrorKind::Internal,
            Error::Interrupted(signal) => ErrorKind::Interrupted { signal: *signal },
        }
    }
}

/// A result whose error is the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
