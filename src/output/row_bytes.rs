//! The bytes of result.csv's rows: one row's text ([`push_row`]) and its
//! length, and the two ways rows go out in large writes: a stream
//! ([`RowWriter`]) or positional writes at increasing offsets
//! ([`AtOffset`], for threads that each write their own dates).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use crate::format::RESULT_HEADER;

/// Rows written at increasing offsets of a file, in large writes.
pub(super) struct AtOffset<'f> {
    file: &'f File,
    offset: u64,
    pub(super) buf: Vec<u8>,
}

impl<'f> AtOffset<'f> {
    const SPILL_AT: usize = 1 << 20;

    pub(super) fn new(file: &'f File, offset: u64) -> Self {
        AtOffset {
            file,
            offset,
            buf: Vec::with_capacity(Self::SPILL_AT + 4096),
        }
    }

    /// Writes the buffer out when it is full, or when `all`.
    pub(super) fn spill(&mut self, all: bool) -> io::Result<()> {
        if all || self.buf.len() >= Self::SPILL_AT {
            self.file.write_all_at(&self.buf, self.offset)?;
            self.offset += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Rows of result.csv into a buffer, handed to the output in large writes.
pub(super) struct RowWriter<'o> {
    out: &'o mut dyn Write,
    buf: Vec<u8>,
    rows: usize,
}

impl<'o> RowWriter<'o> {
    const FLUSH_AT: usize = 256 * 1024;

    pub(super) fn new(out: &'o mut dyn Write) -> io::Result<Self> {
        let mut buf = Vec::with_capacity(Self::FLUSH_AT + 1024);
        buf.extend_from_slice(RESULT_HEADER);
        Ok(RowWriter { out, buf, rows: 0 })
    }

    /// One row from its name and date, quoted and with their separators
    /// (as [`push_row`] takes them).
    #[inline]
    pub(super) fn row(
        &mut self,
        quoted_name: &[u8],
        quoted_date: &[u8],
        count: u64,
    ) -> io::Result<()> {
        push_row(&mut self.buf, quoted_name, quoted_date, count);
        self.rows += 1;
        if self.buf.len() >= Self::FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is left; returns how many rows were written.
    pub(super) fn finish(self) -> io::Result<usize> {
        self.out.write_all(&self.buf)?;
        Ok(self.rows)
    }
}

/// Appends one row of result.csv: `name` is the quoted name and its `,`,
/// `date` the quoted date and the `,"` before the count, each made once (per
/// name, per date), so that a row is three copies, not five.
#[inline]
pub(super) fn push_row(buf: &mut Vec<u8>, name: &[u8], date: &[u8], count: u64) {
    // The count and its closing `"\n` in one small block, copied once.
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(count).as_bytes();
    let mut tail = [0u8; 22];
    tail[..digits.len()].copy_from_slice(digits);
    tail[digits.len()..digits.len() + 2].copy_from_slice(b"\"\n");
    buf.reserve(name.len() + date.len() + tail.len());
    buf.extend_from_slice(name);
    buf.extend_from_slice(date);
    buf.extend_from_slice(&tail[..digits.len() + 2]);
}

/// The bytes [`push_row`] appends.
#[inline]
pub(super) fn row_len(name: &[u8], date: &[u8], count: u64) -> u64 {
    (name.len() + date.len() + 2) as u64 + u64::from(count.checked_ilog10().unwrap_or(0) + 1)
}
