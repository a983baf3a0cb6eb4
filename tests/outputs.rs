//! Outputs never overwrite an input or each other, are checked before the
//! first row is read, and appear together, whole, or not at all.

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
