//! The programme and its progress as an IATI 2.03 `iati-activities` document, with each indicator's
//! `result/indicator/period/target/actual` and the partner breakdown as `dimension`s. What the definition does not
//! say comes from the programme's IATI settings (`parts.rs`); where a setting is missing the document stays valid
//! against the 2.03 schema — an empty identifier rather than an invented one — and names the IATI rules it
//! cannot meet, with the setting that would fix each, in a comment and in [`IatiDocument::unmet`].

mod parts;

use std::fmt::Write as _;

use events::{IatiSettings, Programme};
use projections::ProgressReport;

pub use parts::UnmetRule;
use parts::{Budgets, Recipients};

/// An IATI file and the rules it does not meet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IatiDocument {
    pub xml: String,
    pub unmet: Vec<UnmetRule>,
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The programme and its progress as an IATI 2.03 activity file. `updated` is the moment the report reflects
/// (the `recorded_at` of the last event it includes), used for both `generated-datetime` and
/// `last-updated-datetime`, so that the file for a past log position is the same bytes forever.
pub fn iati(programme: &Programme, settings: Option<&IatiSettings>, report: &ProgressReport, updated: &str) -> IatiDocument {
    let recipients = parts::recipients(programme, settings);
    let budgets = parts::budgets(programme, settings);
    let unmet = parts::unmet_rules(settings, &recipients);
    let org = settings.and_then(|s| s.reporting_org.as_ref());
    let mut out = String::new();
    let currency = xml(&report.budget.currency);
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    if !unmet.is_empty() {
        // A comment may not hold "--"; a slug may.
        let path = format!("/v1/programmes/{}/iati-settings", programme.id).replace("--", "-%2D");
        let _ = writeln!(out, "<!-- Valid against the IATI 2.03 schema, but not yet meeting these IATI rules. Set what each");
        let _ = writeln!(out, "     names with PUT {path}:");
        for rule in &unmet {
            let _ = writeln!(out, "     {} {}", rule.rule, rule.message);
        }
        let _ = writeln!(out, "-->");
    }
    let _ = writeln!(out, r#"<iati-activities version="2.03" generated-datetime="{updated}">"#);
    let _ = writeln!(
        out,
        r#"  <iati-activity last-updated-datetime="{updated}" xml:lang="en" default-currency="{currency}">"#
    );
    let identifier = settings.and_then(|s| s.activity_identifier.as_deref()).unwrap_or("");
    let _ = writeln!(out, "    <iati-identifier>{}</iati-identifier>", xml(identifier));
    let coordinator = programme.partner(programme.coordinator.as_str());
    let coordinator_name = coordinator.map_or(programme.coordinator.to_string(), |p| p.name.clone());
    let _ = writeln!(
        out,
        r#"    <reporting-org ref="{}" type="{}"><narrative>{}</narrative></reporting-org>"#,
        xml(org.and_then(|o| o.reference.as_deref()).unwrap_or("")),
        xml(org.and_then(|o| o.org_type.as_deref()).unwrap_or("")),
        xml(org.and_then(|o| o.name.as_deref()).unwrap_or(&coordinator_name))
    );
    let title = programme.acronym.as_ref().map_or(programme.name.clone(), |a| format!("{a} – {}", programme.name));
    let _ = writeln!(out, "    <title><narrative>{}</narrative></title>", xml(&title));
    // The schema requires a description; without one of its own the programme is described by its title.
    let description = programme.description.as_deref().unwrap_or(&title);
    let _ = writeln!(out, r#"    <description type="1"><narrative>{}</narrative></description>"#, xml(description));
    if let Some(funder) = &programme.funder {
        let _ = writeln!(out, r#"    <participating-org role="1"><narrative>{}</narrative></participating-org>"#, xml(funder));
    }
    // Partners are named, not identified: the tracker knows no organisation identifiers of theirs.
    for partner in &programme.partners {
        let role = if partner.id == programme.coordinator { 2 } else { 4 };
        let _ = writeln!(out, r#"    <participating-org role="{role}"><narrative>{}</narrative></participating-org>"#, xml(&partner.name));
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
    write_recipients(&mut out, &recipients);
    for sector in settings.map(|s| s.sectors.as_slice()).unwrap_or_default() {
        let percentage = sector.percentage.map(|p| format!(r#" percentage="{p}""#)).unwrap_or_default();
        let _ = writeln!(out, r#"    <sector vocabulary="1" code="{}"{percentage}/>"#, xml(&sector.code));
    }
    write_budgets(&mut out, &budgets, &currency);
    write_results(&mut out, programme, report);
    let _ = writeln!(out, "  </iati-activity>");
    let _ = writeln!(out, "</iati-activities>");
    IatiDocument { xml: out, unmet }
}

fn write_recipients(out: &mut String, recipients: &Recipients) {
    match recipients {
        Recipients::Countries { countries, from_partners } => {
            if let Some(counted) = from_partners {
                let left_out = match counted.left_out {
                    0 => String::new(),
                    1 => "; 1 partner without a known country is not counted".to_string(),
                    n => format!("; {n} partners without a known country are not counted"),
                };
                let _ = writeln!(
                    out,
                    "    <!-- Recipient countries: the partners' countries, each of the {} partners weighing the same \
                     (no recipient_countries in the IATI settings){left_out}. -->",
                    counted.partners
                );
            }
            for (code, percentage) in countries {
                let percentage = percentage.map(|p| format!(r#" percentage="{p}""#)).unwrap_or_default();
                let _ = writeln!(out, r#"    <recipient-country code="{}"{percentage}/>"#, xml(code));
            }
        }
        Recipients::Region(code) => {
            let _ = writeln!(out, r#"    <recipient-region vocabulary="1" code="{}"/>"#, xml(code));
        }
        Recipients::None => {}
    }
}

fn write_budgets(out: &mut String, budgets: &Budgets, currency: &str) {
    let (lines, status) = match budgets {
        Budgets::Given(lines) => (lines, 2),
        Budgets::ProRata { total, lines } => {
            let _ = writeln!(
                out,
                "    <!-- Budgets: the programme's budget of {currency} {total} split pro rata by days into the calendar \
                 years it spans (no budgets per period in the IATI settings), hence indicative. -->"
            );
            (lines, 1)
        }
        Budgets::None => return,
    };
    for line in lines {
        let _ = writeln!(out, r#"    <budget type="1" status="{status}">"#);
        let _ = writeln!(out, r#"      <period-start iso-date="{}"/>"#, line.starts_on);
        let _ = writeln!(out, r#"      <period-end iso-date="{}"/>"#, line.ends_on);
        let _ = writeln!(out, r#"      <value currency="{currency}" value-date="{}">{}</value>"#, line.starts_on, line.amount);
        let _ = writeln!(out, "    </budget>");
    }
}

fn write_results(out: &mut String, programme: &Programme, report: &ProgressReport) {
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
}
