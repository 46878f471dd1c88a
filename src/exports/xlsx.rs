//! The progress report and the programme's activities as an XLSX workbook: indicators, breakdowns by partner
//! and by cluster, activities with every recorded value, and "About": what the workbook reflects (programme,
//! as_of, known_at, log position and chain hash). Numbers are numbers, money has two decimals. The workbook's
//! creation date is the report's `known_at` — a time the log gives, never the clock — so the same query with
//! `at_position` gives the same bytes forever.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Timelike};
use projections::{IndicatorReport, ProgressReport};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::{activity_headings, reflects, ActivityRow, Cell, REFLECTS_COLUMNS};

fn is_money(indicator: &IndicatorReport, currency: &str) -> bool {
    indicator.unit == currency || indicator.target.contains('.')
}

fn write_header(sheet: &mut Worksheet, columns: &[&str], bold: &Format) -> Result<(), XlsxError> {
    for (col, name) in columns.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *name, bold)?;
    }
    Ok(())
}

/// A value that is a number is written as one (with `money` when it is an amount), anything else as text.
fn write_value(sheet: &mut Worksheet, row: u32, col: u16, text: &str, money: Option<&Format>) -> Result<(), XlsxError> {
    match (text.parse::<f64>(), money) {
        (Ok(n), Some(format)) => sheet.write_number_with_format(row, col, n, format).map(|_| ()),
        (Ok(n), None) => sheet.write_number(row, col, n).map(|_| ()),
        (Err(_), _) => sheet.write_string(row, col, text).map(|_| ()),
    }
}

/// The progress report and the programme's activities as an XLSX workbook.
pub fn progress_xlsx(report: &ProgressReport, activities: &[ActivityRow]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let percent = Format::new().set_num_format("0.0");
    let currency = report.budget.currency.as_str();

    let sheet = workbook.add_worksheet().set_name("Indicators")?;
    let columns = ["indicator", "label", "unit", "target", "baseline", "actual", "pending", "percent", "expected", "status"];
    write_header(sheet, &columns, &bold)?;
    for (i, indicator) in report.indicators.iter().enumerate() {
        let row = i as u32 + 1;
        let amount = is_money(indicator, currency).then_some(&money);
        sheet.write_string(row, 0, &indicator.id)?;
        sheet.write_string(row, 1, &indicator.label)?;
        sheet.write_string(row, 2, &indicator.unit)?;
        for (col, value) in [(3, &indicator.target), (4, &indicator.baseline), (5, &indicator.actual), (6, &indicator.pending)] {
            write_value(sheet, row, col, value, amount)?;
        }
        if let Some(p) = indicator.percent {
            sheet.write_number_with_format(row, 7, p, &percent)?;
        }
        write_value(sheet, row, 8, &indicator.expected, amount)?;
        sheet.write_string(row, 9, indicator.status.as_str())?;
    }
    let budget_row = report.indicators.len() as u32 + 2;
    let b = &report.budget;
    for (i, (label, value)) in [
        ("budget", b.total.as_deref().unwrap_or("")),
        ("partner shares", b.partner_shares.as_str()),
        ("grants awarded", b.grants_awarded.as_str()),
        ("grants paid", b.grants_paid.as_str()),
    ]
    .into_iter()
    .enumerate()
    {
        let row = budget_row + i as u32;
        sheet.write_string_with_format(row, 0, label, &bold)?;
        write_value(sheet, row, 3, value, Some(&money))?;
        sheet.write_string(row, 2, currency)?;
    }
    sheet.set_column_width(1, 40)?;

    for (name, pick) in [
        ("By partner", (|i: &IndicatorReport| &i.by_partner) as fn(&IndicatorReport) -> &BTreeMap<String, String>),
        ("By cluster", |i: &IndicatorReport| &i.by_cluster),
    ] {
        let sheet = workbook.add_worksheet().set_name(name)?;
        let keys: BTreeSet<&String> = report.indicators.iter().flat_map(|i| pick(i).keys()).collect();
        sheet.write_string_with_format(0, 0, if name == "By partner" { "partner" } else { "cluster" }, &bold)?;
        for (col, indicator) in report.indicators.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16 + 1, &indicator.id, &bold)?;
        }
        for (r, key) in keys.iter().enumerate() {
            let row = r as u32 + 1;
            sheet.write_string(row, 0, key.as_str())?;
            for (col, indicator) in report.indicators.iter().enumerate() {
                if let Some(value) = pick(indicator).get(*key) {
                    write_value(sheet, row, col as u16 + 1, value, is_money(indicator, currency).then_some(&money))?;
                }
            }
        }
    }

    let sheet = workbook.add_worksheet().set_name("Activities")?;
    write_header(sheet, &activity_headings(), &bold)?;
    for (i, a) in activities.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, &a.id)?;
        for (col, value) in a.values.iter().enumerate() {
            let col = col as u16 + 1;
            match value {
                Cell::Empty => {}
                Cell::Text(text) => sheet.write_string(row, col, text).map(|_| ())?,
                Cell::Whole(n) => sheet.write_number(row, col, *n as f64).map(|_| ())?,
                Cell::Money(m) => sheet.write_number_with_format(row, col, m.cents() as f64 / 100.0, &money).map(|_| ())?,
                Cell::Decimal(q) => write_value(sheet, row, col, &q.to_string(), None)?,
                Cell::Bool(b) => sheet.write_boolean(row, col, *b).map(|_| ())?,
            }
        }
        let after = a.values.len() as u16 + 1;
        sheet.write_string(row, after, &a.status)?;
        sheet.write_number(row, after + 1, a.version as f64)?;
        sheet.write_number(row, after + 2, a.position as f64)?;
    }
    sheet.set_column_width(0, 38)?;

    let sheet = workbook.add_worksheet().set_name("About")?;
    for (row, (name, value)) in REFLECTS_COLUMNS.iter().zip(reflects(report)).enumerate() {
        sheet.write_string_with_format(row as u32, 0, *name, &bold)?;
        sheet.write_string(row as u32, 1, &value)?;
    }
    let note = "The same query with at_position gives the same workbook, byte for byte; log_hash is the chain hash \
        at log_position (GET /v1/audit/verify, tracker check-export --head log_position:log_hash).";
    sheet.write_string(REFLECTS_COLUMNS.len() as u32 + 1, 0, note)?;
    sheet.set_column_width(0, 14)?;
    sheet.set_column_width(1, 66)?;

    let properties = DocProperties::new()
        .set_title(format!("{} progress as of {}", report.programme, report.as_of))
        .set_creation_datetime(&created(report)?);
    workbook.set_properties(&properties);
    workbook.save_to_buffer()
}

/// The workbook's creation date: the report's `known_at` (to the second), else the start of its `as_of`.
fn created(report: &ProgressReport) -> Result<ExcelDateTime, XlsxError> {
    let moment = report
        .known_at
        .as_deref()
        .and_then(|k| chrono::DateTime::parse_from_rfc3339(k).ok())
        .map(|m| m.naive_utc())
        .unwrap_or_else(|| report.as_of.and_time(chrono::NaiveTime::MIN));
    let year = u16::try_from(moment.year()).unwrap_or(1900);
    ExcelDateTime::from_ymd(year, moment.month() as u8, moment.day() as u8)?.and_hms(
        moment.hour() as u16,
        moment.minute() as u8,
        moment.second(),
    )
}
