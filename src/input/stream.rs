//! A compressed location file (`.gz`, `.zst`): decompressed as one stream,
//! since neither format can be entered in the middle. Threads take turns
//! decompressing the next chunk (cut at its last newline) and then scan it
//! in parallel, so decompression is the only serial part.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::object::{Object, ObjectReader};
use super::{Chunk, ChunkBuf, ChunkSource, Next, PAD};
use crate::error::{Error, Result};
use crate::format;

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
}

struct State {
    decoder: Box<dyn Read + Send>,
    /// Decompressed bytes after the last complete row handed out.
    carry: Vec<u8>,
    seq: u64,
    /// Compressed bytes read when the last chunk was handed out.
    spanned: u64,
    done: bool,
}

/// A compressed location file, decompressed chunk by chunk.
pub struct StreamSource {
    name: String,
    len: u64,
    header: Vec<u8>,
    chunk_size: usize,
    /// Compressed bytes read so far, shared with the reader under the decoder.
    read: Arc<AtomicU64>,
    state: Mutex<State>,
}

impl StreamSource {
    /// Starts decompressing `object` and reads its header.
    pub fn open(
        object: Arc<dyn Object>,
        compression: Compression,
        chunk_size: usize,
    ) -> Result<StreamSource> {
        let name = object.name().to_string();
        let len = object.len();
        let read = Arc::new(AtomicU64::new(0));
        let reader =
            std::io::BufReader::with_capacity(1 << 20, ObjectReader::new(object, read.clone()));
        let decoder: Box<dyn Read + Send> = match compression {
            // Multi-member: `cat a.gz b.gz` is one valid gzip stream.
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(reader)
                    .map_err(|e| decode_error(&name, e))?,
            ),
        };
        let mut state = State {
            decoder,
            carry: Vec::new(),
            seq: 0,
            spanned: 0,
            done: false,
        };
        // The header: decompress until the first newline.
        let header = loop {
            fill(&mut state, &name, 64 * 1024)?;
            let found =
                format::header_line(&state.carry, state.done, format::location_header_text())
                    .map_err(|reason| Error::Data {
                        file: name.clone(),
                        line: 1,
                        reason,
                    })?;
            if let Some((header, rows_start)) = found {
                state.carry.drain(..rows_start);
                break header;
            }
        };
        Ok(StreamSource {
            name,
            len,
            header,
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

/// Decompresses about `want` more bytes onto `state.carry`.
fn fill(state: &mut State, name: &str, want: usize) -> Result<()> {
    let start = state.carry.len();
    state.carry.resize(start + want, 0);
    let mut filled = start;
    while filled < start + want {
        match state.decoder.read(&mut state.carry[filled..]) {
            Ok(0) => {
                state.done = true;
                break;
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(decode_error(name, e)),
        }
    }
    state.carry.truncate(filled);
    Ok(())
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
        if state.done && state.carry.is_empty() {
            return Ok(Next::End);
        }
        // At least a chunk's worth, and on to the end of a row.
        let mut cut = None;
        while !state.done {
            let before = state.carry.len();
            let want = self.chunk_size.saturating_sub(before).max(64 * 1024);
            fill(&mut state, &self.name, want)?;
            if state.carry.len() >= self.chunk_size || state.done {
                cut = memchr::memrchr(b'\n', &state.carry).map(|i| i + 1);
                if cut.is_some() {
                    break;
                }
            }
        }
        let cut = if state.done {
            state.carry.len()
        } else {
            cut.unwrap_or(state.carry.len())
        };
        // The buffer may hold a mapping of a plain file read before.
        buf.mapped = None;
        buf.bytes.clear();
        buf.bytes.extend_from_slice(&state.carry[..cut]);
        buf.bytes.resize(cut + PAD, 0);
        state.carry.drain(..cut);
        let seq = state.seq;
        state.seq += 1;
        let read = self.read.load(Ordering::Relaxed).min(self.len);
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
        Some(self.len)
    }

    fn header(&self) -> &[u8] {
        &self.header
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn first_line(&self) -> Result<u64> {
        Ok(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::object::LocalObject;
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
                let source = StreamSource::open(object, compression, chunk_size).unwrap();
                assert_eq!(source.header(), b"lat,long,region_id,date");
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

    #[test]
    fn corrupt_data_is_a_read_error() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"\x1f\x8b\x08\x00 this is not gzip")
            .unwrap();
        let object = Arc::new(LocalObject::open(file.path()).unwrap());
        let err = StreamSource::open(object, Compression::Gzip, 10)
            .err()
            .unwrap();
        assert!(err.to_string().contains("cannot decompress"), "{err}");
        assert!(matches!(err, Error::Read { .. }));
    }
}
