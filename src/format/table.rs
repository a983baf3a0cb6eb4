//! A whole small CSV file with a header (region.csv, result files), read
//! record by record with exact line numbers: its header by the rule of
//! every header ([`header_line`]), its records by the field rules of
//! [`crate::csv`], with the delimiter its [`SmallFile`] says.

use super::{header_line, header_names_with, SmallFile};
use crate::csv::{find_column, parse_record_with, Field};

/// A whole small CSV file with a header (region.csv, result files), read
/// record by record with exact line numbers. Columns are found by name.
pub struct Table<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The line the next record starts on; the header is line 1.
    line: u64,
    file: &'a str,
    /// What separates its fields.
    delimiter: u8,
    /// The header's field values (of a file without a header row, its
    /// first record's, which give the number of fields every record must
    /// have; its columns are then found by position).
    pub header: Vec<Vec<u8>>,
}

impl<'a> Table<'a> {
    /// Reads the header of `bytes`, a whole file of kind `kind`, named
    /// `file` in errors. The header line is found by the one rule of every
    /// header, [`header_line`]; under [`SmallFile::headerless`] it is the
    /// first record, on line 1.
    pub fn new(bytes: &'a [u8], file: &'a str, kind: &SmallFile) -> crate::Result<Table<'a>> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut table = Table {
            bytes,
            pos: 0,
            line: 2,
            file,
            delimiter: b',',
            header: Vec::new(),
        };
        let (header, rows_start) = header_line(bytes, true, kind.header)
            .and_then(|found| {
                let (line, rows_start) = found.expect("the whole file is there");
                table.delimiter = kind.delimiter(&line);
                Ok((header_names_with(&line, table.delimiter)?, rows_start))
            })
            .map_err(|why| table.error(1, why))?;
        table.header = header;
        table.pos = rows_start;
        if kind.headerless {
            table.pos = 0;
            table.line = 1;
        }
        Ok(table)
    }

    /// The index of the header column `name` (ASCII case ignored).
    pub fn column(&self, name: &str) -> crate::Result<usize> {
        find_column(&self.header, name).map_err(|why| self.error(1, why))
    }

    /// An error about line `line` of this file.
    pub fn error(&self, line: u64, reason: String) -> crate::Error {
        crate::Error::Data {
            file: self.file.to_string(),
            line,
            reason,
        }
    }

    /// Calls `f(line, fields)` for every record, skipping blank lines; a
    /// record with another number of fields than the header is an error.
    pub fn for_each(
        mut self,
        mut f: impl FnMut(u64, &[Field<'a>]) -> crate::Result<()>,
    ) -> crate::Result<()> {
        let mut fields = Vec::new();
        while self.pos < self.bytes.len() {
            let line = self.line;
            let used = parse_record_with(&self.bytes[self.pos..], self.delimiter, &mut fields)
                .map_err(|e| self.error(line, e.to_string()))?;
            self.advance(used);
            if fields.len() == 1 && fields[0].value().is_empty() {
                continue; // a blank line
            }
            if fields.len() != self.header.len() {
                let reason = format!(
                    "expected {} fields, found {}",
                    self.header.len(),
                    fields.len()
                );
                return Err(self.error(line, reason));
            }
            f(line, &fields)?;
        }
        Ok(())
    }

    fn advance(&mut self, used: usize) {
        let record = &self.bytes[self.pos..self.pos + used];
        self.line += memchr::memchr_iter(b'\n', record).count() as u64;
        self.pos += used;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{REGION_FILE, RESULT_FILE};

    #[test]
    fn a_tables_header_is_read_by_the_rule_of_every_header() {
        // What header_line refuses, a table refuses too, on line 1.
        let xlsx = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\n1,2\n";
        let err = Table::new(xlsx, "r.csv", &RESULT_FILE).err().unwrap().to_string();
        assert!(err.starts_with("r.csv:1: this is a ZIP archive"), "{err}");
        let mac = b"a,b\r1,2\r";
        let err = Table::new(mac, "r.csv", &RESULT_FILE).err().unwrap().to_string();
        assert!(err.contains("CR-only"), "{err}");
        // A byte order mark and a CRLF go; rows start on line 2.
        let table = Table::new(b"\xEF\xBB\xBFa,\"b\"\r\n1,2\r\n", "r.csv", &RESULT_FILE).unwrap();
        assert_eq!(table.header, [b"a".to_vec(), b"b".to_vec()]);
        let mut rows = Vec::new();
        table
            .for_each(|line, fields| {
                rows.push((line, fields.len()));
                Ok(())
            })
            .unwrap();
        assert_eq!(rows, [(2, 2)]);
    }

    /// region.csv's delimiter is sniffed from its header, as a location
    /// file's is: a `;` export was one column ("column 2 is asked for, but
    /// the header has 1 columns"). The files this tool writes are commas.
    #[test]
    fn a_sniffed_table_reads_its_own_delimiter() {
        let bytes = b"region_id;region_name\n1;\"A, B\"\n2;C,D\n";
        let table = Table::new(bytes, "r.csv", &REGION_FILE).unwrap();
        assert_eq!(table.header.len(), 2);
        let mut rows = Vec::new();
        table
            .for_each(|line, fields| {
                rows.push((line, fields[1].value().into_owned()));
                Ok(())
            })
            .unwrap();
        assert_eq!(rows, [(2, b"A, B".to_vec()), (3, b"C,D".to_vec())]);
        let comma = Table::new(bytes, "r.csv", &RESULT_FILE).unwrap();
        assert_eq!(comma.header.len(), 1);
        // Without a header row, sniffed from the first row, on line 1.
        let headerless = SmallFile {
            headerless: true,
            ..REGION_FILE
        };
        let table = Table::new(b"1\tA\n2\tB\n", "r.csv", &headerless).unwrap();
        let mut lines = Vec::new();
        table
            .for_each(|line, fields| {
                lines.push((line, fields.len()));
                Ok(())
            })
            .unwrap();
        assert_eq!(lines, [(1, 2), (2, 2)]);
    }
}
