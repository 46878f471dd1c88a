//! Bulk upload: a check lists every fault of every row (row, column, message) and records nothing; a file whose
//! rows are all valid is recorded by the commit form, which carries the file back; committing it again records
//! nothing new.

use serde_json::json;

use super::input_value;
use crate::helpers::{spawn_app, Answer, Part, TestApp};

const FAULTY: &str = "kind,occurred_on,host,visitor,cluster,days,staff\r\n\
    staff_exchange,2021-10-11,torino,asti,cop1,5,2\r\n\
    staff_exchange,2021-10-12,torino,atlantis,cop1,99,2\r\n";

const FIXED: &str = "kind,occurred_on,host,visitor,cluster,days,staff\r\n\
    staff_exchange,2021-10-11,torino,asti,cop1,5,2\r\n\
    staff_exchange,2021-10-12,torino,paris,cop1,9,2\r\n";

async fn activity_count(app: &TestApp) -> usize {
    let list = app.get("/v1/programmes/connection/activities?limit=500", None).await.expect(200).json();
    list["activities"].as_array().expect("a list").len()
}

/// Checks `csv` on the upload page as `token`'s holder.
async fn check(app: &TestApp, token: &str, csv: &str) -> Answer {
    let file = Part::File { name: "file", file_name: "exchanges.csv", media_type: "text/csv", bytes: csv.as_bytes() };
    app.post_multipart("/programmes/connection/upload", token, &[Part::Text("csrf", ""), file]).await
}

/// Posts the commit form of a checked page as the browser would: its hidden fields, in order.
async fn commit(app: &TestApp, token: &str, checked: &str) -> Answer {
    let field = |name: &str| input_value(checked, &format!("name=\"{name}\"")).unwrap_or_else(|| panic!("the commit form carries {name}: {checked}"));
    let (file_name, media_type, content) = (field("file_name"), field("media_type"), field("content"));
    let parts = [Part::Text("csrf", ""), Part::Text("file_name", &file_name), Part::Text("media_type", &media_type),
                 Part::Text("content", &content), Part::Text("commit", "true")];
    app.post_multipart("/programmes/connection/upload", token, &parts).await
}

#[tokio::test]
async fn the_upload_page_asks_for_a_csv_or_xlsx_file() {
    let app = spawn_app().await;
    let page = app.page("/programmes/connection/upload", Some(&app.admin)).await.expect(200);
    assert!(page.text.contains("enctype=\"multipart/form-data\"") && page.text.contains("accept=\".csv,.xlsx\""), "{}", page.text);
}

#[tokio::test]
async fn a_check_lists_every_fault_of_a_bad_row_and_records_nothing() {
    let app = spawn_app().await;
    let token = app.token("connection-coordinator", "coordinator", Some("connection"), None).await;
    assert_eq!(activity_count(&app).await, 0);
    let answer = check(&app, &token, FAULTY).await.expect(422);
    let text = &answer.text;
    assert!(text.contains("1 of 2 rows have faults") || text.contains("1 of 2 rows has faults"), "{text}");
    assert!(text.contains("1 valid, 1 with faults"), "{text}");
    // Row 3: the visitor (column D) and the days (column F), with the API's messages.
    assert!(text.contains("<td>D (visitor)</td>") && text.contains("unknown partner 'atlantis'"), "{text}");
    assert!(text.contains("<td>F (days)</td>"), "{text}");
    assert_eq!(text.matches("<td class=\"num\">3</td>").count(), 2, "both faults are of row 3: {text}");
    assert!(!text.contains("name=\"commit\""), "no commit form while a row has a fault: {text}");
    assert_eq!(activity_count(&app).await, 0, "a check records nothing");
}

#[tokio::test]
async fn a_checked_file_is_recorded_once_however_often_it_is_committed() {
    let app = spawn_app().await;
    let token = app.token("connection-coordinator", "coordinator", Some("connection"), None).await;
    let checked = check(&app, &token, FIXED).await.expect(200);
    assert!(checked.text.contains("2 valid, 0 with faults") && checked.text.contains("Record 2 activities"), "{}", checked.text);
    assert_eq!(activity_count(&app).await, 0, "a check records nothing");

    let answer = commit(&app, &token, &checked.text).await.expect(303);
    assert_eq!(answer.header("location"), Some("/programmes/connection/upload?recorded=2&already=0&refused=0"));
    assert_eq!(activity_count(&app).await, 2);
    let page = app.page("/programmes/connection/upload?recorded=2&already=0&refused=0", Some(&token)).await.expect(200);
    assert!(page.text.contains("Recorded 2 activities."), "{}", page.text);
    let progress = app.get("/v1/programmes/connection/progress?as_of=2022-12-31", None).await.json();
    let exchanges = progress["indicators"].as_array().unwrap().iter().find(|i| i["id"] == "staff-exchanges").unwrap()["actual"].clone();
    assert_eq!(exchanges, json!("2"));

    // The same form sent again (the button pressed twice, the page reloaded) records nothing new.
    let again = commit(&app, &token, &checked.text).await.expect(303);
    assert_eq!(again.header("location"), Some("/programmes/connection/upload?recorded=0&already=2&refused=0"));
    assert_eq!(activity_count(&app).await, 2);
    // And a check of the same file says so, with nothing to record.
    let rechecked = check(&app, &token, FIXED).await.expect(200);
    assert!(rechecked.text.contains("2 recorded already") && !rechecked.text.contains("name=\"commit\""), "{}", rechecked.text);
}

#[tokio::test]
async fn a_file_that_is_not_a_spreadsheet_is_refused_by_the_file_input() {
    let app = spawn_app().await;
    let file = Part::File { name: "file", file_name: "notes.txt", media_type: "text/plain", bytes: b"hello" };
    let answer = app.post_multipart("/programmes/connection/upload", &app.admin, &[Part::Text("csrf", ""), file]).await.expect(415);
    assert!(answer.text.contains("href=\"#upload-file\"") && answer.text.contains("id=\"upload-file-error\""), "{}", answer.text);
    let empty = app.post_multipart("/programmes/connection/upload", &app.admin, &[Part::Text("csrf", "")]).await.expect(422);
    assert!(empty.text.contains("choose a CSV or XLSX file"), "{}", empty.text);
    assert_eq!(activity_count(&app).await, 0);
}

#[tokio::test]
async fn a_file_over_the_64_kib_body_limit_of_other_routes_is_checked() {
    let app = spawn_app().await;
    let mut csv = String::from("kind,occurred_on,host,visitor,cluster,days,staff\r\n");
    while csv.len() <= 96 * 1024 {
        csv.push_str("staff_exchange,2021-10-11,torino,asti,cop1,5,2\r\n");
    }
    let rows = csv.lines().count() - 1;
    let checked = check(&app, &app.admin, &csv).await.expect(200);
    assert!(checked.text.contains(&format!("Record {rows} activities")), "{}", &checked.text[..2000.min(checked.text.len())]);
    assert_eq!(activity_count(&app).await, 0);
}
