//! Where bytes come from: the location file split into chunks of whole rows.
//!
//! Scanning threads pull chunks from a [`ChunkSource`] into buffers they own
//! and reuse, so memory stays at a few chunks per thread however large the
//! input is. Chunks carry a sequence number so that the results can be put
//! back in file order (for exact line numbers) although they are scanned in
//! parallel.
//!
//! Which row belongs to which chunk follows one rule everywhere (it is also
//! Hadoop's): a row belongs to the chunk that holds its first byte. A chunk
//! therefore skips a partial first line, and reads past its end to finish its
//! last row.

mod local;

pub use local::{display_name, LocalFile};

use crate::error::Result;

/// Bytes a scanner may read past the end of a chunk's data: the fast path
/// loads a 64-byte window at every row start.
pub const PAD: usize = 64;

/// A scanning thread's reusable buffer. The chunk's rows are
/// `bytes[range]`, and `bytes` always extends at least [`PAD`] bytes further.
#[derive(Debug, Default)]
pub struct ChunkBuf {
    pub bytes: Vec<u8>,
}

/// What [`ChunkSource::next_chunk`] put in a [`ChunkBuf`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Position of this chunk in the file: chunk `n` holds the rows that come
    /// after those of chunks `0..n`.
    pub seq: u64,
    /// Where the rows are in the buffer; empty if no row starts in this chunk.
    pub range: std::ops::Range<usize>,
    /// Input bytes this chunk accounts for, for progress (rows may extend
    /// past it, rows of the previous chunk may precede it).
    pub span: u64,
}

/// A supply of chunks that several threads may pull from at once.
pub trait ChunkSource: Sync {
    /// Reads the next chunk into `buf`, or returns `None` at the end.
    fn next_chunk(&self, buf: &mut ChunkBuf) -> Result<Option<Chunk>>;

    /// The number of input bytes all chunks together span, if known.
    fn total_bytes(&self) -> Option<u64>;
}
