//! Exports read back: the progress report as XLSX (sheets, numbers as numbers), as IATI 2.03 XML (the element
//! structure of `iati-activities`), and activities as CSV.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use reqwest::Method;

use crate::helpers::spawn_app;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[tokio::test]
async fn the_progress_report_comes_as_an_xlsx_workbook_with_numbers_as_numbers() {
    let app = spawn_app().await;
    let created = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let response = app
        .client
        .get(app.url("/v1/programmes/connection/progress?as_of=2022-12-31"))
        .header("accept", XLSX)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], XLSX);
    let bytes = response.bytes().await.unwrap();
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("a readable workbook");
    assert_eq!(workbook.sheet_names(), ["Indicators", "By partner", "By cluster", "Activities", "About"]);

    let indicators = workbook.worksheet_range("Indicators").unwrap();
    let header: Vec<String> = indicators.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(header[..6], ["indicator", "label", "unit", "target", "baseline", "actual"]);
    let exchanges = indicators.rows().find(|r| r[0] == Data::String("staff-exchanges".into())).expect("the row");
    assert_eq!(exchanges[3], Data::Float(14.0));
    assert_eq!(exchanges[5], Data::Float(1.0));
    let grants = indicators.rows().find(|r| r[0] == Data::String("grants".into())).expect("the grants row");
    assert_eq!(grants[3], Data::Float(250000.0));
    let budget = indicators.rows().find(|r| r[0] == Data::String("budget".into())).expect("the budget row");
    assert_eq!(budget[3], Data::Float(1874876.03));

    let by_partner = workbook.worksheet_range("By partner").unwrap();
    assert!(by_partner.rows().any(|r| r[0] == Data::String("torino".into())));
    let activities = workbook.worksheet_range("Activities").unwrap();
    let rows: Vec<_> = activities.rows().skip(1).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], Data::String(created["id"].as_str().unwrap().to_owned()));
}

#[tokio::test]
async fn the_iati_document_follows_the_2_03_activity_structure() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    app.record_exchange(&app.admin, "paris", "torino", "2021-11-11").await;
    let answer = app.get("/v1/programmes/connection/iati?as_of=2022-12-31", None).await.expect(200);
    assert!(answer.header("content-type").unwrap().starts_with("application/xml"));
    let document = roxmltree::Document::parse(&answer.text).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "iati-activities");
    assert_eq!(root.attribute("version"), Some("2.03"));
    let activity = root.children().find(|n| n.has_tag_name("iati-activity")).expect("an iati-activity");
    let order: Vec<&str> = activity.children().filter(|n| n.is_element()).map(|n| n.tag_name().name()).collect();
    // The schema's sequence: identifier, reporting-org, title, description, participating-org…, status, dates,
    // recipients, sectors, budget, results.
    let rank = |name: &str| ["iati-identifier", "reporting-org", "title", "description", "participating-org",
        "activity-status", "activity-date", "recipient-country", "sector", "budget", "result"].iter().position(|n| *n == name).unwrap_or_else(|| panic!("unexpected {name}"));
    assert!(order.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{order:?}");
    assert_eq!(activity.attribute("default-currency"), Some("EUR"));

    let results: Vec<_> = activity.children().filter(|n| n.has_tag_name("result")).collect();
    let report = app.get("/v1/programmes/connection/progress?as_of=2022-12-31", None).await.json();
    assert_eq!(results.len(), report["indicators"].as_array().unwrap().len(), "one result per indicator");
    let exchanges = results
        .iter()
        .find(|r| r.descendants().any(|n| n.has_tag_name("narrative") && n.text() == Some("Staff exchanges")))
        .expect("the staff exchanges result");
    let indicator = exchanges.children().find(|n| n.has_tag_name("indicator")).unwrap();
    let period = indicator.children().find(|n| n.has_tag_name("period")).unwrap();
    let names: Vec<&str> = period.children().filter(|n| n.is_element()).map(|n| n.tag_name().name()).collect();
    assert_eq!(names[..3], ["period-start", "period-end", "target"]);
    assert_eq!(period.children().find(|n| n.has_tag_name("target")).unwrap().attribute("value"), Some("14"));
    let actuals: Vec<_> = period.children().filter(|n| n.has_tag_name("actual")).collect();
    assert_eq!(actuals[0].attribute("value"), Some("2"));
    let by_partner: Vec<(&str, &str)> = actuals[1..]
        .iter()
        .map(|a| {
            let dimension = a.children().find(|n| n.has_tag_name("dimension")).unwrap();
            assert_eq!(dimension.attribute("name"), Some("partner"));
            (dimension.attribute("value").unwrap(), a.attribute("value").unwrap())
        })
        .collect();
    let counted: Vec<_> = by_partner.into_iter().filter(|(_, value)| *value != "0").collect();
    assert_eq!(counted, [("paris", "1"), ("torino", "1")]);
}

#[tokio::test]
async fn activities_come_as_csv_with_the_filters_applied() {
    let app = spawn_app().await;
    let torino = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    app.record_exchange(&app.admin, "paris", "torino", "2021-11-11").await;
    let answer = app
        .send(Method::GET, "/v1/programmes/connection/activities?partner=torino", None, None, &[("accept", "text/csv")])
        .await
        .expect(200);
    assert_eq!(answer.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<&str> = answer.text.split_terminator("\r\n").collect();
    assert!(lines[0].starts_with("programme,as_of,known_at,log_position,log_hash,id,kind,occurred_on,ends_on,partner,"), "{}", lines[0]);
    assert!(lines[0].ends_with(",status,version,position"), "{}", lines[0]);
    assert_eq!(lines.len(), 2);
    let id = torino["id"].as_str().unwrap();
    assert!(lines[1].contains(&format!(",{id},staff_exchange,2021-10-11,,torino,")), "{}", lines[1]);
    assert!(lines[1].ends_with(",recorded,1,3"), "{}", lines[1]);
}
