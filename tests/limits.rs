//! Memory and time follow the data, not what it could be: many region
//! names times many dates, long lines, huge thread counts, and files that
//! are not what their flag says.

use crate::util::{backends, DataDir};

/// Runs `count` with `--stats-json` and returns the run and its peak
/// memory in MiB, as the binary measured it.
fn count_measured(data: &DataDir, backend: &str) -> (crate::util::Run, u64) {
    let run = data.run(&[
        "count",
        ".",
        "--backend",
        backend,
        "--stats-json",
        "stats.json",
    ]);
    let stats: serde_json::Value = serde_json::from_str(&data.read("stats.json")).unwrap();
    let peak = stats["peak_memory_bytes"].as_u64().expect("Linux says");
    (run, peak >> 20)
}

/// Region names: `n` of them.
fn regions(n: usize) -> String {
    let mut text = String::from("region_id,region_name\n");
    for id in 0..n {
        text.push_str(&format!("{id},Region {id:06}\n"));
    }
    text
}

/// Dates: the `i`-th day from 1900-01-01 (28-day months keep it simple).
fn date(i: usize) -> String {
    format!(
        "{}-{:02}-{:02}",
        1900 + i / 336,
        1 + i / 28 % 12,
        1 + i % 28
    )
}

/// Memory follows the groups that occur: 100,000 region names and 1,500
/// dates are 150 million possible groups, but a file of 1,500 rows has at
/// most 1,500 of them (dense bins once took 1.77 GB for this).
#[test]
fn many_names_times_many_dates_with_few_rows_stays_small() {
    let mut locations = String::from("lat,long,region_id,date\n");
    for i in 0..1500 {
        locations.push_str(&format!("0,0,{},{}\n", (i * 7919) % 100_000, date(i)));
    }
    for backend in backends() {
        let data = DataDir::with(&regions(100_000), &locations);
        let (run, peak_mib) = count_measured(&data, backend);
        run.ok();
        run.stderr_has("counted 1500 rows into 1500 groups");
        assert!(peak_mib < 200, "{backend}: peak RSS {peak_mib} MiB");
    }
}

/// 65,536 names times 65,536 dates fill the whole 32-bit key space: 2^32
/// possible groups, whose dense bins (16 GiB) once aborted the run.
#[test]
fn a_full_key_space_counts_in_little_memory() {
    let mut locations = String::from("lat,long,region_id,date\n");
    for i in 0..65_536 {
        locations.push_str(&format!("0,0,{},{}\n", (i * 40_503) % 65_536, date(i)));
    }
    let data = DataDir::with(&regions(65_536), &locations);
    let (run, peak_mib) = count_measured(&data, "cpu");
    run.ok();
    run.stderr_has("counted 65536 rows into 65536 groups");
    assert!(peak_mib < 300, "peak RSS {peak_mib} MiB");
    let result = data.read("result.csv");
    assert_eq!(result.lines().count(), 65_537);
    assert!(result.contains(&format!("\"Region 000000\",\"{}\",\"1\"\n", date(0))));
}
