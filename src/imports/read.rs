//! Reading an uploaded file into sheets of cells: CSV (RFC 4180: fields separated by commas, quoted fields may
//! hold commas, doubled quotes and line breaks; CRLF or LF line ends; a UTF-8 byte order mark is skipped) and
//! XLSX (every worksheet, through calamine). Each row keeps the number a spreadsheet shows for it.

use std::io::Cursor;

use calamine::{Data, Reader as _};

/// A cell's value as the file gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum CellValue {
    Empty,
    Text(String),
    Number(f64),
    Bool(bool),
    Date(chrono::NaiveDate),
}

impl CellValue {
    pub fn is_empty(&self) -> bool {
        match self {
            CellValue::Empty => true,
            CellValue::Text(text) => text.trim().is_empty(),
            _ => false,
        }
    }

    /// The value as text: a whole number without decimals, other numbers in their shortest exact form, a date
    /// as `YYYY-MM-DD`.
    pub fn text(&self) -> String {
        match self {
            CellValue::Empty => String::new(),
            CellValue::Text(text) => text.trim().to_owned(),
            CellValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => format!("{}", *n as i64),
            CellValue::Number(n) => format!("{n}"),
            CellValue::Bool(b) => b.to_string(),
            CellValue::Date(day) => day.to_string(),
        }
    }
}

/// One row of a sheet with the number a spreadsheet shows for it (the heading row is usually 1).
#[derive(Clone, Debug)]
pub struct Row {
    pub number: u32,
    pub cells: Vec<CellValue>,
}

/// A sheet: its name (`None` for a CSV file, which has one unnamed sheet), its heading row and its other rows.
#[derive(Clone, Debug)]
pub struct Sheet {
    pub name: Option<String>,
    pub headings: Vec<String>,
    /// The number of the heading row.
    pub heading_row: u32,
    /// The column of the first cell (0 for column A).
    pub first_column: u32,
    pub rows: Vec<Row>,
}

/// A file that cannot be read as a table at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Reads a CSV file: the first record is the heading row.
pub fn csv(bytes: &[u8]) -> Result<Sheet, Unreadable> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Unreadable(format!("the CSV file is not UTF-8 text ({e}); save it as 'CSV UTF-8'")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = csv_records(text)?;
    let mut records = records.into_iter().enumerate().map(|(i, cells)| Row { number: i as u32 + 1, cells });
    let headings = records.next().map(|row| row.cells.iter().map(CellValue::text).collect()).unwrap_or_default();
    Ok(Sheet { name: None, headings, heading_row: 1, first_column: 0, rows: records.collect() })
}

/// The records of a CSV text, each a list of text fields.
fn csv_records(text: &str) -> Result<Vec<Vec<CellValue>>, Unreadable> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_field_start => {
                let opened_on = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            line += usize::from(c == '\n');
                            field.push(c);
                        }
                        None => {
                            return Err(Unreadable(format!(
                                "the quoted field opened on line {opened_on} of the CSV file is never closed"
                            )))
                        }
                    }
                }
                if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                    return Err(Unreadable(format!(
                        "line {line} of the CSV file has text after a closing quote; double a quote inside a quoted field (\"\")"
                    )));
                }
                at_field_start = false;
            }
            ',' => {
                record.push(CellValue::Text(std::mem::take(&mut field)));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                record.push(CellValue::Text(std::mem::take(&mut field)));
                records.push(std::mem::take(&mut record));
                at_field_start = true;
                line += 1;
            }
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if !field.is_empty() || !record.is_empty() || !at_field_start {
        record.push(CellValue::Text(field));
        records.push(record);
    }
    Ok(records)
}

/// Reads every worksheet of an XLSX workbook; a sheet's first non-empty row is its heading row.
pub fn xlsx(bytes: &[u8]) -> Result<Vec<Sheet>, Unreadable> {
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| Unreadable(format!("the file is not an XLSX workbook ({e}); save it as 'Excel Workbook (.xlsx)'")))?;
    let mut sheets = Vec::new();
    for name in workbook.sheet_names() {
        let range = workbook
            .worksheet_range(&name)
            .map_err(|e| Unreadable(format!("sheet '{name}' of the workbook cannot be read: {e}")))?;
        let Some((first_row, first_column)) = range.start() else {
            continue;
        };
        let mut rows = range.rows().enumerate().map(|(i, cells)| Row {
            number: first_row + i as u32 + 1,
            cells: cells.iter().map(cell).collect(),
        });
        let Some(heading) = rows.by_ref().find(|row| row.cells.iter().any(|c| !c.is_empty())) else {
            continue;
        };
        let headings = heading.cells.iter().map(CellValue::text).collect();
        sheets.push(Sheet { name: Some(name), headings, heading_row: heading.number, first_column, rows: rows.collect() });
    }
    Ok(sheets)
}

fn cell(data: &Data) -> CellValue {
    match data {
        Data::Empty => CellValue::Empty,
        Data::Int(n) => CellValue::Number(*n as f64),
        Data::Float(n) => CellValue::Number(*n),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => CellValue::Text(text.clone()),
        Data::Bool(b) => CellValue::Bool(*b),
        Data::DateTime(when) => match when.as_datetime() {
            Some(moment) if !when.is_duration() => CellValue::Date(moment.date()),
            _ => CellValue::Number(when.as_f64()),
        },
        Data::Error(error) => CellValue::Text(format!("#{error:?}")),
    }
}

/// The letters of a column (0 → A, 26 → AA), as a cell reference names it.
pub fn column_letters(mut column: u32) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (column % 26) as u8);
        if column < 26 {
            break;
        }
        column = column / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<Vec<String>> {
        csv_records(text).unwrap().into_iter().map(|r| r.iter().map(CellValue::text).collect()).collect()
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        assert_eq!(
            texts("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",\r\n"),
            vec![vec!["a", "b"], vec!["x, y", "say \"hi\""], vec!["two\nlines", ""]]
        );
        assert_eq!(texts("a\nb"), vec![vec!["a"], vec!["b"]]);
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        let error = csv_records("a\n\"open,\n").unwrap_err();
        assert!(error.0.contains("line 2"), "{error}");
    }

    #[test]
    fn columns_are_lettered_as_spreadsheets_do() {
        assert_eq!([0, 25, 26, 27, 701, 702].map(column_letters), ["A", "Z", "AA", "AB", "ZZ", "AAA"]);
    }
}
