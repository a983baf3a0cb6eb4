//! Outputs never overwrite an input or each other, are checked before the
//! first row is read, and appear together, whole, or not at all.

use std::io::Write;
use std::process::Command;

use crate::util::DataDir;

const REGIONS: &str = "region_id,region_name\n1,A\n2,B\n";
const LOCATIONS: &str =
    "lat,long,region_id,date\n0,0,1,2019-01-01\n0,0,2,2019-01-02\n0,0,x,2019-01-02\n";

#[test]
fn an_output_naming_an_input_is_refused_and_the_input_kept() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    std::os::unix::fs::symlink("location.csv", data.path("link.csv")).unwrap();
    std::fs::hard_link(data.path("region.csv"), data.path("hard.csv")).unwrap();
    for args in [
        ["-o", "location.csv"],
        ["-o", "./location.csv"],
        ["-o", "link.csv"],
        ["-o", "hard.csv"],
        ["--rejects", "location.csv"],
        ["--rejects", "region.csv"],
        ["--stats-json", "location.csv"],
    ] {
        let run = data.run(&[&["count", "."][..], &args].concat());
        run.expect_code(2);
        run.stderr_has("an input of this count");
        assert_eq!(data.read("location.csv"), LOCATIONS, "{args:?}");
        assert_eq!(data.read("region.csv"), REGIONS, "{args:?}");
    }
    assert_eq!(
        data.files(),
        ["hard.csv", "link.csv", "location.csv", "region.csv"]
    );
}

#[test]
fn two_outputs_in_one_place_are_refused() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    for args in [
        &["-o", "out.csv", "--rejects", "out.csv"][..],
        &["-o", "out.csv", "--stats-json", "./out.csv"],
        &["--rejects", "x.csv", "--stats-json", "x.csv"],
        &["-o", "-", "--rejects", "-"],
    ] {
        let run = data.run(&[&["count", "."][..], args].concat());
        run.expect_code(2);
        run.stderr_has("cannot go to the same place");
        assert_eq!(data.files(), ["location.csv", "region.csv"], "{args:?}");
    }
}

#[test]
fn a_failing_output_leaves_every_older_output_as_it_was() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    data.write("result.csv", "old result");
    data.write("rejects.csv", "old rejects");
    // A stats folder that does not exist: found before the scan.
    let run = data.run(&["count", ".", "--stats-json", "no/such/stats.json"]);
    run.expect_code(74);
    run.stderr_has("no/such/stats.json");
    // Rejects that fail on a full disk, after the result is complete.
    let run = data.run(&["count", ".", "--rejects", "/dev/full"]);
    run.expect_code(74);
    run.stderr_has("/dev/full: write failed");
    // The result that would be renamed last fails, the first is kept back.
    let run = data.run(&[
        "count",
        ".",
        "--rejects",
        "rejects.csv",
        "--stats-json",
        "/dev/full",
    ]);
    run.expect_code(74);
    assert_eq!(data.read("result.csv"), "old result");
    assert_eq!(data.read("rejects.csv"), "old rejects");
    assert_eq!(
        data.files(),
        ["location.csv", "region.csv", "rejects.csv", "result.csv"]
    );
}

#[test]
fn a_closed_standard_output_is_an_error_not_a_lost_result() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    let output = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" count . -o - >&-")
        .arg(crate::util::binary())
        .current_dir(data.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(74), "{stderr}");
    assert!(stderr.contains("standard output was closed"), "{stderr}");
}

#[test]
fn an_output_name_near_the_length_limit_works() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    let name = format!("{}.csv", "r".repeat(246));
    data.run(&["count", ".", "-o", &name]).ok();
    assert!(data.read(&name).starts_with("\"region_name\""));
    assert_eq!(data.files(), ["location.csv", "region.csv", name.as_str()]);
}

/// Issue 19: `-o /dev/stdout` once replaced the system's link with a file
/// (a temporary file written in /dev and renamed over it). It is standard
/// output, as `-` is: written through, one stream with `-`, and a reader
/// that stops early is no error. A link of one's own is followed: the file
/// it leads to is replaced and the link stays; a dangling link names the
/// file it would create, so it cannot hide another output.
#[test]
fn links_and_devices_are_written_through_never_replaced() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    data.run(&["count", ".", "-o", "want.csv"]).ok();
    let want = data.read("want.csv");
    let sh = |script: &str| {
        let script = format!("bin=\"{}\"; {script}", crate::util::binary());
        data.run_program("bash", &["-c", &script])
    };
    let run = sh("\"$bin\" count . -o /dev/stdout > res.csv");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(data.read("res.csv"), want);
    assert!(std::fs::symlink_metadata("/dev/stdout")
        .unwrap()
        .file_type()
        .is_symlink());
    let run = sh("\"$bin\" count . -o /dev/stdout --rejects - > res.csv");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot go to the same place"),
        "{}",
        run.stderr
    );

    // A reader that stops early, with a result of many groups.
    let mut many = String::from("lat,long,region_id,date\n");
    for day in 0..20_000 {
        many.push_str(&format!("0,0,{},{}\n", 1 + day % 2, nth_day(day)));
    }
    data.write("many.csv", &many);
    let run = sh(
        "set -o pipefail; \"$bin\" count --regions region.csv --locations many.csv \
                  -o /dev/stdout | head -c 10 > /dev/null",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // /dev/shm is a folder like any other: its files are replaced whole
    // (writing them in place, as a device is, failed for a new file).
    if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
        let out = shm.path().join("result.csv");
        data.run(&["count", ".", "-o", out.to_str().unwrap()]).ok();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
        let bin = crate::util::binary();
        let run = data.run_program(
            &bin,
            &[
                "generate",
                "-q",
                "--size",
                "64K",
                shm.path().join("gen").to_str().unwrap(),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }

    std::os::unix::fs::symlink("real.csv", data.path("link.csv")).unwrap();
    data.run(&["count", ".", "-o", "link.csv"]).ok();
    assert_eq!(data.read("real.csv"), want);
    assert!(std::fs::symlink_metadata(data.path("link.csv"))
        .unwrap()
        .file_type()
        .is_symlink());
    std::os::unix::fs::symlink("out.csv", data.path("dangling")).unwrap();
    let run = data.run(&["count", ".", "-o", "out.csv", "--rejects", "dangling"]);
    run.expect_code(2);
    run.stderr_has("cannot go to the same place");
    assert!(!data.exists("out.csv"));
}

/// Issue 19: a stats target that is a folder failed only after the scan,
/// with the result already replaced. It fails before any row is read; and
/// when the last output cannot be put in place (a folder appeared there
/// while the run waited on a pipe), the ones before it are put back.
#[test]
fn outputs_are_checked_first_and_put_in_place_all_or_nothing() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    data.write("result.csv", "old result");
    std::fs::create_dir(data.path("adir")).unwrap();
    let run = data.run(&["count", ".", "-o", "result.csv", "--stats-json", "adir"]);
    run.expect_code(74);
    run.stderr_has("adir: write failed: is a folder");
    assert_eq!(data.read("result.csv"), "old result");

    data.write("rejects.csv", "old rejects");
    let status = Command::new("mkfifo")
        .arg(data.path("pipe.csv"))
        .status()
        .unwrap();
    assert!(status.success());
    let count = Command::new(crate::util::binary())
        .args([
            "count",
            "--regions",
            "region.csv",
            "--locations",
            "pipe.csv",
        ])
        .args(["-o", "result.csv", "--rejects", "rejects.csv"])
        .args(["--stats-json", "stats.json", "--backend", "cpu"])
        .current_dir(data.dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The header comes, so the outputs are opened; then the stats target
    // becomes a folder, and the rows come.
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(data.path("pipe.csv"))
        .unwrap();
    let (header, rows) = LOCATIONS.split_once('\n').unwrap();
    writeln!(pipe, "{header}").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    std::fs::create_dir(data.path("stats.json")).unwrap();
    pipe.write_all(rows.as_bytes()).unwrap();
    drop(pipe);
    let output = count.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(74), "{stderr}");
    assert!(stderr.contains("stats.json"), "{stderr}");
    assert_eq!(data.read("result.csv"), "old result");
    assert_eq!(data.read("rejects.csv"), "old rejects");
    let mut left = data.files();
    left.retain(|f| f.starts_with('.'));
    assert!(left.is_empty(), "{left:?}");
}

/// Day `i` of a calendar of 28-day months from 1900: distinct valid dates.
fn nth_day(i: usize) -> String {
    format!(
        "{}-{:02}-{:02}",
        1900 + i / 336,
        1 + i / 28 % 12,
        1 + i % 28
    )
}

/// Runs `count ARGS --locations big.csv pipe.csv` in `data` while a script
/// feeds the named pipe its header only, sends `signal` once the run is
/// under way, then closes the pipe; returns the exit code and stderr.
pub fn count_interrupted(
    data: &DataDir,
    args: &str,
    signal: &str,
    env: &[(&str, &str)],
) -> (i32, String) {
    let bin = crate::util::binary();
    let script = format!(
        "rm -f pipe.csv; mkfifo pipe.csv
         \"{bin}\" count {args} --locations big.csv pipe.csv 2> err.txt &
         pid=$!
         exec 3> pipe.csv
         echo lat,long,region_id,date >&3
         sleep 1
         kill -{signal} $pid
         sleep 0.2
         exec 3>&-
         wait $pid
         echo $?"
    );
    let mut command = Command::new("bash");
    command.args(["-c", &script]).current_dir(data.dir.path());
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    let code = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    (code, data.read("err.txt"))
}

/// Issue 19: SIGINT and SIGTERM during a count, on every backend, exit
/// 130 and 143 and leave every older output as it was, no temporary file;
/// so do the other signals that end a process (SIGUSR1 left .tmp files).
#[test]
fn signals_stop_a_count_and_leave_older_outputs() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    let mut big = String::from("lat,long,region_id,date\n");
    for i in 0..200_000 {
        big.push_str(&format!("0,0,{},2019-01-{:02}\n", 1 + i % 3, 1 + i % 28));
    }
    data.write("big.csv", &big);
    for backend in crate::util::backends() {
        for (signal, code) in [("INT", 130), ("TERM", 143), ("USR1", 138)] {
            data.write("result.csv", "old result");
            data.write("rejects.csv", "old rejects");
            let args = format!(
                "--backend {backend} --regions region.csv -o result.csv --rejects rejects.csv"
            );
            let (got, stderr) = count_interrupted(&data, &args, signal, &[]);
            assert_eq!(got, code, "{backend} {signal}: {stderr}");
            assert_eq!(data.read("result.csv"), "old result");
            assert_eq!(data.read("rejects.csv"), "old rejects");
            let mut left = data.files();
            left.retain(|f| f.starts_with('.'));
            assert!(left.is_empty(), "{backend} {signal}: {left:?}");
        }
    }
}

/// Issue 27: `stat("loc.csv/")` fails (ENOTDIR), so a trailing slash got
/// past the overlap check, and the writer, which drops it, renamed the
/// result over the input. A trailing `/` or `/.` on a file is an error, as
/// the system says, before a row is read; on nothing at all too (EISDIR).
#[test]
fn a_trailing_slash_on_a_file_is_refused_and_the_file_kept() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    data.write("r.csv", "older r");
    for (args, says) in [
        (&["-o", "location.csv/"][..], "Not a directory"),
        (&["-o", "location.csv/."], "Not a directory"),
        (&["-o", "location.csv////"], "Not a directory"),
        (&["--stats-json", "region.csv/."], "Not a directory"),
        (&["-o", "r.csv", "--rejects", "r.csv/"], "Not a directory"),
        (&["-o", "new.csv/"], "Is a directory"),
    ] {
        let run = data.run(&[&["count", "."][..], args].concat());
        run.expect_code(74);
        run.stderr_has(says);
        assert_eq!(data.read("location.csv"), LOCATIONS, "{args:?}");
        assert_eq!(data.read("region.csv"), REGIONS, "{args:?}");
        assert_eq!(data.read("r.csv"), "older r", "{args:?}");
        assert_eq!(
            data.files(),
            ["location.csv", "r.csv", "region.csv"],
            "{args:?}"
        );
    }
    // merge -d wrote the merge over p0.csv, then deleted it with the parts.
    let part = "\"region_name\",\"date\",\"count\"\n\"A\",\"2019-01-01\",\"1\"\n";
    data.write("p0.csv", part);
    data.write("p1.csv", part);
    let run = data.run(&["merge", "-d", "-o", "p0.csv/", "p0.csv", "p1.csv"]);
    run.expect_code(74);
    run.stderr_has("p0.csv/: write failed: Not a directory");
    assert_eq!(
        (data.read("p0.csv"), data.read("p1.csv")),
        (part.into(), part.into())
    );
}

/// Issue 27: an output that is a loop of links (a -> b -> a) was replaced
/// by a regular file; it fails, as opening it would, and the links stay.
#[test]
fn an_output_that_is_a_loop_of_links_fails() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    std::os::unix::fs::symlink("b.csv", data.path("a.csv")).unwrap();
    std::os::unix::fs::symlink("a.csv", data.path("b.csv")).unwrap();
    for args in [["-o", "a.csv"], ["--rejects", "b.csv"]] {
        let run = data.run(&[&["count", "."][..], &args].concat());
        run.expect_code(74);
        run.stderr_has("Too many levels of symbolic links");
        for link in ["a.csv", "b.csv"] {
            let meta = std::fs::symlink_metadata(data.path(link)).unwrap();
            assert!(meta.file_type().is_symlink(), "{args:?}: {link}");
        }
        assert_eq!(
            data.files(),
            ["a.csv", "b.csv", "location.csv", "region.csv"]
        );
    }
}

/// Issue 27: `-o /dev/stdout` (and `--rejects /dev/stdout`) with standard
/// output closed wrote to the /dev/null that fills descriptor 1, exit 0:
/// the result was lost. It is an error (74), as `-o -` is.
#[test]
fn dev_stdout_closed_is_an_error_as_dash_is() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    for args in [
        "-o /dev/stdout",
        "-o /dev/fd/1",
        "-o out.csv --rejects /dev/stdout",
    ] {
        let script = format!("exec \"$0\" count . {args} >&-");
        let run = data.run_program("sh", &["-c", &script, &crate::util::binary()]);
        assert_eq!(run.code, 74, "{args}: {}", run.stderr);
        run.stderr_has("standard output was closed");
        assert_eq!(data.files(), ["location.csv", "region.csv"], "{args}");
    }
}

/// Issue 27: with the first rename of the commit delayed, SIGTERM left
/// result.csv new and the rejects and stats old (the signal's thread had
/// removed the kept files, so nothing was put back). The signal now waits
/// until every output is in place: all new, no temporary file, exit 143.
#[test]
fn a_signal_during_the_commit_never_mixes_new_and_old_outputs() {
    let data = DataDir::with(REGIONS, LOCATIONS);
    data.run(&["count", ".", "-o", "want.csv"]).ok();
    let want = data.read("want.csv");
    data.write("result.csv", "old result");
    data.write("rejects.csv", "old rejects");
    data.write("stats.json", "old stats");
    // Waits (up to 60 s) until result.csv is new, that is until the
    // commit is under way, then signals it.
    let script = format!(
        "EVENT_COUNTER_TEST_COMMIT_DELAY_MS=2000 \"{}\" count . -o result.csv \
           --rejects rejects.csv --stats-json stats.json &
         pid=$!
         for i in $(seq 600); do
           [ \"$(cat result.csv)\" != 'old result' ] && break
           sleep 0.1
         done
         kill -TERM $pid
         wait $pid
         echo $?",
        crate::util::binary()
    );
    let run = data.run_program("bash", &["-c", &script]);
    assert_eq!(run.stdout.trim(), "143", "{}", run.stderr);
    assert_eq!(data.read("result.csv"), want);
    assert!(data.read("rejects.csv").starts_with("\"source\""));
    assert!(data.read("stats.json").starts_with('{'));
    let mut left = data.files();
    left.retain(|f| f.starts_with('.'));
    assert!(left.is_empty(), "{left:?}");
}

/// A count with no result.csv that keeps no counts (`count` with
/// `output: None`) still says how many groups it counted: as many as it
/// hands back when asked to.
#[test]
fn a_count_with_no_output_still_counts_its_groups() {
    use event_counter::options::{Destination, InputSpec};
    use event_counter::{count, count_groups, CountOptions, Engine};
    let mut options = CountOptions::new(
        InputSpec::parse("sample/region.csv"),
        vec![InputSpec::parse("sample/location.csv")],
        Destination::Stdout,
    );
    options.output = None;
    let counted = count_groups(&options, &Engine::Cpu, &()).unwrap();
    assert!(counted.counts.len() > 100, "{}", counted.counts.len());
    let summary = count(&options, &Engine::Cpu, &()).unwrap();
    assert_eq!(summary.groups, counted.counts.len());
}
