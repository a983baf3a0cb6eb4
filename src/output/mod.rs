//! Writing what a run produces so that it is either complete or not there:
//! result.csv, the rejects file, the stats.
//!
//! Every output is a [`PendingOutput`] until it is committed: a local file is
//! written to a temporary name in its folder and renamed over the target
//! only once everything is on disk ([`atomic`]); an S3 object is a multipart
//! upload completed only then. A full disk, a read-only folder or a failed
//! run therefore never leaves a partial file, and an older one stays
//! untouched.

pub mod atomic;
mod rejects;
mod result_writer;

pub use atomic::{remove_temporaries, AtomicFile, Placed, Placement};
pub use rejects::{RejectsWriter, ShardPart};
pub use result_writer::{write_table, DateSizes, Groups, ResultRow, ResultTable};

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::input::Identity;
use crate::s3::S3Upload;

/// Where an output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A local file, written atomically.
    File(PathBuf),
    /// Standard output.
    Stdout,
    /// An `s3://bucket/key` URL.
    S3(String),
}

impl Destination {
    /// `-` means standard output, `s3://` an object.
    pub fn from_arg(arg: PathBuf) -> Destination {
        match arg.to_str() {
            Some("-") => Destination::Stdout,
            Some(url) if url.starts_with("s3://") => Destination::S3(url.to_string()),
            _ => Destination::File(arg),
        }
    }

    /// What it names, so that two spellings of one place compare equal
    /// (`/dev/stdout` and `-` too, when standard output is open).
    pub fn identity(&self) -> Identity {
        match self {
            Destination::File(path) => Identity::of_path(path),
            Destination::Stdout => Identity::stdout(),
            Destination::S3(url) => Identity::of_url(url),
        }
    }

    /// How messages name it.
    pub fn name(&self) -> String {
        match self {
            Destination::File(path) => path.display().to_string(),
            Destination::Stdout => "<stdout>".into(),
            Destination::S3(url) => url.clone(),
        }
    }
}

/// An output being written. It appears at its destination only on
/// [`PendingOutput::commit`]; dropped uncommitted, it leaves nothing.
pub struct PendingOutput {
    destination: Destination,
    target: Target,
    /// Prepared, and nothing written since.
    prepared: bool,
}

enum Target {
    File(AtomicFile),
    /// Standard output is written as it goes: there is nothing to rename.
    Stdout(BufWriter<io::Stdout>),
    /// Buffered so that the upload (and its wait for capacity) sees large
    /// writes, not one per row.
    S3(BufWriter<S3Upload>),
}

impl PendingOutput {
    /// Starts the output: creates the temporary file or the upload, which
    /// proves that the folder exists and is writable, or that the bucket
    /// exists and the credentials may write to it.
    pub fn create(destination: &Destination) -> Result<PendingOutput> {
        let target = match destination {
            // `-o /dev/stdout` (or the file standard output is open on) is
            // `-o -`: one stream, and a reader that stops early is no error.
            Destination::File(path)
                if stdout_is_open() && Identity::of_path(path) == Identity::stdout() =>
            {
                Target::Stdout(BufWriter::with_capacity(256 * 1024, io::stdout()))
            }
            Destination::File(path) => Target::File(AtomicFile::create(path)?),
            Destination::Stdout => {
                if !stdout_is_open() {
                    return Err(Error::Write {
                        path: PathBuf::from("<stdout>"),
                        source: io::Error::other(
                            "standard output was closed when event-counter started",
                        ),
                    });
                }
                Target::Stdout(BufWriter::with_capacity(256 * 1024, io::stdout()))
            }
            Destination::S3(url) => {
                Target::S3(BufWriter::with_capacity(1 << 20, S3Upload::start(url)?))
            }
        };
        Ok(PendingOutput {
            destination: destination.clone(),
            target,
            prepared: false,
        })
    }

    /// Where the bytes go until the commit.
    pub fn writer(&mut self) -> &mut dyn Write {
        self.prepared = false;
        match &mut self.target {
            Target::File(file) => file.writer(),
            Target::Stdout(out) => out,
            Target::S3(upload) => upload,
        }
    }

    /// Turns an I/O error from writing into an error naming the output. A
    /// reader of standard output that stops early (`| head`) is no error.
    pub fn check<T: Default>(&self, result: io::Result<T>) -> Result<T> {
        match result {
            Err(e) if is_closed_pipe(&self.target, &e) => Ok(T::default()),
            result => result.map_err(|source| Error::Write {
                path: PathBuf::from(self.destination.name()),
                source,
            }),
        }
    }

    /// Whether it is a local file that can be written at any offset (not
    /// standard output, a device or an upload, which go in order).
    pub fn has_offsets(&self) -> bool {
        matches!(&self.target, Target::File(file) if file.is_temporary())
    }

    /// For an output that [`PendingOutput::has_offsets`], the file, to be
    /// written at offsets by several threads, `len` bytes in all (reserved
    /// on disk now, as a large file wants).
    pub fn at_offsets(&mut self, len: u64) -> Result<&std::fs::File> {
        match &mut self.target {
            Target::File(file) if file.is_temporary() => {
                file.preallocate(len);
                file.set_len(len);
                self.prepared = false;
                file.file()
            }
            _ => Err(Error::Internal(format!(
                "{} cannot be written at offsets",
                self.destination.name()
            ))),
        }
    }

    /// Whether committing this output can fail for reasons of its own
    /// (an upload to complete), so that it should be committed first.
    pub fn is_remote(&self) -> bool {
        matches!(self.target, Target::S3(_))
    }

    /// Everything before the output appears that can fail for lack of
    /// space: writes what is buffered, and waits until a file is on disk.
    /// After it, a file's commit is only a rename.
    pub fn prepare(&mut self) -> Result<()> {
        if self.prepared {
            return Ok(());
        }
        match &mut self.target {
            Target::File(file) => file.prepare(true)?,
            Target::Stdout(out) => {
                let flushed = out.flush();
                self.check(flushed)?;
            }
            Target::S3(upload) => {
                let flushed = upload.flush();
                self.check(flushed)?;
            }
        }
        self.prepared = true;
        Ok(())
    }

    /// Makes the output appear, whole.
    pub fn commit(self) -> Result<()> {
        self.put_in_place().map(Placed::keep)
    }

    /// Makes the output appear, whole. A local file's predecessor is kept
    /// until the [`Placed`] is kept or undone; an upload, once completed,
    /// cannot be undone (its [`Placed`] has nothing to put back).
    pub fn put_in_place(mut self) -> Result<Placed> {
        self.prepare()?;
        match self.target {
            Target::File(file) => file.put_in_place(),
            Target::Stdout(_) => Ok(Placed::default()),
            Target::S3(upload) => upload
                .into_inner()
                .map_err(|e| Error::Write {
                    path: PathBuf::from(self.destination.name()),
                    source: e.into_error(),
                })?
                .finish()
                .map(|()| Placed::default()),
        }
    }
}

fn is_closed_pipe(target: &Target, e: &io::Error) -> bool {
    matches!(target, Target::Stdout(_)) && e.kind() == io::ErrorKind::BrokenPipe
}

/// Set when the process started with standard output closed.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Tells the library that the process started with standard output closed,
/// so that writing a result there fails instead of losing it.
pub fn set_stdout_closed() {
    STDOUT_CLOSED.store(true, Ordering::Relaxed);
}

/// Whether standard output was open when the process started: writing
/// to a closed one would lose what is written without a word.
pub fn stdout_is_open() -> bool {
    !STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes a small output whole, appearing at once.
pub fn write_file(destination: &Destination, bytes: &[u8]) -> Result<()> {
    let mut output = PendingOutput::create(destination)?;
    let written = output.writer().write_all(bytes);
    output.check(written)?;
    output.commit()
}
