//! A location file read as one stream from start to end: compressed
//! (`.gz`, `.zst`; neither format can be entered in the middle) or a pipe.
//! Threads take turns reading the next chunk (cut after its last newline)
//! and then scan it in parallel, so reading is the only serial part; the
//! pool reads several such files at once.
//!
//! A line longer than [`MAX_LINE`] is cut: its first `MAX_LINE + 2` bytes
//! stay, as one line, which the scanner reports as too long, and the rest is
//! dropped as it streams by. Memory stays at a chunk and a line whatever
//! the input holds, and the work stays linear in its size.

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::header::read_start_or_empty;
use super::object::{Object, ObjectReader};
use super::{Chunk, ChunkBuf, ChunkSource, LineOrigin, Next, PAD};
use crate::error::{Error, Result};
use crate::format::{self, MAX_LINE};
/// The compression formats read as streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `.gz`, one or more gzip members.
    Gzip,
    /// `.zst`.
    Zstd,
}

impl Compression {
    /// From the name: `.gz` or `.zst` at the end.
    pub fn of(name: &str) -> Option<Compression> {
        if name.ends_with(".gz") {
            Some(Compression::Gzip)
        } else if name.ends_with(".zst") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// From the first bytes of a stream that has no name to say it (a
    /// pipe): gzip's or zstd's magic number.
    pub fn of_magic(first: &[u8]) -> Option<Compression> {
        if first.starts_with(format::GZIP_MAGIC) {
            Some(Compression::Gzip)
        } else if first.starts_with(format::ZSTD_MAGIC) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

struct State {
    decoder: Box<dyn Read + Send>,
    /// Bytes after the last complete row handed out.
    carry: Vec<u8>,
    /// Where the last line of `carry` starts: after its last newline.
    line_start: usize,
    /// How far `carry` has been searched for newlines.
    searched: usize,
    /// Dropping the rest of a line that was too long, up to its newline.
    skipping: bool,
    /// A buffer to read into while skipping.
    scratch: Vec<u8>,
    seq: u64,
    /// Input bytes read when the last chunk was handed out.
    spanned: u64,
    done: bool,
    /// The decode error that ended the stream: every thread that asks for
    /// a chunk afterwards gets it again, so each one stops with the same
    /// read error whichever of them met it first.
    failed: Option<(std::io::ErrorKind, String)>,
}

/// A location file read from start to end, chunk by chunk.
pub struct StreamSource {
    name: String,
    /// The input's length, when it has one (a pipe has none).
    len: Option<u64>,
    /// The header line; `None` for an empty file.
    header: Option<Vec<u8>>,
    /// The header line's bytes, for a plain stream (a pipe), whose chunks
    /// span the rows' bytes only; 0 for a compressed one, whose chunks
    /// span its compressed bytes, all of them.
    header_bytes: u64,
    /// Whether the input starts with a header line.
    has_header: bool,
    chunk_size: usize,
    /// Compressed bytes read so far, shared with the reader under the decoder.
    read: Arc<AtomicU64>,
    state: Mutex<State>,
}

impl StreamSource {
    /// Starts reading `object` (decompressing it, if `compression` says
    /// so) and reads its header (its first row, unless `has_header`).
    pub fn open(
        object: Arc<dyn Object>,
        compression: Option<Compression>,
        chunk_size: usize,
        has_header: bool,
    ) -> Result<StreamSource> {
        let name = object.name().to_string();
        let len = (!object.is_pipe()).then(|| object.len());
        let read = Arc::new(AtomicU64::new(0));
        let reader = ObjectReader::new(object.clone(), read.clone())
            .map_err(|source| object.read_error(source))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
        // A pipe has no name to say it is compressed (`zcat` left out:
        // `cat x.csv.gz | event-counter count --locations -`): its first
        // bytes do, as gzip's and zstd's magic numbers.
        let compression = match compression {
            None if object.is_pipe() => {
                let first = reader.fill_buf().map_err(|e| object.read_error(e))?;
                Compression::of_magic(first)
            }
            given => given,
        };
        let decoder: Box<dyn Read + Send> = match compression {
            None => Box::new(reader),
            // Multi-member: `cat a.gz b.gz` is one valid gzip stream.
            Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Some(Compression::Zstd) => Box::new(
                zstd::stream::read::Decoder::with_buffer(reader)
                    .map_err(|e| decode_error(&name, e))?,
            ),
        };
        let mut state = State {
            decoder,
            carry: Vec::new(),
            line_start: 0,
            searched: 0,
            skipping: false,
            scratch: Vec::new(),
            seq: 0,
            spanned: 0,
            done: false,
            failed: None,
        };
        // The header: decompress until the first newline. A compressed
        // file of 0 bytes (no gzip or zstd header at all: an export's empty
        // part, or one that failed) is empty like a plain one, not a
        // stream cut short.
        let zero_bytes = compression.is_some() && !object.is_pipe() && object.is_empty();
        let start = match zero_bytes {
            true => None,
            false => read_start_or_empty(&mut state.decoder, &name, |e| decode_error(&name, e))?,
        }
        .map(|start| if has_header { start } else { start.headerless() });
        // Chunks span the rows' bytes, as a plain file's do (a compressed
        // file's span its compressed bytes, all of them).
        let header_bytes = match (&start, compression) {
            (Some(start), None) => start.rows_start as u64,
            _ => 0,
        };
        state.spanned = header_bytes;
        let header = match start {
            Some(start) => {
                state.carry = start.bytes;
                state.carry.drain(..start.rows_start);
                state.done = start.complete;
                Some(start.header)
            }
            // An empty file: no header, no rows, and the stream at its end.
            None => {
                state.done = true;
                None
            }
        };
        Ok(StreamSource {
            name,
            len,
            header,
            header_bytes,
            has_header,
            chunk_size: chunk_size.max(1),
            read,
            state: Mutex::new(state),
        })
    }
}

fn decode_error(name: &str, source: std::io::Error) -> Error {
    Error::Read {
        path: name.into(),
        source: std::io::Error::new(source.kind(), format!("cannot decompress: {source}")),
    }
}

/// Reads about `want` more bytes onto `state.carry` (or, while skipping
/// the rest of a long line, drops them up to its newline). A decode error
/// leaves `state` whole (what was read before it stays) and is kept in
/// `state.failed`.
fn fill(state: &mut State, name: &str, want: usize) -> Result<()> {
    let into = if state.skipping {
        &mut state.scratch
    } else {
        &mut state.carry
    };
    let start = if state.skipping { 0 } else { into.len() };
    into.resize(start + want, 0);
    let mut filled = start;
    let mut failed = None;
    while filled < start + want {
        match state.decoder.read(&mut into[filled..]) {
            Ok(0) => {
                state.done = true;
                break;
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                failed = Some((e.kind(), e.to_string()));
                break;
            }
        }
    }
    into.truncate(filled);
    if state.skipping {
        if let Some(i) = memchr::memchr(b'\n', &state.scratch) {
            state.skipping = false;
            state.carry.extend_from_slice(&state.scratch[i + 1..]);
        }
    }
    if let Some(failed) = failed {
        state.done = true;
        state.failed = Some(failed);
    }
    state.check(name)
}

impl State {
    /// The decode error that ended the stream, if one did, as a read error.
    fn check(&self, name: &str) -> Result<()> {
        match &self.failed {
            Some((kind, message)) => Err(decode_error(
                name,
                std::io::Error::new(*kind, message.clone()),
            )),
            None => Ok(()),
        }
    }

    /// Finds the newlines read since the last look, and cuts the last line
    /// when it has grown past [`MAX_LINE`].
    fn look(&mut self) {
        if let Some(i) = memchr::memrchr(b'\n', &self.carry[self.searched..]) {
            self.line_start = self.searched + i + 1;
        }
        self.searched = self.carry.len();
        if self.carry.len() - self.line_start > MAX_LINE + 1 {
            // Keep two bytes past the limit (a row of MAX_LINE bytes and a
            // CR is within it), so the scanner sees the line is too long,
            // and end the line here; drop the rest as it comes.
            self.carry.truncate(self.line_start + MAX_LINE + 2);
            self.carry.push(b'\n');
            self.line_start = self.carry.len();
            self.searched = self.carry.len();
            self.skipping = true;
        }
    }
}

impl ChunkSource for StreamSource {
    fn next_chunk(&self, buf: &mut ChunkBuf, wait: bool) -> Result<Next> {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(std::sync::TryLockError::WouldBlock) if !wait => return Ok(Next::Busy),
            Err(std::sync::TryLockError::WouldBlock) => {
                self.state.lock().expect("a scanning thread panicked")
            }
            Err(std::sync::TryLockError::Poisoned(_)) => panic!("a scanning thread panicked"),
        };
        state.check(&self.name)?;
        // At least a chunk's worth, cut after its last newline.
        let cut = loop {
            state.look();
            if state.carry.len() >= self.chunk_size && state.line_start > 0 {
                break state.line_start;
            }
            if state.done {
                break state.carry.len();
            }
            let want = self
                .chunk_size
                .saturating_sub(state.carry.len())
                .max(64 * 1024);
            fill(&mut state, &self.name, want)?;
        };
        if cut == 0 {
            return Ok(Next::End);
        }
        // The chunk leaves in the carry buffer itself; only its unfinished
        // last line is copied to a fresh one. (The chunk buffer may hold a
        // mapping of a plain file read before: drop it.)
        buf.mapped = None;
        let mut rest = std::mem::take(&mut buf.bytes);
        rest.clear();
        rest.extend_from_slice(&state.carry[cut..]);
        buf.bytes = std::mem::replace(&mut state.carry, rest);
        buf.bytes.truncate(cut);
        buf.bytes.resize(cut + PAD, 0);
        state.line_start -= cut.min(state.line_start);
        state.searched = state.carry.len();
        let seq = state.seq;
        state.seq += 1;
        let read = self.read.load(Ordering::Relaxed);
        let read = self.len.map_or(read, |len| read.min(len));
        let span = read - state.spanned;
        state.spanned = read;
        Ok(Next::Chunk(Chunk {
            seq,
            range: 0..cut,
            span,
        }))
    }

    fn chunk_count(&self) -> u64 {
        self.state.lock().expect("a scanning thread panicked").seq
    }

    fn total_bytes(&self) -> Option<u64> {
        self.len
    }

    fn header_bytes(&self) -> u64 {
        self.header_bytes
    }

    fn header(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn line_origin(&self) -> LineOrigin {
        LineOrigin::first_row(self.has_header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::object::LocalObject;
    use crate::input::Next;
    use std::io::Write;

    fn compressed(content: &[u8], compression: Compression) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let bytes = match compression {
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(content).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(content, 1).unwrap(),
        };
        file.write_all(&bytes).unwrap();
        file
    }

    #[test]
    fn chunks_hold_every_row_once_in_order() {
        let mut content = b"\xEF\xBB\xBFlat,long,region_id,date\r\n".to_vec();
        for i in 0..5000 {
            content.extend_from_slice(format!("{i},{i},{},2019-01-01\n", i % 7).as_bytes());
        }
        content.extend_from_slice(b"last,row,without,newline");
        let rows_start = content.iter().position(|&b| b == b'\n').unwrap() + 1;
        for compression in [Compression::Gzip, Compression::Zstd] {
            let file = compressed(&content, compression);
            for chunk_size in [1, 100, 4096, 1 << 20] {
                let object = Arc::new(LocalObject::open(file.path()).unwrap());
                let source =
                    StreamSource::open(object, Some(compression), chunk_size, true).unwrap();
                assert_eq!(source.header(), Some(&b"lat,long,region_id,date"[..]));
                let mut buf = ChunkBuf::default();
                let (mut rows, mut spans) = (Vec::new(), 0);
                while let Next::Chunk(chunk) = source.next_chunk(&mut buf, true).unwrap() {
                    let part = &buf.bytes[chunk.range];
                    assert!(part.ends_with(b"\n") || part.ends_with(b"newline"));
                    rows.extend_from_slice(part);
                    spans += chunk.span;
                }
                assert_eq!(rows, &content[rows_start..], "{compression:?} {chunk_size}");
                assert_eq!(spans, source.total_bytes().unwrap());
            }
        }
    }

    /// A line far longer than MAX_LINE is cut to MAX_LINE + 2 bytes and
    /// ended there; the rows around it stay whole, and no chunk holds more
    /// than a chunk and a line, however long the line.
    #[test]
    fn a_long_line_is_cut_and_memory_stays_flat() {
        let mut content = b"h\nfirst\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 5 * MAX_LINE));
        content.extend_from_slice(b"\nafter\nlast, no newline");
        let file = compressed(&content, Compression::Zstd);
        let chunk_size = 64 * 1024;
        let object = Arc::new(LocalObject::open(file.path()).unwrap());
        let source = StreamSource::open(object, Some(Compression::Zstd), chunk_size, true).unwrap();
        let mut buf = ChunkBuf::default();
        let mut rows = Vec::new();
        while let Next::Chunk(chunk) = source.next_chunk(&mut buf, true).unwrap() {
            assert!(buf.bytes.len() <= chunk_size + MAX_LINE + 2 + PAD);
            rows.extend_from_slice(&buf.bytes[chunk.range]);
        }
        let lines: Vec<&[u8]> = rows.split(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], b"first");
        assert_eq!(lines[1].len(), MAX_LINE + 2);
        assert_eq!(&lines[2..], [&b"after"[..], b"last, no newline"]);
    }

    #[test]
    fn corrupt_data_is_a_read_error() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"\x1f\x8b\x08\x00 this is not gzip")
            .unwrap();
        let object = Arc::new(LocalObject::open(file.path()).unwrap());
        let err = StreamSource::open(object, Some(Compression::Gzip), 10, true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("cannot decompress"), "{err}");
        assert!(matches!(err, Error::Read { .. }));
    }
}
