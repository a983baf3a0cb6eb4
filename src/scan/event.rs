//! What a scanner tells the count's ledger as it goes, and the shape of a
//! job that scans beside the CPU's pool: one message type for every
//! scanner (the pool's workers and the GPU backend's feed), so the ledger
//! books them all alike.

use std::sync::atomic::AtomicBool;

use super::ChunkReport;
use crate::error::Result;

/// What a scanner tells the ledger, from any thread.
#[derive(Debug)]
pub enum ScanEvent {
    /// Chunk `report.seq` (or a part of it: see
    /// [`ChunkReport::more_parts`]) of the plan's file `file` is scanned.
    Chunk {
        /// The file's index in the plan.
        file: usize,
        /// What its scan found.
        report: ChunkReport,
    },
    /// File `file` has `chunks` chunks in all.
    End {
        /// The file's index in the plan.
        file: usize,
        /// How many reports to expect from it.
        chunks: u64,
    },
}

/// A job to run beside the pool's workers (the GPU backend's files): given
/// a way to send the ledger its events (which answers `false` once the
/// ledger has stopped) and the flag that is set once any part of the run
/// has failed.
pub type ScanJob<'a> =
    Box<dyn FnOnce(&(dyn Fn(ScanEvent) -> bool + Sync), &AtomicBool) -> Result<()> + Send + 'a>;
