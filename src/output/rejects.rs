//! The `--rejects` file: every row not counted, with where it was and why,
//! so that counted rows + rejected rows = the data rows of the input.
//!
//! A shard writes its rejects in the shard format of
//! [`SHARD_REJECTS_HEADER`], which says where rows are inside the shard's
//! part; `merge` turns the shards' files into one plain rejects file.

use std::ops::Range;

use super::shard_rejects::{ShardColumn, ShardFields, ShardLine, SHARD_WIDTH};
use super::{Destination, PendingOutput};
use crate::csv::write_quoted;
use crate::error::Result;
use crate::format::{REJECTS_HEADER, SHARD_REJECTS_HEADER};
use crate::input::Split;

/// A shard's part of one source, as its rejects name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardPart {
    /// The source's size in bytes.
    pub source_bytes: u64,
    /// The byte range of the source the shard owns (the rows whose
    /// preceding newline is in it).
    pub range: Range<u64>,
}

/// The `--rejects` file, written as rows come in file order.
pub struct RejectsWriter {
    file: PendingOutput,
    buf: Vec<u8>,
    /// The shard's `I/N`, when it writes the shard format.
    shard: Option<String>,
    /// What comes before a file's first row, for `merge`'s line numbers:
    /// "1" (its header), or "0" (`--no-header`).
    header_lines: &'static str,
    /// The bytes written so far and their CRC-32, which `--state` keeps
    /// to know the file again on its next run.
    written: (u64, crc32fast::Hasher),
}

impl RejectsWriter {
    /// Starts the rejects file at `destination` (it appears on commit); a
    /// shard's (`shard` set) in the shard format, of files with a header
    /// row or not (`has_header`).
    pub fn create(
        destination: &Destination,
        shard: Option<Split>,
        has_header: bool,
    ) -> Result<RejectsWriter> {
        let mut writer = RejectsWriter {
            file: PendingOutput::create(destination)?,
            buf: Vec::new(),
            shard: shard.map(|s| format!("{}/{}", s.index, s.count)),
            header_lines: if has_header { "1" } else { "0" },
            written: (0, crc32fast::Hasher::new()),
        };
        let header = match writer.shard {
            Some(_) => SHARD_REJECTS_HEADER,
            None => REJECTS_HEADER,
        };
        writer.put(header)?;
        Ok(writer)
    }

    /// Adds rows already in the file's format, whole records (those of an
    /// earlier run's rejects, without their header).
    pub fn append_rows(&mut self, rows: &[u8]) -> Result<()> {
        debug_assert!(rows.is_empty() || rows.ends_with(b"\n"), "whole records");
        self.put(rows)
    }

    /// The length and CRC-32 of what is written so far.
    pub fn written(&self) -> (u64, u32) {
        (self.written.0, self.written.1.clone().finalize())
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.written.0 += bytes.len() as u64;
        self.written.1.update(bytes);
        let result = self.file.writer().write_all(bytes);
        self.file.check(result)
    }

    /// Whether it writes the shard format.
    pub fn is_shard(&self) -> bool {
        self.shard.is_some()
    }

    /// Adds one row not counted: where it was, why, and its text.
    pub fn write(&mut self, source: &str, line: u64, reason: &str, row: &[u8]) -> Result<()> {
        debug_assert!(self.shard.is_none(), "a shard writes write_in_part");
        let mut line_text = itoa::Buffer::new();
        let line = line_text.format(line);
        self.record(&[
            Some(source.as_bytes()),
            Some(line.as_bytes()),
            Some(reason.as_bytes()),
            Some(row),
        ])
    }

    /// A shard's row not counted: line `line` of `part` of `source`.
    pub fn write_in_part(
        &mut self,
        source: &str,
        part: &ShardPart,
        line: ShardLine,
        reason: &str,
        row: &[u8],
    ) -> Result<()> {
        let mut line_text = itoa::Buffer::new();
        let line = line_text.format(line.0);
        self.shard_record(
            source,
            part,
            &[
                (ShardColumn::LineInPart, line.as_bytes()),
                (ShardColumn::Reason, reason.as_bytes()),
                (ShardColumn::Row, row),
            ],
        )
    }

    /// A shard's part of `source` is booked whole: its rows span `lines`.
    pub fn end_part(&mut self, source: &str, part: &ShardPart, lines: u64) -> Result<()> {
        let mut lines_text = itoa::Buffer::new();
        let lines = lines_text.format(lines);
        self.shard_record(source, part, &[(ShardColumn::PartLines, lines.as_bytes())])
    }

    /// The file, to commit with the run's other outputs; a shard's ends
    /// with the record that says it is whole.
    pub fn finish(mut self) -> Result<PendingOutput> {
        if let Some(shard) = self.shard.take() {
            let mut fields: ShardFields = [None; SHARD_WIDTH];
            fields[ShardColumn::Shard as usize] = Some(shard.as_bytes());
            self.record(&fields)?;
        }
        Ok(self.file)
    }

    /// A record of `part` of `source`: the columns every such record has,
    /// and the `rest`.
    fn shard_record(
        &mut self,
        source: &str,
        part: &ShardPart,
        rest: &[(ShardColumn, &[u8])],
    ) -> Result<()> {
        let shard = self.shard.clone().expect("a shard's rejects");
        let (mut bytes, mut start, mut end) = (
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
        );
        let mut fields: ShardFields = [None; SHARD_WIDTH];
        fields[ShardColumn::Shard as usize] = Some(shard.as_bytes());
        fields[ShardColumn::Source as usize] = Some(source.as_bytes());
        fields[ShardColumn::SourceBytes as usize] =
            Some(bytes.format(part.source_bytes).as_bytes());
        fields[ShardColumn::PartStart as usize] = Some(start.format(part.range.start).as_bytes());
        fields[ShardColumn::PartEnd as usize] = Some(end.format(part.range.end).as_bytes());
        fields[ShardColumn::HeaderLines as usize] = Some(self.header_lines.as_bytes());
        for &(column, value) in rest {
            fields[column as usize] = Some(value);
        }
        self.record(&fields)
    }

    /// Writes one record: `None` is an empty field, the rest quoted.
    fn record(&mut self, fields: &[Option<&[u8]>]) -> Result<()> {
        self.buf.clear();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            if let Some(value) = field {
                write_quoted(&mut self.buf, value);
            }
        }
        self.buf.push(b'\n');
        let buf = std::mem::take(&mut self.buf);
        let result = self.put(&buf);
        self.buf = buf;
        result
    }
}
