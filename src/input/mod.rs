//! Where bytes come from: location files split into chunks of whole rows.
//!
//! [`plan`] turns what the user named (files, folders, globs, S3 URLs) into
//! a list of inputs and, with `--split I/N`, the part of each that one shard
//! counts. Each input is then read as a [`ChunkSource`]: a [`RangeSource`]
//! for plain files, which threads read in parallel at any offset, or a
//! [`StreamSource`] for compressed ones, which must be read in order.
//!
//! Scanning threads pull chunks into buffers they own and reuse, so memory
//! stays at a few chunks per thread however large the input is. Chunks carry
//! a sequence number so that the results can be put back in file order (for
//! exact line numbers) although they are scanned in parallel.
//!
//! Which row belongs to which chunk follows one rule everywhere (it is also
//! Hadoop's): a row belongs to the chunk that holds its first byte. A chunk
//! therefore skips a partial first line, and reads past its end to finish its
//! last row. A shard's byte range owns the rows whose *preceding newline* it
//! holds (the rows that start in the range shifted one byte on), so that it
//! can tell a row starts at its first byte without reading the byte before
//! it: a shard reads nothing before its range but the file's header line.

mod header;
pub mod mapping;
pub mod object;
pub mod plan;
mod range;
mod stream;

#[cfg(test)]
pub(crate) use header::HEADER_READ;
pub use header::read_header;
pub use object::{display_name, follow_links, link_hops, Identity, LocalObject, Object};
pub use plan::{InputSpec, Plan, Split};
pub use range::RangeSource;
pub use stream::StreamSource;

use crate::error::{Error, Result};
use crate::format::{self, SmallFile};
use crate::s3;

/// Reads a whole small file (region.csv, a result file), local or S3:
/// its header first, checked, then the rest, up to the file's limit.
pub fn read_small(spec: &InputSpec, kind: &SmallFile) -> Result<Vec<u8>> {
    let name = spec.name();
    let data_error = |reason: String| Error::Data {
        file: name.clone(),
        line: 1,
        reason,
    };
    let too_large = || {
        Error::Limit(format!(
            "{name}: larger than {} MiB, the most {} may be",
            kind.limit >> 20,
            kind.what
        ))
    };
    // A regular file's size, to refuse one too large once its header is
    // known good, without reading gigabytes first.
    let mut size = None;
    let mut reader: Box<dyn std::io::Read> = match spec {
        InputSpec::Local(path) => {
            let file = std::fs::File::open(path).map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
            size = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            Box::new(file)
        }
        InputSpec::S3(url) => {
            let bytes = s3::read_all(url, kind.limit)?.ok_or_else(too_large)?;
            Box::new(std::io::Cursor::new(bytes))
        }
    };
    let read_error = |source| Error::Read {
        path: name.clone().into(),
        source,
    };
    let start = header::read_start_or_empty(&mut reader, &name, read_error)?
        .ok_or_else(|| data_error(format::empty_file((!kind.headerless).then_some(kind.header))))?;
    kind.check_columns(&start.header).map_err(data_error)?;
    if size > Some(kind.limit) {
        return Err(too_large());
    }
    let mut bytes = start.bytes;
    if start.complete {
        return Ok(bytes);
    }
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut block) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        bytes.extend_from_slice(&block[..n]);
        if bytes.len() as u64 > kind.limit {
            return Err(too_large());
        }
        if n == 0 {
            return Ok(bytes);
        }
    }
}

/// Checks that `dir`, a data folder (region.csv and location.csv are read
/// from it by default), is one: a file in its place is a usage error, and
/// a folder that is not there a missing input. `called` is what the caller
/// calls it in messages (the command line's `DATA_DIR`, Python's
/// `data_dir`), rather than naming a region.csv inside it.
pub fn check_data_dir(dir: &std::path::Path, called: &str) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(Error::Usage(format!(
            "{}: is a file, but {called} is a folder holding region.csv and location.csv",
            dir.display()
        )));
    }
    Err(Error::Open {
        path: dir.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no such folder ({called} is a folder holding region.csv and location.csv)"),
        ),
    })
}

/// The names a data folder's location file may have, in the order they
/// are looked for: the file, or the same file compressed.
const DATA_DIR_LOCATIONS: [&str; 3] = ["location.csv", "location.csv.gz", "location.csv.zst"];

/// The location file of `dir`, a data folder: location.csv, else
/// location.csv.gz or location.csv.zst (the same file compressed is what a
/// user means); a missing input otherwise, whose reason the caller may
/// extend with how its users name other files. Where the folder holds
/// more than one, the one counted is said in a warning.
pub fn data_dir_locations(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    // A link to nothing is there too: counting the next name instead would
    // hide that location.csv is broken; opening it says so.
    let found: Vec<std::path::PathBuf> = DATA_DIR_LOCATIONS
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.symlink_metadata().is_ok())
        .collect();
    let Some(first) = found.first() else {
        return Err(Error::Open {
            path: dir.join(DATA_DIR_LOCATIONS[0]),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file (nor location.csv.gz or .zst)",
            ),
        });
    };
    if found.len() > 1 && first.exists() {
        let others: Vec<String> = found[1..].iter().map(|p| p.display().to_string()).collect();
        log::warn!(
            "{}: counted; the folder also holds {}, which {} not (name the files to count \
             as the location files)",
            first.display(),
            others.join(" and "),
            if others.len() == 1 { "is" } else { "are" }
        );
    }
    Ok(first.clone())
}

/// Opens a file or S3 object to read from start to end, in memory-sized
/// steps whatever its size (an S3 object by ranged GETs).
pub fn open_stream(spec: &InputSpec) -> Result<Box<dyn std::io::Read + Send>> {
    let object: std::sync::Arc<dyn Object> = match spec {
        InputSpec::Local(path) => std::sync::Arc::new(LocalObject::open(path)?),
        InputSpec::S3(url) => std::sync::Arc::new(s3::S3Object::open(url)?),
    };
    let reader = object::ObjectReader::new(object.clone(), Default::default())
        .map_err(|e| object.read_error(e))?;
    Ok(Box::new(reader))
}

/// Bytes a scanner may read past the end of a chunk's data: the fast path
/// loads a 64-byte window at every row start.
pub const PAD: usize = 64;

/// A scanning thread's reusable buffer. The chunk's rows are
/// `bytes[range]`, and `bytes` always extends at least [`PAD`] bytes further.
#[derive(Default)]
pub struct ChunkBuf {
    /// The chunk, when it was read (or decompressed).
    pub bytes: Vec<u8>,
    /// When set, the chunk is this mapping of the file instead of `bytes`.
    pub mapped: Option<mapping::Mapping>,
}

impl ChunkBuf {
    /// The chunk's bytes: the mapping if there is one, else the buffer.
    pub fn data(&self) -> &[u8] {
        match &self.mapped {
            Some(mapping) => mapping,
            None => &self.bytes,
        }
    }
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

/// What [`ChunkSource::next_chunk`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// A chunk, now in the buffer.
    Chunk(Chunk),
    /// Another thread is reading this source and only one can at a time (a
    /// compressed stream); asked not to wait, the caller may try another.
    Busy,
    /// No chunks are left.
    End,
}

/// Where a source's rows begin, for numbering their lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineOrigin {
    /// At the file's first row, on this line of the file (2 after a header
    /// line, 1 in a file without one): lines are exact.
    FirstRow(u64),
    /// A shard's rows: line 1 is the first line that starts after the first
    /// newline at or after this byte offset. The lines before it are not
    /// counted, since that would mean reading the file up to here; `merge`
    /// turns shard lines into file lines from every shard's rejects.
    AfterByte(u64),
}

impl LineOrigin {
    /// The origin of a source that starts at its file's first row.
    pub fn first_row(has_header: bool) -> LineOrigin {
        LineOrigin::FirstRow(if has_header { 2 } else { 1 })
    }
}

/// A supply of chunks that several threads may pull from at once.
pub trait ChunkSource: Sync {
    /// Reads the next chunk into `buf`. A source that one thread at a time
    /// must read answers [`Next::Busy`] instead of waiting unless `wait`.
    fn next_chunk(&self, buf: &mut ChunkBuf, wait: bool) -> Result<Next>;

    /// How many chunks the source yields in all; exact once
    /// [`ChunkSource::next_chunk`] has answered [`Next::End`].
    fn chunk_count(&self) -> u64;

    /// The number of input bytes the source accounts for, if known: what
    /// all chunks together span, and [`ChunkSource::header_bytes`].
    fn total_bytes(&self) -> Option<u64>;

    /// The bytes of the header line (with its byte order mark and line
    /// end) that this source accounts for but no chunk spans: a plain
    /// file's, for the source that holds its first row (one shard of
    /// many); 0 where the chunks span every byte (a compressed file's).
    /// The summary's "read" is the input's size, header included.
    fn header_bytes(&self) -> u64;

    /// The header line, without byte order mark or line terminator (the
    /// first row, of a file without a header row); `None` for an empty
    /// file, which has no header and no rows.
    fn header(&self) -> Option<&[u8]>;

    /// The input's name in messages.
    fn name(&self) -> &str;

    /// Where this source's first row is, for numbering lines. Answered
    /// without reading: a shard never reads before its range to count lines.
    fn line_origin(&self) -> LineOrigin;

    /// For a file read by offset: the bytes whose rows this source owns,
    /// and where the file's first row starts (just after its header). Only
    /// the GPU backend, which reads such files itself, asks.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    fn byte_rows(&self) -> Option<(std::ops::Range<u64>, u64)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_is_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        check_data_dir(dir.path(), "DATA_DIR").unwrap();
        let file = dir.path().join("location.csv");
        std::fs::write(&file, "").unwrap();
        let err = check_data_dir(&file, "data_dir").unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
        assert!(err.to_string().ends_with(
            "location.csv: is a file, but data_dir is a folder holding region.csv and location.csv"
        ));
        let err = check_data_dir(&dir.path().join("nosuch"), "DATA_DIR").unwrap_err();
        assert!(matches!(err, Error::Open { .. }), "{err}");
        assert!(err.to_string().ends_with(
            "nosuch: no such folder (DATA_DIR is a folder holding region.csv and location.csv)"
        ));
    }
}
