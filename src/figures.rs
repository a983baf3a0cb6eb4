//! Figures a backend reports beyond the rows: where the GPU backend's time
//! and bytes went, for `--stats-json` and `-v`, so that a run that handed
//! its rows back to the CPU, or waited on its reads, says so.

use std::time::Duration;

/// What the GPU backend (`--backend gpu`) did in one count.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GpuFigures {
    /// Rows the device parsed and counted itself.
    pub rows_on_device: u64,
    /// Rows it handed back to the host's exact parser (malformed,
    /// unmatched, not in the one form the shader reads, long, or in a
    /// block that could not keep its keys or find its pages).
    pub rows_handed_back: u64,
    /// Chunks whose list of rows handed back overflowed, counted on the
    /// CPU instead.
    pub chunks_on_cpu: u64,
    /// Chunks submitted to the device (a chunk's later rounds, after a
    /// fold, not counted again).
    pub chunks: u64,
    /// Small files that shared chunks with their neighbours.
    pub files_packed: u64,
    /// Bytes of files copied to the device.
    pub bytes_uploaded: u64,
    /// Bytes the host read again to judge rows handed back and chunks
    /// counted on the CPU.
    pub bytes_reread: u64,
    /// Times the bins were read back into the run's totals and freed (the
    /// last one, at the end, included).
    pub folds: u64,
    /// Pages of bins read back by those folds.
    pub pages_read_back: u64,
    /// Blocks that waited for a page and were parsed again.
    pub blocks_reparsed: u64,
    /// Blocks that found no room for their pages and waited for a fold,
    /// counted in their chunk's next round (once per round they waited).
    pub blocks_deferred: u64,
    /// Opening the device, and the wait for its pipelines, which compile
    /// on a thread of their own while the count plans its inputs.
    pub open: Duration,
    /// The feeder waiting for chunks to be read into the device's staging
    /// memory (reading ahead, into every free slot, goes on meanwhile).
    pub upload: Duration,
    /// Waiting for the device to finish chunks.
    pub wait: Duration,
    /// Reading the bins back.
    pub readback: Duration,
    /// Judging the rows handed back, and counting chunks on the CPU.
    pub judge: Duration,
    /// The feeder waiting for a free slot of the ring (the device behind).
    pub feeder_wait: Duration,
    /// Reader threads waiting for a piece to read, summed over them.
    pub reader_idle: Duration,
    /// The device's own time on the chunks, by its clock. None where the
    /// adapter cannot write timestamps between commands.
    pub device: Option<DeviceTime>,
}

/// The device's time on chunks, by its own clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceTime {
    /// Copying them from staging memory to the device's buffers.
    pub copy: Duration,
    /// Their passes.
    pub passes: Duration,
}

impl std::ops::AddAssign for DeviceTime {
    fn add_assign(&mut self, other: DeviceTime) {
        self.copy += other.copy;
        self.passes += other.passes;
    }
}

impl GpuFigures {
    /// The figures as the `gpu` object of `--stats-json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "rows_on_device": self.rows_on_device,
            "rows_handed_back": self.rows_handed_back,
            "chunks_on_cpu": self.chunks_on_cpu,
            "chunks": self.chunks,
            "files_packed": self.files_packed,
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_reread": self.bytes_reread,
            "folds": self.folds,
            "pages_read_back": self.pages_read_back,
            "blocks_reparsed": self.blocks_reparsed,
            "blocks_deferred": self.blocks_deferred,
            "open_seconds": self.open.as_secs_f64(),
            "upload_seconds": self.upload.as_secs_f64(),
            "wait_seconds": self.wait.as_secs_f64(),
            "readback_seconds": self.readback.as_secs_f64(),
            "judge_seconds": self.judge.as_secs_f64(),
            "feeder_wait_seconds": self.feeder_wait.as_secs_f64(),
            "reader_idle_seconds": self.reader_idle.as_secs_f64(),
            "device_copy_seconds": self.device.map(|t| t.copy.as_secs_f64()),
            "device_pass_seconds": self.device.map(|t| t.passes.as_secs_f64()),
        })
    }
}

impl std::fmt::Display for GpuFigures {
    /// One line, for `-v`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows counted on the device, {} handed back; {} chunks ({} counted on the CPU), \
             {} small files sharing them; {} bytes uploaded, {} read again; {} folds, {} pages read back, {} blocks \
             reparsed, {} deferred to a fold; seconds: open {:.3}, upload {:.3}, wait {:.3}, read back {:.3}, \
             judge {:.3}, feeder wait {:.3}, reader idle {:.3}; on the device: {}",
            self.rows_on_device,
            self.rows_handed_back,
            self.chunks,
            self.chunks_on_cpu,
            self.files_packed,
            self.bytes_uploaded,
            self.bytes_reread,
            self.folds,
            self.pages_read_back,
            self.blocks_reparsed,
            self.blocks_deferred,
            self.open.as_secs_f64(),
            self.upload.as_secs_f64(),
            self.wait.as_secs_f64(),
            self.readback.as_secs_f64(),
            self.judge.as_secs_f64(),
            self.feeder_wait.as_secs_f64(),
            self.reader_idle.as_secs_f64(),
            match self.device {
                Some(t) => format!(
                    "copy {:.3}, passes {:.3}",
                    t.copy.as_secs_f64(),
                    t.passes.as_secs_f64()
                ),
                None => "no clock".into(),
            },
        )
    }
}
