//! From what the user named to the inputs one run reads: `--locations`
//! values may be files, folders (every `*.csv`, `*.csv.gz` and `*.csv.zst`
//! in them, sorted by name), globs, and `s3://` URLs of objects or prefixes.
//!
//! `--split I/N` cuts the inputs, taken in order as one byte sequence, into N
//! equal ranges; shard I counts the rows whose preceding newline is in range
//! I (see [`RangeSource::open_part`]). A compressed file cannot be entered
//! in the middle, so it goes whole to the shard whose range holds its first
//! byte.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::object::{display_name, Identity, LocalObject, Object};
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
    /// An `s3://` URL, `-` for standard input, else a local path.
    pub fn parse(text: &str) -> InputSpec {
        if text == "-" {
            // A pipe is read as a stream, a redirected file by offsets.
            InputSpec::Local(PathBuf::from("/dev/stdin"))
        } else if text.starts_with("s3://") {
            InputSpec::S3(text.to_string())
        } else {
            InputSpec::Local(PathBuf::from(text))
        }
    }

    /// How messages name it.
    pub fn name(&self) -> String {
        match self {
            InputSpec::Local(path) => display_name(path),
            InputSpec::S3(url) => url.clone(),
        }
    }

    /// What it names, so that two spellings of one file or object compare
    /// equal.
    pub fn identity(&self) -> Identity {
        match self {
            InputSpec::Local(path) => Identity::of_path(path),
            InputSpec::S3(url) => Identity::of_url(url),
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
    /// Every input listed, before any split, in order (what a shard's
    /// manifest says it is a part of).
    pub listed: Vec<Arc<dyn Object>>,
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
    /// Opens the input for reading, checking its header. `maps`: whether
    /// a local file's chunks may be views of it mapped (else `pread`).
    pub fn open(
        &self,
        chunk_size: usize,
        maps: bool,
        has_header: bool,
    ) -> Result<Box<dyn ChunkSource>> {
        let object = self.object.clone();
        Ok(if self.compression.is_some() || object.is_pipe() {
            Box::new(StreamSource::open(
                object,
                self.compression,
                chunk_size,
                has_header,
            )?)
        } else {
            let source = match &self.range {
                Some(part) => RangeSource::open_part(object, chunk_size, part.clone(), has_header)?,
                None => RangeSource::open(object, chunk_size, None, has_header)?,
            };
            Box::new(if maps { source } else { source.read_only() })
        })
    }

    /// Whether it must be read whole, from start to end.
    fn whole(&self) -> bool {
        self.compression.is_some() || self.object.is_pipe()
    }
}

/// Whether a name found in a folder or under a prefix is a location file.
/// Names are compared as bytes: a name that is not UTF-8 is a file too.
fn is_location_file(name: &[u8]) -> bool {
    [&b".csv"[..], b".csv.gz", b".csv.zst"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// Whether a name in a folder (or pattern) given to `--locations` is one of the files a
/// data folder holds that are not locations: `count DIR` reads DIR's
/// region.csv and writes result.csv there (and the README's rejects.csv),
/// so `--locations DIR` on such a folder must not count them as rows.
fn is_data_dir_file(name: &[u8]) -> bool {
    ["region", "result", "rejects"].iter().any(|stem| {
        name.strip_prefix(stem.as_bytes())
            .is_some_and(|rest| [&b".csv"[..], b".csv.gz", b".csv.zst"].contains(&rest))
    })
}

/// The last `/`-separated part of an S3 key or URL: its file name.
fn last_segment(name: &str) -> &[u8] {
    name.rsplit('/').next().unwrap_or(name).as_bytes()
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

impl Plan {
    /// Lists every input of `specs`, in order, and keeps what `split` owns.
    pub fn new(specs: &[InputSpec], split: Option<Split>) -> Result<Plan> {
        let mut objects: Vec<(Arc<dyn Object>, &InputSpec)> = Vec::new();
        for spec in specs {
            match spec {
                InputSpec::Local(path) => {
                    for path in expand_local(path)? {
                        if split.is_some() && is_fifo(&path) {
                            // Said before opening it, which waits for a writer.
                            return Err(cannot_split_pipe(&path.display().to_string()));
                        }
                        objects.push((Arc::new(LocalObject::open(&path)?), spec));
                    }
                }
                InputSpec::S3(url) => {
                    // A prefix is a folder: it leaves out what a data
                    // folder holds besides its locations, as one does
                    // (its region.csv failed the count; its result.csv
                    // was counted as rows by the next run).
                    let found = leave_out_data_dir_files(
                        url,
                        s3::expand(url, |key| is_location_file(key.as_bytes()))?,
                        |object| last_segment(object.name()),
                        |object| object.name().to_string(),
                    );
                    if found.is_empty() {
                        return Err(Error::Open {
                            path: url.into(),
                            source: std::io::Error::new(
                                std::io::ErrorKind::NotFound,
                                "no location objects under this prefix, only what a data folder \
                                 holds besides them",
                            ),
                        });
                    }
                    for object in found {
                        objects.push((Arc::new(object), spec));
                    }
                }
            }
        }
        refuse_twice_named(&objects)?;
        let listed_bytes: u64 = objects.iter().map(|(o, _)| o.len()).sum();
        let owned = split.map(|s| (s, s.range(listed_bytes)));
        let listed = objects.iter().map(|(o, _)| o.clone()).collect();
        let mut inputs = Vec::new();
        let mut offset = 0u64;
        for (object, _) in objects {
            let len = object.len();
            let input = PlannedInput {
                compression: Compression::of(object.name()),
                object,
                range: None,
            };
            let at = offset;
            offset += len;
            let Some((split, owned)) = &owned else {
                inputs.push(input);
                continue;
            };
            if input.object.is_pipe() {
                return Err(cannot_split_pipe(input.object.name()));
            }
            if input.whole() {
                // Whole, to the shard whose range holds its first byte; one
                // that starts at the very end (empty) to the last shard.
                let last = split.index + 1 == split.count;
                if owned.contains(&at) || (last && at == listed_bytes) {
                    inputs.push(input);
                }
                continue;
            }
            let start = owned.start.max(at);
            let end = owned.end.min(at + len);
            if start < end {
                inputs.push(PlannedInput {
                    range: Some(start - at..end - at),
                    ..input
                });
            }
        }
        Ok(Plan {
            inputs,
            listed_bytes,
            listed,
        })
    }
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

fn cannot_split_pipe(name: &str) -> Error {
    Error::Usage(format!(
        "{name}: a pipe is read once, from start to end: it cannot be split into shards"
    ))
}

/// Refuses an input that two arguments name (a folder and a glob over it,
/// say): counting it twice would double its rows without a word.
fn refuse_twice_named(objects: &[(Arc<dyn Object>, &InputSpec)]) -> Result<()> {
    // One pass with a set: a folder of 100,000 files sets up in seconds.
    let mut seen: HashMap<Identity, usize> = HashMap::with_capacity(objects.len());
    for (i, (object, spec)) in objects.iter().enumerate() {
        let identity = Identity::of_object(object.as_ref());
        let Some(&earlier) = seen.get(&identity) else {
            seen.insert(identity, i);
            continue;
        };
        let (other, other_spec) = &objects[earlier];
        let by = if spec == other_spec {
            format!("{} names it twice", spec.name())
        } else {
            format!("both {} and {} name it", other_spec.name(), spec.name())
        };
        return Err(Error::Usage(format!(
            "{}: {by}; each input is counted once, so name it once ({} is the same file)",
            object.name(),
            other.name()
        )));
    }
    Ok(())
}

/// `found`, the entries of a folder, the matches of a pattern or the
/// objects under an S3 prefix (`what`, as the warning names it), but the
/// files a data folder holds besides its locations ([`is_data_dir_file`]
/// of each one's `file_name`), which a warning names by `shown`:
/// `--locations 'data/*.csv'` or `s3://b/data/` must not count
/// `data/region.csv` as rows, any more than `--locations data` does.
fn leave_out_data_dir_files<T>(
    what: &str,
    found: Vec<T>,
    file_name: fn(&T) -> &[u8],
    shown: fn(&T) -> String,
) -> Vec<T> {
    let (not_data, found): (Vec<T>, Vec<T>) = found
        .into_iter()
        .partition(|item| is_data_dir_file(file_name(item)));
    if !not_data.is_empty() {
        let mut names: Vec<String> = not_data.iter().map(shown).collect();
        names.sort();
        log::warn!(
            "{what}: not counted as location data, being what a data folder holds besides its \
             locations (regions, results, rejects): {}",
            names.join(", ")
        );
    }
    found
}

/// [`leave_out_data_dir_files`] of local paths under `path`.
fn leave_out_local_data_dir_files(path: &Path, found: Vec<PathBuf>) -> Vec<PathBuf> {
    leave_out_data_dir_files(
        &display_name(path),
        found,
        |p| p.file_name().map_or(&b""[..], |n| n.as_encoded_bytes()),
        |p| display_name(p),
    )
}

/// A local path as files: a file is itself; a folder is its location files,
/// sorted; a glob is the location files it matches, sorted. Folders and
/// globs follow one rule: names are bytes (a name that is not UTF-8 is a
/// file like any other), only `*.csv`, `*.csv.gz` and `*.csv.zst` files are
/// taken, and the others are named in a warning, never skipped silently. A
/// folder or glob with no location file is an error, since it is almost
/// always a mistake, and so is an entry that cannot be read: its rows would
/// be missing without a word.
fn expand_local(path: &Path) -> Result<Vec<PathBuf>> {
    let text = path.to_string_lossy();
    let unreadable = |path: PathBuf, source| Error::Open { path, source };
    let (what, matches) = if is_glob(&text) && !path.exists() {
        ("the pattern", leave_out_local_data_dir_files(path, glob_matches(path)?))
    } else if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| unreadable(path.to_path_buf(), e))?;
        let mut found = Vec::new();
        for entry in entries {
            found.push(entry.map_err(|e| unreadable(path.to_path_buf(), e))?.path());
        }
        ("the folder", leave_out_local_data_dir_files(path, found))
    } else {
        return Ok(vec![path.to_path_buf()]);
    };
    let named = |p: &PathBuf| is_location_file(p.file_name().map_or(b"", |n| n.as_encoded_bytes()));
    // A folder named `x.csv`, or a link to nothing, is no file: said, since
    // its name says it was meant to be counted.
    let (files, not_files): (Vec<PathBuf>, Vec<PathBuf>) =
        matches.into_iter().partition(|p| p.is_file());
    let not_files: Vec<PathBuf> = not_files.into_iter().filter(named).collect();
    if !not_files.is_empty() {
        let names: Vec<String> = not_files.iter().take(3).map(|p| display_name(p)).collect();
        log::warn!(
            "{}: {} not counted, not a file (a folder, or a link to nothing): {}{}",
            display_name(path),
            if not_files.len() == 1 {
                "1 entry".to_string()
            } else {
                format!("{} entries", not_files.len())
            },
            names.join(", "),
            if not_files.len() > 3 { ", ..." } else { "" }
        );
    }
    let (mut found, skipped): (Vec<PathBuf>, Vec<PathBuf>) = files.into_iter().partition(named);
    found.sort();
    if !skipped.is_empty() {
        let names: Vec<String> = skipped.iter().take(3).map(|p| display_name(p)).collect();
        log::warn!(
            "{}: {} file{} not counted, not named *.csv, *.csv.gz or *.csv.zst: {}{}",
            display_name(path),
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" },
            names.join(", "),
            if skipped.len() > 3 { ", ..." } else { "" }
        );
    }
    if found.is_empty() {
        return Err(Error::Open {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{what} has no *.csv, *.csv.gz or *.csv.zst files"),
            ),
        });
    }
    Ok(found)
}

/// Every path that `pattern` matches (`*`, `?`, `[...]` within a name,
/// `**` for any depth of folders), found a folder at a time and matched on
/// the names' bytes, so that no name is skipped for not being UTF-8 (as the
/// `glob` crate does, silently).
fn glob_matches(pattern: &Path) -> Result<Vec<PathBuf>> {
    use std::path::Component;
    let bad =
        |e: globset::Error| Error::Usage(format!("{}: bad pattern: {e}", display_name(pattern)));
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str();
        let text = part.to_string_lossy();
        // globset takes patterns as text: a part with wildcards whose bytes
        // are not UTF-8 would match nothing, silently, so it is refused. (A
        // part without wildcards is joined as it is, bytes and all.)
        if part.to_str().is_none() && is_glob(&text) {
            return Err(Error::Usage(format!(
                "{}: a part of a pattern with wildcards (*, ?, [) must be UTF-8; \
                 \"{}\" is not (name such files without wildcards, or by their folder)",
                display_name(pattern),
                text
            )));
        }
        let mut next = Vec::new();
        if !matches!(component, Component::Normal(_)) || !is_glob(&text) {
            next.extend(found.iter().map(|dir| dir.join(part)));
        } else if text == "**" {
            for dir in &found {
                folders_below(dir, &mut next)?;
            }
        } else {
            let matcher = globset::GlobBuilder::new(&text)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(bad)?
                .compile_matcher();
            for dir in &found {
                // A part of the pattern that is not a folder matches nothing.
                let Ok(entries) = std::fs::read_dir(listed(dir)) else {
                    continue;
                };
                for entry in entries {
                    let entry = entry.map_err(|source| Error::Open {
                        path: dir.clone(),
                        source,
                    })?;
                    let name = entry.file_name();
                    if matcher.is_match(Path::new(&name)) {
                        next.push(dir.join(name));
                    }
                }
            }
        }
        found = next;
    }
    // `d/**` ends in folders: it means the files in them, as `d/**/*`.
    if pattern.file_name().is_some_and(|last| last == "**") {
        let mut files = Vec::new();
        for dir in &found {
            let unreadable = |source| Error::Open {
                path: listed(dir).to_path_buf(),
                source,
            };
            for entry in std::fs::read_dir(listed(dir)).map_err(unreadable)? {
                let entry = entry.map_err(unreadable)?;
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    files.push(dir.join(entry.file_name()));
                }
            }
        }
        found = files;
    }
    // (`symlink_metadata`: a link to nothing is kept, to be named.)
    Ok(found
        .into_iter()
        .filter(|p| !p.as_os_str().is_empty() && std::fs::symlink_metadata(p).is_ok())
        .collect())
}

/// The folder to list for `dir`, a prefix of a pattern: `.` for none.
fn listed(dir: &Path) -> &Path {
    if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }
}

/// `dir` and every folder below it, for `**` (links to folders are not
/// followed, so a loop of links cannot make the walk endless).
fn folders_below(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    out.push(dir.to_path_buf());
    let unreadable = |source| Error::Open {
        path: listed(dir).to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(listed(dir)).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            folders_below(&dir.join(entry.file_name()), out)?;
        }
    }
    Ok(())
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
        // A glob takes what a folder does: d.csv.bak is matched, not taken.
        let pattern = dir.path().join("*.csv*");
        assert_eq!(
            names(expand_local(&pattern).unwrap()),
            ["a.csv.gz", "b.csv", "c.csv.zst"]
        );
        assert!(expand_local(&dir.path().join("*.json")).is_err());
        // Names are bytes, in folders and globs alike (issue 19: a glob
        // skipped these without a word).
        use std::os::unix::ffi::OsStrExt;
        let odd = tempfile::tempdir().unwrap();
        for name in [&b"caf\xe9.csv"[..], b"ok.csv", b"\xff.csv.gz", b"notes.txt"] {
            std::fs::write(odd.path().join(std::ffi::OsStr::from_bytes(name)), "x").unwrap();
        }
        let count = |p: &Path| expand_local(p).unwrap().len();
        assert_eq!(count(odd.path()), 3);
        assert_eq!(count(&odd.path().join("*")), 3);
        assert_eq!(count(&odd.path().join("*.csv")), 2);
        assert_eq!(count(&odd.path().join("**").join("*.csv*")), 3);
        let empty = tempfile::tempdir().unwrap();
        let err = expand_local(empty.path()).unwrap_err().to_string();
        assert!(err.contains("has no *.csv"), "{err}");
    }
}
