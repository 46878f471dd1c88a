//! The IATI export as a funder's pipeline takes it: valid against the official IATI 2.03 schemas (`tests/iati/`,
//! checked with `xmllint`), the IATI rules 1.1.21 / 1.14.8 (identifiers), 6.2.2 (a sector), 7.5.3 (budget periods
//! of at most a year) and 3.7.1 (a recipient country or region) checked here on the document, the programme's
//! IATI settings that make them pass, the rules named when a setting is missing, and a past report that is the
//! same bytes later.

use std::path::Path;
use std::process::Command;

use chrono::{Months, NaiveDate};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{clock_past, spawn_app, TestApp};

/// Validates `xml` against the official IATI 2.03 activity schema with xmllint; the error output when invalid.
fn schema_errors(app: &TestApp, xml: &str) -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = app.dir.path().join("iati-export.xml");
    std::fs::write(&file, xml).unwrap();
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(root.join("tests/iati/iati-activities-schema.xsd"))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("xmllint could not be run ({e}): install Debian's libxml2-utils (.ci/run does)"));
    (!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The org-id.guide prefixes the tracker ships (`events/src/iati/codelists/`).
fn registered_prefixes() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/src/iati/codelists/organisation-registration-agency.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().filter(|l| l.split('\t').nth(1) == Some("active")).map(|l| l.split('\t').next().unwrap().to_owned()).collect()
}

fn percentages_add_up(items: &[roxmltree::Node<'_, '_>]) -> bool {
    if items.len() < 2 {
        return items.iter().all(|n| n.attribute("percentage").is_none_or(|p| p.parse::<f64>() == Ok(100.0)));
    }
    let sum: f64 = items.iter().map(|n| n.attribute("percentage").and_then(|p| p.parse::<f64>().ok()).unwrap_or(f64::NAN)).sum();
    (sum - 100.0).abs() <= 0.0101
}

/// The IATI rules the document breaks, checked as IATI's validator states them (its rule ids).
fn broken_rules(xml: &str) -> Vec<&'static str> {
    let document = roxmltree::Document::parse(xml).expect("well-formed XML");
    let activity = document.descendants().find(|n| n.has_tag_name("iati-activity")).expect("an iati-activity");
    let children = |name: &str| -> Vec<roxmltree::Node<'_, '_>> { activity.children().filter(|n| n.has_tag_name(name)).collect() };
    let mut broken = Vec::new();
    let reference = children("reporting-org")[0].attribute("ref").unwrap_or("");
    // 1.14.8: the reporting organisation's identifier starts with an approved agency code and '-'.
    if !registered_prefixes().iter().any(|p| reference.strip_prefix(p.as_str()).is_some_and(|rest| rest.len() > 1 && rest.starts_with('-'))) {
        broken.push("1.14.8");
    }
    // 1.1.21: the activity identifier is that identifier, '-', and at least one character more.
    let identifier = children("iati-identifier")[0].text().unwrap_or("");
    let own = identifier.strip_prefix(reference).and_then(|rest| rest.strip_prefix('-'));
    if reference.is_empty() || own.is_none_or(str::is_empty) {
        broken.push("1.1.21");
    }
    // 2.1.2 and 3.1.2: shares add up to 100.
    let sectors = children("sector");
    if !percentages_add_up(&sectors) {
        broken.push("2.1.2");
    }
    let countries = children("recipient-country");
    if !percentages_add_up(&countries) {
        broken.push("3.1.2");
    }
    // 3.7.1: a recipient country or region (this file has no transactions to carry one instead).
    if countries.is_empty() && children("recipient-region").is_empty() {
        broken.push("3.7.1");
    }
    // 6.2.2: a sector (again, no transactions).
    if sectors.is_empty() {
        broken.push("6.2.2");
    }
    // 7.5.3: no budget period longer than a year: start + P1Y must not be before the end.
    let date = |budget: &roxmltree::Node<'_, '_>, name: &str| -> NaiveDate {
        let element = budget.children().find(|n| n.has_tag_name(name)).expect(name);
        element.attribute("iso-date").unwrap().parse().unwrap()
    };
    if children("budget").iter().any(|b| date(b, "period-start").checked_add_months(Months::new(12)).unwrap() < date(b, "period-end")) {
        broken.push("7.5.3");
    }
    broken
}

/// The budget lines as (start, end, cents).
fn budgets(xml: &str) -> Vec<(String, String, i64)> {
    let document = roxmltree::Document::parse(xml).unwrap();
    let attribute = |budget: roxmltree::Node<'_, '_>, name: &str| {
        budget.children().find(|n| n.has_tag_name(name)).unwrap().attribute("iso-date").unwrap().to_owned()
    };
    document
        .descendants()
        .filter(|n| n.has_tag_name("budget"))
        .map(|b| {
            let value = b.children().find(|n| n.has_tag_name("value")).unwrap().text().unwrap();
            let (whole, cents) = value.split_once('.').unwrap_or((value, "00"));
            (attribute(b, "period-start"), attribute(b, "period-end"), whole.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap())
        })
        .collect()
}

/// Every IATI setting CONNECTION needs. The identifiers are made up for the test, with a registered prefix.
fn full_settings() -> Value {
    json!({
        "reporting_org": {"ref": "BE-BCE_KBO-0000000097", "name": "Eurocities", "type": "21"},
        "activity_identifier": "BE-BCE_KBO-0000000097-connection",
        "sectors": [{"code": "15190", "percentage": "70"}, {"code": "16010", "percentage": "30"}],
        "recipient_countries": [{"code": "IT", "percentage": "60"}, {"code": "GR", "percentage": "40"}]
    })
}

async fn put_settings(app: &TestApp, token: &str, body: &Value, if_match: Option<&str>) -> crate::helpers::Answer {
    let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
    app.send(Method::PUT, "/v1/programmes/connection/iati-settings", Some(token), Some(body), &headers).await
}

#[tokio::test]
async fn without_settings_the_export_is_schema_valid_and_names_the_rules_it_cannot_meet() {
    let app = spawn_app().await;
    let answer = app.get("/v1/programmes/connection/iati?as_of=2022-12-31", None).await.expect(200);
    if let Some(errors) = schema_errors(&app, &answer.text) {
        panic!("not valid against the IATI 2.03 schema:\n{errors}\n{}", answer.text);
    }
    assert_eq!(
        answer.header("iati-unmet-rules"),
        Some("1.14.8 (set reporting_org.ref), 1.1.21 (set activity_identifier), 6.3.1 (set reporting_org.type), 6.2.2 (set sectors)")
    );
    assert_eq!(broken_rules(&answer.text), ["1.14.8", "1.1.21", "6.2.2"]);
    // Nothing invented: the identifiers are empty, and the comment says what to set.
    assert!(!answer.text.contains("TRACKER"), "{}", answer.text);
    assert!(answer.text.contains("<iati-identifier></iati-identifier>"));
    assert!(answer.text.contains(r#"<reporting-org ref="" type="">"#));
    assert!(answer.text.contains("names with PUT /v1/programmes/connection/iati-settings:"));
    assert!(answer.text.contains("6.2.2 the activity has no sector: give its DAC 5-digit purpose codes; set sectors"));
    // The recipients come from the partners' countries (each partner weighing the same; Stockholm has none).
    assert!(answer.text.contains("each of the 20 partners weighing the same"), "{}", answer.text);
    assert!(answer.text.contains("1 partner without a known country is not counted"));
    // The budget in calendar years, pro rata by days, stated as such, to the cent.
    assert!(answer.text.contains("split pro rata by days into the calendar years"));
    let lines = budgets(&answer.text);
    assert_eq!(lines.iter().map(|l| (l.0.as_str(), l.1.as_str())).collect::<Vec<_>>(),
        [("2020-01-01", "2020-12-31"), ("2021-01-01", "2021-12-31"), ("2022-01-01", "2022-12-31")]);
    assert_eq!(lines.iter().map(|l| l.2).sum::<i64>(), 187_487_603);
}

#[tokio::test]
async fn every_programme_exports_a_schema_valid_file_even_with_the_least_definition() {
    let app = spawn_app().await;
    // No description, funder, budget or partner country: the schema's required parts are still there.
    let least = json!({
        "id": "pilot", "name": "Pilot", "coordinator": "lead", "starts_on": "2021-07-01", "ends_on": "2022-06-30",
        "partners": [{"id": "lead", "name": "Lead & partners", "kind": "network", "role": "coordinator"}],
        "clusters": [], "periods": [], "sources": [], "indicators": []
    });
    app.post("/v1/programmes", Some(&app.admin), &least).await.expect(201);
    for programme in ["unites", "pilot"] {
        let answer = app.get(&format!("/v1/programmes/{programme}/iati"), None).await.expect(200);
        if let Some(errors) = schema_errors(&app, &answer.text) {
            panic!("{programme} is not valid against the IATI 2.03 schema:\n{errors}\n{}", answer.text);
        }
        assert!(broken_rules(&answer.text).contains(&"6.2.2"));
    }
    let pilot = app.get("/v1/programmes/pilot/iati", None).await.expect(200);
    assert_eq!(broken_rules(&pilot.text), ["1.14.8", "1.1.21", "3.7.1", "6.2.2"]);
    assert!(pilot.header("iati-unmet-rules").unwrap().ends_with("6.2.2 (set sectors), 3.7.1 (set recipient_countries)"));
    assert!(pilot.text.contains("<narrative>Lead &amp; partners</narrative>"));
}

#[tokio::test]
async fn with_every_setting_the_export_meets_the_rules_and_the_schema() {
    let app = spawn_app().await;
    let coordinator = app.token("coordinator", "coordinator", Some("connection"), None).await;
    let mut settings = full_settings();
    settings["budgets"] = json!([
        {"starts_on": "2020-01-01", "ends_on": "2020-12-31", "amount": "600000.00"},
        {"starts_on": "2021-01-01", "ends_on": "2021-12-31", "amount": "700000.00"},
        {"starts_on": "2022-01-01", "ends_on": "2022-12-31", "amount": "574876.03"}
    ]);
    let set = put_settings(&app, &coordinator, &settings, None).await.expect(200);
    assert_eq!(set.json()["activity_identifier"], "BE-BCE_KBO-0000000097-connection");
    let read = app.get("/v1/programmes/connection/iati-settings", None).await.expect(200);
    assert_eq!(read.json(), set.json());
    assert_eq!(read.header("etag"), set.header("etag"));

    app.record_exchange(&coordinator, "torino", "paris", "2021-10-11").await;
    let answer = app.get("/v1/programmes/connection/iati?as_of=2022-12-31", None).await.expect(200);
    if let Some(errors) = schema_errors(&app, &answer.text) {
        panic!("not valid against the IATI 2.03 schema:\n{errors}\n{}", answer.text);
    }
    assert_eq!(broken_rules(&answer.text), Vec::<&str>::new(), "{}", answer.text);
    assert_eq!(answer.header("iati-unmet-rules"), None);
    assert!(answer.text.contains(r#"<reporting-org ref="BE-BCE_KBO-0000000097" type="21"><narrative>Eurocities</narrative>"#));
    assert!(answer.text.contains(r#"<sector vocabulary="1" code="15190" percentage="70"/>"#));
    assert!(answer.text.contains(r#"<recipient-country code="GR" percentage="40"/>"#));
    let lines = budgets(&answer.text);
    assert_eq!(lines.iter().map(|l| l.2).collect::<Vec<_>>(), [60_000_000, 70_000_000, 57_487_603]);
    assert!(!answer.text.contains("pro rata"));

    // A region instead of countries, and the budget split pro rata again: still every rule met.
    let mut region = full_settings();
    region.as_object_mut().unwrap().remove("recipient_countries");
    region["recipient_region"] = json!("89");
    put_settings(&app, &coordinator, &region, None).await.expect(200);
    let answer = app.get("/v1/programmes/connection/iati?as_of=2022-12-31", None).await.expect(200);
    assert_eq!(schema_errors(&app, &answer.text), None);
    assert_eq!(broken_rules(&answer.text), Vec::<&str>::new());
    assert!(answer.text.contains(r#"<recipient-region vocabulary="1" code="89"/>"#));
    assert_eq!(budgets(&answer.text).iter().map(|l| l.2).sum::<i64>(), 187_487_603);
}

#[tokio::test]
async fn bad_settings_are_refused_naming_each_fault_and_the_role_and_version_are_checked() {
    let app = spawn_app().await;
    let bad = json!({
        "reporting_org": {"ref": "TRACKER-connection"},
        "sectors": [{"code": "15110", "percentage": "50"}],
        "recipient_countries": [{"code": "UK"}],
        "budgets": [{"starts_on": "2020-01-01", "ends_on": "2022-12-31", "amount": "1874876.03"}],
        "reporting_organisation": "Eurocities"
    });
    let problem = put_settings(&app, &app.admin, &bad, None).await.problem(422);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 1, "structure first: {problem}");
    assert_eq!(problem["errors"][0]["field"], "reporting_organisation");
    let mut bad = bad;
    bad.as_object_mut().unwrap().remove("reporting_organisation");
    let problem = put_settings(&app, &app.admin, &bad, None).await.problem(422);
    let mut fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["budgets[0].ends_on", "recipient_countries[0].code", "reporting_org.ref", "sectors"], "{problem}");

    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    put_settings(&app, &recorder, &full_settings(), None).await.problem(403);
    // Who may write is checked before the body is read.
    put_settings(&app, &recorder, &json!({"colour": "blue"}), None).await.problem(403);
    let unites = app.token("unites-lead", "coordinator", Some("unites"), None).await;
    put_settings(&app, &unites, &full_settings(), None).await.problem(403);
    put_settings(&app, &app.admin, &full_settings(), Some("\"7\"")).await.problem(412);
    let version = app.get("/v1/programmes/connection", None).await.expect(200).header("etag").unwrap().to_owned();
    let set = put_settings(&app, &app.admin, &full_settings(), Some(&version)).await.expect(200);
    assert_ne!(set.header("etag"), Some(version.as_str()));
    // The same settings again append nothing.
    let again = put_settings(&app, &app.admin, &full_settings(), None).await.expect(200);
    assert_eq!(again.header("etag"), set.header("etag"));
    app.send(Method::PUT, "/v1/programmes/atlantis/iati-settings", Some(&app.admin), Some(&json!({})), &[]).await.problem(404);
}

#[tokio::test]
async fn a_past_report_is_the_same_bytes_later_and_dated_by_its_event() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let position = app.get("/healthz", None).await.json()["position"].as_u64().unwrap();
    let path = format!("/v1/programmes/connection/iati?at_position={position}");
    let first = app.get(&path, None).await.expect(200);
    clock_past(chrono::Utc::now().timestamp()).await;
    let again = app.get(&path, None).await.expect(200);
    assert_eq!(again.text, first.text, "the same query a second later");

    // More events: another exchange, new settings, a partner; the past report does not move.
    app.record_exchange(&app.admin, "paris", "torino", "2021-11-11").await;
    put_settings(&app, &app.admin, &full_settings(), None).await.expect(200);
    let partner = json!({"id": "lyon", "name": "Lyon", "kind": "city", "country": "FR", "role": "fellow_city"});
    app.post("/v1/programmes/connection/partners", Some(&app.admin), &partner).await.expect(201);
    let later = app.get(&path, None).await.expect(200);
    assert_eq!(later.text, first.text, "the same query after more events");
    assert_eq!(later.header("iati-unmet-rules"), first.header("iati-unmet-rules"));
    assert!(!later.text.contains("Lyon") && !later.text.contains("BE-BCE_KBO"));

    // Its dates are the recorded_at of the event at that position.
    let events = app.get(&format!("/v1/events?from={position}&limit=1"), Some(&app.admin)).await.expect(200).json();
    let recorded_at = events["events"][0]["recorded_at"].as_str().unwrap();
    assert!(first.text.contains(&format!(r#"generated-datetime="{recorded_at}""#)), "{recorded_at}\n{}", first.text);
    assert!(first.text.contains(&format!(r#"last-updated-datetime="{recorded_at}""#)));
    // At the head the settings and the new partner are there.
    let now = app.get("/v1/programmes/connection/iati", None).await.expect(200);
    assert!(now.text.contains("Lyon") && now.text.contains("BE-BCE_KBO-0000000097-connection"));
}
