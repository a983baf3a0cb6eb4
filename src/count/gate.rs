//! The gate between the scanning threads and the ledger: it bounds the
//! memory of the chunk reports sent but not booked yet.
//!
//! With `--rejects`, a chunk of bad rows reports every row's text and
//! reason, several times the chunk's size; reports that wait in the ledger
//! for one before them, or in its channel, once took 440 MB for a 200 MB
//! file of bad rows. A sender waits while the reports in flight hold more
//! than the budget, unless its report is the one the ledger needs next
//! (the ledger can always take that one, so no sender waits for itself)
//! or nothing is in flight. Clean data never waits: its reports are tiny.
//! A chunk reported in parts (the GPU backend's) is let through a part at
//! a time: all of them at once would be the whole chunk's rows again.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Bytes of reports that may wait for the ledger: a few chunks' worth of
/// bad rows.
const BUDGET: usize = 16 << 20;

/// A chunk's place in the whole plan, for "is it after that one", "is it
/// the next": the file's index in the high 24 bits, the chunk's in the
/// low 40 (a terabyte in one-byte chunks).
pub(super) fn plan_order(file: usize, seq: u64) -> u64 {
    ((file as u64) << 40) | seq.min((1 << 40) - 1)
}

/// See the module's documentation.
pub(super) struct Gate {
    /// Bytes of the reports sent and not booked.
    in_flight: Mutex<usize>,
    changed: Condvar,
    /// The place of the report the ledger books next, and its part.
    next: AtomicU64,
    next_part: AtomicU32,
}

impl Gate {
    pub(super) fn new() -> Self {
        Gate {
            in_flight: Mutex::new(0),
            changed: Condvar::new(),
            next: AtomicU64::new(0),
            next_part: AtomicU32::new(0),
        }
    }

    /// Waits until a report of `bytes` at `place` (part `part` of it) may
    /// go to the ledger (or the run is failing), and counts it in.
    pub(super) fn admit(&self, place: u64, part: u32, bytes: usize, abort: &AtomicBool) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        while *in_flight > 0
            && *in_flight + bytes > BUDGET
            && !self.is_next(place, part)
            && !abort.load(Ordering::Relaxed)
        {
            // A timeout too, to look at `abort`, which nothing signals.
            in_flight = self
                .changed
                .wait_timeout(in_flight, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *in_flight += bytes;
    }

    /// The ledger booked a report of `bytes`.
    pub(super) fn release(&self, bytes: usize) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *in_flight = in_flight.saturating_sub(bytes);
        self.changed.notify_all();
    }

    fn is_next(&self, place: u64, part: u32) -> bool {
        // Read under the lock `set_next` takes: the pair is consistent.
        place == self.next.load(Ordering::Acquire) && part == self.next_part.load(Ordering::Acquire)
    }

    /// The ledger books the report at `place` (part `part` of it) next.
    pub(super) fn set_next(&self, place: u64, part: u32) {
        let _in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let was = self.next.swap(place, Ordering::AcqRel);
        let was_part = self.next_part.swap(part, Ordering::AcqRel);
        if (was, was_part) != (place, part) {
            self.changed.notify_all();
        }
    }
}
