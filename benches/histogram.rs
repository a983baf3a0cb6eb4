//! Both histogram backends on the same keys: the CPU sink, the GPU end to
//! end (upload, dispatch, read back), and the GPU shader alone over keys
//! already on the device. Keys are uniform over 365 dates x 67 regions,
//! the shape of `generate`'s data. Without a GPU adapter the GPU benches
//! are skipped with a message.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use event_counter::histogram::cpu::CpuHistogram;
use event_counter::histogram::{FoldInterval, Histogram, KeyTotals};

const KEYS: usize = 8 << 20;
const BINS: u32 = 365 * 67;

fn keys() -> Vec<u32> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..KEYS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (((x >> 32) * u64::from(BINS)) >> 32) as u32
        })
        .collect()
}

/// Counts `keys` in chunk-sized batches through one sink, as a scanning
/// thread does.
fn count(histogram: Box<dyn Histogram>, keys: &[u32]) -> KeyTotals {
    {
        let mut sink = histogram.sink().unwrap();
        let mut batch = Vec::new();
        for part in keys.chunks(100_000) {
            batch.extend_from_slice(part);
            sink.add(&mut batch, u64::from(BINS)).unwrap();
            batch.clear();
        }
        sink.finish().unwrap();
    }
    histogram.finish().unwrap()
}

fn bench_histograms(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("histogram");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("cpu", |b| {
        b.iter(|| {
            count(
                Box::new(CpuHistogram::new(FoldInterval::default(), 1)),
                &keys,
            )
        })
    });
    #[cfg(feature = "gpu")]
    bench_gpu(&mut group, &keys);
    group.finish();
}

#[cfg(feature = "gpu")]
fn bench_gpu(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    keys: &[u32],
) {
    use event_counter::gpu::device::{self, Search};
    use event_counter::gpu::{GpuContext, GpuHistogram, GpuOptions};

    // As the binary does: keep Mesa's Wayland probe quiet on headless hosts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let candidates = device::candidates(Search::Usual);
    let Some(best) = device::best(&candidates) else {
        eprintln!("no GPU adapter: {}", device::no_adapter_reason(&candidates));
        return;
    };
    let context = GpuContext::new(&candidates[best].adapter, GpuOptions::default()).unwrap();
    let name = &context.info.name;
    group.bench_function(format!("gpu end to end ({name})"), |b| {
        b.iter(|| {
            let histogram = GpuHistogram::new(context.clone(), FoldInterval::default()).unwrap();
            count(Box::new(histogram), keys)
        })
    });
    // One dispatch's worth of keys (the GPU backend's batch), resident:
    // an internal that the `testing` feature opens to benches.
    shader_alone(group, &context, keys);
}

/// The histogram shader alone, on keys already on the device.
#[cfg(feature = "gpu")]
fn shader_alone(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    context: &event_counter::gpu::GpuContext,
    keys: &[u32],
) {
    let name = &context.info.name;
    let resident = &keys[..event_counter::gpu::keys::DEFAULT_BATCH_KEYS];
    group.throughput(Throughput::Elements(resident.len() as u64));
    group.bench_function(format!("gpu shader alone ({name})"), |b| {
        b.iter_custom(|iters| {
            let (per_pass, bins) = context.time_shader(resident, BINS, iters as u32).unwrap();
            let counted: u64 = bins.iter().map(|&n| u64::from(n)).sum();
            assert_eq!(
                counted,
                resident.len() as u64,
                "the shader counted every key"
            );
            per_pass * iters as u32
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_histograms
}
criterion_main!(benches);
