//! The PySpark driver in deploy/spark/, run by pyspark in local mode on
//! generated data (deploy/spark/test_local.py checks it against one count).
//! Needs `EVENT_COUNTER_PYTHON` naming a python with pyspark, and Java;
//! without them the test says so and is skipped, unless
//! `EVENT_COUNTER_REQUIRE_SPARK=1` (CI sets it) makes that a failure.

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
    if std::env::var("EVENT_COUNTER_REQUIRE_SPARK").as_deref() == Ok("1") {
        panic!("EVENT_COUNTER_REQUIRE_SPARK=1 but {why}");
    }
    eprintln!("skipping the Spark driver test: {why}");
    None
}

#[test]
fn spark_driver_in_local_mode_equals_one_count() {
    let Some(python) = python_with_pyspark() else {
        return;
    };
    let output = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/spark/test_local.py"
        ))
        .env("EVENT_COUNTER_BIN", env!("CARGO_BIN_EXE_event-counter"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for shards in [1, 3, 7] {
        assert!(
            stdout.contains(&format!("{shards} shards: equal to one count")),
            "{stdout}"
        );
    }
}
