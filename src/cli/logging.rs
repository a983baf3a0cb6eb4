//! `-v` and `RUST_LOG`: the library logs its choices (backend, adapter,
//! threads, chunk size) with the `log` crate; this prints them on stderr.

use std::io::Write;

use crate::Global;

/// `RUST_LOG` wins when set (it also reaches wgpu's own logs, e.g.
/// `RUST_LOG=wgpu_hal=info`); otherwise `-v` shows our choices and warnings
/// are always shown.
pub fn init(global: Global) {
    let default = if global.verbose {
        "event_counter=info"
    } else if global.quiet {
        "event_counter=error"
    } else {
        "event_counter=warn"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(|out, record| {
            if record.target().starts_with("event_counter") {
                writeln!(out, "event-counter: {}", record.args())
            } else {
                let level = record.level();
                writeln!(
                    out,
                    "event-counter: [{level} {}] {}",
                    record.target(),
                    record.args()
                )
            }
        })
        .init();
}
