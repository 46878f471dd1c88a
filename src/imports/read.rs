//! Reading an uploaded file into sheets of cells: CSV (RFC 4180: fields separated by commas, quoted fields may
//! hold commas, doubled quotes and line breaks; CRLF or LF line ends; a UTF-8 byte order mark is skipped) and
//! XLSX (every worksheet, through calamine). Each row keeps the number a spreadsheet shows for it.

use std::io::Cursor;

use calamine::{DataRef, Reader as _};

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
    pub rows: Vec<Row>,
}

/// A file that cannot be read as a table at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Reads a CSV file: the first record that is not empty is the heading row.
pub fn csv(bytes: &[u8]) -> Result<Sheet, Unreadable> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Unreadable(format!("the CSV file is not UTF-8 text ({e}); save it as 'CSV UTF-8'")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = csv_records(text)?.into_iter();
    let Some(heading) = records.next() else {
        return Ok(Sheet { name: None, headings: Vec::new(), heading_row: 1, rows: Vec::new() });
    };
    let headings = heading.cells.iter().map(CellValue::text).collect();
    Ok(Sheet { name: None, headings, heading_row: heading.number, rows: records.collect() })
}

/// The records of a CSV text that are not empty, each a list of text fields with its record number, within
/// [`MAX_ROWS`] and [`MAX_COLUMNS`].
fn csv_records(text: &str) -> Result<Vec<Row>, Unreadable> {
    let mut records = Vec::new();
    let mut number = 0;
    let mut end_record = |record: Vec<CellValue>| {
        number += 1;
        if record.iter().all(CellValue::is_empty) {
            return Ok(());
        }
        if records.len() >= MAX_ROWS {
            return Err(Unreadable(format!("the file has more than {} rows; split it", MAX_ROWS - 1)));
        }
        records.push(Row { number, cells: record });
        Ok(())
    };
    let too_wide = || Unreadable(format!("a row of the CSV file has more than {MAX_COLUMNS} fields; an import reads {MAX_COLUMNS} columns"));
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
                if record.len() >= MAX_COLUMNS as usize {
                    return Err(too_wide());
                }
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                record.push(CellValue::Text(std::mem::take(&mut field)));
                end_record(std::mem::take(&mut record))?;
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
        end_record(record)?;
    }
    Ok(records)
}

/// The most columns a sheet may use: every field of the catalogue and an export's own columns fit many times.
pub const MAX_COLUMNS: u32 = 200;
/// The most non-empty rows, headings included, a file may have (an import takes 10 000 rows).
pub const MAX_ROWS: usize = 10_001;

/// Reads every worksheet of an XLSX workbook; a sheet's first non-empty row is its heading row. The cells are
/// read one by one and kept only where they hold something (a lone cell at XFD1048576 would make a dense grid
/// of seventeen billion), within [`MAX_COLUMNS`] and [`MAX_ROWS`].
pub fn xlsx(bytes: &[u8]) -> Result<Vec<Sheet>, Unreadable> {
    unpacked_size_within(bytes, MAX_UNPACKED_BYTES)?;
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| Unreadable(format!("the file is not an XLSX workbook ({e}); save it as 'Excel Workbook (.xlsx)'")))?;
    let mut sheets = Vec::new();
    // What the whole workbook may hold, across its sheets: rows, and text (a shared string is copied into every
    // cell that refers to it, so a short file may name a long string many times).
    let (mut rows_read, mut text_read) = (0usize, 0usize);
    let names = workbook.sheet_names();
    if names.len() > MAX_SHEETS {
        return Err(Unreadable(format!("the workbook has {} sheets; an import reads at most {MAX_SHEETS}", names.len())));
    }
    for name in names {
        let unreadable = |e: calamine::XlsxError| Unreadable(format!("sheet '{name}' of the workbook cannot be read: {e}"));
        let mut reader = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;
        let mut grid: std::collections::BTreeMap<u32, Vec<CellValue>> = std::collections::BTreeMap::new();
        while let Some(found) = reader.next_cell().map_err(unreadable)? {
            let value = cell(found.get_value());
            if value.is_empty() {
                continue;
            }
            if let CellValue::Text(text) = &value {
                text_read += text.len();
                if text.chars().count() > MAX_CELL_CHARS || text_read > MAX_TEXT_BYTES {
                    return Err(Unreadable(format!(
                        "sheet '{name}' holds more text than an import reads (at most {MAX_CELL_CHARS} characters a \
                         cell and {} MiB in all); split the file",
                        MAX_TEXT_BYTES / (1024 * 1024)
                    )));
                }
            }
            let (row, column) = found.get_position();
            if column >= MAX_COLUMNS {
                return Err(Unreadable(format!(
                    "sheet '{name}' has a value in column {}; an import reads columns A to {} only",
                    column_letters(column),
                    column_letters(MAX_COLUMNS - 1)
                )));
            }
            if !grid.contains_key(&row) {
                rows_read += 1;
                if rows_read > MAX_ROWS {
                    return Err(Unreadable(format!("the workbook has more than {} rows; split the file", MAX_ROWS - 1)));
                }
            }
            let cells = grid.entry(row).or_default();
            if cells.len() <= column as usize {
                cells.resize(column as usize + 1, CellValue::Empty);
            }
            cells[column as usize] = value;
        }
        let mut rows = grid.into_iter().map(|(row, cells)| Row { number: row + 1, cells });
        let Some(heading) = rows.next() else {
            continue;
        };
        let headings = heading.cells.iter().map(CellValue::text).collect();
        sheets.push(Sheet { name: Some(name), headings, heading_row: heading.number, rows: rows.collect() });
    }
    Ok(sheets)
}

/// The most a workbook's parts may unpack to: a few times what the largest import fills, far below what a
/// compressed file of 4 MiB can claim to hold.
const MAX_UNPACKED_BYTES: u64 = 128 * 1024 * 1024;
/// The most sheets a workbook may have (one per activity kind fits many times).
const MAX_SHEETS: usize = 64;
/// The most characters in one cell: what a spreadsheet program itself allows.
const MAX_CELL_CHARS: usize = 32_767;
/// The most text, in bytes, the cells of a workbook may hold in all.
const MAX_TEXT_BYTES: usize = 16 * 1024 * 1024;
/// The most distinct strings a workbook's shared-strings part may announce: one for every cell an import reads.
const MAX_SHARED_STRINGS: u64 = MAX_ROWS as u64 * MAX_COLUMNS as u64;

/// Refuses a workbook whose parts say they unpack to more than `limit` bytes, or whose shared-strings part
/// announces more strings than it can hold or an import reads, before calamine opens it: calamine reserves
/// room for the announced count at once, and an allocation that large ends the process.
fn unpacked_size_within(bytes: &[u8], limit: u64) -> Result<(), Unreadable> {
    let not_xlsx = |e: zip::result::ZipError| Unreadable(format!("the file is not an XLSX workbook ({e}); save it as 'Excel Workbook (.xlsx)'"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(not_xlsx)?;
    let mut total = 0u64;
    for index in 0..archive.len() {
        total = total.saturating_add(archive.by_index_raw(index).map_err(not_xlsx)?.size());
    }
    if total > limit {
        return Err(Unreadable(format!(
            "the workbook unpacks to {total} bytes, more than an import reads ({limit} bytes); split it"
        )));
    }
    for index in 0..archive.len() {
        let mut part = archive.by_index(index).map_err(not_xlsx)?;
        if !part.name().map_err(not_xlsx)?.to_ascii_lowercase().ends_with("sharedstrings.xml") {
            continue;
        }
        // Each string takes at least `<si><t/></si>`, 13 bytes.
        let room = (part.size() / 13 + 1).min(MAX_SHARED_STRINGS);
        let mut head = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut part, 4096), &mut head)
            .map_err(|e| Unreadable(format!("the workbook's shared strings cannot be read: {e}")))?;
        if let Some(announced) = announced_counts(&String::from_utf8_lossy(&head)).into_iter().max().filter(|&n| n > room) {
            return Err(Unreadable(format!(
                "the workbook's shared strings announce {announced} strings, more than the part holds or an import \
                 reads ({room}); save the workbook again from a spreadsheet program"
            )));
        }
    }
    Ok(())
}

/// The `count` and `uniqueCount` a shared-strings part announces in its `<sst>` tag (an unreadable number counts
/// as the largest there is).
fn announced_counts(head: &str) -> Vec<u64> {
    let Some(start) = head.find("<sst") else { return Vec::new() };
    let tag = &head[start..head[start..].find('>').map_or(head.len(), |end| start + end)];
    ["count=", "uniqueCount="]
        .iter()
        .filter_map(|attribute| {
            let at = tag.find(&format!(" {attribute}"))? + attribute.len() + 1;
            let value = tag[at..].trim_start_matches(['"', '\'']);
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            Some(digits.parse().unwrap_or(u64::MAX))
        })
        .collect()
}

fn cell(data: &DataRef<'_>) -> CellValue {
    match data {
        DataRef::Empty => CellValue::Empty,
        DataRef::Int(n) => CellValue::Number(*n as f64),
        DataRef::Float(n) => CellValue::Number(*n),
        DataRef::String(text) | DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => CellValue::Text(text.clone()),
        DataRef::SharedString(text) => CellValue::Text((*text).to_owned()),
        DataRef::Bool(b) => CellValue::Bool(*b),
        DataRef::DateTime(when) => match when.as_datetime() {
            Some(moment) if !when.is_duration() => CellValue::Date(moment.date()),
            _ => CellValue::Number(when.as_f64()),
        },
        DataRef::Error(error) => CellValue::Text(format!("#{error:?}")),
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
        csv_records(text).unwrap().into_iter().map(|r| r.cells.iter().map(CellValue::text).collect()).collect()
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        assert_eq!(
            texts("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",\r\n"),
            vec![vec!["a", "b"], vec!["x, y", "say \"hi\""], vec!["two\nlines", ""]]
        );
        assert_eq!(texts("a\n\n,\nb"), vec![vec!["a"], vec!["b"]]);
        assert_eq!(csv_records("a\n\n,\nb").unwrap()[1].number, 4, "empty records keep their numbers");
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        let error = csv_records("a\n\"open,\n").unwrap_err();
        assert!(error.0.contains("line 2"), "{error}");
    }

    #[test]
    fn too_many_rows_or_columns_are_refused_while_reading() {
        assert!(csv_records(&"a\n".repeat(MAX_ROWS + 1)).unwrap_err().0.contains("rows"));
        assert!(csv_records(&"\n".repeat(MAX_ROWS + 1)).is_ok(), "empty lines are not rows");
        assert!(csv_records(&",".repeat(MAX_COLUMNS as usize)).unwrap_err().0.contains("fields"));
    }

    #[test]
    fn a_workbook_that_unpacks_to_too_much_is_refused_before_it_is_read() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        workbook.add_worksheet().set_name("custom").unwrap().write_string(0, 0, "occurred_on").unwrap();
        let bytes = workbook.save_to_buffer().unwrap();
        assert!(unpacked_size_within(&bytes, MAX_UNPACKED_BYTES).is_ok());
        assert!(unpacked_size_within(&bytes, 1024).unwrap_err().0.contains("unpacks to"));
        assert_eq!(xlsx(&bytes).unwrap()[0].headings, ["occurred_on"]);
    }

    #[test]
    fn the_counts_a_shared_strings_part_announces_are_read_from_its_tag() {
        let head = r#"<?xml version="1.0"?><sst xmlns="x" count='12' uniqueCount="3"><si>"#;
        assert_eq!(announced_counts(head), [12, 3]);
        assert_eq!(announced_counts(r#"<sst uniqueCount="99999999999999999999999">"#), [u64::MAX]);
        assert!(announced_counts("<worksheet>").is_empty());
    }

    #[test]
    fn a_workbook_announcing_more_shared_strings_than_it_holds_is_refused_before_calamine_reads_it() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet().set_name("custom").unwrap();
        sheet.write_string(0, 0, "label").unwrap();
        sheet.write_string(1, 0, "a workshop").unwrap();
        let bytes = workbook.save_to_buffer().unwrap();
        assert_eq!(xlsx(&bytes).unwrap()[0].rows[0].cells, [CellValue::Text("a workshop".into())]);
        // The same workbook with a shared-strings part that announces a quadrillion strings: calamine would try to
        // reserve room for them all and end the process.
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
        let mut forged = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for index in 0..archive.len() {
            let mut part = archive.by_index(index).unwrap();
            let name = part.name().unwrap().to_string();
            let mut content = String::new();
            std::io::Read::read_to_string(&mut part, &mut content).unwrap();
            if name.ends_with("sharedStrings.xml") {
                assert!(content.contains("uniqueCount=\"2\""), "{content}");
                content = content.replace("uniqueCount=\"2\"", "uniqueCount=\"1000000000000000\"");
            }
            forged.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut forged, content.as_bytes()).unwrap();
        }
        let forged = forged.finish().unwrap().into_inner();
        let refused = xlsx(&forged).unwrap_err();
        assert!(refused.0.contains("announce 1000000000000000 strings"), "{refused}");
    }

    #[test]
    fn a_long_shared_string_named_in_many_cells_is_refused_once_the_text_passes_the_limit() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet().set_name("custom").unwrap();
        sheet.write_string(0, 0, "notes").unwrap();
        let long = "x".repeat(30_000);
        for row in 1..=600 {
            sheet.write_string(row, 0, &long).unwrap();
        }
        let bytes = workbook.save_to_buffer().unwrap();
        assert!(bytes.len() < 100_000, "the file itself is small: {} bytes", bytes.len());
        let refused = xlsx(&bytes).unwrap_err();
        assert!(refused.0.contains("more text than an import reads"), "{refused}");
    }

    #[test]
    fn columns_are_lettered_as_spreadsheets_do() {
        assert_eq!([0, 25, 26, 27, 701, 702].map(column_letters), ["A", "Z", "AA", "AB", "ZZ", "AAA"]);
    }
}
