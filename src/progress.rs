//! How long jobs tell the outside world that they are moving.
//!
//! The library only reports; the command line turns the reports into a
//! progress bar when stderr is a terminal.

/// Told how a long job advances. Called from several threads.
pub trait Progress: Sync {
    /// The job starts; `total_bytes` is its size if known.
    fn start(&self, _total_bytes: Option<u64>) {}

    /// `bytes` more input read (or output written), holding `rows` rows.
    fn advance(&self, _bytes: u64, _rows: u64) {}
}

/// No progress reporting.
impl Progress for () {}
