//! What happens to the rows that are not counted: the one rule that the
//! scanner (what it keeps of a chunk) and the ledger (what it does with
//! that, in file order) both follow.

/// Malformed rows shown in the summary; also the most a chunk reports when
/// nothing else asks for them, so the first few of the run are always among
/// the reported ones whatever chunk they fall in.
pub const SAMPLES: usize = 5;

/// Adds `id` to `ids`, a sample of the region_ids of unmatched rows (a
/// chunk's, or the run's for the summary): the first ones seen, each once,
/// at most [`SAMPLES`].
pub(crate) fn sample_unmatched(ids: &mut Vec<i64>, id: i64) {
    if ids.len() < SAMPLES && !ids.contains(&id) {
        ids.push(id);
    }
}

/// A sample of unmatched region_ids (from [`sample_unmatched`]) in words:
/// "99, 7", or "1, 2, 3, 4, 5, ..." when the sample is full, and more ids
/// may have been left out.
pub(crate) fn listed_ids(ids: &[i64]) -> String {
    let mut text: Vec<String> = ids.iter().map(i64::to_string).collect();
    if ids.len() >= SAMPLES {
        text.push("...".into());
    }
    text.join(", ")
}

/// Skip, stop (`--strict`) and/or keep (`--rejects`) the rows not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowPolicy {
    /// The first malformed row, in file order, stops the run.
    pub stop_at_malformed: bool,
    /// Every malformed and unmatched row is kept with its text, for a
    /// rejects file.
    pub keep_rejects: bool,
}

impl RowPolicy {
    /// Whether the scanner reports the line and reason of a malformed row,
    /// after `reported` such rows in the same chunk.
    #[inline]
    pub fn reports_malformed(self, reported: usize) -> bool {
        self.keep_rejects || self.stop_at_malformed || reported < SAMPLES
    }

    /// Whether the scanner reports each unmatched row.
    #[inline]
    pub fn reports_unmatched(self) -> bool {
        self.keep_rejects
    }

    /// Whether a reported row carries its text.
    #[inline]
    pub fn keeps_text(self) -> bool {
        self.keep_rejects
    }

    /// Whether a malformed row ends the scan of its chunk, and the run.
    #[inline]
    pub fn stops_at_malformed(self) -> bool {
        self.stop_at_malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmatched_ids_are_sampled_once_each_up_to_the_cap() {
        let mut ids = Vec::new();
        for id in [7, 7, -1, 7, 3, 4, 5, 6, 8] {
            sample_unmatched(&mut ids, id);
        }
        assert_eq!(ids, [7, -1, 3, 4, 5]);
    }
}
