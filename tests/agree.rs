//! CPU, GPU and a naive reference counter agree on random valid inputs,
//! whatever the chunking, threads and flush interval.

use std::collections::HashMap;

use event_counter::histogram::FoldInterval;
use event_counter::{count, Engine};
use proptest::prelude::*;

use crate::util::{engines, reference_result, DataDir};

/// Names that need quoting, repeat, or sort in surprising byte order.
const NAMES: &[&str] = &[
    "Whakatane District",
    "Hawke's Bay",
    "Quote \"inside\"",
    "Comma, inside",
    "Two\nlines",
    "Ōtorohanga",
    "a",
    "B",
    "",
    "  padded  ",
];

#[derive(Debug, Clone)]
struct Input {
    regions: Vec<(i64, &'static str)>,
    rows: Vec<(i64, String, u8)>,
    crlf: bool,
    chunk_size: usize,
    flush_every: u64,
    threads: usize,
    /// The CPU's dense bins per thread: tiny ones (a few dates' worth)
    /// make threads switch to the shared totals part way through.
    dense_bins: usize,
}

fn input() -> impl Strategy<Value = Input> {
    let ids = prop::collection::btree_set(prop_oneof![-5i64..60, Just(1i64 << 40)], 1..30);
    (
        ids,
        0usize..800,
        1usize..40,
        any::<bool>(),
        1usize..3000,
        1u64..64,
        1usize..5,
        any::<u64>(),
        prop_oneof![Just(usize::MAX), 0usize..200],
    )
        .prop_map(
            |(ids, rows, dates, crlf, chunk_size, flush_every, threads, seed, dense_bins)| {
                let mut rng = seed;
                let mut next = move |n: u64| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (rng >> 33) % n
                };
                let regions: Vec<(i64, &str)> = ids
                    .into_iter()
                    .map(|id| (id, NAMES[next(NAMES.len() as u64) as usize]))
                    .collect();
                let dates: Vec<String> = (0..dates)
                    .map(|_| {
                        format!(
                            "{:04}-{:02}-{:02}",
                            1990 + next(40),
                            1 + next(12),
                            1 + next(28)
                        )
                    })
                    .collect();
                let rows = (0..rows)
                    .map(|_| {
                        // One row in ten has an id that region.csv lacks.
                        let id = if next(10) == 0 {
                            1000 + next(5) as i64
                        } else {
                            regions[next(regions.len() as u64) as usize].0
                        };
                        (
                            id,
                            dates[next(dates.len() as u64) as usize].clone(),
                            next(3) as u8,
                        )
                    })
                    .collect();
                Input {
                    regions,
                    rows,
                    crlf,
                    chunk_size,
                    flush_every,
                    threads,
                    dense_bins,
                }
            },
        )
}

fn write_input(input: &Input) -> DataDir {
    let eol = if input.crlf { "\r\n" } else { "\n" };
    let mut regions = format!("\"region_id\",\"region_name\"{eol}");
    for (id, name) in &input.regions {
        regions.push_str(&format!("{id},{}{eol}", crate::util::quote(name)));
    }
    let mut locations = format!("\"lat\",\"long\",\"region_id\",\"date\"{eol}");
    for (i, (id, date, style)) in input.rows.iter().enumerate() {
        let lat = format!("-38.{i:06}");
        locations.push_str(&match style {
            0 => format!("\"{lat}\",\"177.1\",\"{id}\",\"{date}\"{eol}"),
            1 => format!("{lat},177.1,{id},{date}{eol}"),
            _ => format!(" {lat} , \"177.1\" ,\" {id}\", {date} {eol}"),
        });
    }
    DataDir::with(&regions, &locations)
}

fn run(data: &DataDir, input: &Input, engine: &Engine) -> String {
    let mut options = data.count_options("result.csv");
    options.chunk_size = input.chunk_size;
    options.flush = FoldInterval::new(input.flush_every);
    options.threads = input.threads;
    options.dense_bins = Some(input.dense_bins);
    let summary = count(&options, engine, &()).unwrap();
    assert_eq!(summary.stats.data_rows(), input.rows.len() as u64);
    data.read("result.csv")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn cpu_gpu_and_reference_agree(input in input()) {
        let data = write_input(&input);
        let names: HashMap<i64, String> =
            input.regions.iter().map(|&(id, name)| (id, name.trim().to_string())).collect();
        let rows: Vec<(i64, String)> = input.rows.iter().map(|(id, date, _)| (*id, date.clone())).collect();
        let expected = reference_result(&names, &rows);
        for engine in engines() {
            prop_assert_eq!(&run(&data, &input, engine), &expected, "{}", engine.describe());
        }
    }
}

#[test]
fn counts_past_the_u32_flush_boundary_stay_exact() {
    // 3,000 copies of one row with a flush every 7 keys: the one bin is
    // folded into the totals hundreds of times on every backend.
    let mut locations = String::from("lat,long,region_id,date\n");
    for _ in 0..3000 {
        locations.push_str("0,0,1,2019-01-01\n");
    }
    let data = DataDir::with("region_id,region_name\n1,A\n", &locations);
    for engine in engines() {
        let mut options = data.count_options("result.csv");
        options.chunk_size = 100;
        options.flush = FoldInterval::new(7);
        count(&options, engine, &()).unwrap();
        assert_eq!(
            data.read("result.csv"),
            "\"region_name\",\"date\",\"count\"\n\"A\",\"2019-01-01\",\"3000\"\n",
            "{}",
            engine.describe()
        );
    }
}
