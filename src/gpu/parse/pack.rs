//! Small files that share chunks: a pack of them is counted as one file,
//! their rows end to end, and its chunks' reports are split back into
//! reports of each file.
//!
//! A file under a MiB would fill a chunk of its own, and every chunk costs
//! a submission, a wait and a read back: a folder of such files would keep
//! the device waiting on the host. Packed, they fill chunks as one large
//! file does. The device sees nothing of the files: a pack holds only
//! whole files' rows (after their headers) with the same columns, each
//! ending with a newline, so its rows are exactly its files' rows and no
//! row runs from one file into the next.
//!
//! What the ledger needs of each file, its lines, comes from the device's
//! line counts per KiB of a chunk and a read of less than a KiB at each
//! file's start (`handback::pack_lines`, on the completion thread, before
//! any of the chunk's reports); the rows handed back are numbered from the
//! chunk's first line as in any chunk, and [`Pack::report`] tells each file
//! its part of them.

use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::input::Object;
use crate::reorder::Reorder;
use crate::scan::{ChunkReport, ScanEvent};

/// One file of a pack.
pub(in crate::gpu) struct Member {
    /// Its index in the run's plan: how reports name it.
    pub(in crate::gpu) index: usize,
    pub(in crate::gpu) object: Arc<dyn Object>,
    /// Its rows, after the header, to its end.
    pub(in crate::gpu) rows: Range<u64>,
    /// Where its first row starts: `rows.start`, for a pack holds only
    /// whole files.
    pub(in crate::gpu) first_row: u64,
}

/// Files counted as one: see the module's documentation.
pub struct Pack {
    members: Vec<Member>,
    /// Where each member's rows start in the pack, and the pack's length
    /// last.
    starts: Vec<u64>,
    name: String,
    split: Mutex<Split>,
}

/// Where the splitting of the pack's reports is.
#[derive(Default)]
struct Split {
    /// Reports of the pack's chunks, until every one before them is split.
    waiting: Reorder<(u64, u32), ChunkReport>,
    /// Each chunk's members and their lines in it, from the completion
    /// thread, until its reports are split.
    lines: std::collections::HashMap<u64, ChunkLines>,
    /// The chunk being split, from its first part to its last.
    current: Option<Splitting>,
    /// Reports sent to each member so far: its next report's number.
    sent: Vec<u64>,
}

/// A chunk's members, in order: (member, its lines in the chunk, whether
/// its rows end in the chunk).
pub(super) type ChunkLines = Vec<(usize, u64, bool)>;

/// A chunk whose parts are being split.
struct Splitting {
    members: ChunkLines,
    /// The chunk's line where each of `members` starts.
    first_lines: Vec<u64>,
    /// The next of `members` to report, and its report so far.
    next: usize,
    report: ChunkReport,
    /// The chunk's counts and bytes so far: the last member's report
    /// carries them (the ledger adds them up, whoever carries them).
    totals: ChunkReport,
}

impl Pack {
    /// A pack of `members`, in the plan's order; at least two.
    pub(in crate::gpu) fn new(members: Vec<Member>) -> Pack {
        let mut starts = Vec::with_capacity(members.len() + 1);
        let mut at = 0;
        for member in &members {
            debug_assert_eq!(member.rows.start, member.first_row, "a whole file");
            starts.push(at);
            at += member.rows.end - member.rows.start;
        }
        starts.push(at);
        let name = format!(
            "{} files from {} to {}",
            members.len(),
            members[0].object.name(),
            members[members.len() - 1].object.name()
        );
        let split = Split {
            sent: vec![0; members.len()],
            ..Split::default()
        };
        Pack {
            members,
            starts,
            name,
            split: Mutex::new(split),
        }
    }

    /// How many files it packs.
    pub(super) fn files(&self) -> usize {
        self.members.len()
    }

    /// The member whose rows hold byte `at` of the pack.
    fn member_at(&self, at: u64) -> usize {
        self.starts.partition_point(|&start| start <= at) - 1
    }

    /// The members whose rows start in `rows` of the pack (a chunk's), with
    /// their lines there: `rows_before(x)` gives the chunk's rows that
    /// start before byte `x` (a member's start inside `rows`), `lines`
    /// those of the whole chunk.
    pub(super) fn chunk_lines(
        &self,
        rows: Range<u64>,
        lines: u64,
        mut rows_before: impl FnMut(u64) -> Result<u64>,
    ) -> Result<ChunkLines> {
        let mut found = Vec::new();
        let (first, last) = (self.member_at(rows.start), self.member_at(rows.end - 1));
        let mut before = 0;
        for m in first..=last {
            let end = self.starts[m + 1];
            let until = if end < rows.end {
                rows_before(end)?
            } else {
                lines
            };
            if until < before || until > lines {
                return Err(Error::Internal(format!(
                    "{}: the GPU's line counts put {until} rows before byte {end} of a chunk of \
                     {lines} rows; nothing is written",
                    self.name
                )));
            }
            found.push((m, until - before, end <= rows.end));
            before = until;
        }
        Ok(found)
    }

    /// Takes the lines of chunk `seq`'s members, before any of its reports.
    pub(super) fn expect(&self, seq: u64, lines: ChunkLines) {
        let mut split = self.split.lock().unwrap_or_else(|e| e.into_inner());
        split.lines.insert(seq, lines);
    }

    /// Takes a report (or a part of one) of the pack's chunk, and tells
    /// `events` of each member's part of the chunks now split in order:
    /// a report of its own, and its end with its last chunk. False when
    /// the run is failing.
    pub(super) fn report(
        &self,
        report: ChunkReport,
        events: &(dyn Fn(ScanEvent) -> bool + Sync),
    ) -> Result<bool> {
        let mut split = self.split.lock().unwrap_or_else(|e| e.into_inner());
        split.waiting.insert((report.seq, report.part), report);
        // Reports go out in order, each member's before the next one's:
        // the ledger books the plan's files in order, so the report it
        // needs next is never one held here while later ones wait on the
        // memory they hold (`count/gate.rs`).
        while let Some(part) = split.waiting.pop(|(seq, part), report: &ChunkReport| {
            if report.more_parts {
                (seq, part + 1)
            } else {
                (seq + 1, 0)
            }
        }) {
            if !self.split_part(&mut split, part, events)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Splits one part of a chunk's report among its members.
    fn split_part(
        &self,
        split: &mut Split,
        part: ChunkReport,
        events: &(dyn Fn(ScanEvent) -> bool + Sync),
    ) -> Result<bool> {
        let mut current = match split.current.take() {
            Some(current) => current,
            None => {
                let members = split.lines.remove(&part.seq).ok_or_else(|| {
                    Error::Internal(format!(
                        "{}: a GPU chunk's report came before its lines",
                        self.name
                    ))
                })?;
                let first_lines = members
                    .iter()
                    .scan(0, |line, &(_, lines, _)| {
                        let first = *line;
                        *line += lines;
                        Some(first)
                    })
                    .collect();
                Splitting {
                    members,
                    first_lines,
                    next: 0,
                    report: ChunkReport::default(),
                    totals: ChunkReport::default(),
                }
            }
        };
        for problem in &part.problems {
            // The member whose lines hold the problem's: they are in order.
            while current.next + 1 < current.members.len()
                && problem.line >= current.first_lines[current.next + 1]
            {
                if !self.send(split, &mut current, None, events) {
                    return Ok(false);
                }
            }
            let (_, lines, _) = current.members[current.next];
            let line = problem.line - current.first_lines[current.next];
            if problem.line < current.first_lines[current.next] || line >= lines {
                return Err(Error::Internal(format!(
                    "{}: a row handed back by the GPU is on line {} of a chunk of {} lines; \
                     nothing is written",
                    self.name,
                    problem.line,
                    current.members.iter().map(|&(_, lines, _)| lines).sum::<u64>()
                )));
            }
            let report = &mut current.report;
            let raw = &part.raw[problem.raw.clone()];
            report.problems.push(crate::scan::Problem {
                line,
                raw: report.raw.len()..report.raw.len() + raw.len(),
                ..problem.clone()
            });
            report.raw.extend_from_slice(raw);
        }
        let totals = &mut current.totals;
        totals.stats.add(&part.stats);
        totals.span += part.span;
        totals.stopped |= part.stopped;
        for &id in &part.unmatched_ids {
            crate::scan::sample_unmatched(&mut totals.unmatched_ids, id);
        }
        if part.more_parts {
            split.current = Some(current);
            return Ok(true);
        }
        // The chunk's last part: its lines are the members'.
        let lines: u64 = current.members.iter().map(|&(_, lines, _)| lines).sum();
        if part.lines != lines {
            return Err(Error::Internal(format!(
                "{}: a GPU chunk of {} lines has {lines} lines in its files; nothing is written",
                self.name, part.lines
            )));
        }
        while current.next + 1 < current.members.len() {
            if !self.send(split, &mut current, None, events) {
                return Ok(false);
            }
        }
        let totals = std::mem::take(&mut current.totals);
        Ok(self.send(split, &mut current, Some(totals), events))
    }

    /// Sends the next member's report of the chunk being split (with the
    /// chunk's `totals`, for its last member), and its end if its rows end
    /// in the chunk.
    fn send(
        &self,
        split: &mut Split,
        current: &mut Splitting,
        totals: Option<ChunkReport>,
        events: &(dyn Fn(ScanEvent) -> bool + Sync),
    ) -> bool {
        let (m, lines, ends) = current.members[current.next];
        let member = &self.members[m];
        let mut report = std::mem::take(&mut current.report);
        if let Some(totals) = totals {
            report.stats = totals.stats;
            report.span = totals.span;
            report.stopped = totals.stopped;
            report.unmatched_ids = totals.unmatched_ids;
        }
        report.seq = split.sent[m];
        report.lines = lines;
        split.sent[m] += 1;
        current.next += 1;
        let file = member.index;
        if !events(ScanEvent::Chunk { file, report }) {
            return false;
        }
        !ends || events(ScanEvent::End {
            file,
            chunks: split.sent[m],
        })
    }
}

impl Pack {
    /// The members' parts of the `len` bytes of the pack from `offset`, in
    /// order, as far as the pack goes: (member, where its part starts in
    /// it, where it goes in the bytes).
    fn spans(&self, offset: u64, len: usize) -> impl Iterator<Item = (&Member, u64, Range<usize>)> {
        let end = (offset + len as u64).min(self.len());
        let mut at = offset;
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let m = self.member_at(at);
            let until = self.starts[m + 1].min(end);
            let member = &self.members[m];
            let span = (at - offset) as usize..(until - offset) as usize;
            let from = member.rows.start + (at - self.starts[m]);
            at = until;
            Some((member, from, span))
        })
    }
}

impl Object for Pack {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        for (member, from, span) in self.spans(offset, buf.len()) {
            let take = span.len();
            let got = member.object.read_at(&mut buf[span], from)?;
            done += got;
            if got < take {
                break; // the member shrank: `read_exact_at` says which
            }
        }
        Ok(done)
    }

    /// Reads each member's bytes with its own `read_exact_at`, so that an
    /// error names the file.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        if !buf.is_empty() && offset + buf.len() as u64 > self.len() {
            return Err(self.read_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a read past the end of a pack of files",
            )));
        }
        for (member, from, span) in self.spans(offset, buf.len()) {
            member.object.read_exact_at(&mut buf[span], from)?;
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.starts[self.members.len()]
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::LocalObject;
    use crate::scan::Problem;

    /// A pack of files holding `texts`, each with a header line `h\n`.
    fn pack(dir: &std::path::Path, texts: &[&str]) -> Pack {
        let members = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let path = dir.join(format!("{i}.csv"));
                std::fs::write(&path, format!("h\n{text}")).unwrap();
                let object: Arc<dyn Object> = Arc::new(LocalObject::open(&path).unwrap());
                let len = object.len();
                Member {
                    index: 10 + i,
                    object,
                    rows: 2..len,
                    first_row: 2,
                }
            })
            .collect();
        Pack::new(members)
    }

    #[test]
    fn a_pack_reads_its_files_rows_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let pack = pack(dir.path(), &["a\nb\n", "c\n", "dd\n"]);
        assert_eq!(pack.len(), 9);
        let mut all = vec![0; 9];
        pack.read_exact_at(&mut all, 0).unwrap();
        assert_eq!(all, b"a\nb\nc\ndd\n");
        let mut some = vec![0; 4];
        pack.read_exact_at(&mut some, 3).unwrap();
        assert_eq!(some, b"\nc\nd");
        assert!(pack.read_exact_at(&mut some, 6).is_err());
        assert_eq!(pack.read_at(&mut some, 6).unwrap(), 3);
    }

    #[test]
    fn a_chunks_lines_are_split_at_its_files_starts() {
        let dir = tempfile::tempdir().unwrap();
        // Rows start at 0, 2 | 4 | 6; the files start at 0, 4, 6.
        let pack = pack(dir.path(), &["a\nb\n", "c\n", "dd\n"]);
        let newlines = |x: u64| {
            let mut bytes = vec![0; x as usize];
            pack.read_exact_at(&mut bytes, 0).unwrap();
            Ok(1 + bytes[..x as usize - 1].iter().filter(|&&b| b == b'\n').count() as u64)
        };
        assert_eq!(
            pack.chunk_lines(0..9, 4, newlines).unwrap(),
            vec![(0, 2, true), (1, 1, true), (2, 1, true)]
        );
        // A chunk from inside the first file's last row to inside the
        // third file: only rows that start in it are its.
        let rows_from_3 = |x: u64| Ok(newlines(x)? - 2);
        assert_eq!(
            pack.chunk_lines(3..7, 2, rows_from_3).unwrap(),
            vec![(0, 0, true), (1, 1, true), (2, 1, false)]
        );
        // Counts that go backwards are the device's fault, never a file's.
        assert!(pack.chunk_lines(0..9, 4, |_| Ok(5)).is_err());
    }

    /// The events a pack sends, as (file, seq, lines, problem lines) and
    /// ends as (file, chunks).
    fn events_of(pack: &Pack, reports: Vec<ChunkReport>) -> Vec<String> {
        let seen = Mutex::new(Vec::new());
        let events = |event: ScanEvent| {
            let said = match event {
                ScanEvent::Chunk { file, report } => format!(
                    "{file}:{} lines {} at {:?} counted {}",
                    report.seq,
                    report.lines,
                    report.problems.iter().map(|p| p.line).collect::<Vec<_>>(),
                    report.stats.counted
                ),
                ScanEvent::End { file, chunks } => format!("{file} ends after {chunks}"),
            };
            seen.lock().unwrap().push(said);
            true
        };
        for report in reports {
            assert!(pack.report(report, &events).unwrap());
        }
        seen.into_inner().unwrap()
    }

    fn problem(line: u64) -> Problem {
        Problem {
            line,
            kind: None,
            reason: "unmatched".into(),
            raw: 0..0,
        }
    }

    #[test]
    fn reports_are_split_among_the_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let pack = pack(dir.path(), &["a\nb\n", "c\n", "dd\n"]);
        // Chunk 0: the first file and the second; chunk 1: the third.
        pack.expect(0, vec![(0, 2, true), (1, 1, true)]);
        pack.expect(1, vec![(2, 1, true)]);
        let part = |seq, part, more_parts, lines, problems: &[u64]| {
            let mut report = ChunkReport {
                seq,
                part,
                more_parts,
                lines,
                problems: problems.iter().map(|&l| problem(l)).collect(),
                ..ChunkReport::default()
            };
            report.stats.counted = 1;
            report
        };
        // In any order: chunk 1 first, then chunk 0's parts backwards.
        let said = events_of(
            &pack,
            vec![
                part(1, 0, false, 1, &[]),
                part(0, 1, false, 3, &[]),
                part(0, 0, true, 0, &[1, 2]),
            ],
        );
        assert_eq!(
            said,
            vec![
                "10:0 lines 2 at [1] counted 0",
                "10 ends after 1",
                "11:0 lines 1 at [0] counted 2",
                "11 ends after 1",
                "12:0 lines 1 at [] counted 1",
                "12 ends after 1",
            ]
        );
    }

    #[test]
    fn a_report_whose_lines_are_not_its_files_fails() {
        let dir = tempfile::tempdir().unwrap();
        let two = || {
            let two = pack(dir.path(), &["a\nb\n", "c\n"]);
            two.expect(0, vec![(0, 2, true), (1, 1, true)]);
            two
        };
        let report = ChunkReport {
            lines: 4,
            ..ChunkReport::default()
        };
        let err = two().report(report, &|_| true).unwrap_err();
        assert!(err.to_string().contains("has 3 lines in its files"), "{err}");
        // A problem past the chunk's lines.
        let report = ChunkReport {
            lines: 3,
            problems: vec![problem(3)],
            ..ChunkReport::default()
        };
        let err = two().report(report, &|_| true).unwrap_err();
        assert!(err.to_string().contains("on line 3 of a chunk of 3"), "{err}");
    }
}
