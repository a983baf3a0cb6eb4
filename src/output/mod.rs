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
mod counts;
mod rejects;
mod result_writer;
mod row_bytes;
mod shard_rejects;

pub use atomic::{
    check_file_path, place_together, remove_temporaries, stop_commits, take_away, AtomicFile,
    Placed, Placement, Stopped,
};
pub use counts::Counts;
pub use rejects::{RejectsWriter, ShardPart};
pub use result_writer::{write_table, Groups, ResultRow, ResultTable};
pub use shard_rejects::{ShardColumn, ShardLine, SHARD_WIDTH};

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::format::ShardManifest;
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

    /// Whether it is this process's standard output: `-`, or a path that
    /// leads, through its links, to descriptor 1 (`/dev/stdout`,
    /// `/dev/fd/1`, `/proc/self/fd/1`).
    pub fn is_standard_output(&self) -> bool {
        match self {
            Destination::Stdout => true,
            Destination::File(path) => leads_to_stdout(path),
            Destination::S3(_) => false,
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

/// Where the shard manifest of a result at `result` is ([`ShardManifest`]):
/// beside the file it leads to (links followed, so that every spelling of
/// it finds the same one), or beside the object. A result on standard
/// output or a device has none.
pub fn manifest_beside(result: &Destination) -> Option<Destination> {
    match result {
        Destination::File(path) => match Placement::of(path) {
            Placement::Replace(target) => {
                let mut name = target.into_os_string();
                name.push(ShardManifest::beside(""));
                Some(Destination::File(name.into()))
            }
            Placement::InPlace => None,
        },
        Destination::S3(url) => Some(Destination::S3(ShardManifest::beside(url))),
        Destination::Stdout => None,
    }
}

/// A step of [`place_together`] that takes away the shard manifest at
/// `manifest` (from [`manifest_beside`]), for a result written unsharded:
/// a file is removed with the commit (and put back if it fails); an
/// object, which cannot be put back, is deleted by [`delete_stale_object`]
/// once the commit is whole.
pub fn take_away_stale(manifest: &Destination) -> Result<Placed> {
    match manifest {
        Destination::File(path) => take_away(path),
        _ => Ok(Placed::default()),
    }
}

/// Deletes a stale manifest object (see [`take_away_stale`]), if there is
/// one: asking first, so that a count allowed only to write is not
/// refused a delete it does not need.
pub fn delete_stale_object(manifest: &Destination) -> Result<()> {
    let Destination::S3(url) = manifest else {
        return Ok(());
    };
    match crate::s3::read_all(url, 1 << 20) {
        // `None`: there, and larger than asked for.
        Ok(_) => crate::s3::delete(url),
        Err(Error::Open { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(()),
        // Without s3:ListBucket a missing key reads as access denied: the
        // result is in place, and a count that may only write must not
        // fail for a manifest that is almost never there.
        Err(e) => {
            log::warn!(
                "could not look for a stale shard manifest: {e}; if {url} exists, delete it"
            );
            Ok(())
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
    /// An object put whole, only if it is still the version read (its
    /// ETag; `None`: if there is none): `--state` on S3.
    Versioned {
        url: String,
        e_tag: Option<String>,
        bytes: Vec<u8>,
    },
}

impl PendingOutput {
    /// Starts the output: creates the temporary file or the upload, which
    /// proves that the folder exists and is writable, or that the bucket
    /// exists and the credentials may write to it.
    pub fn create(destination: &Destination) -> Result<PendingOutput> {
        let target = match destination {
            // `-o /dev/stdout` (or the file standard output is open on) is
            // `-o -`: one stream, and a reader that stops early is no error.
            // (A process that started with standard output closed is the
            // front end's to know: see [`Destination::is_standard_output`].)
            Destination::File(path) if Identity::of_path(path) == Identity::stdout() => {
                Target::Stdout(BufWriter::with_capacity(256 * 1024, io::stdout()))
            }
            Destination::File(path) => Target::File(AtomicFile::create(path)?),
            Destination::Stdout => {
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

    /// An object at `url` put whole on commit, only if it is then still
    /// the version of ETag `e_tag` (`None`: only if there is none).
    pub fn versioned(url: &str, e_tag: Option<String>) -> PendingOutput {
        PendingOutput {
            destination: Destination::S3(url.to_string()),
            target: Target::Versioned {
                url: url.to_string(),
                e_tag,
                bytes: Vec::new(),
            },
            prepared: false,
        }
    }

    /// Where the bytes go until the commit.
    pub fn writer(&mut self) -> &mut dyn Write {
        self.prepared = false;
        match &mut self.target {
            Target::File(file) => file.writer(),
            Target::Stdout(out) => out,
            Target::S3(upload) => upload,
            Target::Versioned { bytes, .. } => bytes,
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
        matches!(self.target, Target::S3(_) | Target::Versioned { .. })
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
            // Its bytes are in memory until the put.
            Target::Versioned { .. } => {}
        }
        self.prepared = true;
        Ok(())
    }

    /// Makes the output appear, whole. No token stops it: a process that
    /// exits on a signal keeps it from starting with [`stop_commits`].
    pub fn commit(self) -> Result<()> {
        place_together(
            &CancelToken::new(),
            [Box::new(|| self.put_in_place()) as Box<dyn FnOnce() -> _>],
        )
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
            Target::Versioned { url, e_tag, bytes } => {
                crate::s3::put_if_unchanged(&url, bytes, e_tag.as_deref())
                    .map(|()| Placed::default())
            }
        }
    }
}

fn is_closed_pipe(target: &Target, e: &io::Error) -> bool {
    matches!(target, Target::Stdout(_)) && e.kind() == io::ErrorKind::BrokenPipe
}

/// The error of an output to standard output when the process started
/// with it closed (descriptor 1 then is `/dev/null`, and what is written
/// there is lost without a word). Only a front end knows how its process
/// started: the command line refuses such outputs with this.
pub fn stdout_closed(destination: &Destination) -> Error {
    Error::Write {
        path: PathBuf::from(destination.name()),
        source: io::Error::other("standard output was closed when event-counter started"),
    }
}

/// Whether `path` leads, through its links, to this process's descriptor
/// 1 (`/dev/stdout`, `/dev/fd/1`, `/proc/self/fd/1`).
fn leads_to_stdout(path: &std::path::Path) -> bool {
    let pid = std::process::id().to_string();
    crate::input::link_hops(path).iter().any(|hop| {
        let parts: Vec<_> = hop.iter().map(|p| p.to_string_lossy()).collect();
        let parts: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
        // Folders are canonical: /proc/self is /proc/PID by now.
        matches!(
            parts.as_slice(),
            ["/", "proc", p, "fd", "1"] | ["/", "proc", p, "task", _, "fd", "1"] if *p == pid
        )
    })
}

/// Writes a small output whole, appearing at once.
pub fn write_file(destination: &Destination, bytes: &[u8]) -> Result<()> {
    let mut output = PendingOutput::create(destination)?;
    let written = output.writer().write_all(bytes);
    output.check(written)?;
    output.commit()
}
