//! Parts of local files mapped into memory, safe against the file shrinking
//! under us.
//!
//! Mapping a chunk instead of copying it saves about a fifth of a count's
//! CPU time. Its one danger: if another process truncates the file while we
//! read it, touching a page past the new end raises SIGBUS, which kills the
//! process without a word. So while any mapping is alive, a SIGBUS handler
//! looks at the faulting address: inside one of our mappings, it maps a page
//! of zeros over it (the read then goes on, finding zeros) and notes that
//! this mapping's file shrank; the run checks the note after each chunk
//! ([`Mapping::shrank`]) and fails with a read error. A fault anywhere else gets the default action,
//! as it would without us.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// A part of a file mapped into memory, read-only.
pub struct Mapping {
    map: memmap2::Mmap,
    /// Where it is registered for the SIGBUS handler, if it is.
    slot: Option<usize>,
}

impl Mapping {
    /// Maps `len` bytes of `file` from `offset`, or `None` if that fails.
    pub fn new(file: &std::fs::File, offset: u64, len: usize) -> Option<Mapping> {
        install_handler();
        // SAFETY: a private read-only mapping of a file we opened. If another
        // process writes the file while we read it, the bytes we see change,
        // as they would for any reader; if it shrinks the file, the SIGBUS
        // handler below turns the fault into zeros and a read error. We only
        // ever read the memory. `populate` reads the pages in at once
        // instead of faulting on each.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .populate()
                .map(file)
        }
        .ok()?;
        let slot = register(map.as_ptr() as usize, map.len());
        Some(Mapping { map, slot })
    }

    /// Whether the file shrank while this mapping was read: the bytes past
    /// its new end read as zeros, not the file's.
    pub fn shrank(&self) -> bool {
        self.slot
            .is_some_and(|slot| RANGES[slot].shrank.load(Ordering::Acquire))
    }
}

impl Deref for Mapping {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            // Before the memory is unmapped (the field drops after this).
            let range = &RANGES[slot];
            range.end.store(0, Ordering::Release);
            range.shrank.store(false, Ordering::Release);
            range.start.store(0, Ordering::Release);
        }
    }
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
#[cfg(unix)]
unsafe impl Send for SigAction {}

/// A live mapping's addresses (a free slot has `start` 0), and whether the
/// handler found its file shrunk.
struct Range {
    start: AtomicUsize,
    end: AtomicUsize,
    shrank: AtomicBool,
}

/// The live mappings: a fixed table, since the handler may neither lock
/// nor allocate. A mapping that finds no free slot is simply not protected.
static RANGES: [Range; 1024] = [const {
    Range {
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
        let mapping = Mapping::new(file.as_file(), 0, 1 << 20).unwrap();
        assert_eq!(mapping[0], b'x');
        assert!(!mapping.shrank());
        file.as_file().set_len(4096).unwrap();
        let total: u64 = mapping.iter().map(|&b| u64::from(b)).sum();
        assert_eq!(total, 4096 * u64::from(b'x'));
        assert!(mapping.shrank());
    }
}
