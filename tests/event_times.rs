//! Event times in the date column (issue 30): every accepted form counted
//! by its local day in `--time-zone`, exact around DST changes and
//! midnight, the same on every backend, sharded and merged, and each
//! impossible value a malformed row that says which part is wrong.

use std::collections::HashMap;

use crate::util::{backends, quote, reference_result, DataDir};

/// Instants around the New Zealand, US and European DST changes of
/// 2019-2021 and around local midnights, each with its local date in two
/// zones. Checked by hand (the local times are in the comments) and
/// against Python's zoneinfo when written; hard-coded here so that the
/// test does not depend on the zone code it checks.
const DST_TABLE: &[(&str, &str, &str, &str, &str)] = &[
    // NZ: NZST (+12) to NZDT (+13) at 2019-09-29 02:00 local.
    (
        "2019-09-28T13:59:59Z",
        "Pacific/Auckland",
        "2019-09-29",
        "America/New_York",
        "2019-09-28",
    ), // 01:59:59+12 / 09:59:59-04
    (
        "2019-09-28T14:00:00Z",
        "Pacific/Auckland",
        "2019-09-29",
        "America/New_York",
        "2019-09-28",
    ), // 03:00:00+13 / 10:00:00-04
    (
        "2019-09-28T10:59:59Z",
        "Pacific/Auckland",
        "2019-09-28",
        "America/New_York",
        "2019-09-28",
    ), // 22:59:59+12 / 06:59:59-04
    (
        "2019-09-28T11:00:00Z",
        "Pacific/Auckland",
        "2019-09-28",
        "America/New_York",
        "2019-09-28",
    ), // 23:00:00+12 / 07:00:00-04
    (
        "2019-09-29T10:59:59Z",
        "Pacific/Auckland",
        "2019-09-29",
        "America/New_York",
        "2019-09-29",
    ), // 23:59:59+13 / 06:59:59-04
    (
        "2019-09-29T11:00:00Z",
        "Pacific/Auckland",
        "2019-09-30",
        "America/New_York",
        "2019-09-29",
    ), // 00:00:00+13 / 07:00:00-04
    // NZ: back to NZST at 2020-04-05 03:00 local.
    (
        "2020-04-04T10:59:59Z",
        "Pacific/Auckland",
        "2020-04-04",
        "America/New_York",
        "2020-04-04",
    ), // 23:59:59+13 / 06:59:59-04
    (
        "2020-04-04T11:00:00Z",
        "Pacific/Auckland",
        "2020-04-05",
        "America/New_York",
        "2020-04-04",
    ), // 00:00:00+13 / 07:00:00-04
    (
        "2020-04-05T11:59:59Z",
        "Pacific/Auckland",
        "2020-04-05",
        "America/New_York",
        "2020-04-05",
    ), // 23:59:59+12 / 07:59:59-04
    (
        "2020-04-05T12:00:00Z",
        "Pacific/Auckland",
        "2020-04-06",
        "America/New_York",
        "2020-04-05",
    ), // 00:00:00+12 / 08:00:00-04
    (
        "2020-09-26T11:59:59Z",
        "Pacific/Auckland",
        "2020-09-26",
        "Europe/Berlin",
        "2020-09-26",
    ), // 23:59:59+12 / 13:59:59+02
    (
        "2020-09-26T12:00:00Z",
        "Pacific/Auckland",
        "2020-09-27",
        "Europe/Berlin",
        "2020-09-26",
    ), // 00:00:00+12 / 14:00:00+02
    (
        "2021-04-04T01:30:00+13:00",
        "Pacific/Auckland",
        "2021-04-04",
        "Europe/Berlin",
        "2021-04-03",
    ), // 01:30:00+13 / 14:30:00+02
    (
        "2021-04-04T23:59:59+12:00",
        "Pacific/Auckland",
        "2021-04-04",
        "Europe/Berlin",
        "2021-04-04",
    ), // 23:59:59+12 / 13:59:59+02
    // US: EST (-5) to EDT (-4) at 2019-03-10 02:00 local, back 2019-11-03.
    (
        "2019-03-10T04:59:59Z",
        "America/New_York",
        "2019-03-09",
        "Pacific/Auckland",
        "2019-03-10",
    ), // 23:59:59-05 / 17:59:59+13
    (
        "2019-03-10T05:00:00Z",
        "America/New_York",
        "2019-03-10",
        "Pacific/Auckland",
        "2019-03-10",
    ), // 00:00:00-05 / 18:00:00+13
    (
        "2019-03-11T03:59:59Z",
        "America/New_York",
        "2019-03-10",
        "Pacific/Auckland",
        "2019-03-11",
    ), // 23:59:59-04 / 16:59:59+13
    (
        "2019-03-11T04:00:00Z",
        "America/New_York",
        "2019-03-11",
        "Pacific/Auckland",
        "2019-03-11",
    ), // 00:00:00-04 / 17:00:00+13
    (
        "2019-11-03T05:59:59Z",
        "America/New_York",
        "2019-11-03",
        "Pacific/Auckland",
        "2019-11-03",
    ), // 01:59:59-04 / 18:59:59+13
    (
        "2019-11-04T04:59:59Z",
        "America/New_York",
        "2019-11-03",
        "Pacific/Auckland",
        "2019-11-04",
    ), // 23:59:59-05 / 17:59:59+13
    (
        "2019-11-04T05:00:00Z",
        "America/New_York",
        "2019-11-04",
        "Pacific/Auckland",
        "2019-11-04",
    ), // 00:00:00-05 / 18:00:00+13
    (
        "2020-03-08 23:59:59-04:00",
        "America/New_York",
        "2020-03-08",
        "Europe/Berlin",
        "2020-03-09",
    ), // 23:59:59-04 / 04:59:59+01
    (
        "2020-11-01T01:30:00-0500",
        "America/New_York",
        "2020-11-01",
        "Europe/Berlin",
        "2020-11-01",
    ), // 01:30:00-05 / 07:30:00+01
    (
        "2021-11-07T23:59:59.999-05:00",
        "America/New_York",
        "2021-11-07",
        "Europe/Berlin",
        "2021-11-08",
    ), // 23:59:59-05 / 05:59:59+01
    // EU: CET (+1) to CEST (+2) at 2019-03-31 02:00 local, back 2019-10-27.
    (
        "2019-03-30T22:59:59Z",
        "Europe/Berlin",
        "2019-03-30",
        "America/New_York",
        "2019-03-30",
    ), // 23:59:59+01 / 18:59:59-04
    (
        "2019-03-30T23:00:00Z",
        "Europe/Berlin",
        "2019-03-31",
        "America/New_York",
        "2019-03-30",
    ), // 00:00:00+01 / 19:00:00-04
    (
        "2019-03-31T21:59:59Z",
        "Europe/Berlin",
        "2019-03-31",
        "America/New_York",
        "2019-03-31",
    ), // 23:59:59+02 / 17:59:59-04
    (
        "2019-03-31T22:00:00Z",
        "Europe/Berlin",
        "2019-04-01",
        "America/New_York",
        "2019-03-31",
    ), // 00:00:00+02 / 18:00:00-04
    (
        "2019-10-27T22:59:59Z",
        "Europe/Berlin",
        "2019-10-27",
        "Pacific/Auckland",
        "2019-10-28",
    ), // 23:59:59+01 / 11:59:59+13
    (
        "2019-10-27T23:00:00Z",
        "Europe/Berlin",
        "2019-10-28",
        "Pacific/Auckland",
        "2019-10-28",
    ), // 00:00:00+01 / 12:00:00+13
    (
        "2020-10-25T00:30:00+02:00",
        "Europe/Berlin",
        "2020-10-25",
        "Pacific/Auckland",
        "2020-10-25",
    ), // 00:30:00+02 / 11:30:00+13
    (
        "2021-03-28T23:59:59.5+02:00",
        "Europe/Berlin",
        "2021-03-28",
        "Pacific/Auckland",
        "2021-03-29",
    ), // 23:59:59+02 / 10:59:59+13
];

/// Each instant of the table counted in each of its zones, on every
/// backend: one region per row, so the result says every row's day.
#[test]
fn local_days_around_dst_changes_and_midnight() {
    let mut regions = String::from("region_id,region_name\n");
    let mut locations = String::from("lat,long,region_id,date\n");
    for (i, (instant, ..)) in DST_TABLE.iter().enumerate() {
        regions.push_str(&format!("{i},row{i:02}\n"));
        locations.push_str(&format!("-36.8,174.7,{i},{instant}\n"));
    }
    for zone in ["Pacific/Auckland", "America/New_York", "Europe/Berlin"] {
        let mut expected: Vec<(String, &str)> = Vec::new();
        for (i, &(_, a, day_a, b, day_b)) in DST_TABLE.iter().enumerate() {
            for (z, day) in [(a, day_a), (b, day_b)] {
                if z == zone {
                    expected.push((format!("row{i:02}"), day));
                }
            }
        }
        assert!(expected.len() >= 10, "{zone}");
        for backend in backends() {
            let data = DataDir::with(&regions, &locations);
            let run = data.run(&[
                "count",
                ".",
                "-o",
                "-",
                "--time-zone",
                zone,
                "--backend",
                backend,
            ]);
            run.ok();
            run.stderr_has(&format!("  time zone: {zone} (tz database "));
            let days: HashMap<&str, &str> = run
                .stdout
                .lines()
                .skip(1)
                .map(|line| {
                    let f: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
                    (f[0], f[1])
                })
                .collect();
            for (row, day) in &expected {
                assert_eq!(
                    days.get(row.as_str()),
                    Some(day),
                    "{row} in {zone} on {backend}"
                );
            }
        }
    }
}

/// Writes instant `second` in one of the accepted forms, chosen by `form`:
/// the local date and time at the offset `east` seconds, and that offset.
fn write_instant(second: i64, east: i64, form: u64) -> (String, String) {
    let local = jiff::Timestamp::from_second(second + east)
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .datetime();
    let date = local.date();
    let (h, m, s) = (local.hour(), local.minute(), local.second());
    let sep = if form & 1 == 0 { 'T' } else { ' ' };
    let fraction = ["", ".123", ".5", ".123456789"][(form >> 1) as usize % 4];
    let sign = if east < 0 { '-' } else { '+' };
    let (oh, om) = (east.abs() / 3600, east.abs() % 3600 / 60);
    let offset = match (form >> 3) % 4 {
        0 if east == 0 => "Z".to_string(),
        0 | 1 => format!("{sign}{oh:02}:{om:02}"),
        2 => format!("{sign}{oh:02}{om:02}"),
        _ => format!("{sign}{oh:02}:{om:02}"),
    };
    let body = if (form >> 5).is_multiple_of(8) {
        // Seconds left out (and so the fraction too).
        format!("{date}{sep}{h:02}:{m:02}")
    } else {
        format!("{date}{sep}{h:02}:{m:02}:{s:02}{fraction}")
    };
    (body, offset)
}

/// A file of event times of every form, mostly in time order, some dates
/// and local times among them: counted on every backend, in small chunks
/// on two threads and sharded then merged, it equals a reference that
/// takes each instant's day from jiff directly.
#[test]
fn event_times_of_every_form_count_as_a_reference_does() {
    let zone = "Pacific/Auckland";
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let names: HashMap<i64, String> = (1..=4).map(|i| (i, format!("District {i}"))).collect();
    let mut regions = String::from("region_id,region_name\n");
    for (id, name) in &names {
        regions.push_str(&format!("{id},{}\n", quote(name)));
    }
    let mut locations = String::from("lat,long,region_id,date\n");
    let mut rows = Vec::new();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut second = 1_569_000_000i64; // September 2019, before NZ's DST change
    for i in 0..6_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        second += (x % 2_400) as i64;
        if i % 97 == 0 {
            second -= 200_000; // now and then out of order
        }
        let id = 1 + (x >> 20) as i64 % 4;
        let east = [
            0,
            13 * 3600,
            -5 * 3600,
            5 * 3600 + 45 * 60,
            -(9 * 3600 + 30 * 60),
        ][(x >> 30) as usize % 5];
        let form = x >> 40;
        let (body, offset) = write_instant(second, east, form);
        let (text, day) = match (x >> 36) % 10 {
            // A calendar date, and a local time: their own date.
            0 => (body[..10].to_string(), body[..10].to_string()),
            1 => (body.clone(), body[..10].to_string()),
            _ => {
                let day = jiff::Timestamp::from_second(second)
                    .unwrap()
                    .to_zoned_datetime(tz.clone())
                    .date();
                (format!("{body}{offset}"), day.to_string())
            }
        };
        locations.push_str(&format!("-36.{i},174.{i},{id},{text}\n"));
        rows.push((id, day));
    }
    let expected = reference_result(&names, &rows);
    let data = DataDir::with(&regions, &locations);
    for backend in backends() {
        for threads in ["1", "2"] {
            let run = data.run(&[
                "count",
                ".",
                "-o",
                "-",
                "--time-zone",
                zone,
                "--backend",
                backend,
                "-j",
                threads,
                "--chunk-size",
                "4096",
            ]);
            run.ok();
            assert!(
                run.stdout == expected,
                "{backend}, {threads} threads: {}",
                run.stderr
            );
            run.stderr_has(&format!("counted {} rows", rows.len()));
        }
    }
    let count = |args: &[&str]| {
        let mut all = vec!["count", ".", "--time-zone", zone, "--backend", "cpu"];
        all.extend(args);
        data.run(&all).ok();
    };
    count(&["-o", "p0.csv", "--split", "0/3"]);
    count(&["-o", "p1.csv", "--split", "1/3"]);
    count(&["-o", "p2.csv", "--split", "2/3"]);
    data.run(&["merge", "-o", "merged.csv", "p0.csv", "p1.csv", "p2.csv"])
        .ok();
    assert_eq!(data.read("merged.csv"), expected);
}

/// With `--backend gpu`, a count in a zone other than UTC is parsed on
/// the device, which reads the zone's table, and gives the CPU's bytes; a
/// count with `--epoch` is parsed on the CPU (the shader hands numbers
/// back), and says so.
#[test]
fn the_gpu_backend_parses_zoned_counts_and_hands_epoch_counts_to_the_cpu() {
    if !crate::util::gpu_available() {
        return;
    }
    let mut locations = String::from("lat,long,region_id,date\n");
    for i in 0..3000 {
        locations.push_str(&format!(
            "1,2,{},2020-04-0{}T1{}:00:00Z\n",
            1 + i % 3,
            1 + i % 7,
            i % 10
        ));
    }
    let data = DataDir::with("region_id,region_name\n1,A\n2,B\n3,C\n", &locations);
    let count = |backend: &str, extra: &[&str]| {
        let mut args = vec!["-v", "count", ".", "-o", "-", "--backend", backend];
        args.extend(extra);
        let run = data.run(&args);
        run.ok();
        (run.stdout.clone(), run.stderr.clone())
    };
    for zone in ["Pacific/Auckland", "UTC", "-09:30"] {
        let zone_arg = format!("--time-zone={zone}");
        let cpu = count("cpu", &[&zone_arg]);
        let gpu = count("gpu", &[&zone_arg]);
        assert!(
            !gpu.1.contains("parsed and counted on the CPU"),
            "{zone}: {}",
            gpu.1
        );
        assert_eq!(gpu.0, cpu.0, "{zone}");
    }
    let gpu = count("gpu", &["--epoch", "s"]);
    assert!(gpu.1.contains("parsed and counted on the CPU"), "{}", gpu.1);
    assert_eq!(gpu.0, count("cpu", &["--epoch", "s"]).0);
}

/// Epoch seconds and milliseconds, only with `--epoch`; the zone, and
/// what a bare number is, in `-v`, the summary and `--stats-json`; the
/// database's version in `--version`.
#[test]
fn epoch_numbers_and_where_the_zone_is_stated() {
    // 2019-10-23T13:00:00Z: the 24th in New Zealand, the 23rd in UTC.
    let data = DataDir::with(
        "region_id,region_name\n1,A\n",
        "lat,long,region_id,date\n1,2,1,1571835600\n1,2,1,1571835599\n",
    );
    let run = data.run(&["count", ".", "-o", "-", "--backend", "cpu"]);
    run.expect_code(65);
    run.stderr_has("with --epoch s|ms a number");
    let run = data.run(&[
        "-v",
        "count",
        ".",
        "-o",
        "-",
        "--epoch",
        "s",
        "--time-zone",
        "Pacific/Auckland",
        "--stats-json",
        "stats.json",
        "--backend",
        "cpu",
    ]);
    run.ok();
    assert_eq!(
        run.stdout,
        "\"region_name\",\"date\",\"count\"\n\"A\",\"2019-10-24\",\"2\"\n"
    );
    run.stderr_has("dates: instants counted by their local day in Pacific/Auckland (tz database ");
    run.stderr_has("; numbers are epoch seconds");
    let stats: serde_json::Value = serde_json::from_str(&data.read("stats.json")).unwrap();
    assert_eq!(stats["dates"]["time_zone"], "Pacific/Auckland");
    assert_eq!(stats["dates"]["epoch"], "s");
    assert_eq!(
        stats["dates"]["tz_database"],
        event_counter::date::tzdb_version()
    );

    let millis = DataDir::with(
        "region_id,region_name\n1,A\n",
        "lat,long,region_id,date\n1,2,1,1571835600000\n1,2,1,1571835599999\n",
    );
    let run = millis.run(&[
        "count",
        ".",
        "-o",
        "-",
        "--epoch",
        "ms",
        "--time-zone",
        "+13:00",
    ]);
    assert_eq!(
        run.ok().stdout,
        "\"region_name\",\"date\",\"count\"\n\"A\",\"2019-10-24\",\"2\"\n"
    );
    let run = millis.run(&["count", ".", "-o", "-", "--epoch", "ms"]);
    assert_eq!(
        run.ok().stdout,
        "\"region_name\",\"date\",\"count\"\n\"A\",\"2019-10-23\",\"2\"\n"
    );

    let run = data.run(&["--version"]);
    run.ok().stdout_has(&format!(
        "(tz database {})",
        event_counter::date::tzdb_version()
    ));
    let run = data.run(&["count", ".", "--time-zone", "Mars/Olympus"]);
    run.expect_code(2);
    run.stderr_has("unknown time zone \"Mars/Olympus\"");
}

/// A negative offset is a zone like any other: `--time-zone -05:00` as two
/// arguments, as `--help` and the README write options, not only
/// `--time-zone=-05:00` (a value starting with `-` was taken for an option:
/// "unexpected argument '-0'"). `generate` takes it the same way.
#[test]
fn a_negative_offset_is_a_time_zone_in_its_own_argument() {
    let data = DataDir::with(
        "region_id,region_name\n1,A\n",
        "lat,long,region_id,date\n1,2,1,2019-10-24T03:00:00Z\n1,2,1,2019-10-24T06:00:00Z\n",
    );
    let run = data.run(&["count", ".", "-o", "-", "--time-zone", "-05:00"]);
    assert_eq!(
        run.ok().stdout,
        "\"region_name\",\"date\",\"count\"\n\"A\",\"2019-10-23\",\"1\"\n\"A\",\"2019-10-24\",\"1\"\n"
    );
    let joined = data.run(&["count", ".", "-o", "-", "--time-zone=-05:00"]);
    assert_eq!(joined.ok().stdout, run.stdout);
    // A zone forgotten before an option is a usage error that names what
    // was taken for the zone.
    let forgotten = data.run(&["count", ".", "-o", "-", "--time-zone", "--strict"]);
    forgotten.expect_code(2);
    forgotten.stderr_has("time zone \"--strict\"");

    let generated = DataDir::new();
    generated
        .run(&[
            "generate",
            "--size",
            "64K",
            "--timestamps",
            "--time-zone",
            "-05:00",
            ".",
        ])
        .ok();
    let first = generated.read("location.csv");
    let first = first.lines().nth(1).unwrap();
    assert!(first.ends_with("-05:00\""), "{first}");
}

/// Impossible values are malformed rows whose reason names the part;
/// `--time-zone` changes nothing for calendar dates and local times.
#[test]
fn impossible_event_times_say_which_part_is_wrong() {
    let data = DataDir::with(
        "region_id,region_name\n1,A\n",
        "lat,long,region_id,date\n\
         1,2,1,2019-10-23T24:00:00Z\n\
         1,2,1,2019-10-23T10:60Z\n\
         1,2,1,2019-10-23T10:00+18:30\n\
         1,2,1,2019-02-29T10:00:00Z\n\
         1,2,1,2019-10-23T10:00:00 UTC\n\
         1,2,1,2019-10-23T10:00:00.Z\n\
         1,2,1,2019-10-23\n\
         1,2,1,2019-10-23T23:59:60\n\
         1,2,1,2019-10-23T23:59:60Z\n",
    );
    for zone in ["UTC", "Pacific/Chatham"] {
        let run = data.run(&[
            "count",
            ".",
            "-o",
            "-",
            "--time-zone",
            zone,
            "--backend",
            "cpu",
            "--rejects",
            "r.csv",
        ]);
        run.ok();
        run.stderr_has("location.csv:2: date \"2019-10-23T24:00:00Z\" has hour 24: there is no such time (00 to 23)");
        run.stderr_has("location.csv:3: date \"2019-10-23T10:60Z\" has minute 60");
        run.stderr_has(
            "location.csv:4: date \"2019-10-23T10:00+18:30\" has an offset beyond ±18:00",
        );
        run.stderr_has("location.csv:5: date \"2019-02-29T10:00:00Z\" is not a real calendar date");
        let rejects = data.read("r.csv");
        for reason in [
            "has text after its time that is not an offset Z, ±HH:MM or ±HHMM",
            "has a time that is not HH:MM, HH:MM:SS or HH:MM:SS.fraction",
        ] {
            assert!(rejects.contains(reason), "{reason}: {rejects}");
        }
        run.stderr_has("malformed: 6 rows skipped (bad_date_format 2, no_such_date 4)");
        // The leap second stays on its day; in Chatham (+13:45) the
        // instant 23:59:60Z is the 24th.
        let expected = if zone == "UTC" {
            "\"A\",\"2019-10-23\",\"3\"\n"
        } else {
            "\"A\",\"2019-10-23\",\"2\"\n\"A\",\"2019-10-24\",\"1\"\n"
        };
        assert_eq!(
            run.stdout,
            format!("\"region_name\",\"date\",\"count\"\n{expected}"),
            "{zone}"
        );
    }
}

/// `generate --timestamps --time-zone Z` writes each row's event time in
/// Z's local time with Z's offset: counted by Z's day it gives what the
/// same rows give with the offsets cut off (local times, counted on their
/// own date), on every backend; counted in UTC it does not.
#[test]
fn generated_event_times_count_on_the_day_they_were_written_for() {
    let data = DataDir::new();
    data.run(&[
        "generate",
        "--size",
        "3M",
        "--timestamps",
        "--time-zone",
        "Pacific/Auckland",
        "-j",
        "2",
        ".",
    ])
    .ok();
    let stamped = data.read("location.csv");
    let first = stamped.lines().nth(1).unwrap();
    assert!(
        first.ends_with("+13:00\"") || first.ends_with("+12:00\""),
        "{first}"
    );
    let local: String = stamped
        .lines()
        .enumerate()
        .map(|(i, line)| match i {
            0 => format!("{line}\n"),
            _ => format!("{}\"\n", &line[..line.len() - 7]),
        })
        .collect();
    data.write("local.csv", &local);
    let expected = data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "local.csv",
        "-o",
        "-",
    ]);
    let expected = expected.ok().stdout.clone();
    for backend in backends() {
        let run = data.run(&[
            "count",
            ".",
            "-o",
            "-",
            "--time-zone",
            "Pacific/Auckland",
            "--backend",
            backend,
        ]);
        assert!(run.ok().stdout == expected, "{backend}");
    }
    let utc = data.run(&["count", ".", "-o", "-", "--backend", "cpu"]);
    assert!(utc.ok().stdout != expected);
    data.run(&["generate", ".", "--time-zone", "UTC", "--force"])
        .expect_code(2);
}

/// The same rows with `;`, tab and `|` between their fields count as the
/// comma file does, on every backend, the delimiter sniffed from the header
/// (and said with `-v`) or given; region.csv's is sniffed too (it was read
/// as commas alone: a `;` region table was one column).
#[test]
fn any_single_byte_delimiter_counts_as_commas_do() {
    let data = DataDir::new();
    data.run(&["generate", "--size", "2M", "-j", "2", "."]).ok();
    let commas = data.read("location.csv");
    let region_commas = data.read("region.csv");
    let expected = data
        .run(&["count", ".", "-o", "-", "--backend", "cpu"])
        .ok()
        .stdout
        .clone();
    for (delimiter, name, shown) in [(";", ";", "';'"), ("\t", "tab", "tab"), ("|", "|", "'|'")] {
        // Generated fields are quoted and hold no delimiter.
        data.write("other.csv", commas.replace(',', delimiter));
        data.write("other-region.csv", region_commas.replace(',', delimiter));
        for backend in backends() {
            let run = data.run(&[
                "-v",
                "count",
                "--regions",
                "other-region.csv",
                "--locations",
                "other.csv",
                "-o",
                "-",
                "--backend",
                backend,
            ]);
            run.ok();
            assert!(run.stdout == expected, "{name} on {backend}");
            run.stderr_has(&format!(
                "other.csv: fields separated by {shown} (sniffed from its header)"
            ));
        }
        let run = data.run(&[
            "count",
            "--regions",
            "region.csv",
            "--locations",
            "other.csv",
            "-o",
            "-",
            "--delimiter",
            name,
            "--backend",
            "cpu",
        ]);
        assert!(run.ok().stdout == expected, "--delimiter {name}");
    }
    data.run(&["count", ".", "--delimiter", "\""])
        .expect_code(2);
    data.run(&["count", ".", "--delimiter", ";;"])
        .expect_code(2);
}

/// An export with its own column names and order: `Zone;Timestamp;Lat;Lon`
/// counts in one command with `--columns`, by name (any case) or position.
#[test]
fn renamed_and_reordered_columns_count_with_columns() {
    let regions = "region_id,region_name\n1,A\n2,B\n";
    let comma = "lat,long,region_id,date\n1,2,1,2019-10-23\n1,2,2,2019-10-23\n1,2,1,2019-10-24\n";
    let data = DataDir::with(regions, comma);
    let expected = data.run(&["count", ".", "-o", "-"]).ok().stdout.clone();
    data.write(
        "export.csv",
        "Zone;Timestamp;Lat;Lon\n1;2019-10-23T10:00:00Z;1;2\n2;2019-10-23 09:00;1;2\n1;2019-10-24T00:00:00+00:00;1;2\n",
    );
    for columns in [
        "region_id=Zone,date=Timestamp",
        "date= timestamp ,region_id=ZONE",
        "region_id=1,date=2",
    ] {
        let run = data.run(&[
            "-v",
            "count",
            "--regions",
            "region.csv",
            "--locations",
            "export.csv",
            "-o",
            "-",
            "--delimiter",
            ";",
            "--columns",
            columns,
        ]);
        run.ok();
        assert_eq!(run.stdout, expected, "{columns}");
        run.stderr_has("export.csv: region ids from column 1, dates from column 2 (of 4)");
    }
    let run = data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "export.csv",
        "-o",
        "-",
        "--columns",
        "region_id=Zone,date=7",
    ]);
    run.expect_code(65);
    run.stderr_has("export.csv:1: column 7 is asked for, but the first line has 4 fields");
    // One column for both: every row was malformed, and the run failed
    // blaming the rows.
    let run = data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "export.csv",
        "-o",
        "-",
        "--columns",
        "region_id=Zone,date=1",
    ]);
    run.expect_code(65);
    run.stderr_has("export.csv:1: region_id and date are both column 1 (\"Zone\")");
    data.run(&["count", ".", "--columns", "region=1"])
        .expect_code(2);
    let run = data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "export.csv",
        "-o",
        "-",
    ]);
    run.expect_code(65);
    run.stderr_has("header has no \"region_id\"");
}

/// Files joined with `cat` repeat their header: those lines are repeated
/// headers in the summary and the stats, not malformed rows, on every
/// backend, and the count is the two files'.
#[test]
fn a_header_repeated_inside_a_file_is_no_malformed_row() {
    let data = DataDir::new();
    data.run(&["generate", "--size", "1M", "-j", "2", "."]).ok();
    let one = data.read("location.csv");
    for copy in ["a.csv", "b.csv", "c.csv"] {
        data.write(copy, &one);
    }
    let run = data.run(&[
        "count",
        "--regions",
        "region.csv",
        "--locations",
        "a.csv",
        "b.csv",
        "c.csv",
        "-o",
        "-",
    ]);
    let expected = run.ok().stdout.clone();
    data.write(
        "joined.csv",
        format!(
            "{one}{one}{}",
            one.replacen("\"lat\"", "\u{feff}\"lat\"", 1)
        ),
    );
    for backend in backends() {
        let run = data.run(&[
            "count",
            "--regions",
            "region.csv",
            "--locations",
            "joined.csv",
            "-o",
            "-",
            "--backend",
            backend,
            "--stats-json",
            "stats.json",
        ]);
        run.ok();
        assert!(run.stdout == expected, "{backend}");
        run.stderr_has("  headers:   2 lines repeat the header");
        assert!(
            !run.stderr.contains("malformed:"),
            "{backend}: {}",
            run.stderr
        );
        let stats: serde_json::Value = serde_json::from_str(&data.read("stats.json")).unwrap();
        assert_eq!(stats["rows"]["repeated_headers"], 2, "{backend}");
        assert_eq!(stats["rows"]["malformed"], 0, "{backend}");
        let lines = one.lines().count() as u64 - 1;
        assert_eq!(stats["rows"]["counted"], 3 * lines, "{backend}");
    }
}

/// A region table with its own column names counts with
/// `--region-columns`, by name or position; without it, the message says
/// what is missing.
#[test]
fn region_columns_by_name_or_position() {
    let locations = "lat,long,region_id,date\n1,2,1,2019-10-23\n1,2,2,2019-10-23\n";
    let data = DataDir::with("region_id,region_name\n1,A\n2,B\n", locations);
    let expected = data.run(&["count", ".", "-o", "-"]).ok().stdout.clone();
    data.write("codes.csv", "Name,Code,Population\nA,1,10\nB,2,20\n");
    for columns in [
        "region_id=Code,region_name=name",
        "region_id=2,region_name=1",
    ] {
        let run = data.run(&[
            "count",
            "--regions",
            "codes.csv",
            "--locations",
            "location.csv",
            "-o",
            "-",
            "--region-columns",
            columns,
        ]);
        assert_eq!(run.ok().stdout, expected, "{columns}");
    }
    let run = data.run(&[
        "count",
        "--regions",
        "codes.csv",
        "--locations",
        "location.csv",
        "-o",
        "-",
    ]);
    run.expect_code(65);
    run.stderr_has("codes.csv:1: header has no \"region_id\"");
    let run = data.run(&[
        "count",
        "--regions",
        "codes.csv",
        "--locations",
        "location.csv",
        "-o",
        "-",
        "--region-columns",
        "region_id=Zone",
    ]);
    run.expect_code(65);
    run.stderr_has("codes.csv:1: header has no \"Zone\"");
}

/// Shards counted in different zones are not parts of one count: their
/// manifests say how they were read, and `merge` refuses them; shards of
/// one zone merge.
#[test]
fn shards_of_other_zones_do_not_merge() {
    let data = DataDir::with(
        "region_id,region_name\n1,A\n",
        "lat,long,region_id,date\n1,2,1,2019-10-23T13:00:00Z\n1,2,1,2019-10-23T10:00:00Z\n",
    );
    let shard = |i: &str, zone: &str, out: &str| {
        data.run(&[
            "count",
            ".",
            "--split",
            &format!("{i}/2"),
            "--time-zone",
            zone,
            "-o",
            out,
            "--max-bad",
            "100%",
        ])
        .ok();
    };
    shard("0", "UTC", "u0.csv");
    shard("1", "Pacific/Auckland", "n1.csv");
    let run = data.run(&["merge", "-o", "m.csv", "u0.csv", "n1.csv"]);
    run.expect_code(2);
    // Only what differs, as the flags that set it: this listed every
    // option of both, written as Rust's debug form.
    run.stderr_has(
        "parts of different counts (options --time-zone UTC against --time-zone \
         Pacific/Auckland)",
    );
    shard("1", "UTC", "u1.csv");
    data.run(&["merge", "-o", "m.csv", "u0.csv", "u1.csv"]).ok();
    assert_eq!(
        data.read("m.csv"),
        "\"region_name\",\"date\",\"count\"\n\"A\",\"2019-10-23\",\"2\"\n"
    );
}

/// The last day of the range, 9999-12-31, lies past jiff's last instant
/// (9999-12-30T22:00Z): the CPU rejected its instants as out of range
/// while the GPU backend counted them. Every backend counts them now; the
/// next day is still out of range.
#[test]
fn the_last_day_of_the_range_counts_on_every_backend() {
    let data = DataDir::with(
        "region_id,region_name\n1,A\n",
        "region_id,date\n1,9999-12-30T23:59:59Z\n1,9999-12-31T00:00:00Z\n\
         1,9999-12-31T23:59:59Z\n1,9999-12-31T23:00:00-05:00\n",
    );
    for backend in backends() {
        let run = data.run(&[
            "count",
            ".",
            "-o",
            "-",
            "--backend",
            backend,
            "--max-bad",
            "1",
        ]);
        assert_eq!(
            run.ok().stdout,
            "\"region_name\",\"date\",\"count\"\n\"A\",\"9999-12-30\",\"1\"\n\
             \"A\",\"9999-12-31\",\"2\"\n",
            "{backend}"
        );
        run.stderr_has("falls on a local date outside the years 0000 to 9999");
    }
}

/// `generate --timestamps` where its instants are hard to write: a zone
/// whose offset has seconds (Monrovia's -00:44:30 until 1972), written as
/// whole minutes, moved rows near midnight to the day before; and on
/// 9999-12-31 west of UTC (past jiff's last instant) every offset was
/// written as +00:00. Counted in its zone, the file gives the result of as
/// many rows of the date file made with the same arguments.
#[test]
fn generated_event_times_at_the_edges_count_as_the_date_file_does() {
    for (zone, start, days) in [
        ("Africa/Monrovia", "1970-01-01", "90"),
        ("-12:00", "9999-12-31", "1"),
        ("America/New_York", "9999-12-30", "2"),
        ("Pacific/Auckland", "9999-12-30", "2"),
    ] {
        let data = DataDir::new();
        let args = [
            "--size", "256K", "--start", start, "--days", days, "-j", "2",
        ];
        data.run(&[&["generate"][..], &args, &["dates"]].concat())
            .ok();
        let stamped = [
            &["generate"][..],
            &args,
            &["--timestamps", "--time-zone", zone, "times"],
        ];
        data.run(&stamped.concat()).ok();
        // The date file's rows, as many as the longer event times left.
        let rows = data.read("times/location.csv").lines().count();
        let dates = data.read("dates/location.csv");
        let cut: Vec<&str> = dates.lines().take(rows).collect();
        data.write("dates/cut.csv", cut.join("\n") + "\n");
        let want = data.run(&[
            "count",
            "--regions",
            "dates/region.csv",
            "--locations",
            "dates/cut.csv",
            "-o",
            "-",
        ]);
        let want = want.ok().stdout.clone();
        for backend in backends() {
            let run = data.run(&[
                "count",
                "times",
                "-o",
                "-",
                "--time-zone",
                zone,
                "--backend",
                backend,
            ]);
            assert!(run.ok().stdout == want, "{zone} from {start} on {backend}");
        }
    }
}
