//! One corpus of near-canonical rows (issue 28): every field shape the fast
//! paths take or decline, each with its expected verdict, run through the
//! CPU backend (its SIMD fast path, and the exact parser for what that
//! declines) and the GPU backend (the shader, and the exact parser for the
//! rows it hands back). Both must give the verdict, the same result.csv
//! and the same rejects; and the shader must count on the device exactly
//! the rows marked `DEVICE`, handing back the others.

#![cfg(feature = "gpu")]

use event_counter::backend::Engine;
use event_counter::count::{count, CountOptions, Thresholds};
use event_counter::gpu::GpuOptions;
use event_counter::input::InputSpec;
use event_counter::output::Destination;

use crate::util::DataDir;

/// Counted, and by the shader itself.
const DEVICE: (bool, bool) = (true, true);
/// Counted, by the exact parser after the shader handed it back.
const HOST: (bool, bool) = (true, false);
/// Rejected (malformed or unmatched), by the exact parser.
const REJECT: (bool, bool) = (false, false);

/// (row, without its newline; (counted, on the device)).
const CORPUS: &[(&str, (bool, bool))] = &[
    ("1.5,2.5,7,2020-02-29", DEVICE),
    ("1.5,2.5,007,2020-02-29", DEVICE), // leading zeros: the same id
    ("1.5,2.5,4294967295,2020-02-29", DEVICE), // the largest u32
    ("\"1.5\",\"2.5\",\"7\",\"2020-02-29\"", DEVICE), // every field quoted
    (",,7,2020-02-29", DEVICE),         // empty fields that are not read
    ("-1.5,+2.5,7,2020-12-31", DEVICE), // signs in fields that are not read
    ("1.5,2.5,7,2020-02-29\r", DEVICE), // CRLF
    ("1.5,2.5,\"7\",2020-02-29", HOST), // some fields quoted: not canonical
    ("1.5,2.5, 7,2020-02-29", HOST),    // spaces around an id: trimmed
    ("1.5,2.5,7 ,2020-02-29", HOST),
    ("1.5,2.5,7,2020-02-29 ", HOST), // and a date
    ("1.5,2.5,+7,2020-02-29", HOST), // a plus sign on the id: the same id
    ("1.5,2.5,-7,2020-02-29", REJECT),
    ("1.5,2.5,,2020-02-29", REJECT),           // an empty id
    ("1.5,2.5,7,", REJECT),                    // an empty date
    ("1.5,2.5,4294967296,2020-02-29", REJECT), // past u32, not in the table
    ("1.5,2.5,99,2020-02-29", REJECT),         // unmatched
    ("1.5,2.5,7,2021-02-29", REJECT),          // no such day
    ("1.5,2.5,7,2020-2-29", REJECT),           // a short month
    ("1.5,2.5,7,20200229", REJECT),
    ("1.5,2.5,7,2020/02/29", REJECT),
    ("1.5,2.5,7", REJECT),                          // too few fields
    ("1.5,2.5,7,2020-02-29,x", REJECT),             // too many
    ("\"1.5,2.5,7,2020-02-29", REJECT),             // a quote not closed
    ("1.5,2.5,\"7\"x,2020-02-29", REJECT),          // text after a quote
    ("1.5,2.5,7\",2020-02-29", REJECT),             // a stray quote
    ("\"1,5\",\"2.5\",\"7\",\"2020-02-29\"", HOST), // a comma inside quotes
    ("\"1.5\",\"2.5\",\"7\",\"2020-02-29\"\r", DEVICE),
    ("\u{feff}1.5,2.5,7,2020-02-29", DEVICE), // a BOM past the first row is field text
    // Event times (issue 30): every canonical form on the device, in any
    // zone; what the exact parser alone reads, or refuses, goes back.
    ("1.5,2.5,7,2020-02-29T13:05:00Z", DEVICE),
    ("1.5,2.5,7,2020-02-29t13:05:00z", DEVICE),
    ("1.5,2.5,7,2020-02-29 13:05:00+13:00", DEVICE),
    ("1.5,2.5,7,2020-02-29T13:05:00-0930", DEVICE),
    ("1.5,2.5,7,2020-02-29T13:05:00.123456789+05:45", DEVICE),
    ("1.5,2.5,7,2020-02-29T13:05:00.5", DEVICE), // a local time: its own date
    ("1.5,2.5,7,2020-02-29T23:59:60Z", DEVICE),  // a leap second: second 59
    ("1.5,2.5,7,2020-02-29T00:00:00+18:00", DEVICE), // the largest offset
    ("1.5,2.5,7,2020-02-29T00:00:00-18:00", DEVICE),
    (
        "\"1.5\",\"2.5\",\"7\",\"2020-02-29T13:05:00+13:00\"",
        DEVICE,
    ),
    ("1.5,2.5,7,2020-02-29T13:05Z", HOST), // no seconds
    ("1.5,2.5,7,2020-02-29T13:05", HOST),
    ("1.5,2.5,7,2020-02-29T24:00:00Z", REJECT), // hour 24
    ("1.5,2.5,7,2020-02-29T13:60:00Z", REJECT),
    ("1.5,2.5,7,2020-02-29T13:05:61Z", REJECT),
    ("1.5,2.5,7,2020-02-29T13:05:00+18:01", REJECT), // past 18 hours
    ("1.5,2.5,7,2020-02-29T13:05:00+12:60", REJECT),
    ("1.5,2.5,7,2020-02-29T13:05:00.1234567890Z", REJECT), // 10 fraction digits
    ("1.5,2.5,7,2020-02-29T13:05:00.Z", REJECT),
    ("1.5,2.5,7,2021-02-29T13:05:00Z", REJECT), // no such day
    ("1.5,2.5,7,2020-02-29X13:05:00Z", REJECT),
    ("1.5,2.5,7,2020-02-29T13:05:00+13", REJECT),
    ("1.5,2.5,7,2020-02-29T13:05:00 Z", REJECT),
    ("1.5,2.5,7,2020-02-29T13:05:00+13:00x", REJECT),
    ("1.5,2.5,7,2020-02-29T1:05:00Z", REJECT),
    ("1.5,2.5,7,1582934700", REJECT), // a number, without --epoch
    ("1.5,2.5,7,0000-01-01T00:00:00+12:00", REJECT), // a day before year 0
    ("1.5,2.5,7,9999-12-31T23:00:00-02:00", REJECT), // a day after 9999
];

/// Counts `data` on `engine`: result.csv, rejects.csv, the summary's rows,
/// and the rows the device counted (GPU only).
fn run(data: &DataDir, engine: &Engine, zone: &str) -> (String, String, String, Option<u64>) {
    let mut options = CountOptions::new(
        InputSpec::Local(data.path("region.csv")),
        vec![InputSpec::Local(data.path("location.csv"))],
        Destination::File(data.path("result.csv")),
    );
    options.rejects = Some(Destination::File(data.path("rejects.csv")));
    options.threads = 1;
    options.thresholds = Thresholds::allow_all();
    options.times.zone = event_counter::date::Zone::named(zone).unwrap();
    let summary = count(&options, engine, &()).unwrap_or_else(|e| panic!("{}: {e}", engine.kind()));
    (
        data.read("result.csv"),
        data.read("rejects.csv"),
        format!("{:?}", summary.stats),
        summary.gpu.map(|g| g.rows_on_device),
    )
}

#[test]
fn every_near_canonical_row_gets_its_verdict_on_every_path() {
    let Some((adapter, gpu)) = crate::util::gpu_engine_with(GpuOptions::default()) else {
        return;
    };
    let regions = "region_id,region_name\n7,Seven\n4294967295,Largest\n";
    // Every row's wrong verdicts, so that one run names them all.
    let mut wrong = Vec::new();
    // UTC (a fixed offset) and a zone the device reads from its table.
    for zone in ["UTC", "Pacific/Auckland"] {
        for &(row, (counted, on_device)) in CORPUS {
            // The row between two canonical ones, so that it is never the
            // file's first or last.
            let text =
                format!("lat,long,region_id,date\n0,0,7,2020-01-01\n{row}\n0,0,7,2020-01-02\n");
            let data = DataDir::with(regions, &text);
            let cpu = run(&data, &Engine::Cpu, zone);
            let on_gpu = run(&data, &gpu, zone);
            assert_eq!(on_gpu.0, cpu.0, "{adapter}: {row:?} in {zone}: result.csv");
            assert_eq!(on_gpu.1, cpu.1, "{adapter}: {row:?} in {zone}: rejects");
            assert_eq!(on_gpu.2, cpu.2, "{adapter}: {row:?} in {zone}: rows");
            // The rejects' header, and the row if it was rejected.
            let rejected = cpu.1.lines().count() > 1;
            if rejected == counted {
                wrong.push(format!(
                    "{row:?} in {zone}: counted {}, expected {counted}",
                    !rejected
                ));
            }
            let device = on_gpu.3.expect("the GPU backend's figures");
            if (device == 3) != on_device {
                wrong.push(format!(
                    "{row:?} in {zone}: {device} of 3 rows on the device, expected {on_device}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{adapter}:\n{}", wrong.join("\n"));
}
