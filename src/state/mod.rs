//! `count --state PATH`: an append-only log recounted in the time its new
//! bytes take, with a result equal, byte for byte, to a full count.
//!
//! The state file holds, per input, where its counted bytes end (just
//! after the last complete line counted) with fingerprints of its first
//! bytes and of the bytes before that end, and the totals so far keyed like
//! the result's groups (region slot, day). A later run counts each input
//! from its old end to its last complete line, adds the old totals, and
//! writes result.csv and the new state in the same commit as every other
//! output (`count/outputs.rs`). Any change it cannot follow exactly (a file
//! cut short or rewritten, a changed compressed file) makes the run count
//! from scratch, or refuse under `--strict`.
//!
//! The format: `ECSTATE\0`, a version (u32), the payload's length (u64) and
//! CRC-32 (u32), then the payload; every number little-endian (the
//! totals' as varints, see `totals.rs`). A state is
//! only ever written whole and renamed into place, so a reader sees the
//! old one or the new one.
//!
//! The files: this one resumes a count from its state and finishes the
//! new one; `follow.rs` says what changed in each input since; `file.rs`
//! locks, encodes, reads and decodes the state file, whose numbers
//! `numbers.rs` writes and reads; `totals.rs` holds the totals.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::date::DateDict;
use crate::error::{Error, Result};
use crate::format::{self, REJECTS_HEADER};
use crate::histogram::FinalTotals;
use crate::input::{Identity, Object, Plan};
use crate::output::{Destination, PendingOutput, RejectsWriter};
use crate::regions::KeySpace;

mod file;
mod follow;
mod numbers;
#[cfg(test)]
mod tests;
mod totals;

use file::{crc, decode, file_print, lock, read, s3_url};
use follow::follow;
use totals::Totals;

const MAGIC: &[u8; 8] = b"ECSTATE\0";
/// The magic, the version, and the payload's length and CRC-32.
const HEADER: usize = 24;
// 2: the options that change counts are kept (and compared). 4: the
// totals by day blocks, each with its length. 5: each input's line count
// and the rejects file's fingerprint, for `--rejects`.
const VERSION: u32 = 5;
/// How many bytes each fingerprint covers: the first of a file, and the
/// last before its counted end (as OpenTelemetry's filelog receiver, 1 KiB).
const PRINT: u64 = 1024;
/// How far back each read looks for a file's last newline.
const TAIL_READ: u64 = 64 * 1024;

/// What `count --state` was asked.
#[derive(Clone, Debug)]
pub struct StateOptions {
    /// The state: a local file, or an `s3://` URL.
    pub path: PathBuf,
    /// Ignore the state's totals and count everything again.
    pub recount: bool,
    /// Recount without the inputs the state knows but this run does not
    /// list (else their counts stay).
    pub forget_missing: bool,
}

/// Which file an entry is: its device and inode, or its URL. A rotated
/// file keeps its identity under its new name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    Local { dev: u64, ino: u64 },
    Url(String),
}

impl Key {
    fn of(object: &dyn Object) -> Key {
        match Identity::of_object(object) {
            Identity::File { dev, ino } => Key::Local { dev, ino },
            other => Key::Url(match other {
                Identity::Object { bucket, key } => format!("s3://{bucket}/{key}"),
                _ => object.name().to_string(),
            }),
        }
    }
}

/// One input as the state knows it.
#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    name: String,
    compressed: bool,
    /// Its size when counted.
    size: u64,
    /// Just after the last complete line counted (a compressed file: its
    /// size).
    end: u64,
    /// How many lines end before `end`, the header's included: a resumed
    /// run numbers the lines of its new bytes from there.
    lines: u64,
    /// CRC-32 of its first bytes, up to [`PRINT`] and `end`.
    head: u32,
    /// CRC-32 of up to [`PRINT`] bytes before `end`.
    tail: u32,
    /// An S3 object's ETag ("" where there is none): a rewrite to the same
    /// size, which the size and fingerprints can miss, changes it.
    e_tag: String,
}

/// A state file's contents.
#[derive(Debug)]
struct State {
    /// region.csv's length and CRC-32: another region.csv refuses the state.
    regions: (u64, u32),
    /// The options that change counts (`--time-zone`, `--delimiter`, ...),
    /// as (name, value): other values refuse the state.
    options: Vec<(String, String)>,
    /// The length and CRC-32 of the rejects file the run wrote beside this
    /// state (`--rejects`); `None` when it wrote none.
    rejects: Option<(u64, u32)>,
    entries: Vec<Entry>,
    totals: Totals,
}

/// One count's use of the state: what the plan counts of each input, the
/// totals before it, and the lock that keeps a second run out.
pub struct Resumed {
    path: PathBuf,
    /// The lock of a local state; an S3 state has none (see
    /// [`Resumed::output`]).
    _lock: Option<File>,
    /// An S3 state's ETag when it was read: it is put only if still so.
    version: Option<String>,
    regions: (u64, u32),
    options: Vec<(String, String)>,
    /// The entries the new state will hold: one per planned input, in plan
    /// order, then those of inputs this run did not list.
    entries: Vec<Entry>,
    /// For each input the plan still counts (in its order), its entry and
    /// the lines before the first row counted now.
    counted: Vec<Counted>,
    /// The rejects file of the runs before, to carry into this run's, with
    /// its length and CRC-32 as the state knew it.
    carried_rejects: Option<(PathBuf, (u64, u32))>,
    before: Totals,
    /// Bytes of the inputs read now, and bytes already counted and skipped.
    pub bytes_new: u64,
    /// Bytes counted by earlier runs and not read again.
    pub bytes_skipped: u64,
}

/// One input the plan counts: which of [`Resumed::entries`] it is, and how
/// many lines of the file come before the first row it counts.
#[derive(Clone, Copy, Debug)]
struct Counted {
    entry: usize,
    lines_before: u64,
}

/// Why a file cannot be followed from where the state left it.
enum Changed {
    No,
    Yes(String),
}

/// Opens (or starts) the state of `options`, takes its lock, and sets each
/// input of `plan` to count only what is new since. `regions` is
/// region.csv's bytes; `strict` refuses a file that changed other than by
/// growing instead of counting from scratch; `rejects`: the local rejects
/// file this run writes, whose rows of earlier runs it carries over.
pub fn resume(
    options: &StateOptions,
    regions: &[u8],
    counting: &[(String, String)],
    strict: bool,
    rejects: Option<&Path>,
    plan: &mut Plan,
) -> Result<Resumed> {
    let path = &options.path;
    let remote = s3_url(path);
    let lock = match remote {
        Some(_) => None,
        None => Some(lock(path)?),
    };
    let (bytes, version) = match remote {
        Some(url) => match crate::s3::read_versioned(url)? {
            Some((bytes, e_tag)) => (Some(bytes), e_tag),
            None => (None, None),
        },
        None => (read(path)?, None),
    };
    let fingerprint = (regions.len() as u64, crc(regions));
    // --recount does not read the state at all: it may be damaged.
    let mut previous = match bytes {
        Some(bytes) if !options.recount => Some(decode(path, bytes)?),
        _ => None,
    };
    if let Some(state) = &previous {
        refuse_another_count(state, path, fingerprint, counting)?;
    }
    // The rejects file must hold every row the state's runs did not count:
    // one that is not the file the last run wrote (none then, deleted,
    // edited, another path) cannot be continued, so all is counted again.
    let mut carried_rejects = None;
    if let (Some(state), Some(rejects)) = (&previous, rejects) {
        carried_rejects = rejects_to_carry(state, rejects)?;
        if carried_rejects.is_none() {
            previous = None;
        }
    }
    loop {
        match follow(previous.as_ref(), options, strict, plan)? {
            Some(followed) => {
                return Ok(Resumed {
                    path: path.clone(),
                    _lock: lock,
                    version,
                    regions: fingerprint,
                    options: counting.to_vec(),
                    entries: followed.entries,
                    counted: followed.counted,
                    // Counted from scratch: the old rows are written anew.
                    carried_rejects: carried_rejects.filter(|_| previous.is_some()),
                    before: previous.map(|s| s.totals).unwrap_or_default(),
                    bytes_new: followed.new,
                    bytes_skipped: followed.skipped,
                });
            }
            // Something changed that cannot be followed: from scratch.
            None => previous = None,
        }
    }
}

/// Fails unless the state was counted against the same region.csv
/// (`fingerprint`: its length and CRC-32) and with the same reading
/// options (`counting`) as this run: its totals could not be added to.
fn refuse_another_count(
    state: &State,
    path: &Path,
    fingerprint: (u64, u32),
    counting: &[(String, String)],
) -> Result<()> {
    if state.regions != fingerprint {
        return Err(Error::Usage(format!(
            "{}: the state was written with another region.csv ({} bytes, CRC-32 {:08x}; \
             this one: {} bytes, {:08x}); --recount counts from scratch with this one",
            path.display(),
            state.regions.0,
            state.regions.1,
            fingerprint.0,
            fingerprint.1
        )));
    }
    let differs = counting
        .iter()
        .find(|pair| !state.options.contains(pair))
        .map(|(name, now)| {
            let then = state.options.iter().find(|(n, _)| n == name);
            (
                then.map_or("nothing".into(), |(_, v)| format::option_text(name, v)),
                format::option_text(name, now),
            )
        });
    if let Some((then, now)) = differs {
        return Err(Error::Usage(format!(
            "{}: the state was counted with {then}, and this run has {now}; --recount counts \
             from scratch with this run's options",
            path.display()
        )));
    }
    Ok(())
}

/// The rejects file to carry on, with its print: it must hold every row
/// the state's runs did not count, so one that is not the file the last
/// run wrote (none then, deleted, edited, another path) cannot be
/// continued; `None` then, and all is counted again.
fn rejects_to_carry(state: &State, rejects: &Path) -> Result<Option<(PathBuf, (u64, u32))>> {
    let now = file_print(rejects)?;
    match (state.rejects, now) {
        (Some(then), Some(now)) if then == now => Ok(Some((rejects.to_path_buf(), then))),
        (then, _) => {
            log::warn!(
                "{}: {}: counting every input from scratch, so that it holds every row \
                 not counted",
                rejects.display(),
                if then.is_none() {
                    "the state's last run wrote no rejects file"
                } else {
                    "not the rejects file the state's last run wrote"
                }
            );
            Ok(None)
        }
    }
}

impl Resumed {
    /// Where the new state goes, to commit with the other outputs: a local
    /// file renamed into place, or an object put only if it is still the
    /// version this run read (none: only if there is still none). S3 has
    /// no lock, so of two runs on one state at once the second to commit
    /// fails instead of putting its state over the first's.
    pub fn output(&self) -> Result<PendingOutput> {
        match s3_url(&self.path) {
            Some(url) => Ok(PendingOutput::versioned(url, self.version.clone())),
            None => PendingOutput::create(&Destination::File(self.path.clone())),
        }
    }

    /// For each input of the plan, how many lines of its file come before
    /// the first row this run counts: its rows' lines are numbered from
    /// there, as in a full count.
    pub fn lines_before(&self) -> Vec<u64> {
        self.counted.iter().map(|c| c.lines_before).collect()
    }

    /// Copies the rows of the earlier runs' rejects file into this run's
    /// (whose header is written), before any new row: the file is then
    /// every row not counted since the state began. Fails if the old file
    /// changed since [`resume`] checked it.
    pub fn carry_rejects(&self, rejects: &mut RejectsWriter) -> Result<()> {
        let Some((path, then)) = &self.carried_rejects else {
            return Ok(());
        };
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let rows = bytes.strip_prefix(REJECTS_HEADER);
        match rows {
            Some(rows) if (bytes.len() as u64, crc(&bytes)) == *then => rejects.append_rows(rows),
            _ => Err(Error::Usage(format!(
                "{}: the rejects file changed while the run started; run again",
                path.display()
            ))),
        }
    }

    /// Adds the totals before this run to this run's `totals` (whose keys
    /// are `keys` over `dates`), and encodes the new state. Interns the
    /// old totals' dates in `dates`. `lines`: each input's lines up to where
    /// this run counted it; `rejects`: the length and CRC-32 of the
    /// rejects file it wrote, if any.
    pub fn finish(
        mut self,
        totals: FinalTotals,
        keys: KeySpace,
        dates: &DateDict,
        lines: &[u64],
        rejects: Option<(u64, u32)>,
    ) -> Result<(FinalTotals, Vec<u8>)> {
        for (counted, &lines) in self.counted.iter().zip(lines) {
            self.entries[counted.entry].lines = lines;
        }
        let (sum, totals) = totals::add_up(&self.path, &self.before, totals, keys, dates)?;
        let state = State {
            regions: self.regions,
            options: self.options,
            rejects,
            entries: self.entries,
            totals,
        };
        Ok((sum, state.encode()))
    }
}
