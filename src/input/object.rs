//! What a location file is read from: anything that can read bytes at an
//! offset. A local file does it with `pread`, an S3 object with a ranged
//! GET; the chunking above it is the same for both.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// A byte sequence of known length that many threads read at once.
pub trait Object: Send + Sync {
    /// Reads as much of `buf` as there is from `offset`; fewer bytes only
    /// at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How messages name it: the path or URL as the user gave it.
    fn name(&self) -> &str;

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
}

impl LocalObject {
    pub fn open(path: &Path) -> Result<LocalObject> {
        let open_error = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_error)?;
        let meta = file.metadata().map_err(open_error)?;
        if meta.is_dir() {
            return Err(open_error(io::Error::other("is a directory, not a file")));
        }
        Ok(LocalObject {
            file,
            len: meta.len(),
            name: display_name(path),
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

    #[cfg(unix)]
    fn map(&self, range: std::ops::Range<u64>) -> Option<Mapping> {
        use std::os::fd::AsRawFd;
        // Only whole pages inside the file: touching a page past its end
        // would raise SIGBUS.
        if range.end > self.len || range.is_empty() {
            return None;
        }
        let start = range.start & !4095;
        let len = usize::try_from(range.end - start).ok()?;
        // SAFETY: a fresh private read-only mapping of our open file; the
        // result is checked before use. MAP_POPULATE reads the pages in at
        // once instead of faulting on each.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | MAP_POPULATE,
                self.file.as_raw_fd(),
                libc::off_t::try_from(start).ok()?,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Mapping {
            ptr,
            len,
            skip: (range.start - start) as usize,
        })
    }
}

#[cfg(target_os = "linux")]
const MAP_POPULATE: libc::c_int = libc::MAP_POPULATE;
#[cfg(all(unix, not(target_os = "linux")))]
const MAP_POPULATE: libc::c_int = 0;

/// Part of a file mapped into memory, unmapped when dropped.
///
/// Mapping saves the copy `pread` makes into our buffer, about a fifth of
/// the CPU time of a count. The kernel's page cache is read in place.
pub struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
    /// Bytes before the asked-for start (mappings start on a page).
    skip: usize,
}

// SAFETY: the mapping is read-only memory owned by this value alone.
unsafe impl Send for Mapping {}

impl Mapping {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` is mapped readable for as long as self
        // lives, and `skip <= len`.
        unsafe {
            std::slice::from_raw_parts(self.ptr.cast::<u8>().add(self.skip), self.len - self.skip)
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `LocalObject::map` mapped.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// How a path is named in messages about its contents: as the user gave it.
pub fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// Reads an [`Object`] from start to end as a stream, counting the bytes
/// read so that progress can follow a decompressor.
pub struct ObjectReader {
    object: Arc<dyn Object>,
    pos: u64,
    read: Arc<AtomicU64>,
}

impl ObjectReader {
    pub fn new(object: Arc<dyn Object>, read: Arc<AtomicU64>) -> Self {
        ObjectReader {
            object,
            pos: 0,
            read,
        }
    }
}

impl io::Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.object.read_at(buf, self.pos)?;
        self.pos += n as u64;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
