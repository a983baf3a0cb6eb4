//! Long-lived reader threads that read pieces of a chunk straight into the
//! device's mapped staging memory, all of them at once.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::spawn;
use crate::error::{Error, Result};
use crate::figures::GpuFigures;
use crate::input::Object;

/// A piece of file to read into staging memory: `len` bytes at `address`.
struct ReadJob {
    object: Arc<dyn Object>,
    offset: u64,
    address: usize,
    len: usize,
}

/// Long-lived reader threads: a chunk is read by all of them at once.
/// They end when it is dropped, which closes their queue.
pub(super) struct Readers {
    jobs: Sender<ReadJob>,
    done: Receiver<Result<()>>,
    threads: usize,
}

impl Readers {
    pub(super) fn new<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        threads: usize,
        figures: &'scope Mutex<GpuFigures>,
    ) -> Result<Readers> {
        let (jobs, queue) = mpsc::channel::<ReadJob>();
        let (report, done) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            let report = report.clone();
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
                // chunk do not overlap), valid for writes until the
                // feeder has heard back from every piece: it keeps the
                // view alive until then (`Readers::read`). It is only
                // written, by the kernel's read into it, never read.
                let bytes =
                    unsafe { std::slice::from_raw_parts_mut(job.address as *mut u8, job.len) };
                let result = job.object.read_exact_at(bytes, job.offset);
                if report.send(result).is_err() {
                    return Ok(());
                }
            })?;
        }
        Ok(Readers {
            jobs,
            done,
            threads,
        })
    }

    /// Reads `view.len()` bytes of `object` from `offset` into `view`, on
    /// every reader at once; returns once all of them are done.
    pub(super) fn read(
        &self,
        object: &Arc<dyn Object>,
        offset: u64,
        view: &mut wgpu::WriteOnly<'_, [u8]>,
    ) -> Result<()> {
        let len = view.len();
        let per_thread = len.div_ceil(self.threads).max(1 << 20);
        let jobs = &self.jobs;
        let mut sent = 0;
        let mut at = 0;
        let base = view.as_raw_element_ptr().as_ptr() as usize;
        while at < len {
            let take = per_thread.min(len - at);
            jobs.send(ReadJob {
                object: object.clone(),
                offset: offset + at as u64,
                address: base + at,
                len: take,
            })
            .map_err(|_| Error::Internal("the reading threads stopped".into()))?;
            sent += 1;
            at += take;
        }
        let mut result = Ok(());
        for _ in 0..sent {
            let got = self
                .done
                .recv()
                .map_err(|_| Error::Internal("a reading thread stopped".into()))?;
            result = result.and(got);
        }
        result
    }
}
