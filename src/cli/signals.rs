//! Ctrl-C, `kill`, a closed terminal and the other signals that end a
//! process: outputs being put in place are let finish (so that new and old
//! are never mixed), the temporary files of the outputs being written are
//! removed (a killed `generate` would leave one as large as the size asked
//! for) with the folders made for them, S3 uploads are aborted, then the
//! process exits as a shell expects of a signal, with 128 + its number.

use std::time::{Duration, Instant};

use signal_hook::consts::{
    SIGALRM, SIGHUP, SIGINT, SIGPROF, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGVTALRM, SIGXCPU,
    SIGXFSZ,
};
use signal_hook::iterator::Signals;

use std::sync::OnceLock;

use event_counter::process::{self, Stopped};
use event_counter::CancelToken;

/// The token of the command's run: the command line runs one command per
/// process, so one token serves it, and a signal stops that run. (The
/// library has no process-wide token: each count carries its own.)
pub fn token() -> &'static CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN.get_or_init(CancelToken::new)
}

/// How long an open S3 upload may take to be aborted before the process
/// exits anyway (it is then left to the bucket's lifecycle rule).
const ABORT_WAIT: Duration = Duration::from_secs(10);

/// How long outputs being put in place may take to finish before the
/// process exits anyway: renames take milliseconds, but completing an S3
/// upload may hang.
const COMMIT_WAIT: Duration = Duration::from_secs(30);

/// Starts the thread that waits for the signals; without it (it could not
/// be started) they keep their default action. SIGPIPE is not among them:
/// Rust ignores it, and a closed pipe is an error where it is written.
pub fn install() {
    let ending = [
        SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU,
        SIGXFSZ,
    ];
    let Ok(mut signals) = Signals::new(ending) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // The run stops between chunks and drops its outputs,
                // which aborts the uploads; files are removed here too, in
                // case it is blocked (reading a pipe, say).
                token().cancel(signal);
                let asked = Instant::now();
                while process::open_uploads() > 0 && asked.elapsed() < ABORT_WAIT {
                    std::thread::sleep(Duration::from_millis(20));
                }
                // Outputs being put in place are let finish, so that old
                // and new are never mixed; none is put in place after.
                let stopped = process::stop_commits(COMMIT_WAIT);
                process::remove_temporaries();
                // On a terminal, a line in place of the bar: what happened
                // to the files. Without a bar (-q, piped stderr) a script
                // has the exit code.
                if super::progress_bar::clear_shown() {
                    eprintln!(
                        "event-counter: interrupted: {}",
                        match stopped {
                            Stopped::NothingPlaced =>
                                "nothing was written, and older files are as they were",
                            Stopped::Placed => "once the outputs were in place: they are complete",
                            Stopped::StillPlacing =>
                                "while the outputs were put in place, which did not finish: \
                                 some may be new and some old",
                        }
                    );
                }
                std::process::exit(128 + signal);
            }
        });
}
