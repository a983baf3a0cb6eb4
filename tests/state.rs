//! `count --state` (issue 31): every way a log changes between two runs,
//! each checked against a fresh full count of the inputs as they now are,
//! byte for byte.

use std::io::Write;
use std::process::Command;

use crate::util::{count_args, DataDir};

const REGIONS: &str = "region_id,region_name\n1,A\n2,B\n3,\"C, c\"\n";
const HEADER: &str = "lat,long,region_id,date\n";

/// `n` rows from `seed` on: regions 1-4 (4 is not in region.csv), dates
/// over two months, and a malformed row now and then.
fn rows(seed: usize, n: usize) -> String {
    let mut text = String::new();
    for i in seed..seed + n {
        text.push_str(&match i % 17 {
            0 => format!("1,2,x{i},2019-01-01\n"),
            _ => format!(
                "{i}.5,-1.25,{},2019-0{}-{:02}\n",
                1 + i % 4,
                1 + i % 2,
                1 + i % 28
            ),
        });
    }
    text
}

/// A folder with region.csv.
fn with_regions() -> DataDir {
    let data = DataDir::new();
    data.write("region.csv", REGIONS);
    data
}

/// A folder with region.csv and log.csv: the header and `rows`.
fn with_log(rows: &str) -> DataDir {
    let data = with_regions();
    data.write("log.csv", format!("{HEADER}{rows}"));
    data
}

fn append(data: &DataDir, name: &str, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(data.path(name))
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Counts `locations` with the state `state.bin` into result.csv (and
/// stats.json); `extra`: more flags.
fn count_with_state(data: &DataDir, locations: &str, extra: &[&str]) -> crate::util::Run {
    data.run(&state_args(locations, extra))
}

/// The arguments of [`count_with_state`]: on the CPU unless `extra`
/// names a backend.
fn state_args<'a>(locations: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = count_args(
        locations,
        "result.csv",
        &[
            "--state",
            "state.bin",
            "--stats-json",
            "stats.json",
            "--chunk-size",
            "512",
        ],
    );
    if !extra.contains(&"--backend") {
        args.extend(["--backend", "cpu"]);
    }
    args.extend(extra);
    args
}

/// result.csv of a fresh count of `locations`, without any state.
fn full_count(data: &DataDir, locations: &str) -> String {
    data.run(&count_args(locations, "full.csv", &["--backend", "cpu"]))
        .ok();
    data.read("full.csv")
}

/// The stats' `state` figures: bytes new, bytes skipped.
fn state_bytes(data: &DataDir) -> (u64, u64) {
    let stats: serde_json::Value = serde_json::from_str(&data.read("stats.json")).unwrap();
    (
        stats["state"]["bytes_new"].as_u64().unwrap(),
        stats["state"]["bytes_skipped"].as_u64().unwrap(),
    )
}

#[track_caller]
fn assert_same_as_full(data: &DataDir, locations: &str) {
    let full = full_count(data, locations);
    assert!(full.lines().count() > 1, "{full}");
    assert_eq!(data.read("result.csv"), full);
}

#[test]
fn appended_bytes_are_counted_from_the_old_end_on_every_backend() {
    for backend in crate::util::backends() {
        let data = with_regions();
        let first = format!("{HEADER}{}", rows(0, 3000));
        data.write("log.csv", &first);
        count_with_state(&data, "log.csv", &["--backend", backend]).ok();
        assert_same_as_full(&data, "log.csv");
        assert_eq!(state_bytes(&data), (first.len() as u64, 0));

        for round in 1..4 {
            let more = rows(round * 5000, 700 * round);
            append(&data, "log.csv", &more);
            count_with_state(&data, "log.csv", &["--backend", backend]).ok();
            assert_same_as_full(&data, "log.csv");
            let (new, skipped) = state_bytes(&data);
            assert_eq!(new, more.len() as u64, "{backend}");
            assert_eq!(
                skipped + new,
                std::fs::metadata(data.path("log.csv")).unwrap().len()
            );
        }
        // Nothing new: nothing read, the same result.
        count_with_state(&data, "log.csv", &["--backend", backend]).ok();
        assert_same_as_full(&data, "log.csv");
        assert_eq!(state_bytes(&data).0, 0);
    }
}

#[test]
fn a_partial_last_line_waits_for_its_newline() {
    let data = with_regions();
    let complete = format!("{HEADER}{}", rows(0, 500));
    // Counted now, the half line would be a row of region 1 on 2019-01-0.
    data.write("log.csv", format!("{complete}0,0,1,2019-01-0"));
    // Said without -v: a finished file without a final newline lost its
    // last row silently.
    count_with_state(&data, "log.csv", &[])
        .ok()
        .stderr_has("log.csv: the last 15 bytes are a line without its newline yet: not counted");
    data.write("complete.csv", &complete);
    assert_eq!(data.read("result.csv"), full_count(&data, "complete.csv"));
    // The line ends: counted whole, once.
    append(&data, "log.csv", "9\n");
    count_with_state(&data, "log.csv", &[]).ok();
    assert_same_as_full(&data, "log.csv");
    assert_eq!(state_bytes(&data).0, "0,0,1,2019-01-09\n".len() as u64);
}

#[test]
fn a_new_file_in_a_folder_is_counted_whole() {
    let data = with_regions();
    std::fs::create_dir(data.path("logs")).unwrap();
    data.write("logs/a.csv", format!("{HEADER}{}", rows(0, 800)));
    count_with_state(&data, "logs", &[]).ok();
    append(&data, "logs/a.csv", &rows(900, 50));
    data.write("logs/b.csv", format!("{HEADER}{}", rows(2000, 400)));
    count_with_state(&data, "logs", &[]).ok();
    assert_same_as_full(&data, "logs");
}

#[test]
fn a_rotated_file_is_followed_under_its_new_name() {
    let data = with_regions();
    std::fs::create_dir(data.path("logs")).unwrap();
    let old = format!("{HEADER}{}", rows(0, 1000));
    data.write("logs/app.csv", &old);
    count_with_state(&data, "logs", &[]).ok();
    // The writer adds a last few rows, then the file is rotated: renamed,
    // and a new one started in its place.
    let tail = rows(3000, 30);
    append(&data, "logs/app.csv", &tail);
    std::fs::rename(data.path("logs/app.csv"), data.path("logs/app.1.csv")).unwrap();
    let fresh = format!("{HEADER}{}", rows(5000, 200));
    data.write("logs/app.csv", &fresh);
    count_with_state(&data, "logs", &[]).ok();
    assert_same_as_full(&data, "logs");
    // Identity, not name: the renamed file's old bytes were skipped.
    assert_eq!(
        state_bytes(&data),
        ((tail.len() + fresh.len()) as u64, old.len() as u64)
    );
}

#[test]
fn a_truncated_or_rewritten_file_is_counted_from_scratch_or_refused_under_strict() {
    let data = with_log(&rows(0, 1000));
    count_with_state(&data, "log.csv", &[]).ok();

    // copytruncate: cut to nothing, then new rows.
    let before = data.read("result.csv");
    data.write("log.csv", format!("{HEADER}{}", rows(7000, 100)));
    count_with_state(&data, "log.csv", &["--strict"])
        .expect_code(2)
        .stderr_has("cut short")
        .stderr_has("--strict");
    assert_eq!(data.read("result.csv"), before);
    count_with_state(&data, "log.csv", &[])
        .ok()
        .stderr_has("cut short");
    assert_same_as_full(&data, "log.csv");

    // Rewritten in place, as long or longer: its counted bytes differ.
    let mut text = data.read("log.csv");
    text = text.replacen("2019-0", "2018-0", 1);
    text.push_str(&rows(9000, 10));
    data.write("log.csv", &text);
    count_with_state(&data, "log.csv", &[])
        .ok()
        .stderr_has("rewritten");
    assert_same_as_full(&data, "log.csv");
}

#[test]
fn a_file_gone_keeps_its_counts_or_is_forgotten() {
    let data = with_regions();
    std::fs::create_dir(data.path("logs")).unwrap();
    data.write("logs/a.csv", format!("{HEADER}{}", rows(0, 600)));
    data.write("logs/b.csv", format!("{HEADER}{}", rows(1000, 600)));
    count_with_state(&data, "logs", &[]).ok();
    let both = data.read("result.csv");
    std::fs::remove_file(data.path("logs/b.csv")).unwrap();
    count_with_state(&data, "logs", &[])
        .ok()
        .stderr_has("b.csv not among the inputs any more");
    assert_eq!(data.read("result.csv"), both);
    count_with_state(&data, "logs", &["--forget-missing"]).ok();
    assert_same_as_full(&data, "logs");
    // Forgotten for good: the next run says nothing of it.
    let run = count_with_state(&data, "logs", &[]);
    assert!(!run.ok().stderr.contains("b.csv"), "{}", run.stderr);
}

#[test]
fn a_changed_compressed_file_is_counted_again_whole() {
    let data = with_regions();
    std::fs::create_dir(data.path("logs")).unwrap();
    let gz = |text: &str| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    };
    data.write("logs/plain.csv", format!("{HEADER}{}", rows(0, 300)));
    data.write(
        "logs/old.csv.gz",
        gz(&format!("{HEADER}{}", rows(500, 300))),
    );
    count_with_state(&data, "logs", &[]).ok();
    assert_same_as_full(&data, "logs");
    // Unchanged: skipped.
    count_with_state(&data, "logs", &[]).ok();
    assert_eq!(state_bytes(&data).0, 0);
    assert_same_as_full(&data, "logs");
    data.write(
        "logs/old.csv.gz",
        gz(&format!("{HEADER}{}", rows(500, 400))),
    );
    count_with_state(&data, "logs", &[])
        .ok()
        .stderr_has("compressed file changed");
    assert_same_as_full(&data, "logs");
}

#[test]
fn another_region_file_or_a_damaged_state_is_refused_until_recount() {
    let data = with_log(&rows(0, 300));
    count_with_state(&data, "log.csv", &[]).ok();
    data.write("region.csv", format!("{REGIONS}4,D\n"));
    count_with_state(&data, "log.csv", &[])
        .expect_code(2)
        .stderr_has("another region.csv");
    count_with_state(&data, "log.csv", &["--recount"]).ok();
    assert_same_as_full(&data, "log.csv");

    let mut state = std::fs::read(data.path("state.bin")).unwrap();
    let last = state.len() - 1;
    state[last] ^= 1;
    std::fs::write(data.path("state.bin"), &state).unwrap();
    count_with_state(&data, "log.csv", &[])
        .expect_code(2)
        .stderr_has("damaged");
    count_with_state(&data, "log.csv", &["--recount"]).ok();
    assert_same_as_full(&data, "log.csv");
}

/// Counts kept under one zone (or delimiter, or columns) cannot be added to
/// counts of another: the state names the option that differs.
#[test]
fn other_counting_options_are_refused_until_recount() {
    let data = with_log(&rows(0, 300));
    count_with_state(&data, "log.csv", &["--time-zone", "UTC"]).ok();
    count_with_state(&data, "log.csv", &["--time-zone", "Pacific/Auckland"])
        .expect_code(2)
        .stderr_has(
            "the state was counted with --time-zone UTC, and this run has --time-zone \
             Pacific/Auckland",
        );
    // Named as the flags that set them: this said "delimiter None, and this
    // run has Some(59)".
    count_with_state(&data, "log.csv", &["--delimiter", ";"])
        .expect_code(2)
        .stderr_has(
            "the state was counted with --delimiter sniffed from each file, and this run has \
             --delimiter ';'",
        );
    count_with_state(&data, "log.csv", &["--columns", "region_id=1,date=Date"])
        .expect_code(2)
        .stderr_has("and this run has --columns region_id=1,date=Date;");
    count_with_state(&data, "log.csv", &["--time-zone", "UTC"]).ok();
    assert_same_as_full(&data, "log.csv");
}

#[test]
fn split_and_rejects_not_in_a_file_are_refused_with_state() {
    let data = with_log(&rows(0, 30));
    count_with_state(&data, "log.csv", &["--split", "0/2"])
        .expect_code(2)
        .stderr_has("--state: a shard");
    count_with_state(&data, "log.csv", &["--rejects", "-"])
        .expect_code(2)
        .stderr_has("--state: --rejects must be a local file");
    assert!(!data.exists("state.bin") && !data.exists("result.csv"));
}

/// The rejects file's records, sorted: the rows of a resumed run come
/// after the earlier runs' rows, not in file order.
fn sorted_records(text: &str) -> Vec<String> {
    let mut records: Vec<String> = text.lines().map(str::to_string).collect();
    records.sort();
    records
}

/// The rejects of a fresh full count of `locations`.
fn full_rejects(data: &DataDir, locations: &str) -> Vec<String> {
    data.run(&count_args(
        locations,
        "full.csv",
        &["--backend", "cpu", "--rejects", "full_rejects.csv"],
    ))
    .ok();
    sorted_records(&data.read("full_rejects.csv"))
}

#[track_caller]
fn assert_rejects_as_full(data: &DataDir, locations: &str) {
    assert_same_as_full(data, locations);
    let full = full_rejects(data, locations);
    assert!(full.len() > 2, "{full:?}");
    assert_eq!(sorted_records(&data.read("rejects.csv")), full);
}

/// Issue 31: `--rejects` with `--state` holds, after every run, the rows
/// of a full count's rejects with the same line numbers: the state knows
/// the lines counted of each file, and each run carries the rows before.
#[test]
fn rejects_over_several_runs_equal_a_full_counts() {
    let data = with_regions();
    std::fs::create_dir(data.path("logs")).unwrap();
    data.write("logs/a.csv", format!("{HEADER}{}", rows(0, 300)));
    let rejects = ["--rejects", "rejects.csv"];
    count_with_state(&data, "logs", &rejects).ok();
    assert_rejects_as_full(&data, "logs");

    // A bad row, a good one, a line without its newline yet.
    append(
        &data,
        "logs/a.csv",
        "1,2,zz,2019-01-01\n1,2,3,2019-01-05\n1,2,x",
    );
    count_with_state(&data, "logs", &rejects).ok();
    let waiting = data.read("rejects.csv");
    assert!(waiting.contains("zz") && !waiting.contains("\"1,2,x\"\n"));
    // The line ends (as a bad row) and a new file comes.
    append(
        &data,
        "logs/a.csv",
        &format!(",2019-13-01\n{}", rows(300, 200)),
    );
    data.write("logs/b.csv", format!("{HEADER}{}", rows(1000, 100)));
    count_with_state(&data, "logs", &rejects).ok();
    assert_rejects_as_full(&data, "logs");
    for round in 0..3 {
        append(&data, "logs/a.csv", &rows(2000 + round * 100, 50));
        append(&data, "logs/b.csv", &rows(3000 + round * 100, 70));
        count_with_state(&data, "logs", &rejects).ok();
        assert_rejects_as_full(&data, "logs");
    }
    assert!(state_bytes(&data).1 > 0, "the last run was resumed");

    // Counted from scratch (a file rewritten, --recount): no stale rows.
    data.write("logs/b.csv", format!("{HEADER}{}", rows(5000, 60)));
    count_with_state(&data, "logs", &rejects).ok();
    assert_rejects_as_full(&data, "logs");
    count_with_state(&data, "logs", &["--rejects", "rejects.csv", "--recount"]).ok();
    assert_rejects_as_full(&data, "logs");

    // A rejects file that is not the one the state's last run wrote:
    // counted from scratch, so that it holds every row.
    append(&data, "logs/a.csv", &rows(7000, 40));
    data.write("rejects.csv", "edited");
    count_with_state(&data, "logs", &rejects)
        .ok()
        .stderr_has("not the rejects file the state's last run wrote");
    assert_rejects_as_full(&data, "logs");
    append(&data, "logs/a.csv", &rows(8000, 40));
    count_with_state(&data, "logs", &[]).ok();
    append(&data, "logs/b.csv", &rows(9000, 40));
    count_with_state(&data, "logs", &rejects)
        .ok()
        .stderr_has("the state's last run wrote no rejects file");
    assert_rejects_as_full(&data, "logs");
}

/// A bad row of new bytes is named by its line in the file, as in a full
/// count, also under `--strict`.
#[test]
fn a_resumed_run_names_a_bad_rows_line_in_the_file() {
    let data = with_log(&rows(1, 15));
    count_with_state(&data, "log.csv", &["--strict"]).ok();
    append(&data, "log.csv", "1,2,3,2019-01-01\n1,2,3,2019-02-30\n");
    count_with_state(&data, "log.csv", &["--strict"])
        .expect_code(65)
        .stderr_has("log.csv:18:");
}

#[test]
fn a_second_run_on_the_same_state_refuses() {
    let data = with_log(&rows(0, 30));
    // The lock a running count holds.
    let lock = std::fs::File::create(data.path("state.bin.lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    count_with_state(&data, "log.csv", &[])
        .expect_code(2)
        .stderr_has("another count is using this state");
    drop(lock);
    count_with_state(&data, "log.csv", &[]).ok();
    assert_same_as_full(&data, "log.csv");
}

/// A run killed (SIGKILL: no handler runs) at any point of its work and
/// its commit leaves a state from which the next run's result is exact.
/// The kill points are spread over the run by delays, from before the
/// first row to after the last rename; whatever point each one hits, the
/// check is the same.
#[test]
fn a_run_killed_at_any_point_leaves_a_usable_state() {
    let data = with_log(&rows(0, 2000));
    count_with_state(&data, "log.csv", &[]).ok();
    let bin = crate::util::binary();
    for (step, delay_ms) in [0, 2, 5, 10, 20, 40, 80, 160].into_iter().enumerate() {
        append(&data, "log.csv", &rows(10_000 * (step + 1), 20_000));
        let script = format!(
            "\"{bin}\" count --backend cpu --regions region.csv --locations log.csv \
             -o result.csv --state state.bin --stats-json stats.json 2>/dev/null &
             pid=$!
             sleep {}
             kill -KILL $pid 2>/dev/null
             wait $pid
             true",
            delay_ms as f64 / 1000.0
        );
        let status = Command::new("bash")
            .args(["-c", &script])
            .current_dir(data.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        count_with_state(&data, "log.csv", &[]).ok();
        assert_same_as_full(&data, "log.csv");
    }
}

/// Issue 31's fault test: a run killed (SIGKILL) at each step of its
/// commit, from before the first rename to after the last, leaves a state
/// that the next run goes on from: the old one up to the state's own
/// step, which is the last. Each next run's result and rejects equal a
/// full count's.
#[test]
fn a_run_killed_at_each_step_of_its_commit_leaves_a_usable_state() {
    let data = with_log(&rows(0, 200));
    let rejects = ["--rejects", "rejects.csv"];
    count_with_state(&data, "log.csv", &rejects).ok();
    let mut placed_at = Vec::new();
    for step in 0..20 {
        append(&data, "log.csv", &rows(1000 * (step + 1), 100));
        let state = std::fs::read(data.path("state.bin")).unwrap();
        let script = format!(
            "EVENT_COUNTER_TEST_KILL_AT_STEP={step} \"$0\" count --backend cpu \
               --regions region.csv --locations log.csv -o result.csv --state state.bin \
               --stats-json stats.json --rejects rejects.csv
             echo $?"
        );
        let run = data.run_program("bash", &["-c", &script, &crate::util::binary()]);
        if run.stdout.trim() == "0" {
            // Past the last point.
            break;
        }
        assert_eq!(run.stdout.trim(), "137", "step {step}: {}", run.stderr);
        let now = std::fs::read(data.path("state.bin")).unwrap();
        // Where the state is in place (the last step, and after it) it is
        // the new one; the next run then goes on from it.
        let placed = now != state;
        count_with_state(&data, "log.csv", &rejects).ok();
        assert_rejects_as_full(&data, "log.csv");
        if placed {
            assert_eq!(state_bytes(&data).0, 0, "step {step}: nothing is new");
        }
        placed_at.push(placed);
    }
    // Before each of the 5 steps (a stale manifest taken away, result,
    // rejects, stats, state) and after the last: the state is new only
    // there.
    assert_eq!(placed_at, [false, false, false, false, false, true]);
}

/// New bytes with no countable row fail no run that skipped earlier ones:
/// a full count of the same inputs counts rows, and succeeds.
#[test]
fn new_bytes_with_only_bad_rows_are_no_failure() {
    let data = with_log(&rows(0, 300));
    count_with_state(&data, "log.csv", &[]).ok();
    append(&data, "log.csv", "0,0,x,2019-01-01\n0,0,1,not a date\n");
    count_with_state(&data, "log.csv", &[]).ok();
    assert_same_as_full(&data, "log.csv");
}

/// A file appended while it is counted: the run counts up to the size it
/// saw at its start and the next run counts the rest. A thread appends
/// rows for the whole run; the commit delay hook holds the run after its
/// reading, so some rows surely land after the size was taken.
#[test]
fn a_file_appended_while_it_is_read_is_counted_to_the_size_seen_at_the_start() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let data = with_log(&rows(0, 20_000));
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut seed = 100_000;
            while !done.load(Ordering::SeqCst) {
                append(&data, "log.csv", &rows(seed, 20));
                seed += 20;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let args = state_args("log.csv", &[]);
        let run = data.run_env(&args, &[("EVENT_COUNTER_TEST_COMMIT_DELAY_MS", "300")]);
        done.store(true, Ordering::SeqCst);
        run.ok();
    });
    // The first run had no state: every byte it counted was new.
    let (seen, _) = state_bytes(&data);
    let log = std::fs::read(data.path("log.csv")).unwrap();
    assert!(
        seen < log.len() as u64,
        "nothing was appended after the start"
    );
    data.write("prefix.csv", &log[..seen as usize]);
    assert_eq!(data.read("result.csv"), full_count(&data, "prefix.csv"));
    count_with_state(&data, "log.csv", &[]).ok();
    assert_eq!(state_bytes(&data), (log.len() as u64 - seen, seen));
    assert_same_as_full(&data, "log.csv");
}

/// A log created before its first line: the run that finds it empty
/// counts nothing from it (it failed: "file is empty"), and a later run
/// counts its header and rows once they come, with each bad row named by
/// its line in the file.
#[test]
fn a_log_that_starts_empty_is_counted_once_it_has_rows() {
    let data = with_regions();
    std::fs::create_dir(data.path("logs")).unwrap();
    data.write("logs/a.csv", format!("{HEADER}{}", rows(0, 300)));
    data.write("logs/b.csv", "");
    let rejects = ["--rejects", "rejects.csv"];
    count_with_state(&data, "logs", &rejects)
        .ok()
        .stderr_has("b.csv: empty");
    assert_rejects_as_full(&data, "logs");

    data.write("logs/b.csv", format!("{HEADER}{}", rows(1000, 200)));
    count_with_state(&data, "logs", &rejects).ok();
    assert_rejects_as_full(&data, "logs");
    assert!(state_bytes(&data).1 > 0, "a.csv was skipped");
    append(&data, "logs/b.csv", &rows(2000, 50));
    count_with_state(&data, "logs", &rejects).ok();
    assert_rejects_as_full(&data, "logs");
}

/// A resumed run may read nothing but an empty file (the others unchanged
/// compressed files, which it skips): the result keeps the earlier counts,
/// and no error says that every input is empty.
#[test]
fn a_resumed_run_of_an_empty_file_alone_keeps_the_counts() {
    let data = with_regions();
    std::fs::create_dir(data.path("logs")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!("{HEADER}{}", rows(0, 300)).as_bytes())
        .unwrap();
    data.write("logs/a.csv.gz", gz.finish().unwrap());
    count_with_state(&data, "logs", &[]).ok();
    data.write("logs/b.csv", "");
    count_with_state(&data, "logs", &[])
        .ok()
        .stderr_has("b.csv: empty");
    assert_same_as_full(&data, "logs");
}
