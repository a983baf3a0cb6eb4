//! The state file itself: its lock, its encoding (a checked header, then
//! varints), and reading and decoding it back.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::numbers::{put_text, Reader};
use super::totals::Totals;
use super::{Entry, Key, State, HEADER, MAGIC, VERSION};
use crate::error::{Error, Result};

/// Keeps a second run off the same state: an exclusive `flock` on
/// `PATH.lock`, held until the run ends (the kernel drops it if the
/// process dies).
pub(super) fn lock(path: &Path) -> Result<File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| Error::Open {
            path: lock_path.clone(),
            source,
        })?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |_| {
            Error::Usage(format!(
                "{}: another count is using this state now; wait for it to end",
                path.display()
            ))
        },
    )?;
    Ok(file)
}

impl State {
    pub(super) fn encode(&self) -> Vec<u8> {
        // The header, its payload's length and CRC-32 filled in at the end:
        // the totals are most of the payload, and copied once.
        let blocks = self.totals.blocks();
        let mut p = Vec::with_capacity(HEADER + 4096 + blocks.len());
        p.extend(MAGIC);
        p.extend(VERSION.to_le_bytes());
        p.extend([0; 12]);
        p.extend(self.regions.0.to_le_bytes());
        p.extend(self.regions.1.to_le_bytes());
        p.extend((self.options.len() as u64).to_le_bytes());
        for (name, value) in &self.options {
            put_text(&mut p, name);
            put_text(&mut p, value);
        }
        match self.rejects {
            None => p.push(0),
            Some((len, sum)) => {
                p.push(1);
                p.extend(len.to_le_bytes());
                p.extend(sum.to_le_bytes());
            }
        }
        p.extend((self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            match &e.key {
                Key::Local { dev, ino } => {
                    p.push(0);
                    p.extend(dev.to_le_bytes());
                    p.extend(ino.to_le_bytes());
                }
                Key::Url(url) => {
                    p.push(1);
                    put_text(&mut p, url);
                }
            }
            put_text(&mut p, &e.name);
            p.push(e.compressed as u8);
            for n in [e.size, e.end, e.lines] {
                p.extend(n.to_le_bytes());
            }
            p.extend(e.head.to_le_bytes());
            p.extend(e.tail.to_le_bytes());
            put_text(&mut p, &e.e_tag);
        }
        // The totals last: their day blocks run to the payload's end.
        p.extend(self.totals.groups.to_le_bytes());
        p.extend(self.totals.days.to_le_bytes());
        p.extend(blocks);
        let len = (p.len() - HEADER) as u64;
        let sum = crc(&p[HEADER..]);
        p[12..20].copy_from_slice(&len.to_le_bytes());
        p[20..24].copy_from_slice(&sum.to_le_bytes());
        p
    }

    /// Reads a state from its file's `bytes`, which its totals keep.
    pub(super) fn decode(bytes: Vec<u8>) -> std::result::Result<State, String> {
        let mut r = Reader(&bytes);
        if r.take(8)? != MAGIC {
            return Err("not a state file of event-counter".into());
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(format!(
                "a state of format version {version}; this event-counter reads version {VERSION}"
            ));
        }
        let len = r.u64()?;
        let sum = r.u32()?;
        let payload = r.take(len as usize)?;
        if crc(payload) != sum || !r.0.is_empty() {
            return Err("its checksum does not match: the file is damaged".into());
        }
        let mut r = Reader(payload);
        let regions = (r.u64()?, r.u32()?);
        let mut options = Vec::new();
        for _ in 0..r.u64()? {
            options.push((r.text()?, r.text()?));
        }
        let rejects = match r.take(1)?[0] {
            0 => None,
            _ => Some((r.u64()?, r.u32()?)),
        };
        let n = r.u64()?;
        let mut entries = Vec::new();
        for _ in 0..n {
            let key = match r.take(1)?[0] {
                0 => Key::Local {
                    dev: r.u64()?,
                    ino: r.u64()?,
                },
                _ => Key::Url(r.text()?),
            };
            entries.push(Entry {
                key,
                name: r.text()?,
                compressed: r.take(1)?[0] != 0,
                size: r.u64()?,
                end: r.u64()?,
                lines: r.u64()?,
                head: r.u32()?,
                tail: r.u32()?,
                e_tag: r.text()?,
            });
        }
        // Decoded when the count finishes (see `totals.rs`).
        let (groups, days) = (r.u64()?, r.u64()?);
        let start = bytes.len() - r.0.len();
        let totals = Totals {
            groups,
            days,
            bytes,
            start,
        };
        Ok(State {
            regions,
            options,
            rejects,
            entries,
            totals,
        })
    }
}

/// The length and CRC-32 of the file at `path`; `None` when there is none.
pub(super) fn file_print(path: &Path) -> Result<Option<(u64, u32)>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some((bytes.len() as u64, crc(&bytes)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The state's `s3://` URL, when it is an object.
pub(super) fn s3_url(path: &Path) -> Option<&str> {
    path.to_str().filter(|p| p.starts_with("s3://"))
}

/// The bytes of the local state at `path`; `None` when there is none yet.
pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Open {
                path: path.to_path_buf(),
                source,
            })
        }
        Ok(mut file) => file.read_to_end(&mut bytes).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?,
    };
    Ok(Some(bytes))
}

/// The state in `bytes`, read from `path`.
pub(super) fn decode(path: &Path, bytes: Vec<u8>) -> Result<State> {
    State::decode(bytes).map_err(|why| {
        Error::Usage(format!(
            "{}: {why}; --recount counts from scratch and writes a new state",
            path.display()
        ))
    })
}

/// The CRC-32 of `bytes`, the state's checksum and its inputs' prints.
pub(super) fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
