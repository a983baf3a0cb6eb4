use proptest::prelude::*;

use super::*;
use crate::input::PAD;
use crate::regions::KeySpace;

fn regions() -> RegionTable {
    RegionTable::parse(
        b"region_id,region_name\n1,One\n2,Two\n3,Three\n10,Ten\n",
        "region.csv",
    )
    .unwrap()
}

fn layout() -> Layout {
    Layout::from_header(br#""lat","long","region_id","date""#, "location.csv").unwrap()
}

/// Owned form of a row outcome, comparable across scanners.
fn owned(row: Row<'_>) -> String {
    match row {
        Row::Key(k) => format!("key {k}"),
        Row::Unmatched(id) => format!("unmatched {id}"),
        Row::Blank => "blank".into(),
        Row::Header => "header".into(),
        Row::Malformed(m) => format!("malformed {:?}: {}", m.kind(), m.message(&layout())),
    }
}

/// What the fast path makes of a line (shorter than 64 bytes), after the
/// exact path has seen it once (which teaches the scanner its date): its
/// key through both ways of finding fields, or `None` if it declines.
fn fast_row(scanner: &mut Scanner<'_>, text: &[u8]) -> Option<Row<'static>> {
    let _ = scanner.exact_row(text);
    let window = window(text);
    let masks = fast::masks(&window, b',');
    let any = scanner.fast_key(
        fast::GeneralFinder::of(&layout()),
        &window,
        text.len(),
        masks,
    );
    let standard = scanner.fast_key(fast::StandardFinder, &window, text.len(), masks);
    assert_eq!(any, standard, "{}", String::from_utf8_lossy(text));
    any.map(Row::Key)
}

fn window(text: &[u8]) -> [u8; 64] {
    let mut w = [0u8; 64];
    let n = text.len().min(64);
    w[..n].copy_from_slice(&text[..n]);
    w
}

/// Scans `data` as one chunk; returns keys, stats and problems. The
/// baseline kernel must agree with the one `scan` picks for this CPU.
fn scan_chunk(context: &ScanContext<'_>, data: &[u8]) -> (Vec<u32>, ChunkReport) {
    let mut buf = data.to_vec();
    buf.resize(data.len() + PAD, b'"'); // padding must not matter
    let mut keys = Vec::new();
    let mut report = ChunkReport::default();
    Scanner::new(context, layout())
        .scan(&buf, 0..data.len(), &mut keys, &mut report)
        .unwrap();
    let (mut base_keys, mut base) = (Vec::new(), ChunkReport::default());
    Scanner::new(context, layout())
        .scan_with::<fast::Baseline, _>(
            fast::GeneralFinder::of(&layout()),
            &buf,
            0..data.len(),
            &mut base_keys,
            &mut base,
        )
        .unwrap();
    assert_eq!(keys, base_keys);
    assert_eq!(
        (report.lines, report.stats, &report.problems),
        (base.lines, base.stats, &base.problems)
    );
    (keys, report)
}

macro_rules! context {
    ($name:ident, $regions:expr, $dates:expr) => {
        let $name = ScanContext {
            regions: &$regions,
            dates: &$dates,
            keys: KeySpace::new($regions.slots()),
            times: &crate::date::EventTimes::default(),
            policy: RowPolicy {
                keep_rejects: true,
                stop_at_malformed: false,
            },
        };
    };
}

#[test]
fn every_outcome_and_exact_line_numbers() {
    let regions = regions();
    let dates = DateDict::new(1000);
    context!(context, regions, dates);
    let data = b"\"-38.1\",\"177.0\",\"1\",\"2019-01-17\"\n\
        \r\n\
        -38.1,177.0,2,2019-01-18\r\n\
        \"-38.1\",\"177.0\",\"99\",\"2019-01-17\"\n\
        \"-38.1\",\"177.0\",\"1\",\"2019-02-30\"\n\
        \"-38.1\",\"177.0\",\"1\"\n\
        \"-38.1\",\"177.0\",\" 01 \",\" 2019-01-17 \"\n\
        \"a much longer latitude field that pushes the row past 64 bytes\",\"177.0\",\"3\",\"2019-01-19\"\n\
        \"-38.1\",\"177.0\",\"x\",\"2019-01-17\"\n\
        -38.1,177.0,10,2019-01-17";
    let (keys, report) = scan_chunk(&context, data);
    assert_eq!(report.lines, 10);
    assert_eq!(report.stats.counted, 5);
    assert_eq!(report.stats.unmatched, 1);
    assert_eq!(report.stats.blank, 1);
    assert_eq!(report.stats.malformed_total(), 3);
    assert_eq!(report.stats.data_rows(), 9);
    let problems: Vec<(u64, String)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.reason.to_string()))
        .collect();
    assert_eq!(
        problems,
        [
            (3, "region_id 99 is not in region.csv".to_string()),
            (
                4,
                "date \"2019-02-30\" is not a real calendar date".to_string()
            ),
            (5, "expected 4 fields, found 3".to_string()),
            (8, "region_id \"x\" is not an integer".to_string()),
        ]
    );
    assert_eq!(
        &report.raw[report.problems[2].raw.clone()],
        b"\"-38.1\",\"177.0\",\"1\""
    );
    let date = |d: &[u8]| dates.intern(d).unwrap();
    let k = KeySpace::new(regions.slots());
    let slot = |id| regions.slot(id).unwrap();
    assert_eq!(
        keys,
        [
            k.pack(date(b"2019-01-17"), slot(1)),
            k.pack(date(b"2019-01-18"), slot(2)),
            k.pack(date(b"2019-01-17"), slot(1)),
            k.pack(date(b"2019-01-19"), slot(3)),
            k.pack(date(b"2019-01-17"), slot(10)),
        ]
    );
}

#[test]
fn strict_stops_at_the_first_malformed_row() {
    let regions = regions();
    let dates = DateDict::new(1000);
    context!(context, regions, dates);
    let context = ScanContext {
        policy: RowPolicy {
            stop_at_malformed: true,
            ..context.policy
        },
        ..context
    };
    let (keys, report) = scan_chunk(&context, b"1,1,1,2019-01-01\n1,1,1,bad\n1,1,1,2019-01-01\n");
    assert!(report.stopped);
    assert_eq!(keys.len(), 1);
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].line, 1);
}

#[test]
fn a_full_key_space_stops_the_run() {
    let regions = regions();
    let dates = DateDict::new(2);
    context!(context, regions, dates);
    let mut buf = b"1,1,1,2019-01-01\n1,1,1,2019-01-02\n1,1,1,2019-01-03\n".to_vec();
    let len = buf.len();
    buf.resize(len + PAD, 0);
    let err = Scanner::new(&context, layout())
        .scan(&buf, 0..len, &mut Vec::new(), &mut ChunkReport::default())
        .unwrap_err();
    assert!(
        err.to_string().starts_with("more than 2 distinct dates"),
        "{err}"
    );
}

/// Fields that exercise every branch of both paths.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_string()),
        Just("\"1\"".to_string()),
        Just("\"01\"".to_string()),
        Just(" 2 ".to_string()),
        Just("99".to_string()),
        Just("-1".to_string()),
        Just("\"2019-01-17\"".to_string()),
        Just("2019-01-18".to_string()),
        Just("2019-02-30".to_string()),
        Just(" 2019-01-1".to_string()),
        Just("2019-01-17 ".to_string()),
        Just("\"a,b\"".to_string()),
        Just("\"x\"\"y\"".to_string()),
        Just("\"\"".to_string()),
        Just("".to_string()),
        "[-0-9a\" ,\r]{0,12}",
    ]
}

/// Lines glued from structural pieces, so that odd shapes (quotes shared
/// by two fields, commas next to quotes) come up with valid ids and dates.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("\""),
        Just(","),
        Just("\",\""),
        Just("1"),
        Just("01"),
        Just("2019-01-17"),
        Just("a"),
        Just(" "),
    ];
    prop::collection::vec(token, 1..24).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// The fast path takes exactly what the exact path would make of it,
    /// also on the oddest shapes.
    #[test]
    fn fast_path_agrees_on_token_soup(line in token_soup()) {
        let regions = regions();
        let dates = DateDict::new(1000);
        context!(context, regions, dates);
        let text = line.as_bytes();
        prop_assume!(text.len() < 64);
        if let Some(row) = fast_row(&mut Scanner::new(&context, layout()), text) {
            prop_assert_eq!(owned(row), owned(Scanner::new(&context, layout()).exact_row(text).unwrap()), "{}", line);
        }
    }
}

proptest! {
    /// Whenever the fast path takes a row, the exact path agrees with it.
    #[test]
    fn fast_path_agrees_with_exact_path(fields in prop::collection::vec(field(), 1..7)) {
        let regions = regions();
        let dates = DateDict::new(1000);
        context!(context, regions, dates);
        let line = fields.join(",");
        let text = line.as_bytes();
        let mut fast = Scanner::new(&context, layout());
        let mut exact = Scanner::new(&context, layout());
        if text.len() < 64 {
            if let Some(row) = fast_row(&mut fast, text) {
                prop_assert_eq!(owned(row), owned(exact.exact_row(text).unwrap()), "{}", line);
            }
        }
    }

    /// A whole chunk gives the same keys and counts as classifying each of
    /// its lines with the exact path, wherever lines start and end.
    #[test]
    fn chunk_scan_matches_line_by_line(lines in prop::collection::vec(prop::collection::vec(field(), 1..6), 0..40), crlf in any::<bool>(), last_newline in any::<bool>()) {
        let regions = regions();
        let dates = DateDict::new(1000);
        context!(context, regions, dates);
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut lines: Vec<String> = lines.iter().map(|f| f.join(",").replace(['\n', '\r'], "")).collect();
        let mut data = lines.join(eol);
        if last_newline && !lines.is_empty() {
            data.push_str(eol);
        } else if lines.last().is_some_and(|l| l.is_empty()) {
            // An empty last line with no newline after it is no line at all.
            lines.pop();
        }
        let (keys, report) = scan_chunk(&context, data.as_bytes());

        let mut exact = Scanner::new(&context, layout());
        let mut want_keys = Vec::new();
        let mut want = RowOutcomes::default();
        for line in &lines {
            match exact.exact_row(line.as_bytes()).unwrap() {
                Row::Key(k) => { want.counted += 1; want_keys.push(k) }
                Row::Unmatched(_) => want.unmatched += 1,
                Row::Blank => want.blank += 1,
                Row::Header => want.headers += 1,
                Row::Malformed(m) => want.malformed[m.kind() as usize] += 1,
            }
        }
        prop_assert_eq!(report.lines, lines.len() as u64);
        prop_assert_eq!(keys, want_keys);
        prop_assert_eq!(report.stats, want);
    }
}
