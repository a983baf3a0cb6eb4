//! Stopping a count from outside (Ctrl-C, `kill`): each run carries a
//! [`CancelToken`]; whoever may stop it (the command line's signal thread,
//! the Python binding's wait for Ctrl-C) holds a clone and calls
//! [`CancelToken::cancel`], and the run's threads look between chunks and
//! stop as they would on an error. So a run that is stopped drops its
//! outputs as a failed run does: temporary files removed, S3 multipart
//! uploads aborted (which a process that just exits leaves open, billed
//! until a lifecycle rule removes them).
//!
//! A token belongs to the runs it was given to, never to the process: two
//! counts in two threads of one Python session, each with its own token,
//! are stopped one without the other.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// A handle to ask a run to stop; clones share the request. A new token
/// (or [`Default`]) has been asked nothing.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    /// The signal that asked the run to stop; 0 while none has.
    signal: Arc<AtomicI32>,
}

impl CancelToken {
    /// A token nobody has asked to stop yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the runs holding this token to stop, for `signal` (which
    /// [`Error::Interrupted`] carries; 2 for Ctrl-C). A later request
    /// keeps the first signal.
    pub fn cancel(&self, signal: i32) {
        let _ = self
            .signal
            .compare_exchange(0, signal, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The signal a stop was asked for with, if one was.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::Relaxed) {
            0 => None,
            signal => Some(signal),
        }
    }

    /// Fails with [`Error::Interrupted`] once a stop was asked for.
    pub fn check(&self) -> Result<()> {
        match self.signal() {
            None => Ok(()),
            Some(signal) => Err(Error::Interrupted(signal)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CancelToken;
    use crate::error::Error;

    #[test]
    fn a_token_stops_only_the_runs_that_hold_it() {
        let one = CancelToken::new();
        let other = CancelToken::new();
        let clone = one.clone();
        clone.cancel(15);
        one.cancel(2);
        assert!(matches!(one.check(), Err(Error::Interrupted(15))));
        assert_eq!(clone.signal(), Some(15));
        assert!(other.check().is_ok());
    }
}
