//! The rows the device hands back, judged on the host: only their blocks
//! are read again, their lines numbered from the device's per-KiB line
//! counts and a short read before them, and the rows run through the exact
//! parser on the judging threads. Each task (a few pieces of a chunk's
//! blocks) is reported as a part of the chunk's report; the last part, with
//! the device's counts and the chunk's lines, is sent by whichever judge
//! finishes the chunk last, after it checked that every row was accounted
//! for.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::pack::ChunkLines;
use super::{GpuFile, GpuJob, InFlight, Pack, LINE_WORD_BYTES};
use crate::error::{Error, Result};
use crate::figures::GpuFigures;
use crate::format::MAX_LINE;
use crate::histogram::KeySink;
use crate::input::{Object, PAD};
use crate::scan::{ChunkReport, Scanner};

/// Most bytes of blocks one task holds: a chunk the device handed back
/// whole is judged on every thread, and a task's report of bad rows (with
/// `--rejects`, their text) stays a few MiB.
const TASK_BYTES: u32 = 1 << 20;

/// Most pieces one task holds: a chunk with a bad row here and there is
/// judged in a few tasks, not one per row.
const TASK_PIECES: usize = 64;

/// Bytes read past a piece to finish its last row, at first; a longer row
/// is read on in steps that double.
const TAIL_BYTES: u64 = 64;

/// What the device handed back of a chunk: a bit per block handed back
/// whole, and (block, a bit per row among the block's rows, the line ends
/// from its line counts' word to the block) for the blocks handed back in
/// part.
pub(super) struct Back {
    /// Bytes per block.
    pub(super) block: u32,
    pub(super) whole: Vec<u32>,
    pub(super) partial: Vec<(u32, u32, u32)>,
    /// The chunk's line ends per KiB, from its first row's start (less a
    /// byte); empty when nothing came back.
    pub(super) line_counts: Vec<u32>,
}

impl Back {
    /// Rows that start before each KiB of the chunk's data from its first
    /// row's start (less a byte, unless `first_row`: the file's first row
    /// starts the chunk): the device's line counts, added up.
    fn lines_before(&self, first_row: bool) -> Vec<u64> {
        let first_row = u64::from(first_row);
        std::iter::once(first_row)
            .chain(self.line_counts.iter().scan(first_row, |sum, &n| {
                *sum += u64::from(n);
                Some(*sum)
            }))
            .collect()
    }
}

/// The lines of each file of chunk `chunk` of `pack` (which has `lines`
/// lines): the rows before each file's start, from the device's line
/// counts and a read of the bytes (under a KiB) they do not cover.
pub(super) fn pack_lines(
    job: &GpuJob<'_>,
    chunk: &InFlight,
    pack: &Pack,
    back: &Back,
    lines: u64,
) -> Result<ChunkLines> {
    let object = &job.files[chunk.file].object;
    let own = chunk.own();
    let low = if chunk.first_row() {
        own.start
    } else {
        own.start - 1
    };
    let lines_before = back.lines_before(chunk.first_row());
    let mut bytes = Vec::new();
    let rows = chunk.data_start + u64::from(own.start)..chunk.data_start + u64::from(own.end);
    pack.chunk_lines(rows, lines, |at| {
        // A row starts at `x` when byte `x - 1` ends a line.
        let x = (at - chunk.data_start) as u32;
        let words = (x - 1 - low) / LINE_WORD_BYTES;
        let from = low + words * LINE_WORD_BYTES;
        let before = *lines_before.get(words as usize).ok_or_else(|| {
            Error::Internal("the GPU's line counts end before the chunk does".into())
        })?;
        bytes.resize((x - 1 - from) as usize, 0);
        object.read_exact_at(&mut bytes, chunk.data_start + u64::from(from))?;
        Ok(before + memchr::memchr_iter(b'\n', &bytes).count() as u64)
    })
}

/// The rows of a block handed back that are the host's to judge.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rows {
    /// Every row: the device counted none of the block.
    All,
    /// The rows whose bit is set, by place among the block's rows. The
    /// device counted the others, every row at place 32 or later included:
    /// the shader hands a block back whole when a row past its 32 bits is
    /// the host's, so no bit is ever missing for a host's row.
    Places(u32),
}

impl Rows {
    /// Whether the row at `place` among the block's rows is the host's.
    fn host_owns(self, place: u32) -> bool {
        match self {
            Rows::All => true,
            Rows::Places(bits) => place < 32 && bits & (1 << place) != 0,
        }
    }
}

/// Consecutive blocks handed back, in the chunk's data, with the rows of
/// each that are the host's.
#[derive(Clone, Debug, PartialEq)]
struct Piece {
    bytes: Range<u32>,
    rows: Vec<Rows>,
    /// Where the first block came back in part: the line ends from its
    /// line counts' word to it, counted by the device.
    lines_into_word: Option<u32>,
}

/// What a chunk's tasks share.
struct Join {
    /// Tasks not judged yet.
    remaining: AtomicUsize,
    /// Rows the judges judged.
    host_rows: AtomicU64,
    /// A task stopped at a malformed row (`--strict`): the run ends there.
    stopped: AtomicBool,
    /// Rows the device counted or found blank.
    device_rows: u64,
    /// The chunk's last part: the device's counts and the chunk's lines.
    last: Mutex<Option<ChunkReport>>,
    /// The file's index in the job.
    file: usize,
    seq: u64,
    /// Where the chunk's data starts in the file.
    data_start: u64,
    own: Range<u32>,
    first_row: bool,
    block: u32,
    /// Rows that start before each KiB of the chunk's data from its first
    /// row's start (less a byte): the device's line counts, added up.
    lines_before: Vec<u64>,
}

/// A few pieces of a chunk for a judge.
pub(super) struct Task {
    join: Arc<Join>,
    part: u32,
    pieces: Vec<Piece>,
}

/// Reports chunk `chunk` of `file`, whose device part is `device` (`rows`
/// rows counted or blank on the device): at once if the device handed
/// nothing back, else through the judges. False when the run is failing.
pub(super) fn hand_back(
    job: &GpuJob<'_>,
    chunk: &InFlight,
    back: Back,
    rows: u64,
    device: ChunkReport,
    tasks: &SyncSender<Task>,
) -> Result<bool> {
    let file = &job.files[chunk.file];
    let pieces = pieces(&back, &chunk.own());
    if pieces.is_empty() {
        check(
            file,
            chunk.data_start + u64::from(chunk.params.own_start),
            rows,
            0,
            device.lines,
        )?;
        return job.report(chunk.file, device);
    }
    let mut groups: Vec<Vec<Piece>> = Vec::new();
    let mut bytes = 0;
    for piece in pieces {
        let len = piece.bytes.end - piece.bytes.start;
        match groups.last_mut() {
            Some(group) if bytes + len <= TASK_BYTES && group.len() < TASK_PIECES => {
                bytes += len;
                group.push(piece);
            }
            _ => {
                bytes = len;
                groups.push(vec![piece]);
            }
        }
    }
    let lines_before = back.lines_before(chunk.first_row());
    let join = Arc::new(Join {
        remaining: AtomicUsize::new(groups.len()),
        host_rows: AtomicU64::new(0),
        stopped: AtomicBool::new(false),
        device_rows: rows,
        last: Mutex::new(Some(ChunkReport {
            part: groups.len() as u32,
            ..device
        })),
        file: chunk.file,
        seq: chunk.seq,
        data_start: chunk.data_start,
        own: chunk.own(),
        first_row: chunk.first_row(),
        block: back.block,
        lines_before,
    });
    for (part, pieces) in groups.into_iter().enumerate() {
        let task = Task {
            join: join.clone(),
            part: part as u32,
            pieces,
        };
        if tasks.send(task).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The pieces of what came `back`: runs of consecutive blocks, each block
/// with its rows that are the host's, cut at [`TASK_BYTES`].
fn pieces(back: &Back, own: &Range<u32>) -> Vec<Piece> {
    let block = back.block;
    // (block, its rows, its lines into its word where it came in part).
    let mut blocks: Vec<(u32, Rows, Option<u32>)> = back
        .partial
        .iter()
        .map(|&(b, rows, lines)| (b, Rows::Places(rows), Some(lines)))
        .collect();
    for (w, &word) in back.whole.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            blocks.push((w as u32 * 32 + word.trailing_zeros(), Rows::All, None));
            word &= word - 1;
        }
    }
    blocks.sort_unstable_by_key(|&(b, ..)| b);
    let most = (TASK_BYTES / block).max(1) as usize;
    let mut pieces: Vec<(u32, Vec<Rows>, Option<u32>)> = Vec::new();
    for (b, rows, lines) in blocks {
        match pieces.last_mut() {
            Some((first, masks, _)) if *first + masks.len() as u32 == b && masks.len() < most => {
                masks.push(rows)
            }
            _ => pieces.push((b, vec![rows], lines)),
        }
    }
    pieces
        .into_iter()
        .map(|(first, rows, lines_into_word)| {
            let start = own.start + first * block;
            let end = (own.start + (first + rows.len() as u32) * block).min(own.end);
            Piece {
                bytes: start..end,
                rows,
                lines_into_word,
            }
        })
        .collect()
}

/// Fails if the rows accounted for are not the rows the chunk has: a row
/// lost on the device (a driver that cut a shader short) fails the run,
/// never the counts.
fn check(file: &GpuFile, at: u64, device: u64, host: u64, lines: u64) -> Result<()> {
    if device + host == lines {
        return Ok(());
    }
    Err(Error::Internal(format!(
        "{}: the GPU accounted for {} rows of a chunk at byte {at} that has {lines}; \
         the device lost rows, so nothing is written",
        file.object.name(),
        device + host
    )))
}

/// A judging thread: takes tasks from `queue` until it closes. After an
/// error it only empties the queue, so that the completion thread never
/// waits on it.
pub(super) fn judge_tasks(
    job: &GpuJob<'_>,
    queue: &Mutex<Receiver<Task>>,
    figures: &Mutex<GpuFigures>,
) -> Result<()> {
    let mut judge = Judge {
        scanner: Scanner::new(job.scan, job.files[0].layout),
        keys: Vec::new(),
        sink: job.histogram.sink()?,
        text: Vec::new(),
    };
    let mut result = Ok(());
    loop {
        let task = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(task) = task else { break };
        if result.is_err() || job.failing() {
            continue;
        }
        result = judge.task(job, &task, figures);
        if result.is_err() {
            job.fail();
        }
    }
    let finished = judge.sink.finish();
    result.and(finished)
}

/// One judging thread's tools.
struct Judge<'a> {
    scanner: Scanner<'a>,
    keys: Vec<u32>,
    sink: Box<dyn KeySink + 'a>,
    /// The text of the rows being judged, padded for the scanner.
    text: Vec<u8>,
}

impl Judge<'_> {
    /// Judges the host's rows of a task's pieces and reports them as a
    /// part of the chunk; the last task of a chunk checks it and sends its
    /// last part.
    fn task(&mut self, job: &GpuJob<'_>, task: &Task, figures: &Mutex<GpuFigures>) -> Result<()> {
        let started = Instant::now();
        let join = &task.join;
        let file = &job.files[join.file];
        self.scanner.set_layout(file.layout);
        let mut report = ChunkReport {
            seq: join.seq,
            part: task.part,
            more_parts: true,
            ..ChunkReport::default()
        };
        let mut reread = 0;
        let mut host_rows = 0;
        for piece in &task.pieces {
            let (rows, read) = judge_piece(join, file.object.as_ref(), piece, self, &mut report)?;
            host_rows += rows;
            reread += read;
            if report.stopped {
                break;
            }
        }
        self.sink
            .add(&mut self.keys, job.scan.keys.bins(job.scan.dates.len()))?;
        join.host_rows.fetch_add(host_rows, Ordering::Relaxed);
        if report.stopped {
            join.stopped.store(true, Ordering::Relaxed);
        }
        {
            let mut figures = figures.lock().unwrap_or_else(|e| e.into_inner());
            figures.rows_handed_back += host_rows;
            figures.bytes_reread += reread;
            figures.judge += started.elapsed();
        }
        if !job.report(join.file, report)? {
            return Ok(());
        }
        if join.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let last = join
                .last
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("the last part, once");
            if !join.stopped.load(Ordering::Relaxed) {
                let host = join.host_rows.load(Ordering::Acquire);
                let at = join.data_start + u64::from(join.own.start);
                check(file, at, join.device_rows, host, last.lines)?;
            }
            job.report(join.file, last)?;
        }
        Ok(())
    }
}

/// Judges the host's rows of one piece into `report`, their problems
/// numbered from the chunk's first line; returns how many rows it judged
/// and the bytes it read.
fn judge_piece(
    join: &Join,
    object: &dyn Object,
    piece: &Piece,
    judge: &mut Judge<'_>,
    report: &mut ChunkReport,
) -> Result<(u64, u64)> {
    let own = &join.own;
    let bytes = &piece.bytes;
    // A row starts at p when byte p - 1 ends a line: line ends are counted
    // from `low`, a byte before the chunk's rows (unless they start the
    // file).
    let low = if join.first_row {
        own.start
    } else {
        own.start - 1
    };
    // The rows before the piece: whole KiB of line counts, then a read of
    // the rest (less than a KiB), which also holds the piece.
    let (mut line, read_from) = if bytes.start == own.start {
        (0, low)
    } else {
        let words = (bytes.start - 1 - low) / LINE_WORD_BYTES;
        let before = join.lines_before[words as usize];
        match piece.lines_into_word {
            // The device counted the rest: nothing to read before the block
            // but the byte that says whether a row starts with it.
            Some(lines) => (before + u64::from(lines), bytes.start - 1),
            None => (before, low + words * LINE_WORD_BYTES),
        }
    };
    let file_len = object.len();
    let read_start = join.data_start + u64::from(read_from);
    let read_end = (join.data_start + u64::from(bytes.end) + TAIL_BYTES).min(file_len);
    let mut data = read(object, read_start, read_end - read_start)?;
    let start = (bytes.start - read_from) as usize;
    let end = (bytes.end - read_from) as usize;
    // The piece's first row, and the rows before it.
    let first = if join.first_row && bytes.start == own.start {
        start
    } else {
        line += memchr::memchr_iter(b'\n', &data[..start - 1]).count() as u64;
        match memchr::memchr(b'\n', &data[start - 1..end - 1]) {
            Some(i) => start + i,
            None => return Ok((0, data.len() as u64)), // no row starts here
        }
    };
    // Every row that starts in the piece, with its place in its block; the
    // host's, in runs of neighbours, go to the exact parser.
    let mut judged = 0;
    let mut run: Option<(usize, u64)> = None; // (its first byte, its line)
    let mut at = first;
    let mut block = u32::MAX;
    let mut place = 0;
    while at < end {
        let in_block = (at - start) as u32 / join.block;
        if in_block != block {
            (block, place) = (in_block, 0);
        }
        let row_end = match memchr::memchr(b'\n', &data[at..]) {
            Some(i) => at + i + 1,
            None => finish_row(object, read_start, at, &mut data)?,
        };
        let mine = piece.rows[block as usize].host_owns(place);
        match (mine, run) {
            (true, None) => run = Some((at, line)),
            (false, Some((from, from_line))) => {
                judged += scan_rows(judge, &data[from..at], from_line, report)?;
                run = None;
            }
            _ => {}
        }
        if report.stopped {
            return Ok((judged, data.len() as u64));
        }
        at = row_end;
        line += 1;
        place += 1;
    }
    if let Some((from, from_line)) = run {
        judged += scan_rows(judge, &data[from..at], from_line, report)?;
    }
    Ok((judged, data.len() as u64))
}

/// Reads on until the row at `at` of `data` (read from `read_start`) ends,
/// or is longer than any line may be; returns where it ends.
fn finish_row(
    object: &dyn Object,
    read_start: u64,
    at: usize,
    data: &mut Vec<u8>,
) -> Result<usize> {
    let file_len = object.len();
    let mut step = TAIL_BYTES;
    loop {
        let have = read_start + data.len() as u64;
        let row_len = data.len() - at;
        if have >= file_len || row_len > MAX_LINE + 1 {
            // The file's last row, or too long a one: the scanner says so.
            data.truncate(at + row_len.min(MAX_LINE + 2));
            return Ok(data.len());
        }
        let more = read(object, have, step.min(file_len - have))?;
        let searched = data.len();
        data.extend_from_slice(&more);
        if let Some(i) = memchr::memchr(b'\n', &data[searched..]) {
            return Ok(searched + i + 1);
        }
        step *= 2;
    }
}

/// Scans `rows` (whole rows, the first on line `line` of the chunk) with
/// the exact parser into `report`; returns how many there were.
fn scan_rows(
    judge: &mut Judge<'_>,
    rows: &[u8],
    line: u64,
    report: &mut ChunkReport,
) -> Result<u64> {
    judge.text.clear();
    judge.text.extend_from_slice(rows);
    judge.text.resize(rows.len() + PAD, 0);
    let mut part = ChunkReport::default();
    judge
        .scanner
        .scan(&judge.text, 0..rows.len(), &mut judge.keys, &mut part)?;
    for mut problem in part.problems {
        problem.line += line;
        let raw = problem.raw.clone();
        problem.raw = report.raw.len()..report.raw.len() + raw.len();
        report.raw.extend_from_slice(&part.raw[raw]);
        report.problems.push(problem);
    }
    for id in part.unmatched_ids {
        crate::scan::sample_unmatched(&mut report.unmatched_ids, id);
    }
    report.stats.add(&part.stats);
    report.stopped |= part.stopped;
    Ok(part.lines)
}

/// `len` bytes of `object` from `offset`, all of them.
fn read(object: &dyn Object, offset: u64, len: u64) -> Result<Vec<u8>> {
    let mut data = vec![0u8; len as usize];
    object.read_exact_at(&mut data, offset)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(blocks: &[u32]) -> Back {
        let mut bits = vec![0u32; 4];
        for &b in blocks {
            bits[b as usize / 32] |= 1 << (b % 32);
        }
        Back {
            block: 8,
            whole: bits,
            partial: Vec::new(),
            line_counts: Vec::new(),
        }
    }

    #[test]
    fn pieces_join_neighbouring_blocks_and_stop_at_the_chunk() {
        // Blocks 0, 1, 2 and 5 of a chunk of 10 blocks of 8 bytes from 1,
        // and block 3 in part (its second row).
        let mut back = whole(&[0, 1, 2, 5]);
        back.partial.push((3, 0b10, 2));
        let all = Rows::All;
        assert_eq!(
            pieces(&back, &(1..75)),
            vec![
                Piece {
                    bytes: 1..33,
                    rows: vec![all, all, all, Rows::Places(0b10)],
                    lines_into_word: None,
                },
                Piece {
                    bytes: 41..49,
                    rows: vec![all],
                    lines_into_word: None,
                }
            ]
        );
        // A block alone in part knows its lines into its word.
        let mut back = whole(&[]);
        back.partial.push((7, 0b1, 3));
        assert_eq!(
            pieces(&back, &(1..75)),
            vec![Piece {
                bytes: 57..65,
                rows: vec![Rows::Places(0b1)],
                lines_into_word: Some(3),
            }]
        );
        // The last block ends where the chunk does.
        let back = whole(&[9]);
        assert_eq!(pieces(&back, &(1..75))[0].bytes, 73..75);
    }

    #[test]
    fn pieces_are_cut_at_a_task_size() {
        let block = TASK_BYTES / 2;
        let back = Back {
            block,
            ..whole(&[0, 1, 2, 3])
        };
        let own = 0..4 * block;
        let bytes: Vec<_> = pieces(&back, &own).into_iter().map(|p| p.bytes).collect();
        assert_eq!(bytes, vec![0..2 * block, 2 * block..4 * block]);
    }
}
