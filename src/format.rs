//! The file formats, in one place: the header every file starts with, how a
//! header line is found and read, and the header texts the tool writes.
//!
//! | file | header | read by |
//! | --- | --- | --- |
//! | location.csv | [`LOCATION_HEADER`] (only `region_id` and `date` are used, in any order) | [`Layout::from_header`] |
//! | region.csv | [`REGION_HEADER`] | [`crate::regions::RegionTable`] |
//! | result.csv | [`RESULT_HEADER`] | [`crate::result_reader`] |
//! | rejects | [`REJECTS_HEADER`] | people |
//! | a shard's rejects | [`SHARD_REJECTS_HEADER`] | `merge`, which makes rejects of them |
//!
//! Each header is defined here once, by its column names; everything that
//! writes, checks or quotes a header in a message takes it from here.
//!
//! Columns are found by name (ASCII case ignored), so extra columns and any
//! order are fine.

use crate::csv::{self, find_column};
use crate::error::{Error, Result};

/// Defines a header once, from its column names: `$line`, the header line
/// as the tool writes it (every name quoted, then a newline), and
/// `$columns`, the names in order.
macro_rules! header {
    ($(#[$doc:meta])* $line:ident, $columns:ident = [$first:literal $(, $rest:literal)* $(,)?]) => {
        $(#[$doc])*
        pub const $line: &[u8] =
            concat!("\"", $first, "\"" $(, ",\"", $rest, "\"")*, "\n").as_bytes();
        #[doc = concat!("The column names of [`", stringify!($line), "`], in order.")]
        pub const $columns: &[&str] = &[$first $(, $rest)*];
    };
}

header!(
    /// The header of location.csv as `generate` writes it.
    LOCATION_HEADER,
    LOCATION_COLUMNS = ["lat", "long", "region_id", "date"]
);

header!(
    /// The header of region.csv.
    REGION_HEADER,
    REGION_COLUMNS = ["region_id", "region_name"]
);

header!(
    /// The header of result.csv.
    RESULT_HEADER,
    RESULT_COLUMNS = ["region_name", "date", "count"]
);

/// A header line as messages show it: without its newline.
pub const fn header_text(header: &'static [u8]) -> &'static str {
    let Some((b'\n', line)) = header.split_last() else {
        panic!("a header line ends with a newline");
    };
    match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(_) => panic!("a header is ASCII"),
    }
}

/// A file read whole into memory, whose header is checked before the rest
/// is read, and whose size is capped: a file given to the wrong flag, or
/// `/dev/zero`, fails at once with a message instead of filling memory.
#[derive(Clone, Copy, Debug)]
pub struct SmallFile {
    /// What it is, for messages: "region.csv".
    pub what: &'static str,
    /// The header it should have, for messages.
    pub header: &'static str,
    /// The columns it must have (by name, in any order).
    pub columns: &'static [&'static str],
    /// The most bytes it may have.
    pub limit: u64,
}

/// region.csv: 256 MiB holds millions of regions, far past the 32-bit key.
pub const REGION_FILE: SmallFile = SmallFile {
    what: "region.csv",
    header: header_text(REGION_HEADER),
    columns: REGION_COLUMNS,
    limit: 256 << 20,
};

/// A result file, read back by `merge` and `plot`: 4 GiB is about 90
/// million groups.
pub const RESULT_FILE: SmallFile = SmallFile {
    what: "a result file",
    header: header_text(RESULT_HEADER),
    columns: RESULT_COLUMNS,
    limit: 4 << 30,
};

impl SmallFile {
    /// Checks that `header` (a header line, as [`header_line`] gives it)
    /// has the columns this file must have. The error is the reason, for
    /// an [`Error::Data`] on line 1.
    pub fn check_columns(&self, header: &[u8]) -> Result<(), String> {
        let names = header_names(header)?;
        for column in self.columns {
            find_column(&names, column).map_err(|why| {
                format!(
                    "{why}; is this {}? its header is {}",
                    self.what, self.header
                )
            })?;
        }
        Ok(())
    }
}

/// The column names of a header line. The error is the reason, for an
/// [`Error::Data`] on line 1.
pub fn header_names(header: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    header_names_with(header, b',')
}

/// [`header_names`] of a file whose fields `delimiter` separates.
pub fn header_names_with(header: &[u8], delimiter: u8) -> Result<Vec<Vec<u8>>, String> {
    let mut fields = Vec::new();
    csv::parse_record_with(header, delimiter, &mut fields)
        .map_err(|e| format!("bad header: {e}"))?;
    Ok(fields.iter().map(|f| f.value().into_owned()).collect())
}

header!(
    /// The header of a `--rejects` file.
    REJECTS_HEADER,
    REJECTS_COLUMNS = ["source", "line", "reason", "row"]
);

header!(
    /// The header of the `--rejects` file of a shard (`count --split I/N`).
    ///
    /// A shard does not read the file before its range, so it cannot know on
    /// which line of the file its rows are. Its rejects say where each row is
    /// in the shard's part instead, and `merge` makes file lines of them with
    /// the line counts that every shard's rejects end with. Three kinds of
    /// record, told apart by which columns are empty:
    /// - a rejected row: `shard`, the part (`source`, `source_bytes`,
    ///   `part_start`, `part_end`: the byte range of the source this shard
    ///   owns), `line_in_part` (1 is the part's first row), `reason`, `row`,
    ///   `header_lines` (1, or 0 for a file read with `--no-header`: what
    ///   comes before the first row); `part_lines` empty;
    /// - the end of a part, after its rejected rows: `shard`, the part and
    ///   `part_lines`, how many lines the part's rows span, and
    ///   `header_lines`; the rest empty;
    /// - the end of the shard, last: `shard` alone.
    SHARD_REJECTS_HEADER,
    SHARD_REJECTS_COLUMNS = [
        "shard",
        "source",
        "source_bytes",
        "part_start",
        "part_end",
        "part_lines",
        "line_in_part",
        "reason",
        "row",
        // Last, and optional to `merge` (1 when a file lacks it: a shard's
        // rejects from before it was written).
        "header_lines",
    ]
);

/// The longest header line accepted: a longer first line is not a CSV
/// header, and reading on would only waste time and memory.
pub const MAX_HEADER: usize = 1 << 20;

/// The longest row of location.csv, its text without the line end (LF or
/// CRLF): a longer one is a malformed row ("line_too_long", its text in
/// the rejects cut to this), and no reader holds more of it than this and
/// two bytes, so memory stays flat whatever a file holds (a gzip of a
/// gigabyte of NUL bytes is one such line). Real rows are tens of bytes.
pub const MAX_LINE: usize = 1 << 20;

/// The most columns a location file may have: the fast path keeps a row's
/// field boundaries in one 64-bit mask.
pub const MAX_COLUMNS: usize = 64;

/// Finds the header line at the start of `bytes` (the first bytes of a
/// file, `complete` when they are the whole file); `expected` describes the
/// header for the message about an empty file.
///
/// Returns the header without a UTF-8 byte order mark or line terminator,
/// and where the first row starts; `None` when more bytes are needed. The
/// error is the reason, for an [`Error::Data`] on line 1.
pub fn header_line(
    bytes: &[u8],
    complete: bool,
    expected: &str,
) -> Result<Option<(Vec<u8>, usize)>, String> {
    if let Some(what) = binary_kind(bytes) {
        return Err(format!("this is {what}, not a CSV file"));
    }
    let (line, rows_start) = match memchr::memchr(b'\n', bytes) {
        Some(i) => (&bytes[..i], i + 1),
        None if complete => (bytes, bytes.len()),
        None if bytes.len() > MAX_HEADER => {
            return Err(format!(
                "the first line is longer than {} MiB: is this a CSV file?",
                MAX_HEADER >> 20
            ))
        }
        None => return Ok(None),
    };
    if line.len() > MAX_HEADER {
        return Err(format!(
            "the first line is longer than {} MiB: is this a CSV file?",
            MAX_HEADER >> 20
        ));
    }
    if bytes.is_empty() {
        return Err(format!("file is empty; expected a header {expected}"));
    }

    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if memchr::memchr(b'\r', line).is_some() {
        // A file with CR-only line ends (classic Mac OS) reads as one huge
        // line; say so instead of complaining about its quotes.
        return Err(
            "the header line holds a CR (\\r) that does not end it: files with \
             CR-only line ends are not supported (convert them with `tr '\\r' '\\n'`)"
                .into(),
        );
    }
    Ok(Some((line.to_vec(), rows_start)))
}

/// What a file that is not text is, by its first bytes, with what to do
/// about it: the files people give by mistake.
pub fn binary_kind(bytes: &[u8]) -> Option<&'static str> {
    const KINDS: &[(&[u8], &str)] = &[
        (
            b"PK\x03\x04",
            "a ZIP archive (an Excel .xlsx workbook is one): save the sheet as CSV",
        ),
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "an Excel 97-2003 workbook (.xls): save the sheet as CSV",
        ),
        (
            b"\x1F\x8B",
            "gzip data: name the file *.csv.gz to have it decompressed",
        ),
        (
            b"\x28\xB5\x2F\xFD",
            "zstd data: name the file *.csv.zst to have it decompressed",
        ),
        (
            b"PAR1",
            "a Parquet file: export it to CSV first (DuckDB: COPY (FROM 'x.parquet') TO 'x.csv')",
        ),
    ];
    KINDS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|&(_, what)| what)
}

/// What a shard's result says of itself, in a small JSON file beside it
/// (`part-3.csv.shard.json` for `part-3.csv`): a result file holds only
/// counts, so without it `merge` could not tell that a shard is missing,
/// or that two parts come from different counts. It is written, replaced
/// and removed together with its result (see `count`'s outputs and
/// `merge`), so it never outlives the shard it describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardManifest {
    /// Which shard, from 0.
    pub shard: u64,
    /// Of how many.
    pub shards: u64,
    /// Bytes of every input listed, before the split: the same for every
    /// shard of one count.
    pub input_bytes: u64,
    /// What the shards of one count share: everything below.
    pub count: CountOfShard,
}

/// What every shard of one count has in common, and two counts differ in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountOfShard {
    /// How many inputs were listed.
    pub input_files: u64,
    /// [`fingerprint`] of every input listed, in order: where it is and its
    /// size (see [`CountOfShard::inputs`]).
    pub inputs_fingerprint: String,
    /// Every input listed, in order, when there are at most
    /// [`LISTED_INPUTS`] (else empty: 10,000 shards of 100,000 files each
    /// would make `merge` read gigabytes): where it is (a local file's
    /// path, its links followed, or a URL) and its size in bytes.
    pub inputs: Vec<(String, u64)>,
    /// [`fingerprint`] of region.csv's bytes.
    pub regions: String,
    /// The options that decide what a shard counts, or whether it may
    /// succeed, by name.
    pub options: Vec<(String, String)>,
}

/// The most inputs a shard manifest lists by name; more are only counted
/// and fingerprinted.
pub const LISTED_INPUTS: usize = 64;

impl CountOfShard {
    /// What a count of `inputs` (where each is, and its size), against
    /// region.csv of fingerprint `regions`, with `options`, is.
    pub fn new(
        inputs: Vec<(String, u64)>,
        regions: String,
        options: Vec<(String, String)>,
    ) -> CountOfShard {
        let mut all = Vec::new();
        for (name, bytes) in &inputs {
            all.extend_from_slice(name.as_bytes());
            all.push(0);
            all.extend_from_slice(bytes.to_string().as_bytes());
            all.push(b'\n');
        }
        CountOfShard {
            input_files: inputs.len() as u64,
            inputs_fingerprint: fingerprint(&all),
            inputs: if inputs.len() <= LISTED_INPUTS {
                inputs
            } else {
                Vec::new()
            },
            regions,
            options,
        }
    }
}

/// A fingerprint of a small file's bytes (64-bit FNV-1a, in hex): two
/// region.csv files with different contents differ in it (barring a
/// crafted collision), on every machine and version.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

impl ShardManifest {
    /// Where the manifest of the result at `result` (a path, its links
    /// already followed, or a URL) is.
    pub fn beside(result: &str) -> String {
        format!("{result}.shard.json")
    }

    /// As JSON, with a final newline.
    pub fn to_json(&self) -> String {
        let inputs: Vec<serde_json::Value> = self
            .count
            .inputs
            .iter()
            .map(|(name, bytes)| serde_json::json!({ "name": name, "bytes": bytes }))
            .collect();
        let options: serde_json::Map<String, serde_json::Value> = self
            .count
            .options
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into()))
            .collect();
        let json = serde_json::json!({
            "shard": self.shard,
            "shards": self.shards,
            "input_bytes": self.input_bytes,
            "input_files": self.count.input_files,
            "inputs_fingerprint": self.count.inputs_fingerprint,
            "inputs": inputs,
            "regions": self.count.regions,
            "options": options,
        });
        let mut text = serde_json::to_string_pretty(&json).expect("JSON of plain values");
        text.push('\n');
        text
    }

    /// Reads a manifest; the error is the reason. One of an older version
    /// (without inputs, regions and options) reads with those empty, so it
    /// merges only with others of its kind.
    pub fn parse(bytes: &[u8]) -> Result<ShardManifest, String> {
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not a shard manifest: {e}"))?;
        let bad = |name: &str| format!("not a shard manifest: no valid \"{name}\"");
        let field = |name: &str| json[name].as_u64().ok_or_else(|| bad(name));
        let inputs = match &json["inputs"] {
            serde_json::Value::Null => Vec::new(),
            value => value
                .as_array()
                .ok_or_else(|| bad("inputs"))?
                .iter()
                .map(
                    |input| match (input["name"].as_str(), input["bytes"].as_u64()) {
                        (Some(name), Some(bytes)) => Ok((name.to_string(), bytes)),
                        _ => Err(bad("inputs")),
                    },
                )
                .collect::<Result<_, _>>()?,
        };
        let text = |name: &str| match &json[name] {
            serde_json::Value::Null => Ok(String::new()),
            value => value.as_str().map(str::to_string).ok_or_else(|| bad(name)),
        };
        let input_files = match &json["input_files"] {
            serde_json::Value::Null => inputs.len() as u64,
            _ => field("input_files")?,
        };
        let options = match &json["options"] {
            serde_json::Value::Null => Vec::new(),
            value => value
                .as_object()
                .ok_or_else(|| bad("options"))?
                .iter()
                .map(|(name, value)| match value.as_str() {
                    Some(text) => Ok((name.clone(), text.to_string())),
                    None => Err(bad("options")),
                })
                .collect::<Result<_, _>>()?,
        };
        let manifest = ShardManifest {
            shard: field("shard")?,
            shards: field("shards")?,
            input_bytes: field("input_bytes")?,
            count: CountOfShard {
                input_files,
                inputs_fingerprint: text("inputs_fingerprint")?,
                inputs,
                regions: text("regions")?,
                options,
            },
        };
        if manifest.shard >= manifest.shards {
            return Err(format!(
                "shard {} of {}: no such shard",
                manifest.shard, manifest.shards
            ));
        }
        Ok(manifest)
    }

    /// How `other` is a part of a different count than this one, in words
    /// (`None`: the same count).
    pub fn difference(&self, other: &ShardManifest) -> Option<String> {
        if self.shards != other.shards {
            return Some(format!("{} shards against {}", self.shards, other.shards));
        }
        if self.input_bytes != other.input_bytes {
            return Some(format!(
                "inputs of {} bytes against {} bytes",
                self.input_bytes, other.input_bytes
            ));
        }
        let (mine, theirs) = (&self.count, &other.count);
        if mine.inputs_fingerprint.is_empty() != theirs.inputs_fingerprint.is_empty() {
            return Some(
                "one manifest is of an older version, which names no inputs, region.csv or \
                 options"
                    .into(),
            );
        }
        if mine.input_files != theirs.input_files {
            return Some(format!(
                "{} inputs against {}",
                mine.input_files, theirs.input_files
            ));
        }
        if (&mine.inputs_fingerprint, &mine.inputs) != (&theirs.inputs_fingerprint, &theirs.inputs)
        {
            let differs = mine
                .inputs
                .iter()
                .zip(&theirs.inputs)
                .position(|(a, b)| a != b);
            return Some(match differs {
                Some(i) => format!(
                    "input {} is {} ({} bytes) against {} ({} bytes)",
                    i + 1,
                    mine.inputs[i].0,
                    mine.inputs[i].1,
                    theirs.inputs[i].0,
                    theirs.inputs[i].1
                ),
                // Too many to list: only their fingerprints differ.
                None => format!(
                    "inputs of different names or sizes ({} against {})",
                    show(&mine.inputs_fingerprint),
                    show(&theirs.inputs_fingerprint)
                ),
            });
        }
        if mine.regions != theirs.regions {
            return Some(format!(
                "region.csv files of different contents ({} against {})",
                show(&mine.regions),
                show(&theirs.regions)
            ));
        }
        if mine.options != theirs.options {
            let text = |options: &[(String, String)]| {
                let all: Vec<String> = options.iter().map(|(n, v)| format!("{n}={v}")).collect();
                format!("[{}]", all.join(", "))
            };
            return Some(format!(
                "options {} against {}",
                text(&mine.options),
                text(&theirs.options)
            ));
        }
        None
    }
}

/// A field of an older manifest is empty: say so.
fn show(text: &str) -> &str {
    if text.is_empty() {
        "none recorded"
    } else {
        text
    }
}

/// How location files are read, as the user said (`--delimiter`,
/// `--columns`): what is not said is found in each file's header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationFormat {
    /// The byte between fields; `None`: sniffed from each header
    /// (`sniff_delimiter`).
    pub delimiter: Option<u8>,
    /// The column of the region id; `None`: the one named `region_id`.
    pub region_id: Option<Column>,
    /// The column of the date or event time; `None`: the one named `date`.
    pub date: Option<Column>,
    /// The files have no header row: their first line is a row (line 1),
    /// and the columns must be given as positions (`--no-header`).
    pub no_header: bool,
}

impl LocationFormat {
    /// Checks that a file without a header can be read as said: its
    /// columns can only be positions. The error is the reason, for a usage
    /// error.
    pub fn check(&self) -> Result<(), String> {
        check_positions(
            self.no_header,
            &[("region_id", &self.region_id), ("date", &self.date)],
            "--columns region_id=N,date=N",
        )
    }
}

/// Without a header row a column has no name to be found by: each of
/// `columns` must be given as a position (`how`, in the error, says how).
fn check_positions(
    no_header: bool,
    columns: &[(&str, &Option<Column>)],
    how: &str,
) -> Result<(), String> {
    if !no_header {
        return Ok(());
    }
    let named: Vec<&str> = columns
        .iter()
        .filter(|(_, column)| !matches!(column, Some(Column::Position(_))))
        .map(|&(key, _)| key)
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    Err(format!(
        "files without a header row have no column names: give the {} column{} as 1-based \
         positions ({how})",
        named.join(" and "),
        if named.len() == 1 { "" } else { "s" }
    ))
}

/// How region.csv is read, as `--region-columns` says: which columns hold
/// the region id and the name; `None`: those named `region_id` and
/// `region_name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionFormat {
    /// The column of the region id.
    pub region_id: Option<Column>,
    /// The column of the region's name.
    pub region_name: Option<Column>,
    /// region.csv has no header row: its first line is a region (line 1),
    /// and the columns must be given as positions (`--regions-no-header`).
    pub no_header: bool,
}

impl RegionFormat {
    /// [`LocationFormat::check`] for region.csv.
    pub fn check(&self) -> Result<(), String> {
        check_positions(
            self.no_header,
            &[
                ("region_id", &self.region_id),
                ("region_name", &self.region_name),
            ],
            "--region-columns region_id=N,region_name=N",
        )
    }

    /// The index of the region id's column and the name's among `names`.
    pub fn find(&self, names: &[Vec<u8>]) -> Result<(usize, usize), String> {
        let column = |given: &Option<Column>, name: &str| match given {
            Some(column) => column.find(names),
            None => find_column(names, name),
        };
        Ok((
            column(&self.region_id, "region_id")?,
            column(&self.region_name, "region_name")?,
        ))
    }
}

/// A column of a file, as `--columns` names it: by its header's name
/// (case and surrounding blanks ignored) or by its 1-based position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// The header's name for it.
    Name(String),
    /// Its position, from 1.
    Position(u32),
}

impl Column {
    /// A column as the user wrote it: digits are a position.
    pub fn parse(text: &str) -> Result<Column, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a column needs a name or a position".into());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Column::Position(n)),
                _ => Err(format!("column position {text}: positions count from 1")),
            };
        }
        Ok(Column::Name(text.to_string()))
    }

    /// Where this column is among a header's `names`.
    pub fn find(&self, names: &[Vec<u8>]) -> Result<usize, String> {
        match self {
            Column::Name(name) => find_column(names, name),
            Column::Position(n) if (*n as usize) <= names.len() => Ok(*n as usize - 1),
            Column::Position(n) => Err(format!(
                "column {n} is asked for, but the header has {} columns",
                names.len()
            )),
        }
    }
}

/// Reads `--columns`-style text, `key=NAME,key=NAME`, for the `keys`
/// allowed; gives each key's column in the order of `keys` (`None` for a
/// key not given). The error is the reason, for a usage error.
pub fn parse_columns(text: &str, keys: &[&str]) -> Result<Vec<Option<Column>>, String> {
    let mut columns = vec![None; keys.len()];
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!(
                "{part:?} is not KEY=NAME (keys: {})",
                keys.join(", ")
            ));
        };
        let Some(i) = keys.iter().position(|k| k.eq_ignore_ascii_case(key.trim())) else {
            return Err(format!(
                "unknown column key {:?} (keys: {})",
                key.trim(),
                keys.join(", ")
            ));
        };
        columns[i] = Some(Column::parse(value)?);
    }
    Ok(columns)
}

/// Reads a `--delimiter`: one byte, written as itself or as `tab` / `\t`.
/// A quote or a line end cannot be one. The error is the reason.
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    let byte = match text {
        "tab" | "TAB" | "\\t" => b'\t',
        _ if text.len() == 1 => text.as_bytes()[0],
        _ => {
            return Err(format!(
                "{text:?} is not one byte: give a single character such as , ; | or tab"
            ))
        }
    };
    if matches!(byte, b'"' | b'\n' | b'\r' | b' ') || !byte.is_ascii() {
        return Err(format!(
            "{text:?} cannot separate fields (quotes, spaces and line ends have their own roles)"
        ));
    }
    Ok(byte)
}

/// The delimiters a header is sniffed for, the first winning a tie.
pub const SNIFFED_DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The delimiter of a file, guessed from its header line: the one of
/// [`SNIFFED_DELIMITERS`] that occurs most often outside quotes; a comma
/// when none does (a header of one column).
pub fn sniff_delimiter(header: &[u8]) -> u8 {
    let mut counts = [0usize; SNIFFED_DELIMITERS.len()];
    let mut quoted = false;
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(i) = SNIFFED_DELIMITERS.iter().position(|&d| d == b) {
                counts[i] += 1;
            }
        }
    }
    let best = (0..counts.len())
        .rev()
        .max_by_key(|&i| counts[i])
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        SNIFFED_DELIMITERS[best]
    }
}

/// A short name of a delimiter for messages: `,` `;` `tab` `|`.
pub fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".into(),
        b => format!("'{}'", char::from(b)),
    }
}

/// A line's fingerprint: its length and a 64-bit FNV-1a hash. A row whose
/// fingerprint is the header's is the header again (files joined with
/// `cat`), told apart without keeping the header's text in the
/// [`Layout`], which every scanner copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinePrint {
    len: u32,
    hash: u64,
}

impl LinePrint {
    /// The fingerprint of `line` (without its line end or a byte order mark).
    pub fn of(line: &[u8]) -> LinePrint {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let hash = line.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
        });
        LinePrint {
            len: line.len().min(u32::MAX as usize) as u32,
            hash,
        }
    }

    /// Whether `line` has this fingerprint; cheap when its length differs.
    pub fn matches(&self, line: &[u8]) -> bool {
        let bare = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        bare.len() == self.len as usize && LinePrint::of(bare) == *self
    }
}

/// Where the two columns of location.csv that a count needs are, found by
/// name (or as `--columns` says) in its header, and how its fields are
/// separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// How many fields every row has.
    pub columns: u32,
    /// The index of the `region_id` field.
    pub id_col: u32,
    /// The index of the `date` field.
    pub date_col: u32,
    /// The byte between fields.
    pub delimiter: u8,
    /// The header line's fingerprint: a row that repeats it is a repeated
    /// header, not a malformed row. `None` for a file without a header
    /// row, where every line is a row.
    pub header: Option<LinePrint>,
}

impl Default for Layout {
    /// The layout of [`LOCATION_HEADER`].
    fn default() -> Self {
        let header = header_text(LOCATION_HEADER).as_bytes();
        Layout {
            columns: 4,
            id_col: 2,
            date_col: 3,
            delimiter: b',',
            header: Some(LinePrint::of(header)),
        }
    }
}

impl Layout {
    /// Reads the header line of a location file; `file` names it in errors.
    pub fn from_header(header: &[u8], file: &str) -> Result<Layout> {
        Layout::read(header, file, &LocationFormat::default())
    }

    /// Reads the header line of a location file as `format` says. Of a
    /// file without a header row (`format.no_header`), `header` is its
    /// first row, which gives the number of columns and the delimiter.
    pub fn read(header: &[u8], file: &str, format: &LocationFormat) -> Result<Layout> {
        let error = |reason: String| Error::Data {
            file: file.to_string(),
            line: 1,
            reason,
        };
        let delimiter = format.delimiter.unwrap_or_else(|| sniff_delimiter(header));
        let names = header_names_with(header, delimiter).map_err(error)?;
        if names.len() > MAX_COLUMNS {
            return Err(error(format!(
                "header has {} columns; at most {MAX_COLUMNS} are supported",
                names.len()
            )));
        }
        let column = |given: &Option<Column>, name: &str| {
            let found = match given {
                Some(column) => column.find(&names),
                None => find_column(&names, name),
            };
            found.map_err(|why| {
                let hint = match given {
                    Some(_) => format!("--columns {name}=..."),
                    None => format!(
                        "is this a location file? its header is {} (or name its columns with \
                         --columns region_id=NAME,date=NAME)",
                        header_text(LOCATION_HEADER)
                    ),
                };
                let found = if names.len() == 1 && format.delimiter.is_none() {
                    " (one column: is the delimiter not , ; tab or |? give it with --delimiter)"
                } else {
                    ""
                };
                error(format!("{why}{found}; {hint}"))
            })
        };
        Ok(Layout {
            columns: names.len() as u32,
            id_col: column(&format.region_id, "region_id")? as u32,
            date_col: column(&format.date, "date")? as u32,
            delimiter,
            header: (!format.no_header).then(|| LinePrint::of(header)),
        })
    }
}

#[cfg(test)]
mod tests {
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
        let layout =
            Layout::read(b"region_id\t\tdate", "t.tsv", &LocationFormat::default()).unwrap();
        assert_eq!((layout.columns, layout.id_col, layout.date_col), (3, 0, 2));
        assert_eq!(layout.delimiter, b'\t');
    }

    #[test]
    fn columns_by_name_or_position() {
        let columns =
            parse_columns("date=Timestamp, region_id = 1", &["region_id", "date"]).unwrap();
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
}
