//! The ledger: takes the chunks' reports as they come, in any order, and
//! books them in file order. That is how line numbers stay exact (in a
//! shard, counted from the shard's start: see [`LineOrigin`]), how
//! `--strict` stops at the *first* bad row, and how the rejects file comes
//! out in input order.

use super::gate::{plan_order, Gate};
use crate::error::{Error, Result};
use crate::input::{ChunkSource, LineOrigin};
use crate::output::{RejectsWriter, ShardLine, ShardPart};
use crate::progress::Progress;
use crate::reorder::Reorder;
use crate::scan::{sample_unmatched, ChunkReport, RowOutcomes, RowPolicy, ScanEvent, SAMPLES};

/// The booked chunks' reports added up, for the verdict and the summary:
/// rows by outcome, the first malformed rows, a few unmatched ids, and the
/// bytes read.
#[derive(Clone, Debug, Default)]
pub struct BookedRows {
    /// Every row by outcome.
    pub stats: RowOutcomes,
    /// The first few malformed rows in file order, as `FILE:LINE: reason`
    /// (in a shard, as `FILE: line N after byte B: reason`).
    pub samples: Vec<String>,
    /// A few region_ids that are not in region.csv.
    pub unmatched_ids: Vec<i64>,
    /// Input bytes the booked chunks span: what was read, also of a pipe,
    /// whose size nobody knew.
    pub bytes: u64,
    /// Each source's file's lines up to the end of what was booked (where
    /// the lines before it are known), in plan order: what `--state` keeps
    /// to number the next run's lines.
    pub lines: Vec<u64>,
}

/// One file's reports on their way to being booked.
#[derive(Default)]
struct FileBook {
    /// Reports that came before the ones ahead of them, by chunk and part;
    /// its next key is the next chunk to book and the part of its report.
    waiting: Reorder<(u64, u32), ChunkReport>,
    /// How many chunks the file has, once known.
    chunks: Option<u64>,
    /// Lines booked so far, counted from the source's first row.
    lines_done: u64,
}

/// Books reports in file order.
pub(super) struct Ledger<'a> {
    sources: &'a [Box<dyn ChunkSource>],
    /// Each source's part of its file, for a shard's rejects.
    parts: Vec<ShardPart>,
    /// How many lines of each source's file come before its first row,
    /// where known (a whole file: its header; `--state`: what earlier runs
    /// counted); `None` for a shard's part, numbered from its range.
    lines_before: Vec<Option<u64>>,
    policy: RowPolicy,
    rejects: Option<&'a mut RejectsWriter>,
    progress: &'a dyn Progress,
    files: Vec<FileBook>,
    /// The file being booked; every one before it is booked whole.
    current: usize,
    tally: BookedRows,
}

impl<'a> Ledger<'a> {
    pub(super) fn new(
        sources: &'a [Box<dyn ChunkSource>],
        parts: Vec<ShardPart>,
        policy: RowPolicy,
        rejects: Option<&'a mut RejectsWriter>,
        progress: &'a dyn Progress,
    ) -> Self {
        Ledger {
            sources,
            parts,
            lines_before: sources
                .iter()
                .map(|source| match source.line_origin() {
                    LineOrigin::FirstRow(first) => Some(first - 1),
                    LineOrigin::AfterByte(_) => None,
                })
                .collect(),
            policy,
            rejects,
            progress,
            files: sources.iter().map(|_| FileBook::default()).collect(),
            current: 0,
            tally: BookedRows::default(),
        }
    }

    /// Numbers the lines of each source from `lines_before` (one per
    /// source): the lines of its file before its first row, which
    /// `--state` knows from the runs before.
    pub(super) fn number_lines_after(&mut self, lines_before: &[u64]) {
        for (known, &lines) in self.lines_before.iter_mut().zip(lines_before) {
            // A source from its file's first row knows its lines already
            // (a header or none).
            known.get_or_insert(lines);
        }
    }

    /// Takes one message; books every report that is now next in order.
    /// Tells `gate` of each report booked, and of the one needed next.
    pub(super) fn take(&mut self, message: ScanEvent, gate: &Gate) -> Result<()> {
        match message {
            ScanEvent::Chunk { file, report } => {
                // Reports are small unless rejects are kept; one waits only
                // until the chunks before it, being scanned right now, are in.
                self.files[file]
                    .waiting
                    .insert((report.seq, report.part), report);
            }
            ScanEvent::End { file, chunks } => self.files[file].chunks = Some(chunks),
        }
        while self.current < self.files.len() {
            let book = &mut self.files[self.current];
            let next = book.waiting.pop(|(seq, part), report: &ChunkReport| {
                if report.more_parts {
                    (seq, part + 1)
                } else {
                    (seq + 1, 0)
                }
            });
            if let Some(report) = next {
                let bytes = report.heap_bytes();
                self.book(self.current, report)?;
                gate.release(bytes);
            } else if book.chunks == Some(book.waiting.next().0) {
                // A shard's rejects say how many lines each part spans, for
                // `merge` to number the lines of the parts after it.
                let lines = book.lines_done;
                if let Some(rejects) = self.rejects.as_mut().filter(|r| r.is_shard()) {
                    let name = self.sources[self.current].name();
                    rejects.end_part(name, &self.parts[self.current], lines)?;
                }
                self.current += 1;
            } else {
                break;
            }
        }
        if let Some(book) = self.files.get(self.current) {
            let (next, next_part) = book.waiting.next();
            gate.set_next(plan_order(self.current, next), next_part);
        }
        Ok(())
    }

    /// The tally of a run whose every report was booked.
    pub(super) fn finish(self) -> Result<BookedRows> {
        if self.current < self.files.len() {
            return Err(Error::Internal(format!(
                "{} was not read to the end",
                self.sources[self.current].name()
            )));
        }
        let mut tally = self.tally;
        tally.lines = (self.files.iter().zip(&self.lines_before))
            .map(|(book, before)| before.unwrap_or(0) + book.lines_done)
            .collect();
        Ok(tally)
    }

    fn book(&mut self, file: usize, report: ChunkReport) -> Result<()> {
        let source = self.sources[file].as_ref();
        let name = source.name();
        let origin = source.line_origin();
        let book = &mut self.files[file];
        for problem in &report.problems {
            // `problem.line` counts from the chunk's first line, from 0.
            let line_in_part = ShardLine::of(book.lines_done, problem.line);
            // A file read has fewer than 2^64 lines (only a crafted shard's
            // rejects, read by `merge`, can say otherwise).
            let in_file = |before: u64| line_in_part.in_file(before).expect("< 2^64 lines");
            if problem.kind.is_some() {
                let samples = &mut self.tally.samples;
                if samples.len() < SAMPLES || self.policy.stops_at_malformed() {
                    let error = match (self.lines_before[file], origin) {
                        (None, LineOrigin::AfterByte(byte)) => Error::ShardData {
                            file: name.to_string(),
                            byte,
                            line: line_in_part.0,
                            reason: problem.reason.to_string(),
                        },
                        (before, _) => Error::Data {
                            file: name.to_string(),
                            line: in_file(before.unwrap_or(0)),
                            reason: problem.reason.to_string(),
                        },
                    };
                    if self.policy.stops_at_malformed() {
                        return Err(error);
                    }
                    samples.push(error.to_string());
                }
            }
            let row = &report.raw[problem.raw.clone()];
            match &mut self.rejects {
                Some(rejects) if rejects.is_shard() => rejects.write_in_part(
                    name,
                    &self.parts[file],
                    line_in_part,
                    &problem.reason,
                    row,
                )?,
                Some(rejects) => {
                    let before = self.lines_before[file].expect("only shards have parts");
                    rejects.write(name, in_file(before), &problem.reason, row)?
                }
                None => {}
            }
        }
        for &id in &report.unmatched_ids {
            sample_unmatched(&mut self.tally.unmatched_ids, id);
        }
        self.tally.stats.add(&report.stats);
        book.lines_done += report.lines;
        self.tally.bytes += report.span;
        self.progress.advance(report.span, report.stats.data_rows());
        Ok(())
    }
}
