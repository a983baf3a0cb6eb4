//! How many pages a chunk is expected to want: from a sample of the first
//! file, scanned on the CPU, which also teaches the run its dates.

use super::pages::PageShape;
use super::GpuJob;
use crate::error::Result;
use crate::input::{ChunkBuf, ChunkSource, Next, RangeSource};
use crate::scan::{ChunkReport, Scanner};

/// Bytes of the first file the CPU scans to size the pages.
const SAMPLE_BYTES: u64 = 1 << 20;

/// How many (day, region group) pairs a chunk of `chunk_bytes` may want
/// pages for, from a sample of the first file scanned on the CPU (which
/// also teaches the run its dates): the sample's pairs, and as many more
/// as the rest of a chunk's rows would add at the rate the sample's rows
/// brought new ones. Sparse pairs (many regions) ask for many pages, dense
/// ones (a few regions, pairs that repeat) for few.
pub(super) fn sample_pairs(job: &GpuJob<'_>, chunk_bytes: u32) -> Result<u64> {
    let first = &job.files[0];
    let scan = job.scan;
    let sample_end = first.rows.end.min(first.rows.start + SAMPLE_BYTES);
    let sample = RangeSource::open(
        first.object.clone(),
        SAMPLE_BYTES as usize,
        Some(first.rows.start..sample_end),
        // A file without a header row (no header to know again), or a
        // pack of files' rows, has its first row at byte 0, where `rows`
        // may start.
        first.has_header(),
    )?;
    let mut buf = ChunkBuf::default();
    let mut keys = Vec::new();
    let mut report = ChunkReport::default();
    if let Next::Chunk(chunk) = sample.next_chunk(&mut buf, true)? {
        let mut scanner = Scanner::new(scan, first.layout);
        scanner.scan(buf.data(), chunk.range, &mut keys, &mut report)?;
    }
    let slots = scan.keys.region_slots();
    let page_slots = PageShape::page_slots(slots);
    let mut pairs: Vec<(u32, u32)> = keys
        .iter()
        .map(|&key| {
            let (date, slot) = scan.keys.unpack(key);
            (date, slot / page_slots)
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let sampled = (sample_end - first.rows.start).max(1) as f64;
    let rows = keys.len() as f64;
    let chunk_rows = rows * f64::from(chunk_bytes) / sampled;
    Ok(expected_pairs(pairs.len() as f64, rows, chunk_rows) as u64)
}

/// The distinct pairs `chunk_rows` rows hold, where `rows` rows held
/// `found`: as if each row drew one of `k` pairs alike, `k` being what
/// makes `rows` draws find `found` (found = k (1 - e^(-rows / k))).
fn expected_pairs(found: f64, rows: f64, chunk_rows: f64) -> f64 {
    if found >= rows {
        return chunk_rows.max(found); // no pair seen twice: as many as rows
    }
    let draws = |k: f64| k * (1.0 - (-rows / k).exp());
    // `draws` grows with k: halve the interval until it finds `found`.
    let (mut low, mut high) = (found, found * 2.0);
    while draws(high) < found {
        high *= 2.0;
    }
    for _ in 0..64 {
        let k = (low + high) / 2.0;
        if draws(k) < found {
            low = k;
        } else {
            high = k;
        }
    }
    let k = high;
    (k * (1.0 - (-chunk_rows / k).exp())).max(found)
}

#[cfg(test)]
mod tests {
    use super::expected_pairs;

    #[test]
    fn pairs_expected_in_a_chunk_follow_the_sample() {
        // 53 regions over four years (77,433 pairs), 24,000 rows sampled.
        let k = 77_433.0_f64;
        let found = k * (1.0 - (-24_000.0 / k).exp());
        let chunk = expected_pairs(found, 24_000.0, 1.5e6);
        assert!((chunk - k).abs() < k * 0.01, "{chunk}");
        // One day of a date-sorted file: 53 pairs, seen again and again.
        assert!(expected_pairs(53.0, 24_000.0, 1.5e6) < 60.0);
        // Every row a new pair: as many as the chunk has rows.
        assert_eq!(expected_pairs(100.0, 100.0, 5_000.0), 5_000.0);
        // Nothing sampled.
        assert_eq!(expected_pairs(0.0, 0.0, 5_000.0), 5_000.0);
    }
}
