//! From what the user named to the inputs one run reads: `--locations`
//! values may be files, folders (every `*.csv`, `*.csv.gz` and `*.csv.zst`
//! in them, sorted by name), globs, and `s3://` URLs of objects or prefixes.
//!
//! `--split I/N` cuts the inputs, taken in order as one byte sequence, into N
//! equal ranges; shard I counts the rows that start in range I. A compressed
//! file cannot be entered in the middle, so it goes whole to the shard whose
//! range holds its first byte.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::object::{LocalObject, Object};
use super::stream::Compression;
use super::{ChunkSource, RangeSource, StreamSource};
use crate::error::{Error, Result};
use crate::s3;

/// One of N shards, 0-based: `I/N` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Which shard, from 0.
    pub index: u64,
    /// Of how many.
    pub count: u64,
}

impl std::str::FromStr for Split {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Split, String> {
        let bad =
            || format!("{text:?} is not I/N with 0 <= I < N (e.g. 0/4 for the first of four)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Split { index, count })
    }
}

impl Split {
    /// This shard's part of `0..total`.
    pub fn range(&self, total: u64) -> Range<u64> {
        let at = |i: u64| (u128::from(total) * u128::from(i) / u128::from(self.count)) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// An input as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputSpec {
    /// A local path: a file, a folder or a glob.
    Local(PathBuf),
    /// An `s3://` URL of an object, or of a prefix when it ends in `/`.
    S3(String),
}

impl InputSpec {
    /// An `s3://` URL, else a local path.
    pub fn parse(text: &str) -> InputSpec {
        if text.starts_with("s3://") {
            InputSpec::S3(text.to_string())
        } else {
            InputSpec::Local(PathBuf::from(text))
        }
    }

    /// How messages name it.
    pub fn name(&self) -> String {
        match self {
            InputSpec::Local(path) => super::display_name(path),
            InputSpec::S3(url) => url.clone(),
        }
    }

    /// As [`InputSpec::parse`], for a path from the command line.
    pub fn from_path(path: &Path) -> InputSpec {
        match path.to_str() {
            Some(text) => InputSpec::parse(text),
            None => InputSpec::Local(path.to_path_buf()),
        }
    }
}

/// The files to count and, for each, the part of it this run owns.
pub struct Plan {
    /// The inputs in order, each with this run's part of it.
    pub inputs: Vec<PlannedInput>,
    /// Bytes of every listed input, before any split.
    pub listed_bytes: u64,
}

/// One input and this run's part of it.
pub struct PlannedInput {
    /// Where its bytes come from.
    pub object: Arc<dyn Object>,
    /// How it is compressed, if it is.
    pub compression: Option<Compression>,
    /// `None`: the whole file.
    pub range: Option<Range<u64>>,
}

impl PlannedInput {
    /// Opens the input for reading, checking its header.
    pub fn open(&self, chunk_size: usize) -> Result<Box<dyn ChunkSource>> {
        Ok(match self.compression {
            Some(c) => Box::new(StreamSource::open(self.object.clone(), c, chunk_size)?),
            None => Box::new(RangeSource::open(
                self.object.clone(),
                chunk_size,
                self.range.clone(),
            )?),
        })
    }
}

/// Whether a name found in a folder or under a prefix is a location file.
fn is_location_file(name: &str) -> bool {
    name.ends_with(".csv") || name.ends_with(".csv.gz") || name.ends_with(".csv.zst")
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

impl Plan {
    /// Lists every input of `specs`, in order, and keeps what `split` owns.
    pub fn new(specs: &[InputSpec], split: Option<Split>) -> Result<Plan> {
        let mut objects: Vec<Arc<dyn Object>> = Vec::new();
        for spec in specs {
            match spec {
                InputSpec::Local(path) => {
                    for path in expand_local(path)? {
                        objects.push(Arc::new(LocalObject::open(&path)?));
                    }
                }
                InputSpec::S3(url) => {
                    for object in s3::expand(url, is_location_file)? {
                        objects.push(Arc::new(object));
                    }
                }
            }
        }
        let listed_bytes: u64 = objects.iter().map(|o| o.len()).sum();
        let owned = split.map(|s| s.range(listed_bytes));
        let mut inputs = Vec::new();
        let mut offset = 0u64;
        for object in objects {
            let len = object.len();
            let compression = Compression::of(object.name());
            let at = offset;
            offset += len;
            let range = match &owned {
                None => None,
                Some(owned) => {
                    if compression.is_some() {
                        // Whole, to the shard that holds its first byte (an
                        // empty file to the shard that holds its offset).
                        if !owned.contains(&at) {
                            continue;
                        }
                        None
                    } else {
                        let start = owned.start.max(at);
                        let end = owned.end.min(at + len);
                        if start >= end {
                            continue;
                        }
                        Some(start - at..end - at)
                    }
                }
            };
            inputs.push(PlannedInput {
                object,
                compression,
                range,
            });
        }
        Ok(Plan {
            inputs,
            listed_bytes,
        })
    }
}

/// A local path as files: a file is itself; a folder is its location files,
/// sorted; a glob is its matches, sorted. A folder or glob with no location
/// file is an error, since it is almost always a mistake.
fn expand_local(path: &Path) -> Result<Vec<PathBuf>> {
    let text = path.to_string_lossy();
    let none_found = |what: &str| Error::Open {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{what} has no *.csv, *.csv.gz or *.csv.zst files"),
        ),
    };
    if is_glob(&text) && !path.exists() {
        let mut found: Vec<PathBuf> = glob::glob(&text)
            .map_err(|e| Error::Usage(format!("{text}: bad pattern: {e}")))?
            .filter_map(|entry| entry.ok())
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(none_found("the pattern"));
        }
        return Ok(found);
    }
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(is_location_file)
            })
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(none_found("the folder"));
        }
        return Ok(found);
    }
    Ok(vec![path.to_path_buf()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_parse_and_cover_everything_once() {
        assert_eq!("2/5".parse(), Ok(Split { index: 2, count: 5 }));
        assert!("5/5".parse::<Split>().is_err());
        assert!("1/0".parse::<Split>().is_err());
        assert!("1-4".parse::<Split>().is_err());
        for count in 1..9 {
            for total in [0, 1, 7, 1000, u64::MAX] {
                let mut next = 0;
                for index in 0..count {
                    let range = Split { index, count }.range(total);
                    assert_eq!(range.start, next);
                    next = range.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn folders_and_globs_list_location_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.csv.gz", "c.csv.zst", "notes.txt", "d.csv.bak"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let names = |paths: Vec<PathBuf>| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(expand_local(dir.path()).unwrap()),
            ["a.csv.gz", "b.csv", "c.csv.zst"]
        );
        let pattern = dir.path().join("*.csv*");
        assert_eq!(
            names(expand_local(&pattern).unwrap()),
            ["a.csv.gz", "b.csv", "c.csv.zst", "d.csv.bak"]
        );
        assert!(expand_local(&dir.path().join("*.json")).is_err());
        let empty = tempfile::tempdir().unwrap();
        let err = expand_local(empty.path()).unwrap_err().to_string();
        assert!(err.contains("has no *.csv"), "{err}");
    }
}
