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

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::date::DateDict;
use crate::error::{Error, Result};
use crate::format::REJECTS_HEADER;
use crate::histogram::FinalTotals;
use crate::input::{Identity, Object, Plan};
use crate::output::{Destination, PendingOutput, RejectsWriter};
use crate::regions::KeySpace;

mod totals;
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
                (name, now, then.map_or("nothing", |(_, v)| v.as_str()))
            });
        if let Some((name, now, then)) = differs {
            return Err(Error::Usage(format!(
                "{}: the state was counted with {name} {then}, and this run has {now}; \
                 --recount counts from scratch with this run's options",
                path.display()
            )));
        }
    }
    // The rejects file must hold every row the state's runs did not count:
    // one that is not the file the last run wrote (none then, deleted,
    // edited, another path) cannot be continued, so all is counted again.
    let mut carried_rejects = None;
    if let (Some(state), Some(rejects)) = (&previous, rejects) {
        let now = file_print(rejects)?;
        match (state.rejects, now) {
            (Some(then), Some(now)) if then == now => {
                carried_rejects = Some((rejects.to_path_buf(), then))
            }
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
                previous = None;
            }
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

/// What [`follow`] planned: the new state's entries, and the bytes new
/// and skipped.
struct Followed {
    entries: Vec<Entry>,
    counted: Vec<Counted>,
    new: u64,
    skipped: u64,
}

/// Plans this run against `previous`; `None` when the run must count from
/// scratch instead.
fn follow(
    previous: Option<&State>,
    options: &StateOptions,
    strict: bool,
    plan: &mut Plan,
) -> Result<Option<Followed>> {
    let known: &[Entry] = previous.map_or(&[], |s| &s.entries);
    let mut entries = Vec::new();
    let mut seen = vec![false; known.len()];
    let (mut new, mut skipped) = (0u64, 0u64);
    let mut keep = Vec::new();
    let mut froms = Vec::new();
    let mut lines_before = Vec::new();
    for input in &plan.inputs {
        let object = input.object.as_ref();
        if object.is_pipe() {
            return Err(Error::Usage(format!(
                "{}: a pipe cannot be followed with --state: its bytes are gone once read",
                object.name()
            )));
        }
        let key = Key::of(object);
        let compressed = input.compression.is_some();
        let size = object.len();
        let old = known
            .iter()
            .position(|e| e.key == key && e.compressed == compressed);
        let from = match old {
            None => 0,
            Some(i) => {
                seen[i] = true;
                let e = &known[i];
                match changed(object, e)? {
                    Changed::No => e.end,
                    Changed::Yes(why) => {
                        let why = format!("{}: {why} since the state was written", object.name());
                        if strict {
                            return Err(Error::Usage(format!(
                                "{why}; refused under --strict (--recount counts from scratch)"
                            )));
                        }
                        log::warn!("{why}: counting every input from scratch");
                        plan_whole(plan);
                        return Ok(None);
                    }
                }
            }
        };
        let lines_before_now = match old {
            Some(i) if from > 0 => known[i].lines,
            // The header.
            _ => 1,
        };
        let end = if compressed {
            size
        } else {
            let end = last_line_end(object, from, size)?;
            if end < size {
                log::info!(
                    "{}: the last {} bytes are a line without its newline yet: counted once it ends",
                    object.name(),
                    size - end
                );
            }
            end
        };
        froms.push(from);
        lines_before.push(lines_before_now);
        // A compressed file the state has counted, unchanged: nothing to read.
        keep.push(!(compressed && old.is_some()));
        if compressed && old.is_some() {
            skipped += size;
        } else {
            new += end - from;
            skipped += from;
        }
        entries.push(Entry {
            key,
            name: object.name().to_string(),
            compressed,
            size,
            end,
            // This run's lines are added in [`Resumed::finish`].
            lines: match old {
                Some(i) if compressed => known[i].lines,
                _ => lines_before_now,
            },
            head: crc_at(object, 0..end.min(PRINT))?,
            tail: crc_at(object, end.saturating_sub(PRINT)..end)?,
            e_tag: object.e_tag().unwrap_or_default().to_string(),
        });
    }
    let missing: Vec<&Entry> = known
        .iter()
        .zip(&seen)
        .filter(|(_, seen)| !**seen)
        .map(|(e, _)| e)
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|e| e.name.as_str()).collect();
        if options.forget_missing {
            log::warn!(
                "{} not among the inputs any more: counting from scratch without {} (--forget-missing)",
                names.join(", "),
                if names.len() == 1 { "it" } else { "them" }
            );
            plan_whole(plan);
            return Ok(None);
        }
        log::warn!(
            "{} not among the inputs any more: {} counts stay in the result \
             (--forget-missing drops them)",
            names.join(", "),
            if names.len() == 1 { "its" } else { "their" }
        );
        entries.extend(missing.into_iter().cloned());
    }
    // Each plain input counts the rows that start in [from, end): as a
    // shard part, the rows whose preceding newline is in [from-1, end-1).
    for ((input, entry), from) in plan.inputs.iter_mut().zip(&entries).zip(froms) {
        if input.compression.is_none() {
            input.range = Some(from.saturating_sub(1)..entry.end.saturating_sub(1));
        }
    }
    let counted = keep
        .iter()
        .zip(lines_before)
        .enumerate()
        .filter(|(_, (keep, _))| **keep)
        .map(|(entry, (_, lines_before))| Counted {
            entry,
            lines_before,
        })
        .collect();
    let mut keep = keep.into_iter();
    plan.inputs.retain(|_| keep.next().unwrap_or(true));
    Ok(Some(Followed {
        entries,
        counted,
        new,
        skipped,
    }))
}

/// Sets every input to be counted whole (undoing a partial [`follow`]).
fn plan_whole(plan: &mut Plan) {
    for input in &mut plan.inputs {
        input.range = None;
    }
}

/// Whether `object` still starts and continues as `entry` saw it.
fn changed(object: &dyn Object, entry: &Entry) -> Result<Changed> {
    let size = object.len();
    if entry.compressed && size != entry.size {
        return Ok(Changed::Yes(format!(
            "a compressed file changed size ({} bytes, now {size})",
            entry.size
        )));
    }
    let e_tag = object.e_tag().unwrap_or_default();
    // An object is rewritten whole, so a new ETag at the old size is new
    // bytes in place of counted ones; a larger object may be an append,
    // which the fingerprints below judge.
    if size == entry.size && !e_tag.is_empty() && e_tag != entry.e_tag {
        return Ok(Changed::Yes(format!(
            "the object was rewritten to the same size (ETag {}, now {e_tag})",
            entry.e_tag
        )));
    }
    if size < entry.end {
        return Ok(Changed::Yes(format!(
            "the file was cut short ({} bytes counted, now {size})",
            entry.end
        )));
    }
    let (head, tail) = (
        crc_at(object, 0..entry.end.min(PRINT))?,
        crc_at(object, entry.end.saturating_sub(PRINT)..entry.end)?,
    );
    Ok(if head != entry.head || tail != entry.tail {
        Changed::Yes("the file was rewritten (its counted bytes differ)".into())
    } else {
        Changed::No
    })
}

/// Just after the last newline of `object` at or after `from` (before
/// `size`), else `from`.
fn last_line_end(object: &dyn Object, from: u64, size: u64) -> Result<u64> {
    let mut end = size;
    let mut buf = Vec::new();
    while end > from {
        let start = end.saturating_sub(TAIL_READ).max(from);
        buf.resize((end - start) as usize, 0);
        object.read_exact_at(&mut buf, start)?;
        if let Some(i) = memchr::memrchr(b'\n', &buf) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(from)
}

fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

fn crc_at(object: &dyn Object, range: std::ops::Range<u64>) -> Result<u32> {
    let mut buf = vec![0; (range.end - range.start) as usize];
    object.read_exact_at(&mut buf, range.start)?;
    Ok(crc(&buf))
}

/// Keeps a second run off the same state: an exclusive `flock` on
/// `PATH.lock`, held until the run ends (the kernel drops it if the
/// process dies).
fn lock(path: &Path) -> Result<File> {
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

impl State {
    fn encode(&self) -> Vec<u8> {
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
    fn decode(bytes: Vec<u8>) -> std::result::Result<State, String> {
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

fn zigzag(n: i32) -> u64 {
    u64::from(((n << 1) ^ (n >> 31)) as u32)
}

fn unzigzag(n: u64) -> Option<i32> {
    let n = u32::try_from(n).ok()?;
    Some(((n >> 1) as i32) ^ -((n & 1) as i32))
}

/// LEB128: seven bits a byte, the high bit set on all but the last.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(text.as_bytes());
}

/// Reads the state's little-endian fields in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("it ends too soon: the file is damaged".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn varint(&mut self) -> std::result::Result<u64, String> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            n |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(n);
            }
        }
        Err("a number is too long: the file is damaged".into())
    }
    fn text(&mut self) -> std::result::Result<String, String> {
        let n = self.u32()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

/// The length and CRC-32 of the file at `path`; `None` when there is none.
fn file_print(path: &Path) -> Result<Option<(u64, u32)>> {
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
fn s3_url(path: &Path) -> Option<&str> {
    path.to_str().filter(|p| p.starts_with("s3://"))
}

/// The bytes of the local state at `path`; `None` when there is none yet.
fn read(path: &Path) -> Result<Option<Vec<u8>>> {
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
fn decode(path: &Path, bytes: Vec<u8>) -> Result<State> {
    State::decode(bytes).map_err(|why| {
        Error::Usage(format!(
            "{}: {why}; --recount counts from scratch and writes a new state",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reads_back_and_a_damaged_one_is_refused() {
        let state = State {
            regions: (12, 34),
            options: vec![("time_zone".into(), "UTC".into())],
            rejects: Some((7, 8)),
            entries: vec![Entry {
                key: Key::Local { dev: 1, ino: 2 },
                name: "a.csv".into(),
                compressed: false,
                size: 100,
                end: 90,
                lines: 4,
                head: 5,
                tail: 6,
                e_tag: "\"abc\"".into(),
            }],
            totals: Totals::of([
                totals::Group {
                    slot: 3,
                    day: -4,
                    total: 1 << 40,
                },
                totals::Group {
                    slot: 1,
                    day: 70_000,
                    total: 1,
                },
                totals::Group {
                    slot: 9,
                    day: 70_000,
                    total: 300,
                },
            ]),
        };
        let bytes = state.encode();
        let back = State::decode(bytes.clone()).unwrap();
        assert_eq!(back.encode(), bytes);
        assert_eq!(back.totals.blocks(), state.totals.blocks());
        assert_eq!(
            (back.totals.groups, back.totals.days),
            (state.totals.groups, state.totals.days)
        );
        assert_eq!((back.entries[0].end, back.entries[0].lines), (90, 4));
        assert_eq!(back.rejects, Some((7, 8)));
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(State::decode(damaged).unwrap_err().contains("checksum"));
        assert!(State::decode(bytes[..bytes.len() - 1].to_vec()).is_err());
        assert!(State::decode(b"region_id,region_name\n".to_vec()).is_err());
    }
}
