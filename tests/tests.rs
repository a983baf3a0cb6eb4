//! The integration tests: one binary (as ripgrep does), so the tree builds
//! one test executable instead of one per file, and every file shares
//! `util`. They run the real binary on real files, or the library on them,
//! and check every backend against a naive reference.

mod util;

mod agree;
mod count_cli;
mod deploy;
mod dirty_input;
mod event_times;
mod gpu_corpus;
mod gpu_shapes;
mod inputs;
mod limits;
mod no_header;
mod outputs;
#[cfg(feature = "s3")]
mod s3;
mod state;
mod tools_cli;
