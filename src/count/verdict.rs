//! Whether a count that read its input to the end succeeded: a run (not a
//! shard) in which data rows existed but none could be counted is a failure (a date
//! written another way, a region.csv of other ids: the result would be
//! empty, and a script would see success), and so is one past the
//! thresholds the caller set on malformed or unmatched rows. Checked before
//! any output appears, so a failed run leaves the older outputs as they
//! were.

use super::ledger::BookedRows;
use crate::error::{Error, Result};
use crate::regions::RegionTable;
use crate::scan::{listed_ids, MalformedKind};

/// The most rows of a kind a run may have: a number, or a share of the
/// data rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// At most this many rows.
    Rows(u64),
    /// At most this percentage of the data rows (0 to 100).
    Percent(f64),
}

impl Threshold {
    /// Whether `bad` rows out of `data_rows` go past it.
    pub fn exceeded(self, bad: u64, data_rows: u64) -> bool {
        match self {
            Threshold::Rows(most) => bad > most,
            Threshold::Percent(share) => bad as f64 > data_rows as f64 * share / 100.0,
        }
    }
}

impl std::str::FromStr for Threshold {
    type Err = String;

    /// `N` rows or `P%` of the data rows.
    fn from_str(text: &str) -> std::result::Result<Threshold, String> {
        let bad = || format!("{text:?} is not a number of rows (1000) or a share of them (0.5%)");
        match text.trim().strip_suffix('%') {
            Some(share) => match share.trim().parse::<f64>() {
                Ok(share) if (0.0..=100.0).contains(&share) => Ok(Threshold::Percent(share)),
                _ => Err(bad()),
            },
            None => text.trim().parse().map(Threshold::Rows).map_err(|_| bad()),
        }
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threshold::Rows(n) => write!(f, "{n} rows"),
            Threshold::Percent(share) => write!(f, "{share}% of the data rows"),
        }
    }
}

/// The thresholds of one count; `None`: no limit, but a run that counts
/// none of its data rows fails unless a threshold was set for each kind of
/// bad row it had.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    /// Malformed rows.
    pub malformed: Option<Threshold>,
    /// Rows whose region_id is not in region.csv.
    pub unmatched: Option<Threshold>,
}

impl Thresholds {
    /// No threshold at all: a run whose every row is malformed or
    /// unmatched still succeeds, with an empty result.
    pub fn allow_all() -> Thresholds {
        Thresholds {
            malformed: Some(Threshold::Percent(100.0)),
            unmatched: Some(Threshold::Percent(100.0)),
        }
    }
}

/// Fails the run if it went past a threshold, or counted nothing of data
/// rows that existed; the error says why, with a hint when one mistake
/// explains every row.
pub(super) fn judge(
    tally: &BookedRows,
    thresholds: Thresholds,
    regions: &RegionTable,
    shard: bool,
) -> Result<()> {
    let stats = &tally.stats;
    let data_rows = stats.data_rows();
    let malformed = stats.malformed_total();
    for (bad, threshold, what, example) in [
        (
            malformed,
            thresholds.malformed,
            "malformed",
            first_sample(tally),
        ),
        (
            stats.unmatched,
            thresholds.unmatched,
            "unmatched",
            unmatched_sample(tally),
        ),
    ] {
        if let Some(threshold) = threshold.filter(|t| t.exceeded(bad, data_rows)) {
            return Err(Error::TooManyBad(format!(
                "{bad} of {data_rows} data rows are {what}, more than the {threshold} allowed; \
                 nothing was written{example}"
            )));
        }
    }
    // A shard is part of a count: one of its parts may well hold no row
    // to count (the thresholds above still hold for it); merge judges the
    // whole count from the shards' manifests.
    if shard {
        return Ok(());
    }
    let given = [thresholds.malformed.is_some(), thresholds.unmatched.is_some()];
    let Some(mut why) = nothing_counted(stats.counted, malformed, stats.unmatched, given) else {
        return Ok(());
    };
    let only = |kind: MalformedKind| stats.malformed[kind as usize] == data_rows;
    if only(MalformedKind::BadDateFormat) {
        why.push_str(&format!(
            // The sample's reason says which forms are read.
            "; every date is written another way{}",
            first_sample(tally)
        ));
    } else if only(MalformedKind::FieldCount) {
        why.push_str(&format!(
            "; no row has the header's number of fields{}: are the rows separated by the \
             header's delimiter? (it is sniffed from the header among , ; tab |, and \
             --delimiter sets it)",
            first_sample(tally)
        ));
    } else if stats.unmatched == data_rows {
        let ids: Vec<String> = tally.unmatched_ids.iter().map(i64::to_string).collect();
        let mut known: Vec<i64> = regions.ids().to_vec();
        known.sort_unstable();
        let range = match (known.first(), known.last()) {
            (Some(low), Some(high)) => format!("{} ids, {low} to {high}", known.len()),
            _ => "no ids".to_string(),
        };
        why.push_str(&format!(
            "; no region_id of the rows (such as {}) is in region.csv ({range}): is it the \
             region.csv of these rows?",
            ids.join(", ")
        ));
    } else {
        why.push_str(&first_sample(tally));
    }
    Err(Error::TooManyBad(why))
}

/// Why a count of `counted` rows, `malformed` and `unmatched` others,
/// fails, if it does: data rows existed and none could be counted, unless
/// a threshold was `given` for each kind of bad row it had ([malformed,
/// unmatched]): a caller who set one for every kind there is, and was not
/// past it, asked for this outcome, an empty result included. The rule of
/// a count and of `merge` of its shards.
pub(crate) fn nothing_counted(
    counted: u64,
    malformed: u64,
    unmatched: u64,
    given: [bool; 2],
) -> Option<String> {
    let data_rows = counted + malformed + unmatched;
    let allowed = (malformed == 0 || given[0]) && (unmatched == 0 || given[1]);
    (data_rows > 0 && counted == 0 && !allowed).then(|| {
        format!(
            "none of the {data_rows} data rows could be counted ({malformed} malformed, \
             {unmatched} unmatched), so nothing was written"
        )
    })
}

/// A few of the region_ids not in region.csv, as ` (region_ids not in
/// region.csv: 99, 7; ...)`. The scan keeps the ids of unmatched rows, not
/// their places: `--rejects` gives each row's file and line.
fn unmatched_sample(tally: &BookedRows) -> String {
    if tally.unmatched_ids.is_empty() {
        return String::new();
    }
    format!(
        " (region_ids not in region.csv: {}; --rejects PATH lists each row with its file and \
         line)",
        listed_ids(&tally.unmatched_ids)
    )
}

/// The first malformed row's place and reason, as ` (FILE:LINE: reason)`.
fn first_sample(tally: &BookedRows) -> String {
    tally
        .samples
        .first()
        .map_or(String::new(), |s| format!(" ({s})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_compare() {
        assert_eq!("10".parse(), Ok(Threshold::Rows(10)));
        assert_eq!(" 0.5% ".parse(), Ok(Threshold::Percent(0.5)));
        assert!("101%".parse::<Threshold>().is_err());
        assert!("-1".parse::<Threshold>().is_err());
        assert!("ten".parse::<Threshold>().is_err());
        assert!(Threshold::Rows(10).exceeded(11, 1000));
        assert!(!Threshold::Rows(10).exceeded(10, 1000));
        assert!(Threshold::Percent(1.0).exceeded(11, 1000));
        assert!(!Threshold::Percent(1.0).exceeded(10, 1000));
    }
}
