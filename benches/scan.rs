//! The row scanner alone, one thread, on rows from `generate`: bytes per
//! second through `Scanner::scan` (fast path), and the same rows written
//! so that every one takes the exact path (spaces after the commas).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use event_counter::date::DateDict;
use event_counter::format::{header_text, Layout, LOCATION_HEADER};
use event_counter::generate::{generate, GenerateOptions, ROWS_PER_BLOCK, SHIPPED_REGIONS};
use event_counter::input::PAD;
use event_counter::regions::{KeySpace, RegionTable};
use event_counter::scan::{ChunkReport, RowPolicy, ScanContext, Scanner};

/// 16 MiB of generated rows (after the header), padded as chunks are.
fn rows() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let options = GenerateOptions {
        dir: dir.path().to_path_buf(),
        size: 16 << 20,
        seed: 1,
        start: "2019-01-01".into(),
        days: 365,
        regions: None,
        threads: 2,
        block_rows: ROWS_PER_BLOCK,
        replace: false,
        timestamps: None,
        cancel: Default::default(),
    };
    generate(&options, &()).unwrap();
    let text = std::fs::read(dir.path().join("location.csv")).unwrap();
    let start = memchr::memchr(b'\n', &text).unwrap() + 1;
    text[start..].to_vec()
}

fn bench_scan(c: &mut Criterion) {
    let regions = RegionTable::parse(SHIPPED_REGIONS.as_bytes(), "region.csv").unwrap();
    let keys = KeySpace::new(regions.slots());
    let header = header_text(LOCATION_HEADER).as_bytes();
    let layout = Layout::from_header(header, "location.csv").unwrap();
    let fast_rows = rows();
    // The same rows with a blank after every comma: valid, but never
    // canonical, so the general CSV path parses each one.
    let exact_rows: Vec<u8> = fast_rows
        .iter()
        .flat_map(|&b| if b == b',' { vec![b',', b' '] } else { vec![b] })
        .collect();

    let mut group = c.benchmark_group("scan");
    for (name, rows) in [("fast path", &fast_rows), ("exact path", &exact_rows)] {
        let mut buf = rows.clone();
        buf.extend_from_slice(&[0; PAD]);
        let dates = DateDict::new(keys.max_dates());
        let context = ScanContext {
            regions: &regions,
            dates: &dates,
            keys,
            policy: RowPolicy::default(),
            times: &Default::default(),
        };
        group.throughput(Throughput::Bytes(rows.len() as u64));
        group.bench_function(name, |b| {
            let mut scanner = Scanner::new(&context, layout);
            let mut keys = Vec::new();
            b.iter_batched_ref(
                ChunkReport::default,
                |report| {
                    keys.clear();
                    scanner
                        .scan(&buf, 0..rows.len(), &mut keys, report)
                        .unwrap();
                    assert_eq!(report.stats.malformed_total(), 0);
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_scan
}
criterion_main!(benches);
