//! The scanning threads: one pool over every input of the plan that the CPU
//! reads (all of them, but for the GPU backend's).
//!
//! Workers take chunks from any file (the first files that still have
//! chunks, and a few beyond while those are busy), so many compressed files,
//! each readable by one thread at a time, decompress on all cores at once.
//! Each chunk's report goes to the ledger, which puts the reports back in
//! file order; keys go straight to the worker's histogram sink. A job of
//! another kind (the GPU backend's files) can run beside the workers,
//! reporting to the same ledger.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};

use super::gate::{plan_order, Gate};
use super::ledger::Ledger;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::format::Layout;
use crate::histogram::{Histogram, KeySink};
use crate::input::{Chunk, ChunkBuf, ChunkSource, Next};
use crate::scan::{ChunkReport, ScanContext, ScanEvent, ScanJob, Scanner};

/// The scanning threads' work: the sources numbered `files` (of all the
/// plan's `sources`, laid out as `layouts` say), scanned on `threads`
/// threads into `histogram`.
pub(super) struct Pool<'a, 'b> {
    pub(super) context: &'a ScanContext<'b>,
    pub(super) sources: &'a [Box<dyn ChunkSource>],
    pub(super) files: &'a [usize],
    pub(super) layouts: &'a [Layout],
    pub(super) histogram: &'a dyn Histogram,
    pub(super) threads: usize,
    /// Stops the workers between chunks once a stop is asked for.
    pub(super) cancel: &'a CancelToken,
}

impl Pool<'_, '_> {
    /// Scans the files (and runs `job` beside them), booking each chunk's
    /// report in `ledger`. Returns the first error in file order.
    pub(super) fn scan(&self, job: Option<ScanJob<'_>>, ledger: &mut Ledger<'_>) -> Result<()> {
        scan(self, job, ledger)
    }
}

fn scan(pool: &Pool<'_, '_>, job: Option<ScanJob<'_>>, ledger: &mut Ledger<'_>) -> Result<()> {
    let Pool {
        context,
        sources,
        files,
        layouts,
        histogram,
        threads,
        cancel,
    } = *pool;
    let shared = Shared {
        cursor: Cursor::new(sources, files, threads),
        gate: Gate::new(),
        abort: AtomicBool::new(false),
        last_needed: AtomicU64::new(u64::MAX),
        cancel,
    };
    let (gate, abort) = (&shared.gate, &shared.abort);
    std::thread::scope(|scope| {
        let (messages, received) = mpsc::sync_channel::<ScanEvent>(threads * 4);
        let mut workers = Vec::new();
        if let Some(job) = job {
            let messages = messages.clone();
            let worker = std::thread::Builder::new()
                .name("gpu-parse".into())
                .spawn_scoped(scope, move || {
                    let send = |message: ScanEvent| {
                        if let ScanEvent::Chunk { file, report } = &message {
                            gate.admit(
                                plan_order(*file, report.seq),
                                report.part,
                                report.heap_bytes(),
                                abort,
                            );
                        }
                        messages.send(message).is_ok()
                    };
                    let result = job(&send, abort);
                    if result.is_err() {
                        abort.store(true, Ordering::Relaxed);
                    }
                    result
                })
                .map_err(|e| Error::Internal(format!("cannot start the GPU thread: {e}")))?;
            workers.push(worker);
        }
        let cpu_threads = if files.is_empty() { 0 } else { threads };
        for i in 0..cpu_threads {
            let sink = histogram.sink()?;
            let messages = messages.clone();
            let shared = &shared;
            let worker = std::thread::Builder::new()
                .name(format!("scan-{i}"))
                .spawn_scoped(scope, move || {
                    let result = work(context, shared, layouts, sink, &messages);
                    if result.is_err() {
                        abort.store(true, Ordering::Relaxed);
                    }
                    result
                })
                .map_err(|e| Error::Internal(format!("cannot start a scanning thread: {e}")))?;
            workers.push(worker);
        }
        drop(messages);
        let mut booked = Ok(());
        for message in received {
            if booked.is_ok() {
                booked = ledger.take(message, gate);
                if booked.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
            }
        }
        let mut result = booked;
        for worker in workers {
            let joined = worker
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("a scanning thread panicked".into())));
            // The ledger's error (the first bad row in file order) wins
            // over a worker's, which in turn wins over later ones.
            if result.is_ok() {
                result = joined;
            }
        }
        result
    })
}

/// What the scanning threads share besides the plan.
struct Shared<'a> {
    /// Where chunks come from.
    cursor: Cursor<'a>,
    /// The count's token, looked at before each chunk.
    cancel: &'a CancelToken,
    /// What holds reports back while the ledger is behind.
    gate: Gate,
    /// Set once any part of the run has failed.
    abort: AtomicBool,
    /// Once a chunk stops at a malformed row (`--strict`), no chunk after
    /// it in file order is needed: its place (see [`plan_order`]).
    last_needed: AtomicU64,
}

/// One scanning thread.
fn work(
    context: &ScanContext<'_>,
    shared: &Shared<'_>,
    layouts: &[Layout],
    mut sink: Box<dyn KeySink + '_>,
    messages: &SyncSender<ScanEvent>,
) -> Result<()> {
    let Shared {
        cursor,
        gate,
        abort,
        last_needed,
        cancel,
    } = shared;
    let mut scanner = Scanner::new(context, layouts[0]);
    let mut buf = ChunkBuf::default();
    let mut keys = Vec::new();
    while !abort.load(Ordering::Relaxed) {
        cancel.check()?;
        let Some((file, chunk)) = cursor.next(&mut buf, messages)? else {
            break;
        };
        let place = plan_order(file, chunk.seq);
        if place > last_needed.load(Ordering::Relaxed) {
            continue;
        }
        let mut report = ChunkReport {
            seq: chunk.seq,
            span: chunk.span,
            ..ChunkReport::default()
        };
        scanner.set_layout(layouts[file]);
        scanner.scan(buf.data(), chunk.range, &mut keys, &mut report)?;
        if buf.mapped.as_ref().is_some_and(|m| m.shrank()) {
            return Err(cursor.shrank(file));
        }
        if report.stopped {
            last_needed.fetch_min(place, Ordering::Relaxed);
        }
        // The bins are read after the keys were made, so they cover every
        // date in them.
        sink.add(&mut keys, context.keys.bins(context.dates.len()))?;
        gate.admit(place, 0, report.heap_bytes(), abort);
        if messages.send(ScanEvent::Chunk { file, report }).is_err() {
            break; // the ledger stopped: the run is failing
        }
    }
    sink.finish()
}

/// Hands out the chunks of the files it serves: from the first file that
/// still has some, or from a later one while that one is busy.
struct Cursor<'a> {
    sources: &'a [Box<dyn ChunkSource>],
    /// The files it serves (indices into `sources`), in order.
    files: &'a [usize],
    /// Every file before this one (in `files`) has answered `Next::End`.
    first_open: AtomicUsize,
    /// Per file of `files`: it answered `Next::End` and the ledger was told.
    ended: Vec<AtomicBool>,
    /// How many files, from the first open one, workers may read at once.
    window: usize,
}

impl<'a> Cursor<'a> {
    fn new(sources: &'a [Box<dyn ChunkSource>], files: &'a [usize], threads: usize) -> Self {
        Cursor {
            sources,
            files,
            first_open: AtomicUsize::new(0),
            ended: files.iter().map(|_| AtomicBool::new(false)).collect(),
            window: threads.max(1),
        }
    }

    /// The next chunk of any open file, read into `buf`, or `None` when
    /// every file is read. Tells the ledger of each file that ends.
    fn next(
        &self,
        buf: &mut ChunkBuf,
        messages: &SyncSender<ScanEvent>,
    ) -> Result<Option<(usize, Chunk)>> {
        // `at` counts the files it serves; `self.files[at]` is the file.
        loop {
            let first = self.first_open.load(Ordering::Acquire);
            if first >= self.files.len() {
                return Ok(None);
            }
            let mut busy = None;
            for at in first..(first + self.window).min(self.files.len()) {
                if self.ended[at].load(Ordering::Acquire) {
                    continue;
                }
                let file = self.files[at];
                match self.sources[file].next_chunk(buf, false)? {
                    Next::Chunk(chunk) => return Ok(Some((file, chunk))),
                    Next::Busy => {
                        busy.get_or_insert(at);
                    }
                    Next::End => self.end(at, messages),
                }
            }
            // Every open file is being read by another thread: wait for
            // the first one.
            if let Some(at) = busy {
                let file = self.files[at];
                match self.sources[file].next_chunk(buf, true)? {
                    Next::Chunk(chunk) => return Ok(Some((file, chunk))),
                    Next::End => self.end(at, messages),
                    Next::Busy => {} // not when asked to wait; look again
                }
            }
        }
    }

    /// The error for a file whose mapped chunk read zeros past its end.
    fn shrank(&self, file: usize) -> Error {
        Error::Read {
            path: self.sources[file].name().into(),
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ),
        }
    }

    /// Marks the `at`-th file it serves read to the end, tells the ledger
    /// how many chunks it had (once), and moves the first open file on.
    fn end(&self, at: usize, messages: &SyncSender<ScanEvent>) {
        if !self.ended[at].swap(true, Ordering::AcqRel) {
            let file = self.files[at];
            let chunks = self.sources[file].chunk_count();
            // A closed channel means the run is failing; nothing to tell.
            let _ = messages.send(ScanEvent::End { file, chunks });
        }
        let mut first = self.first_open.load(Ordering::Acquire);
        while first < self.files.len() && self.ended[first].load(Ordering::Acquire) {
            first = match self.first_open.compare_exchange(
                first,
                first + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => first + 1,
                Err(now) => now,
            };
        }
    }
}
