//! The CSV rules both input files share: how a record splits into fields,
//! how quotes and whitespace are handled. This is the exact, general path;
//! `scan::fast` only accepts rows on which it provably agrees with this one.
//!
//! The rules (RFC 4180 plus trimming):
//! - fields are separated by `,`; a record ends at an unquoted `\n` (a `\r`
//!   before it is dropped);
//! - a field is quoted if its first non-blank byte is `"`; inside quotes `""`
//!   is one `"`, and `,` and (in region.csv only) newlines are data;
//! - spaces and tabs around a field, and just inside its quotes, are trimmed;
//! - a `"` inside an unquoted field, or text after a closing quote, is an
//!   error, so a stray quote never silently changes where fields end.

use std::borrow::Cow;
use std::fmt;

/// One field of a record: the bytes between its quotes (or the whole field),
/// already trimmed, plus whether doubled quotes inside still need undoubling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    inner: &'a [u8],
    has_escapes: bool,
}

impl<'a> Field<'a> {
    /// The field's value: unquoted, undoubled and trimmed.
    pub fn value(&self) -> Cow<'a, [u8]> {
        if !self.has_escapes {
            return Cow::Borrowed(self.inner);
        }
        let mut out = Vec::with_capacity(self.inner.len());
        let mut i = 0;
        while i < self.inner.len() {
            out.push(self.inner[i]);
            // A doubled quote stands for one; skip its twin.
            i += if self.inner[i] == b'"' { 2 } else { 1 };
        }
        Cow::Owned(out)
    }
}

/// Why a record could not be split into fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteError {
    /// A quoted field is still open where the line (or file) ends.
    Unclosed,
    /// Something other than a separator follows a closing quote: `"ab"c`.
    TextAfterQuote,
    /// A `"` in the middle of an unquoted field: `ab"c`.
    StrayQuote,
}

impl fmt::Display for QuoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuoteError::Unclosed => "quoted field is not closed on this line",
            QuoteError::TextAfterQuote => "text after a closing quote",
            QuoteError::StrayQuote => "quote inside an unquoted field",
        })
    }
}

pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_blank(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_blank(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Splits the record that starts at `input[0]` into `fields` (cleared first)
/// and returns how many bytes it used, its line terminator included; fields
/// are separated by `delimiter` (`,` `;` tab `|`), and a blank that is the
/// delimiter (a tab) separates fields instead of being trimmed.
///
/// A newline inside quotes is data. region.csv relies on that (RFC 4180);
/// location.csv never sees it, because its scanner passes one line at a time:
/// there every line is a row, so one bad quote cannot make the scanner lose
/// its place in a terabyte, and a quoted field that would run over a newline
/// is reported as [`QuoteError::Unclosed`].
pub fn parse_record_with<'a>(
    input: &'a [u8],
    delimiter: u8,
    fields: &mut Vec<Field<'a>>,
) -> Result<usize, QuoteError> {
    let is_blank = |b: u8| b != delimiter && is_blank(b);
    fields.clear();
    let mut pos = 0;
    loop {
        // Leading blanks of the field.
        while pos < input.len() && is_blank(input[pos]) {
            pos += 1;
        }
        let field_end;
        if pos < input.len() && input[pos] == b'"' {
            let start = pos + 1;
            let mut i = start;
            let mut has_escapes = false;
            loop {
                match memchr::memchr(b'"', &input[i..]) {
                    None => return Err(QuoteError::Unclosed),
                    Some(q) => {
                        let q = i + q;
                        if input.get(q + 1) == Some(&b'"') {
                            has_escapes = true;
                            i = q + 2;
                        } else {
                            fields.push(Field {
                                inner: trim(&input[start..q]),
                                has_escapes,
                            });
                            i = q + 1;
                            break;
                        }
                    }
                }
            }
            // After the closing quote only blanks may come before the separator.
            while i < input.len() && is_blank(input[i]) {
                i += 1;
            }
            field_end = i;
            match input.get(i) {
                None | Some(b'\n') => {}
                Some(&d) if d == delimiter => {}
                Some(b'\r') if matches!(input.get(i + 1), None | Some(b'\n')) => {}
                Some(_) => return Err(QuoteError::TextAfterQuote),
            }
        } else {
            let rest = &input[pos..];
            let end = pos + memchr::memchr3(delimiter, b'\n', b'"', rest).unwrap_or(rest.len());
            if input.get(end) == Some(&b'"') {
                return Err(QuoteError::StrayQuote);
            }
            let mut value = &input[pos..end];
            // A CR just before the record's end belongs to the terminator.
            if matches!(input.get(end), None | Some(b'\n')) {
                if let [rest @ .., b'\r'] = value {
                    value = rest;
                }
            }
            fields.push(Field {
                inner: trim(value),
                has_escapes: false,
            });
            field_end = end;
        }
        match input.get(field_end) {
            Some(&d) if d == delimiter => pos = field_end + 1,
            Some(b'\n') => return Ok(field_end + 1),
            Some(b'\r') => {
                return Ok(field_end + 1 + usize::from(input.get(field_end + 1) == Some(&b'\n')))
            }
            None => return Ok(field_end),
            Some(_) => unreachable!("a field ends at a separator, a terminator or the end"),
        }
    }
}

/// Finds a header column by name, ignoring ASCII case.
pub fn find_column(header: &[Vec<u8>], name: &str) -> Result<usize, String> {
    let mut hits = header
        .iter()
        .enumerate()
        .filter(|(_, h)| h.eq_ignore_ascii_case(name.as_bytes()));
    match (hits.next(), hits.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some(_), Some(_)) => Err(format!("header has two \"{name}\" columns")),
        (None, _) => {
            // Quoted and escaped: a header can hold anything, NULs included.
            let found: Vec<String> = header.iter().map(|h| quote_for_message(h)).collect();
            Err(format!(
                "header has no \"{name}\" column (found {})",
                found.join(",")
            ))
        }
    }
}

/// Shows a piece of input inside a message: quoted, lossy UTF-8, and cut
/// short so that one bad row cannot flood the terminal.
pub fn quote_for_message(raw: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&raw[..raw.len().min(MAX)]);
    let more = if raw.len() > MAX { "..." } else { "" };
    format!("\"{}{more}\"", text.escape_debug())
}

/// Writes `value` as one RFC 4180 quoted field: `"` + value with `"`
/// doubled + `"`. Every field of every file we write goes through here.
pub fn write_quoted(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    let mut rest = value;
    while let Some(q) = memchr::memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=q]);
        out.push(b'"');
        rest = &rest[q + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_record<'a>(input: &'a [u8], fields: &mut Vec<Field<'a>>) -> Result<usize, QuoteError> {
        parse_record_with(input, b',', fields)
    }

    fn split(line: &str) -> Result<Vec<String>, QuoteError> {
        let mut fields = Vec::new();
        parse_record(line.as_bytes(), &mut fields)?;
        Ok(fields
            .iter()
            .map(|f| String::from_utf8(f.value().into_owned()).unwrap())
            .collect())
    }

    #[test]
    fn quoted_and_unquoted_fields() {
        assert_eq!(
            split(r#""-38.1","177.0","1","2019-01-17""#).unwrap(),
            ["-38.1", "177.0", "1", "2019-01-17"]
        );
        assert_eq!(split("a,b,,d").unwrap(), ["a", "b", "", "d"]);
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split(",").unwrap(), ["", ""]);
    }

    #[test]
    fn whitespace_is_trimmed_outside_and_inside_quotes() {
        assert_eq!(split(r#" "a" , " 2 " ,c "#).unwrap(), ["a", "2", "c"]);
        assert_eq!(split("\t01\t").unwrap(), ["01"]);
    }

    #[test]
    fn doubled_quotes_and_commas_inside_quotes() {
        assert_eq!(
            split(r#""say ""hi""","a,b""#).unwrap(),
            [r#"say "hi""#, "a,b"]
        );
        assert_eq!(split(r#""""""#).unwrap(), [r#"""#]);
    }

    #[test]
    fn bad_quoting_is_an_error() {
        assert_eq!(split(r#""open"#), Err(QuoteError::Unclosed));
        assert_eq!(split(r#""ab"c"#), Err(QuoteError::TextAfterQuote));
        assert_eq!(split(r#"ab"c"#), Err(QuoteError::StrayQuote));
    }

    #[test]
    fn a_quoted_newline_is_data_and_an_unquoted_one_ends_the_record() {
        let input = b"\"a\nb\",1\r\nnext";
        let mut fields = Vec::new();
        let used = parse_record(input, &mut fields).unwrap();
        assert_eq!(&input[used..], b"next");
        assert_eq!(fields[0].value().as_ref(), b"a\nb");
        assert_eq!(fields[1].value().as_ref(), b"1");
        // The first line alone, as location.csv's scanner passes it.
        assert_eq!(parse_record(b"\"a", &mut fields), Err(QuoteError::Unclosed));
    }

    #[test]
    fn crlf_terminator_is_not_data() {
        let mut fields = Vec::new();
        let used = parse_record(b"a,b\r\nc", &mut fields).unwrap();
        assert_eq!(used, 5);
        assert_eq!(fields[1].value().as_ref(), b"b");
        let used = parse_record(b"\"a\"\r\nc", &mut fields).unwrap();
        assert_eq!(used, 5);
    }

    #[test]
    fn write_quoted_doubles_quotes() {
        let mut out = Vec::new();
        write_quoted(&mut out, br#"A "B", C"#);
        assert_eq!(out, br#""A ""B"", C""#);
    }
}
