//! Following the inputs from the last run: what changed in each file
//! since its recorded end, and from where this run counts it.

use super::file::crc;
use super::{Changed, Counted, Entry, Key, State, StateOptions, PRINT, TAIL_READ};
use crate::error::{Error, Result};
use crate::input::plan::PlannedInput;
use crate::input::{Object, Plan};

/// What [`follow`] planned: the new state's entries, and the bytes new
/// and skipped.
pub(super) struct Followed {
    pub(super) entries: Vec<Entry>,
    pub(super) counted: Vec<Counted>,
    pub(super) new: u64,
    pub(super) skipped: u64,
}

/// Plans this run against `previous`; `None` when the run must count from
/// scratch instead.
pub(super) fn follow(
    previous: Option<&State>,
    options: &StateOptions,
    strict: bool,
    plan: &mut Plan,
) -> Result<Option<Followed>> {
    let known: &[Entry] = previous.map_or(&[], |s| &s.entries);
    let mut seen = vec![false; known.len()];
    let mut inputs = Vec::new();
    for input in &plan.inputs {
        let Some(followed) = follow_input(input, known, &mut seen, strict)? else {
            plan_whole(plan);
            return Ok(None);
        };
        inputs.push(followed);
    }
    let (mut new, mut skipped) = (0u64, 0u64);
    for input in &inputs {
        if input.read {
            new += input.entry.end - input.from;
            skipped += input.from;
        } else {
            skipped += input.entry.size;
        }
    }
    let Some(missing) = missing_entries(known, &seen, options) else {
        plan_whole(plan);
        return Ok(None);
    };
    // Each plain input counts the rows that start in [from, end): as a
    // shard part, the rows whose preceding newline is in [from-1, end-1).
    for (input, followed) in plan.inputs.iter_mut().zip(&inputs) {
        if input.compression.is_none() {
            input.range =
                Some(followed.from.saturating_sub(1)..followed.entry.end.saturating_sub(1));
        }
    }
    let counted = inputs
        .iter()
        .enumerate()
        .filter(|(_, input)| input.read)
        .map(|(entry, input)| Counted {
            entry,
            lines_before: input.lines_before,
        })
        .collect();
    let mut read = inputs.iter().map(|input| input.read);
    plan.inputs.retain(|_| read.next().unwrap_or(true));
    let mut entries: Vec<Entry> = inputs.into_iter().map(|input| input.entry).collect();
    entries.extend(missing);
    Ok(Some(Followed {
        entries,
        counted,
        new,
        skipped,
    }))
}

/// One input as [`follow_input`] found it.
struct FollowedInput {
    /// Its entry in the new state.
    entry: Entry,
    /// Where this run starts reading it.
    from: u64,
    /// The lines before `from` (the header, for a file read from its
    /// start).
    lines_before: u64,
    /// Whether this run reads it at all: not a compressed file the state
    /// has counted, unchanged.
    read: bool,
}

/// Follows one input from its entry among the state's `known` ones
/// (marking that entry in `seen`); `None` when it changed in a way that
/// cannot be followed, and the run must count from scratch.
fn follow_input(
    input: &PlannedInput,
    known: &[Entry],
    seen: &mut [bool],
    strict: bool,
) -> Result<Option<FollowedInput>> {
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
                    return Ok(None);
                }
            }
        }
    };
    let lines_before = match old {
        Some(i) if from > 0 => known[i].lines,
        // The header.
        _ => 1,
    };
    let end = if compressed {
        size
    } else {
        let end = last_line_end(object, from, size)?;
        // A warning, not a note for `-v`: a finished file without a final
        // newline would otherwise lose its last row, silently, run after
        // run.
        if end < size {
            log::warn!(
                "{}: the last {} bytes are a line without its newline yet: not counted until \
                 it ends (a file that is finished needs a newline at its end)",
                object.name(),
                size - end
            );
        }
        end
    };
    let entry = Entry {
        key,
        name: object.name().to_string(),
        compressed,
        size,
        end,
        // This run's lines are added in [`Resumed::finish`].
        lines: match old {
            Some(i) if compressed => known[i].lines,
            _ => lines_before,
        },
        head: crc_at(object, 0..end.min(PRINT))?,
        tail: crc_at(object, end.saturating_sub(PRINT)..end)?,
        e_tag: object.e_tag().unwrap_or_default().to_string(),
    };
    Ok(Some(FollowedInput {
        entry,
        from,
        lines_before,
        // A compressed file the state has counted, unchanged: nothing to
        // read.
        read: !(compressed && old.is_some()),
    }))
}

/// The entries of the state's inputs that are not among this run's, kept
/// so that their counts stay in the result; `None` under
/// `--forget-missing`, when the run counts from scratch without them.
fn missing_entries(known: &[Entry], seen: &[bool], options: &StateOptions) -> Option<Vec<Entry>> {
    let missing: Vec<&Entry> = known
        .iter()
        .zip(seen)
        .filter(|(_, seen)| !**seen)
        .map(|(e, _)| e)
        .collect();
    if missing.is_empty() {
        return Some(Vec::new());
    }
    let names: Vec<&str> = missing.iter().map(|e| e.name.as_str()).collect();
    if options.forget_missing {
        log::warn!(
            "{} not among the inputs any more: counting from scratch without {} (--forget-missing)",
            names.join(", "),
            if names.len() == 1 { "it" } else { "them" }
        );
        return None;
    }
    log::warn!(
        "{} not among the inputs any more: {} counts stay in the result \
         (--forget-missing drops them)",
        names.join(", "),
        if names.len() == 1 { "its" } else { "their" }
    );
    Some(missing.into_iter().cloned().collect())
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

fn crc_at(object: &dyn Object, range: std::ops::Range<u64>) -> Result<u32> {
    let mut buf = vec![0; (range.end - range.start) as usize];
    object.read_exact_at(&mut buf, range.start)?;
    Ok(crc(&buf))
}
