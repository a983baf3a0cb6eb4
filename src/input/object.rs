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

    /// A tag that changes whenever its bytes are rewritten (an S3 ETag),
    /// where the store keeps one.
    fn e_tag(&self) -> Option<&str> {
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

    /// Fills `buf` from `offset`, all of it. A file that gives fewer bytes
    /// than it had when opened has shrunk under us: its rows are no longer
    /// the ones its size promised, so that is an error, not an end.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let got = self.read_at(buf, offset).map_err(|e| self.read_error(e))?;
        if got < buf.len() {
            return Err(self.read_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file shrank while it was read (it had {} bytes)",
                    self.len()
                ),
            )));
        }
        Ok(())
    }

    /// Why it is no longer what was opened, if it is not: rows cut or
    /// appended, or rewritten in place, while it was read would be counted
    /// in part, without a word. `None` when unchanged, or when it cannot be
    /// told (a pipe, an S3 object, whose key is fixed by its ETag).
    fn changed_since_open(&self) -> Option<String> {
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
    /// A pipe's or device's descriptor, held for the whole run; a regular
    /// file's comes from [`OPEN_FILES`] when it is read.
    held: Option<File>,
    /// Which regular file it is, to find its descriptor in [`OPEN_FILES`]
    /// and to know it again when it is opened again.
    id: FileId,
    len: u64,
    /// `st_mtime` and `st_ctime` with nanoseconds when opened: a file cut
    /// and written back to its size keeps its length but not these.
    times: [(i64, i64); 2],
    name: String,
    path: PathBuf,
    /// A named pipe, a terminal or a socket: bytes come in order, once.
    pipe: bool,
    /// The whole file mapped, once a chunk first asks (`None`: it cannot be).
    mapped: OnceLock<Option<Arc<FileMap>>>,
}

/// A regular file's device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

/// The descriptors of regular files being read, most recently used last.
/// A folder of 100,000 files is planned (every header checked) before any
/// row is read, and a process may have far fewer descriptors (often 1,024):
/// so a file is opened again when it is read after its descriptor went.
static OPEN_FILES: std::sync::Mutex<Vec<(FileId, Arc<File>)>> = std::sync::Mutex::new(Vec::new());

/// How many descriptors [`OPEN_FILES`] keeps: enough for every thread's
/// file and a few more (64), but at most a quarter of the process's limit
/// (`ulimit -n`), which also holds the outputs, the threads' own files and
/// a GPU driver's descriptors: with `ulimit -n 64` a fixed 64 failed.
fn max_open_files() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| descriptor_limit().map_or(64, |limit| (limit / 4).clamp(1, 64) as usize))
}

/// The process's soft limit on open descriptors, if it has one.
fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct it is given,
    // which lives for the call.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Opens a location file. Out of descriptors, it closes the cached ones
/// (a thread reading one holds its own) and tries once more; if even that
/// fails, the error says which limit and what to do.
fn open_file(path: &Path) -> io::Result<File> {
    let out_of_descriptors = |e: &io::Error| e.raw_os_error() == Some(libc::EMFILE);
    match File::open(path) {
        Err(e) if out_of_descriptors(&e) => {
            OPEN_FILES.lock().unwrap_or_else(|e| e.into_inner()).clear();
            File::open(path).map_err(|e| {
                if !out_of_descriptors(&e) {
                    return e;
                }
                let limit = descriptor_limit().map_or("none".to_string(), |l| l.to_string());
                io::Error::new(
                    e.kind(),
                    format!(
                        "{e}: every descriptor this process may open is in use \
                         (ulimit -n: {limit}); raise the limit or count with fewer threads (-j)"
                    ),
                )
            })
        }
        opened => opened,
    }
}

impl LocalObject {
    /// Opens the file at `path`; a folder or a missing file is an error.
    pub fn open(path: &Path) -> Result<LocalObject> {
        use std::os::unix::fs::MetadataExt;
        let open_error = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            // Opening a named pipe waits until something opens it to write.
            log::info!("{}: a named pipe; waiting for a writer", path.display());
        }
        let file = open_file(path).map_err(|source| {
            // The file is there: the process is out of descriptors.
            if source.raw_os_error() == Some(libc::EMFILE) {
                Error::Read {
                    path: path.to_path_buf(),
                    source,
                }
            } else {
                open_error(source)
            }
        })?;
        let meta = file.metadata().map_err(open_error)?;
        if meta.is_dir() {
            return Err(open_error(io::Error::other("is a directory, not a file")));
        }
        let pipe = !meta.is_file() && !meta.file_type().is_block_device();
        let id = FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        let held = if meta.is_file() {
            keep_open(id, Arc::new(file));
            None
        } else {
            Some(file)
        };
        Ok(LocalObject {
            held,
            id,
            len: if pipe { 0 } else { meta.len() },
            times: file_times(&meta),
            name: display_name(path),
            path: path.to_path_buf(),
            pipe,
            mapped: OnceLock::new(),
        })
    }

    /// Runs `with` on the file's descriptor: the one held, else the one in
    /// [`OPEN_FILES`], else the file opened again (and checked to be the
    /// same file: one renamed over it since is an error, not other rows).
    fn with_file<T>(&self, with: impl FnOnce(&File) -> io::Result<T>) -> io::Result<T> {
        use std::os::unix::fs::MetadataExt;
        if let Some(file) = &self.held {
            return with(file);
        }
        let cached = {
            let mut open = OPEN_FILES.lock().unwrap_or_else(|e| e.into_inner());
            open.iter().position(|(id, _)| *id == self.id).map(|i| {
                let entry = open.remove(i);
                let file = entry.1.clone();
                open.push(entry);
                file
            })
        };
        let file = match cached {
            Some(file) => file,
            None => {
                let file = open_file(&self.path)?;
                let meta = file.metadata()?;
                if (meta.dev(), meta.ino()) != (self.id.dev, self.id.ino) {
                    return Err(io::Error::other(
                        "the file was replaced by another while it was read",
                    ));
                }
                let file = Arc::new(file);
                keep_open(self.id, file.clone());
                file
            }
        };
        with(&file)
    }
}

/// A file's modification and change times, seconds and nanoseconds.
fn file_times(meta: &std::fs::Metadata) -> [(i64, i64); 2] {
    use std::os::unix::fs::MetadataExt;
    [
        (meta.mtime(), meta.mtime_nsec()),
        (meta.ctime(), meta.ctime_nsec()),
    ]
}

/// Adds a descriptor to [`OPEN_FILES`], closing the least recently used
/// one past the limit (a thread still reading it holds its own `Arc`).
fn keep_open(id: FileId, file: Arc<File>) {
    let mut open = OPEN_FILES.lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|(other, _)| *other != id);
    if open.len() >= max_open_files() {
        open.remove(0);
    }
    open.push((id, file));
}

impl Object for LocalObject {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with_file(|file| {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::unix::fs::FileExt::read_at(
                    file,
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
        })
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

    /// Compares the size, then the modification and change times, with
    /// the ones at open: a file truncated and grown back to the same size
    /// while it was read has other times. (A `chmod` or a new hard link
    /// changes `st_ctime` too; refusing then is the safe side.)
    fn changed_since_open(&self) -> Option<String> {
        if self.pipe {
            return None;
        }
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return Some("the file is gone".to_string());
        };
        if meta.len() != self.len {
            return Some(format!(
                "the file changed size while it was read ({} bytes when opened, {} at the end)",
                self.len,
                meta.len()
            ));
        }
        (file_times(&meta) != self.times).then(|| {
            "the file was written to while it was read (same size, a newer modification \
             or change time)"
                .to_string()
        })
    }

    fn sequential(&self) -> Option<io::Result<Box<dyn io::Read + Send>>> {
        self.pipe.then(|| {
            self.with_file(File::try_clone)
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
            .get_or_init(|| {
                let len = usize::try_from(self.len).ok()?;
                self.with_file(|file| Ok(FileMap::new(file, len)))
                    .ok()
                    .flatten()
            })
            .as_ref()?;
        let start = usize::try_from(range.start).ok()?;
        Some(whole.view(start..usize::try_from(range.end).ok()?))
    }
}

/// What a local path, an `s3://` URL or standard output names, so that two
/// spellings of one file or object compare (and hash) equal: links and
/// `..` in a path, `//` or a trailing `/` in a key. Sets of them find a
/// file named twice among any number in one pass.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// An existing file (links followed): its device and inode.
    File {
        /// `st_dev`.
        dev: u64,
        /// `st_ino`.
        ino: u64,
    },
    /// A local file that does not exist yet: where it would be created,
    /// links (dangling ones too) followed and the folder made canonical.
    Place(PathBuf),
    /// An S3 object, as the object store resolves its key: without empty
    /// segments.
    Object {
        /// The bucket.
        bucket: String,
        /// The key, its segments joined by single slashes.
        key: String,
    },
    /// Standard output, when it is not open on a file (closed).
    Stdout,
}

impl Identity {
    /// What `path` names.
    pub fn of_path(path: &Path) -> Identity {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(path) {
            Ok(meta) => Identity::File {
                dev: meta.dev(),
                ino: meta.ino(),
            },
            Err(_) => Identity::Place(follow_links(path).0),
        }
    }

    /// What an input object names: its local file, or its URL.
    pub fn of_object(object: &dyn Object) -> Identity {
        match object.path() {
            Some(path) => Identity::of_path(path),
            None => Identity::of_url(object.name()),
        }
    }

    /// What an `s3://bucket/key` URL names.
    pub fn of_url(url: &str) -> Identity {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let key: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
        Identity::Object {
            bucket: bucket.to_string(),
            key: key.join("/"),
        }
    }

    /// What standard output is open on.
    pub fn stdout() -> Identity {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let fd = std::io::stdout().as_fd().try_clone_to_owned();
        match fd.map(std::fs::File::from).and_then(|f| f.metadata()) {
            Ok(meta) => Identity::File {
                dev: meta.dev(),
                ino: meta.ino(),
            },
            Err(_) => Identity::Stdout,
        }
    }
}

/// `path` with its links followed hop by hop, dangling ones too (at most
/// 40, as the kernel does), each hop's folder made canonical: where the
/// file `path` names is, or would be created, so that two spellings of it
/// compare equal. Also whether a hop went into `/proc`, as the descriptor
/// links of `/dev/stdout` and `/dev/fd/N` do.
pub fn follow_links(path: &Path) -> (PathBuf, bool) {
    let hops = link_hops(path);
    let into_proc = hops.iter().any(|hop| hop.starts_with("/proc"));
    let at = hops
        .into_iter()
        .last()
        .expect("the path itself is the first hop");
    (at, into_proc)
}

/// Every hop of [`follow_links`] from `path`, the path itself first (its
/// folder made canonical), the file it leads to last.
pub fn link_hops(path: &Path) -> Vec<PathBuf> {
    let mut hops = vec![canonical_folder(path)];
    for _ in 0..40 {
        let at = hops.last().expect("never empty");
        match std::fs::read_link(at) {
            Ok(target) => {
                let joined = at.parent().map_or(target.clone(), |dir| dir.join(&target));
                hops.push(canonical_folder(&joined));
            }
            Err(_) => break,
        }
    }
    hops
}

/// `path` with its folder made canonical (its name left as it is), or as it
/// is when the folder does not exist.
fn canonical_folder(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
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

    fn e_tag(&self) -> Option<&str> {
        crate::s3::S3Object::e_tag(self)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 27: a file cut and written back to the same size while it was
    /// read counted silently (only its size was compared).
    #[test]
    fn a_file_rewritten_to_the_same_size_is_seen_as_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("location.csv");
        std::fs::write(&path, "lat,long,region_id,date\n1,2,1,2019-01-01\n").unwrap();
        // An old modification time, so that the rewrite below gives another
        // one whatever the clock's granularity.
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let object = LocalObject::open(&path).unwrap();
        assert_eq!(object.changed_since_open(), None);
        // Truncated and grown back to its size, as `>` then a write does.
        std::fs::write(&path, "lat,long,region_id,date\n9,9,2,2019-01-02\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), object.len());
        let why = object.changed_since_open().expect("a rewrite is a change");
        assert!(why.contains("written to while it was read"), "{why}");
        std::fs::write(&path, "lat,long,region_id,date\n").unwrap();
        let why = object.changed_since_open().expect("a cut is a change");
        assert!(why.contains("changed size"), "{why}");
    }
}
