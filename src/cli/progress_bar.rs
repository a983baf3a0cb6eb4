//! The progress bar on stderr, shown only when stderr is a terminal and
//! `-q` was not given: bytes done of the total, speed, rows and time left.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

use event_counter::Progress;

use crate::Global;

pub struct Bar {
    bar: ProgressBar,
    rows: AtomicU64,
}

impl Bar {
    /// A bar if one should be drawn, else `None`. `verb` says what the
    /// rows are doing ("counted", "written").
    pub fn new(global: Global, verb: &'static str) -> Option<Bar> {
        if global.quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {wide_bar} {decimal_bytes}/{decimal_total_bytes} \
                 {decimal_bytes_per_sec} {msg} ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("0 rows {verb}"));
        bar.set_prefix(verb);
        if let Ok(mut shown) = SHOWN.lock() {
            *shown = Some(bar.clone());
        }
        Some(Bar {
            bar,
            rows: AtomicU64::new(0),
        })
    }

    /// Removes the bar, so that the summary takes its place.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
        if let Ok(mut shown) = SHOWN.lock() {
            shown.take();
        }
    }
}

/// The bar on the terminal, for the signal handler's thread to clear.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Clears the bar being shown, if any, so that a line printed after it
/// starts on a clean line; says whether there was one.
pub fn clear_shown() -> bool {
    match SHOWN.lock().ok().and_then(|mut shown| shown.take()) {
        Some(bar) => {
            bar.finish_and_clear();
            true
        }
        None => false,
    }
}

impl Progress for Bar {
    fn start(&self, total_bytes: Option<u64>) {
        if let Some(total) = total_bytes {
            self.bar.set_length(total);
        }
        self.bar.reset_elapsed();
        // Redraw even while no chunk completes, so a slow start (a cold
        // disk, a GPU compiling its shader) still shows the bar moving.
        self.bar.enable_steady_tick(Duration::from_millis(250));
    }

    fn advance(&self, bytes: u64, rows: u64) {
        let rows = self.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        self.bar.inc(bytes);
        self.bar
            .set_message(format!("{} rows {}", HumanCount(rows), self.bar.prefix()));
    }
}

/// The bar as a [`Progress`], or nothing.
pub fn as_progress(bar: &Option<Bar>) -> &dyn Progress {
    match bar {
        Some(bar) => bar,
        None => &(),
    }
}
