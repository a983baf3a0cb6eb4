//! How location.csv and region.csv are read: the delimiter and the
//! columns the user names or the header gives ([`LocationFormat`],
//! [`RegionFormat`], [`Column`]), and where a count finds its two columns
//! in a file ([`Layout`]).

use super::header::{header_names_with, MAX_COLUMNS};
use super::{header_text, LOCATION_HEADER};
use crate::csv::find_column;
use crate::error::{Error, Result};

/// How location files are read, as the user said (`--delimiter`,
/// `--columns`): what is not said is found in each file's header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationFormat {
    /// The byte between fields; `None`: sniffed from each header
    /// (`sniff_delimiter`: `,`, `;`, a tab or `|`).
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
    /// The columns of `--columns region_id=NAME,date=NAME` (a key left out
    /// is found by its own name), with the other settings at their
    /// defaults. The error is the reason, for a usage error.
    pub fn from_columns(text: &str) -> Result<LocationFormat, String> {
        let [region_id, date] = two_columns(text, ["region_id", "date"])?;
        Ok(LocationFormat {
            region_id,
            date,
            ..LocationFormat::default()
        })
    }

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
    /// [`LocationFormat::from_columns`] for `--region-columns
    /// region_id=NAME,region_name=NAME`.
    pub fn from_columns(text: &str) -> Result<RegionFormat, String> {
        let [region_id, region_name] = two_columns(text, ["region_id", "region_name"])?;
        Ok(RegionFormat {
            region_id,
            region_name,
            ..RegionFormat::default()
        })
    }

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
            // "The first line": the header, or the first row of a file
            // without one (`--no-header`), where "header" misled.
            Column::Position(n) => Err(format!(
                "column {n} is asked for, but the first line has {} field{}",
                names.len(),
                if names.len() == 1 { "" } else { "s" }
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

/// [`parse_columns`] of the two `keys` of a format.
fn two_columns(text: &str, keys: [&str; 2]) -> Result<[Option<Column>; 2], String> {
    let mut columns = parse_columns(text, &keys)?.into_iter();
    Ok([columns.next().flatten(), columns.next().flatten()])
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
    for b in outside_quotes(header) {
        if let Some(i) = SNIFFED_DELIMITERS.iter().position(|&d| d == b) {
            counts[i] += 1;
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

/// The delimiter sniffed from `header` where it is not `given` and
/// `given` is nowhere outside quotes there: what the file more likely
/// uses.
fn other_delimiter(header: &[u8], given: u8) -> Option<u8> {
    let sniffed = sniff_delimiter(header);
    let seen = |d: u8| outside_quotes(header).any(|b| b == d);
    (sniffed != given && seen(sniffed) && !seen(given)).then_some(sniffed)
}

/// The bytes of a header line outside quotes (the quotes themselves left
/// out), where a delimiter can separate fields.
fn outside_quotes(header: &[u8]) -> impl Iterator<Item = u8> + '_ {
    header.iter().scan(false, |quoted, &b| {
        if b == b'"' {
            *quoted = !*quoted;
            return Some(None);
        }
        Some((!*quoted).then_some(b))
    })
    .flatten()
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
    /// Reads the header line of a location file; `file` names it in errors
    /// (for the tests and benches: a count reads with its options).
    #[cfg(any(test, feature = "testing"))]
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
        // A --delimiter the header lacks, where another one is there: say so
        // in any error about the header, for that is the likely mistake.
        let other = format.delimiter.and_then(|given| other_delimiter(header, given));
        let line = if format.no_header { "first row" } else { "header" };
        let error = |reason: String| match other {
            Some(found) => error(format!(
                "{reason} (the {line} has no {} outside quotes, but {}: is that the delimiter?)",
                delimiter_name(delimiter),
                delimiter_name(found)
            )),
            None => error(reason),
        };
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
        let id_col = column(&format.region_id, "region_id")?;
        let date_col = column(&format.date, "date")?;
        // One field cannot be both: every row would be malformed, and the
        // run's error would blame the rows rather than the flag.
        if id_col == date_col {
            return Err(error(format!(
                "region_id and date are both column {} ({:?}): --columns must name two columns",
                id_col + 1,
                String::from_utf8_lossy(&names[id_col])
            )));
        }
        Ok(Layout {
            columns: names.len() as u32,
            id_col: id_col as u32,
            date_col: date_col as u32,
            delimiter,
            header: (!format.no_header).then(|| LinePrint::of(header)),
        })
    }
}
