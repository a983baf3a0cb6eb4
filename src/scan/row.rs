//! What a row turns out to be: a key, unmatched, blank, or malformed with a
//! reason; and the counts of each, which every layer adds up the same way.

use std::borrow::Cow;
use std::fmt;

use crate::csv::{quote_for_message, QuoteError};
use crate::date::DateError;
use crate::format::{Layout, MAX_LINE};
use crate::regions::{describe_id_error, IdError};

/// The kinds of malformed row, in the order the summary lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MalformedKind {
    /// A quoted field is not closed on its line.
    UnclosedQuote,
    /// Text follows a closing quote.
    TextAfterQuote,
    /// A quote inside an unquoted field.
    StrayQuote,
    /// Another number of fields than the header has.
    FieldCount,
    /// The region_id field is empty.
    EmptyRegionId,
    /// The region_id field is not an integer.
    BadRegionId,
    /// The date field is neither `YYYY-MM-DD` nor an event time.
    BadDateFormat,
    /// The date field is no real calendar date, time or offset.
    NoSuchDate,
    /// The line is longer than the longest line a row may have (`format::MAX_LINE`, 1 MiB).
    LineTooLong,
}

impl MalformedKind {
    /// Every kind, in summary order.
    pub const ALL: [MalformedKind; 9] = [
        MalformedKind::UnclosedQuote,
        MalformedKind::TextAfterQuote,
        MalformedKind::StrayQuote,
        MalformedKind::FieldCount,
        MalformedKind::EmptyRegionId,
        MalformedKind::BadRegionId,
        MalformedKind::BadDateFormat,
        MalformedKind::NoSuchDate,
        MalformedKind::LineTooLong,
    ];

    /// A short name for summaries and JSON: stable, lowercase, no spaces.
    pub fn label(self) -> &'static str {
        match self {
            MalformedKind::UnclosedQuote => "unclosed_quote",
            MalformedKind::TextAfterQuote => "text_after_quote",
            MalformedKind::StrayQuote => "stray_quote",
            MalformedKind::FieldCount => "wrong_field_count",
            MalformedKind::EmptyRegionId => "empty_region_id",
            MalformedKind::BadRegionId => "bad_region_id",
            MalformedKind::BadDateFormat => "bad_date_format",
            MalformedKind::NoSuchDate => "no_such_date",
            MalformedKind::LineTooLong => "line_too_long",
        }
    }
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A malformed row: what is wrong, with the piece of the row to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed<'a> {
    /// The row does not split into fields.
    Quoting(QuoteError),
    /// The row splits into `found` fields, not the header's number.
    FieldCount {
        /// How many fields the row has.
        found: usize,
    },
    /// The region_id field is not usable.
    RegionId(IdError, Cow<'a, [u8]>),
    /// The date field is not usable.
    Date(DateError, Cow<'a, [u8]>),
    /// The line is longer than [`MAX_LINE`] bytes.
    TooLong,
}

impl Malformed<'_> {
    /// Which kind of malformed row this is.
    pub fn kind(&self) -> MalformedKind {
        match self {
            Malformed::Quoting(QuoteError::Unclosed) => MalformedKind::UnclosedQuote,
            Malformed::Quoting(QuoteError::TextAfterQuote) => MalformedKind::TextAfterQuote,
            Malformed::Quoting(QuoteError::StrayQuote) => MalformedKind::StrayQuote,
            Malformed::FieldCount { .. } => MalformedKind::FieldCount,
            Malformed::RegionId(IdError::Empty, _) => MalformedKind::EmptyRegionId,
            Malformed::RegionId(IdError::NotInteger, _) => MalformedKind::BadRegionId,
            Malformed::Date(e, _) if e.is_shape() => MalformedKind::BadDateFormat,
            Malformed::Date(_, _) => MalformedKind::NoSuchDate,
            Malformed::TooLong => MalformedKind::LineTooLong,
        }
    }

    /// The reason, as one line for a message or the rejects file.
    pub fn message(&self, layout: &Layout) -> String {
        match self {
            Malformed::Quoting(e) => e.to_string(),
            Malformed::FieldCount { found } => {
                format!("expected {} fields, found {found}", layout.columns)
            }
            Malformed::RegionId(e, value) => describe_id_error(*e, value),
            Malformed::Date(e, value) => format!("date {} {e}", quote_for_message(value)),
            Malformed::TooLong => format!(
                "the line is longer than {} MiB, the longest a row may be",
                MAX_LINE >> 20
            ),
        }
    }
}

/// What one row turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row<'a> {
    /// Counted under this key.
    Key(u32),
    /// Well formed, but its region_id (this one) is not in region.csv.
    Unmatched(i64),
    /// Nothing but blanks.
    Blank,
    /// The file's header line again (files joined with `cat`).
    Header,
    /// Not counted, for this reason.
    Malformed(Malformed<'a>),
}

/// How many rows had each outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowOutcomes {
    /// Rows counted into the result.
    pub counted: u64,
    /// Well-formed rows whose region_id is not in region.csv.
    pub unmatched: u64,
    /// Blank lines.
    pub blank: u64,
    /// Lines that repeat the file's header (files joined with `cat`):
    /// not data rows, like blank lines.
    pub headers: u64,
    /// Malformed rows, by [`MalformedKind`] (its `as usize`).
    pub malformed: [u64; MalformedKind::ALL.len()],
}

impl RowOutcomes {
    /// Every malformed row.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }

    /// Data rows: every line after the header except blank ones and
    /// repeated headers.
    pub fn data_rows(&self) -> u64 {
        self.counted + self.unmatched + self.malformed_total()
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &RowOutcomes) {
        self.counted += other.counted;
        self.unmatched += other.unmatched;
        self.blank += other.blank;
        self.headers += other.headers;
        for (a, b) in self.malformed.iter_mut().zip(other.malformed) {
            *a += b;
        }
    }
}
