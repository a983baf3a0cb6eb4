//! What a count did: the numbers behind the summary on stderr and
//! `--stats-json`, whose field names are a stable interface (documented in
//! the README: fields may be added, never renamed or removed).

use std::time::Duration;

use crate::date::{Epoch, EventTimes};
use crate::figures::GpuFigures;
use crate::scan::{MalformedKind, RowOutcomes};

/// What a count did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Every row by outcome.
    pub stats: RowOutcomes,
    /// Rows of result.csv.
    pub groups: usize,
    /// Input bytes read: of the rows, or of compressed files.
    pub bytes: u64,
    /// Location files read.
    pub files: usize,
    /// Wall time of the whole count.
    pub elapsed: Duration,
    /// The first few malformed rows, as `FILE:LINE: reason`.
    pub samples: Vec<String>,
    /// A few region_ids that are not in region.csv.
    pub unmatched_ids: Vec<i64>,
    /// The backend's name: "cpu", "gpu" or "gpu-keys".
    pub backend: &'static str,
    /// region.csv, as named.
    pub regions: String,
    /// The location files counted, as named.
    pub locations: Vec<String>,
    /// Where the result, the rejects and the stats went, as named.
    pub outputs: Outputs,
    /// The GPU adapter, for a GPU backend.
    pub adapter: Option<String>,
    /// Scanning threads.
    pub threads: usize,
    /// Where the time went.
    pub timings: Timings,
    /// The most memory the process held at once, in bytes, where the
    /// system tells (Linux).
    pub peak_memory: Option<u64>,
    /// What the GPU backend did, when it parsed files.
    pub gpu: Option<GpuFigures>,
    /// How the date column was read: the zone that decided instants' days.
    pub times: EventTimes,
    /// Whether the location files and region.csv were read without a
    /// header row (`--no-header`, `--regions-no-header`).
    pub no_header: NoHeader,
    /// With `--state`: bytes read now (new since the state's run), and
    /// bytes counted before and skipped.
    pub state_bytes: Option<(u64, u64)>,
}

/// Which inputs were read as having no header row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoHeader {
    /// The location files (`--no-header`).
    pub locations: bool,
    /// region.csv (`--regions-no-header`).
    pub regions: bool,
}

/// Where a count's outputs went, as their paths or URLs were given
/// (`<stdout>` for standard output).
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// The result; none when the counts were only handed back.
    pub result: Option<String>,
    /// The rejects file, if one was asked for.
    pub rejects: Option<String>,
    /// The stats file, if one was asked for.
    pub stats: Option<String>,
}

/// Where the time of a count went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Reading region.csv and the header of every location file.
    pub setup: Duration,
    /// Scanning the location files into keys and counting them, which
    /// overlap.
    pub scan: Duration,
    /// From the last chunk scanned until the totals are in: the GPU's last
    /// batches and the read-back, or the merge of the CPU threads' bins.
    pub histogram: Duration,
    /// Decoding and writing result.csv (and the rejects file).
    pub output: Duration,
}

/// The most memory this process has held at once (its resident set's high
/// water mark), in bytes; `None` where the system does not say. Read from
/// /proc rather than `getrusage`, whose figure for a process also counts
/// the memory of the one that started it (Linux carries it across `exec`).
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Summary {
    /// The sample of unmatched region_ids in words: "99, 7", with ", ..."
    /// where more may have been left out.
    pub fn unmatched_ids_listed(&self) -> String {
        crate::scan::listed_ids(&self.unmatched_ids)
    }

    /// Input gigabytes (10^9 bytes) per second of wall time.
    pub fn gb_per_s(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e9
    }

    /// The summary as the JSON of `--stats-json`, with a final newline.
    pub fn to_json(&self) -> String {
        let malformed: serde_json::Map<String, serde_json::Value> = MalformedKind::ALL
            .iter()
            .map(|&k| {
                (
                    k.label().to_string(),
                    self.stats.malformed[k as usize].into(),
                )
            })
            .collect();
        let t = &self.timings;
        let json = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "inputs": {
                "regions": self.regions,
                "locations": self.locations,
            },
            "outputs": {
                "result": self.outputs.result,
                "rejects": self.outputs.rejects,
                "stats": self.outputs.stats,
            },
            "rows": {
                "counted": self.stats.counted,
                "unmatched": self.stats.unmatched,
                "malformed": self.stats.malformed_total(),
                "blank": self.stats.blank,
                "repeated_headers": self.stats.headers,
                "data": self.stats.data_rows(),
            },
            "malformed_by_reason": malformed,
            "groups": self.groups,
            "bytes": self.bytes,
            "files": self.files,
            "seconds": self.elapsed.as_secs_f64(),
            "gb_per_s": self.gb_per_s(),
            "backend": self.backend,
            "adapter": self.adapter,
            "threads": self.threads,
            "peak_memory_bytes": self.peak_memory,
            "gpu": self.gpu.as_ref().map(GpuFigures::to_json),
            "dates": {
                "time_zone": self.times.zone.name(),
                "tz_database": crate::date::tzdb_version(),
                "epoch": match self.times.epoch {
                    None => None,
                    Some(Epoch::Seconds) => Some("s"),
                    Some(Epoch::Millis) => Some("ms"),
                },
            },
            "no_header": {
                "locations": self.no_header.locations,
                "regions": self.no_header.regions,
            },
            "state": self.state_bytes.map(|(new, skipped)| serde_json::json!({
                "bytes_new": new,
                "bytes_skipped": skipped,
            })),
            "stages": {
                "setup_seconds": t.setup.as_secs_f64(),
                "scan_seconds": t.scan.as_secs_f64(),
                "histogram_seconds": t.histogram.as_secs_f64(),
                "output_seconds": t.output.as_secs_f64(),
            },
        });
        let mut text = serde_json::to_string_pretty(&json).expect("JSON of plain values");
        text.push('\n');
        text
    }
}
