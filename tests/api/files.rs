//! Files people hand in: every format of a past report (JSON, CSV, XLSX, activities CSV) gives the same bytes
//! across a second boundary and after later events; each file states what it reflects (programme, as_of,
//! known_at, log position and the chain hash there); the activities files hold every recorded value and respect
//! `as_of` and `at_position`; CSV is read back by Python's `csv` module.

use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};
use serde_json::{json, Value};

use crate::helpers::{clock_past, spawn_app, TestApp};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The body of a GET with this `Accept`, as bytes, after checking the status is 200.
async fn bytes_of(app: &TestApp, path: &str, accept: &str) -> Vec<u8> {
    let response = app.client.get(app.url(path)).header("accept", accept).send().await.expect("the server answers");
    assert_eq!(response.status(), 200, "{path} as {accept}");
    response.bytes().await.expect("a body").to_vec()
}

/// Every format of one query, in a fixed order.
async fn every_format(app: &TestApp, query: &str) -> Vec<Vec<u8>> {
    let progress = format!("/v1/programmes/connection/progress?{query}");
    let activities = format!("/v1/programmes/connection/activities?{query}");
    vec![
        bytes_of(app, &progress, "application/json").await,
        bytes_of(app, &progress, "text/csv").await,
        bytes_of(app, &progress, XLSX).await,
        bytes_of(app, &activities, "text/csv").await,
    ]
}

/// A cluster visit with every common field: title, notes (with a comma, a quote and a line break), evidence and
/// participants.
fn visit(occurred_on: &str) -> Value {
    json!({"kind": "cluster_visit", "occurred_on": occurred_on, "cluster": "cop2", "host": "athens",
           "title": "Visit to Athens", "notes": "met, \"as planned\"\nsecond line",
           "participants": {"total": 25, "women": 14, "migrants": 6},
           "evidence": [{"title": "Agenda", "url": "https://example.org/agenda.pdf"}]})
}

fn grant(occurred_on: &str, amount: &str) -> Value {
    json!({"kind": "grant_awarded", "occurred_on": occurred_on, "recipient": "asti", "amount": amount, "purpose": "pilot"})
}

async fn record(app: &TestApp, body: &Value) -> Value {
    app.post("/v1/programmes/connection/activities", Some(&app.admin), body).await.expect(201).json()
}

#[tokio::test]
async fn every_format_of_a_past_report_gives_the_same_bytes_after_a_second_and_later_events() {
    let app = spawn_app().await;
    let exchange = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    record(&app, &visit("2021-11-02")).await;
    let position = record(&app, &grant("2022-01-10", "1000.50")).await["position"].as_u64().unwrap();

    for query in [format!("at_position={position}"), format!("at_position={position}&as_of=2021-12-31")] {
        let second = chrono::Utc::now().timestamp();
        let then = every_format(&app, &query).await;
        clock_past(second).await;
        assert_eq!(every_format(&app, &query).await, then, "{query}: the same bytes a second later");

        // Later events: a new activity, a correction and a retraction of ones the report reflects.
        app.record_exchange(&app.admin, "paris", "torino", "2021-11-11").await;
        let id = exchange["id"].as_str().unwrap();
        let correction = json!({"reason": "five staff", "changes": {"staff": 5}});
        app.post(&format!("/v1/programmes/connection/activities/{id}/corrections"), Some(&app.admin), &correction).await.expect(200);
        let now = every_format(&app, &query).await;
        for (format, (then, now)) in ["JSON", "CSV", "XLSX", "activities CSV"].iter().zip(then.iter().zip(&now)) {
            assert!(then == now, "{query}: the {format} changed after later events");
        }
    }
    // The same files at the head do change: the test sees the later events.
    let head = app.get("/v1/audit/head", None).await.expect(200).json()["position"].as_u64().unwrap();
    assert_ne!(every_format(&app, &format!("at_position={head}")).await[3], every_format(&app, &format!("at_position={position}")).await[3]);
}

#[tokio::test]
async fn the_workbook_states_what_it_reflects_and_holds_every_recorded_value() {
    let app = spawn_app().await;
    let exchange = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let visit = record(&app, &visit("2021-11-02")).await;
    record(&app, &grant("2022-01-10", "1000.50")).await;
    let position = record(&app, &grant("2021-12-01", "250")).await["position"].as_u64().unwrap();
    let query = format!("at_position={position}&as_of=2021-12-31");
    let report = app.get(&format!("/v1/programmes/connection/progress?{query}"), None).await.expect(200).json();
    let bytes = bytes_of(&app, &format!("/v1/programmes/connection/progress?{query}"), XLSX).await;

    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.clone())).expect("a readable workbook");
    assert_eq!(workbook.sheet_names(), ["Indicators", "By partner", "By cluster", "Activities", "About"]);

    // About: what the workbook reflects; the hash is the chain hash of the event at that position.
    let about = workbook.worksheet_range("About").unwrap();
    let stated: Vec<(String, String)> = about.rows().take(5).map(|r| (r[0].to_string(), r[1].to_string())).collect();
    let hash = app.get(&format!("/v1/events?from={position}&limit=1"), Some(&app.admin)).await.expect(200).json()["events"][0]
        ["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let known_at = report["known_at"].as_str().unwrap();
    let expected = [
        ("programme", "connection"),
        ("as_of", "2021-12-31"),
        ("known_at", known_at),
        ("log_position", &position.to_string()),
        ("log_hash", &hash),
    ];
    assert_eq!(stated, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    assert_eq!(report["hash"], hash);

    // The document's creation date is the moment the report stands at, not the clock.
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    let mut core = String::new();
    archive.by_name("docProps/core.xml").expect("document properties").read_to_string(&mut core).unwrap();
    let created = format!("<dcterms:created xsi:type=\"dcterms:W3CDTF\">{}Z</dcterms:created>", &known_at[..19]);
    assert!(core.contains(&created), "{created} in {core}");

    // Activities: every recorded value, amounts as numbers, none dated after as_of.
    let activities = workbook.worksheet_range("Activities").unwrap();
    let header: Vec<String> = activities.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {header:?}"));
    let rows: Vec<&[Data]> = activities.rows().skip(1).collect();
    assert_eq!(rows.len(), 3, "the grant of 2022-01-10 is after as_of");
    let row = |id: &Value| *rows.iter().find(|r| r[0] == Data::String(id.as_str().unwrap().to_owned())).expect("the row");
    let exchange_row = row(&exchange["id"]);
    assert_eq!(exchange_row[column("host")], Data::String("torino".into()));
    assert_eq!(exchange_row[column("visitor")], Data::String("paris".into()));
    assert_eq!(exchange_row[column("days")], Data::Float(5.0));
    assert_eq!(exchange_row[column("staff")], Data::Float(2.0));
    let visit_row = row(&visit["id"]);
    assert_eq!(visit_row[column("title")], Data::String("Visit to Athens".into()));
    assert_eq!(visit_row[column("notes")], Data::String("met, \"as planned\"\nsecond line".into()));
    assert_eq!(visit_row[column("participants.total")], Data::Float(25.0));
    assert_eq!(visit_row[column("participants.women")], Data::Float(14.0));
    assert_eq!(visit_row[column("participants.migrants")], Data::Float(6.0));
    assert_eq!(visit_row[column("evidence")], Data::String("Agenda <https://example.org/agenda.pdf>".into()));
    let grant_index = rows.iter().position(|r| r[column("kind")] == Data::String("grant_awarded".into())).unwrap();
    let grant_row = rows[grant_index];
    assert_eq!(grant_row[column("amount")], Data::Float(250.0));
    let amount_cell = format!("{}{}", column_letters(column("amount")), grant_index + 2);
    assert_eq!(number_format(&mut archive, "xl/worksheets/sheet4.xml", &amount_cell), "#,##0.00", "money shows two decimals");
    assert_eq!(grant_row[column("recipient")], Data::String("asti".into()));

    // Breakdowns: every partner and cluster of the programme, zeros included.
    let definition = app.get("/v1/programmes/connection", None).await.expect(200).json();
    let by_partner = workbook.worksheet_range("By partner").unwrap();
    assert_eq!(by_partner.rows().count() - 1, definition["partners"].as_array().unwrap().len());
    let by_cluster = workbook.worksheet_range("By cluster").unwrap();
    assert_eq!(by_cluster.rows().count() - 1, definition["clusters"].as_array().unwrap().len() + 1, "and none");
    let cop4 = by_cluster.rows().find(|r| r[0] == Data::String("cop4".into())).expect("cop4, with nothing counted");
    assert!(cop4[1..].iter().all(|c| *c == Data::Float(0.0)), "{cop4:?}");
}

/// The spreadsheet column letters of a 0-based column index (`A`, …, `Z`, `AA`, …).
fn column_letters(index: usize) -> String {
    let (mut n, mut letters) = (index + 1, Vec::new());
    while n > 0 {
        letters.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap()
}

/// The number format code of a cell of a worksheet in the workbook, read from its XML parts.
fn number_format(archive: &mut zip::ZipArchive<Cursor<Vec<u8>>>, sheet: &str, cell: &str) -> String {
    let mut part = |name: &str| {
        let mut text = String::new();
        archive.by_name(name).unwrap_or_else(|_| panic!("{name}")).read_to_string(&mut text).unwrap();
        text
    };
    let (sheet_xml, styles_xml) = (part(sheet), part("xl/styles.xml"));
    let sheet = roxmltree::Document::parse(&sheet_xml).unwrap();
    let styles = roxmltree::Document::parse(&styles_xml).unwrap();
    let c = sheet.descendants().find(|n| n.has_tag_name("c") && n.attribute("r") == Some(cell)).expect("the cell");
    let style: usize = c.attribute("s").expect("a style").parse().unwrap();
    let xfs = styles.descendants().find(|n| n.has_tag_name("cellXfs")).unwrap();
    let xf = xfs.children().filter(|n| n.has_tag_name("xf")).nth(style).unwrap();
    let id = xf.attribute("numFmtId").unwrap();
    let format = styles.descendants().find(|n| n.has_tag_name("numFmt") && n.attribute("numFmtId") == Some(id));
    format.and_then(|f| f.attribute("formatCode")).unwrap_or("a built-in format").to_owned()
}

/// The records of a CSV as Python's `csv` module reads them (RFC 4180 dialect, strict).
fn read_with_python(csv: &str) -> Vec<Vec<String>> {
    let script = "import csv, io, json, sys\n\
        text = sys.stdin.buffer.read().decode('utf-8')\n\
        rows = list(csv.reader(io.StringIO(text, newline=''), strict=True))\n\
        json.dump(rows, sys.stdout)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the CI image has it)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), csv.as_bytes()).unwrap();
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python's csv reader refused the file");
    serde_json::from_slice(&output.stdout).expect("the rows as JSON")
}

#[tokio::test]
async fn the_activities_csv_states_what_it_reflects_and_holds_every_recorded_value() {
    let app = spawn_app().await;
    let visit = record(&app, &visit("2021-11-02")).await;
    let position = record(&app, &grant("2021-12-01", "1000.50")).await["position"].as_u64().unwrap();
    record(&app, &grant("2021-12-05", "7")).await;
    app.record_exchange(&app.admin, "torino", "paris", "2022-02-01").await;

    let path = format!("/v1/programmes/connection/activities?at_position={position}&as_of=2021-12-31");
    let answer = app.send(reqwest::Method::GET, &path, None, None, &[("accept", "text/csv")]).await.expect(200);
    assert!(answer.text.ends_with("\r\n"), "records end in CRLF");
    let disposition = answer.header("content-disposition").unwrap();
    assert_eq!(disposition, format!("attachment; filename=\"connection-activities-2021-12-31-at-{position}.csv\""));
    let rows = read_with_python(&answer.text);
    let header = &rows[0];
    assert_eq!(header[..6], ["programme", "as_of", "known_at", "log_position", "log_hash", "id"]);
    assert!(rows.iter().all(|r| r.len() == header.len()), "every record has every field");
    assert_eq!(rows.len(), 3, "two activities at that position, none after it: {rows:?}");
    let field = |row: &Vec<String>, name: &str| row[header.iter().position(|h| h == name).unwrap()].clone();
    let report = app.get(&format!("/v1/programmes/connection/progress?at_position={position}&as_of=2021-12-31"), None).await.json();
    for row in &rows[1..] {
        assert_eq!(field(row, "programme"), "connection");
        assert_eq!(field(row, "as_of"), "2021-12-31");
        assert_eq!(field(row, "known_at"), report["known_at"].as_str().unwrap());
        assert_eq!(field(row, "log_position"), position.to_string());
        assert_eq!(field(row, "log_hash"), report["hash"].as_str().unwrap());
    }
    let visit_row = rows.iter().find(|r| field(r, "id") == visit["id"].as_str().unwrap()).unwrap();
    assert_eq!(field(visit_row, "notes"), "met, \"as planned\"\nsecond line");
    assert_eq!(field(visit_row, "participants.women"), "14");
    assert_eq!(field(visit_row, "host"), "athens");
    let grant_row = rows.iter().find(|r| field(r, "kind") == "grant_awarded").unwrap();
    assert_eq!(field(grant_row, "amount"), "1000.50");

    // as_of alone cuts what is dated after it; the JSON list takes the same query.
    let listed = app.get(&format!("/v1/programmes/connection/activities?at_position={position}"), None).await.expect(200).json();
    assert_eq!(listed["activities"].as_array().unwrap().len(), 2);
    let listed = app.get("/v1/programmes/connection/activities?as_of=2021-12-31", None).await.expect(200).json();
    assert_eq!(listed["activities"].as_array().unwrap().len(), 3);
    app.get("/v1/programmes/connection/activities?at_position=99999", None).await.problem(422);
}

#[tokio::test]
async fn the_dashboard_lists_recorded_values_as_of_its_date_without_notes() {
    let app = spawn_app().await;
    let visit = record(&app, &visit("2021-11-02")).await;
    let later = app.record_exchange(&app.admin, "torino", "paris", "2022-02-01").await;
    let page = app.get("/programmes/connection?as_of=2021-12-31", None).await.expect(200).text;
    assert!(page.contains(visit["id"].as_str().unwrap()), "the visit is listed");
    assert!(!page.contains(later["id"].as_str().unwrap()), "the exchange of 2022 is after as_of");
    assert!(page.contains("Visit to Athens"), "the title");
    assert!(page.contains("participants.women 14"), "the participants: {page}");
    assert!(page.contains("Agenda &lt;https://example.org/agenda.pdf&gt;"), "the evidence");
    assert!(!page.contains("as planned"), "notes stay off the public page");
    let now = app.get("/programmes/connection?as_of=2022-12-31", None).await.expect(200).text;
    assert!(now.contains(later["id"].as_str().unwrap()) && now.contains("days 5 · staff 2"), "{now}");
}
