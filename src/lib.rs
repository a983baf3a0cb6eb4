//! event-counter counts events per region per day in CSV files of up to a
//! terabyte: on a GPU where there is one, and on every CPU core where there
//! is not.
//!
//! A byte takes this path through the modules:
//!
//! - [`input`]: where bytes come from (files, S3 ranges, gzip and zstd
//!   streams, shards), split into chunks of whole rows;
//! - [`format`](mod@format): the headers of every file, read and written in one place;
//! - [`scan`]: each row of a chunk becomes a key, or is counted as
//!   unmatched, blank or malformed, by the field rules of [`csv`], the
//!   region ids of [`regions`] and the dates of [`date`];
//! - [`histogram`]: the keys are counted, on the CPU or on a GPU
//!   ([`gpu`]); [`backend`] chooses which;
//! - [`output`]: the counts are decoded and written atomically.
//!
//! [`count`](mod@count) drives one run from end to end. Around it: [`generate`] makes
//! test data, [`merge`] adds up the results of shards (read back by
//! [`result_reader`]) and joins their rejects, and [`plot`] draws a result.
//!
//! A count hands back its groups, in the order of result.csv, without
//! writing a file; writing result.csv is one thing a caller may ask for
//! (`options.output`). The shipped sample, counted on the CPU:
//!
//! ```
//! use event_counter::input::InputSpec;
//! use event_counter::{count_groups, CountOptions, Engine};
//!
//! let mut options = CountOptions::new(
//!     InputSpec::parse("sample/region.csv"),
//!     vec![InputSpec::parse("sample/location.csv")],
//!     event_counter::output::Destination::Stdout,
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
//! into [`count::CountOptions`] and the [`Summary`] into text.

#![warn(missing_docs)]

pub mod backend;
pub mod cancel;
pub mod count;
pub mod csv;
pub mod date;
pub mod error;
pub mod figures;
pub mod format;
pub mod generate;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod histogram;
pub mod input;
pub mod merge;
pub mod output;
#[cfg(feature = "plot")]
pub mod plot;
pub mod progress;
pub mod regions;
pub mod reorder;
pub mod result_reader;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(not(feature = "s3"))]
#[path = "s3_off.rs"]
pub mod s3;
pub mod scan;
pub mod state;

pub use backend::{Backend, Engine};
pub use count::{count, count_groups, CountOptions, Counted, Summary};
pub use error::{Error, Result};
pub use output::Counts;
