//! Files funders accept, made from a progress report: an XLSX workbook (indicators, breakdowns by partner and
//! by cluster, activities — numbers as numbers, money with two decimals), an IATI 2.03 `iati-activities`
//! document with each indicator's `result/indicator/period/target/actual` and the partner breakdown as
//! `dimension`s, and activities as CSV.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use events::Programme;
use projections::{IndicatorReport, ProgressReport};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

/// One activity as a row of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRow {
    pub id: String,
    pub occurred_on: String,
    pub kind: String,
    pub partner: String,
    pub cluster: String,
    pub status: String,
    pub version: u64,
    pub position: u64,
}

const ACTIVITY_COLUMNS: [&str; 8] = ["id", "occurred_on", "kind", "partner", "cluster", "status", "version", "position"];

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
    write_header(sheet, &ACTIVITY_COLUMNS, &bold)?;
    for (i, a) in activities.iter().enumerate() {
        let row = i as u32 + 1;
        for (col, text) in [&a.id, &a.occurred_on, &a.kind, &a.partner, &a.cluster, &a.status].into_iter().enumerate() {
            sheet.write_string(row, col as u16, text.as_str())?;
        }
        sheet.write_number(row, 6, a.version as f64)?;
        sheet.write_number(row, 7, a.position as f64)?;
    }
    sheet.set_column_width(0, 38)?;
    workbook.save_to_buffer()
}

/// Activities as CSV, one row each.
pub fn activities_csv(activities: &[ActivityRow]) -> String {
    let mut out = ACTIVITY_COLUMNS.join(",");
    out.push('\n');
    for a in activities {
        let fields = [
            a.id.clone(), a.occurred_on.clone(), a.kind.clone(), a.partner.clone(), a.cluster.clone(), a.status.clone(),
            a.version.to_string(), a.position.to_string(),
        ];
        let row: Vec<String> = fields.iter().map(|f| crate::report::csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The programme and its progress as an IATI 2.03 activity file. Identifiers are local to this tracker
/// (`TRACKER-{programme}`): a publisher replaces the prefix with its registered organisation identifier.
pub fn iati(programme: &Programme, report: &ProgressReport, generated: &str) -> String {
    let mut out = String::new();
    let currency = xml(&report.budget.currency);
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(out, r#"<iati-activities version="2.03" generated-datetime="{generated}">"#);
    let _ = writeln!(
        out,
        r#"  <iati-activity last-updated-datetime="{generated}" xml:lang="en" default-currency="{currency}">"#
    );
    let _ = writeln!(out, "    <iati-identifier>TRACKER-{}</iati-identifier>", xml(programme.id.as_str()));
    let coordinator = programme.partner(programme.coordinator.as_str());
    let coordinator_name = coordinator.map_or(programme.coordinator.to_string(), |p| p.name.clone());
    let _ = writeln!(
        out,
        r#"    <reporting-org ref="TRACKER-{}" type="90"><narrative>{}</narrative></reporting-org>"#,
        xml(programme.coordinator.as_str()),
        xml(&coordinator_name)
    );
    let title = programme.acronym.as_ref().map_or(programme.name.clone(), |a| format!("{a} – {}", programme.name));
    let _ = writeln!(out, "    <title><narrative>{}</narrative></title>", xml(&title));
    if let Some(description) = &programme.description {
        let _ = writeln!(out, r#"    <description type="1"><narrative>{}</narrative></description>"#, xml(description));
    }
    if let Some(funder) = &programme.funder {
        let _ = writeln!(out, r#"    <participating-org role="1"><narrative>{}</narrative></participating-org>"#, xml(funder));
    }
    for partner in &programme.partners {
        let role = if partner.id == programme.coordinator { 2 } else { 4 };
        let _ = writeln!(
            out,
            r#"    <participating-org role="{role}" ref="TRACKER-{}"><narrative>{}</narrative></participating-org>"#,
            xml(partner.id.as_str()),
            xml(&partner.name)
        );
    }
    let status = if report.as_of < programme.starts_on {
        1
    } else if report.as_of <= programme.ends_on {
        2
    } else {
        3
    };
    let _ = writeln!(out, r#"    <activity-status code="{status}"/>"#);
    let _ = writeln!(out, r#"    <activity-date type="1" iso-date="{}"/>"#, programme.starts_on);
    let _ = writeln!(out, r#"    <activity-date type="3" iso-date="{}"/>"#, programme.ends_on);
    if let Some(total) = &report.budget.total {
        let _ = writeln!(out, r#"    <budget type="1" status="2">"#);
        let _ = writeln!(out, r#"      <period-start iso-date="{}"/>"#, programme.starts_on);
        let _ = writeln!(out, r#"      <period-end iso-date="{}"/>"#, programme.ends_on);
        let _ = writeln!(out, r#"      <value currency="{currency}" value-date="{}">{}</value>"#, programme.starts_on, xml(total));
        let _ = writeln!(out, "    </budget>");
    }
    for (indicator, definition) in report.indicators.iter().zip(&programme.indicators) {
        let due = definition.due.unwrap_or(programme.ends_on);
        let _ = writeln!(out, r#"    <result type="1" aggregation-status="1">"#);
        let _ = writeln!(out, "      <title><narrative>{}</narrative></title>", xml(&indicator.label));
        let _ = writeln!(out, r#"      <indicator measure="1" ascending="1">"#);
        let _ = writeln!(out, "        <title><narrative>{} ({})</narrative></title>", xml(&indicator.label), xml(&indicator.unit));
        let _ = writeln!(
            out,
            r#"        <baseline year="{}" iso-date="{}" value="{}"/>"#,
            chrono::Datelike::year(&programme.starts_on),
            programme.starts_on,
            xml(&indicator.baseline)
        );
        let _ = writeln!(out, "        <period>");
        let _ = writeln!(out, r#"          <period-start iso-date="{}"/>"#, programme.starts_on);
        let _ = writeln!(out, r#"          <period-end iso-date="{due}"/>"#);
        let _ = writeln!(out, r#"          <target value="{}"/>"#, xml(&indicator.target));
        // The total, then one actual per partner with the partner as its dimension (they add up to the total
        // for count and sum measures).
        let _ = writeln!(out, r#"          <actual value="{}"/>"#, xml(&indicator.actual));
        for (partner, value) in &indicator.by_partner {
            let _ = writeln!(out, r#"          <actual value="{}">"#, xml(value));
            let _ = writeln!(out, r#"            <dimension name="partner" value="{}"/>"#, xml(partner));
            let _ = writeln!(out, "          </actual>");
        }
        let _ = writeln!(out, "        </period>");
        let _ = writeln!(out, "      </indicator>");
        let _ = writeln!(out, "    </result>");
    }
    let _ = writeln!(out, "  </iati-activity>");
    let _ = writeln!(out, "</iati-activities>");
    out
}
