//! event-counter counts events per region per day in CSV files of up to a
//! terabyte: on a GPU where there is one, and on every CPU core where there
//! is not.
//!
//! [`count`] (or [`count_groups`], which hands the counts back) runs one
//! count from the [`CountOptions`] and an [`Engine`] set up for a
//! [`Backend`]; [`options`] holds what its fields are made of. Around it:
//! [`generate()`] makes test data, [`merge()`] adds up the results of shards
//! and joins their rejects, `plot` draws a result (the `plot` feature), and
//! [`adapters`] lists the GPUs a count may use (the `gpu` feature). Every
//! failure is an [`Error`] of an [`ErrorKind`].
//!
//! A count hands back its groups, in the order of result.csv, without
//! writing a file; writing result.csv is one thing a caller may ask for
//! (`options.output`). The shipped sample, counted on the CPU:
//!
//! ```
//! use event_counter::options::{Destination, InputSpec};
//! use event_counter::{count_groups, CountOptions, Engine};
//!
//! let mut options = CountOptions::new(
//!     InputSpec::parse("sample/region.csv"),
//!     vec![InputSpec::parse("sample/location.csv")],
//!     Destination::Stdout,
//! );
//! options.output = None; // hand the counts back only
//! let counted = count_groups(&options, &Engine::Cpu, &())?;
//! for (region, date, count) in counted.counts.rows().take(3) {
//!     println!("{region} {date} {count}");
//! }
//! assert_eq!(counted.counts.len(), counted.summary.groups);
//! # Ok::<(), event_counter::Error>(())
//! ```
//!
//! The library knows nothing of the command line: `src/cli/` turns flags
//! into [`CountOptions`] and the [`Summary`] into text.
//!
//! Inside, a byte takes this path through the (private) modules: `input`
//! (files, S3 ranges, gzip and zstd streams, shards, split into chunks of
//! whole rows), `format` (every header, read and written in one place),
//! `scan` (each row becomes a key, or is counted as unmatched, blank or
//! malformed, by the field rules of `csv`, the region ids of `regions` and
//! the dates of `date`), `histogram` (the keys counted, on the CPU or on a
//! GPU, `gpu`; `backend` chooses which), `output` (the counts decoded and
//! written atomically). `count` drives one run from end to end.

#![warn(missing_docs)]
// The internals are public with `testing` only for this package's tests:
// the lint's `is_empty` is for an API's users, and they have none.
#![cfg_attr(feature = "testing", allow(clippy::len_without_is_empty))]

/// Declares the library's inner modules: private, so that the API is the
/// facade below; with the `testing` feature (on for this package's own
/// tests and benches, never in a release build; see Cargo.toml) public but
/// hidden from the docs, so that tests/ and benches/ reach the internals
/// they judge (the scanner, the histograms, the GPU's faults) by their
/// paths, `event_counter::scan::Scanner`.
macro_rules! internal {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(feature = "testing")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "testing"))]
        mod $name;
    )*};
}

internal! {
    backend;
    cancel;
    count;
    csv;
    date;
    error;
    figures;
    format;
    generate;
    #[cfg(feature = "gpu")]
    gpu;
    histogram;
    input;
    merge;
    output;
    #[cfg(feature = "plot")]
    plot;
    progress;
    regions;
    reorder;
    result_reader;
    #[cfg(feature = "s3")]
    s3;
    #[cfg(not(feature = "s3"))]
    #[path = "s3_off.rs"]
    s3;
    scan;
    state;
}

pub use backend::{Backend, Engine, Reason, Selection};
pub use cancel::CancelToken;
pub use count::{count, count_groups, CountOptions, Counted};
pub use date::{day_number, tzdb_version};
pub use error::{Error, ErrorKind, Result};
pub use generate::{generate, Generated};
pub use merge::{merge, Merged};
pub use output::Counts;
#[cfg(feature = "plot")]
pub use plot::plot;
pub use progress::Progress;

/// What a count did: [`Summary`] and the parts it is made of.
pub mod summary {
    pub use crate::count::summary::{NoHeader, Outputs, Summary, Timings};
    pub use crate::figures::{DeviceTime, GpuFigures};
    pub use crate::scan::{MalformedKind, RowOutcomes};
}
pub use summary::Summary;

/// What the fields of [`CountOptions`] and [`GenerateOptions`](options::GenerateOptions)
/// are made of, and the parsers that read them from text the way the
/// command line and Python do.
pub mod options {
    pub use crate::count::{Threshold, Thresholds, MAX_THREADS};
    pub use crate::date::{Epoch, EventTimes, Zone};
    pub use crate::format::{parse_columns, parse_delimiter, Column, LocationFormat, RegionFormat};
    pub use crate::generate::{parse_size, GenerateOptions, ROWS_PER_BLOCK};
    #[cfg(feature = "gpu")]
    pub use crate::gpu::GpuOptions;
    pub use crate::histogram::FoldInterval;
    pub use crate::input::{check_data_dir, data_dir_locations, InputSpec, Split};
    pub use crate::output::Destination;
    pub use crate::state::StateOptions;
}

/// The GPU adapters a count may use, which one `auto` takes, and a device
/// opened on one ([`adapters::GpuContext`], for [`Engine::Gpu`] and
/// [`Engine::GpuKeys`]).
#[cfg(feature = "gpu")]
pub mod adapters {
    pub use crate::backend::AutoGpu;
    pub use crate::gpu::device::{auto_choice, best, candidates, AutoChoice, Candidate, Search};
    pub use crate::gpu::GpuContext;
}

/// What a front end (the command line, a Python package) needs beyond
/// counting: the process-wide registries that a signal handler drains
/// before the process exits (outputs being put in place, temporary files,
/// open S3 uploads; a count that is cancelled through its
/// [`CancelToken`] drains its own), the error for a standard output that
/// was closed when the process started, and a small file written
/// atomically.
///
/// The library keeps no other process state, with one exception: a count
/// with `map_files` set (the hidden `--mmap`) installs, once per process, a
/// SIGBUS handler that turns a mapped file shrinking under the count into a
/// read error of that count, where the default action would kill the
/// process. A signal's action belongs to the process, so it cannot be a
/// count's; faults outside the count's mappings get the action that was
/// there before (see `src/input/mapping.rs`).
pub mod process {
    pub use crate::output::{remove_temporaries, stdout_closed, stop_commits, write_file, Stopped};
    pub use crate::s3::open_uploads;
}
