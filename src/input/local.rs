//! A local file, read by every scanning thread at once with positioned reads.
//!
//! Each thread claims the next chunk number from an atomic counter and reads
//! its byte range with `pread`, so no thread waits for another and the file
//! is never mapped or loaded whole: peak memory is the threads' buffers.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Chunk, ChunkBuf, ChunkSource, PAD};
use crate::error::{Error, Result};

/// How far a chunk reads past its end, per step, to finish its last row.
const TAIL_STEP: usize = 64 * 1024;

/// The longest header line accepted.
const MAX_HEADER: usize = 1 << 20;

/// A location file opened for chunked, parallel reading.
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    path: PathBuf,
    header: Vec<u8>,
    /// The rows: from just after the header line to the end of the file.
    rows: Range<u64>,
    chunk_size: u64,
    next: AtomicU64,
}

impl LocalFile {
    /// Opens `path` and reads its header line. `chunk_size` is the number of
    /// bytes each chunk spans.
    pub fn open(path: &Path, chunk_size: usize) -> Result<LocalFile> {
        let open_error = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_error)?;
        let meta = file.metadata().map_err(open_error)?;
        if meta.is_dir() {
            return Err(open_error(io::Error::other("is a directory, not a file")));
        }
        let len = meta.len();
        let read_error = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };

        // The header is the first line; a UTF-8 byte order mark before it is
        // not part of the first column's name.
        let mut header = Vec::new();
        let mut block = vec![0; TAIL_STEP];
        let header_end = loop {
            let n = read_at(&file, &mut block, header.len() as u64).map_err(read_error)?;
            let from = header.len();
            header.extend_from_slice(&block[..n]);
            if let Some(i) = memchr::memchr(b'\n', &header[from..]) {
                header.truncate(from + i);
                break (from + i + 1) as u64;
            }
            if n == 0 {
                break header.len() as u64;
            }
            if header.len() > MAX_HEADER {
                return Err(Error::Data {
                    file: display_name(path),
                    line: 1,
                    reason: "header line is longer than 1 MiB; is this a CSV file?".into(),
                });
            }
        };
        if header.is_empty() && len == 0 {
            return Err(Error::Data {
                file: display_name(path),
                line: 1,
                reason: "file is empty; expected a header \"lat\",\"long\",\"region_id\",\"date\""
                    .into(),
            });
        }
        if header.starts_with(b"\xEF\xBB\xBF") {
            header.drain(..3);
        }
        if header.last() == Some(&b'\r') {
            header.pop();
        }
        Ok(LocalFile {
            file,
            path: path.to_path_buf(),
            header,
            rows: header_end.min(len)..len,
            chunk_size: chunk_size.max(1) as u64,
            next: AtomicU64::new(0),
        })
    }

    /// The header line, without BOM or line terminator.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Reads `[from, to)` into `buf.bytes[at..]`, growing the buffer (and its
    /// padding) as needed. Returns the number of bytes read: less than asked
    /// only at the end of the file.
    fn read_into(&self, buf: &mut ChunkBuf, at: usize, from: u64, to: u64) -> Result<usize> {
        let want = (to - from) as usize;
        if buf.bytes.len() < at + want + PAD {
            buf.bytes.resize(at + want + PAD, 0);
        }
        read_at(&self.file, &mut buf.bytes[at..at + want], from).map_err(|source| Error::Read {
            path: self.path.clone(),
            source,
        })
    }
}

impl ChunkSource for LocalFile {
    fn next_chunk(&self, buf: &mut ChunkBuf) -> Result<Option<Chunk>> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let start = self
            .rows
            .start
            .saturating_add(seq.saturating_mul(self.chunk_size));
        if start >= self.rows.end {
            return Ok(None);
        }
        let end = (start + self.chunk_size).min(self.rows.end);
        let span = end - start;

        // Read one byte early: a row starts at `start` exactly when the byte
        // before it ends a line.
        let read_from = if start == self.rows.start {
            start
        } else {
            start - 1
        };
        let mut len = self.read_into(buf, 0, read_from, end)?;
        let first_row = if start == self.rows.start {
            0
        } else {
            match memchr::memchr(b'\n', &buf.bytes[..len]) {
                Some(i) => i + 1,
                None => len, // a row longer than the chunk: no row starts here
            }
        };
        let own_end = (end - read_from) as usize;
        if first_row >= own_end {
            return Ok(Some(Chunk {
                seq,
                range: 0..0,
                span,
            }));
        }
        // Finish the last row, which may run past `end`.
        let mut file_pos = end;
        while file_pos < self.rows.end && buf.bytes[len - 1] != b'\n' {
            let step = (TAIL_STEP as u64).max(len as u64 / 4);
            let to = (file_pos + step).min(self.rows.end);
            let got = self.read_into(buf, len, file_pos, to)?;
            if got == 0 {
                break; // the file shrank while we read it
            }
            match memchr::memchr(b'\n', &buf.bytes[len..len + got]) {
                Some(i) => {
                    len += i + 1;
                    break;
                }
                None => {
                    len += got;
                    file_pos += got as u64;
                }
            }
        }
        Ok(Some(Chunk {
            seq,
            range: first_row..len,
            span,
        }))
    }

    fn total_bytes(&self) -> Option<u64> {
        Some(self.rows.end - self.rows.start)
    }
}

/// How a path is named in messages about its contents: as the user gave it.
pub fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// Reads as much of `buf` as the file has from `offset`, retrying short reads.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf[done..], offset + done as u64);
        #[cfg(windows)]
        let n =
            std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64);
        match n {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Splits `content` with every chunk size and checks that the chunks'
    /// rows, concatenated in sequence order, are exactly the data rows.
    fn check_chunking(content: &[u8]) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        let header_end = memchr::memchr(b'\n', content).map_or(content.len(), |i| i + 1);
        for chunk_size in 1..=content.len() + 1 {
            let source = LocalFile::open(file.path(), chunk_size).unwrap();
            let mut buf = ChunkBuf::default();
            let mut rows = Vec::new();
            let mut expect_seq = 0;
            while let Some(chunk) = source.next_chunk(&mut buf).unwrap() {
                assert_eq!(chunk.seq, expect_seq);
                expect_seq += 1;
                assert!(buf.bytes.len() >= chunk.range.end + PAD);
                rows.extend_from_slice(&buf.bytes[chunk.range]);
            }
            assert_eq!(rows, &content[header_end..], "chunk size {chunk_size}");
        }
    }

    #[test]
    fn every_row_lands_in_exactly_one_chunk() {
        check_chunking(b"h\na\nbb\n\nccc\ndddd\n");
        check_chunking(b"h\na\nbb\n\nccc\ndddd");
        check_chunking(b"h\r\n1,2\r\n3,4\r\n");
        check_chunking(b"header only");
        check_chunking(b"header\n");
        check_chunking(b"h\nx");
    }

    #[test]
    fn header_loses_bom_and_cr() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"\xEF\xBB\xBFa,b\r\n1,2\n").unwrap();
        let source = LocalFile::open(file.path(), 4).unwrap();
        assert_eq!(source.header(), b"a,b");
        assert_eq!(source.total_bytes(), Some(4));
    }

    #[test]
    fn empty_file_and_directory_are_errors() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = LocalFile::open(file.path(), 4).unwrap_err();
        assert!(
            err.to_string().ends_with(
                ":1: file is empty; expected a header \"lat\",\"long\",\"region_id\",\"date\""
            ),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = LocalFile::open(dir.path(), 4).unwrap_err();
        assert!(matches!(err, Error::Open { .. }), "{err}");
    }
}
