//! What deploy/ ships, run by its own Python tests:
//! - the PySpark driver, by pyspark in local mode on generated data
//!   (deploy/spark/test_local.py checks it against one count); needs
//!   `EVENT_COUNTER_PYTHON` naming a python with pyspark, and Java;
//! - the EMR launcher against a moto server (deploy/emr/test_launch.py);
//!   needs `EVENT_COUNTER_PYTHON` with boto3 and `EVENT_COUNTER_MOTO`.
//!
//! They are ignored by a plain `cargo test`, which says what they need;
//! `cargo test -- --ignored` runs them. Run so without what they need, a
//! test says so and is skipped, unless `EVENT_COUNTER_REQUIRE_SPARK=1` /
//! `EVENT_COUNTER_REQUIRE_S3=1` (CI sets both) makes that a failure.

use std::path::Path;
use std::process::Command;

fn python_with_pyspark() -> Option<String> {
    let why = match std::env::var("EVENT_COUNTER_PYTHON") {
        Err(_) => "EVENT_COUNTER_PYTHON is not set".to_string(),
        Ok(python) => {
            let has = |args: &[&str], program: &str| {
                Command::new(program)
                    .args(args)
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if !has(&["-c", "import pyspark"], &python) {
                format!("{python} cannot import pyspark")
            } else if !has(&["-version"], "java") {
                "java is not on PATH".to_string()
            } else {
                return Some(python);
            }
        }
    };
    skip("EVENT_COUNTER_REQUIRE_SPARK", &why, "Spark driver");
    None
}

/// Runs `script` (a path in the repository) with `python` and one more
/// variable in its environment; returns its standard output once it has
/// succeeded.
fn run_python(python: &str, script: &str, var: (&str, &str)) -> String {
    let output = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(script))
        .env(var.0, var.1)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Skips a test (saying why) or, when `require` is set to 1, fails it.
fn skip(require: &str, why: &str, what: &str) {
    if std::env::var(require).as_deref() == Ok("1") {
        panic!("{require}=1 but {why}");
    }
    eprintln!("skipping the {what} test: {why}");
}

#[test]
#[ignore = "needs EVENT_COUNTER_PYTHON (a python with pyspark) and Java, then cargo test -- --ignored; .ci/run runs it"]
fn spark_driver_in_local_mode_equals_one_count() {
    let Some(python) = python_with_pyspark() else {
        return;
    };
    let stdout = run_python(
        &python,
        "deploy/spark/test_local.py",
        ("EVENT_COUNTER_BIN", &crate::util::binary()),
    );
    for shards in [1, 3, 7] {
        assert!(
            stdout.contains(&format!("{shards} shards: equal to one count")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains(
            "3 shards with --time-zone Pacific/Auckland --delimiter ;: equal to one count"
        ),
        "{stdout}"
    );
}

#[test]
#[ignore = "needs EVENT_COUNTER_PYTHON (a python with boto3) and EVENT_COUNTER_MOTO, then cargo test -- --ignored; .ci/run runs it"]
fn emr_launcher_against_moto() {
    let (Ok(python), Ok(moto)) = (
        std::env::var("EVENT_COUNTER_PYTHON"),
        std::env::var("EVENT_COUNTER_MOTO"),
    ) else {
        let why = "EVENT_COUNTER_PYTHON or EVENT_COUNTER_MOTO is not set";
        return skip("EVENT_COUNTER_REQUIRE_S3", why, "EMR launcher");
    };
    let stdout = run_python(
        &python,
        "deploy/emr/test_launch.py",
        ("EVENT_COUNTER_MOTO", &moto),
    );
    assert!(
        stdout.contains("emr launcher: all checks passed"),
        "{stdout}"
    );
}
