//! A seekable location file (local or S3), read by every scanning thread at
//! once: each thread claims the next chunk number from an atomic counter and
//! maps or reads its byte range itself, so no thread waits for another and
//! the file is never loaded whole: peak memory is the threads' buffers.
//!
//! With `--split I/N` the source covers only a byte range of the file: it
//! owns the rows whose preceding newline is inside it, and reads nothing
//! before the range but the header (see [`RangeSource::open_part`]).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::header::read_start_or_empty;
use super::object::{Object, ObjectReader};
use super::{Chunk, ChunkBuf, ChunkSource, LineOrigin, Next, PAD};
use crate::error::Result;
use crate::format::MAX_LINE;

/// How far a chunk reads past its end, per step, to finish its last row.
const TAIL_STEP: usize = 64 * 1024;

/// A location file opened for chunked, parallel reading.
pub struct RangeSource {
    object: Arc<dyn Object>,
    /// The header line; `None` for an empty file.
    header: Option<Vec<u8>>,
    /// Where the first row of the file starts: just after the header line
    /// (at the file's start, in a file without one).
    header_end: u64,
    /// Whether the file starts with a header line.
    has_header: bool,
    /// Whether this source accounts for the header's bytes (the whole
    /// file, or the shard that holds the header's newline).
    owns_header: bool,
    /// The bytes whose rows this source owns: the whole file after the
    /// header, or one shard's part of it.
    rows: Range<u64>,
    chunk_size: u64,
    /// Whether chunks may be views of the mapped file ([`RangeSource::read_only`]).
    maps: bool,
    next: AtomicU64,
}

impl RangeSource {
    /// Opens `object`, reads its header line (its first row, unless
    /// `has_header`), and takes the rows that start in `rows` (`None`: all
    /// of them).
    pub fn open(
        object: Arc<dyn Object>,
        chunk_size: usize,
        rows: Option<Range<u64>>,
        has_header: bool,
    ) -> Result<RangeSource> {
        let len = object.len();
        let file_start = {
            let mut reader = ObjectReader::new(object.clone(), Default::default())
                .map_err(|e| object.read_error(e))?;
            read_start_or_empty(&mut reader, object.name(), |e| object.read_error(e))?
        };
        let file_start = if has_header {
            file_start
        } else {
            file_start.map(|start| start.headerless())
        };
        let (header, header_end) = match file_start {
            Some(start) => (Some(start.header), start.rows_start as u64),
            // Its bytes, if any (a byte order mark), are no rows.
            None => (None, len),
        };
        // The shard whose part holds the header's last byte (its newline)
        // accounts for the header, as for the row after it.
        let owns_header = rows
            .as_ref()
            .is_none_or(|rows| rows.start <= header_end && header_end < rows.end);
        let rows = rows.unwrap_or(header_end..len);
        let start = rows.start.clamp(header_end, len);
        let end = rows.end.clamp(start, len);
        Ok(RangeSource {
            object,
            header,
            header_end,
            has_header,
            owns_header,
            rows: start..end,
            chunk_size: chunk_size.max(1) as u64,
            maps: true,
            next: AtomicU64::new(0),
        })
    }

    /// Reads every chunk with `pread`, never mapping the file: for
    /// measuring one against the other (the hidden `count --pread`).
    pub fn read_only(mut self) -> RangeSource {
        self.maps = false;
        self
    }

    /// Opens a shard's `part` of `object`: the rows whose preceding newline
    /// is in `part` (the file's first row: the header's newline), that is
    /// the rows that start in `part` shifted one byte on.
    ///
    /// A chunk finds its first row by looking at the byte before it, and
    /// for the shard's first chunk that byte is the part's own first one:
    /// no shard reads before its part but the header, which on a terabyte
    /// in S3 is the difference between reading one part and reading
    /// everything before it. The parts of all shards still share every row
    /// out exactly once. A file without a header has no newline before its
    /// first row: the part that starts at byte 0 (and is not empty) owns it.
    pub fn open_part(
        object: Arc<dyn Object>,
        chunk_size: usize,
        part: Range<u64>,
        has_header: bool,
    ) -> Result<RangeSource> {
        let start = if part.start == 0 && !part.is_empty() {
            0 // clamped to the first row, wherever it is
        } else {
            part.start.saturating_add(1)
        };
        let rows = start..part.end.saturating_add(1);
        RangeSource::open(object, chunk_size, Some(rows), has_header)
    }

    /// Reads `[from, to)` (inside the file) into `buf.bytes[at..]`, growing
    /// the buffer (and its padding) as needed; a file that shrank is an
    /// error ([`Object::read_exact_at`]).
    fn read_into(&self, buf: &mut ChunkBuf, at: usize, from: u64, to: u64) -> Result<()> {
        let want = (to - from) as usize;
        if buf.bytes.len() < at + want + PAD {
            buf.bytes.resize(at + want + PAD, 0);
        }
        self.object
            .read_exact_at(&mut buf.bytes[at..at + want], from)
    }
}

impl RangeSource {
    /// The chunk `[read_from, end)` as a mapping of the file, with its last
    /// row and PAD bytes after it inside the mapping; `None` when that is
    /// not possible (an S3 object, the end of the file, a very long row),
    /// and the chunk is read instead. `first` says the chunk starts at the
    /// file's first row (else `read_from` is the byte before the chunk).
    fn mapped_chunk(
        &self,
        buf: &mut ChunkBuf,
        read_from: u64,
        end: u64,
        first: bool,
    ) -> Option<Range<usize>> {
        if !self.maps {
            return None;
        }
        let map_end = end.checked_add(MAP_TAIL)?.min(self.object.len());
        let mapping = self.object.map(read_from..map_end)?;
        let data: &[u8] = &mapping;
        let own_end = (end - read_from) as usize;
        let first_row = if first {
            0
        } else {
            memchr::memchr(b'\n', &data[..own_end]).map_or(own_end, |i| i + 1)
        };
        if first_row >= own_end {
            // No row starts here; PAD bytes must still follow the range.
            if data.len() < PAD {
                return None;
            }
            buf.mapped = Some(mapping);
            return Some(0..0);
        }
        let len = if data[own_end - 1] == b'\n' {
            own_end
        } else {
            own_end + memchr::memchr(b'\n', &data[own_end..])? + 1
        };
        if len + PAD > data.len() {
            return None;
        }
        buf.mapped = Some(mapping);
        Some(first_row..len)
    }
}

/// How far past a chunk a mapping reaches, for its last row and the PAD.
const MAP_TAIL: u64 = 64 * 1024;

impl ChunkSource for RangeSource {
    fn next_chunk(&self, buf: &mut ChunkBuf, _wait: bool) -> Result<Next> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        if seq >= self.chunk_count() {
            return Ok(Next::End);
        }
        let start = self.rows.start + seq * self.chunk_size;
        let end = (start + self.chunk_size).min(self.rows.end);
        let span = end - start;
        let file_end = self.object.len();

        // Read one byte early: a row starts at `start` exactly when the byte
        // before it ends a line (or `start` is the file's first row).
        let read_from = if start == self.header_end {
            start
        } else {
            start - 1
        };
        buf.mapped = None;
        if let Some(range) = self.mapped_chunk(buf, read_from, end, start == self.header_end) {
            return Ok(Next::Chunk(Chunk { seq, range, span }));
        }
        // The chunk and the start of the row after it in one read (one GET
        // on S3): a row is tens of bytes, so the last row nearly always
        // ends within TAIL_STEP bytes past `end`. It may run further (and
        // past the end of a shard's range: the row is the shard's if it
        // starts inside), but never by more than a line may be long: a
        // longer one is cut there, and the scanner reports it as too long.
        let tail_end = file_end.min(end.saturating_add(MAX_LINE as u64 + 1));
        let mut read_to = tail_end.min(end + TAIL_STEP as u64);
        self.read_into(buf, 0, read_from, read_to)?;
        let own_end = (end - read_from) as usize;
        let first_row = if start == self.header_end {
            0
        } else {
            match memchr::memchr(b'\n', &buf.bytes[..own_end]) {
                Some(i) => i + 1,
                None => own_end, // a row longer than the chunk: no row starts here
            }
        };
        if first_row >= own_end {
            return Ok(Next::Chunk(Chunk {
                seq,
                range: 0..0,
                span,
            }));
        }
        // The last row ends at the first newline from the chunk's last byte.
        let mut searched = own_end - 1;
        let mut step = TAIL_STEP as u64;
        let len = loop {
            let have = (read_to - read_from) as usize;
            if let Some(i) = memchr::memchr(b'\n', &buf.bytes[searched..have]) {
                break searched + i + 1;
            }
            if read_to == tail_end {
                break have; // the file's last row, or one too long
            }
            searched = have;
            step *= 2;
            let to = tail_end.min(read_to + step);
            self.read_into(buf, have, read_to, to)?;
            read_to = to;
        };
        Ok(Next::Chunk(Chunk {
            seq,
            range: first_row..len,
            span,
        }))
    }

    fn chunk_count(&self) -> u64 {
        (self.rows.end - self.rows.start).div_ceil(self.chunk_size)
    }

    fn total_bytes(&self) -> Option<u64> {
        Some(self.rows.end - self.rows.start + self.header_bytes())
    }

    fn header_bytes(&self) -> u64 {
        if self.owns_header {
            self.header_end
        } else {
            0
        }
    }

    fn byte_rows(&self) -> Option<(Range<u64>, u64)> {
        Some((self.rows.clone(), self.header_end))
    }

    fn header(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    fn name(&self) -> &str {
        self.object.name()
    }

    fn line_origin(&self) -> LineOrigin {
        if self.rows.start == self.header_end {
            LineOrigin::first_row(self.has_header)
        } else {
            // `open` made the rows start one byte after the range.
            LineOrigin::AfterByte(self.rows.start - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::input::header::HEADER_READ;
    use crate::input::object::LocalObject;
    use std::io::Write;

    fn open(content: &[u8], chunk_size: usize, range: Option<Range<u64>>) -> RangeSource {
        open_with(content, chunk_size, range, true)
    }

    fn open_with(
        content: &[u8],
        chunk_size: usize,
        range: Option<Range<u64>>,
        has_header: bool,
    ) -> RangeSource {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        let object = LocalObject::open(file.path()).unwrap();
        RangeSource::open(Arc::new(object), chunk_size, range, has_header).unwrap()
    }

    fn open_part(
        content: &[u8],
        chunk_size: usize,
        part: Range<u64>,
        has_header: bool,
    ) -> RangeSource {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        let object = LocalObject::open(file.path()).unwrap();
        RangeSource::open_part(Arc::new(object), chunk_size, part, has_header).unwrap()
    }

    fn rows_of(source: &RangeSource) -> Vec<u8> {
        rows_and_mapped(source).0
    }

    /// The rows of every chunk in order, and how many chunks were mapped.
    fn rows_and_mapped(source: &RangeSource) -> (Vec<u8>, usize) {
        let mut buf = ChunkBuf::default();
        let (mut rows, mut mapped) = (Vec::new(), 0);
        let mut expect_seq = 0;
        while let Next::Chunk(chunk) = source.next_chunk(&mut buf, true).unwrap() {
            assert_eq!(chunk.seq, expect_seq);
            expect_seq += 1;
            assert!(buf.data().len() >= chunk.range.end + PAD);
            mapped += usize::from(buf.mapped.is_some());
            rows.extend_from_slice(&buf.data()[chunk.range]);
        }
        assert_eq!(source.chunk_count(), expect_seq);
        (rows, mapped)
    }

    /// Large enough that middle chunks are mapped and the last ones read:
    /// both ways must give the same rows.
    #[test]
    fn mapped_and_read_chunks_agree() {
        let mut content = b"lat,long,region_id,date\n".to_vec();
        for i in 0..20_000u32 {
            let pad = "7".repeat((i % 97) as usize);
            content.extend_from_slice(format!("{pad},{i},{},2019-01-01\n", i % 5).as_bytes());
        }
        let header_end = memchr::memchr(b'\n', &content).unwrap() + 1;
        for chunk_size in [4096, 10_000, 65_536, 1 << 20] {
            let (rows, mapped) = rows_and_mapped(&open(&content, chunk_size, None));
            assert_eq!(rows, &content[header_end..], "chunk size {chunk_size}");
            #[cfg(unix)]
            assert!(
                mapped > 0 || chunk_size >= content.len(),
                "chunk size {chunk_size}"
            );
            let (rows, mapped) = rows_and_mapped(&open(&content, chunk_size, None).read_only());
            assert_eq!(
                rows,
                &content[header_end..],
                "read, chunk size {chunk_size}"
            );
            assert_eq!(mapped, 0, "read, chunk size {chunk_size}");
        }
        // Tiny chunks put a chunk start right after the header's newline,
        // where the byte before the chunk starts the file's first row.
        let small_end = memchr::memrchr(b'\n', &content[..20_000]).unwrap() + 1;
        for chunk_size in [1, 2, 3] {
            let (rows, mapped) = rows_and_mapped(&open(&content[..small_end], chunk_size, None));
            assert_eq!(
                rows,
                &content[header_end..small_end],
                "chunk size {chunk_size}"
            );
            #[cfg(unix)]
            assert!(mapped > 0, "chunk size {chunk_size}");
        }
    }

    /// Splits `content` with every chunk size and checks that the chunks'
    /// rows, concatenated in sequence order, are exactly the data rows; and
    /// that any two-way split of the file shares the rows out exactly;
    /// both as a file with a header and as one without (whose first line
    /// is a row, line 1).
    fn check_chunking(content: &[u8]) {
        for has_header in [true, false] {
            check_chunking_with(content, has_header);
        }
    }

    fn check_chunking_with(content: &[u8], has_header: bool) {
        let header_end = match has_header {
            true => memchr::memchr(b'\n', content).map_or(content.len(), |i| i + 1),
            false => 0,
        };
        for chunk_size in 1..=content.len() + 1 {
            let source = open_with(content, chunk_size, None, has_header);
            assert_eq!(source.line_origin(), LineOrigin::first_row(has_header));
            let rows = rows_of(&source);
            assert_eq!(rows, &content[header_end..], "chunk size {chunk_size}");
        }
        let len = content.len() as u64;
        for cut in 0..=len {
            let mut rows = rows_of(&open_part(content, 3, 0..cut, has_header));
            let second = open_part(content, 2, cut..len, has_header);
            let second_rows = rows_of(&second);
            rows.extend(&second_rows);
            assert_eq!(rows, &content[header_end..], "cut at {cut}");
            // The second part's first row is where its line origin says.
            let first_row = content.len() - second_rows.len();
            if !second_rows.is_empty() {
                match second.line_origin() {
                    LineOrigin::FirstRow(line) => {
                        assert_eq!(first_row, header_end, "cut at {cut}");
                        assert_eq!(line, if has_header { 2 } else { 1 });
                    }
                    LineOrigin::AfterByte(byte) => {
                        let newline = memchr::memchr(b'\n', &content[byte as usize..]).unwrap();
                        assert_eq!(first_row, byte as usize + newline + 1, "cut at {cut}");
                        assert_eq!(byte, cut, "cut at {cut}");
                    }
                }
            }
        }
    }

    /// An object that records every byte range read from it.
    struct Recording {
        inner: LocalObject,
        reads: std::sync::Mutex<Vec<Range<u64>>>,
    }

    impl Object for Recording {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            let n = self.inner.read_at(buf, offset)?;
            self.reads.lock().unwrap().push(offset..offset + n as u64);
            Ok(n)
        }
        fn len(&self) -> u64 {
            self.inner.len()
        }
        fn name(&self) -> &str {
            self.inner.name()
        }
    }

    /// The point of the shard rule: a shard reads its header, its range
    /// and the rest of its last row, and no byte between them, whatever
    /// the chunk size and wherever the range starts (mid-row or on a
    /// newline).
    #[test]
    fn a_shard_reads_nothing_before_its_range() {
        let mut content = b"lat,long,region_id,date\n".to_vec();
        for i in 0..4000u32 {
            content.extend_from_slice(format!("{},{i},{},2019-01-01\n", i % 7, i % 5).as_bytes());
        }
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&content).unwrap();
        let len = content.len() as u64;
        let mut starts: Vec<u64> = (1..7).map(|i| len * i / 7).collect();
        // And a range that starts right on a newline, and just after one.
        let newline = 20_000 + memchr::memchr(b'\n', &content[20_000..]).unwrap() as u64;
        starts.extend([newline, newline + 1]);
        for start in starts {
            for chunk_size in [100, 4096, 1 << 20] {
                let end = (start + len / 7).min(len);
                let object = Arc::new(Recording {
                    inner: LocalObject::open(file.path()).unwrap(),
                    reads: Default::default(),
                });
                let source =
                    RangeSource::open_part(object.clone(), chunk_size, start..end, true).unwrap();
                // Nothing is mapped: a mapping could hide reads.
                let rows = rows_of(&source);
                assert!(!rows.is_empty());
                for read in object.reads.lock().unwrap().iter() {
                    let header_read = read.start == 0 && read.end <= HEADER_READ as u64;
                    assert!(
                        header_read || read.start >= start,
                        "range {start}..{end}, chunk size {chunk_size}: read {read:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_row_lands_in_exactly_one_chunk_and_one_shard() {
        check_chunking(b"h\na\nbb\n\nccc\ndddd\n");
        check_chunking(b"h\na\nbb\n\nccc\ndddd");
        check_chunking(b"h\r\n1,2\r\n3,4\r\n");
        check_chunking(b"header only");
        check_chunking(b"header\n");
        check_chunking(b"h\nx");
    }

    #[test]
    fn header_loses_bom_and_cr() {
        let source = open(b"\xEF\xBB\xBFa,b\r\n1,2\n", 4, None);
        assert_eq!(source.header(), Some(&b"a,b"[..]));
        // The header's bytes count too: the file's size.
        assert_eq!(source.total_bytes(), Some(12));
    }

    #[test]
    fn an_empty_file_has_no_header_and_no_rows_and_a_directory_is_an_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        for has_header in [true, false] {
            let object = LocalObject::open(file.path()).unwrap();
            let source = RangeSource::open(Arc::new(object), 4, None, has_header).unwrap();
            assert_eq!(source.header(), None);
            assert_eq!(source.total_bytes(), Some(0));
            assert_eq!(source.chunk_count(), 0);
            let mut buf = ChunkBuf::default();
            assert!(matches!(source.next_chunk(&mut buf, true).unwrap(), Next::End));
        }
        let dir = tempfile::tempdir().unwrap();
        let err = LocalObject::open(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Open { .. }), "{err}");
    }
}
