//! Tests of the file formats: manifests, columns, delimiters and layouts.

use super::*;

fn manifest(shard: u64, inputs: Vec<(String, u64)>) -> ShardManifest {
    ShardManifest {
        shard,
        shards: 2,
        input_bytes: inputs.iter().map(|(_, bytes)| bytes).sum(),
        count: CountOfShard::new(
            inputs,
            fingerprint(b"region_id,region_name\n"),
            vec![("strict".into(), "false".into())],
        ),
        rows: Some(ShardRows {
            counted: 3,
            malformed: 2,
            unmatched: 1,
        }),
    }
}

#[test]
fn a_shard_manifest_reads_back_and_tells_counts_apart() {
    let files = |n: usize, size: u64| -> Vec<(String, u64)> {
        (0..n).map(|i| (format!("/d/{i}.csv"), size)).collect()
    };
    // Listed by name, and (past LISTED_INPUTS) only fingerprinted.
    for n in [1, LISTED_INPUTS + 1] {
        let a = manifest(0, files(n, 10));
        assert_eq!(ShardManifest::parse(a.to_json().as_bytes()), Ok(a.clone()));
        assert_eq!(a.difference(&manifest(1, files(n, 10))), None);
        let mut other = files(n, 10);
        other.swap(0, n - 1);
        other[0].1 = 11;
        other[n - 1].1 = 9;
        let said = a.difference(&manifest(1, other)).unwrap();
        assert!(said.starts_with("input"), "{said}");
    }
    // An older manifest (shard, shards, bytes) reads, as of no count
    // a newer one is of.
    let old = ShardManifest::parse(br#"{"shard":1,"shards":2,"input_bytes":10}"#).unwrap();
    let said = manifest(0, files(1, 10)).difference(&old).unwrap();
    assert!(said.contains("older version"), "{said}");
}

#[test]
fn header_lines_lose_bom_and_cr_and_say_where_rows_start() {
    assert_eq!(
        header_line(b"\xEF\xBB\xBFa,b\r\n1,2\n", false, "h"),
        Ok(Some((b"a,b".to_vec(), 8)))
    );
    assert_eq!(header_line(b"a,b", false, "h"), Ok(None));
    assert_eq!(
        header_line(b"a,b", true, "h"),
        Ok(Some((b"a,b".to_vec(), 3)))
    );
    assert!(header_line(b"", true, "h")
        .unwrap_err()
        .ends_with("empty; expected a header h"));
    assert!(header_line(b"\xEF\xBB\xBF", true, "h")
        .unwrap_err()
        .ends_with("empty; expected a header h"));
    // A blank first line was a header without the columns wanted.
    for blank in [&b"\n1,2\n"[..], b"\r\n", b"\xEF\xBB\xBF\r\na,b\n", b"\n"] {
        let (line, _) = header_line(blank, true, "h").unwrap().unwrap();
        assert!(header_names(&line)
            .unwrap_err()
            .starts_with("the first line is blank"));
    }
    let long = vec![b'x'; MAX_HEADER + 1];
    assert!(header_line(&long, false, "h")
        .unwrap_err()
        .contains("longer than"));
    // Issue 22: the raw bytes of a ZIP header were shown instead.
    let xlsx = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\n";
    assert!(header_line(xlsx, false, "h")
        .unwrap_err()
        .contains("ZIP archive"));
    let gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\n";
    assert!(header_line(gz, false, "h")
        .unwrap_err()
        .contains("*.csv.gz"));
    let parquet = b"PAR1\x15\x04\n";
    assert!(header_line(parquet, true, "h")
        .unwrap_err()
        .contains("Parquet"));
    let mac = b"lat,long,region_id,date\r1,2,3,2019-01-01\r";
    assert!(header_line(mac, true, "h").unwrap_err().contains("CR-only"));
}

/// The bytes every written file starts with: a change here changes
/// every output.
#[test]
fn headers_are_their_columns_quoted() {
    assert_eq!(
        LOCATION_HEADER,
        b"\"lat\",\"long\",\"region_id\",\"date\"\n"
    );
    assert_eq!(header_text(REGION_HEADER), "\"region_id\",\"region_name\"");
    assert_eq!(RESULT_HEADER, b"\"region_name\",\"date\",\"count\"\n");
    assert_eq!(REJECTS_HEADER, b"\"source\",\"line\",\"reason\",\"row\"\n");
    assert_eq!(
        SHARD_REJECTS_HEADER,
        &b"\"shard\",\"source\",\"source_bytes\",\"part_start\",\"part_end\",\
           \"part_lines\",\"line_in_part\",\"reason\",\"row\",\"header_lines\"\n"[..]
    );
    assert_eq!(SHARD_REJECTS_COLUMNS.len(), 10);
}

#[test]
fn layouts_find_columns_by_name() {
    let layout = Layout::from_header(b"\"Date\",x,\"region_id\"", "l.csv").unwrap();
    assert_eq!((layout.columns, layout.id_col, layout.date_col), (3, 2, 0));
    let err = Layout::from_header(b"a,b", "l.csv")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("l.csv:1: header has no \"region_id\""),
        "{err}"
    );
    let wide = vec!["c"; MAX_COLUMNS + 1].join(",");
    let err = Layout::from_header(wide.as_bytes(), "l.csv").unwrap_err();
    assert!(err.to_string().contains("at most 64"), "{err}");
}

#[test]
fn delimiters_are_sniffed_parsed_and_split_on() {
    assert_eq!(sniff_delimiter(b"lat,long,region_id,date"), b',');
    assert_eq!(sniff_delimiter(b"Zone;Timestamp;Lat;Lon"), b';');
    assert_eq!(sniff_delimiter(b"a\tb\tc"), b'\t');
    assert_eq!(sniff_delimiter(b"a|b|c"), b'|');
    assert_eq!(sniff_delimiter(b"\"a,b\";c;d"), b';', "commas in quotes");
    assert_eq!(sniff_delimiter(b"single"), b',');
    assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
    assert_eq!(parse_delimiter("\t"), Ok(b'\t'));
    assert_eq!(parse_delimiter(";"), Ok(b';'));
    assert!(parse_delimiter("\"").is_err());
    assert!(parse_delimiter(" ").is_err());
    assert!(parse_delimiter(";;").is_err());
    assert!(parse_delimiter("é").is_err());
    // A tab that separates is no blank to trim: the empty field stays.
    let layout = Layout::read(b"region_id\t\tdate", "t.tsv", &LocationFormat::default()).unwrap();
    assert_eq!((layout.columns, layout.id_col, layout.date_col), (3, 0, 2));
    assert_eq!(layout.delimiter, b'\t');
}

/// A --delimiter the header lacks, where one that sniffing finds is
/// there, is named in the error as the likely mistake: before, a quoted
/// comma header read with `--delimiter tab` said only "text after a closing
/// quote".
#[test]
fn a_delimiter_the_header_lacks_is_named_as_the_likely_mistake() {
    let tab = LocationFormat {
        delimiter: Some(b'\t'),
        ..LocationFormat::default()
    };
    for header in [&b"\"lat\",\"long\",\"region_id\",\"date\""[..], b"lat,long,region_id,date"] {
        let err = Layout::read(header, "l.csv", &tab).unwrap_err().to_string();
        assert!(err.starts_with("l.csv:1: "), "{err}");
        assert!(
            err.contains("the header has no tab outside quotes, but ',': is that the delimiter?"),
            "{err}"
        );
    }
    // A tab there, or no other delimiter: no such guess.
    let err = Layout::read(b"lat\tlong,x", "l.csv", &tab).unwrap_err().to_string();
    assert!(!err.contains("is that the delimiter"), "{err}");
    let err = Layout::read(b"single", "l.csv", &tab).unwrap_err().to_string();
    assert!(!err.contains("is that the delimiter"), "{err}");
    // Nor when the delimiter was sniffed.
    let err = Layout::from_header(b"a;b", "l.csv").unwrap_err().to_string();
    assert!(!err.contains("is that the delimiter"), "{err}");
}

#[test]
fn columns_by_name_or_position() {
    let columns = parse_columns("date=Timestamp, region_id = 1", &["region_id", "date"]).unwrap();
    assert_eq!(
        columns,
        [
            Some(Column::Position(1)),
            Some(Column::Name("Timestamp".into()))
        ]
    );
    assert!(parse_columns("zone=1", &["region_id", "date"]).is_err());
    assert!(parse_columns("region_id", &["region_id", "date"]).is_err());
    assert!(parse_columns("region_id=0", &["region_id", "date"]).is_err());
    let format = LocationFormat {
        delimiter: Some(b';'),
        region_id: Some(Column::Name("zone".into())),
        date: Some(Column::Position(2)),
        no_header: false,
    };
    let layout = Layout::read(b" Zone ;Timestamp;Lat;Lon", "e.csv", &format).unwrap();
    assert_eq!((layout.columns, layout.id_col, layout.date_col), (4, 0, 1));
}

#[test]
fn a_file_without_a_header_needs_positions() {
    let mut format = LocationFormat {
        no_header: true,
        date: Some(Column::Position(4)),
        ..LocationFormat::default()
    };
    let err = format.check().unwrap_err();
    assert!(
        err.contains("give the region_id column as 1-based"),
        "{err}"
    );
    format.region_id = Some(Column::Name("region_id".into()));
    assert!(format.check().is_err(), "a name is no position");
    format.region_id = Some(Column::Position(3));
    format.check().unwrap();
    // The first row gives the columns and the delimiter, and no line
    // is taken for a header again.
    let layout = Layout::read(b"-36.8;174.7;3;2019-10-23", "l.csv", &format).unwrap();
    assert_eq!(
        (
            layout.columns,
            layout.id_col,
            layout.date_col,
            layout.delimiter
        ),
        (4, 2, 3, b';')
    );
    assert_eq!(layout.header, None);
    let regions = RegionFormat {
        no_header: true,
        ..RegionFormat::default()
    };
    let err = regions.check().unwrap_err();
    assert!(
        err.contains("region_id and region_name columns as 1-based positions"),
        "{err}"
    );
}

#[test]
fn a_header_is_known_again_by_its_print() {
    let print = LinePrint::of(b"\"lat\",\"long\"");
    assert!(print.matches(b"\"lat\",\"long\""));
    assert!(print.matches(b"\xEF\xBB\xBF\"lat\",\"long\""));
    assert!(!print.matches(b"\"lat\",\"lonG\""));
    assert!(!print.matches(b"\"lat\",\"long\","));
    assert_eq!(
        Layout::default(),
        Layout::from_header(header_text(LOCATION_HEADER).as_bytes(), "l").unwrap()
    );
}
