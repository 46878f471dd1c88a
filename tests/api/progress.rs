//! Progress over HTTP: a recorded exchange moves CONNECTION's progress at once, CSV on request, `at_position`
//! reports stay byte-identical after later events, `known_at` reproduces what was known then, and bad queries
//! name their field.

use reqwest::Method;

use crate::helpers::{indicator, spawn_app};

#[tokio::test]
async fn a_recorded_exchange_moves_progress_and_its_breakdowns_add_up() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    app.record_exchange(&app.admin, "paris", "zagreb", "2022-03-01").await;
    let report = app.get("/v1/programmes/connection/progress?as_of=2022-12-31", None).await.expect(200).json();
    assert_eq!(report["position"], 4);
    assert_eq!(report["as_of"], "2022-12-31");
    let exchanges = indicator(&report, "staff-exchanges");
    assert_eq!(exchanges["actual"], "2");
    assert_eq!(exchanges["target"], "14");
    assert_eq!(exchanges["percent"], 14.3);
    // Every partner and cluster of the programme has its row, zeros included.
    let by_partner = exchanges["by_partner"].as_object().unwrap();
    let definition = app.get("/v1/programmes/connection", None).await.expect(200).json();
    let partners: Vec<&str> = definition["partners"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(by_partner.len(), partners.len());
    for partner in partners {
        let expected = if ["torino", "paris"].contains(&partner) { "1" } else { "0" };
        assert_eq!(by_partner[partner], expected, "{partner}");
    }
    assert_eq!(exchanges["by_cluster"], serde_json::json!({"cop1": "2", "cop2": "0", "cop3": "0", "cop4": "0", "none": "0"}));
    assert_eq!(report["budget"]["total"], "1874876.03");

    let before = app.get("/v1/programmes/connection/progress?as_of=2021-12-31", None).await.expect(200).json();
    assert_eq!(indicator(&before, "staff-exchanges")["actual"], "1");
}

#[tokio::test]
async fn progress_comes_as_csv_when_asked() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let answer = app
        .send(Method::GET, "/v1/programmes/connection/progress?as_of=2022-12-31", None, None, &[("accept", "text/csv")])
        .await
        .expect(200);
    assert_eq!(answer.header("content-type"), Some("text/csv; charset=utf-8"));
    let report = app.get("/v1/programmes/connection/progress?as_of=2022-12-31", None).await.expect(200).json();
    let (known_at, hash) = (report["known_at"].as_str().unwrap(), report["hash"].as_str().unwrap());
    assert_eq!(hash.len(), 64);
    // RFC 4180: every record ends in CRLF; every row starts with what the report reflects.
    assert!(answer.text.ends_with("\r\n") && !answer.text.replace("\r\n", "").contains('\n'), "{:?}", answer.text);
    let mut lines = answer.text.split_terminator("\r\n");
    assert_eq!(
        lines.next(),
        Some("programme,as_of,known_at,log_position,log_hash,indicator,label,unit,target,baseline,actual,pending,percent,expected,status")
    );
    let row = format!("connection,2022-12-31,{known_at},3,{hash},staff-exchanges,Staff exchanges,exchanges,14,0,1,0,7.1,");
    assert!(answer.text.split_terminator("\r\n").any(|l| l.starts_with(&row)), "{}", answer.text);
    let disposition = answer.header("content-disposition").unwrap();
    assert_eq!(disposition, "attachment; filename=\"connection-progress-2022-12-31-at-3.csv\"");
}

#[tokio::test]
async fn a_report_at_a_position_is_byte_identical_after_later_events() {
    let app = spawn_app().await;
    let first = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let position = first["position"].as_u64().unwrap();
    let path = format!("/v1/programmes/connection/progress?at_position={position}");
    let then = app.get(&path, None).await.expect(200).text;
    app.record_exchange(&app.admin, "paris", "torino", "2021-11-11").await;
    let id = first["id"].as_str().unwrap();
    app.post(&format!("/v1/programmes/connection/activities/{id}/retraction"), Some(&app.admin), &serde_json::json!({"reason": "duplicate"}))
        .await
        .expect(200);
    let now = app.get(&path, None).await.expect(200).text;
    assert_eq!(then, now);
    let current = app.get("/v1/programmes/connection/progress?as_of=2022-12-31", None).await.json();
    assert_eq!(indicator(&current, "staff-exchanges")["actual"], "1");
}

/// The server keeps the last JSON report of each programme and serves it again while the query, the log and the
/// day are the same: the same bytes, and never a report older than an acknowledged event.
#[tokio::test]
async fn a_repeated_report_is_the_same_until_the_log_moves() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let path = "/v1/programmes/connection/progress?as_of=2022-12-31";
    let first = app.get(path, None).await.expect(200);
    assert_eq!(first.header("content-type"), Some("application/json"));
    let again = app.get(path, None).await.expect(200);
    assert_eq!(first.text, again.text);
    let earlier = app.get("/v1/programmes/connection/progress?as_of=2021-09-30", None).await.expect(200).json();
    assert_eq!(indicator(&earlier, "staff-exchanges")["actual"], "0");
    assert_eq!(app.get(path, None).await.expect(200).text, first.text);

    let second = app.record_exchange(&app.admin, "paris", "zagreb", "2022-03-01").await;
    let after = app.get(path, None).await.expect(200).json();
    assert_eq!(after["position"], second["position"]);
    assert_eq!(indicator(&after, "staff-exchanges")["actual"], "2");
    let unchanged = app.get(&format!("{path}&at_position={}", first.json()["position"]), None).await.expect(200).json();
    assert_eq!(indicator(&unchanged, "staff-exchanges")["actual"], "1");
}

#[tokio::test]
async fn known_at_reports_what_was_known_at_that_moment() {
    let app = spawn_app().await;
    let first = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let event = app.get(&format!("/v1/streams/activity-{}", first["id"].as_str().unwrap()), Some(&app.admin)).await.json();
    let recorded_at = event["events"][0]["recorded_at"].as_str().unwrap().to_owned();
    app.record_exchange(&app.admin, "paris", "torino", "2021-11-11").await;

    let path = format!("/v1/programmes/connection/progress?known_at={recorded_at}&as_of=2022-12-31");
    let report = app.get(&path, None).await.expect(200).json();
    assert_eq!(report["position"], 3);
    assert_eq!(report["known_at"], recorded_at);
    assert_eq!(indicator(&report, "staff-exchanges")["actual"], "1");
}

#[tokio::test]
async fn bad_progress_queries_name_their_field() {
    let app = spawn_app().await;
    for (query, field) in [("as_of=yesterday", "as_of"), ("known_at=noon", "known_at"), ("at_position=-1", "at_position"),
                           ("at_position=1&known_at=2026-01-01T00:00:00Z", "at_position")] {
        let problem = app.get(&format!("/v1/programmes/connection/progress?{query}"), None).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    app.get("/v1/programmes/atlantis/progress", None).await.problem(404);
}
