//! `generate`: writes a location.csv of a given size for tests and
//! benchmarks, like the original's `data_generator.py`, but at disk speed.
//!
//! Rows look like `"-38.19189","177.0521","1","2019-01-17"`: coordinates
//! inside New Zealand with up to six decimals, region ids drawn uniformly
//! from region.csv, dates uniformly from a range of days.
//!
//! The output is made of blocks of [`ROWS_PER_BLOCK`] rows (by default), and block `n`
//! comes from its own random stream seeded by `(seed, n)`. Threads make
//! blocks in any order and one writer puts them in sequence, so the same
//! arguments give the same bytes whatever the number of threads.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::date::{date_text, day_number, days_from_civil, digits, parse_date, DateText, Zone};
use crate::error::{Error, Result};
use crate::format::{LOCATION_HEADER, REGION_FILE};
use crate::input::{display_name, read_small, InputSpec};
use crate::output::{self, AtomicFile, Placed};
use crate::progress::Progress;
use crate::regions::RegionTable;
use crate::reorder::Reorder;

/// The districts of New Zealand, as shipped in `sample/region.csv`.
pub const SHIPPED_REGIONS: &str = include_str!("../sample/region.csv");

/// Rows per block: about 2.8 MB, enough to keep a thread busy for a while.
pub const ROWS_PER_BLOCK: u64 = 1 << 16;

/// The memory the blocks being made may take, all threads together: it
/// caps the threads.
const BLOCK_MEMORY: u64 = 128 << 20;

/// More than a generated row takes with ids of a few digits, newline
/// included: an estimate, for the cap on threads.
const LONGEST_ROW: u64 = 64;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// The data folder: location.csv is written there, and region.csv read
    /// from there (or written there from the shipped districts).
    pub dir: PathBuf,
    /// The file is cut at the last row boundary at or below this many bytes.
    pub size: u64,
    /// Seed of the random rows.
    pub seed: u64,
    /// The first date, `YYYY-MM-DD`.
    pub start: String,
    /// How many days, from `start` on, dates are drawn from.
    pub days: u32,
    /// Draw region ids from this file instead of `dir/region.csv`.
    pub regions: Option<PathBuf>,
    /// Threads making rows.
    pub threads: usize,
    /// Rows per block ([`ROWS_PER_BLOCK`] unless a test wants many tiny
    /// blocks). The bytes depend on it.
    pub block_rows: u64,
    /// Replace an existing location.csv (else it is an error).
    pub replace: bool,
    /// Write event times (RFC 3339 with this zone's offsets) instead of
    /// dates: the same rows, each at a time of its day drawn from the row's
    /// random bits, so that the file counted with `--time-zone` of this zone
    /// gives the result the date file gives.
    pub timestamps: Option<Zone>,
    /// A stop asked for here before the files are put in place leaves
    /// none (a new token: never stopped).
    pub cancel: crate::cancel::CancelToken,
}

/// What `generate` did.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The location.csv written.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Bytes written, the header included.
    pub bytes: u64,
    /// How long it took.
    pub elapsed: Duration,
    /// region.csv was written from the shipped districts.
    pub wrote_regions: bool,
}

/// Parses a size such as `1G`, `512M`, `64K`, `2T` (powers of 1024) or a
/// plain number of bytes: `generate --size` and Python's `size=` alike.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&text[..text.len() - 1], 10),
        Some(b'M') => (&text[..text.len() - 1], 20),
        Some(b'G') => (&text[..text.len() - 1], 30),
        Some(b'T') => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a size: write bytes, or a number with K, M, G or T")
    })?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Writes `options.dir/location.csv` as `options` say. Everything that can
/// be checked is checked before anything is written; a run that fails
/// leaves no new folder, region.csv or location.csv behind, and an
/// existing location.csv is replaced only when `options.replace` says so.
pub fn generate(options: &GenerateOptions, progress: &dyn Progress) -> Result<Generated> {
    let started = Instant::now();
    let dates = date_range(&options.start, options.days)?;
    if options.size < LOCATION_HEADER.len() as u64 {
        return Err(Error::Usage(format!(
            "a size of {} bytes is smaller than the header line ({} bytes)",
            options.size,
            LOCATION_HEADER.len()
        )));
    }
    let path = options.dir.join("location.csv");
    if !options.replace && std::fs::symlink_metadata(&path).is_ok() {
        return Err(Error::Exists(path));
    }
    let (ids, shipped) = region_ids(options)?;
    refuse_more_than_free(&options.dir, options.size)?;
    // Folders made here are removed again if the run fails.
    let made = NewFolders::create(&options.dir)?;

    // region.csv, when it is the shipped one, appears with location.csv.
    let mut regions = shipped
        .then(|| -> Result<AtomicFile> {
            let mut file = AtomicFile::create(&options.dir.join("region.csv"))?;
            let written = file.writer().write_all(SHIPPED_REGIONS.as_bytes());
            file.check(written)?;
            Ok(file)
        })
        .transpose()?;
    let mut file = AtomicFile::create(&path)?;
    file.preallocate(options.size);
    let header = file.writer().write_all(LOCATION_HEADER);
    file.check(header)?;
    progress.start(Some(options.size));

    let budget = options.size - LOCATION_HEADER.len() as u64;
    let maker = BlockMaker {
        ids,
        dates,
        timestamps: options.timestamps.clone(),
        seed: options.seed,
        rows: options.block_rows.max(1),
    };
    // Each thread holds a block: past a few dozen, more threads only add
    // memory (1,024 of them once took 2.8 GB), as the disk is the limit.
    let most = (BLOCK_MEMORY / (maker.rows * LONGEST_ROW)).max(1) as usize;
    let threads = options.threads.clamp(1, most);
    let (rows, body) = write_blocks(&maker, budget, threads, &mut file, progress)?;
    file.set_len(LOCATION_HEADER.len() as u64 + body);
    // Generated data can be made again: skip the fsync, which would only
    // measure the disk.
    let mut steps: Vec<Box<dyn FnOnce() -> Result<Placed>>> = Vec::new();
    if let Some(mut regions) = regions.take() {
        regions.prepare(false)?;
        steps.push(Box::new(|| regions.put_in_place()));
    }
    file.prepare(false)?;
    steps.push(Box::new(|| file.put_in_place()));
    // Both appear, or neither: a signal between them waits.
    output::place_together(&options.cancel, steps)?;
    made.keep();
    Ok(Generated {
        path,
        rows,
        bytes: LOCATION_HEADER.len() as u64 + body,
        elapsed: started.elapsed(),
        wrote_regions: shipped,
    })
}

/// The folders a run created, removed again (if still empty) unless it
/// succeeds.
struct NewFolders {
    /// Deepest first.
    made: Vec<PathBuf>,
}

impl NewFolders {
    fn create(dir: &Path) -> Result<NewFolders> {
        let mut missing = Vec::new();
        let mut at = dir;
        while !at.as_os_str().is_empty() && !at.exists() {
            missing.push(at.to_path_buf());
            at = at.parent().unwrap_or(Path::new(""));
        }
        // Before they exist: a signal during create_dir_all removes
        // those it made (a missing one is no error).
        output::atomic::register_folders(&missing);
        let made = NewFolders { made: missing };
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(made)
    }

    fn keep(mut self) {
        output::atomic::unregister_folders(&self.made);
        self.made.clear();
    }
}

impl Drop for NewFolders {
    fn drop(&mut self) {
        output::atomic::unregister_folders(&self.made);
        for dir in &self.made {
            // Only an empty folder goes: the files of a failed run are
            // removed before this (they were declared after it).
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Refuses a size the folder's file system has no room for, before
/// writing a byte of it, instead of writing until the disk is full.
fn refuse_more_than_free(dir: &Path, size: u64) -> Result<()> {
    #[cfg(unix)]
    {
        // The folder may not exist yet: ask of the nearest one that does.
        let mut dir = dir;
        while !dir.exists() {
            dir = match dir.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
        }
        let Ok(stats) = rustix::fs::statvfs(dir) else {
            return Ok(()); // unknown: let the writes tell
        };
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        if size > free {
            return Err(Error::Usage(format!(
                "{}: the size asked, {size} bytes, is more than the {free} bytes free there",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The region ids to draw from, and whether they are the shipped districts'
/// (region.csv is then written with location.csv).
fn region_ids(options: &GenerateOptions) -> Result<(Vec<Box<[u8]>>, bool)> {
    let read = |path: &Path| read_small(&InputSpec::Local(path.to_path_buf()), &REGION_FILE);
    let in_dir = options.dir.join("region.csv");
    let (path, bytes, shipped) = match &options.regions {
        Some(path) => (path.clone(), read(path)?, false),
        None if in_dir.exists() => (in_dir.clone(), read(&in_dir)?, false),
        // Written with location.csv, once it is whole.
        None => (in_dir, SHIPPED_REGIONS.as_bytes().to_vec(), true),
    };
    let table = RegionTable::parse(&bytes, &display_name(&path))?;
    if table.ids().is_empty() {
        return Err(Error::Data {
            file: display_name(&path),
            line: 2,
            reason: "no regions to draw region_ids from".into(),
        });
    }
    let ids = table
        .ids()
        .iter()
        .map(|id| id.to_string().into_bytes().into())
        .collect();
    Ok((ids, shipped))
}

/// `days` consecutive dates from `start`.
fn date_range(start: &str, days: u32) -> Result<Vec<DateText>> {
    let bad = |why: String| Error::Usage(format!("the first date {start:?}: {why}"));
    let first = parse_date(start.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if days == 0 {
        return Err(Error::Usage("the dates must span at least 1 day".into()));
    }
    let first = day_number(&first);
    (0..i64::from(days))
        .map(|d| {
            date_text(first + d).ok_or_else(|| bad(format!("{days} days run past the year 9999")))
        })
        .collect()
}

/// Makes the blocks of rows of location.csv: block `n` from the seed and
/// `n` alone, so that any thread can make any block, and the same
/// arguments give the same bytes.
struct BlockMaker {
    ids: Vec<Box<[u8]>>,
    dates: Vec<DateText>,
    /// Event times in this zone instead of dates.
    timestamps: Option<Zone>,
    seed: u64,
    /// Rows per block.
    rows: u64,
}

impl BlockMaker {
    /// Where block `n` is cut to fit in `room` bytes: the bytes and rows
    /// before its last newline within `room`.
    fn cut(&self, n: u64, room: usize) -> (usize, u64) {
        let mut block = Vec::new();
        self.block(n, &mut block);
        let take = memchr::memrchr(b'\n', &block[..room]).map_or(0, |i| i + 1);
        (
            take,
            memchr::memchr_iter(b'\n', &block[..take]).count() as u64,
        )
    }

    /// Block `n`: `self.rows` rows from the stream of `(seed, n)`.
    fn block(&self, n: u64, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.rows as usize * 48);
        let mut rng = Rng::new(splitmix(self.seed ^ splitmix(n)));
        for _ in 0..self.rows {
            let a = rng.next();
            let b = rng.next();
            // Micro-degrees: latitude -34.4 to -47.3, longitude 166.4 to 178.6.
            let lat = 34_400_000 + below(a as u32, 12_900_001);
            let long = 166_400_000 + below((a >> 32) as u32, 12_200_001);
            out.extend_from_slice(b"\"-");
            push_micro(out, lat);
            out.extend_from_slice(b"\",\"");
            push_micro(out, long);
            out.extend_from_slice(b"\",\"");
            out.extend_from_slice(&self.ids[below(b as u32, self.ids.len() as u32) as usize]);
            out.extend_from_slice(b"\",\"");
            let date = &self.dates[below((b >> 32) as u32, self.dates.len() as u32) as usize];
            match &self.timestamps {
                None => out.extend_from_slice(date),
                Some(zone) => {
                    // The time of day from bits already drawn: the rows
                    // stay those of the date file.
                    let second = (splitmix(a ^ b.rotate_left(17)) % 86_400) as u32;
                    let (y, m, d) = digits(date).expect("a valid date");
                    let day = days_from_civil(i64::from(y), i64::from(m), i64::from(d));
                    zone.write_event_time(day, second, out);
                }
            }
            out.extend_from_slice(b"\"\n");
        }
    }
}

/// Makes blocks on `threads` threads and writes them until `budget` bytes;
/// returns the rows and bytes written.
///
/// Blocks are placed in order (a block's offset is known once the blocks
/// before it are made), but written at their offsets by the thread that
/// made them: copying into the page cache costs as much as making the rows,
/// so it must not all happen on one thread.
fn write_blocks(
    maker: &BlockMaker,
    budget: u64,
    threads: usize,
    file: &mut AtomicFile,
    progress: &dyn Progress,
) -> Result<(u64, u64)> {
    let base = LOCATION_HEADER.len() as u64;
    let out = file.file()?;
    let next_block = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let failed = std::sync::Mutex::new(None::<std::io::Error>);
    // A block's offset and how much of it to write, once the blocks before
    // it are placed; `None` when it lies past the end.
    type Placement = Option<(u64, usize)>;
    let (rows, written) = std::thread::scope(|scope| {
        let (blocks, received) =
            mpsc::sync_channel::<(u64, usize, mpsc::SyncSender<Placement>)>(threads * 2);
        for _ in 0..threads {
            let blocks = blocks.clone();
            let (next_block, done, failed) = (&next_block, &done, &failed);
            scope.spawn(move || {
                let mut buf = Vec::new();
                let (placed, placement) = mpsc::sync_channel::<Placement>(1);
                while !done.load(Ordering::Relaxed) {
                    let n = next_block.fetch_add(1, Ordering::Relaxed);
                    maker.block(n, &mut buf);
                    let cut =
                        |room: usize| memchr::memrchr(b'\n', &buf[..room]).map_or(0, |i| i + 1);
                    // Say how long the block is (cut where the budget might
                    // end is the placer's business), then wait for a place.
                    if blocks.send((n, buf.len(), placed.clone())).is_err() {
                        break;
                    }
                    let Ok(Some((offset, room))) = placement.recv() else {
                        break;
                    };
                    let take = if room < buf.len() {
                        cut(room)
                    } else {
                        buf.len()
                    };
                    if let Err(e) = out.write_all_at(&buf[..take], offset) {
                        failed.lock().unwrap().get_or_insert(e);
                        done.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
        drop(blocks);

        // Place blocks in order: each starts where the one before ended.
        let mut order = Reorder::default();
        let (mut rows, mut written) = (0u64, 0u64);
        for (n, len, reply) in received {
            // The released block may be an earlier one that was waiting:
            // it carries its own number, which `cut` needs.
            let _ = order.push::<()>(n, (n, len, reply), |(n, len, reply)| {
                if done.load(Ordering::Relaxed) {
                    let _ = reply.send(None);
                    return Ok(());
                }
                let room = (budget - written) as usize;
                let _ = reply.send(Some((base + written, room)));
                if len <= room {
                    written += len as u64;
                    rows += maker.rows;
                    progress.advance(len as u64, maker.rows);
                } else {
                    // The last block: the writer cuts it after the last row
                    // that fits; the same rows are counted here.
                    done.store(true, Ordering::Relaxed);
                    let (take, last_rows) = maker.cut(n, room);
                    written += take as u64;
                    rows += last_rows;
                    progress.advance(take as u64, last_rows);
                }
                Ok(())
            });
        }
        (rows, written)
    });
    match failed.into_inner().unwrap() {
        Some(e) => file.check(Err(e)),
        None => Ok((rows, written)),
    }
}

/// Writes `v` micro-degrees as degrees with up to six decimals and no
/// trailing zeros, as Python prints a rounded float: 38191890 -> 38.19189.
fn push_micro(out: &mut Vec<u8>, v: u32) {
    let mut whole = v / 1_000_000;
    let mut frac = v % 1_000_000;
    let mut digits = [0u8; 3];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (whole % 10) as u8;
        n += 1;
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    out.extend(digits[..n].iter().rev());
    out.push(b'.');
    if frac == 0 {
        out.push(b'0');
        return;
    }
    let mut width = 6;
    while frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    let mut text = [b'0'; 6];
    for slot in text[..width].iter_mut().rev() {
        *slot = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    out.extend_from_slice(&text[..width]);
}

/// A uniform number below `n` from 32 random bits (Lemire's multiply-shift;
/// the bias is below 2^-32 / n and irrelevant for test data).
#[inline(always)]
fn below(bits: u32, n: u32) -> u32 {
    ((u64::from(bits) * u64::from(n)) >> 32) as u32
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// wyrand: tiny, fast, and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    #[inline(always)]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xA076_1D64_78BD_642F);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xE703_7ED1_A0B4_28DB);
        ((t >> 64) as u64) ^ (t as u64)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("3M"), Ok(3 << 20));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("12345"), Ok(12345));
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    use super::*;

    #[test]
    fn micro_degrees_print_like_python_floats() {
        let text = |v| {
            let mut out = Vec::new();
            push_micro(&mut out, v);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(38_191_890), "38.19189");
        assert_eq!(text(177_052_100), "177.0521");
        assert_eq!(text(38_000_000), "38.0");
        assert_eq!(text(38_000_001), "38.000001");
        assert_eq!(text(178_600_000), "178.6");
    }

    #[test]
    fn date_ranges_run_over_month_and_year_ends() {
        assert_eq!(
            date_range("2019-12-30", 4).unwrap(),
            [
                *b"2019-12-30",
                *b"2019-12-31",
                *b"2020-01-01",
                *b"2020-01-02"
            ]
        );
        assert_eq!(date_range("2020-02-28", 2).unwrap()[1], *b"2020-02-29");
        assert!(date_range("2019-02-30", 1).is_err());
        assert!(date_range("9999-12-31", 2).is_err());
    }

    #[test]
    fn blocks_depend_only_on_seed_and_number() {
        let maker = BlockMaker {
            ids: vec![b"1".to_vec().into(), b"22".to_vec().into()],
            dates: date_range("2019-01-01", 3).unwrap(),
            timestamps: None,
            seed: 9,
            rows: ROWS_PER_BLOCK,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        maker.block(5, &mut a);
        maker.block(6, &mut b);
        assert_ne!(a, b);
        maker.block(5, &mut b);
        assert_eq!(a, b);
        assert_eq!(
            memchr::memchr_iter(b'\n', &a).count() as u64,
            ROWS_PER_BLOCK
        );
    }
}
