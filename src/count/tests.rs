//! Tests of the count's stages.

use super::*;
use crate::backend::Backend;
use crate::input::plan::PlannedInput;
use crate::input::{LocalObject, Object, HEADER_READ};
use std::ops::Range;
use std::sync::Arc;

/// Issue 29: the command line refused more than 1024 threads, Python
/// clamped, the library took any number. The library refuses, in the
/// command line's words, before reading anything.
#[test]
fn threads_out_of_range_are_a_usage_error() {
    let missing = InputSpec::Local("no such folder/region.csv".into());
    for threads in [0, MAX_THREADS + 1] {
        let mut options =
            CountOptions::new(missing.clone(), vec![missing.clone()], Destination::Stdout);
        options.threads = threads;
        let error = count(&options, &Engine::Cpu, &()).unwrap_err();
        assert!(matches!(error, Error::Usage(_)), "{error}");
        assert_eq!(
            error.to_string(),
            format!("threads: {threads} is not in 1..=1024")
        );
    }
}

/// A file that fails every read of a byte between its header and
/// `forbidden.end`: the part before a shard's range.
struct FailsBefore {
    inner: LocalObject,
    forbidden: Range<u64>,
}

impl Object for FailsBefore {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let end = offset + buf.len() as u64;
        if offset < self.forbidden.end && end > self.forbidden.start {
            return Err(std::io::Error::other(format!(
                "read of {offset}..{end}, before the shard's range"
            )));
        }
        self.inner.read_at(buf, offset)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn path(&self) -> Option<&std::path::Path> {
        // So that the GPU backend reads it too.
        self.inner.path()
    }
}

/// Issue 15's check: shard 6 of 7 with bad rows everywhere and
/// `--rejects`, on every engine, reads nothing before its range but the
/// header (a read of it would fail the count), and its rejects number
/// their lines from the shard's start.
#[test]
fn a_shard_reads_nothing_before_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("lat,long,region_id,date\n");
    for i in 0..20_000u32 {
        text.push_str(&match i % 13 {
            0 => format!("1,2,x{i},2019-01-01\n"),
            1 => format!("1,2,1,2019-02-3{}\n", i % 10),
            _ => format!("{i}.5,-{i}.25,{},2019-01-{:02}\n", i % 4, 1 + i % 28),
        });
    }
    let path = dir.path().join("location.csv");
    std::fs::write(&path, &text).unwrap();
    let regions = RegionTable::parse(b"region_id,region_name\n1,A\n2,B\n3,C\n", "r").unwrap();
    let split = Split { index: 6, count: 7 };
    let len = text.len() as u64;
    let range = split.range(len);
    assert!(text.find('\n').unwrap() < HEADER_READ && (HEADER_READ as u64) < range.start);

    let mut engines = vec![Engine::Cpu];
    if let Ok(selection) = Engine::select(Backend::Gpu) {
        engines.push(selection.engine);
    }
    for engine in &engines {
        let object = FailsBefore {
            inner: LocalObject::open(&path).unwrap(),
            // The header's own first read may reach past the header.
            forbidden: HEADER_READ as u64..range.start,
        };
        let plan = Plan {
            inputs: vec![PlannedInput {
                object: Arc::new(object),
                compression: None,
                range: Some(range.clone()),
            }],
            listed_bytes: len,
            listed: Vec::new(),
        };
        let rejects = dir.path().join("rejects.csv");
        let mut options = CountOptions::new(
            InputSpec::Local("r".into()),
            vec![InputSpec::Local(path.clone())],
            Destination::File(dir.path().join("out.csv")),
        );
        options.split = Some(split);
        options.rejects = Some(Destination::File(rejects.clone()));
        options.chunk_size = 4096;
        options.threads = 2;
        let summary = count_plan(
            &options,
            (&regions, ""),
            plan,
            None,
            engine,
            &(),
            Instant::now(),
            false,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", engine.kind()))
        .1;
        assert!(summary.stats.malformed_total() > 100, "{}", engine.kind());

        // Every rejected row is where its shard line says.
        let newline = range.start as usize + text[range.start as usize..].find('\n').unwrap();
        let lines: Vec<&str> = text[newline + 1..].lines().collect();
        let written = std::fs::read_to_string(&rejects).unwrap();
        let mut records = 0;
        for record in written.lines().skip(1) {
            let fields: Vec<&str> = record.split(',').collect();
            if fields[5].is_empty() && !fields[1].is_empty() {
                let n: usize = fields[6].trim_matches('"').parse().unwrap();
                // The row, then `header_lines`.
                let row = fields[8..fields.len() - 1].join(",");
                assert_eq!(row.trim_matches('"'), lines[n - 1], "{}", engine.kind());
                records += 1;
            }
        }
        let rejected = summary.stats.malformed_total() + summary.stats.unmatched;
        assert_eq!(records as u64, rejected, "{}", engine.kind());
    }
}
