//! The programme and its progress as an IATI 2.03 `iati-activities` document, with each indicator's
//! `result/indicator/period/target/actual` and the partner breakdown as `dimension`s.

use std::fmt::Write as _;

use events::Programme;
use projections::ProgressReport;

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
