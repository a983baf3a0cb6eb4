//! Long-lived reader threads that read pieces of chunks straight into the
//! device's mapped staging memory: the pieces of every chunk the feeder
//! has started, in order, so that no reader waits for the others to finish
//! a chunk before it starts on the next one.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::spawn;
use crate::error::{Error, Result};
use crate::figures::GpuFigures;
use crate::input::Object;

/// A piece of file to read into staging memory: `len` bytes at `address`;
/// how it went goes to `done`.
struct ReadJob {
    object: Arc<dyn Object>,
    offset: u64,
    address: usize,
    len: usize,
    done: Sender<Result<()>>,
}

/// Long-lived reader threads: a chunk is read by all of them at once, and
/// the next chunk's pieces queue behind its own. They end when this is
/// dropped, which closes their queue.
pub(super) struct Readers {
    jobs: Sender<ReadJob>,
    threads: usize,
}

/// A chunk's read, started: its pieces, in the readers' queue or being
/// read.
pub(super) struct Pending {
    pieces: usize,
    done: Receiver<Result<()>>,
}

impl Pending {
    /// Waits for every piece; the first error, if any.
    pub(super) fn wait(&mut self) -> Result<()> {
        let mut result = Ok(());
        while self.pieces > 0 {
            let got = self
                .done
                .recv()
                .map_err(|_| Error::Internal("a reading thread stopped".into()))?;
            self.pieces -= 1;
            result = result.and(got);
        }
        result
    }
}

impl Readers {
    pub(super) fn new<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        threads: usize,
        figures: &'scope Mutex<GpuFigures>,
    ) -> Result<Readers> {
        let (jobs, queue) = mpsc::channel::<ReadJob>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            spawn(scope, format!("gpu-read-{i}"), move || loop {
                let idle = Instant::now();
                let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(job) = job else { return Ok(()) };
                // The wait before the run's last piece is not counted: the
                // queue closes only when the feeder is done.
                figures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reader_idle += idle.elapsed();
                // SAFETY: `address..address + len` is this job's own
                // piece of the mapped staging memory (the pieces of a
                // chunk do not overlap, nor do the chunks' staging
                // buffers), valid for writes until the feeder has heard
                // back from every piece: it keeps the view, and the
                // buffer mapped, until then (`Pending::wait`, which a
                // staged chunk also waits for when it is dropped). It is
                // only written, by the kernel's read into it, never read.
                let bytes =
                    unsafe { std::slice::from_raw_parts_mut(job.address as *mut u8, job.len) };
                let result = job.object.read_exact_at(bytes, job.offset);
                // The feeder may have stopped listening: nothing to tell.
                let _ = job.done.send(result);
            })?;
        }
        Ok(Readers { jobs, threads })
    }

    /// Starts reading `view.len()` bytes of `object` from `offset` into
    /// `view`, in pieces for every reader at once, behind the pieces of
    /// chunks started before. The caller must keep the view's memory
    /// mapped until the read is waited for.
    pub(super) fn start(
        &self,
        object: &Arc<dyn Object>,
        offset: u64,
        view: &mut wgpu::WriteOnly<'_, [u8]>,
    ) -> Result<Pending> {
        let len = view.len();
        let per_thread = len.div_ceil(self.threads).max(1 << 20);
        let (done, pending) = mpsc::channel();
        let mut sent = 0;
        let mut at = 0;
        let base = view.as_raw_element_ptr().as_ptr() as usize;
        while at < len {
            let take = per_thread.min(len - at);
            let job = ReadJob {
                object: object.clone(),
                offset: offset + at as u64,
                address: base + at,
                len: take,
                done: done.clone(),
            };
            if self.jobs.send(job).is_err() {
                // What was sent may still be read: wait for it before
                // failing (its senders are the only ones left).
                drop(done);
                let _ = Pending {
                    pieces: sent,
                    done: pending,
                }
                .wait();
                return Err(Error::Internal("the reading threads stopped".into()));
            }
            sent += 1;
            at += take;
        }
        Ok(Pending {
            pieces: sent,
            done: pending,
        })
    }
}
