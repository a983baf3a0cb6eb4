//! The real binary on real files: `event-counter count`, through every
//! backend that can run here.

use crate::util::{backends, gpu_available, quote, DataDir};

const SEED_REGIONS: &str = r#""region_id","region_name"
"1","Whakatane District"
"2","Rotorua District"
"3","Otorohanga District"
"#;

const SEED_LOCATIONS: &str = r#""lat","long","region_id","date"
"-38.19189","177.0521","1","2019-01-17"
"-38.191333","176.339021","2","2019-01-18"
"-38.1861","175.20416","3","2019-01-19"
"-38.180279","175.21477","3","2019-01-19"
"-38.17995","176.25936","2","2019-01-20"
"#;

/// The seed README's result, without its stray spaces.
const SEED_RESULT: &str = r#""region_name","date","count"
"Whakatane District","2019-01-17","1"
"Rotorua District","2019-01-18","1"
"Otorohanga District","2019-01-19","2"
"Rotorua District","2019-01-20","1"
"#;

#[test]
fn seed_example_gives_the_documented_result() {
    for backend in backends() {
        let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
        let run = data.run(&["count", ".", "--backend", backend]);
        run.ok();
        assert_eq!(data.read("result.csv"), SEED_RESULT, "backend {backend}");
        run.stderr_has("counted 5 rows into 4 groups");
        assert_eq!(data.files(), ["location.csv", "region.csv", "result.csv"]);
    }
}

#[test]
fn shipped_sample_data_runs() {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
    let run = crate::util::run_in(&sample, &["count", ".", "-o", "-", "--backend", "cpu"], &[]);
    run.ok();
    assert!(run
        .stdout
        .starts_with("\"region_name\",\"date\",\"count\"\n"));
    assert!(run.stdout.lines().count() > 10, "{}", run.stdout);
}

#[test]
fn stdout_output_and_explicit_input_paths() {
    for backend in backends() {
        let data = DataDir::new();
        data.write("r.csv", SEED_REGIONS);
        data.write("l.csv", SEED_LOCATIONS);
        let run = data.run(&[
            "count",
            "--regions",
            "r.csv",
            "--locations",
            "l.csv",
            "-o",
            "-",
            "--backend",
            backend,
        ]);
        run.ok();
        assert_eq!(run.stdout, SEED_RESULT);
        assert!(!data.exists("result.csv"));
        data.run(&[
            "count",
            "--regions",
            "r.csv",
            "--locations",
            "l.csv",
            "-o",
            "out.csv",
            "--backend",
            backend,
        ])
        .ok();
        assert_eq!(data.read("out.csv"), SEED_RESULT);
    }
}

#[test]
fn quotes_and_commas_in_region_names_are_quoted_back() {
    let regions =
        "region_id,region_name\n1,\"Hawke's Bay, \"\"North\"\"\"\n2,\"Two\nLines\"\n3,  Plain  \n";
    let locations = "lat,long,region_id,date\n0,0,1,2019-01-01\n0,0,2,2019-01-01\n0,0,3,2019-01-01\n0,0,1,2019-01-01\n";
    for backend in backends() {
        let data = DataDir::with(regions, locations);
        data.run(&["count", ".", "--backend", backend]).ok();
        assert_eq!(
            data.read("result.csv"),
            format!(
                "\"region_name\",\"date\",\"count\"\n{},\"2019-01-01\",\"2\"\n\"Plain\",\"2019-01-01\",\"1\"\n{},\"2019-01-01\",\"1\"\n",
                quote("Hawke's Bay, \"North\""),
                quote("Two\nLines")
            )
        );
    }
}

#[test]
fn same_name_under_two_ids_folds_into_one_row() {
    let regions = "region_id,region_name\n1,Same\n2,Other\n3,Same\n";
    let locations =
        "lat,long,region_id,date\n0,0,1,2019-01-01\n0,0,3,2019-01-01\n0,0,2,2019-01-01\n";
    for backend in backends() {
        let data = DataDir::with(regions, locations);
        data.run(&["count", ".", "--backend", backend]).ok();
        assert_eq!(
            data.read("result.csv"),
            "\"region_name\",\"date\",\"count\"\n\"Other\",\"2019-01-01\",\"1\"\n\"Same\",\"2019-01-01\",\"2\"\n"
        );
    }
}

#[test]
fn unknown_region_ids_are_dropped_and_reported() {
    let locations = format!("{SEED_LOCATIONS}\"0\",\"0\",\"42\",\"2019-01-17\"\n\"0\",\"0\",\"7\",\"2019-01-17\"\n\"0\",\"0\",\"42\",\"2019-01-18\"\n");
    for backend in backends() {
        let data = DataDir::with(SEED_REGIONS, &locations);
        let run = data.run(&["count", ".", "--backend", backend]);
        run.ok();
        assert_eq!(data.read("result.csv"), SEED_RESULT);
        assert!(
            run.stderr
                .contains("unmatched: 3 rows whose region_id is not in region.csv (ids 42, 7"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn crlf_bom_blank_lines_and_no_final_newline() {
    let regions = format!("\u{feff}{}", SEED_REGIONS.replace('\n', "\r\n"));
    let mut locations = format!("\u{feff}{}", SEED_LOCATIONS.replace('\n', "\r\n"));
    locations.insert_str(locations.find("\"-38.1861\"").unwrap(), "\r\n   \r\n");
    let locations = locations.trim_end().to_string();
    for backend in backends() {
        let data = DataDir::with(&regions, &locations);
        let run = data.run(&["count", ".", "--backend", backend]);
        run.ok();
        assert_eq!(data.read("result.csv"), SEED_RESULT, "backend {backend}");
        run.stderr_has("blank:     2 lines ignored");
    }
}

#[test]
fn columns_are_found_by_name_in_any_order() {
    let locations = "date,region_id,lat,long\n2019-01-17,1,0,0\n\"2019-01-17\",\" 01 \",0,0\n2019-01-18,2,0,0\n";
    for backend in backends() {
        let data = DataDir::with(SEED_REGIONS, locations);
        data.run(&["count", ".", "--backend", backend]).ok();
        assert_eq!(
            data.read("result.csv"),
            "\"region_name\",\"date\",\"count\"\n\"Whakatane District\",\"2019-01-17\",\"2\"\n\"Rotorua District\",\"2019-01-18\",\"1\"\n"
        );
    }
}

#[test]
fn header_only_location_file_gives_header_only_result() {
    for backend in backends() {
        let data = DataDir::with(SEED_REGIONS, "\"lat\",\"long\",\"region_id\",\"date\"\n");
        data.run(&["count", ".", "--backend", backend]).ok();
        assert_eq!(
            data.read("result.csv"),
            "\"region_name\",\"date\",\"count\"\n"
        );
        let data = DataDir::with(SEED_REGIONS, "lat,long,region_id,date");
        data.run(&["count", ".", "--backend", backend]).ok();
        assert_eq!(
            data.read("result.csv"),
            "\"region_name\",\"date\",\"count\"\n"
        );
    }
}

#[test]
fn missing_inputs_exit_66_naming_the_file() {
    let data = DataDir::new();
    data.write("region.csv", SEED_REGIONS);
    let run = data.run(&["count", "."]);
    run.expect_code(66);
    run.stderr_has("location.csv");
    let data = DataDir::new();
    data.write("location.csv", SEED_LOCATIONS);
    let run = data.run(&["count", "."]);
    run.expect_code(66);
    run.stderr_has("region.csv");
    assert!(!data.exists("result.csv"));
}

#[test]
fn usage_errors_exit_2() {
    let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
    data.run(&["count"]).expect_code(2);
    data.run(&["count", "--regions", "region.csv"])
        .expect_code(2);
    let run = data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "location.csv",
    ]);
    run.expect_code(2);
    run.stderr_has("-o PATH");
    data.run(&["count", ".", "--backend", "tpu"]).expect_code(2);
    data.run(&["count", ".", "-j", "0"]).expect_code(2);
    data.run(&["frobnicate"]).expect_code(2);
    assert!(!data.exists("result.csv"));
}

/// Every data error: exit 65, `FILE:LINE: reason` on stderr, no result, an
/// older result.csv left as it was.
#[test]
fn data_errors_exit_65_naming_file_and_line() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // A blank line before the header was a header that lacks the
        // columns, "found \"\"".
        (
            "\r\nregion_id,region_name\n1,A\n",
            "lat,long,region_id,date\n",
            "",
            "region.csv:1: the first line is blank: remove the blank lines before the header",
        ),
        (
            SEED_REGIONS,
            "\nlat,long,region_id,date\n0,0,1,2019-01-01\n",
            "",
            "location.csv:1: the first line is blank: remove the blank lines before the header",
        ),
        (
            "region_id,region_name\n1,A\n2,B\n1,C\n",
            "lat,long,region_id,date\n",
            "",
            "region.csv:4: region_id 1 is already defined on line 2",
        ),
        (
            "region_id,region_name\n1,A\nx,B\n",
            "lat,long,region_id,date\n",
            "",
            "region.csv:3: region_id \"x\" is not an integer",
        ),
        (
            "id,region_name\n1,A\n",
            "lat,long,region_id,date\n",
            "",
            "region.csv:1: header has no \"region_id\" column",
        ),
        (
            "region_id,region_name\n1,\"A\n",
            "lat,long,region_id,date\n",
            "",
            "region.csv:2: quoted field is not closed",
        ),
        (
            SEED_REGIONS,
            "lat,long,region,date\n",
            "",
            "location.csv:1: header has no \"region_id\" column",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date,date\n",
            "",
            "location.csv:1: header has two \"date\" columns",
        ),
        (SEED_REGIONS, "", "", "location.csv:1: file is empty"),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n0,0,1,2019-01-01\n0,0,1\n",
            "--strict",
            "location.csv:3: expected 4 fields, found 3",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n0,0,1,2019-01-01,x\n",
            "--strict",
            "location.csv:2: expected 4 fields, found 5",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n0,0,abc,2019-01-01\n",
            "--strict",
            "location.csv:2: region_id \"abc\" is not an integer",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n0,0,,2019-01-01\n",
            "--strict",
            "location.csv:2: region_id is empty",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n0,0,1,2019-1-1\n",
            "--strict",
            "location.csv:2: date \"2019-1-1\" is not a date written YYYY-MM-DD",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n0,0,1,2019-02-30\n",
            "--strict",
            "location.csv:2: date \"2019-02-30\" is not a real calendar date",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n\"0,0,1,2019-01-01\n",
            "--strict",
            "location.csv:2: quoted field is not closed on this line",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n0,0,\"1\"x,2019-01-01\n",
            "--strict",
            "location.csv:2: text after a closing quote",
        ),
        (
            SEED_REGIONS,
            "lat,long,region_id,date\n0,0,1\",2019-01-01\n",
            "--strict",
            "location.csv:2: quote inside an unquoted field",
        ),
    ];
    for backend in backends() {
        for &(regions, locations, flag, message) in cases {
            let data = DataDir::with(regions, locations);
            data.write("result.csv", "old");
            let mut args = vec!["count", ".", "--backend", backend];
            if !flag.is_empty() {
                args.push(flag);
            }
            let run = data.run(&args);
            run.expect_code(65);
            assert!(
                run.stderr.contains(message),
                "want {message:?}, got:\n{}",
                run.stderr
            );
            // One line (the warning that a software adapter is slow aside).
            let lines = run
                .stderr
                .lines()
                .filter(|l| !l.contains("software adapter"));
            assert_eq!(lines.count(), 1, "one line: {}", run.stderr);
            assert_eq!(data.read("result.csv"), "old");
            assert_eq!(data.files(), ["location.csv", "region.csv", "result.csv"]);
        }
    }
}

#[test]
fn strict_reports_the_first_bad_row_in_file_order_across_chunks() {
    let mut locations = String::from("lat,long,region_id,date\n");
    for i in 0..2000 {
        let date = if i == 1234 || i == 1500 || i == 1999 {
            "2019-99-01"
        } else {
            "2019-01-01"
        };
        locations.push_str(&format!("0,0,1,{date}\n"));
    }
    for backend in backends() {
        for threads in ["1", "3"] {
            let data = DataDir::with(SEED_REGIONS, &locations);
            let run = data.run(&[
                "count",
                ".",
                "--strict",
                "--backend",
                backend,
                "-j",
                threads,
                "--chunk-size",
                "97",
            ]);
            run.expect_code(65);
            run.stderr_has("location.csv:1236: date \"2019-99-01\"");
        }
    }
}

#[test]
fn malformed_rows_are_skipped_by_default_and_shown() {
    let locations =
        "lat,long,region_id,date\n0,0,1,2019-01-17\n0,0,1,2019-02-30\n0,0,1\n0,0,2,2019-01-18\n";
    for backend in backends() {
        let data = DataDir::with(SEED_REGIONS, locations);
        let run = data.run(&["count", ".", "--backend", backend]);
        run.ok();
        assert_eq!(
            data.read("result.csv"),
            "\"region_name\",\"date\",\"count\"\n\"Whakatane District\",\"2019-01-17\",\"1\"\n\"Rotorua District\",\"2019-01-18\",\"1\"\n"
        );
        run.stderr_has("malformed: 2 rows skipped (wrong_field_count 1, no_such_date 1)");
        run.stderr_has("location.csv:3: date \"2019-02-30\" is not a real calendar date");
        run.stderr_has("location.csv:4: expected 4 fields, found 3");
    }
}

#[test]
fn output_folder_that_does_not_exist_exits_74_and_leaves_nothing() {
    let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
    let run = data.run(&["count", ".", "-o", "no/such/dir/result.csv"]);
    run.expect_code(74);
    run.stderr_has("no/such/dir/result.csv");
    assert_eq!(data.files(), ["location.csv", "region.csv"]);
}

#[test]
fn verbose_names_the_backend_and_why() {
    let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
    let run = data.run(&["count", ".", "-v", "--backend", "cpu"]);
    run.ok();
    run.stderr_has("backend cpu (--backend cpu)");
    let run = data.run(&["count", ".", "-v"]);
    run.ok();
    run.stderr_has("event-counter: backend ");
    if gpu_available() {
        let run = data.run(&["count", ".", "-v", "--backend", "gpu"]);
        run.ok();
        run.stderr_has("backend gpu: ");
    }
    let run = data.run(&["count", ".", "-q"]);
    run.ok();
    assert_eq!(run.stderr, "");
}

/// `auto` never takes a software adapter, even for input large enough for
/// a GPU to pay: weighed through the library, since the CLI would need
/// gigabytes of input to look for a GPU at all.
#[cfg(feature = "gpu")]
#[test]
fn auto_never_takes_a_software_adapter() {
    use event_counter::gpu::device;
    use event_counter::{Backend, Engine};
    let candidates = device::candidates(device::Search::Usual);
    let only_software = candidates
        .iter()
        .filter(|c| c.unusable.is_none())
        .all(|c| c.is_software());
    if !only_software {
        eprintln!("skipping: a hardware adapter is present");
        return;
    }
    let auto = Engine::select(Backend::Auto).unwrap().engine;
    let (engine, why) = auto.for_input(|| 1 << 40, 2).unwrap();
    assert_eq!(engine.kind(), "cpu");
    let why = why.expect("auto says why");
    assert!(why.starts_with("auto counts on the CPU: "), "{why}");
    if candidates.iter().any(|c| c.unusable.is_none()) {
        assert!(why.contains("only a software adapter"), "{why}");
    }
}

/// A count too small for any GPU to pay does not look for one: loading
/// the GPU drivers cost the sample's count 30 ms and 60 MB (four times its
/// time, eight times its memory) on a machine with Mesa's drivers alone.
#[test]
fn auto_does_not_look_for_a_gpu_for_a_small_count() {
    let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
    let run = data.run(&["count", ".", "-v"]);
    run.ok();
    assert!(!run.stderr.contains("adapter"), "{}", run.stderr);
    if cfg!(feature = "gpu") {
        run.stderr_has("auto counts on the CPU: 0.0 MB of files the GPU would read, under the");
    }
}

#[test]
fn gpu_backend_without_any_adapter_is_a_clear_error() {
    let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
    // No adapter has this name, so none is usable.
    let env = [("WGPU_ADAPTER_NAME", "no-such-adapter-anywhere")];
    let run = data.run_env(&["count", ".", "--backend", "gpu"], &env);
    run.expect_code(69);
    run.stderr_has("--backend cpu");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!data.exists("result.csv"));
    // auto falls back to the CPU instead.
    data.run_env(&["count", "."], &env).ok();
    assert_eq!(data.read("result.csv"), SEED_RESULT);
}

#[test]
fn sixty_five_thousand_regions() {
    let mut regions = String::from("region_id,region_name\n");
    let mut locations = String::from("lat,long,region_id,date\n");
    for id in 0..65_536 {
        regions.push_str(&format!("{id},Region {id:05}\n"));
    }
    for id in (0..65_536).step_by(997) {
        locations.push_str(&format!("0,0,{id},2019-01-0{}\n", 1 + id % 3));
        locations.push_str(&format!("0,0,{id},2019-01-09\n"));
    }
    for backend in backends() {
        let data = DataDir::with(&regions, &locations);
        data.run(&["count", ".", "--backend", backend]).ok();
        let result = data.read("result.csv");
        assert_eq!(result.lines().count(), 1 + 2 * 66, "{backend}");
        assert!(result.contains("\"Region 64805\",\"2019-01-09\",\"1\"\n"));
    }
}

#[test]
fn more_dates_than_the_key_has_room_for_is_a_clear_error() {
    // 65,537 region names leave room for 65,535 dates in a 32-bit key.
    let mut regions = String::from("region_id,region_name\n");
    for id in 0..65_537 {
        regions.push_str(&format!("{id},R{id}\n"));
    }
    let mut locations = String::from("lat,long,region_id,date\n");
    let mut day = 0;
    'years: for year in 1800..2100 {
        for month in 1..=12 {
            for d in 1..=28 {
                locations.push_str(&format!("0,0,1,{year}-{month:02}-{d:02}\n"));
                day += 1;
                if day == 65_536 {
                    break 'years;
                }
            }
        }
    }
    let data = DataDir::with(&regions, &locations);
    let run = data.run(&["count", ".", "--backend", "cpu"]);
    run.expect_code(65);
    run.stderr_has("more than 65535 distinct dates");
    assert!(!data.exists("result.csv"));
}

/// Issue 19: the summary says what happened, also for pipes and readers
/// that stop early: `bytes` of a named pipe was 0 after reading it all,
/// and `-o - | head -1` reported "into 0 groups".
#[test]
fn the_summary_counts_a_pipe_and_a_reader_that_stops_early() {
    let data = DataDir::new();
    data.run(&["generate", "--size", "2M", "--seed", "5", "."])
        .ok();
    let stats = |data: &DataDir| -> serde_json::Value {
        serde_json::from_str(&data.read("stats.json")).unwrap()
    };
    let run = data.run(&[
        "count",
        ".",
        "--stats-json",
        "stats.json",
        "--backend",
        "cpu",
    ]);
    run.ok();
    let want = stats(&data);
    let groups = want["groups"].as_u64().unwrap();
    assert!(groups > 100);
    assert!(want["bytes"].as_u64().unwrap() > 2_000_000);

    let bin = crate::util::binary();
    let script = format!(
        "mkfifo pipe.csv && (cat location.csv > pipe.csv &) && \
         \"{bin}\" count --backend cpu --regions region.csv --locations pipe.csv \
         -o piped.csv --stats-json stats.json"
    );
    let run = data.run_program("bash", &["-c", &script]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(stats(&data)["bytes"], want["bytes"]);
    assert_eq!(data.read("piped.csv"), data.read("result.csv"));

    let script = format!("set -o pipefail; \"{bin}\" count . --backend cpu -o - | head -1");
    let run = data.run_program("bash", &["-c", &script]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("into {groups} groups")),
        "{}",
        run.stderr
    );
}

/// Issue 19: a file that grew while it was read was counted up to its
/// size when opened, without a word. Here rows are appended while the run
/// waits on a pipe named after it: the run fails (74) and writes nothing.
#[test]
fn a_file_that_grows_while_read_is_an_error() {
    let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
    let bin = crate::util::binary();
    let script = format!(
        "mkfifo pipe.csv && \
         (\"{bin}\" count --backend cpu --regions region.csv --locations location.csv pipe.csv \
          -o out.csv; echo \"exit $?\" > code) & \
         sleep 0.5; tail -n 2 location.csv >> location.csv; head -n 1 location.csv > pipe.csv; \
         wait; cat code"
    );
    let run = data.run_program("bash", &["-c", &script]);
    assert!(
        run.stdout.contains("exit 74"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains("changed size while it was read"),
        "{}",
        run.stderr
    );
    assert!(!data.exists("out.csv"));
}

/// Issue 22: a run that counted none of its data rows exited 0 with a
/// header-only result, which a script takes for success. It fails (65),
/// writes nothing, and says why when one mistake explains every row; and
/// `--max-bad` / `--max-unmatched` set how many bad rows a run may have.
#[test]
fn a_run_that_counts_nothing_fails_and_says_why() {
    let regions = "region_id,region_name\n1,A\n2,B\n";
    let rows = |row: &dyn Fn(usize) -> String| {
        let mut text = String::from("lat,long,region_id,date\n");
        (0..50).for_each(|i| text.push_str(&row(i)));
        text
    };
    let slashes = rows(&|i| format!("0,0,{},2019/10/{:02}\n", 1 + i % 2, 1 + i % 28));
    let semicolons = rows(&|i| format!("0;0;{};2019-10-{:02}\n", 1 + i % 2, 1 + i % 28));
    let other_ids = rows(&|i| format!("0,0,{},2019-10-{:02}\n", 90 + i % 2, 1 + i % 28));
    for (locations, hint) in [
        (
            &slashes,
            "location.csv:2: date \"2019/10/01\" is not a date written YYYY-MM-DD, nor an event \
             time",
        ),
        // The hint said fields are separated by commas, though the
        // delimiter is sniffed: the rows' is not the header's.
        (
            &semicolons,
            "are the rows separated by the header's delimiter?",
        ),
        (&other_ids, "is it the region.csv of these rows?"),
    ] {
        for backend in backends() {
            let data = DataDir::with(regions, locations);
            data.write("result.csv", "old");
            let run = data.run(&["count", ".", "--backend", backend]);
            run.expect_code(65);
            run.stderr_has("none of the 50 data rows could be counted");
            run.stderr_has(hint);
            assert_eq!(data.read("result.csv"), "old", "{backend}");
            // Allowed, it is an empty result.
            let run = data.run(&[
                "count",
                ".",
                "--backend",
                backend,
                "--max-bad",
                "100%",
                "--max-unmatched",
                "100%",
            ]);
            run.ok();
            assert_eq!(
                data.read("result.csv"),
                "\"region_name\",\"date\",\"count\"\n"
            );
        }
    }

    // Thresholds: 2 malformed and 1 unmatched rows of 6.
    let data = DataDir::with(
        regions,
        "lat,long,region_id,date\n0,0,1,2019-01-01\n0,0,x,2019-01-01\n0,0,2,2019-01-01\n\
         0,0,1,2019-02-30\n0,0,9,2019-01-01\n0,0,1,2019-01-02\n",
    );
    for (flags, code) in [
        (&["--max-bad", "1"][..], 65),
        (&["--max-bad", "2"], 0),
        (&["--max-bad", "30%"], 65),
        (&["--max-bad", "34%"], 0),
        (&["--max-unmatched", "0"], 65),
        (&["--max-unmatched", "1"], 0),
    ] {
        let run = data.run(&[&["count", ".", "-o", "r.csv"][..], flags].concat());
        run.expect_code(code);
        if code == 65 {
            run.stderr_has("allowed; nothing was written");
            assert!(!data.exists("r.csv"), "{flags:?}");
        } else {
            std::fs::remove_file(data.path("r.csv")).unwrap();
        }
    }
    // Each threshold's error gives an example of its own kind: the
    // unmatched one gave the first malformed row (line 3) as its example.
    let run = data.run(&["count", ".", "-o", "r.csv", "--max-unmatched", "0"]);
    run.expect_code(65);
    run.stderr_has("(region_ids not in region.csv: 9; --rejects PATH lists each row");
    assert!(
        !run.stderr.contains("line 3") && !run.stderr.contains(":3:"),
        "{}",
        run.stderr
    );
    let run = data.run(&["count", ".", "-o", "r.csv", "--max-bad", "0"]);
    run.expect_code(65);
    run.stderr_has("location.csv:3: region_id \"x\" is not an integer");
    data.run(&["count", ".", "--max-bad", "ten"]).expect_code(2);
}

/// Issue 22: the mistakes everyone makes get messages that say what to
/// do, checked before anything is read.
#[test]
fn first_mistakes_get_plain_messages() {
    let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
    let run = data.run(&["count", "location.csv"]);
    run.expect_code(2);
    run.stderr_has("location.csv: is a file, but DATA_DIR is a folder");
    run.stderr_has("--locations location.csv");
    let run = data.run(&["count", "nosuch"]);
    run.expect_code(66);
    run.stderr_has("nosuch: no such folder");
    let run = data.run(&["count", ".", "-o", "nodir/result.csv"]);
    run.expect_code(74);
    run.stderr_has("nodir/result.csv: write failed: the folder nodir does not exist");
    assert!(!run.stderr.contains(".tmp"), "{}", run.stderr);

    // Binary files given as CSV: an Excel workbook, gzip without .gz.
    data.write(
        "events.xlsx",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00rest",
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, SEED_LOCATIONS.as_bytes()).unwrap();
    data.write("events.csv", gz.finish().unwrap());
    for (file, what) in [
        (
            "events.xlsx",
            "a ZIP archive (an Excel .xlsx workbook is one)",
        ),
        ("events.csv", "name the file *.csv.gz"),
    ] {
        let run = data.run(&[
            "count",
            "--regions",
            "region.csv",
            "--locations",
            file,
            "-o",
            "-",
        ]);
        run.expect_code(65);
        run.stderr_has(what);
    }
    data.write("wrong.csv", "a,b,c\n1,2,3\n");
    let run = data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "wrong.csv",
        "-o",
        "-",
    ]);
    run.expect_code(65);
    run.stderr_has("is this a location file? its header is");

    // Standard input, as people try first.
    let bin = crate::util::binary();
    let script = format!(
        "cat location.csv | \"{bin}\" count --regions region.csv --locations - -o piped.csv"
    );
    let run = data.run_program("bash", &["-c", &script]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    data.run(&["count", ".", "-o", "want.csv"]).ok();
    assert_eq!(data.read("piped.csv"), data.read("want.csv"));

    // The summary says where it wrote, in units that fit.
    let run = data.run(&[
        "count",
        ".",
        "--rejects",
        "rej.csv",
        "--stats-json",
        "s.json",
    ]);
    run.ok();
    run.stderr_has("  result:    ./result.csv");
    run.stderr_has("  rejects:   rej.csv");
    run.stderr_has("  stats:     s.json");
    run.stderr_has(" bytes in ");
    let stats: serde_json::Value = serde_json::from_str(&data.read("s.json")).unwrap();
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(stats["outputs"]["rejects"], "rej.csv");
    assert_eq!(stats["inputs"]["locations"][0], "./location.csv");
}

/// Issue 22: Ctrl-C on a terminal cleared nothing and said nothing. The
/// bar goes, and one line says what happened to the files.
#[test]
fn ctrl_c_on_a_terminal_says_nothing_was_written() {
    let data = DataDir::with(SEED_REGIONS, SEED_LOCATIONS);
    let bin = crate::util::binary();
    // `script` gives the count a terminal; the pipe keeps it waiting.
    let inner = format!(
        "mkfifo pipe.csv; timeout --preserve-status -s INT 1 \"{bin}\" count --backend cpu \
         --regions region.csv --locations pipe.csv -o out.csv"
    );
    let run = data.run_program("script", &["-qec", &inner, "/dev/null"]);
    assert_eq!(run.code, 130, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("interrupted: nothing was written"),
        "{}",
        run.stdout
    );
    assert!(!data.exists("out.csv"));
}

/// Issue 27: the README's dirty-input example runs from a copy of the
/// repository's sample/ and prints the summary the README shows (its
/// timings, threads and memory aside): "read" is the file's size, header
/// included, and one row is "1 row".
#[test]
fn the_readmes_dirty_input_example_prints_what_it_shows() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = "$ event-counter count --regions sample/region.csv --locations sample/dirty.csv";
    let start = readme
        .find(command)
        .expect("the README's dirty-input example");
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let mut lines = block.lines();
    let args: Vec<&str> = lines.next().unwrap().split(' ').skip(2).collect();
    let shown: Vec<&str> = lines.collect();
    let data = DataDir::new();
    std::fs::create_dir(data.path("sample")).unwrap();
    for file in ["region.csv", "dirty.csv"] {
        std::fs::copy(
            root.join("sample").join(file),
            data.path("sample").join(file),
        )
        .unwrap();
    }
    let mut with_cpu = args.clone();
    with_cpu.extend(["--backend", "cpu"]);
    let run = data.run(&with_cpu);
    run.ok();
    let printed: Vec<&str> = run.stderr.lines().collect();
    // Lines whose figures depend on the machine: compared up to them.
    let steady = |line: &str| -> String {
        match line.trim_start() {
            l if l.starts_with("backend:") || l.starts_with("memory:") => String::new(),
            l if l.starts_with("read:") => line.split(" in ").next().unwrap().to_string(),
            _ => line.to_string(),
        }
    };
    assert_eq!(
        printed.iter().map(|l| steady(l)).collect::<Vec<_>>(),
        shown.iter().map(|l| steady(l)).collect::<Vec<_>>(),
        "{}",
        run.stderr
    );
    assert!(data.exists("result.csv"));
}

/// Issue 27: the folder mistakes. A DATA_DIR with only location.csv.gz
/// counts it (and one with it and location.csv.zst says which it counts); one with only other location files says how to name them;
/// `count --locations s/location.csv s` takes s for DATA_DIR (clap had
/// read it as one more location); `--regions - --locations -` is refused.
#[test]
fn folder_mistakes_get_what_was_meant_or_a_hint() {
    let data = DataDir::new();
    std::fs::create_dir(data.path("s")).unwrap();
    data.write("s/region.csv", SEED_REGIONS);
    data.write("s/location.csv", SEED_LOCATIONS);
    let run = data.run(&[
        "count",
        "--backend",
        "cpu",
        "--locations",
        "s/location.csv",
        "s",
    ]);
    run.ok();
    assert_eq!(data.read("s/result.csv"), SEED_RESULT);

    std::fs::create_dir(data.path("gz")).unwrap();
    data.write("gz/region.csv", SEED_REGIONS);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, SEED_LOCATIONS.as_bytes()).unwrap();
    data.write("gz/location.csv.gz", e.finish().unwrap());
    data.run(&["count", "--backend", "cpu", "gz"]).ok();
    assert_eq!(data.read("gz/result.csv"), SEED_RESULT);
    // Two of them: which one counts is said, not left to be guessed.
    data.write("gz/location.csv.zst", b"not counted");
    let run = data.run(&["count", "--backend", "cpu", "gz"]);
    run.ok();
    assert_eq!(data.read("gz/result.csv"), SEED_RESULT);
    run.stderr_has(&format!(
        "location.csv.gz: counted; the folder also holds {}, which is not",
        std::path::Path::new("gz")
            .join("location.csv.zst")
            .display()
    ));
    // location.csv a link to nothing: said, not passed over for the .gz.
    std::os::unix::fs::symlink("gone.csv", data.path("gz/location.csv")).unwrap();
    let run = data.run(&["count", "--backend", "cpu", "gz"]);
    run.expect_code(66);
    run.stderr_has("location.csv");
    assert!(!run.stderr.contains("counted;"), "{}", run.stderr);

    std::fs::create_dir(data.path("years")).unwrap();
    data.write("years/region.csv", SEED_REGIONS);
    data.write("years/location_2019a.csv", SEED_LOCATIONS);
    let run = data.run(&["count", "--backend", "cpu", "years"]);
    run.expect_code(66);
    run.stderr_has("--locations 'years/location*.csv'");

    let run = data.run(&["count", "--regions", "-", "--locations", "-", "-o", "r.csv"]);
    run.expect_code(2);
    run.stderr_has("standard input (-) is named by both");
}
