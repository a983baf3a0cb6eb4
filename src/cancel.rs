//! Stopping a run from outside (Ctrl-C, `kill`): the program's signal
//! handler asks with [`request`], and a count's threads look between
//! chunks and stop as they would on an error. So a run that is stopped
//! drops its outputs as a failed run does: temporary files removed, S3
//! multipart uploads aborted (which a process that just exits leaves
//! open, billed until a lifecycle rule removes them).

use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::{Error, Result};

/// The signal that asked the run to stop; 0 while none has.
static REQUESTED: AtomicI32 = AtomicI32::new(0);

/// Asks every run of this process to stop, for `signal`.
pub fn request(signal: i32) {
    REQUESTED.store(signal, Ordering::Relaxed);
}

/// Fails with [`Error::Interrupted`] once a stop was asked for.
pub fn check() -> Result<()> {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => Ok(()),
        signal => Err(Error::Interrupted(signal)),
    }
}

/// Forgets a stop asked for, once the runs it stopped have ended: for a
/// program that goes on after it (a Python session whose count was
/// interrupted by Ctrl-C), so that its next run is not stopped too.
pub fn reset() {
    REQUESTED.store(0, Ordering::Relaxed);
}
