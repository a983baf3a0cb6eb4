//! Joining the rejects files of shards into one rejects file with file
//! lines.
//!
//! A shard's file ([`SHARD_REJECTS_HEADER`]) lists, for each part of a
//! source it owns, the rows it rejected, numbered from the part's first
//! line; then how many lines the part spans; and it ends with a record that
//! says the file is whole. Read in shard order, the parts of a source follow
//! one another from its byte 0 to its end, and a part's first line comes
//! after the lines of every part before it. So the files are read once, in
//! order, a record at a time: memory stays flat however many rows were
//! rejected, and a missing, doubled or cut shard is an error, never a
//! wrong line number.

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;

use crate::csv::find_column;
use crate::error::{Error, Result};
use crate::format::{self, header_text, MAX_LINE, SHARD_REJECTS_HEADER};
use crate::input::{self, InputSpec, Split};
use crate::output::{Destination, RejectsWriter, ShardColumn, ShardLine, SHARD_WIDTH as WIDTH};

/// The longest record read: a rejected row is at most a line of
/// location.csv, and quoting at most doubles it.
const MAX_RECORD: usize = 4 * MAX_LINE;

/// Joins the shards' rejects `parts` into `output`: returns the rejected
/// rows read and written.
pub(super) fn join(parts: &[InputSpec], output: &Destination) -> Result<(u64, u64)> {
    let order = shard_order(parts)?;
    let mut writer = RejectsWriter::create(output, None, true)?;
    let mut sources: HashMap<String, SourceState> = HashMap::new();
    // Sources in the order they came, for the check at the end.
    let mut listed: Vec<String> = Vec::new();
    let mut rows = 0u64;
    for (part, shard) in order {
        let mut records = Records::open(part)?;
        let mut ended = false;
        while let Some(record) = records.next()? {
            let error = |reason: String| records.error(record.line, reason);
            if ended {
                return Err(error("a record after the shard's end record".into()));
            }
            if record.get(ShardColumn::Shard) != shard.as_bytes() {
                return Err(error(format!(
                    "shard \"{}\", but the file is shard {shard}'s",
                    String::from_utf8_lossy(record.get(ShardColumn::Shard))
                )));
            }
            if record.get(ShardColumn::Source).is_empty() {
                if let Some(open) = sources.iter().find(|(_, s)| s.open.is_some()) {
                    return Err(error(format!(
                        "the shard ends before its part of {} does",
                        open.0
                    )));
                }
                ended = true;
                continue;
            }
            let source = String::from_utf8_lossy(record.get(ShardColumn::Source)).into_owned();
            let number = |column: ShardColumn| -> Result<u64> {
                let text = record.get(column);
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| {
                        error(format!(
                            "{} {:?} is not a whole number",
                            column.name(),
                            String::from_utf8_lossy(text)
                        ))
                    })
            };
            let bytes = number(ShardColumn::SourceBytes)?;
            let range = number(ShardColumn::PartStart)?..number(ShardColumn::PartEnd)?;
            let state = sources.entry(source.clone()).or_insert_with(|| {
                listed.push(source.clone());
                SourceState {
                    bytes,
                    done_to: 0,
                    lines_before: 0,
                    open: None,
                }
            });
            state.enter(&source, bytes, &range).map_err(error)?;
            if !record.get(ShardColumn::PartLines).is_empty() {
                // The part's end: the parts after it start this many lines on.
                let lines = number(ShardColumn::PartLines)?;
                state.close(lines).map_err(error)?;
                continue;
            }
            let line_in_part = number(ShardColumn::LineInPart)?;
            if line_in_part == 0 {
                return Err(error("line_in_part 0: lines count from 1".into()));
            }
            state.note_line(line_in_part);
            // Past the header's line, if the file has one (a shard's rejects
            // from before `header_lines` say nothing: a header). A crafted
            // count could make it wrap: no file has 2^64 lines.
            let header_lines = match record.get(ShardColumn::HeaderLines) {
                b"" => 1,
                _ => number(ShardColumn::HeaderLines)?,
            };
            let line = (state.lines_before.checked_add(header_lines))
                .and_then(|before| ShardLine(line_in_part).in_file(before))
                .ok_or_else(|| error("the lines of the parts add up past 2^64".into()))?;
            let reason = String::from_utf8_lossy(record.get(ShardColumn::Reason));
            writer.write(&source, line, &reason, record.get(ShardColumn::Row))?;
            rows += 1;
        }
        if !ended {
            return Err(records.error(
                records.line,
                format!("ends before shard {shard}'s end record: the file is cut short"),
            ));
        }
    }
    refuse_missing_parts(&listed, &sources)?;
    writer.finish()?.commit()?;
    Ok((rows, rows))
}

/// Fails when a byte of a source (`listed` in the order they came) is in
/// none of the shards' rejects given: a shard's rejects are missing.
fn refuse_missing_parts(listed: &[String], sources: &HashMap<String, SourceState>) -> Result<()> {
    for source in listed {
        let state = &sources[source];
        if state.done_to != state.bytes {
            return Err(Error::Usage(format!(
                "{source}: bytes {}..{} are in none of the shards' rejects given; merge \
                 needs the rejects of every shard that read it",
                state.done_to, state.bytes
            )));
        }
    }
    Ok(())
}

/// What is known of one source so far.
struct SourceState {
    /// Its size, which every part must agree on.
    bytes: u64,
    /// Parts up to this byte are closed.
    done_to: u64,
    /// Lines spanned by the closed parts.
    lines_before: u64,
    /// The part being read, and the highest line seen in it.
    open: Option<(Range<u64>, u64)>,
}

impl SourceState {
    /// Checks that a record of part `range` belongs where it is: in the
    /// open part, or in the part that starts where the last one ended.
    fn enter(&mut self, source: &str, bytes: u64, range: &Range<u64>) -> Result<(), String> {
        if bytes != self.bytes {
            return Err(format!(
                "{source} has {bytes} bytes here but {} in an earlier record: \
                 the shards read different files",
                self.bytes
            ));
        }
        match &self.open {
            Some((open, _)) if open == range => Ok(()),
            Some((open, _)) => Err(format!(
                "{source}: part {range:?} begins before part {open:?} has ended"
            )),
            None if range.start == self.done_to && range.start <= range.end => {
                self.open = Some((range.clone(), 0));
                Ok(())
            }
            None if range.start > self.done_to => Err(format!(
                "{source}: bytes {}..{} are in none of the shards' rejects given; merge \
                 needs the rejects of every shard that read it",
                self.done_to, range.start
            )),
            None => Err(format!(
                "{source}: part {range:?} overlaps a part before it (bytes up to {} \
                 were read already)",
                self.done_to
            )),
        }
    }

    fn note_line(&mut self, line: u64) {
        if let Some((_, highest)) = &mut self.open {
            *highest = (*highest).max(line);
        }
    }

    /// Closes the open part, which spans `lines` lines.
    fn close(&mut self, lines: u64) -> Result<(), String> {
        let (range, highest) = self.open.take().expect("entered");
        if highest > lines {
            return Err(format!("line_in_part {highest} in a part of {lines} lines"));
        }
        self.done_to = range.end;
        self.lines_before = self
            .lines_before
            .checked_add(lines)
            .ok_or("the lines of the parts add up past 2^64")?;
        Ok(())
    }
}

/// The parts in shard order, each with its shard's `I/N`; every shard of
/// the split once, or an error that says which is missing or doubled.
fn shard_order(parts: &[InputSpec]) -> Result<Vec<(&InputSpec, String)>> {
    let mut found: Vec<(Split, &InputSpec)> = Vec::new();
    for part in parts {
        let mut records = Records::open(part)?;
        let Some(record) = records.next()? else {
            return Err(records.error(
                records.line,
                "no records, not even the shard's end record: the file is cut short".into(),
            ));
        };
        let label = String::from_utf8_lossy(record.get(ShardColumn::Shard));
        let split: Split = label
            .parse()
            .map_err(|why| records.error(record.line, format!("shard: {why}")))?;
        found.push((split, part));
    }
    found.sort_by_key(|(split, _)| split.index);
    let count = found.first().map_or(0, |(split, _)| split.count);
    for pair in found.windows(2) {
        let ((a, a_part), (b, b_part)) = (&pair[0], &pair[1]);
        if b.count != count {
            return Err(Error::Usage(format!(
                "{} is from a split in {count} and {} from a split in {}: merge the \
                 rejects of one split",
                found[0].1.name(),
                b_part.name(),
                b.count
            )));
        }
        if a.index == b.index {
            return Err(Error::Usage(format!(
                "{} and {} are both the rejects of shard {}/{count}",
                a_part.name(),
                b_part.name(),
                a.index
            )));
        }
    }
    if let Some(missing) = (0..count).find(|&i| !found.iter().any(|(s, _)| s.index == i)) {
        return Err(Error::Usage(format!(
            "the rejects of shard {missing}/{count} are missing: a shard numbers its \
             lines after the lines of the shards before it, so merge needs the rejects \
             of every shard"
        )));
    }
    Ok(found
        .into_iter()
        .map(|(split, part)| (part, format!("{}/{}", split.index, split.count)))
        .collect())
}

/// One record of a shard's rejects, its fields in [`ShardColumn`] order.
struct Record {
    /// The line it starts on.
    line: u64,
    fields: [Vec<u8>; WIDTH],
}

impl Record {
    /// The field of `column`; empty where the file lacks the column.
    fn get(&self, column: ShardColumn) -> &[u8] {
        &self.fields[column as usize]
    }
}

/// A shard's rejects file, read a record at a time.
///
/// The files are `count`'s own, every field empty or quoted, so this
/// reads exactly that and nothing looser: unlike [`crate::csv`]'s rules,
/// it trims nothing, and a rejected row comes back byte for byte.
struct Records {
    name: String,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// The line the next record starts on.
    line: u64,
    /// Where each [`ShardColumn`] is in the file's records.
    columns: [usize; WIDTH],
    width: usize,
}

impl Records {
    /// Opens a shard's rejects and reads its header (by the one reader of
    /// headers, [`input::read_header`]).
    fn open(part: &InputSpec) -> Result<Records> {
        let name = part.name();
        let mut reader = input::open_stream(part)?;
        let read_error = |source| Error::Read {
            path: name.clone().into(),
            source,
        };
        let expected = header_text(SHARD_REJECTS_HEADER);
        let start = input::read_header(&mut reader, &name, expected, read_error)?;
        let mut records = Records {
            name,
            reader,
            buf: start.bytes,
            pos: start.rows_start,
            eof: start.complete,
            line: 2,
            columns: [0; WIDTH],
            width: 0,
        };
        let header = format::header_names(&start.header).map_err(|why| records.error(1, why))?;
        for column in ShardColumn::ALL {
            records.columns[column as usize] = match find_column(&header, column.name()) {
                Ok(at) => at,
                // The one column a shard's rejects may lack (see the
                // format): read as an empty field past the record's end.
                Err(_) if column == ShardColumn::HeaderLines => header.len(),
                Err(why) => return Err(records.error(1, why)),
            };
        }
        records.width = header.len();
        Ok(records)
    }

    fn error(&self, line: u64, reason: String) -> Error {
        Error::Data {
            file: self.name.clone(),
            line,
            reason,
        }
    }

    /// The next record, or `None` at the end of the file.
    fn next(&mut self) -> Result<Option<Record>> {
        let line = self.line;
        let Some(mut fields) = self.next_fields()? else {
            return Ok(None);
        };
        if fields.len() != self.width {
            return Err(self.error(
                line,
                format!("expected {} fields, found {}", self.width, fields.len()),
            ));
        }
        fields.push(Vec::new()); // the optional column's, when it is absent
        let fields = self.columns.map(|i| std::mem::take(&mut fields[i]));
        Ok(Some(Record { line, fields }))
    }

    /// The fields of the next record, reading more of the file as needed.
    fn next_fields(&mut self) -> Result<Option<Vec<Vec<u8>>>> {
        loop {
            let rest = &self.buf[self.pos..];
            if rest.is_empty() && self.eof {
                return Ok(None);
            }
            match split_record(rest, self.eof) {
                Ok(Some((fields, used))) => {
                    self.line += memchr::memchr_iter(b'\n', &rest[..used]).count() as u64;
                    self.pos += used;
                    return Ok(Some(fields));
                }
                Ok(None) if rest.len() > MAX_RECORD => {
                    return Err(self.error(
                        self.line,
                        format!(
                            "a record longer than {} MiB: not a rejects file of count",
                            MAX_RECORD >> 20
                        ),
                    ))
                }
                Ok(None) => self.fill()?,
                Err(reason) => return Err(self.error(self.line, reason.into())),
            }
        }
    }

    /// Reads more of the file into the buffer.
    fn fill(&mut self) -> Result<()> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let have = self.buf.len();
        self.buf.resize(have + (256 << 10), 0);
        let n = loop {
            match self.reader.read(&mut self.buf[have..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Read {
                        path: self.name.clone().into(),
                        source,
                    })
                }
            }
        };
        self.buf.truncate(have + n);
        self.eof = n == 0;
        Ok(())
    }
}

/// A record's fields, and the bytes it used.
type SplitRecord = (Vec<Vec<u8>>, usize);

/// Splits the record at the start of `input`, every field empty or quoted
/// with `""` for a quote: its fields and the bytes it used, `None` when the
/// input ends first (and is not the file's end, `eof`).
fn split_record(input: &[u8], eof: bool) -> Result<Option<SplitRecord>, &'static str> {
    let mut fields = Vec::new();
    let mut pos = 0;
    loop {
        let mut value = Vec::new();
        if input.get(pos) == Some(&b'"') {
            let mut i = pos + 1;
            loop {
                let Some(q) = memchr::memchr(b'"', &input[i..]) else {
                    return if eof {
                        Err("a quoted field is not closed")
                    } else {
                        Ok(None)
                    };
                };
                value.extend_from_slice(&input[i..i + q]);
                let q = i + q;
                match input.get(q + 1) {
                    Some(b'"') => {
                        value.push(b'"');
                        i = q + 2;
                    }
                    None if !eof => return Ok(None),
                    _ => {
                        pos = q + 1;
                        break;
                    }
                }
            }
        }
        fields.push(value);
        match input.get(pos) {
            Some(b',') => pos += 1,
            Some(b'\n') => return Ok(Some((fields, pos + 1))),
            None if eof => return Ok(Some((fields, pos))),
            None => return Ok(None),
            Some(_) => return Err("a field that is neither empty nor quoted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shards_rejects_header_is_read_by_the_rule_of_every_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejects.csv");
        std::fs::write(&path, b"\x1F\x8B\x08\x00\n").unwrap();
        let err = Records::open(&InputSpec::Local(path)).err().unwrap().to_string();
        assert!(err.contains(":1: this is gzip data"), "{err}");
    }

    #[test]
    fn records_come_back_byte_for_byte() {
        let record = b"\"a\",,\" x \"\"y\"\" \"\n\"next\"";
        let (fields, used) = split_record(record, false).unwrap().unwrap();
        assert_eq!(fields, [&b"a"[..], b"", b" x \"y\" "]);
        assert_eq!(&record[used..], b"\"next\"");
        // Cut anywhere, a record waits for more, unless the file ends.
        for cut in 0..used {
            assert_eq!(split_record(&record[..cut], false), Ok(None), "cut {cut}");
        }
        assert!(split_record(b"\"open", true).is_err());
        assert!(split_record(b"bare,\"q\"\n", true).is_err());
        let (fields, _) = split_record(b"\"last\",", true).unwrap().unwrap();
        assert_eq!(fields, [&b"last"[..], b""]);
    }
}
