//! event-counter counts events per region per day in CSV files of up to a
//! terabyte: the histogram runs on a GPU where there is one, and on every CPU
//! core where there is not.
//!
//! The data flows through the modules in this order:
//!
//! - [`input`]: the location file, split into chunks of whole rows;
//! - [`scan`]: each row of a chunk becomes a key (or is counted as unmatched,
//!   blank or malformed), using the field rules of [`csv`];
//! - [`dict`]: the region and date dictionaries that make keys dense `u32`s;
//! - [`histogram`]: counts the keys, on the CPU or on the GPU ([`device`]
//!   finds the adapter);
//! - [`output`]: decodes the bins and writes result.csv atomically.
//!
//! [`count`] drives one run from end to end. Around it: [`generate`] makes
//! test data, [`merge`] adds up the results of shards (read back by
//! [`results`]), and [`plot`] draws a result.

pub mod count;
pub mod csv;
pub mod device;
pub mod dict;
pub mod error;
pub mod generate;
pub mod histogram;
pub mod input;
pub mod merge;
pub mod output;
pub mod plot;
pub mod progress;
pub mod reorder;
pub mod results;
pub mod scan;

pub use count::{count, BackendChoice, CountOptions, Engine, Summary};
pub use error::{Error, Result};
