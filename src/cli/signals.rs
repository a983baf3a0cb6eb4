//! Ctrl-C, `kill` and a closed terminal: the temporary files of the outputs
//! being written are removed (a killed `generate` would leave one as large
//! as the size asked for), then the process exits as a shell expects of a
//! signal, with 128 + its number.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Starts the thread that waits for the signals; without it (it could not
/// be started) they keep their default action.
pub fn install() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                event_counter::output::remove_temporaries();
                std::process::exit(128 + signal);
            }
        });
}
