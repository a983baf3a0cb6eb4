//! The GPU backend on the shapes real data has (issue 20): every row the
//! CPU's fast path would count, the device counts, whatever the order and
//! span of the dates, the number of region names or the size of the ids;
//! and rows handed back cost what they are. Each case counts the same files
//! on the CPU and the GPU backend (small chunks, so that a file is many of
//! them) and checks that result.csv, the rejects and the row counts are the
//! same, byte for byte, then reads the GPU's figures.

#![cfg(feature = "gpu")]

use event_counter::backend::Engine;
use event_counter::count::{count, CountOptions, Thresholds};
use event_counter::date::Zone;
use event_counter::figures::GpuFigures;
use event_counter::gpu::GpuOptions;
use event_counter::input::InputSpec;
use event_counter::output::Destination;

use crate::util::DataDir;

const HEADER: &str = "lat,long,region_id,date\n";

/// A small, fixed pseudo-random sequence (xorshift), so every run sees the
/// same files.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// region.csv for `ids`, each named after itself.
fn regions(ids: &[u64]) -> String {
    let mut text = String::from("region_id,region_name\n");
    for id in ids {
        text.push_str(&format!("{id},Region {id}\n"));
    }
    text
}

/// The text of day `day` after 1970-01-01.
fn date(day: i64) -> String {
    let (y, m, d) = event_counter::date::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

fn day(text: &str) -> i64 {
    event_counter::date::day_number(text.as_bytes().try_into().unwrap())
}

/// Counts `data` on `engine` with rejects kept: result.csv, the rejects
/// and the summary's rows, and the GPU's figures.
fn run(data: &DataDir, engine: &Engine) -> (String, String, String, Option<GpuFigures>) {
    run_in_zone(data, engine, "UTC")
}

/// [`run`], with instants counted by their day in `zone`.
fn run_in_zone(
    data: &DataDir,
    engine: &Engine,
    zone: &str,
) -> (String, String, String, Option<GpuFigures>) {
    let mut options = CountOptions::new(
        InputSpec::Local(data.path("region.csv")),
        vec![InputSpec::Local(data.path("location.csv"))],
        Destination::File(data.path("result.csv")),
    );
    options.rejects = Some(Destination::File(data.path("rejects.csv")));
    options.threads = 2;
    options.chunk_size = 64 << 10;
    options.thresholds = Thresholds::allow_all();
    options.times.zone = Zone::named(zone).unwrap();
    let summary = count(&options, engine, &()).unwrap_or_else(|e| panic!("{}: {e}", engine.kind()));
    (
        data.read("result.csv"),
        data.read("rejects.csv"),
        format!("{:?}", summary.stats),
        summary.gpu,
    )
}

/// Counts `locations` on the CPU and the GPU backend, checks they agree and
/// returns the GPU's figures (`None` where no GPU adapter is).
fn both(region_csv: &str, locations: &str) -> Option<GpuFigures> {
    both_in_zone(&DataDir::with(region_csv, locations), "UTC")
}

/// [`both`] on the files in `data`, instants counted by their day in
/// `zone`.
fn both_in_zone(data: &DataDir, zone: &str) -> Option<GpuFigures> {
    let options = GpuOptions {
        chunk_bytes: Some(96 << 10),
        ..GpuOptions::default()
    };
    both_with(data, zone, options)
}

/// [`both_in_zone`] with the GPU backend's `options`.
fn both_with(data: &DataDir, zone: &str, options: GpuOptions) -> Option<GpuFigures> {
    let (adapter, engine) = crate::util::gpu_engine_with(options)?;
    let cpu = run_in_zone(data, &Engine::Cpu, zone);
    let gpu = run_in_zone(data, &engine, zone);
    assert_eq!(gpu.0, cpu.0, "{adapter}: result.csv");
    assert_eq!(gpu.1, cpu.1, "{adapter}: rejects");
    assert_eq!(gpu.2, cpu.2, "{adapter}: rows");
    let figures = gpu.3.expect("the GPU backend's figures");
    eprintln!("{adapter}: {figures}");
    Some(figures)
}

/// At least 99.9% of `rows` counted on the device.
fn on_device(figures: &GpuFigures, rows: u64) {
    assert!(
        figures.rows_on_device * 1000 >= rows * 999,
        "{} of {rows} rows on the device: {figures}",
        figures.rows_on_device
    );
}

#[test]
fn date_sorted_rows_over_four_years_are_counted_on_the_device() {
    let mut random = Random(1);
    let ids: Vec<u64> = (1..=16).collect();
    let (first, days) = (day("2019-01-01"), 1461);
    let rows = 60_000;
    let mut text = String::from(HEADER);
    for i in 0..rows {
        let at = first + i * days / rows;
        let id = 1 + random.below(16);
        text.push_str(&format!("-36.8,174.7,{id},{}\n", date(at)));
    }
    if let Some(figures) = both(&regions(&ids), &text) {
        on_device(&figures, rows as u64);
    }
}

/// The row that brings a new (day, region group) pair takes its page
/// itself and is counted in the same pass: where no two blocks share a
/// pair (a day a row here), no block waits and none is parsed again,
/// whatever the hardware runs side by side. (Before, every block with a
/// new pair waited for a pass that handed pages out, and was parsed again:
/// all of them here.)
#[test]
fn a_row_with_a_new_day_takes_its_page_and_its_block_is_parsed_once() {
    let mut random = Random(4);
    let ids: Vec<u64> = (1..=16).collect();
    let first = day("1960-01-01");
    let rows = 20_000;
    let mut text = String::from(HEADER);
    for i in 0..rows {
        let id = 1 + random.below(16);
        text.push_str(&format!("-36.8,174.7,{id},{}\n", date(first + i)));
    }
    if let Some(figures) = both(&regions(&ids), &text) {
        on_device(&figures, rows as u64);
        assert_eq!(figures.blocks_reparsed, 0, "{figures}");
    }
}

#[test]
fn shuffled_dates_from_1900_to_2100_are_counted_on_the_device() {
    let mut random = Random(2);
    let ids: Vec<u64> = (1..=16).collect();
    let (first, last) = (day("1900-01-01"), day("2100-12-31"));
    let rows = 60_000;
    let mut text = String::from(HEADER);
    for _ in 0..rows {
        let at = first + random.below((last - first + 1) as u64) as i64;
        text.push_str(&format!("1.5,2.5,{},{}\n", 1 + random.below(16), date(at)));
    }
    if let Some(figures) = both(&regions(&ids), &text) {
        on_device(&figures, rows);
    }
}

/// `rows` rows of 70,000 region names over four years, in random order:
/// nearly every row a (day, region) pair of its own.
fn seventy_thousand_regions(rows: u64) -> DataDir {
    let mut random = Random(3);
    let ids: Vec<u64> = (1..=70_000).collect();
    let first = day("2019-01-01");
    let mut text = String::from(HEADER);
    for _ in 0..rows {
        let at = first + random.below(1461) as i64;
        text.push_str(&format!("0,0,{},{}\n", 1 + random.below(70_000), date(at)));
    }
    DataDir::with(&regions(&ids), &text)
}

#[test]
fn seventy_thousand_region_names_over_four_years_are_counted_on_the_device() {
    let rows = 60_000;
    if let Some(figures) = both_in_zone(&seventy_thousand_regions(rows), "UTC") {
        on_device(&figures, rows);
        // The last fold at least, and the pages it read.
        assert!(
            figures.folds >= 1 && figures.pages_read_back > 0,
            "{figures}"
        );
    }
}

/// Chunks whose pairs outnumber the pages wait for folds, round after
/// round, and every row stays on the device: none goes to the host for
/// lack of room (issue 28; before, 70.8% of such rows did).
#[test]
fn chunks_with_more_pairs_than_pages_wait_for_folds_and_stay_on_the_device() {
    let rows = 60_000;
    let data = seventy_thousand_regions(rows);
    // About 4,000 pairs a chunk, and room for 1,024.
    let options = GpuOptions {
        chunk_bytes: Some(96 << 10),
        max_pages: Some(1024),
        ..GpuOptions::default()
    };
    if let Some(figures) = both_with(&data, "UTC", options) {
        assert_eq!(figures.rows_on_device, rows, "{figures}");
        assert_eq!(figures.rows_handed_back, 0, "{figures}");
        assert!(figures.blocks_deferred > 0, "{figures}");
        assert!(figures.folds > rows / 1024, "{figures}");
    }
}

/// A block whose pages can never fit (room for 2 pages, blocks of rows
/// of a pair each) waits a bounded number of rounds, then goes to the host:
/// the run ends, with the CPU's result.
#[test]
fn blocks_that_can_never_find_room_go_to_the_host_after_bounded_rounds() {
    let rows = 3_000;
    let data = seventy_thousand_regions(rows);
    let options = GpuOptions {
        chunk_bytes: Some(8 << 10),
        max_pages: Some(2),
        ..GpuOptions::default()
    };
    if let Some(figures) = both_with(&data, "UTC", options) {
        assert!(figures.rows_handed_back > 0, "{figures}");
        assert!(figures.blocks_deferred > 0, "{figures}");
        assert_eq!(
            figures.rows_on_device + figures.rows_handed_back,
            rows,
            "{figures}"
        );
    }
}

/// The shapes at full size: 600,000 and 2 million rows of 70,000
/// regions over four years, on the adapter's own page limits.
#[test]
fn six_hundred_thousand_and_two_million_rows_of_seventy_thousand_regions_stay_on_the_device() {
    for rows in [600_000, 2_000_000] {
        let data = seventy_thousand_regions(rows);
        let options = GpuOptions {
            chunk_bytes: Some(4 << 20),
            ..GpuOptions::default()
        };
        if let Some(figures) = both_with(&data, "UTC", options) {
            on_device(&figures, rows);
            assert!(figures.folds >= 1, "{figures}");
        }
    }
}

#[test]
fn ids_up_to_the_largest_u32_are_counted_on_the_device() {
    let mut random = Random(4);
    let mut ids = vec![
        0,
        7,
        1 << 20,
        (1 << 20) + 1,
        999_999_999,
        1_000_000_000,
        4_294_967_294,
        4_294_967_295,
    ];
    ids.extend((0..40).map(|_| random.below(1 << 32)));
    ids.sort_unstable();
    ids.dedup();
    let rows = 60_000;
    let mut text = String::from(HEADER);
    for i in 0..rows {
        let id = ids[random.below(ids.len() as u64) as usize];
        // Leading zeros are the same id, to the CPU and the device alike.
        let id = if i % 7 == 0 {
            format!("00{id}")
        } else {
            id.to_string()
        };
        text.push_str(&format!("0,0,{id},2020-0{}-1{}\n", 1 + i % 9, i % 10));
    }
    // Past the largest u32, and not in region.csv: the host's, unmatched.
    text.push_str("0,0,4294967296,2020-01-01\n0,0,99999999999,2020-01-01\n");
    if let Some(figures) = both(&regions(&ids), &text) {
        on_device(&figures, rows);
        assert_eq!(figures.rows_handed_back, 2, "{figures}");
    }
}

#[test]
fn a_bad_row_in_every_chunk_costs_its_row_not_its_chunk() {
    let mut random = Random(5);
    let ids: Vec<u64> = (1..=16).collect();
    let mut text = String::from(HEADER);
    let mut rows = 0;
    while text.len() < 2 << 20 {
        rows += 1;
        if rows % 3000 == 0 {
            // About one a chunk: malformed, or unmatched.
            text.push_str(if rows % 6000 == 0 {
                "0,0,x,2020-01-01\n"
            } else {
                "0,0,99,2020-01-01\n"
            });
            continue;
        }
        let at = day("2020-01-01") + random.below(366) as i64;
        text.push_str(&format!("0,0,{},{}\n", 1 + random.below(16), date(at)));
    }
    let len = text.len() as u64;
    if let Some(figures) = both(&regions(&ids), &text) {
        assert!(
            figures.rows_handed_back > 0 && figures.rows_handed_back < 60,
            "{figures}"
        );
        assert!(
            figures.bytes_reread * 100 < len,
            "{} bytes read again of {len}: {figures}",
            figures.bytes_reread
        );
    }
}

/// Rows that fit a 256-byte block more than 32 times over (blank lines,
/// one-byte rows), with a row to hand back at every place 0..63 of a
/// block: the device counts the rows past the 32 that a block's bits can
/// name, and the host must not judge them again (issue 28: "device lost
/// rows", exit 70).
#[test]
fn a_row_handed_back_at_every_place_of_a_crowded_block_is_judged_once() {
    let ids: Vec<u64> = (1..=4).collect();
    let mut text = String::from(HEADER);
    for place in 0..64 {
        // One block's worth, 256 bytes: the file is one chunk (less than
        // `both`'s chunk size), whose blocks start after the header, so
        // the one-byte row `x` sits at `place` among its block's rows,
        // then blank lines and good rows fill the block.
        let start = text.len();
        text.push_str(&"\n".repeat(place));
        text.push_str("x\n");
        let good = "0,0,1,2020-01-01\n";
        text.push_str(&"\n".repeat(256 - (place + 2) - 5 * good.len()));
        text.push_str(&good.repeat(5));
        assert_eq!(text.len() - start, 256);
    }
    both(&regions(&ids), &text);
}

/// 40% blank lines, in runs that crowd their blocks, and an unmatched id
/// now and then: blocks of more than 32 rows returned in part.
#[test]
fn a_file_of_forty_percent_blank_lines_is_counted_once() {
    let mut random = Random(6);
    let ids: Vec<u64> = (1..=16).collect();
    let mut text = String::from(HEADER);
    let rows = 20_000;
    for i in 0..rows {
        if i % 90 == 0 {
            text.push_str(&"\n".repeat(60));
        }
        let at = day("2020-01-01") + random.below(366) as i64;
        let id = if random.below(100) == 0 {
            99
        } else {
            1 + random.below(16)
        };
        text.push_str(&format!("0,0,{id},{}\n", date(at)));
    }
    both(&regions(&ids), &text);
}

/// The issue's own case: each bad row is followed by 31 blank lines and 15
/// good rows, so its block holds more than 32 rows.
#[test]
fn one_bad_row_thirty_one_blank_lines_and_fifteen_good_rows() {
    let ids: Vec<u64> = (1..=16).collect();
    let mut text = String::from(HEADER);
    for n in 0..2000 {
        text.push_str("0,0,x,2020-01-01\n");
        text.push_str(&"\n".repeat(31));
        for i in 0..15 {
            text.push_str(&format!("0,0,{},2020-02-{:02}\n", 1 + (n + i) % 16, 1 + i));
        }
    }
    if let Some(figures) = both(&regions(&ids), &text) {
        // The bad rows, and the rows of blocks handed back whole.
        assert!(figures.rows_handed_back >= 2000, "{figures}");
    }
}

/// Each fault the key and range checks must see (issue 28), put in on
/// purpose: the run fails with an internal error (exit 70) and writes
/// nothing, where without the checks it wrote a wrong result.csv. Without
/// a fault, the same file and options count as the CPU does.
#[test]
fn every_fault_in_keys_bins_or_chunks_fails_the_run_with_exit_70() {
    use event_counter::gpu::Fault;
    let mut random = Random(7);
    let ids: Vec<u64> = (1..=16).collect();
    // Date-sorted over 60 days, so that a chunk wants a few pages and the
    // few pages allowed fill and are folded again and again.
    let rows = 24_000;
    let mut text = String::from(HEADER);
    for i in 0..rows {
        let at = day("2021-03-01") + i * 60 / rows;
        text.push_str(&format!("0,0,{},{}\n", 1 + random.below(16), date(at)));
    }
    let data = DataDir::with(&regions(&ids), &text);
    let options = GpuOptions {
        chunk_bytes: Some(64 << 10),
        max_pages: Some(24),
        ..GpuOptions::default()
    };
    let Some((adapter, engine)) = crate::util::gpu_engine_with(options) else {
        return;
    };
    assert_eq!(
        run(&data, &engine).0,
        run(&data, &Engine::Cpu).0,
        "{adapter}"
    );
    for fault in [
        Fault::OtherSlot,
        Fault::DayLate,
        Fault::DroppedKey,
        Fault::BinsNotCleared,
        Fault::Overlap,
        Fault::DroppedChunk,
    ] {
        let (_, engine) = crate::util::gpu_engine_with(GpuOptions {
            fault: Some(fault),
            ..options
        })
        .unwrap();
        let mut options = CountOptions::new(
            InputSpec::Local(data.path("region.csv")),
            vec![InputSpec::Local(data.path("location.csv"))],
            Destination::File(data.path("faulty.csv")),
        );
        options.threads = 2;
        match count(&options, &engine, &()) {
            Ok(_) => panic!("{adapter}: {fault:?} gave a result, and no error"),
            Err(e) => {
                eprintln!("{fault:?}: {e}");
                assert_eq!(
                    e.kind(),
                    event_counter::error::ErrorKind::Internal,
                    "{fault:?}: {e}"
                );
                assert!(!data.path("faulty.csv").exists(), "{fault:?}: written");
            }
        }
    }
}

/// 14% of the rows name an id that region.csv lacks: those rows, and only
/// those, go back to the host, though most blocks hold one (issue 28).
#[test]
fn unmatched_ids_in_most_blocks_send_back_only_their_rows() {
    let mut random = Random(8);
    let ids: Vec<u64> = (1..=16).collect();
    let mut text = String::from(HEADER);
    let mut unmatched = 0;
    for _ in 0..60_000 {
        let id = if random.below(100) < 14 {
            unmatched += 1;
            100 + random.below(50)
        } else {
            1 + random.below(16)
        };
        let at = day("2020-01-01") + random.below(366) as i64;
        text.push_str(&format!("0,0,{id},{}\n", date(at)));
    }
    if let Some(figures) = both(&regions(&ids), &text) {
        assert_eq!(figures.rows_handed_back, unmatched, "{figures}");
    }
}

/// A generated file of event times (issue 30): with Auckland's offsets,
/// counted by Auckland's day; the same instants written in UTC with `Z`;
/// the offsets cut off (local times, their own date); and each of those
/// with `;`, tab or `|` between the fields. The device counts at least
/// 99.9% of the rows, and the result, the rejects and the row counts are
/// the CPU's.
#[test]
fn generated_event_times_in_any_zone_and_delimiter_are_counted_on_the_device() {
    let data = DataDir::new();
    let generate = |zone: &str| {
        data.run(&[
            "generate",
            "--size",
            "1M",
            "--timestamps",
            "--time-zone",
            zone,
            "--force",
            ".",
        ])
        .ok();
        data.read("location.csv")
    };
    let auckland = generate("Pacific/Auckland");
    // The same rows in UTC: a fixed offset of 0 needs no table.
    let utc = generate("UTC");
    assert!(utc.lines().nth(1).unwrap().ends_with("Z\""));
    let local: String = auckland
        .lines()
        .enumerate()
        .map(|(i, line)| match i {
            0 => format!("{line}\n"),
            _ => format!("{}\"\n", &line[..line.len() - 7]),
        })
        .collect();
    for (text, zone) in [
        (&auckland, "Pacific/Auckland"),
        (&utc, "UTC"),
        (&local, "Pacific/Auckland"),
    ] {
        for delimiter in [",", ";", "\t", "|"] {
            data.write("location.csv", text.replace(',', delimiter));
            let Some(figures) = both_in_zone(&data, zone) else {
                return;
            };
            on_device(&figures, text.lines().count() as u64 - 1);
        }
    }
}

/// Where the adapter can write timestamps between commands, the figures
/// say how long the device itself spent copying the chunks and parsing
/// them: some time for each, and no more than the run took. Where it
/// cannot, they say nothing rather than a guess.
#[test]
fn the_device_clock_times_the_copies_and_the_passes_where_there_is_one() {
    use event_counter::gpu::device::{self, Search};
    let Some((adapter, engine)) = crate::util::gpu_engine_with(GpuOptions {
        chunk_bytes: Some(256 << 10),
        ..GpuOptions::default()
    }) else {
        return;
    };
    let candidates = device::candidates(Search::Usual);
    let features = candidates[device::best(&candidates).unwrap()]
        .adapter
        .features();
    let has_clock = features.contains(
        wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
    );
    let mut random = Random(9);
    let mut text = String::from(HEADER);
    for _ in 0..40_000 {
        let at = day("2020-01-01") + random.below(366) as i64;
        text.push_str(&format!(
            "-36.8,174.7,{},{}\n",
            1 + random.below(16),
            date(at)
        ));
    }
    let data = DataDir::with(&regions(&(1..=16).collect::<Vec<_>>()), &text);
    let started = std::time::Instant::now();
    let figures = run(&data, &engine).3.expect("the GPU backend's figures");
    let took = started.elapsed();
    match figures.device {
        Some(time) => {
            assert!(has_clock, "{adapter}: times without a clock: {figures}");
            assert!(
                time.copy > std::time::Duration::ZERO,
                "{adapter}: {figures}"
            );
            assert!(
                time.passes > std::time::Duration::ZERO,
                "{adapter}: {figures}"
            );
            assert!(
                time.copy + time.passes <= took,
                "{adapter}: {figures} in {took:?}"
            );
        }
        None => assert!(!has_clock, "{adapter}: a clock, but no times: {figures}"),
    }
}

/// Writes a folder `loc` of small files in `data` (ids from `ids`), each
/// with its own mistakes; returns how many files there are.
fn small_files(data: &DataDir, ids: &[u64]) -> usize {
    let mut random = Random(7);
    std::fs::create_dir(data.path("loc")).unwrap();
    // (rows, delimiter, line end, a BOM before the header, a final newline)
    let files: &[(usize, char, &str, bool, bool)] = &[
        (3_000, ',', "\n", false, true),
        (5_000, ',', "\r\n", true, true),
        (3_500, ',', "\n", false, true),
        // Another delimiter: its neighbours do not share a chunk with it.
        (3_000, ';', "\n", false, true),
        (4_000, ';', "\n", false, true),
        (9_000, ',', "\n", false, true),
        // No final newline: the CPU's.
        (3_800, ',', "\n", false, false),
        (3_100, ',', "\n", false, true),
        // Too small to share: the CPU's.
        (40, ',', "\n", false, true),
        (6_000, ',', "\r\n", false, true),
        (3_600, ',', "\n", false, true),
        // A header alone: the CPU's.
        (0, ',', "\n", false, true),
        (3_300, ',', "\n", false, true),
    ];
    for (n, &(rows, delimiter, end, bom, last_newline)) in files.iter().enumerate() {
        let header = HEADER.trim_end().replace(',', &delimiter.to_string());
        let mut text = format!("{}{header}{end}", if bom { "\u{feff}" } else { "" });
        for row in 0..rows {
            let id = ids[random.below(ids.len() as u64) as usize];
            let day = date(day("2020-01-01") + random.below(300) as i64);
            let line = match random.below(200) {
                0 => String::new(),
                1 => format!("1{delimiter}2{delimiter}{id}{delimiter}2020-13-01"),
                2 => format!("1{delimiter}2{delimiter}99999{delimiter}{day}"),
                3 => header.clone(),
                4 if row % 7 == 0 => format!(
                    "1{delimiter}{}{delimiter}{id}{delimiter}{day}",
                    "9".repeat(6_000)
                ),
                _ => format!("-41.2{delimiter}174.7{delimiter}{id}{delimiter}{day}"),
            };
            text.push_str(&line);
            if row + 1 < rows || last_newline {
                text.push_str(end);
            }
        }
        std::fs::write(data.path(&format!("loc/part-{n:02}.csv")), text).unwrap();
    }
    files.len()
}

/// Counts the folder `loc` of `data` on `engine` (`strict`: stopping at
/// the first malformed row; `state`: with the state of that name, and
/// outputs named after it, counting only what is new since the run that
/// left it): result.csv, the rejects and the rows, or the error; and the
/// GPU's figures.
fn run_folder(
    data: &DataDir,
    engine: &Engine,
    strict: bool,
    state: Option<&str>,
) -> (String, Option<GpuFigures>) {
    let name = state.unwrap_or("plain");
    let (result, rejects) = (format!("{name}.result.csv"), format!("{name}.rejects.csv"));
    let mut options = CountOptions::new(
        InputSpec::Local(data.path("region.csv")),
        vec![InputSpec::Local(data.path("loc"))],
        Destination::File(data.path(&result)),
    );
    options.threads = 2;
    options.chunk_size = 64 << 10;
    options.strict = strict;
    if !strict {
        options.rejects = Some(Destination::File(data.path(&rejects)));
        options.thresholds = Thresholds::allow_all();
    }
    options.state = state.map(|name| event_counter::state::StateOptions {
        path: data.path(&format!("{name}.state")),
        recount: false,
        forget_missing: false,
    });
    match count(&options, engine, &()) {
        Ok(summary) => (
            format!(
                "{}\n{}\n{:?}",
                data.read(&result),
                data.read(&rejects),
                summary.stats,
            ),
            summary.gpu,
        ),
        Err(e) => (format!("error: {e}"), None),
    }
}

#[test]
fn small_files_share_chunks_and_each_keeps_its_own_lines() {
    let ids: Vec<u64> = (1..=40).collect();
    let data = DataDir::new();
    data.write("region.csv", regions(&ids));
    let files = small_files(&data, &ids);
    assert_eq!(files, 13);
    let cpu = run_folder(&data, &Engine::Cpu, false, Some("cpu")).0;
    assert!(cpu.contains("loc/part-01.csv\",\""), "{cpu}");
    // Chunks of a few rows (a file's rows over a hundred of them), chunks
    // that cut files, and chunks that hold whole files.
    for chunk_bytes in [1000, 96 << 10, 4 << 20] {
        let options = GpuOptions {
            chunk_bytes: Some(chunk_bytes),
            ..GpuOptions::default()
        };
        let Some((adapter, engine)) = crate::util::gpu_engine_with(options) else {
            return;
        };
        let state = format!("gpu-{chunk_bytes}");
        let (gpu, figures) = run_folder(&data, &engine, false, Some(&state));
        assert_eq!(gpu, cpu, "{adapter}, {chunk_bytes}-byte chunks");
        let figures = figures.expect("the GPU's figures");
        eprintln!("{adapter}, {chunk_bytes}-byte chunks: {figures}");
        // Three packs: the three files before the `;` ones, those two,
        // and the five others after them (the CPU's three among them).
        assert_eq!(figures.files_packed, 10, "{figures}");
        if chunk_bytes == 4 << 20 {
            assert_eq!(figures.chunks, 3, "{figures}");
        }
        // Stopping at the first malformed row, of whichever file.
        let strict = |engine| run_folder(&data, engine, true, None).0;
        let stopped = strict(&Engine::Cpu);
        assert!(stopped.starts_with("error: "), "{stopped}");
        assert_eq!(strict(&engine), stopped, "{adapter}");
    }
    // Rows added to a file of a pack are numbered after the lines each
    // backend kept for it.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(data.path("loc/part-10.csv"))
        .unwrap();
    std::io::Write::write_all(&mut file, b"1,2,3,2020-02-30\n1,2,3,2020-02-03\n").unwrap();
    let cpu = run_folder(&data, &Engine::Cpu, false, Some("cpu")).0;
    assert!(cpu.contains("2020-02-30"), "{cpu}");
    for chunk_bytes in [1000, 96 << 10, 4 << 20] {
        let options = GpuOptions {
            chunk_bytes: Some(chunk_bytes),
            ..GpuOptions::default()
        };
        let (adapter, engine) = crate::util::gpu_engine_with(options).expect("as before");
        let state = format!("gpu-{chunk_bytes}");
        let gpu = run_folder(&data, &engine, false, Some(&state)).0;
        assert_eq!(
            gpu, cpu,
            "{adapter}, {chunk_bytes}-byte chunks, the new rows"
        );
    }
}

/// GPU engines on which files of any size share chunks (as files of 64
/// KiB and more do by default): chunks and blocks tight (rows cross every
/// edge, two pages of bins), middling, and the defaults.
fn packing_engines() -> &'static [(String, Engine)] {
    static ENGINES: std::sync::OnceLock<Vec<(String, Engine)>> = std::sync::OnceLock::new();
    ENGINES.get_or_init(|| {
        let sizes = [
            (Some(97), Some(7), Some(2)),
            (Some(1000), Some(64), Some(200)),
            (None, None, None),
        ];
        sizes
            .into_iter()
            .filter_map(|(chunk_bytes, block_bytes, max_pages)| {
                crate::util::gpu_engine_with(GpuOptions {
                    chunk_bytes,
                    block_bytes,
                    max_pages,
                    packed_file: Some(1),
                    ..GpuOptions::default()
                })
            })
            .collect()
    })
}

/// A small file: its delimiter, line end, a BOM before its header, a
/// final newline, and its rows by shape (see `packed_file_text`).
type SmallFile = (bool, bool, bool, bool, Vec<(u8, u8, u8)>);

/// The text of `file`.
fn packed_file_text(file: &SmallFile) -> String {
    let (semicolon, crlf, bom, final_newline, rows) = file;
    let d = if *semicolon { ";" } else { "," };
    let end = if *crlf { "\r\n" } else { "\n" };
    let header = format!("lat{d}long{d}region_id{d}date");
    let mut text = format!("{}{header}", if *bom { "\u{feff}" } else { "" });
    for &(shape, id, days) in rows {
        let date = date(day("2021-03-01") + i64::from(days));
        text.push_str(end);
        text.push_str(&match shape {
            0..=4 => format!("-41.2{d}174.7{d}{}{d}{date}", id % 5 + 1),
            5 => format!("1{d}2{d}99{d}{date}"),
            6 => format!("1{d}2{d}{}{d}2021-02-30", id % 5 + 1),
            7 => String::new(),
            8 => header.clone(),
            _ => format!("\"1\"{d}\"2\"{d}\"{}\"{d}\"{date}\"", id % 5 + 1),
        });
    }
    if *final_newline {
        text.push_str(end);
    }
    text
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Folders of small files, packed into shared chunks on every size of
    /// chunk and block: results, rejects (each row on its own file's line)
    /// and row counts equal to the CPU backend's.
    #[test]
    fn packed_small_files_agree_with_the_cpu(
        files in proptest::collection::vec(
            (
                proptest::bool::weighted(0.2),
                proptest::bool::weighted(0.2),
                proptest::bool::weighted(0.1),
                proptest::bool::weighted(0.9),
                proptest::collection::vec((0u8..10, 0u8..5, 0u8..20), 0..40),
            ),
            2..7,
        )
    ) {
        let data = DataDir::new();
        data.write("region.csv", regions(&[1, 2, 3, 4, 5]));
        std::fs::create_dir(data.path("loc")).unwrap();
        for (i, file) in files.iter().enumerate() {
            data.write(&format!("loc/part-{i}.csv"), packed_file_text(file));
        }
        // Files with rows and a final newline share chunks with their
        // neighbours among them with the same delimiter.
        let mut packed = 0;
        let mut run: Vec<bool> = Vec::new();
        for file in &files {
            let (semicolon, text) = (&file.0, packed_file_text(file));
            let header_end = text.find('\n').map_or(text.len(), |i| i + 1);
            if !text.ends_with('\n') || header_end == text.len() {
                continue;
            }
            if run.last().is_some_and(|last| last != semicolon) {
                packed += if run.len() > 1 { run.len() } else { 0 };
                run.clear();
            }
            run.push(*semicolon);
        }
        packed += if run.len() > 1 { run.len() } else { 0 };
        let cpu = run_folder(&data, &Engine::Cpu, false, None).0;
        for (adapter, engine) in packing_engines() {
            let (gpu, figures) = run_folder(&data, engine, false, None);
            proptest::prop_assert_eq!(&gpu, &cpu, "{}", adapter);
            let files_packed = figures.map_or(0, |f| f.files_packed);
            proptest::prop_assert_eq!(files_packed, packed as u64, "{}", adapter);
        }
    }
}

/// Shard `index` of `count` of `data`'s location.csv on `engine`:
/// result.csv, the rejects and the rows.
fn run_shard(data: &DataDir, engine: &Engine, index: u64, count: u64) -> String {
    let mut options = CountOptions::new(
        InputSpec::Local(data.path("region.csv")),
        vec![InputSpec::Local(data.path("location.csv"))],
        Destination::File(data.path("shard.csv")),
    );
    options.rejects = Some(Destination::File(data.path("shard-rejects.csv")));
    options.thresholds = Thresholds::allow_all();
    options.threads = 2;
    options.split = Some(event_counter::input::Split { index, count });
    let summary = event_counter::count(&options, engine, &()).unwrap();
    format!(
        "{}\n{}\n{:?}",
        data.read("shard.csv"),
        data.read("shard-rejects.csv"),
        summary.stats
    )
}

/// A file under a MiB alone on the GPU's list is the GPU's whatever its
/// size; in a shard, only its part, whose first row is not the file's.
#[test]
fn a_shard_of_a_small_file_alone_counts_its_own_rows() {
    let ids: Vec<u64> = (1..=10).collect();
    let mut random = Random(3);
    let mut text = String::from(HEADER);
    for row in 0..3_000 {
        let id = ids[random.below(ids.len() as u64) as usize];
        let day = date(day("2020-01-01") + random.below(90) as i64);
        if row % 97 == 0 {
            text.push_str(&format!("-41.2,174.7,{id},{day}x\n"));
        } else {
            text.push_str(&format!("-41.2,174.7,{id},{day}\n"));
        }
    }
    assert!(text.len() < 1 << 20);
    let data = DataDir::with(&regions(&ids), &text);
    let Some((adapter, engine)) = crate::util::gpu_engine_with(GpuOptions::default()) else {
        return;
    };
    for count in [2, 3] {
        for index in 0..count {
            let cpu = run_shard(&data, &Engine::Cpu, index, count);
            let gpu = run_shard(&data, &engine, index, count);
            assert_eq!(gpu, cpu, "{adapter}: shard {index} of {count}");
        }
    }
}
