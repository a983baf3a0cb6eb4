//! The subcommands around `count`: generate, merge, plot, adapters,
//! completions and man, plus the summary JSON, logging and progress rules.

use std::collections::HashMap;

use crate::util::{reference_result, DataDir};

/// The region names by id and the (id, date) rows of a data folder, read
/// with the `csv` crate: an independent reading of what generate wrote.
fn read_folder(data: &DataDir) -> (HashMap<i64, String>, Vec<(i64, String)>) {
    let mut names = HashMap::new();
    let mut regions = csv::Reader::from_path(data.path("region.csv")).unwrap();
    for record in regions.records() {
        let record = record.unwrap();
        names.insert(record[0].parse().unwrap(), record[1].to_string());
    }
    let mut rows = Vec::new();
    let mut locations = csv::Reader::from_path(data.path("location.csv")).unwrap();
    assert_eq!(
        locations.headers().unwrap(),
        vec!["lat", "long", "region_id", "date"]
    );
    for record in locations.records() {
        let record = record.unwrap();
        let lat: f64 = record[0].parse().unwrap();
        let long: f64 = record[1].parse().unwrap();
        assert!((-47.3..=-34.4).contains(&lat) && (166.4..=178.6).contains(&long));
        rows.push((record[2].parse().unwrap(), record[3].to_string()));
    }
    (names, rows)
}

#[test]
fn generate_is_deterministic_whatever_the_threads() {
    let (a, b) = (DataDir::new(), DataDir::new());
    // Three and a bit blocks of 65,536 rows, so threads really share work.
    a.run(&["generate", "--size", "9M", "--seed", "5", "-j", "1", "."])
        .ok();
    b.run(&["generate", "--size", "9M", "--seed", "5", "-j", "3", "."])
        .ok();
    assert!(a.read("location.csv") == b.read("location.csv"));
    let c = DataDir::new();
    c.run(&["generate", "--size", "9M", "--seed", "6", "."])
        .ok();
    assert_ne!(a.read("location.csv"), c.read("location.csv"));
}

/// Small blocks on many threads: the last block is often released together
/// with blocks that waited for it, which once cut the file by the wrong
/// block (a torn last row, or a tail of NUL bytes; about 1 run in 3 here).
#[test]
fn generate_places_the_last_block_right_under_a_thread_race() {
    let (a, b) = (DataDir::new(), DataDir::new());
    let args = |threads| {
        [
            "generate",
            "--size",
            "1M",
            "--block-rows",
            "1000",
            "-j",
            threads,
            "--force",
            ".",
        ]
    };
    a.run(&args("1")).ok();
    let want = std::fs::read(a.path("location.csv")).unwrap();
    assert!(want.ends_with(b"\n") && !want.contains(&0));
    for _ in 0..20 {
        b.run(&args("8")).ok();
        let got = std::fs::read(b.path("location.csv")).unwrap();
        assert!(
            got == want,
            "-j 8 wrote other bytes than -j 1 ({} vs {} bytes)",
            got.len(),
            want.len()
        );
    }
}

/// Issue 19: every thread holds a block, so `-j 1024` took 2.8 GB; the
/// threads are capped by the memory their blocks take, and the bytes stay
/// those of any other thread count.
#[test]
fn generate_with_many_threads_stays_in_memory() {
    let data = DataDir::new();
    let bin = crate::util::binary();
    // The peak memory of the child, in KiB, as the kernel kept it.
    let peak = "import resource, subprocess, sys; \
                subprocess.run(sys.argv[1:], check=True); \
                print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let run = data.run_program(
        "python3",
        &[
            "-c", peak, &bin, "generate", "-q", "-j", "1024", "--size", "60M", "many",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let kib: u64 = run.stdout.trim().parse().unwrap();
    assert!(
        kib < 400 << 10,
        "generate -j 1024 peaked at {} MiB",
        kib >> 10
    );
    data.run(&["generate", "-q", "-j", "2", "--size", "60M", "two"])
        .ok();
    let (many, two) = (
        data.path("many/location.csv"),
        data.path("two/location.csv"),
    );
    let len = std::fs::metadata(&many).unwrap().len();
    assert!(len <= 60 << 20 && len > (60 << 20) - 64, "{len}");
    assert!(std::fs::read(many).unwrap() == std::fs::read(two).unwrap());
}

/// Issue 22: `generate` replaced a hand-edited location.csv without a
/// word, and a failed one left a new folder and region.csv behind.
#[test]
fn generate_never_replaces_data_and_a_failed_run_leaves_nothing() {
    let data = DataDir::new();
    data.write("location.csv", "hand-edited");
    let run = data.run(&["generate", "--size", "1M", "."]);
    run.expect_code(2);
    run.stderr_has("never replaces data unless given --force");
    assert_eq!(data.read("location.csv"), "hand-edited");
    assert_eq!(data.files(), ["location.csv"]);
    data.run(&["generate", "--size", "1M", "--force", "."]).ok();
    assert!(data.read("location.csv").len() > 1_000_000);
    assert!(data.exists("region.csv"));
    for args in [&["--start", "2019-02-30"][..], &["--size", "1000T"]] {
        let run = data.run(&[&["generate"][..], args, &["new/sub"]].concat());
        run.expect_code(2);
        assert!(!data.exists("new"), "{args:?} left a folder");
    }
}

#[test]
fn generate_cuts_at_a_row_boundary_just_under_the_size() {
    let data = DataDir::new();
    let run = data.run(&["generate", "--size", "100K", "--days", "10", "."]);
    run.ok();
    let text = data.read("location.csv");
    assert!(text.len() <= 100 * 1024, "{}", text.len());
    assert!(text.len() > 100 * 1024 - 64, "{}", text.len());
    assert!(text.ends_with('\n'));
    let rows = text.lines().count() - 1;
    assert!(
        run.stderr
            .contains(&format!("wrote {rows} rows, {} bytes", text.len())),
        "{}",
        run.stderr
    );
    assert!(run
        .stderr
        .contains("region.csv (the New Zealand districts)"));
    assert_eq!(
        data.read("region.csv"),
        std::fs::read_to_string("sample/region.csv").unwrap()
    );

    // Every row is valid, dates span the range, ids come from region.csv:
    // count agrees with an independent reading of the files.
    let (names, rows) = read_folder(&data);
    let dates: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(dates.first(), Some(&"2019-01-01"));
    assert_eq!(dates.last(), Some(&"2019-01-10"));
    assert!(rows.iter().all(|(id, _)| names.contains_key(id)));
    data.run(&["count", ".", "--backend", "cpu"]).ok();
    assert_eq!(data.read("result.csv"), reference_result(&names, &rows));
}

#[test]
fn generate_draws_ids_from_the_folders_region_csv() {
    let data = DataDir::new();
    data.write(
        "region.csv",
        "region_id,region_name\n70,Seventy\n71,\"Seventy, One\"\n",
    );
    data.run(&[
        "generate",
        "--size",
        "20K",
        "--start",
        "2020-02-28",
        "--days",
        "3",
        ".",
    ])
    .ok();
    assert!(
        data.read("region.csv").starts_with("region_id"),
        "kept as it was"
    );
    let (names, rows) = read_folder(&data);
    assert!(rows.iter().all(|(id, _)| *id == 70 || *id == 71));
    assert!(rows.iter().any(|(_, d)| d == "2020-02-29"));
    assert!(rows
        .iter()
        .all(|(_, d)| ("2020-02-28".."2020-03-02").contains(&d.as_str())));
    assert_eq!(names.len(), 2);
}

#[test]
fn generate_rejects_bad_arguments() {
    let data = DataDir::new();
    for (args, message) in [
        (&["generate", "--size", "1.5G", "."][..], "is not a size"),
        (
            &["generate", "--start", "2019-02-30", "."][..],
            "the first date \"2019-02-30\"",
        ),
        (
            &["generate", "--days", "0", "."][..],
            "the dates must span at least 1 day",
        ),
        (
            &["generate", "--size", "10", "."][..],
            "smaller than the header",
        ),
    ] {
        let run = data.run(args);
        run.expect_code(2);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    assert!(!data.exists("location.csv"));
}

#[test]
fn stats_json_has_the_documented_fields_and_real_counts() {
    let data = DataDir::with(
        "region_id,region_name\n1,A\n2,B\n",
        "lat,long,region_id,date\n0,0,1,2019-01-01\n0,0,2,2019-01-01\n0,0,9,2019-01-02\n\
         0,0,x,2019-01-02\n0,0,1,2019-02-30\n\n0,0,1,2019-01-03\n",
    );
    for backend in crate::util::backends() {
        data.run(&[
            "count",
            ".",
            "--backend",
            backend,
            "-j",
            "2",
            "--stats-json",
            "stats.json",
        ])
        .ok();
        let stats: serde_json::Value = serde_json::from_str(&data.read("stats.json")).unwrap();
        let rows = &stats["rows"];
        assert_eq!(rows["counted"], 3, "{stats}");
        assert_eq!(rows["unmatched"], 1);
        assert_eq!(rows["malformed"], 2);
        assert_eq!(rows["blank"], 1);
        assert_eq!(rows["data"], 6);
        assert_eq!(stats["malformed_by_reason"]["bad_region_id"], 1);
        assert_eq!(stats["malformed_by_reason"]["no_such_date"], 1);
        assert_eq!(stats["malformed_by_reason"]["wrong_field_count"], 0);
        assert_eq!(stats["groups"], 3);
        // Issue 27: the file's size, header included (it was left out).
        assert_eq!(stats["bytes"], data.read("location.csv").len() as u64);
        assert_eq!(stats["backend"], backend);
        // The GPU backend says what the device did: here the three good
        // rows on the device, the three bad ones handed back.
        let gpu = &stats["gpu"];
        if backend == "gpu" {
            assert_eq!(gpu["rows_on_device"], 3, "{gpu}");
            assert_eq!(gpu["rows_handed_back"], 3, "{gpu}");
            // Only those rows were read again, not the file.
            let body = data.read("location.csv").len() as u64 - 24;
            assert!(gpu["bytes_reread"].as_u64().unwrap() <= body, "{gpu}");
            assert_eq!(gpu["chunks_on_cpu"], 0, "{gpu}");
            assert!(gpu["bytes_uploaded"].as_u64().unwrap() >= 24 + 76, "{gpu}");
            assert!(gpu["bytes_reread"].as_u64().unwrap() > 0, "{gpu}");
            for time in ["open", "upload", "wait", "readback", "judge"] {
                assert!(
                    gpu[format!("{time}_seconds")].as_f64().unwrap() >= 0.0,
                    "{gpu}"
                );
            }
        } else {
            assert!(gpu.is_null(), "{backend}: {gpu}");
        }
        assert_eq!(stats["threads"], 2);
        assert_eq!(stats["adapter"].is_string(), backend != "cpu");
        for stage in [
            "setup_seconds",
            "scan_seconds",
            "histogram_seconds",
            "output_seconds",
        ] {
            assert!(stats["stages"][stage].as_f64().unwrap() >= 0.0, "{stage}");
        }
        assert!(stats["seconds"].as_f64().unwrap() > 0.0);
        // The summary on stderr shows the same counts.
        let run = data.run(&["count", ".", "--backend", backend, "-j", "2"]);
        run.stderr_has("rows:      3 counted, 1 unmatched, 2 malformed, 1 blank");
        run.stderr_has(&format!("backend:   {backend}"));
        run.stderr_has(", 2 threads");
        assert!(stats["gb_per_s"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let data = DataDir::new();
    data.run(&["generate", "--size", "4M", "."]).ok();
    for args in [
        &["count", "."][..],
        &["generate", "--size", "4M", "--force", "."],
    ] {
        let run = data.run(args);
        run.ok();
        assert!(!run.stderr.contains('\r'), "{}", run.stderr);
        assert!(!run.stderr.contains("ETA"), "{}", run.stderr);
    }
    let run = data.run(&["count", ".", "-q"]);
    run.ok();
    assert_eq!(run.stderr, "");
}

#[test]
fn verbose_and_rust_log_show_the_choices() {
    let data = DataDir::new();
    data.run(&["generate", "--size", "64K", "."]).ok();
    let run = data.run(&["count", ".", "-v", "-j", "2", "--backend", "cpu"]);
    run.ok();
    run.stderr_has("backend cpu (--backend cpu)");
    run.stderr_has("2 scanning threads, 4096 KiB chunks");
    let run = data.run_env(
        &["count", ".", "--backend", "cpu"],
        &[("RUST_LOG", "event_counter=info")],
    );
    run.stderr_has("scanning threads");
    let run = data.run(&["count", ".", "--backend", "cpu"]);
    assert!(!run.stderr.contains("scanning threads"), "{}", run.stderr);
    // Issue 22: -v said twice which files the GPU parses, and warned of
    // nothing on a software adapter; generate's -v spoke of adapters.
    if crate::util::gpu_available() {
        let run = data.run(&["count", ".", "-v", "--backend", "gpu"]);
        run.ok();
        assert_eq!(
            run.stderr.matches("parsed on the GPU").count(),
            1,
            "{}",
            run.stderr
        );
        if run.stderr.contains("llvmpipe") {
            run.stderr_has("is a software adapter");
        }
    }
    let run = data.run(&["generate", "--help"]);
    run.ok();
    run.stdout_has("for count: backend");
}

#[test]
fn merge_adds_up_parts_in_any_order() {
    let data = DataDir::new();
    let head = "\"region_name\",\"date\",\"count\"\n";
    data.write(
        "a.csv",
        format!("{head}\"X\",\"2019-01-02\",\"5\"\n\"Y, \"\"y\"\"\",\"2019-01-01\",\"1\"\n"),
    );
    data.write(
        "b.csv",
        format!("{head}\"X\",\"2019-01-02\",\"7\"\n\"X\",\"2019-01-01\",\"2\"\n"),
    );
    data.write("empty.csv", head);
    let run = data.run(&["merge", "-o", "out.csv", "b.csv", "empty.csv", "a.csv"]);
    run.ok();
    assert_eq!(
        data.read("out.csv"),
        format!("{head}\"X\",\"2019-01-01\",\"2\"\n\"Y, \"\"y\"\"\",\"2019-01-01\",\"1\"\n\"X\",\"2019-01-02\",\"12\"\n")
    );
    run.stderr_has("merged 4 rows of 3 parts into 3 groups");

    // -d deletes the parts, but never the output even when it was a part.
    data.run(&["merge", "-d", "-o", "out.csv", "out.csv", "a.csv", "b.csv"])
        .ok();
    assert!(!data.exists("a.csv") && !data.exists("b.csv"));
    assert!(data.read("out.csv").contains("\"X\",\"2019-01-02\",\"24\""));
}

#[test]
fn merge_of_a_bad_part_names_it_and_writes_nothing() {
    let data = DataDir::new();
    data.write("good.csv", "region_name,date,count\nX,2019-01-01,1\n");
    data.write(
        "bad.csv",
        "region_name,date,count\nX,2019-01-01,1\nX,2019-01-01,-3\n",
    );
    let run = data.run(&["merge", "-d", "-o", "out.csv", "good.csv", "bad.csv"]);
    run.expect_code(65);
    run.stderr_has("bad.csv:3: count \"-3\" is not a whole number");
    assert!(!data.exists("out.csv"));
    assert!(
        data.exists("good.csv"),
        "-d deletes nothing when the merge fails"
    );
    data.run(&["merge", "-o", "out.csv", "missing.csv"])
        .expect_code(66);
}

/// Width and height from a PNG's IHDR chunk.
#[cfg(feature = "plot")]
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[cfg(feature = "plot")]
#[test]
fn plot_writes_png_and_svg_of_the_asked_size() {
    let data = DataDir::new();
    data.run(&["generate", "--size", "200K", "--days", "30", "."])
        .ok();
    data.run(&["count", ".", "--backend", "cpu"]).ok();
    let size = ["--width", "900", "--height", "600"];
    data.run(&[&["plot", "result.csv", "-o", "map.png"][..], &size].concat())
        .ok();
    let png = std::fs::read(data.path("map.png")).unwrap();
    assert_eq!(png_size(&png), (900, 600));
    // Issue 22: the picture had the temporary file's mode, 600; it has a
    // plain file's (0666 less the umask), as every other output.
    use std::os::unix::fs::PermissionsExt;
    data.write("plain", "x");
    let mode = |name: &str| {
        std::fs::metadata(data.path(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("map.png"), mode("plain"));
    assert!(
        png.len() > 10_000,
        "a picture, not a blank: {} bytes",
        png.len()
    );

    data.run(&[&["plot", "result.csv", "-o", "map.svg"][..], &size].concat())
        .ok();
    let svg = data.read("map.svg");
    assert!(
        svg.contains("<svg") && svg.contains("width=\"900\"") && svg.contains("height=\"600\"")
    );
    assert!(
        svg.contains("Ashburton District"),
        "region names label the rows"
    );
    assert!(svg.contains("2019-01-01"), "dates label the x axis");

    let run = data.run(&["plot", "result.csv", "-o", "map.gif"]);
    run.expect_code(2);
    run.stderr_has(".png or .svg");
}

#[cfg(feature = "gpu")]
#[test]
fn adapters_lists_what_wgpu_finds_and_the_auto_choice() {
    let run = DataDir::new().run(&["adapters"]);
    run.ok();
    run.stdout_has("--backend auto uses");
    if crate::util::gpu_available() {
        assert!(
            run.stdout.contains("backend:") && run.stdout.contains("type:"),
            "{}",
            run.stdout
        );
    }
    // CI names the adapter it installed (lavapipe), so a lost adapter fails.
    if let Ok(name) = std::env::var("EVENT_COUNTER_EXPECT_ADAPTER") {
        assert!(run.stdout.contains(&name), "{name} not in:\n{}", run.stdout);
    }
}

/// Issue 19: `adapters` in a build without GPU support exited 0, where
/// the README promises 69 for what a build lacks.
#[cfg(not(feature = "gpu"))]
#[test]
fn adapters_without_gpu_support_says_so_with_69() {
    let run = DataDir::new().run(&["adapters"]);
    run.expect_code(69);
    run.stderr_has("no GPU support");
}

#[test]
fn completions_and_man_page_come_from_the_cli() {
    let data = DataDir::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = data.run(&["completions", shell]);
        run.ok();
        assert!(run.stdout.len() > 1000, "{shell}");
        assert!(
            run.stdout.contains("stats-json"),
            "{shell} completes count's flags"
        );
    }
    let run = data.run(&["man"]);
    run.ok();
    run.stdout_has(".TH event-counter 1");
    assert!(
        run.stdout.contains("event\\-counter\\-count"),
        "a page per subcommand"
    );
    assert!(run.stdout.contains("\\-\\-strict"));
    // Issue 22: an exit status section, and the pages it points to.
    assert!(run.stdout.contains(".SH \"EXIT STATUS\""));
    // Into a folder that is not there yet (the help's example, a user's
    // ~/.local/share/man/man1, often is not): made, as `install -D` does.
    data.run(&["man", "share/man/man1"]).ok();
    for page in [
        "event-counter.1",
        "event-counter-count.1",
        "event-counter-merge.1",
    ] {
        assert!(
            data.read(&format!("share/man/man1/{page}"))
                .starts_with(".ie"),
            "{page}"
        );
    }
    // Issue 19: with standard output closed they said nothing and exited 0.
    for args in ["completions bash", "man"] {
        let script = format!("exec \"{}\" {args} >&-", crate::util::binary());
        let run = data.run_program("sh", &["-c", &script]);
        assert_eq!(run.code, 74, "{args}: {}", run.stderr);
        assert!(
            run.stderr.contains("standard output was closed"),
            "{}",
            run.stderr
        );
    }
}

/// Issue 27: bash completed nothing past the subcommand (clap_complete's
/// branch labels never matched its state, clap-rs/clap#6421), every shell
/// offered the hidden tuning flags, and only the tool's man page had an
/// EXIT STATUS section.
#[test]
fn completions_reach_the_flags_but_not_the_hidden_ones_and_every_page_has_exit_status() {
    let data = DataDir::new();
    data.write(
        "complete.bash",
        data.run(&["completions", "bash"]).ok().stdout.as_bytes(),
    );
    // What bash offers for the words typed so far, the last being completed.
    let offers = |words: &[&str]| -> Vec<String> {
        let script = format!(
            "source ./complete.bash; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             _event__counter event-counter {cur} {prev}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words = words.join(" "),
            cword = words.len() - 1,
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let run = data.run_program("bash", &["-c", &script]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        // printf prints one empty line for no words at all.
        run.stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(offers(&["event-counter", "count", "--b"]), ["--backend"]);
    assert!(offers(&["event-counter", "count", "--"]).contains(&"--stats-json".to_string()));
    assert!(offers(&["event-counter", "count", "--ch"]).is_empty());
    assert!(offers(&["event-counter", "count", "--p"]).is_empty());
    assert!(offers(&["event-counter", "generate", "--bl"]).is_empty());
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = data.run(&["completions", shell]).ok().stdout.clone();
        assert!(script.contains("stats-json"), "{shell}");
        for hidden in ["chunk-size", "mmap", "flush-every", "block-rows"] {
            let offered = script
                .lines()
                .filter(|l| shell != "bash" || l.trim_start().starts_with("opts="))
                .any(|l| l.contains(hidden));
            assert!(!offered, "{shell} offers --{hidden}");
        }
    }
    data.run(&["man", "."]).ok();
    for sub in [
        "",
        "-count",
        "-generate",
        "-merge",
        "-plot",
        "-adapters",
        "-completions",
        "-man",
    ] {
        let page = data.read(&format!("event-counter{sub}.1"));
        assert!(page.contains(".SH \"EXIT STATUS\""), "event-counter{sub}.1");
    }
}

/// Issue 19: a shard's rejects with a crafted `part_lines` of 2^64 - 1
/// made merged line numbers wrap; it is bad data (65).
#[test]
fn merge_refuses_part_lines_that_wrap() {
    let data = DataDir::new();
    data.write("region.csv", "region_id,region_name\n1,A\n");
    let mut rows = String::from("lat,long,region_id,date\n");
    for i in 0..200 {
        rows.push_str(if i % 7 == 0 {
            "0,0,x,2019-01-01\n"
        } else {
            "0,0,1,2019-01-01\n"
        });
    }
    data.write("location.csv", &rows);
    for i in 0..2 {
        let split = format!("{i}/2");
        let rejects = format!("j{i}.csv");
        let args = [
            "count",
            ".",
            "-q",
            "--split",
            &split,
            "-o",
            "/dev/null",
            "--rejects",
            &rejects,
        ];
        data.run(&args).ok();
    }
    data.run(&["merge", "-o", "ok.csv", "j0.csv", "j1.csv"])
        .ok();
    // Shard 0's end record: the one record with part_lines set.
    let mut reader = csv::Reader::from_path(data.path("j0.csv")).unwrap();
    let headers = reader.byte_headers().unwrap().clone();
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_path(data.path("crafted.csv"))
        .unwrap();
    writer.write_byte_record(&headers).unwrap();
    let mut ends = 0;
    for record in reader.byte_records() {
        let record = record.unwrap();
        let mut fields: Vec<Vec<u8>> = record.iter().map(<[u8]>::to_vec).collect();
        if !fields[5].is_empty() {
            fields[5] = u64::MAX.to_string().into_bytes();
            ends += 1;
        }
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
    assert_eq!(ends, 1);
    let run = data.run(&["merge", "-o", "bad.csv", "crafted.csv", "j1.csv"]);
    run.expect_code(65);
    run.stderr_has("past 2^64");
    assert!(!data.exists("bad.csv"));
}

#[test]
fn every_subcommand_shows_examples_in_its_help() {
    let data = DataDir::new();
    let run = data.run(&["--help"]);
    for sub in [
        "count",
        "generate",
        "merge",
        "plot",
        "adapters",
        "completions",
        "man",
    ] {
        assert!(run.stdout.contains(sub), "{sub} listed");
        let help = data.run(&[sub, "--help"]);
        help.ok();
        assert!(help.stdout.contains("Examples:"), "{sub}:\n{}", help.stdout);
        assert!(
            help.stdout.contains(&format!("event-counter {sub}")),
            "{sub}"
        );
    }
}

const SHARD_REGIONS: &str = "region_id,region_name\n1,A\n2,B\n3,C\n";

/// `n` rows over three regions and a month, their order set by `seed`.
fn shard_rows(seed: usize, n: usize) -> String {
    let mut text = String::from("lat,long,region_id,date\n");
    for i in 0..n {
        let k = i * 7 + seed;
        text.push_str(&format!("0,0,{},2019-01-{:02}\n", 1 + k % 3, 1 + k % 28));
    }
    text
}

/// Counts `args` in `data`, quietly, expecting success.
fn count_ok(data: &DataDir, args: &[&str]) {
    data.run(&[&["count", "-q"][..], args].concat()).ok();
}

/// Issue 27: `merge -o p0.csv p0.csv p1.csv` replaced p0.csv with the
/// whole result but kept its manifest ("shard 0/2"), and so did an
/// unsharded count into p0.csv: a later merge of p0.csv and p1.csv added
/// shard 1's rows twice, exit 0. A result written unsharded takes the
/// manifest at its path away, in the same commit; a shard's replaces it.
#[test]
fn a_result_written_over_a_shard_takes_its_manifest_away() {
    let data = DataDir::with(SHARD_REGIONS, &shard_rows(0, 2000));
    count_ok(&data, &[".", "-o", "want.csv"]);
    let want = data.read("want.csv");
    assert!(!data.exists("want.csv.shard.json"));
    let shards = |prefix: &str| {
        for i in 0..2 {
            let (split, out) = (format!("{i}/2"), format!("{prefix}{i}.csv"));
            count_ok(&data, &[".", "--split", &split, "-o", &out]);
        }
    };

    shards("p");
    data.run(&["merge", "-q", "-o", "p0.csv", "p0.csv", "p1.csv"])
        .ok();
    assert_eq!(data.read("p0.csv"), want);
    assert!(!data.exists("p0.csv.shard.json"));
    let run = data.run(&["merge", "-o", "m.csv", "p0.csv", "p1.csv"]);
    run.expect_code(2);
    run.stderr_has("p0.csv: has no shard manifest beside it");
    assert!(!data.exists("m.csv"));

    shards("q");
    count_ok(&data, &[".", "-o", "q0.csv"]);
    assert!(!data.exists("q0.csv.shard.json"));
    data.run(&["merge", "-o", "m.csv", "q0.csv", "q1.csv"])
        .expect_code(2);
    // A shard counted again at its path has its manifest again, and a
    // link to a result finds the manifest of the file it leads to.
    count_ok(&data, &[".", "--split", "0/2", "-o", "q0.csv"]);
    std::os::unix::fs::symlink("q1.csv", data.path("link.csv")).unwrap();
    data.run(&["merge", "-q", "-o", "m.csv", "q0.csv", "link.csv"])
        .ok();
    assert_eq!(data.read("m.csv"), want);
    count_ok(&data, &[".", "-o", "link.csv"]);
    assert!(!data.exists("q1.csv.shard.json"));
}

/// Issue 27: the manifest held only the shard, the shard count and the
/// input's size, so shards of two files of one size, or counted against
/// two region.csv files, merged with exit 0. It names the inputs (where
/// they are, and their sizes), region.csv's fingerprint and the options;
/// merge refuses parts that differ in any, naming both and what differs.
#[test]
fn merge_refuses_shards_of_different_counts() {
    let data = DataDir::new();
    data.write("region.csv", SHARD_REGIONS);
    data.write("other_regions.csv", SHARD_REGIONS.replace(",C", ",Z"));
    data.write("a.csv", shard_rows(0, 1000));
    data.write("b.csv", shard_rows(1, 1000));
    assert_eq!(data.read("a.csv").len(), data.read("b.csv").len());
    let shard = |regions: &str, input: &str, split: &str, out: &str, more: &[&str]| {
        let args = ["--regions", regions, "--locations", input, "--split", split];
        count_ok(&data, &[&args[..], &["-o", out], more].concat());
    };
    shard("region.csv", "a.csv", "0/2", "a0.csv", &[]);
    shard("region.csv", "a.csv", "1/2", "a1.csv", &[]);
    shard("region.csv", "b.csv", "1/2", "b1.csv", &[]);
    shard("other_regions.csv", "a.csv", "1/2", "r1.csv", &[]);
    shard("region.csv", "a.csv", "1/2", "s1.csv", &["--strict"]);
    shard("region.csv", "a.csv", "0/2", "again0.csv", &[]);
    for (second, says) in [
        ("b1.csv", "input 1 is "),
        ("r1.csv", "region.csv files of different contents"),
        ("s1.csv", "options "),
    ] {
        let run = data.run(&["merge", "-o", "m.csv", "a0.csv", second]);
        run.expect_code(2);
        run.stderr_has(&format!(
            "a0.csv (shard 0/2) and {second} (shard 1/2): they are parts of different counts \
             ({says}"
        ));
    }
    data.run(&["merge", "-o", "m.csv", "a0.csv", "again0.csv", "a1.csv"])
        .expect_code(2)
        .stderr_has("are both shard 0/2");
    data.run(&["merge", "-o", "m.csv", "a0.csv"])
        .expect_code(2)
        .stderr_has("the result of shard 1/2 is missing");
    assert!(!data.exists("m.csv"));
    data.run(&["merge", "-q", "-o", "m.csv", "a0.csv", "a1.csv"])
        .ok();
    count_ok(
        &data,
        &[
            "--regions",
            "region.csv",
            "--locations",
            "a.csv",
            "-o",
            "want.csv",
        ],
    );
    assert_eq!(data.read("m.csv"), data.read("want.csv"));
}

/// Issue 27: `generate` killed by a signal removed its temporary file but
/// left the folders it had made.
#[test]
fn generate_killed_leaves_no_folder_it_made() {
    let data = DataDir::new();
    // Signalled once its temporary file is there (up to 60 s).
    let script = format!(
        "\"{}\" generate -q --size 1G new/sub &
         pid=$!
         for i in $(seq 600); do
           ls -a new/sub 2>/dev/null | grep -q '^\\.location\\.csv\\.' && break
           sleep 0.1
         done
         kill -TERM $pid
         wait $pid
         echo $?",
        crate::util::binary()
    );
    let run = data.run_program("bash", &["-c", &script]);
    assert_eq!(run.stdout.trim(), "143", "{}", run.stderr);
    assert!(!data.exists("new"), "{:?}", data.files());
}
