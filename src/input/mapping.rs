//! Local files mapped into memory, safe against the file shrinking under
//! us.
//!
//! Local files are read with `pread` by default; mapping them is the
//! hidden `count --mmap`, kept for measuring the two on new machines.
//! Mapping saves the copy that `pread` makes (on 2 cores the copy alone is
//! most of the memchr floor: 0.17 s of kernel time per GiB), and on an AMD
//! EPYC VM it won by a little: 0.34 s against 0.39 s on one thread, 0.20 s
//! against 0.21 s on two, 1 GiB from the page cache. But on an Intel Xeon
//! VM (AVX-512), the same build and file took twice as long mapped: 0.41 s
//! against 0.19 s on two threads, 0.81 s against 0.37 s on one (five
//! interleaved runs each, every one alike), the scanning threads spending
//! three times the user time. `pread` copies with the kernel's fast string
//! moves into a buffer that stays in cache, and the scan then reads cache;
//! mapped, the scan's own loads wait on memory through 4 KiB pages. A loss
//! of 5% on one machine against a gain of 2x on another: `pread` it is.
//! On many cores mapping also made every core drop TLB entries when a view
//! let its pages go (a map per chunk lost 20% to `pread` at 16 threads).
//!
//! How, when asked. Each file is mapped once, whole ([`FileMap`]), and a
//! chunk is a view of it ([`Mapping`]): no chunk maps or unmaps anything,
//! which would take the process's address-space lock for writing, and the
//! pages come in by the kernel's fault-around, 64 KiB per fault, which
//! measured cheaper than asking for them all at once (`MAP_POPULATE`). A
//! view lets its pages go when dropped, so resident memory stays at the
//! chunks being read, not the file.
//!
//! Its one danger: if another process truncates the file while we read it,
//! touching a page past the new end raises SIGBUS, which kills the process
//! without a word. So while any mapping is alive, a SIGBUS handler looks at
//! the faulting address: inside one of our mappings, it maps a page of zeros
//! over it (the read then goes on, finding zeros) and notes that this
//! mapping's file shrank; the run checks the note after each chunk
//! ([`Mapping::shrank`]) and fails with a read error. A fault anywhere else
//! gets the default action, as it would without us. A file that cannot be
//! registered with the handler is not mapped at all, but read.

use std::ops::{Deref, Range};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};

/// A file mapped into memory, read-only, once; chunks are its views.
pub struct FileMap {
    map: memmap2::Mmap,
    /// Where it is registered for the SIGBUS handler.
    slot: usize,
}

impl FileMap {
    /// Maps the first `len` bytes of `file`; `None` if that fails, or if
    /// the SIGBUS handler has no room for it. Nothing is read in yet.
    pub fn new(file: &std::fs::File, len: usize) -> Option<Arc<FileMap>> {
        install_handler();
        // SAFETY: a private read-only mapping of a file we opened. If another
        // process writes the file while we read it, the bytes we see change,
        // as they would for any reader; if it shrinks the file, the SIGBUS
        // handler below turns the fault into zeros and a read error. We only
        // ever read the memory.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file) }.ok()?;
        let slot = register(map.as_ptr() as usize, map.len())?;
        Some(Arc::new(FileMap { map, slot }))
    }

    /// The view of bytes `range`.
    pub fn view(self: &Arc<Self>, range: Range<usize>) -> Mapping {
        assert!(range.start <= range.end && range.end <= self.map.len());
        Mapping {
            whole: self.clone(),
            range,
        }
    }
}

impl std::fmt::Debug for FileMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileMap({} bytes)", self.map.len())
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // Before the memory is unmapped (the field drops after this).
        let range = &RANGES[self.slot];
        range.end.store(0, Ordering::Release);
        range.shrank.store(false, Ordering::Release);
        range.start.store(0, Ordering::Release);
    }
}

/// A part of a mapped file, read-only: a view of its [`FileMap`].
pub struct Mapping {
    whole: Arc<FileMap>,
    range: Range<usize>,
}

impl Mapping {
    /// Whether the file shrank while this mapping was read: the bytes past
    /// its new end read as zeros, not the file's.
    pub fn shrank(&self) -> bool {
        RANGES[self.whole.slot].shrank.load(Ordering::Acquire)
    }
}

impl Deref for Mapping {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.whole.map[self.range.clone()]
    }
}

impl Drop for Mapping {
    /// Lets go of the pages wholly inside the view (a neighbour's view may
    /// share the pages at its ends). Dropped pages of a private file mapping
    /// are read from the file again if touched: nothing changes but the
    /// process's resident memory.
    fn drop(&mut self) {
        let page = page_size();
        let base = self.whole.map.as_ptr() as usize;
        let start = (base + self.range.start).next_multiple_of(page);
        let end = (base + self.range.end) & !(page - 1);
        if start < end {
            // SAFETY: advice on whole pages inside a mapping we own, which
            // changes what they cost, never what they read as.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
}

fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf is a plain system call.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize)
}

/// The SIGBUS action before ours, restored for faults that are not ours.
static PREVIOUS: OnceLock<SigAction> = OnceLock::new();

/// A saved `sigaction`, to keep in a static.
#[cfg(unix)]
struct SigAction(libc::sigaction);

// SAFETY: a plain C struct of a handler address, flags and a signal mask,
// only read after it is set once.
#[cfg(unix)]
unsafe impl Sync for SigAction {}
// SAFETY: as for Sync: plain data, no thread affinity.
#[cfg(unix)]
unsafe impl Send for SigAction {}

/// A live mapping's addresses (a free slot has `start` 0), and whether the
/// handler found its file shrunk.
struct Live {
    start: AtomicUsize,
    end: AtomicUsize,
    shrank: AtomicBool,
}

/// The live mappings: a fixed table, since the handler may neither lock
/// nor allocate. A file that finds no free slot is read, not mapped.
static RANGES: [Live; 1024] = [const {
    Live {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        shrank: AtomicBool::new(false),
    }
}; 1024];

fn register(start: usize, len: usize) -> Option<usize> {
    for (slot, range) in RANGES.iter().enumerate() {
        if range
            .start
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            range.end.store(start + len, Ordering::Release);
            return Some(slot);
        }
    }
    None
}

/// Installs the SIGBUS handler, once per process. It must be the
/// process's: a signal's action is, and a fault may come on any thread. It
/// stops no run and keeps no run's state (the live mappings are its table,
/// each run's note is its own mapping's); a fault outside them gets the
/// action that was there before.
fn install_handler() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        #[cfg(unix)]
        // SAFETY: installs a handler that only reads atomics and calls
        // mmap(2) (async-signal-safe in practice on Linux and the BSDs, and
        // what SIGBUS handlers over mapped files do); sa_mask is empty.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous);
            let _ = PREVIOUS.set(SigAction(previous));
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

#[cfg(unix)]
extern "C" fn on_sigbus(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers;
    // for SIGBUS si_addr is the faulting address.
    let address = unsafe { (*info).si_addr() } as usize;
    let ours = RANGES.iter().find(|range| {
        let (start, end) = (
            range.start.load(Ordering::Acquire),
            range.end.load(Ordering::Acquire),
        );
        start != 0 && (start..end).contains(&address)
    });
    // SAFETY: sysconf and mmap are plain system calls. MAP_FIXED replaces
    // exactly one page of a mapping of ours with zeros; the faulting read
    // then runs again and succeeds.
    unsafe {
        if let Some(range) = ours {
            let page = libc::sysconf(libc::_SC_PAGESIZE).max(4096) as usize;
            let at = address & !(page - 1);
            let filled = libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            );
            if filled != libc::MAP_FAILED {
                range.shrank.store(true, Ordering::Release);
                return;
            }
        }
        // Not ours (or no page could be put there): what would have
        // happened without this handler happens when the fault repeats.
        match PREVIOUS.get() {
            Some(previous) => libc::sigaction(libc::SIGBUS, &previous.0, std::ptr::null_mut()),
            None => libc::sigaction(libc::SIGBUS, std::ptr::null(), std::ptr::null_mut()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file truncated under its mapping reads as zeros past its new end,
    /// and says so, instead of killing the process.
    #[test]
    fn a_file_shrinking_under_its_mapping_is_noticed_not_fatal() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&vec![b'x'; 1 << 20]).unwrap();
        let mapping = FileMap::new(file.as_file(), 1 << 20)
            .unwrap()
            .view(0..1 << 20);
        assert_eq!(mapping[0], b'x');
        assert!(!mapping.shrank());
        file.as_file().set_len(4096).unwrap();
        let total: u64 = mapping.iter().map(|&b| u64::from(b)).sum();
        assert_eq!(total, 4096 * u64::from(b'x'));
        assert!(mapping.shrank());
    }
}
