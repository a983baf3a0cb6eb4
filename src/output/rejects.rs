//! The `--rejects` file: every row not counted, with where it was and why,
//! so that counted rows + rejected rows = the data rows of the input.

use super::{Destination, PendingOutput};
use crate::csv::write_quoted;
use crate::error::Result;
use crate::format::REJECTS_HEADER;

/// The `--rejects` file, written as rows come in file order.
pub struct RejectsWriter {
    file: PendingOutput,
    buf: Vec<u8>,
}

impl RejectsWriter {
    /// Starts the rejects file at `destination` (it appears on commit).
    pub fn create(destination: &Destination) -> Result<RejectsWriter> {
        let mut writer = RejectsWriter {
            file: PendingOutput::create(destination)?,
            buf: Vec::new(),
        };
        let result = writer.file.writer().write_all(REJECTS_HEADER);
        writer.file.check(result)?;
        Ok(writer)
    }

    /// Adds one row not counted: where it was, why, and its text.
    pub fn write(&mut self, source: &str, line: u64, reason: &str, row: &[u8]) -> Result<()> {
        self.buf.clear();
        write_quoted(&mut self.buf, source.as_bytes());
        self.buf.push(b',');
        write_quoted(&mut self.buf, line.to_string().as_bytes());
        self.buf.push(b',');
        write_quoted(&mut self.buf, reason.as_bytes());
        self.buf.push(b',');
        write_quoted(&mut self.buf, row);
        self.buf.push(b'\n');
        let result = self.file.writer().write_all(&self.buf);
        self.file.check(result)
    }

    /// The file, to commit with the run's other outputs.
    pub fn into_output(self) -> PendingOutput {
        self.file
    }
}
