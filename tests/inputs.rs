//! Many inputs, compressed inputs, and shards: `--locations` with files,
//! folders and globs, `.gz` and `.zst` streams, and `count --split I/N`
//! merged back with `merge`.

use std::io::Write;

use crate::util::DataDir;
use proptest::prelude::*;

const REGIONS: &str = "region_id,region_name\n1,Alpha\n2,\"Beta, B\"\n3,Gamma\n";

/// Runs `count` with region.csv on `locations`, writing to `out`.
fn count(data: &DataDir, locations: &[&str], out: &str) -> crate::util::Run {
    let mut args = vec!["count", "--regions", "region.csv", "-o", out, "--locations"];
    args.extend_from_slice(locations);
    data.run(&args)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Location rows from a seed: row lengths vary a lot (long lat/long
/// fields, blank lines, CRLF, malformed and unmatched rows), so shard and
/// chunk edges fall everywhere, also inside rows.
fn locations(seed: u64, rows: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut out = String::from("\"lat\",\"long\",\"region_id\",\"date\"\n");
    for _ in 0..rows {
        let pad = "9".repeat(next(40) as usize);
        let row = match next(20) {
            0 => String::new(),
            1 => format!("1.{pad},2,x,2019-01-01"),
            2 => format!("1,2,{},2019-02-30", 1 + next(3)),
            3 => format!("1,2,7,2019-01-0{}", 1 + next(9)),
            _ => format!(
                "\"-4{pad}.1\",\"17.{pad}\",\"{}\",\"2019-01-0{}\"",
                1 + next(3),
                1 + next(9)
            ),
        };
        out.push_str(&row);
        out.push_str(if next(5) == 0 { "\r\n" } else { "\n" });
    }
    out
}

#[test]
fn folders_globs_and_compressed_files_count_like_one_plain_file() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    let parts: Vec<String> = (0..4).map(|i| locations(i, 300)).collect();
    // The same rows as one plain file...
    let mut all = parts[0].clone();
    for part in &parts[1..] {
        all.push_str(part.split_once('\n').unwrap().1);
    }
    data.write("all.csv", &all);
    // ...and as a folder of plain, gzip and zstd files (sorted by name).
    std::fs::create_dir(data.path("many")).unwrap();
    data.write("many/a.csv", &parts[0]);
    data.write("many/b.csv.gz", gzip(parts[1].as_bytes()));
    data.write(
        "many/c.csv.zst",
        zstd::encode_all(parts[2].as_bytes(), 3).unwrap(),
    );
    data.write("many/d.csv", &parts[3]);
    data.write("many/notes.txt", "not a location file");

    count(&data, &["all.csv"], "one.csv").ok();
    let run = count(&data, &["many"], "dir.csv");
    run.ok();
    run.stderr_has("of 4 files");
    assert_eq!(data.read("one.csv"), data.read("dir.csv"));
    // The GPU backend parses the plain files and leaves the compressed
    // ones to the CPU's workers, which must take only theirs; the rejects,
    // in file order, are the CPU backend's too.
    for backend in crate::util::backends() {
        let rejects = format!("rejects-{backend}.csv");
        let args = ["--backend", backend, "-j", "3", "--rejects", &rejects];
        let run = data.run(
            &[
                &["count", "--regions", "region.csv", "-o", "mixed.csv"][..],
                &args,
                &["--locations", "many"],
            ]
            .concat(),
        );
        run.ok();
        assert_eq!(data.read("one.csv"), data.read("mixed.csv"), "{backend}");
        assert_eq!(
            data.read("rejects-cpu.csv"),
            data.read(&rejects),
            "{backend}"
        );
    }

    // Files and globs in one --locations, in the order given.
    let run = count(
        &data,
        &["many/a.csv", "many/[bc]*", "--locations", "many/d.csv"],
        "glob.csv",
    );
    run.ok();
    assert_eq!(data.read("one.csv"), data.read("glob.csv"));

    // Line numbers are per file: the samples name each file's own lines.
    let unsplit = count(&data, &["all.csv"], "-");
    let split = count(&data, &["many"], "-");
    unsplit.stderr_has("all.csv:");
    split.stderr_has("a.csv:");
}

#[test]
fn every_files_header_is_checked() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    data.write("a.csv", locations(1, 10));
    data.write("b.csv", "lat,long,region,date\n1,2,3,2019-01-01\n");
    let run = count(&data, &["a.csv", "b.csv"], "r.csv");
    run.expect_code(65);
    run.stderr_has("b.csv:1: header has no \"region_id\" column");
    assert!(!data.exists("r.csv"));

    data.write("bad.csv.gz", b"\x1f\x8b\x08\x00 not really gzip");
    let run = count(&data, &["bad.csv.gz"], "r.csv");
    run.expect_code(74);
    assert!(
        run.stderr.contains("bad.csv.gz") && run.stderr.contains("cannot decompress"),
        "{}",
        run.stderr
    );

    let run = count(&data, &["nothing/*.csv"], "r.csv");
    run.expect_code(66);
    run.stderr_has("has no *.csv");
}

/// Counts the inputs whole and as `count` shards merged with `merge`, for
/// N = 1..8; results and rejects must be the same.
fn check_shards(data: &DataDir, inputs: &[&str]) -> Result<(), TestCaseError> {
    let base = |out: &str| -> Vec<String> {
        let mut args: Vec<String> = [
            "count",
            "--regions",
            "region.csv",
            "-q",
            "--chunk-size",
            "37",
            // Small random inputs may hold no good row at all.
            "--max-bad",
            "100%",
            "--max-unmatched",
            "100%",
            "-o",
            out,
        ]
        .map(String::from)
        .to_vec();
        args.push("--locations".into());
        args.extend(inputs.iter().map(|s| s.to_string()));
        args
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        data.run(&args)
    };
    let mut whole = base("whole.csv");
    whole.extend(["--rejects".into(), "whole-rejects.csv".into()]);
    run(&whole).ok();
    let whole_rejects = data.read("whole-rejects.csv");
    for n in 1..=8 {
        let mut parts = Vec::new();
        let mut rejects = Vec::new();
        for i in 0..n {
            let part = format!("part-{i}.csv");
            let rejects_part = format!("rej-{i}.csv");
            let mut args = base(&part);
            args.extend([
                "--split".into(),
                format!("{i}/{n}"),
                "--rejects".into(),
                rejects_part.clone(),
            ]);
            run(&args).ok();
            parts.push(part);
            rejects.push(rejects_part);
        }
        // The shards' rejects, named in reverse: merge puts them in order.
        rejects.reverse();
        let mut merge_rejects = vec!["merge".to_string(), "-o".into(), "rejects.csv".into()];
        merge_rejects.extend(rejects);
        run(&merge_rejects).ok();
        let mut merge = vec![
            "merge".to_string(),
            "-d".into(),
            "-o".into(),
            "merged.csv".into(),
        ];
        merge.extend(parts.iter().cloned());
        run(&merge).ok();
        prop_assert_eq!(data.read("merged.csv"), data.read("whole.csv"), "N = {}", n);
        prop_assert_eq!(
            &data.read("rejects.csv"),
            &whole_rejects,
            "rejects with exact lines, N = {}",
            n
        );
        prop_assert!(
            parts.iter().all(|p| !data.exists(p)),
            "-d deleted the parts"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn merged_shards_equal_the_whole_count(seed in any::<u64>(), rows in 0usize..120, files in 1usize..4) {
        let data = DataDir::new();
        data.write("region.csv", REGIONS);
        let mut names = Vec::new();
        for f in 0..files {
            let name = format!("in-{f}.csv");
            data.write(&name, locations(seed ^ f as u64, rows));
            names.push(name);
        }
        // One compressed file among plain ones goes whole to one shard.
        data.write("z.csv.gz", gzip(locations(!seed, rows / 2 + 1).as_bytes()));
        names.insert(files / 2, "z.csv.gz".into());
        let inputs: Vec<&str> = names.iter().map(String::as_str).collect();
        check_shards(&data, &inputs)?;
    }
}

#[test]
fn split_must_be_i_of_n() {
    let data = DataDir::with(REGIONS, &locations(3, 5));
    for bad in ["3/3", "1/0", "x/2", "1"] {
        let run = data.run(&["count", ".", "--split", bad]);
        run.expect_code(2);
        assert!(run.stderr.contains("is not I/N"), "{bad}: {}", run.stderr);
    }
}

/// A file whose name is not UTF-8 is a file like any other: counted, not
/// skipped without a word when a folder is listed.
#[test]
fn names_that_are_not_utf8_are_counted() {
    use std::os::unix::ffi::OsStrExt;
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    data.write("a.csv", locations(7, 50));
    data.write("b.csv", locations(8, 30));
    count(&data, &["a.csv", "b.csv"], "want.csv").ok();
    std::fs::create_dir(data.path("fn")).unwrap();
    data.write("fn/a.csv", locations(7, 50));
    let odd = std::ffi::OsStr::from_bytes(b"fn/b\xff.csv");
    std::fs::write(data.dir.path().join(odd), locations(8, 30)).unwrap();
    let run = count(&data, &["fn"], "got.csv");
    run.ok();
    run.stderr_has("of 2 files");
    assert_eq!(data.read("got.csv"), data.read("want.csv"));
}

/// The same input named twice (a folder and a glob over it, a path spelt
/// two ways) is refused, not counted twice.
#[test]
fn an_input_named_twice_is_refused() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    std::fs::create_dir(data.path("dir")).unwrap();
    data.write("dir/a.csv", locations(1, 20));
    data.write("dir/b.csv", locations(2, 20));
    for twice in [&["dir", "dir/*.csv"][..], &["dir/a.csv", "./dir/a.csv"]] {
        let run = count(&data, twice, "out.csv");
        run.expect_code(2);
        run.stderr_has("name it once");
        assert!(!data.exists("out.csv"));
    }
    count(&data, &["dir/a.csv"], "q1.csv").ok();
    count(&data, &["dir/b.csv"], "q2.csv").ok();
    let run = data.run(&["merge", "-d", "-o", "m.csv", "q1.csv", "q1.csv", "q2.csv"]);
    run.expect_code(2);
    run.stderr_has("named twice");
    assert!(data.exists("q1.csv") && data.exists("q2.csv") && !data.exists("m.csv"));
}

/// Issue 19: a folder of many files sets up in one pass (the "named twice"
/// check compared every pair) and needs no descriptor per file: 3,000
/// files count with 200 descriptors allowed (every file was held open from
/// the plan to the end, so a folder past the process's limit failed), and
/// equal one file of the same rows; so does a merge of 3,000 parts.
#[test]
fn thousands_of_files_count_with_few_descriptors() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    std::fs::create_dir(data.path("many")).unwrap();
    let mut whole = String::new();
    for i in 0..3000u64 {
        let text = locations(i, 2);
        let (header, rows) = text.split_once('\n').unwrap();
        if i == 0 {
            whole = format!("{header}\n");
        }
        whole.push_str(rows);
        data.write(&format!("many/{i:05}.csv"), &text);
    }
    data.write("whole.csv", &whole);
    count(&data, &["whole.csv"], "want.csv").ok();
    let bin = crate::util::binary();
    let limited = |args: &str| {
        let script = format!("ulimit -n 200 && exec \"{bin}\" {args}");
        let run = data.run_program("sh", &["-c", &script]);
        assert_eq!(run.code, 0, "{args}: {}", run.stderr);
    };
    limited("count --backend cpu --regions region.csv --locations many -o got.csv");
    assert_eq!(data.read("got.csv"), data.read("want.csv"));
    // 3,000 copies of that result merge into its counts times 3,000.
    let want = data.read("want.csv");
    let mut times: Vec<String> = want.lines().map(str::to_string).collect();
    for line in &mut times[1..] {
        let (front, count) = line.rsplit_once(',').unwrap();
        let count: u64 = count.trim_matches('"').parse().unwrap();
        *line = format!("{front},\"{}\"", count * 3000);
    }
    std::fs::create_dir(data.path("parts")).unwrap();
    let parts: Vec<String> = (0..3000).map(|i| format!("parts/{i:05}.csv")).collect();
    for part in &parts {
        data.write(part, &want);
    }
    limited(&format!("merge -o merged.csv {}", parts.join(" ")));
    assert_eq!(data.read("merged.csv"), times.join("\n") + "\n");
}

/// A named pipe is read as a stream, from start to end, and cannot be
/// split into shards.
#[test]
fn a_named_pipe_is_read_as_a_stream() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    let rows = locations(3, 400);
    data.write("plain.csv", &rows);
    count(&data, &["plain.csv"], "want.csv").ok();
    let fifo = data.path("pipe.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let (fifo, rows) = (fifo.clone(), rows.clone());
        std::thread::spawn(move || std::fs::write(fifo, rows).unwrap())
    };
    count(&data, &["pipe.csv"], "got.csv").ok();
    writer.join().unwrap();
    assert_eq!(data.read("got.csv"), data.read("want.csv"));
    let run = data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "pipe.csv",
        "--split",
        "0/2",
        "-o",
        "-",
    ]);
    run.expect_code(2);
    run.stderr_has("cannot be split");
}

/// A line longer than the longest a row may be is one malformed row,
/// reported on its own line; the rows around it count, in a plain file and
/// in a compressed one alike.
#[test]
fn a_line_too_long_is_one_malformed_row() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    let mut text = String::from("lat,long,region_id,date\n0,0,1,2019-01-01\n");
    text.push_str(&"7".repeat(3 << 20));
    text.push_str(",0,1,2019-01-01\n0,0,2,2019-01-02\n");
    data.write("long.csv", &text);
    data.write("long.csv.gz", gzip(text.as_bytes()));
    for file in ["long.csv", "long.csv.gz"] {
        for chunk in ["100000", "4194304"] {
            let run = data.run(&[
                "count",
                "--regions",
                "region.csv",
                "--locations",
                file,
                "-o",
                "out.csv",
                "--rejects",
                "rej.csv",
                "--chunk-size",
                chunk,
            ]);
            run.ok();
            run.stderr_has("2 counted, 0 unmatched, 1 malformed");
            run.stderr_has(&format!("{file}:3: the line is longer than 1 MiB"));
            let rejects = data.read("rej.csv");
            assert_eq!(rejects.lines().count(), 2, "{file} {chunk}");
            assert!(rejects.contains("\",\"3\",\"the line is longer"), "{file}");
        }
    }
}

/// The file line of "line `n` after byte `byte`", as a shard names a row:
/// the `n`th line that starts after the first newline at or after `byte`.
fn file_line(text: &str, byte: usize, n: usize) -> usize {
    let newline = byte + text[byte..].find('\n').unwrap();
    text[..=newline].matches('\n').count() + n
}

/// Shards number rows from their own start (they read nothing before
/// their range), in `--strict` errors and in the summary's samples alike;
/// their rejects, merged, have file lines and equal the unsharded ones.
#[test]
fn shards_number_lines_from_their_start_and_merge_makes_them_file_lines() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    let text = locations(11, 3000);
    data.write("location.csv", &text);
    let whole = [
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "location.csv",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        whole.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |args: Vec<String>| data.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(with(&["-o", "whole.csv", "--rejects", "whole-rejects.csv"])).ok();
    let whole_rejects = data.read("whole-rejects.csv");
    let rejected_lines: Vec<(usize, String)> = whole_rejects
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split("\",\"").collect();
            (fields[1].parse().unwrap(), fields[2].replace("\"\"", "\""))
        })
        .collect();

    // The first bad row of shard 6/7, under --strict: named by its shard
    // line, which is the file line the unsharded rejects give it.
    let strict = run(with(&["-o", "s.csv", "--split", "6/7", "--strict"]));
    strict.expect_code(65);
    let message = strict
        .stderr
        .lines()
        .find(|l| l.contains("after byte"))
        .unwrap();
    let (_, rest) = message.split_once("location.csv: line ").unwrap();
    let (n, rest) = rest.split_once(" after byte ").unwrap();
    let (byte, reason) = rest.split_once(": ").unwrap();
    let line = file_line(&text, byte.parse().unwrap(), n.parse().unwrap());
    let first_after = rejected_lines
        .iter()
        .find(|(l, reason)| *l >= line && reason != "unknown region_id")
        .unwrap();
    assert_eq!(first_after.0, line, "{message}");
    assert!(first_after.1 == reason, "{message} vs {first_after:?}");
    assert!(!data.exists("s.csv"));
    // The summary's samples number the same way.
    let sampled = run(with(&["-o", "s.csv", "--split", "6/7"]));
    sampled.ok();
    sampled.stderr_has(&format!(
        "location.csv: line {n} after byte {byte}: {reason}"
    ));

    // Every shard's rejects, merged: the whole count's, with file lines.
    let mut merge = vec!["merge".to_string(), "-o".into(), "rejects.csv".into()];
    for i in 0..7 {
        let rejects = format!("rejects-{i}.csv");
        run(with(&[
            "-o",
            "-",
            "-q",
            "--split",
            &format!("{i}/7"),
            "--rejects",
            &rejects,
        ]))
        .ok();
        let shard_rejects = data.read(&rejects);
        assert!(shard_rejects.lines().count() > 3, "bad rows in shard {i}");
        merge.push(rejects);
    }
    run(merge.clone())
        .ok()
        .stderr_has("merged the rejects of 7 shards");
    assert_eq!(data.read("rejects.csv"), whole_rejects);

    // Merging needs every shard, once, whole, and rejects only.
    std::fs::remove_file(data.path("rejects.csv")).unwrap();
    let without =
        |skip: &str| -> Vec<String> { merge.iter().filter(|p| *p != skip).cloned().collect() };
    let missing = run(without("rejects-3.csv"));
    missing
        .expect_code(2)
        .stderr_has("the rejects of shard 3/7 are missing");
    data.write("copy.csv", data.read("rejects-2.csv"));
    let doubled = run([merge.clone(), vec!["copy.csv".into()]].concat());
    doubled
        .expect_code(2)
        .stderr_has("are both the rejects of shard 2/7");
    let mixed = run([merge.clone(), vec!["whole.csv".into()]].concat());
    mixed
        .expect_code(2)
        .stderr_has("merge results and rejects separately");
    let plain = run(vec![
        "merge".into(),
        "-o".into(),
        "rejects.csv".into(),
        "whole-rejects.csv".into(),
    ]);
    plain
        .expect_code(2)
        .stderr_has("the rejects of an unsharded count");
    let shard_text = data.read("rejects-5.csv");
    let cut = &shard_text[..shard_text.trim_end().rfind('\n').unwrap() + 1];
    data.write("rejects-5.csv", cut);
    let cut_run = run(merge.clone());
    cut_run.expect_code(65).stderr_has("rejects-5.csv");
    cut_run.stderr_has("cut short");
    assert!(!data.exists("rejects.csv"));
}

/// Issue 22: `merge` of result parts with a shard missing said nothing (a
/// result file holds only counts). Each shard's result has a manifest
/// beside it, and merge names the shard that is missing, refuses a part of
/// another count, and deletes the manifests with `-d`.
#[test]
fn merge_of_results_names_a_missing_shard() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    data.write("location.csv", locations(11, 400));
    data.write("other.csv", locations(12, 300));
    for i in 0..3 {
        let split = format!("{i}/3");
        let out = format!("p{i}.csv");
        let args = [
            "count",
            "-q",
            "--regions",
            "region.csv",
            "--locations",
            "location.csv",
        ];
        data.run(&[&args[..], &["--split", &split, "-o", &out]].concat())
            .ok();
        assert!(data.exists(&format!("p{i}.csv.shard.json")));
    }
    let args = [
        "count",
        "-q",
        "--regions",
        "region.csv",
        "--locations",
        "other.csv",
    ];
    data.run(&[&args[..], &["--split", "0/2", "-o", "q0.csv"]].concat())
        .ok();
    let run = data.run(&["merge", "-o", "m.csv", "p0.csv", "p2.csv"]);
    run.expect_code(2);
    run.stderr_has("the result of shard 1/3 is missing");
    let run = data.run(&["merge", "-o", "m.csv", "p0.csv", "p1.csv", "q0.csv"]);
    run.expect_code(2);
    run.stderr_has("they are parts of different counts");
    assert!(!data.exists("m.csv"));
    count(&data, &["location.csv"], "want.csv").ok();
    data.run(&["merge", "-d", "-o", "m.csv", "p0.csv", "p1.csv", "p2.csv"])
        .ok();
    assert_eq!(data.read("m.csv"), data.read("want.csv"));
    for i in 0..3 {
        assert!(
            !data.exists(&format!("p{i}.csv")) && !data.exists(&format!("p{i}.csv.shard.json"))
        );
    }
}

/// Issue 27: a `.gz` cut short, corrupt in the middle or followed by
/// garbage (and a `.zst` cut short) is a read error naming the file, exit
/// 74, at any thread count and on every backend: never a panic (a decode
/// error left the stream's buffer empty, and the next thread indexed it).
#[test]
fn a_broken_compressed_file_is_a_read_error_not_a_panic() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    let text = locations(3, 40_000);
    let gz = gzip(text.as_bytes());
    let zst = zstd::encode_all(text.as_bytes(), 1).unwrap();
    let mut corrupt = gz.clone();
    let middle = corrupt.len() / 2;
    for b in &mut corrupt[middle..middle + 64] {
        *b ^= 0x5a;
    }
    let mut garbage = gz.clone();
    garbage.extend_from_slice(b"this is not a gzip member\n");
    data.write("truncated.csv.gz", &gz[..gz.len() * 2 / 3]);
    data.write("corrupt.csv.gz", &corrupt);
    data.write("garbage.csv.gz", &garbage);
    data.write("truncated.csv.zst", &zst[..zst.len() * 2 / 3]);
    for file in [
        "truncated.csv.gz",
        "corrupt.csv.gz",
        "garbage.csv.gz",
        "truncated.csv.zst",
    ] {
        for backend in crate::util::backends() {
            for threads in ["1", "2", "8"] {
                let run = data.run(&[
                    "count",
                    "--regions",
                    "region.csv",
                    "--locations",
                    file,
                    "--backend",
                    backend,
                    "-j",
                    threads,
                    "--chunk-size",
                    "4096",
                    "-o",
                    "r.csv",
                ]);
                let what = format!("{file} {backend} -j {threads}: {}", run.stderr);
                assert_eq!(run.code, 74, "{what}");
                assert!(!run.stderr.contains("panicked"), "{what}");
                assert!(run.stderr.contains(file), "{what}");
                assert!(run.stderr.contains("cannot decompress"), "{what}");
                assert!(!data.exists("r.csv"), "{what}");
            }
        }
    }
}

/// Issue 27: in a folder, a link to nothing named `c.csv` and a folder
/// named `sub.csv` were dropped without a word; `d/**` matched no file.
#[test]
fn a_folder_says_what_it_leaves_out_and_a_trailing_double_star_takes_files() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    std::fs::create_dir_all(data.path("d/sub.csv")).unwrap();
    data.write("d/a.csv", locations(1, 30));
    data.write("d/sub.csv/b.csv", locations(2, 30));
    std::os::unix::fs::symlink("gone.csv", data.path("d/c.csv")).unwrap();
    let run = count(&data, &["d"], "r.csv");
    run.ok();
    run.stderr_has("2 entries not counted, not a file");
    run.stderr_has("c.csv");
    run.stderr_has("sub.csv");
    count(&data, &["d/a.csv", "d/sub.csv/b.csv"], "want.csv").ok();
    let run = count(&data, &["d/**"], "got.csv");
    run.ok();
    run.stderr_has("of 2 files");
    assert_eq!(data.read("got.csv"), data.read("want.csv"));
}

/// Issue 27: `--locations DIR` on a data folder counted its region.csv,
/// and the result.csv and rejects.csv a run had written there, as rows
/// (and a pattern over it still did).
#[test]
fn a_data_folder_given_to_locations_leaves_out_its_regions_and_outputs() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    std::fs::create_dir(data.path("d")).unwrap();
    data.write("d/location.csv", locations(3, 40));
    count(&data, &["d/location.csv"], "want.csv").ok();
    data.write("d/region.csv", REGIONS);
    data.write("d/result.csv", data.read("want.csv"));
    data.write("d/rejects.csv", "file,line,reason\n");
    let run = count(&data, &["d"], "got.csv");
    run.ok();
    run.stderr_has("not counted as location data");
    run.stderr_has("region.csv");
    assert_eq!(data.read("got.csv"), data.read("want.csv"));
    // A pattern over the folder leaves them out too: it failed on
    // region.csv's header.
    let run = count(&data, &["d/*.csv"], "glob.csv");
    run.ok();
    run.stderr_has("d/*.csv: not counted as location data");
    assert_eq!(data.read("glob.csv"), data.read("want.csv"));
}

/// Issue 27: a glob whose wildcard part is not UTF-8 matched nothing (it
/// went through `to_string_lossy`); it is refused, naming the pattern.
/// Without wildcards in that part, the bytes are matched as they are.
#[test]
fn a_glob_with_bytes_that_are_not_utf8_is_matched_or_refused_never_empty() {
    use std::os::unix::ffi::OsStrExt;
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    data.write("a.csv", locations(5, 30));
    count(&data, &["a.csv"], "want.csv").ok();
    std::fs::create_dir(data.dir.path().join(std::ffi::OsStr::from_bytes(b"d\xff"))).unwrap();
    std::fs::write(
        data.dir
            .path()
            .join(std::ffi::OsStr::from_bytes(b"d\xff/x\xff.csv")),
        locations(5, 30),
    )
    .unwrap();
    let run_with = |pattern: &[u8], out: &str| {
        let mut cmd = std::process::Command::new(crate::util::binary());
        cmd.current_dir(data.dir.path())
            .args(["count", "--regions", "region.csv", "-o", out, "--locations"])
            .arg(std::ffi::OsStr::from_bytes(pattern));
        cmd.output().unwrap()
    };
    // A literal non-UTF-8 folder, then a UTF-8 wildcard: matched as bytes.
    let out = run_with(b"d\xff/*.csv", "got.csv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(data.read("got.csv"), data.read("want.csv"));
    // A wildcard in a part that is not UTF-8: refused, never an empty match.
    let out = run_with(b"d\xff/x\xff*.csv", "bad.csv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("must be UTF-8"), "{stderr}");
    assert!(!data.exists("bad.csv"));
}

/// An empty file among the inputs (an export's empty part: Spark and Hive
/// write one for each empty partition) counts no rows; it failed the whole
/// count with "file is empty; expected a header", also under
/// `--no-header`. On every backend, in shards, and compressed.
#[test]
fn an_empty_file_among_the_inputs_counts_no_rows() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    std::fs::create_dir(data.path("parts")).unwrap();
    data.write("parts/a.csv", locations(5, 400));
    data.write("parts/b.csv", "");
    // What a spreadsheet saves of an empty sheet as "CSV UTF-8".
    data.write("parts/bb.csv", "\u{feff}");
    data.write("parts/c.csv.gz", gzip(b""));
    data.write("parts/d.csv.zst", zstd::encode_all(&b""[..], 3).unwrap());
    // 0 bytes, not even a gzip or zstd header: "cannot decompress", exit 74.
    data.write("parts/cc.csv.gz", "");
    data.write("parts/dd.csv.zst", "");
    data.write("parts/e.csv", locations(6, 300));
    let mut both = locations(5, 400);
    both.push_str(locations(6, 300).split_once('\n').unwrap().1);
    data.write("both.csv", &both);
    count(&data, &["both.csv"], "expected.csv").ok();
    data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "parts/a.csv",
        "parts/e.csv",
        "--rejects",
        "expected-rejects.csv",
        "-o",
        "-",
    ])
    .ok();
    for backend in crate::util::backends() {
        let run = data.run(&[
            "count",
            "--regions",
            "region.csv",
            "--locations",
            "parts",
            "--backend",
            backend,
            "--rejects",
            "rejects.csv",
            "-o",
            "r.csv",
        ]);
        run.ok().stderr_has("of 8 files");
        run.stderr_has(
            "parts/b.csv, parts/bb.csv, parts/c.csv.gz, parts/cc.csv.gz, parts/d.csv.zst, \
             parts/dd.csv.zst: empty",
        );
        assert_eq!(data.read("r.csv"), data.read("expected.csv"), "{backend}");
        // The rejects name each file's own lines, as without the empty ones.
        assert_eq!(
            data.read("rejects.csv"),
            data.read("expected-rejects.csv"),
            "{backend}"
        );
    }
    check_shards(
        &data,
        &[
            "parts/b.csv",
            "parts/a.csv",
            "parts/bb.csv",
            "parts/c.csv.gz",
        ],
    )
    .unwrap();

    // A file with no header row may be empty too.
    let rows_only = |seed| locations(seed, 200).split_once('\n').unwrap().1.to_string();
    std::fs::create_dir(data.path("nh")).unwrap();
    data.write("nh/a.csv", rows_only(1));
    data.write("nh/b.csv", "");
    data.write("nh/c.csv", rows_only(2));
    data.write("nh-both.csv", rows_only(1) + &rows_only(2));
    let headerless = |input: &str, out: &str| {
        data.run(&[
            "count",
            "--regions",
            "region.csv",
            "--no-header",
            "--columns",
            "region_id=3,date=4",
            "--locations",
            input,
            "-o",
            out,
        ])
    };
    headerless("nh-both.csv", "nh-expected.csv").ok();
    headerless("nh", "nh.csv").ok();
    assert_eq!(data.read("nh.csv"), data.read("nh-expected.csv"));

    // Alone, it is an error, as a run that counts none of its rows is: a
    // failed export leaves such a file. A shard's part may be empty.
    data.write("empty.csv", "");
    data.write("r.csv", "old");
    count(&data, &["empty.csv"], "r.csv")
        .expect_code(65)
        .stderr_has("empty.csv:1: file is empty; expected a header \"lat\"");
    count(&data, &["parts/b.csv", "parts/c.csv.gz"], "r.csv")
        .expect_code(65)
        .stderr_has("b.csv:1: file is empty; expected a header \"lat\"")
        .stderr_has("(and so is the other input)");
    assert_eq!(data.read("r.csv"), "old");
    headerless("empty.csv", "r.csv")
        .expect_code(65)
        .stderr_has("empty.csv:1: file is empty; expected rows");
    count(&data, &["empty.csv", "--split", "1/2"], "r.csv").ok();
    assert_eq!(data.read("r.csv"), "\"region_name\",\"date\",\"count\"\n");
}

/// Shards of a count whose every row is malformed (epoch numbers without
/// `--epoch`) each succeed, since one part may well hold no row to count,
/// and merged into an empty result with exit 0, where the count itself
/// fails. merge judges the whole count from the shards' manifests; with
/// thresholds for every kind of bad row, as for a count, it is allowed.
#[test]
fn merged_shards_that_counted_nothing_fail_as_the_count_does() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    let mut rows = String::from("lat,long,region_id,date\n");
    for i in 0..300 {
        rows.push_str(&format!("0,0,{},{}\n", 1 + i % 3, 1_571_800_000 + i * 3600));
    }
    data.write("epoch.csv", &rows);
    count(&data, &["epoch.csv"], "whole.csv").expect_code(65);
    for extra in [&[][..], &["--max-bad", "100%"]] {
        let mut parts = Vec::new();
        for i in 0..3 {
            let part = format!("part{i}.csv");
            let split = format!("{i}/3");
            let mut args = vec![
                "count",
                "--regions",
                "region.csv",
                "--locations",
                "epoch.csv",
            ];
            args.extend(["--split", &split, "-o", &part]);
            args.extend(extra);
            data.run(&args).ok();
            parts.push(part);
        }
        let mut merge = vec!["merge", "-o", "merged.csv"];
        merge.extend(parts.iter().map(String::as_str));
        let run = data.run(&merge);
        if extra.is_empty() {
            run.expect_code(65);
            run.stderr_has(
                "the shards together: none of the 300 data rows could be counted (300 malformed, \
                 0 unmatched), so nothing was written",
            );
            assert!(!data.exists("merged.csv"));
        } else {
            run.ok();
            assert_eq!(
                data.read("merged.csv"),
                "\"region_name\",\"date\",\"count\"\n"
            );
        }
    }
}

/// Compressed bytes on a pipe have no name to say so: `cat x.csv.gz |
/// event-counter count --locations -` failed with "gzip data: name the
/// file *.csv.gz", advice a pipe cannot take. A pipe's first bytes, gzip's
/// or zstd's magic number, now say it; `cat a.gz b.gz` is one stream too.
#[test]
fn compressed_bytes_on_a_pipe_are_decompressed() {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    let (a, b) = (locations(21, 500), locations(22, 300));
    let mut both = a.clone();
    both.push_str(b.split_once('\n').unwrap().1);
    data.write("both.csv", &both);
    let expected = count(&data, &["both.csv"], "-");
    expected.ok();
    data.write("a.csv.gz", gzip(a.as_bytes()));
    data.write("b.csv.gz", gzip(b.as_bytes()));
    data.write(
        "both.csv.zst",
        zstd::encode_all(both.as_bytes(), 3).unwrap(),
    );
    for feed in ["cat a.csv.gz b.csv.gz", "cat both.csv.zst"] {
        let script = format!(
            "{feed} | '{}' count --regions region.csv --locations - -o -",
            crate::util::binary()
        );
        let run = data.run_program("sh", &["-c", &script]);
        run.ok();
        assert!(run.stdout == expected.stdout, "{feed}");
    }
}
