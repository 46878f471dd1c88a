//! Progress reports from a real log: a recorded staff exchange moves CONNECTION's progress, a report at a past
//! position stays byte-identical after later events, `known_at` maps to the last position recorded by then, and
//! `tracker report` renders table, JSON and CSV offline.

use events::{CommandContext, Role, Slug};
use tracker::report::{position_known_at, progress_report, replay, ReportError, ReportRequest};
use tracker::seed::load_seeds;
use tracker::service::{record, ActivityBody, ActivityTarget};
use tracker::store::{EventLog, SledLog};

use crate::helpers::open;

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn coordinator() -> CommandContext {
    CommandContext { today: today(), role: Role::Coordinator { programme: Slug::parse("connection").unwrap() } }
}

async fn record_exchange(log: &SledLog, host: &str, visitor: &str, occurred_on: &str) -> u64 {
    let body = serde_json::json!({
        "kind": "staff_exchange", "occurred_on": occurred_on, "host": host, "visitor": visitor,
        "cluster": "cop1", "days": 5, "staff": 2
    });
    let connection = Slug::parse("connection").unwrap();
    let target = ActivityTarget { programme: &connection, activity: uuid::Uuid::now_v7(), event_ids: None, new: true };
    let body = ActivityBody::Json(body);
    let executed = record(log, &Default::default(), None, target, &body, &coordinator(), "alexandra").await.unwrap();
    executed.appended.expect("a new activity is appended").last_position()
}

async fn report_json(log: &SledLog, request: &ReportRequest) -> String {
    let projection = replay(log).await.unwrap();
    let report = progress_report(log, &projection, "connection", request, today()).await.unwrap();
    serde_json::to_string(&report).unwrap()
}

fn indicator<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["indicators"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()
}

#[tokio::test]
async fn a_recorded_staff_exchange_moves_connection_progress() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_seeds(&log, today()).await.unwrap();
    let before: serde_json::Value = serde_json::from_str(&report_json(&log, &ReportRequest::default()).await).unwrap();
    assert_eq!(indicator(&before, "staff-exchanges")["actual"], "0");
    assert_eq!(before["budget"]["total"], "1874876.03");

    let position = record_exchange(&log, "torino", "paris", "2021-10-11").await;
    let after: serde_json::Value = serde_json::from_str(&report_json(&log, &ReportRequest::default()).await).unwrap();
    let exchanges = indicator(&after, "staff-exchanges");
    assert_eq!(exchanges["actual"], "1");
    assert_eq!(exchanges["target"], "14");
    assert_eq!(exchanges["by_partner"]["torino"], "1");
    assert_eq!(exchanges["by_cluster"]["cop1"], "1");
    assert_eq!(after["position"], position);
    assert_eq!(after["as_of"], "2026-11-23");

    // As of a date before the exchange took place, it does not count.
    let earlier = ReportRequest { as_of: chrono::NaiveDate::from_ymd_opt(2021, 10, 10), ..Default::default() };
    let earlier: serde_json::Value = serde_json::from_str(&report_json(&log, &earlier).await).unwrap();
    assert_eq!(indicator(&earlier, "staff-exchanges")["actual"], "0");
}

#[tokio::test]
async fn a_report_at_a_past_position_is_byte_identical_after_later_events() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_seeds(&log, today()).await.unwrap();
    let first = record_exchange(&log, "torino", "paris", "2021-10-11").await;
    let at_first = ReportRequest { at_position: Some(first), ..Default::default() };
    let then = report_json(&log, &at_first).await;
    record_exchange(&log, "paris", "torino", "2021-11-15").await;
    record_exchange(&log, "zagreb", "torino", "2022-03-01").await;
    assert_eq!(report_json(&log, &at_first).await, then);
    let now: serde_json::Value = serde_json::from_str(&report_json(&log, &ReportRequest::default()).await).unwrap();
    assert_eq!(indicator(&now, "staff-exchanges")["actual"], "3");
}

#[tokio::test]
async fn known_at_reports_what_was_recorded_by_that_moment() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_seeds(&log, today()).await.unwrap();
    let first = record_exchange(&log, "torino", "paris", "2021-10-11").await;
    let moment = log.read_all(first, 1).await.unwrap()[0].recorded_at;
    let later = record_exchange(&log, "paris", "torino", "2021-11-15").await;
    assert!(position_known_at(&log, moment).await.unwrap() >= first);
    assert!(position_known_at(&log, moment).await.unwrap() < later || log.read_all(later, 1).await.unwrap()[0].recorded_at == moment);
    assert_eq!(position_known_at(&log, events::Timestamp::from_micros(0)).await.unwrap(), 0);

    let by_time = ReportRequest { known_at: Some(moment), as_of: Some(today()), ..Default::default() };
    let report: serde_json::Value = serde_json::from_str(&report_json(&log, &by_time).await).unwrap();
    assert_eq!(report["known_at"], moment.to_rfc3339());
    let counted = indicator(&report, "staff-exchanges")["actual"].as_str().unwrap().to_owned();
    let expected = if log.read_all(later, 1).await.unwrap()[0].recorded_at == moment { "2" } else { "1" };
    assert_eq!(counted, expected);

    let both = ReportRequest { known_at: Some(moment), at_position: Some(1), ..Default::default() };
    let projection = replay(&log).await.unwrap();
    let error = progress_report(&log, &projection, "connection", &both, today()).await.unwrap_err();
    assert!(matches!(&error, ReportError::Query(fault) if fault.field == "at_position"), "{error}");
    assert!(error.to_string().contains("not both"), "{error}");
    let head = log.head().await.unwrap().position;
    let beyond = ReportRequest { at_position: Some(head + 1), ..Default::default() };
    let error = progress_report(&log, &projection, "connection", &beyond, today()).await.unwrap_err();
    assert_eq!(error.to_string(), format!("at_position: position {} is beyond the head of the log ({head}); ask for {head} or less", head + 1));
    let error = progress_report(&log, &projection, "atlantis", &ReportRequest::default(), today()).await.unwrap_err();
    assert_eq!(error.to_string(), "unknown programme 'atlantis'");
}

#[tokio::test]
async fn a_new_activity_whose_id_is_already_recorded_is_not_recorded_twice() {
    // `new` skips reading the stream before the first decision; the log's expectation of no stream still
    // refuses a second record, and the next attempt reads the activity that is there.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_seeds(&log, today()).await.unwrap();
    let connection = Slug::parse("connection").unwrap();
    let id = uuid::Uuid::now_v7();
    let body = |days: u32| {
        ActivityBody::Json(serde_json::json!({"kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino",
                                              "visitor": "paris", "cluster": "cop1", "days": days, "staff": 2}))
    };
    let target = ActivityTarget { programme: &connection, activity: id, event_ids: None, new: true };
    let first = record(&log, &Default::default(), None, target, &body(5), &coordinator(), "alexandra").await.unwrap();
    let head = log.head().await.unwrap().position;
    assert_eq!(first.appended.expect("recorded").last_position(), head);

    let again = record(&log, &Default::default(), None, target, &body(9), &coordinator(), "alexandra").await.unwrap();
    assert!(again.appended.is_none(), "recorded twice: {:?}", again.appended);
    assert_eq!((again.version, again.state), (first.version, first.state));
    assert_eq!(log.head().await.unwrap().position, head);
}
