//! What a location file is read from: anything that can read bytes at an
//! offset. A local file does it with `pread` (or lends its pages through a
//! memory map), an S3 object with a ranged GET; the chunking above it is the
//! same for both.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::mapping::{FileMap, Mapping};
use crate::error::{Error, Result};

/// A byte sequence of known length that many threads read at once.
pub trait Object: Send + Sync {
    /// Reads as much of `buf` as there is from `offset`; fewer bytes only
    /// at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Its length in bytes.
    fn len(&self) -> u64;

    /// Whether it has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How messages name it: the path or URL as the user gave it.
    fn name(&self) -> &str;

    /// The local file it is, if it is one.
    fn path(&self) -> Option<&Path> {
        None
    }

    /// Whether it can only be read from start to end, once (a named pipe,
    /// standard input): then [`Object::sequential`] reads it.
    fn is_pipe(&self) -> bool {
        false
    }

    /// For a pipe, a reader of it; `None` for an object read by offset.
    fn sequential(&self) -> Option<io::Result<Box<dyn io::Read + Send>>> {
        None
    }

    /// Maps `range` into memory, if this kind of object can be (a local
    /// file can; an S3 object cannot). Callers fall back to `read_at`.
    fn map(&self, _range: std::ops::Range<u64>) -> Option<Mapping> {
        None
    }

    /// The error for a failed read of this object.
    fn read_error(&self, source: io::Error) -> Error {
        Error::Read {
            path: self.name().into(),
            source,
        }
    }
}

/// A local file.
#[derive(Debug)]
pub struct LocalObject {
    file: File,
    len: u64,
    name: String,
    path: PathBuf,
    /// A named pipe, a terminal or a socket: bytes come in order, once.
    pipe: bool,
    /// The whole file mapped, once a chunk first asks (`None`: it cannot be).
    mapped: OnceLock<Option<Arc<FileMap>>>,
}

impl LocalObject {
    /// Opens the file at `path`; a folder or a missing file is an error.
    pub fn open(path: &Path) -> Result<LocalObject> {
        let open_error = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            // Opening a named pipe waits until something opens it to write.
            log::info!("{}: a named pipe; waiting for a writer", path.display());
        }
        let file = File::open(path).map_err(open_error)?;
        let meta = file.metadata().map_err(open_error)?;
        if meta.is_dir() {
            return Err(open_error(io::Error::other("is a directory, not a file")));
        }
        let pipe = !meta.is_file() && !meta.file_type().is_block_device();
        Ok(LocalObject {
            file,
            len: if pipe { 0 } else { meta.len() },
            name: display_name(path),
            path: path.to_path_buf(),
            pipe,
            mapped: OnceLock::new(),
        })
    }
}

impl Object for LocalObject {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            #[cfg(unix)]
            let n = std::os::unix::fs::FileExt::read_at(
                &self.file,
                &mut buf[done..],
                offset + done as u64,
            );
            #[cfg(windows)]
            let n = std::os::windows::fs::FileExt::seek_read(
                &self.file,
                &mut buf[done..],
                offset + done as u64,
            );
            match n {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn is_pipe(&self) -> bool {
        self.pipe
    }

    fn sequential(&self) -> Option<io::Result<Box<dyn io::Read + Send>>> {
        self.pipe.then(|| {
            self.file
                .try_clone()
                .map(|file| Box::new(file) as Box<dyn io::Read + Send>)
        })
    }

    fn map(&self, range: std::ops::Range<u64>) -> Option<Mapping> {
        // Only bytes inside the file: touching a page past its end raises
        // SIGBUS (which `Mapping` catches, should the file shrink later).
        if range.end > self.len || range.is_empty() || self.pipe {
            return None;
        }
        let whole = self
            .mapped
            .get_or_init(|| FileMap::new(&self.file, 0, usize::try_from(self.len).ok()?))
            .as_ref()?;
        let start = usize::try_from(range.start).ok()?;
        Some(whole.view(start..usize::try_from(range.end).ok()?))
    }
}

/// Whether two local paths name the same file, or would once created: the
/// same file (device and inode) when both exist, else the same place
/// (canonical folder and name).
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (a.dev(), a.ino()) == (b.dev(), b.ino());
        }
    }
    match (place(a), place(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// A path with its folder made canonical (links resolved), so that two
/// spellings of a file that does not exist yet compare equal.
fn place(path: &Path) -> Option<PathBuf> {
    if let Ok(path) = std::fs::canonicalize(path) {
        return Some(path);
    }
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(dir).ok()?.join(name))
}

/// An S3 object, read by ranged GETs (see [`crate::s3`]).
impl Object for crate::s3::S3Object {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        crate::s3::S3Object::read_at(self, buf, offset)
    }

    fn len(&self) -> u64 {
        crate::s3::S3Object::len(self)
    }

    fn name(&self) -> &str {
        crate::s3::S3Object::name(self)
    }
}

/// How a path is named in messages about its contents: as the user gave it.
pub fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// Reads an [`Object`] from start to end as a stream, counting the bytes
/// read so that progress can follow a decompressor.
pub struct ObjectReader {
    source: Sequence,
    read: Arc<AtomicU64>,
}

enum Sequence {
    /// Read by offset, from `pos` on.
    ByOffset { object: Arc<dyn Object>, pos: u64 },
    /// An object that reads in order by itself (a pipe).
    InOrder(Box<dyn io::Read + Send>),
}

impl ObjectReader {
    /// Reads `object` from its start, adding what it reads to `read`.
    pub fn new(object: Arc<dyn Object>, read: Arc<AtomicU64>) -> io::Result<Self> {
        let source = match object.sequential() {
            Some(reader) => Sequence::InOrder(reader?),
            None => Sequence::ByOffset { object, pos: 0 },
        };
        Ok(ObjectReader { source, read })
    }
}

impl io::Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.source {
            Sequence::ByOffset { object, pos } => {
                let n = object.read_at(buf, *pos)?;
                *pos += n as u64;
                n
            }
            Sequence::InOrder(reader) => reader.read(buf)?,
        };
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
