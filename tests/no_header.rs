//! Files without a header row (`--no-header`, `--regions-no-header`): the
//! shipped sample and dirty file with their header lines removed, counted
//! with the columns given as positions, equal the files with headers on
//! every backend, as one file, as shards merged, and as several such files
//! joined on stdin; their rejects are the same rows, one line higher.

use crate::util::{backends, count_args, engines, DataDir};
use std::io::Write;

/// `text` without its first line.
fn without_header(text: &str) -> &str {
    text.split_once('\n').unwrap().1
}

fn sample(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A folder with the sample and dirty files with their headers (`h.csv`,
/// `hdirty.csv`, `region.csv`) and without (`n.csv`, `ndirty.csv`,
/// `nregion.csv`).
fn data() -> DataDir {
    let data = DataDir::new();
    for (name, text) in [
        ("location.csv", "h.csv"),
        ("dirty.csv", "hdirty.csv"),
        ("region.csv", "region.csv"),
    ]
    .map(|(from, to)| (to, sample(from)))
    {
        data.write(name, &text);
        let bare = match name {
            "h.csv" => "n.csv",
            "hdirty.csv" => "ndirty.csv",
            _ => "nregion.csv",
        };
        data.write(bare, without_header(&text));
    }
    data
}

const POSITIONS: [&str; 2] = ["--columns", "region_id=3,date=4"];
const REGION_POSITIONS: [&str; 3] = [
    "--regions-no-header",
    "--region-columns",
    "region_id=1,region_name=2",
];

/// Counts `locations` (with region.csv, or nregion.csv read without a
/// header) on `backend`, the result on stdout; `extra` after the rest.
fn count(data: &DataDir, backend: &str, locations: &str, extra: &[&str]) -> crate::util::Run {
    let mut args = vec![
        "count",
        "--backend",
        backend,
        "--locations",
        locations,
        "-o",
        "-",
        "--max-bad",
        "100%",
        "--max-unmatched",
        "100%",
    ];
    if extra.contains(&"--regions-no-header") {
        args.extend(["--regions", "nregion.csv"]);
    } else {
        args.extend(["--regions", "region.csv"]);
    }
    args.extend(extra);
    data.run(&args)
}

/// The rejects file `name` with every line number one lower, and file names
/// changed from `from` to `to`: what the headerless copy's rejects must be.
fn shifted(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            let rest = line.strip_prefix(&format!("\"{from}\",\"")).unwrap();
            let (number, rest) = rest.split_once('"').unwrap();
            let number: u64 = number.parse().unwrap();
            out.push_str(&format!("\"{to}\",\"{}\"{rest}", number - 1));
        }
        out.push('\n');
    }
    out
}

#[test]
fn headerless_copies_count_as_the_files_with_headers_on_every_backend() {
    let data = data();
    for backend in backends() {
        for (with, without) in [("h.csv", "n.csv"), ("hdirty.csv", "ndirty.csv")] {
            let expected = count(&data, backend, with, &["--rejects", "hrejects.csv"]);
            expected.ok();
            let mut extra = vec!["--no-header", "--rejects", "nrejects.csv"];
            extra.extend(POSITIONS);
            let run = count(&data, backend, without, &extra);
            run.ok();
            assert_eq!(run.stdout, expected.stdout, "{backend} {without}");
            assert_eq!(
                data.read("nrejects.csv"),
                shifted(&data.read("hrejects.csv"), with, without),
                "{backend} {without}"
            );
            // region.csv without its header too.
            extra.extend(REGION_POSITIONS);
            let run = count(&data, backend, without, &extra);
            run.ok();
            assert_eq!(run.stdout, expected.stdout, "{backend} {without} nregion");
        }
    }
    // The summary's own line for it, and samples on the headerless lines.
    let mut extra = vec!["--no-header"];
    extra.extend(POSITIONS);
    count(&data, "cpu", "ndirty.csv", &extra)
        .ok()
        .stderr_has("headers:   none in location files: line 1 is a row")
        .stderr_has("ndirty.csv:2: region_id \"x\" is not an integer");
}

/// The library on every engine, the GPU's tight chunks included (where a
/// chunk starts at the file's first byte, which is a row's).
#[test]
fn headerless_copies_count_alike_on_every_engine() {
    let data = data();
    data.write("location.csv", data.read("h.csv"));
    let mut options = data.count_options("expected.csv");
    options.threads = 2;
    event_counter::count(&options, &event_counter::Engine::Cpu, &()).unwrap();
    let expected = data.read("expected.csv");
    options.locations = vec![event_counter::input::InputSpec::Local(data.path("n.csv"))];
    options.format = event_counter::format::LocationFormat {
        region_id: Some(event_counter::format::Column::Position(3)),
        date: Some(event_counter::format::Column::Position(4)),
        no_header: true,
        ..Default::default()
    };
    for engine in engines() {
        options.output = Some(event_counter::output::Destination::File(
            data.path("got.csv"),
        ));
        let summary = event_counter::count(&options, engine, &()).unwrap();
        assert_eq!(data.read("got.csv"), expected, "{}", summary.backend);
        assert_eq!(summary.stats.headers, 0);
    }
}

/// `cat *.csv | event-counter count --no-header ... --locations -` counts
/// every line, whatever line the files' joins fall on; as gzip too.
#[test]
fn several_headerless_files_on_stdin_count_every_line() {
    let data = data();
    let rows = without_header(&sample("location.csv")).to_string();
    let (first, second) = rows.split_at(rows[..rows.len() / 2].rfind('\n').unwrap() + 1);
    data.write("a.csv", first);
    data.write("b.csv", second);
    data.write("c.csv", first);
    data.write("all.csv", format!("{rows}{first}"));
    let mut extra = vec!["--no-header"];
    extra.extend(POSITIONS);
    let expected = count(&data, "cpu", "all.csv", &extra);
    expected.ok();
    let script = format!(
        "cat a.csv b.csv c.csv | '{}' count --regions region.csv --locations - -o - \
         --no-header --columns region_id=3,date=4",
        crate::util::binary()
    );
    let run = data.run_program("sh", &["-c", &script]);
    run.ok();
    assert_eq!(run.stdout, expected.stdout);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!("{rows}{first}").as_bytes()).unwrap();
    data.write("all.csv.gz", gz.finish().unwrap());
    let run = count(&data, "cpu", "all.csv.gz", &extra);
    run.ok();
    assert_eq!(run.stdout, expected.stdout);
}

#[test]
fn shards_of_a_headerless_file_merge_to_its_count() {
    let data = data();
    let mut extra = vec!["--no-header"];
    extra.extend(POSITIONS);
    let whole = count(&data, "cpu", "n.csv", &extra);
    whole.ok();
    let mut parts = Vec::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let out = format!("part{}.csv", &shard[..1]);
        data.run(&count_args(
            "n.csv",
            &out,
            &[
                "--split",
                shard,
                "--no-header",
                "--columns",
                "region_id=3,date=4",
                "--chunk-size",
                "4096",
            ],
        ))
        .ok();
        parts.push(out);
    }
    let mut merge = vec!["merge", "-o", "merged.csv"];
    merge.extend(parts.iter().map(String::as_str));
    data.run(&merge).ok();
    assert_eq!(data.read("merged.csv"), whole.stdout);
    // A shard read with a header is another count's: not merged with these.
    data.run(&count_args(
        "n.csv",
        "part2.csv",
        &["--split", "2/3", "--columns", "region_id=3,date=4"],
    ))
    .ok();
    data.run(&merge)
        .expect_code(2)
        .stderr_has("(options --no-header given against --no-header not given)");
    // And the dirty file's shards' rejects merge to its rejects, with
    // their file lines (line 1 is a row: no header before it).
    let mut extra = vec!["--no-header", "--rejects", "whole-rejects.csv"];
    extra.extend(POSITIONS);
    count(&data, "cpu", "ndirty.csv", &extra).ok();
    let mut rejects = Vec::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let name = format!("rejects{}.csv", &shard[..1]);
        data.run(&count_args(
            "ndirty.csv",
            "p.csv",
            &[
                "--split",
                shard,
                "--rejects",
                &name,
                "--no-header",
                "--columns",
                "region_id=3,date=4",
                "--max-bad",
                "100%",
                "--chunk-size",
                "4096",
            ],
        ))
        .ok();
        rejects.push(name);
    }
    let mut merge = vec!["merge", "-o", "merged-rejects.csv"];
    merge.extend(rejects.iter().map(String::as_str));
    data.run(&merge).ok();
    let whole = data.read("whole-rejects.csv");
    assert!(
        whole.lines().count() > 2,
        "the dirty file has rejects: {whole}"
    );
    assert_eq!(data.read("merged-rejects.csv"), whole);
}

#[test]
fn without_a_header_columns_must_be_positions() {
    let data = data();
    for columns in [
        None,
        Some("region_id=3"),
        Some("region_id=region_id,date=4"),
    ] {
        let mut extra = vec!["--no-header"];
        if let Some(columns) = columns {
            extra.extend(["--columns", columns]);
        }
        count(&data, "cpu", "n.csv", &extra)
            .expect_code(2)
            .stderr_has("files without a header row have no column names")
            .stderr_has("1-based positions (--columns region_id=N,date=N)");
    }
    count(&data, "cpu", "n.csv", &["--regions-no-header"])
        .expect_code(2)
        .stderr_has("--region-columns region_id=N,region_name=N");
    // Without --no-header, the first row is taken for a header, and says so.
    count(&data, "cpu", "n.csv", &[])
        .expect_code(65)
        .stderr_has("n.csv:1: header has no \"region_id\"");
    // A position past the first row's fields: that row is no header, and
    // the message said "the header has 4 columns".
    let run = count(
        &data,
        "cpu",
        "n.csv",
        &["--no-header", "--columns", "region_id=7,date=8"],
    );
    run.expect_code(65);
    run.stderr_has("n.csv:1: column 7 is asked for, but the first line has 4 fields");
    assert!(!run.stderr.contains("header"), "{}", run.stderr);
}

#[test]
fn a_state_kept_with_a_header_is_refused_without_one() {
    let data = data();
    let state = |extra: &[&str]| {
        let mut args = count_args(
            "log.csv",
            "result.csv",
            &["--state", "state.bin", "--columns", "region_id=3,date=4"],
        );
        args.extend(extra);
        data.run(&args)
    };
    data.write("log.csv", data.read("h.csv"));
    state(&[]).ok();
    data.write("log.csv", data.read("n.csv"));
    state(&["--no-header"]).expect_code(2).stderr_has(
        "the state was counted with --no-header not given, and this run has --no-header given",
    );
    state(&["--no-header", "--recount"]).ok();
    let mut extra = vec!["--no-header"];
    extra.extend(POSITIONS);
    assert_eq!(
        data.read("result.csv"),
        count(&data, "cpu", "n.csv", &extra).stdout
    );
}

/// An empty region.csv under `--regions-no-header` said "expected a
/// header", which that flag says it has not; so did an empty location file
/// alone under `--no-header`. Each now says that rows were expected.
#[test]
fn an_empty_file_without_a_header_row_expects_rows() {
    let data = data();
    data.write("nregion.csv", "");
    count(&data, "cpu", "h.csv", &REGION_POSITIONS)
        .expect_code(65)
        .stderr_has("nregion.csv:1: file is empty; expected rows");
    data.write("region.csv", "\u{feff}");
    count(&data, "cpu", "h.csv", &[])
        .expect_code(65)
        .stderr_has("region.csv:1: file is empty; expected a header \"region_id\",\"region_name\"");
    data.write("region.csv", "region_id,region_name\n1,A\n");
    data.write("empty.csv", "");
    let mut extra = vec!["--no-header"];
    extra.extend(POSITIONS);
    count(&data, "cpu", "empty.csv", &extra)
        .expect_code(65)
        .stderr_has("empty.csv:1: file is empty; expected rows");
}
