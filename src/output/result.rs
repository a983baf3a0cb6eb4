//! result.csv: the counts decoded into (region name, date, count) rows,
//! sorted by date, then region name in byte order.

use std::io::{self, Write};

use crate::csv::write_quoted;
use crate::date::DateText;
use crate::format::RESULT_HEADER;
use crate::regions::{KeySpace, RegionTable};

/// One row of result.csv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRow<'a> {
    /// The region's name.
    pub region: &'a [u8],
    /// The day.
    pub date: &'a DateText,
    /// Rows of that region on that day.
    pub count: u64,
}

/// The rows of result.csv, sorted by date, then region name in byte order.
#[derive(Debug)]
pub struct ResultTable<'a> {
    rows: Vec<ResultRow<'a>>,
}

impl<'a> ResultTable<'a> {
    /// Decodes non-zero bins: key -> (date index, region slot) -> texts.
    pub fn new(
        counts: &[u64],
        keys: KeySpace,
        dates: &'a [DateText],
        regions: &'a RegionTable,
    ) -> ResultTable<'a> {
        let rows: Vec<ResultRow<'a>> = counts
            .iter()
            .enumerate()
            .filter(|&(_, &count)| count > 0)
            .map(|(key, &count)| {
                let (date, region) = keys.unpack(key as u32);
                ResultRow {
                    region: regions.name(region),
                    date: &dates[date as usize],
                    count,
                }
            })
            .collect();
        ResultTable::from_rows(rows)
    }

    /// A table of rows in any order (a merge of result files).
    pub fn from_rows(mut rows: Vec<ResultRow<'a>>) -> ResultTable<'a> {
        rows.sort_unstable_by(|a, b| (a.date, a.region).cmp(&(b.date, b.region)));
        ResultTable { rows }
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in result order.
    pub fn rows(&self) -> &[ResultRow<'a>] {
        &self.rows
    }
}

/// Writes `table` as result.csv, its header first.
pub fn write_table(out: &mut dyn Write, table: &ResultTable<'_>) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    buf.extend_from_slice(RESULT_HEADER);
    for row in &table.rows {
        write_quoted(&mut buf, row.region);
        buf.push(b',');
        write_quoted(&mut buf, row.date);
        buf.push(b',');
        write_quoted(&mut buf, row.count.to_string().as_bytes());
        buf.push(b'\n');
        if buf.len() >= 60 * 1024 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sorts_by_date_then_name_and_skips_zeros() {
        let regions = RegionTable::parse(b"region_id,region_name\n1,b\n2,a\n3,B\n", "r").unwrap();
        let keys = KeySpace::new(regions.slots());
        let dates = [*b"2019-01-02", *b"2019-01-01"];
        let mut counts = vec![0u64; 6];
        counts[keys.pack(0, 0) as usize] = 5; // b, 01-02
        counts[keys.pack(0, 1) as usize] = 1; // a, 01-02
        counts[keys.pack(1, 2) as usize] = 7; // B, 01-01
        let table = ResultTable::new(&counts, keys, &dates, &regions);
        let rows: Vec<(&[u8], &[u8], u64)> = table
            .rows()
            .iter()
            .map(|r| (r.region, &r.date[..], r.count))
            .collect();
        assert_eq!(
            rows,
            [
                (&b"B"[..], &b"2019-01-01"[..], 7),
                (b"a", b"2019-01-02", 1),
                (b"b", b"2019-01-02", 5)
            ]
        );
    }
}
