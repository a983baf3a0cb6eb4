//! Reading a file's first line: the one loop through which every reader of
//! a CSV file's start goes (location files, plain or compressed, whole or a
//! shard's part; region.csv and result files; the parts `merge` sorts out
//! by their headers). What counts as a header line is
//! [`format::header_line`]'s rule; this reads until it can answer.

use std::io::{self, Read};

use crate::error::{Error, Result};
use crate::format;

/// The first read of a header: most headers are tens of bytes, and a shard
/// should read as little as it can outside its range.
pub(crate) const HEADER_READ: usize = 4096;

/// Longer headers are read in steps that double up to this.
const MAX_STEP: usize = 64 * 1024;

/// The start of a file, read up to the end of its header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStart {
    /// The header line, without a UTF-8 byte order mark or line terminator.
    pub header: Vec<u8>,
    /// Every byte read: the header line and what came after it in the
    /// same reads.
    pub bytes: Vec<u8>,
    /// Where the first row starts in `bytes`: just after the header line.
    pub rows_start: usize,
    /// Whether `bytes` is the whole file (the reader ended).
    pub complete: bool,
}

impl FileStart {
    /// The start of a file without a header row (`--no-header`): its first
    /// line is a row, so rows start at its first byte (after a UTF-8 byte
    /// order mark). `header` stays that first line, whose fields give the
    /// number of columns and the delimiter.
    pub fn headerless(self) -> FileStart {
        let rows_start = if self.bytes.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        FileStart { rows_start, ..self }
    }
}

/// Reads `reader` from its start until the header line is whole; `file`
/// names it in errors, `expected` describes its header for the message
/// about an empty file, and `read_error` words a failed read.
///
/// A header that is not one (a binary file, a first line longer than
/// [`format::MAX_HEADER`], CR-only line ends) is an [`Error::Data`] on
/// line 1 of `file`.
pub fn read_header(
    reader: &mut dyn Read,
    file: &str,
    expected: &str,
    read_error: impl Fn(io::Error) -> Error,
) -> Result<FileStart> {
    read_start_or_empty(reader, file, read_error)?.ok_or_else(|| Error::Data {
        file: file.to_string(),
        line: 1,
        reason: format::empty_file(Some(expected)),
    })
}

/// Reads the start of a file as [`read_header`] does, except that a file
/// that holds nothing ([`format::holds_nothing`]; a compressed one of
/// nothing too) is `None`, for the caller to say what it is: a location
/// file without a header and without rows, which counts nothing (exports
/// hold such files: Spark and Hive write one for each empty partition, and
/// a log may be created before its first line), or a small file that lacks
/// what it should hold ([`read_small`](super::read_small)).
pub fn read_start_or_empty(
    reader: &mut dyn Read,
    file: &str,
    read_error: impl Fn(io::Error) -> Error,
) -> Result<Option<FileStart>> {
    let mut bytes = Vec::new();
    let mut step = HEADER_READ;
    loop {
        let start = bytes.len();
        bytes.resize(start + step, 0);
        let n = loop {
            match reader.read(&mut bytes[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            }
        };
        bytes.truncate(start + n);
        let complete = n == 0;
        if complete && format::holds_nothing(&bytes) {
            return Ok(None);
        }
        // No header to describe: an empty file is `None` above.
        let found = format::header_line(&bytes, complete, "").map_err(|reason| Error::Data {
            file: file.to_string(),
            line: 1,
            reason,
        })?;
        if let Some((header, rows_start)) = found {
            return Ok(Some(FileStart {
                header,
                bytes,
                rows_start,
                complete,
            }));
        }
        step = (step * 2).min(MAX_STEP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_of(bytes: &[u8]) -> Result<FileStart> {
        read_header(&mut &bytes[..], "f.csv", "\"a\",\"b\"", |source| {
            Error::Read {
                path: "f.csv".into(),
                source,
            }
        })
    }

    /// A reader that hands out one byte at a time, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_header_and_what_follows_it() {
        let start = start_of(b"\xEF\xBB\xBFa,b\r\n1,2\n").unwrap();
        assert_eq!(start.header, b"a,b");
        assert_eq!(&start.bytes[start.rows_start..], b"1,2\n");
        assert!(!start.complete);
        let start = start_of(b"a,b").unwrap();
        assert_eq!(
            (start.header.as_slice(), start.rows_start),
            (&b"a,b"[..], 3)
        );
        assert!(start.complete);
        let start = start_of(b"\xEF\xBB\xBF1,2\n3,4\n").unwrap().headerless();
        assert_eq!(
            (start.header.as_slice(), &start.bytes[start.rows_start..]),
            (&b"1,2"[..], &b"1,2\n3,4\n"[..])
        );
        let mut trickle = Trickle(b"a,b\n1,2\n");
        let start = read_header(&mut trickle, "f", "h", |_| unreachable!()).unwrap();
        assert_eq!(
            (start.header.as_slice(), start.bytes.as_slice()),
            (&b"a,b"[..], &b"a,b\n"[..])
        );
    }

    #[test]
    fn a_long_header_is_read_in_growing_steps() {
        let mut text = vec![b'x'; 3 * MAX_STEP];
        text.extend_from_slice(b"\nrow\n");
        let start = start_of(&text).unwrap();
        assert_eq!(start.header.len(), 3 * MAX_STEP);
        let long = vec![b'x'; format::MAX_HEADER + 1];
        let err = start_of(&long).unwrap_err().to_string();
        assert!(
            err.starts_with("f.csv:1: the first line is longer than"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_file_and_line_one() {
        let err = start_of(b"").unwrap_err().to_string();
        assert_eq!(err, "f.csv:1: file is empty; expected a header \"a\",\"b\"");
        let failing = || -> Box<dyn Read> {
            struct Fails;
            impl Read for Fails {
                fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                    Err(io::Error::other("disk on fire"))
                }
            }
            Box::new(Fails)
        };
        let err = read_header(&mut *failing(), "f", "h", |source| Error::Read {
            path: "f".into(),
            source,
        })
        .unwrap_err();
        assert!(matches!(err, Error::Read { .. }), "{err}");
    }
}
