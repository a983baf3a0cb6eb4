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
        "--max-bad",
        "100%",
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
/// most 1,500 of them (dense bins once took 1.77 GB for this). Measured
/// against the same backend and names on one row, since what a backend
/// holds whatever the rows (on lavapipe, the GPU's buffers live in host
/// memory: about 190 MiB) is not what this is about.
#[test]
fn many_names_times_many_dates_with_few_rows_stays_small() {
    let mut locations = String::from("lat,long,region_id,date\n");
    for i in 0..1500 {
        locations.push_str(&format!("0,0,{},{}\n", (i * 7919) % 100_000, date(i)));
    }
    for backend in backends() {
        let one_row = "lat,long,region_id,date\n0,0,0,2019-01-01\n";
        let small = DataDir::with(&regions(100_000), one_row);
        let (run, floor_mib) = count_measured(&small, backend);
        run.ok();
        let data = DataDir::with(&regions(100_000), &locations);
        let (run, peak_mib) = count_measured(&data, backend);
        run.ok();
        run.stderr_has("counted 1500 rows into 1500 groups");
        assert!(
            peak_mib < floor_mib + 64,
            "{backend}: peak RSS {peak_mib} MiB, against {floor_mib} MiB for one row"
        );
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

/// Files read whole are checked by their header first, and capped: a file
/// given to the wrong flag, or /dev/zero, fails at once instead of filling
/// memory.
#[test]
fn small_files_are_checked_by_header_first_and_capped() {
    let data = DataDir::with(&regions(3), "lat,long,region_id,date\n0,0,1,2019-01-01\n");
    let counts = [
        &[
            "count",
            "--regions",
            "/dev/zero",
            "--locations",
            "location.csv",
            "-o",
            "-",
        ][..],
        &[
            "count",
            "--regions",
            "location.csv",
            "--locations",
            "region.csv",
            "-o",
            "-",
        ],
        &["merge", "-o", "-", "/dev/zero"],
        &["merge", "-o", "-", "location.csv"],
    ];
    for args in counts {
        let run = data.run(args);
        run.expect_code(65);
        assert!(
            run.stderr.contains("longer than 1 MiB") || run.stderr.contains("has no \""),
            "{args:?}: {}",
            run.stderr
        );
    }
    // A region.csv with a good header and 257 MiB after it (a sparse file:
    // no disk is used) is larger than one may be.
    let big = std::fs::File::create(data.path("big.csv")).unwrap();
    std::io::Write::write_all(&mut &big, b"region_id,region_name\n").unwrap();
    big.set_len(257 << 20).unwrap();
    let run = data.run(&[
        "count",
        "--regions",
        "big.csv",
        "--locations",
        "location.csv",
        "-o",
        "-",
    ]);
    run.expect_code(65);
    run.stderr_has("larger than 256 MiB, the most region.csv may be");
}

#[cfg(feature = "plot")]
#[test]
fn plot_checks_its_input_and_its_size_and_names_write_errors() {
    let data = DataDir::new();
    data.run(&["plot", "/dev/zero", "-o", "p.png"])
        .expect_code(65);
    data.write("empty.csv", "\"region_name\",\"date\",\"count\"\n");
    let run = data.run(&["plot", "empty.csv", "-o", "p.png"]);
    run.expect_code(65);
    run.stderr_has("empty.csv:2: the result has no rows");
    data.write(
        "r.csv",
        "\"region_name\",\"date\",\"count\"\n\"nul\u{0}name\",\"2019-01-01\",\"3\"\n\"b\",\"2019-01-02\",\"1\"\n",
    );
    data.run(&["plot", "r.csv", "-o", "p.png", "--width", "20000"])
        .expect_code(2);
    data.run(&[
        "plot", "r.csv", "-o", "p.png", "--width", "9000", "--height", "9000",
    ])
    .expect_code(2);
    // An SVG is XML, which has no NUL: the name shows U+FFFD instead.
    data.run(&["plot", "r.csv", "-o", "p.svg"]).ok();
    let svg = data.read("p.svg");
    assert!(!svg.contains('\u{0}') && svg.contains("nul\u{fffd}name"));
    // Write errors are words, not Rust's debug text.
    let run = data.run(&["plot", "r.csv", "-o", "no/such/dir/p.png"]);
    run.expect_code(74);
    assert!(
        !run.stderr.contains("Os {") && !run.stderr.contains("Error("),
        "{}",
        run.stderr
    );
    std::os::unix::fs::symlink("/dev/full", data.path("full.svg")).unwrap();
    let run = data.run(&["plot", "r.csv", "-o", "full.svg"]);
    run.expect_code(74);
    run.stderr_has("No space left on device");
}

#[test]
fn thread_counts_past_the_limit_are_refused() {
    let data = DataDir::with(&regions(3), "lat,long,region_id,date\n0,0,1,2019-01-01\n");
    for sub in [&["count", "."][..], &["generate", "."]] {
        let run = data.run(&[sub, &["-j", "40000"]].concat());
        run.expect_code(2);
        run.stderr_has("1..=1024");
    }
    let run = data.run(&["count", ".", "-j", "1", "--backend", "cpu"]);
    run.ok();
    run.stderr_has("cpu, 1 thread\n");
}

#[test]
fn generate_refuses_more_than_the_free_space() {
    let data = DataDir::new();
    let run = data.run(&["generate", "--size", "18446744073709551615", "."]);
    run.expect_code(2);
    run.stderr_has("bytes free there");
    assert!(!data.files().iter().any(|f| f.contains("location.csv")));
}

/// A killed run removes its temporary files: a killed `generate` left one
/// preallocated to the full size.
#[test]
fn a_killed_run_leaves_no_temporary_file() {
    use std::time::{Duration, Instant};
    let data = DataDir::new();
    let mut child = std::process::Command::new(crate::util::binary())
        .args(["generate", "-q", "--size", "4G", "-j", "1", "."])
        .current_dir(data.dir.path())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !data.files().iter().any(|f| f.starts_with(".location.csv.")) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no temporary file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    // Not even region.csv: it appears with location.csv or not at all.
    assert!(data.files().is_empty(), "{:?}", data.files());
}

/// Rough edges of bad input: a NUL in a header is shown escaped, and a
/// file with CR-only line ends is named as such.
#[test]
fn odd_headers_are_named_plainly() {
    let data = DataDir::with(&regions(3), "lat,lo\u{0}ng,date\n1,2,2019-01-01\n");
    let run = data.run(&["count", ".", "-o", "-"]);
    run.expect_code(65);
    run.stderr_has("\"lo\\0ng\"");
    assert!(!run.stderr.contains('\u{0}'));
    data.write(
        "location.csv",
        "lat,long,region_id,date\r0,0,1,2019-01-01\r",
    );
    let run = data.run(&["count", ".", "-o", "-"]);
    run.expect_code(65);
    run.stderr_has("CR-only line ends");
}

/// A file that shrinks while it is read (another process truncates it) is
/// a read error naming it, not a SIGBUS that kills the run without a word.
#[test]
fn a_file_that_shrinks_while_read_is_an_error() {
    use std::time::{Duration, Instant};
    let data = DataDir::new();
    data.write("region.csv", regions(3));
    let row = b"0,0,1,2019-01-01\n";
    let mut text = b"lat,long,region_id,date\n".to_vec();
    while text.len() < 256 << 20 {
        text.extend_from_slice(row);
    }
    data.write("location.csv", &text);
    let child = std::process::Command::new(crate::util::binary())
        .args([
            "count",
            ".",
            "-q",
            "-j",
            "1",
            "--chunk-size",
            "1048576",
            "--backend",
            "cpu",
            // Reading with pread (the default), a shorter file is a short
            // read; mapped, a touch past its new end is a SIGBUS.
            "--mmap",
            "-o",
            "out.csv",
        ])
        .current_dir(data.dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the file is mapped, the count is reading it: cut it short.
    let maps = format!("/proc/{}/maps", child.id());
    let started = Instant::now();
    while !std::fs::read_to_string(&maps)
        .unwrap_or_default()
        .contains("location.csv")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the file was never mapped"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(data.path("location.csv"))
        .unwrap()
        .set_len(100_000)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(74), "{stderr}");
    assert!(
        stderr.contains("location.csv") && stderr.contains("shrank"),
        "{stderr}"
    );
    assert!(!data.exists("out.csv"));
}

/// Issue 19: a row over 1 MiB is rejected with the same text (its first
/// MiB) on every backend and in a merge of shards, whose rejects `merge`
/// reads; the limit is on the row's text, so a row of exactly 1 MiB counts
/// with a CRLF line end as with LF.
#[test]
fn a_too_long_row_is_rejected_alike_everywhere() {
    let row = |i: usize| format!("0,0,{},2019-01-{:02}\n", 1 + i % 3, 1 + i % 28);
    let mut file = String::from("lat,long,region_id,date\n");
    let mut i = 0;
    while file.len() < 3_500_000 {
        file.push_str(&row(i));
        i += 1;
    }
    // 2 MiB, then rows again; and rows of exactly 1 MiB with LF and CRLF.
    file.push_str(&format!("{},0,1,2019-02-01\n", "9".repeat(2 << 20)));
    let exact = |end: &str| format!("{},0,1,2019-03-01{end}", "8".repeat((1 << 20) - 15));
    file.push_str(&exact("\n"));
    file.push_str(&exact("\r\n"));
    (0..1000).for_each(|i| file.push_str(&row(i)));
    assert_eq!(exact("").len(), 1 << 20);
    let data = DataDir::with(&regions(4), &file);

    let mut all = Vec::new();
    for backend in backends() {
        let rejects = format!("rejects-{backend}.csv");
        let args = ["count", ".", "--backend", backend, "-o", "r.csv"];
        let run = data.run(&[&args[..], &["--rejects", &rejects]].concat());
        run.ok();
        run.stderr_has("(line_too_long 1)");
        all.push((backend.to_string(), data.read(&rejects), data.read("r.csv")));
    }
    // Two shards' rejects, merged.
    for i in 0..2 {
        let split = format!("{i}/2");
        let (out, rejects) = (format!("r{i}.csv"), format!("j{i}.csv"));
        let args = [
            "count",
            ".",
            "--split",
            &split,
            "-o",
            &out,
            "--rejects",
            &rejects,
        ];
        data.run(&args).ok();
    }
    data.run(&["merge", "-o", "merged-rejects.csv", "j0.csv", "j1.csv"])
        .ok();
    data.run(&["merge", "-o", "merged.csv", "r0.csv", "r1.csv"])
        .ok();
    all.push((
        "2 shards".into(),
        data.read("merged-rejects.csv"),
        data.read("merged.csv"),
    ));
    let (_, rejects, result) = &all[0];
    let text = format!("{},0,1,2019-02-01", "9".repeat(2 << 20));
    assert!(rejects.contains(&format!(",\"{}\"\n", &text[..1 << 20])));
    assert!(
        result.contains("\"2019-03-01\",\"2\""),
        "both 1 MiB rows counted"
    );
    for (name, other_rejects, other_result) in &all[1..] {
        assert!(
            other_rejects == rejects,
            "{name}: rejects differ from the cpu's"
        );
        assert!(
            other_result == result,
            "{name}: result differs from the cpu's"
        );
    }
}

/// Issue 19: with `--rejects`, a file of nothing but bad rows took 440 MB
/// on `cpu` and 1.2 GB on `gpu` for 200 MB of input: reports of every bad
/// row piled up before the ledger. Memory stays bounded whatever the share
/// of bad rows: here 64 MiB of them cost at most 128 MiB more than a clean
/// count, on every backend.
#[test]
fn memory_with_rejects_is_bounded_on_dirty_data() {
    let row = "0,0,x,2019-01-01\n";
    let mut file = String::with_capacity(64 << 20);
    file.push_str("lat,long,region_id,date\n");
    while file.len() < 64 << 20 {
        file.push_str(row);
    }
    let data = DataDir::with(&regions(3), &file);
    for backend in backends() {
        let (run, clean) = count_measured(&data, backend);
        run.ok();
        let run = data.run(&[
            "count",
            ".",
            "--backend",
            backend,
            "--rejects",
            "rejects.csv",
            "--stats-json",
            "stats.json",
            "--max-bad",
            "100%",
        ]);
        run.ok();
        let stats: serde_json::Value = serde_json::from_str(&data.read("stats.json")).unwrap();
        let peak = stats["peak_memory_bytes"].as_u64().unwrap() >> 20;
        assert!(
            peak < clean + 128,
            "{backend}: {peak} MiB with rejects, {clean} MiB without"
        );
        std::fs::remove_file(data.path("rejects.csv")).unwrap();
    }
}

/// Issue 19: `merge` and `plot` read a result file over their 4 GiB limit
/// whole (4 GiB of memory, 20 s) before refusing it. A file with a good
/// header is refused by its size, in a process allowed 1 GiB.
#[test]
fn a_result_over_the_limit_is_refused_by_its_size() {
    let data = DataDir::new();
    let big = std::fs::File::create(data.path("big.csv")).unwrap();
    std::io::Write::write_all(&mut &big, b"\"region_name\",\"date\",\"count\"\n").unwrap();
    big.set_len(5 << 30).unwrap(); // sparse: no disk used
    let bin = crate::util::binary();
    let mut commands = vec![format!("\"{bin}\" merge -o out.csv big.csv")];
    if cfg!(feature = "plot") {
        commands.push(format!("\"{bin}\" plot big.csv -o out.png"));
    }
    for command in commands {
        let run = data.run_program("bash", &["-c", &format!("ulimit -v 1048576; {command}")]);
        assert_eq!(run.code, 65, "{command}: {}", run.stderr);
        assert!(
            run.stderr.contains("larger than 4096 MiB"),
            "{}",
            run.stderr
        );
    }
}

/// Issue 27: 64 descriptors were cached whatever the process's limit, so
/// a folder of 200 files under `ulimit -n 64` failed with "Too many open
/// files" (exit 66, as if an input were missing). The cache is sized from
/// the limit, and the folder counts like one file of the same rows.
#[test]
fn a_folder_counts_under_a_low_descriptor_limit() {
    let data = DataDir::new();
    data.write("region.csv", "region_id,region_name\n1,A\n2,B\n");
    std::fs::create_dir(data.path("many")).unwrap();
    let mut whole = String::from("lat,long,region_id,date\n");
    for i in 0..200 {
        let rows = format!("1,2,{},2019-01-{:02}\n", 1 + i % 2, 1 + i % 28);
        whole.push_str(&rows);
        data.write(
            &format!("many/{i:03}.csv"),
            format!("lat,long,region_id,date\n{rows}"),
        );
    }
    data.write("whole.csv", &whole);
    data.run(&[
        "count",
        "--backend",
        "cpu",
        "--regions",
        "region.csv",
        "--locations",
        "whole.csv",
        "-o",
        "want.csv",
    ])
    .ok();
    let bin = crate::util::binary();
    for (backend, threads) in [("cpu", 1), ("cpu", 8), ("auto", 8)] {
        let script = format!(
            "ulimit -n 64 && exec \"{bin}\" count --backend {backend} -j {threads} \
             --regions region.csv --locations many -o got.csv"
        );
        let run = data.run_program("sh", &["-c", &script]);
        assert_eq!(run.code, 0, "{backend} -j {threads}: {}", run.stderr);
        assert_eq!(
            data.read("got.csv"),
            data.read("want.csv"),
            "{backend} -j {threads}"
        );
    }
}

/// Issue 27: a file cut and written back to the same size while it was
/// read counted silently (shrinking or growing alone was caught). The run
/// waits on a named pipe listed after the file; meanwhile the file (with
/// an old modification time, so the rewrite's is another at any clock
/// granularity) is emptied and written back byte for byte: exit 74.
#[test]
fn a_file_rewritten_to_its_size_while_read_is_an_error() {
    let data = DataDir::with(
        "region_id,region_name\n1,A\n",
        "lat,long,region_id,date\n1,2,1,2019-01-01\n1,2,1,2019-01-02\n",
    );
    let bin = crate::util::binary();
    let script = format!(
        "touch -d @1000000 location.csv && cp location.csv copy && mkfifo pipe.csv && \
         (\"{bin}\" count --backend cpu --regions region.csv --locations location.csv pipe.csv \
          -o out.csv; echo \"exit $?\" > code) & \
         sleep 0.5; : > location.csv; cat copy > location.csv; head -n 1 copy > pipe.csv; \
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
        run.stderr.contains("written to while it was read"),
        "{}",
        run.stderr
    );
    assert!(!data.exists("out.csv"));
}
