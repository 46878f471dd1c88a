//! Bulk import (`POST …/imports`): CSV and XLSX files with good and bad rows — every fault listed at once by
//! sheet, row, cell and field, nothing recorded until every row is valid — a commit that moves progress, the
//! same file sent again recording nothing more, who may import, the size limit, and an activities export read
//! back into a fresh store.

use reqwest::Method;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::{json, Value};

use crate::helpers::{indicator, spawn_app, Answer, TestApp};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Sends a file to the import endpoint of CONNECTION.
async fn import(app: &TestApp, token: Option<&str>, commit: bool, content_type: &str, file: Vec<u8>) -> Answer {
    app.post_file(&format!("/v1/programmes/connection/imports?commit={commit}"), token, content_type, file).await
}

async fn actual(app: &TestApp, id: &str) -> Value {
    let report = app.get("/v1/programmes/connection/progress?as_of=2022-12-31", None).await.expect(200).json();
    indicator(&report, id)["actual"].clone()
}

async fn activity_count(app: &TestApp) -> usize {
    let list = app.get("/v1/programmes/connection/activities?limit=500", None).await.expect(200).json();
    list["activities"].as_array().expect("a list").len()
}

const FAULTY_CSV: &str = "kind,occurred_on,host,visitor,cluster,days,staff\r\n\
    staff_exchange,2021-10-11,torino,asti,cop1,5,2\r\n\
    staff_exchange,2021-10-12,torino,atlantis,cop1,99,2\r\n\
    staff_exchagne,2021-10-13,torino,asti,,,\r\n";

#[tokio::test]
async fn a_csv_with_faulty_rows_lists_every_fault_and_records_nothing() {
    let app = spawn_app().await;
    let coordinator = app.token("coord", "coordinator", Some("connection"), None).await;
    let check = import(&app, Some(&coordinator), false, "text/csv", FAULTY_CSV.into()).await.expect(200).json();
    assert_eq!((check["rows"].clone(), check["valid"].clone(), check["faulty"].clone()), (json!(3), json!(1), json!(2)), "{check}");
    let outcomes = check["outcomes"].as_array().unwrap();
    assert_eq!(outcomes[0]["outcome"], "valid");
    assert_eq!(outcomes[0]["activity"]["partner"], "torino", "{check}");
    assert!(outcomes[0].get("id").is_none(), "nothing is recorded, so no id: {check}");
    let errors = &outcomes[1]["errors"];
    let fault = |field: &str| errors.as_array().unwrap().iter().find(|e| e["field"] == field).cloned();
    assert_eq!(fault("visitor").map(|f| f["reference"].clone()), Some(json!("D3")), "{errors}");
    assert!(fault("visitor").unwrap()["message"].as_str().unwrap().contains("atlantis"), "{errors}");
    assert_eq!(fault("days").map(|f| f["reference"].clone()), Some(json!("F3")), "{errors}");
    // The messages are those of the activity endpoint for the same body.
    let alone = app
        .post("/v1/programmes/connection/activities", Some(&coordinator), &json!({"kind": "staff_exchange",
            "occurred_on": "2021-10-12", "host": "torino", "visitor": "atlantis", "cluster": "cop1", "days": 99, "staff": 2}))
        .await
        .problem(422);
    let messages = |errors: &Value| {
        let mut m: Vec<(String, String)> =
            errors.as_array().unwrap().iter().map(|e| (e["field"].to_string(), e["message"].to_string())).collect();
        m.sort();
        m
    };
    assert_eq!(messages(errors), messages(&alone["errors"]));
    assert_eq!(outcomes[2]["reference"], "4:4");

    let refused = import(&app, Some(&coordinator), true, "text/csv", FAULTY_CSV.into()).await.problem(422);
    let references: Vec<&str> = refused["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(references.contains(&"D3") && references.contains(&"F3") && references.contains(&"A4"), "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("2 of 3 rows"), "{refused}");
    assert_eq!(activity_count(&app).await, 0, "nothing is recorded while a row has a fault");
    assert_eq!(actual(&app, "staff-exchanges").await, json!("0"));
}

#[tokio::test]
async fn an_unknown_kind_lists_the_kinds() {
    let app = spawn_app().await;
    let check = import(&app, Some(&app.admin), false, "text/csv", FAULTY_CSV.into()).await.expect(200).json();
    let errors = &check["outcomes"][2]["errors"];
    let kind = errors.as_array().unwrap().iter().find(|e| e["field"] == "kind").expect("a fault of the kind");
    let message = kind["message"].as_str().unwrap();
    assert!(message.contains("staff_exchagne") && message.contains("staff_exchange, cluster_visit"), "{message}");
    assert_eq!(kind["reference"], "A4");
}

/// A workbook with a sheet per kind: staff exchanges (dates as date cells, numbers as numbers; two identical
/// rows), and grants; `visitor` of the second exchange as given.
fn workbook(second_visitor: &str) -> Vec<u8> {
    let mut workbook = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let exchanges = workbook.add_worksheet().set_name("staff_exchange").unwrap();
    for (col, heading) in ["occurred_on", "host", "visitor", "cluster", "days", "staff"].iter().enumerate() {
        exchanges.write_string(0, col as u16, *heading).unwrap();
    }
    for (row, visitor) in [(1u32, "asti"), (2, second_visitor), (3, "asti")] {
        let day = ExcelDateTime::parse_from_str("2021-10-11").unwrap();
        exchanges.write_datetime_with_format(row, 0, &day, &date).unwrap();
        exchanges.write_string(row, 1, "torino").unwrap();
        exchanges.write_string(row, 2, visitor).unwrap();
        exchanges.write_string(row, 3, "cop1").unwrap();
        exchanges.write_number(row, 4, 5).unwrap();
        exchanges.write_number(row, 5, 2).unwrap();
    }
    let grants = workbook.add_worksheet().set_name("grant_awarded").unwrap();
    for (col, heading) in ["occurred_on", "recipient", "amount", "purpose"].iter().enumerate() {
        grants.write_string(0, col as u16, *heading).unwrap();
    }
    grants.write_string(1, 0, "2021-06-01").unwrap();
    grants.write_string(1, 1, "asti").unwrap();
    grants.write_number(1, 2, 20000.5).unwrap();
    grants.write_string(1, 3, "Pilot").unwrap();
    workbook.save_to_buffer().unwrap()
}

#[tokio::test]
async fn an_xlsx_is_checked_then_recorded_once_however_often_it_is_sent() {
    let app = spawn_app().await;
    let coordinator = app.token("coord", "coordinator", Some("connection"), None).await;
    let check = import(&app, Some(&coordinator), false, XLSX, workbook("atlantis")).await.expect(200).json();
    assert_eq!(check["faulty"], 1, "{check}");
    let bad = &check["outcomes"][1];
    assert_eq!((bad["sheet"].clone(), bad["row"].clone(), bad["outcome"].clone()), (json!("staff_exchange"), json!(3), json!("faulty")));
    assert_eq!(bad["errors"][0]["reference"], "staff_exchange!C3", "{bad}");
    import(&app, Some(&coordinator), true, XLSX, workbook("atlantis")).await.problem(422);
    assert_eq!(activity_count(&app).await, 0);

    let fixed = workbook("paris");
    let check = import(&app, Some(&coordinator), false, XLSX, fixed.clone()).await.expect(200).json();
    assert_eq!((check["valid"].clone(), check["faulty"].clone()), (json!(4), json!(0)), "{check}");
    assert_eq!(check["outcomes"][0]["activity"]["occurred_on"], "2021-10-11", "a date cell is a day: {check}");
    assert_eq!(check["outcomes"][3]["activity"]["amount"], "20000.50", "{check}");
    let done = import(&app, Some(&coordinator), true, XLSX, fixed.clone()).await.expect(200).json();
    assert_eq!((done["recorded"].clone(), done["already_recorded"].clone()), (json!(4), json!(0)), "{done}");
    let ids: Vec<&Value> = done["outcomes"].as_array().unwrap().iter().map(|o| &o["id"]).collect();
    assert!(ids[0] != ids[2] && ids.iter().all(|id| id.is_string()), "two identical rows are two activities: {done}");
    assert_eq!(actual(&app, "staff-exchanges").await, json!("3"));
    assert_eq!(actual(&app, "grants").await, json!("20000.50"));
    let recorded = app.get(&format!("/v1/programmes/connection/activities/{}", ids[0].as_str().unwrap()), None).await.expect(200).json();
    assert_eq!(recorded["history"][0]["actor"], "coord");

    let again = import(&app, Some(&coordinator), true, XLSX, fixed.clone()).await.expect(200).json();
    assert_eq!((again["recorded"].clone(), again["already_recorded"].clone()), (json!(0), json!(4)), "{again}");
    assert_eq!(again["outcomes"][0]["id"], *ids[0]);
    let check = import(&app, Some(&app.admin), false, XLSX, fixed).await.expect(200).json();
    assert_eq!(check["already_recorded"], 4, "the check tells what is in already: {check}");
    assert_eq!(activity_count(&app).await, 4);
    assert_eq!(actual(&app, "staff-exchanges").await, json!("3"));
}

#[tokio::test]
async fn only_the_coordinator_and_admins_may_import() {
    let app = spawn_app().await;
    let recorder = app.token("rec", "recorder", Some("connection"), Some("torino")).await;
    let other = app.token("other", "coordinator", Some("unites"), None).await;
    let auditor = app.token("aud", "auditor", None, None).await;
    import(&app, None, false, "text/csv", FAULTY_CSV.into()).await.problem(401);
    for token in [&recorder, &other, &auditor] {
        import(&app, Some(token), true, "text/csv", FAULTY_CSV.into()).await.problem(403);
    }
}

#[tokio::test]
async fn a_bad_file_is_refused_saying_why() {
    let app = spawn_app().await;
    // Far above the 64 KiB of a JSON body, within the 4 MiB of a file.
    let mut rows = String::from("kind,occurred_on,host,visitor,cluster,days,staff,notes\r\n");
    while rows.len() < 300 * 1024 {
        rows.push_str(&format!("staff_exchange,2021-10-11,torino,asti,cop1,5,2,{}\r\n", "n".repeat(200)));
    }
    let check = import(&app, Some(&app.admin), false, "text/csv", rows.into_bytes()).await.expect(200).json();
    assert!(check["valid"].as_u64().unwrap() > 1000, "{}", check["valid"]);
    let big = vec![b'a'; 5 * 1024 * 1024];
    let problem = import(&app, Some(&app.admin), false, "text/csv", big).await.problem(413);
    assert!(problem["detail"].as_str().unwrap().contains("4 MiB"), "{problem}");
    let problem = import(&app, Some(&app.admin), false, "application/json", b"{}".to_vec()).await.problem(415);
    assert!(problem["detail"].as_str().unwrap().contains("text/csv"), "{problem}");
    let problem = import(&app, Some(&app.admin), false, XLSX, b"not a zip".to_vec()).await.problem(422);
    assert!(problem["detail"].as_str().unwrap().contains("XLSX"), "{problem}");
    // A lone cell at the last row and column of a sheet: refused without building a grid to reach it.
    let mut far = Workbook::new();
    let sheet = far.add_worksheet().set_name("staff_exchange").unwrap();
    sheet.write_string(0, 0, "occurred_on").unwrap();
    sheet.write_string(1_048_575, 16_383, "far away").unwrap();
    let problem = import(&app, Some(&app.admin), false, XLSX, far.save_to_buffer().unwrap()).await.problem(422);
    assert!(problem["detail"].as_str().unwrap().contains("column XFD"), "{problem}");
    let problem =
        import(&app, Some(&app.admin), false, "text/csv", b"occurred_on,colour\r\n2021-01-01,red\r\n".to_vec()).await.problem(422);
    let errors: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(errors, ["B1", "1:1"], "{problem}");
    assert_eq!(activity_count(&app).await, 0);
}

/// The kind and value columns of an activities CSV, row by row, sorted (ids and positions differ by store).
async fn exported_values(app: &TestApp) -> Vec<Vec<String>> {
    let csv = app
        .send(Method::GET, "/v1/programmes/connection/activities", None, None, &[("accept", "text/csv")])
        .await
        .expect(200)
        .text;
    let sheet = tracker::imports::read::csv(csv.as_bytes()).unwrap();
    let kind = sheet.headings.iter().position(|h| h == "kind").unwrap();
    let status = sheet.headings.iter().position(|h| h == "status").unwrap();
    let mut rows: Vec<Vec<String>> = sheet.rows.iter().map(|r| r.cells[kind..status].iter().map(|c| c.text()).collect()).collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn an_activities_export_reads_back_into_a_fresh_store() {
    let source = spawn_app().await;
    let bodies = [
        json!({"kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino", "visitor": "asti", "cluster": "cop1",
            "days": 5, "staff": 2, "notes": "first, with a comma", "evidence": [{"title": "Report", "url": "https://example.eu/r"}]}),
        json!({"kind": "peer_visit", "occurred_on": "2021-03-04", "host": "torino", "visitors": ["asti", "paris"],
            "participants": {"total": 9, "women": 4}}),
        json!({"kind": "grant_awarded", "occurred_on": "2021-06-01", "recipient": "asti", "amount": "20000", "purpose": "Pilot"}),
        json!({"kind": "guide_published", "occurred_on": "2021-06-01", "partner": "torino", "title": "How to", "languages": ["en", "it"]}),
        json!({"kind": "custom", "occurred_on": "2021-06-02", "partner": "asti", "label": "Radio show",
            "attributes": {"live": true, "episodes": 3, "station": "Radio Asti"}}),
    ];
    for body in &bodies {
        source.post("/v1/programmes/connection/activities", Some(&source.admin), body).await.expect(201);
    }
    let csv = source
        .send(Method::GET, "/v1/programmes/connection/activities", None, None, &[("accept", "text/csv")])
        .await
        .expect(200)
        .text;
    let target = spawn_app().await;
    let done = import(&target, Some(&target.admin), true, "text/csv", csv.clone().into_bytes()).await.expect(200).json();
    assert_eq!(done["recorded"], json!(bodies.len()), "{done}");
    assert_eq!(exported_values(&target).await, exported_values(&source).await);

    // The export with one row added, read back into the programme it came from: the exported rows are the
    // activities already there (by their id), only the new row is recorded.
    let header = csv.lines().next().unwrap().to_owned();
    let new_row = sheet_row(&header, &[("programme", "connection"), ("kind", "staff_exchange"), ("occurred_on", "2021-11-15"),
        ("host", "paris"), ("visitor", "torino"), ("days", "3"), ("staff", "1")]);
    let grown = format!("{csv}{new_row}\r\n");
    let again = import(&source, Some(&source.admin), true, "text/csv", grown.into_bytes()).await.expect(200).json();
    assert_eq!((again["recorded"].as_u64(), again["already_recorded"].as_u64()), (Some(1), Some(bodies.len() as u64)), "{again}");
    assert_eq!(activity_count(&source).await, bodies.len() + 1);
}

/// A CSV row under `header` with `values` in their columns and the others empty.
fn sheet_row(header: &str, values: &[(&str, &str)]) -> String {
    header
        .split(',')
        .map(|heading| values.iter().find(|(name, _)| *name == heading).map_or("", |(_, value)| *value))
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn the_same_file_committed_twice_at_once_records_each_row_once() {
    let app = spawn_app().await;
    let file = workbook("paris");
    let (first, second) = tokio::join!(
        import(&app, Some(&app.admin), true, XLSX, file.clone()),
        import(&app, Some(&app.admin), true, XLSX, file),
    );
    let (first, second) = (first.expect(200).json(), second.expect(200).json());
    let recorded = first["recorded"].as_u64().unwrap() + second["recorded"].as_u64().unwrap();
    assert_eq!(recorded, 4, "{first}\n{second}");
    assert_eq!(first["outcomes"][0]["id"], second["outcomes"][0]["id"]);
    assert_eq!(activity_count(&app).await, 4);
}
