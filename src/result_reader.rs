//! Reading result.csv files back, for `merge` and `plot`: the same quoting
//! rules as the inputs, columns found by name, every line checked.

use crate::csv::quote_for_message;
use crate::date::{parse_date, DateText};
use crate::error::Result;
use crate::format::{Table, RESULT_FILE};

/// One row of a result file, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRecord {
    /// The region's name.
    pub region: Box<[u8]>,
    /// The day.
    pub date: DateText,
    /// Rows of that region on that day.
    pub count: u64,
}

/// Parses a result file; `file` names it in errors.
pub fn parse_results(bytes: &[u8], file: &str) -> Result<Vec<ResultRecord>> {
    let table = Table::new(bytes, file, &RESULT_FILE)?;
    let region_col = table.column("region_name")?;
    let date_col = table.column("date")?;
    let count_col = table.column("count")?;
    let error = |line: u64, reason: String| crate::Error::Data {
        file: file.to_string(),
        line,
        reason,
    };
    let mut records = Vec::new();
    table.for_each(|line, fields| {
        let raw_date = fields[date_col].value();
        let date = parse_date(&raw_date).map_err(|e| {
            let shown = quote_for_message(&raw_date);
            error(line, format!("date {shown} {e}"))
        })?;
        let raw_count = fields[count_col].value();
        let count = std::str::from_utf8(&raw_count)
            .ok()
            .and_then(|c| c.parse::<u64>().ok())
            .ok_or_else(|| {
                let shown = quote_for_message(&raw_count);
                error(line, format!("count {shown} is not a whole number"))
            })?;
        records.push(ResultRecord {
            region: fields[region_col].value().into(),
            date,
            count,
        });
        Ok(())
    })?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_count_writes() {
        let text = b"\"region_name\",\"date\",\"count\"\n\"A \"\"x\"\", B\",\"2019-01-02\",\"7\"\n\n\"C\",\"2019-01-01\",\"1\"\n";
        let rows = parse_results(text, "r.csv").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(&*rows[0].region, b"A \"x\", B");
        assert_eq!(rows[0].date, *b"2019-01-02");
        assert_eq!(rows[1].count, 1);
    }

    #[test]
    fn bad_lines_are_named() {
        let err = |text: &str| {
            parse_results(text.as_bytes(), "p.csv")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("region_name,date,count\nA,2019-01-01,x\n"),
            "p.csv:2: count \"x\" is not a whole number"
        );
        assert!(err("region_name,date,count\nA,2019-02-30,1\n")
            .starts_with("p.csv:2: date \"2019-02-30\""));
        assert_eq!(
            err("region_name,date\nA,2019-01-01\n"),
            "p.csv:1: header has no \"count\" column (found \"region_name\",\"date\")"
        );
        assert_eq!(
            err("region_name,date,count\nA,2019-01-01\n"),
            "p.csv:2: expected 3 fields, found 2"
        );
    }
}
