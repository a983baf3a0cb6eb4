//! Finding and reading a file's header line: the limits on a header, a
//! row and the columns, the header's column names, and what a file that
//! is not text is.

use crate::csv;

/// The column names of a header line. The error is the reason, for an
/// [`Error::Data`](crate::error::Error::Data) on line 1.
pub fn header_names(header: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    header_names_with(header, b',')
}

/// [`header_names`] of a file whose fields `delimiter` separates.
/// A blank line is none: said so, rather than that a header of one empty
/// column lacks the columns wanted (or, of a file without a header row,
/// that it has too few columns).
pub fn header_names_with(header: &[u8], delimiter: u8) -> Result<Vec<Vec<u8>>, String> {
    if header.is_empty() {
        return Err("the first line is blank: remove the blank lines before the header \
                    (or before the first row, in a file without one)"
            .into());
    }
    let mut fields = Vec::new();
    csv::parse_record_with(header, delimiter, &mut fields)
        .map_err(|e| format!("bad header: {e}"))?;
    Ok(fields.iter().map(|f| f.value().into_owned()).collect())
}
/// Whether `bytes`, a whole file, holds nothing: no byte, or a UTF-8 byte
/// order mark alone (what a spreadsheet saves of an empty sheet as "CSV
/// UTF-8").
pub fn holds_nothing(bytes: &[u8]) -> bool {
    bytes.is_empty() || bytes == b"\xEF\xBB\xBF"
}

/// Why an empty file cannot be read where rows were expected: `header` is
/// the header it should have begun with, `None` for a file without a
/// header row.
pub fn empty_file(header: Option<&str>) -> String {
    match header {
        Some(header) => format!("file is empty; expected a header {header}"),
        None => "file is empty; expected rows".into(),
    }
}

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
/// error is the reason, for an [`Error::Data`](crate::error::Error::Data) on line 1.
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
    if holds_nothing(bytes) {
        return Err(empty_file(Some(expected)));
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

/// The first bytes of gzip data (each member's).
pub const GZIP_MAGIC: &[u8] = b"\x1F\x8B";

/// The first bytes of a zstd frame.
pub const ZSTD_MAGIC: &[u8] = b"\x28\xB5\x2F\xFD";

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
            GZIP_MAGIC,
            "gzip data: name the file *.csv.gz to have it decompressed",
        ),
        (
            ZSTD_MAGIC,
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
