//! Activity endpoints: recording answers the shape of SPEC §6 with `Location` and `ETag`, every fault is listed,
//! lists filter and page, an activity shows its event history, corrections honour `If-Match`, retraction and the
//! approval lifecycle work, and a recorder acts only for their own partner.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{exchange, spawn_app, TestApp};

#[tokio::test]
async fn recording_a_staff_exchange_answers_201_with_location_etag_and_the_activity() {
    let app = spawn_app().await;
    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let answer = app
        .post("/v1/programmes/connection/activities", Some(&recorder), &exchange("torino", "asti", "2021-10-11"))
        .await
        .expect(201);
    let body = answer.json();
    let id = body["id"].as_str().unwrap();
    assert_eq!(answer.header("location"), Some(format!("/v1/programmes/connection/activities/{id}").as_str()));
    assert_eq!(answer.header("etag"), Some("\"1\""));
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    for (field, value) in [
        ("programme", json!("connection")), ("kind", json!("staff_exchange")), ("occurred_on", json!("2021-10-11")),
        ("partner", json!("torino")), ("host", json!("torino")), ("visitor", json!("asti")), ("cluster", json!("cop1")),
        ("days", json!(5)), ("staff", json!(2)), ("status", json!("recorded")), ("version", json!(1)), ("position", json!(3)),
    ] {
        assert_eq!(body[field], value, "{field} in {body}");
    }
}

#[tokio::test]
async fn recording_an_exchange_with_an_unknown_partner_is_rejected_with_every_fault() {
    let app = spawn_app().await;
    let body = json!({"kind": "staff_exchange", "occurred_on": "2031-01-01", "host": "torino", "visitor": "atlantis",
                      "days": 5, "colour": "blue"});
    let problem = app.post("/v1/programmes/connection/activities", Some(&app.admin), &body).await.problem(422);
    assert_eq!(problem["title"], "invalid activity");
    let errors: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()))
        .collect();
    assert!(errors.contains(&("visitor".into(), "unknown partner 'atlantis'".into())), "{errors:?}");
    assert!(errors.contains(&("staff".into(), "required".into())), "{errors:?}");
    assert!(errors.contains(&("colour".into(), "unknown field".into())), "{errors:?}");
    assert!(errors.iter().any(|(f, _)| f == "occurred_on"), "{errors:?}");
    assert_eq!(app.get("/healthz", None).await.json()["position"], 2, "nothing stored");
}

#[tokio::test]
async fn malformed_unsupported_and_oversized_bodies_get_400_415_and_413() {
    let app = spawn_app().await;
    let path = app.url("/v1/programmes/connection/activities");
    let send = |body: String, content_type: &'static str| {
        app.client.post(&path).bearer_auth(&app.admin).header("content-type", content_type).body(body).send()
    };
    let malformed = send("{\"kind\": ".into(), "application/json").await.unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(malformed.headers()["content-type"], "application/problem+json");
    let text = send("kind=staff_exchange".into(), "text/plain").await.unwrap();
    assert_eq!(text.status(), 415);
    let huge = format!("{{\"notes\": \"{}\"}}", "x".repeat(70 * 1024));
    let oversized = send(huge, "application/json").await.unwrap();
    assert_eq!(oversized.status(), 413);
    assert_eq!(oversized.headers()["content-type"], "application/problem+json");
}

async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let answer = app.get(&format!("/v1/programmes/connection/activities?{query}"), None).await.expect(200).json();
    answer["activities"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect()
}

async fn recorded(app: &TestApp, token: &str, host: &str, visitor: &str, date: &str) -> String {
    app.record_exchange(token, host, visitor, date).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn lists_filter_by_kind_partner_cluster_status_and_dates_and_page_with_a_cursor() {
    let app = spawn_app().await;
    let admin = app.admin.clone();
    let mut ids = Vec::new();
    for (host, visitor, date) in [("torino", "paris", "2021-01-10"), ("paris", "zagreb", "2021-03-10"), ("torino", "zagreb", "2021-05-10")] {
        ids.push(recorded(&app, &admin, host, visitor, date).await);
    }
    let visit = json!({"kind": "cluster_visit", "occurred_on": "2021-06-01", "host": "zagreb", "cluster": "cop1",
                       "participants": {"total": 12}});
    let visit = app.post("/v1/programmes/connection/activities", Some(&admin), &visit).await.expect(201).json();

    assert_eq!(listed(&app, "kind=staff_exchange").await, ids);
    assert_eq!(listed(&app, "kind=cluster_visit").await, vec![visit["id"].as_str().unwrap().to_owned()]);
    assert_eq!(listed(&app, "partner=torino").await, vec![ids[0].clone(), ids[2].clone()]);
    assert_eq!(listed(&app, "from=2021-02-01&to=2021-04-30").await, vec![ids[1].clone()]);
    assert_eq!(listed(&app, "status=recorded&cluster=cop1").await.len(), 4);
    assert_eq!(listed(&app, "status=retracted").await, Vec::<String>::new());
    assert_eq!(listed(&app, "cluster=none").await, Vec::<String>::new());

    let first = app.get("/v1/programmes/connection/activities?kind=staff_exchange&limit=2", None).await.expect(200).json();
    assert_eq!(first["activities"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/v1/programmes/connection/activities?kind=staff_exchange&limit=2&cursor={cursor}"), None)
        .await
        .expect(200)
        .json();
    assert_eq!(second["activities"][0]["id"], json!(ids[2]));
    assert_eq!(second["next_cursor"], Value::Null);

    let problem = app.get("/v1/programmes/connection/activities?kind=teleportation", None).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "kind");
    let problem = app.get("/v1/programmes/connection/activities?limit=0", None).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "limit");
    app.get("/v1/programmes/connection/activities?colour=blue", None).await.problem(422);
}

#[tokio::test]
async fn an_activity_shows_its_current_state_and_its_event_history() {
    let app = spawn_app().await;
    let coordinator = app.token("alexandra", "coordinator", Some("connection"), None).await;
    let id = recorded(&app, &coordinator, "torino", "paris", "2021-10-11").await;
    let path = format!("/v1/programmes/connection/activities/{id}");
    let correction = json!({"reason": "the exchange lasted a week", "changes": {"days": 7}});
    app.send(Method::POST, &format!("{path}/corrections"), Some(&coordinator), Some(&correction), &[]).await.expect(200);

    let answer = app.get(&path, None).await.expect(200);
    assert_eq!(answer.header("etag"), Some("\"2\""));
    let body = answer.json();
    assert_eq!(body["days"], 7);
    assert_eq!(body["version"], 2);
    let history = body["history"].as_array().unwrap();
    let types: Vec<&str> = history.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ActivityRecorded", "ActivityCorrected"]);
    assert!(history.iter().all(|e| e["actor"] == "alexandra" && e["stream"] == format!("activity-{id}")));

    app.get(&format!("/v1/programmes/unites/activities/{id}"), None).await.problem(404);
    app.get("/v1/programmes/connection/activities/not-a-uuid", None).await.problem(404);
    app.get(&format!("/v1/programmes/connection/activities/{}", uuid::Uuid::now_v7()), None).await.problem(404);
}

#[tokio::test]
async fn a_correction_with_a_stale_if_match_is_refused_with_412_and_the_current_etag() {
    let app = spawn_app().await;
    let id = recorded(&app, &app.admin, "torino", "paris", "2021-10-11").await;
    let path = format!("/v1/programmes/connection/activities/{id}/corrections");
    let correction = json!({"reason": "typo", "changes": {"staff": 3}});
    let ok = app.send(Method::POST, &path, Some(&app.admin), Some(&correction), &[("if-match", "\"1\"")]).await.expect(200);
    assert_eq!(ok.header("etag"), Some("\"2\""));
    let stale = app.send(Method::POST, &path, Some(&app.admin), Some(&correction), &[("if-match", "\"1\"")]).await;
    assert_eq!(stale.header("etag"), Some("\"2\""));
    stale.problem(412);
    let problem = app.send(Method::POST, &path, Some(&app.admin), Some(&json!({"changes": {"staff": 4}})), &[]).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "reason");
    app.send(Method::POST, &path, Some(&app.admin), Some(&correction), &[("if-match", "yesterday")]).await.problem(400);
}

#[tokio::test]
async fn a_retracted_activity_stops_counting_and_cannot_be_retracted_twice() {
    let app = spawn_app().await;
    let id = recorded(&app, &app.admin, "torino", "paris", "2021-10-11").await;
    let progress = app.get("/v1/programmes/connection/progress", None).await.json();
    assert_eq!(crate::helpers::indicator(&progress, "staff-exchanges")["actual"], "1");

    let path = format!("/v1/programmes/connection/activities/{id}/retraction");
    let problem = app.post(&path, Some(&app.admin), &json!({})).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "reason");
    let retracted = app.post(&path, Some(&app.admin), &json!({"reason": "recorded twice"})).await.expect(200).json();
    assert_eq!(retracted["status"], "retracted");
    app.post(&path, Some(&app.admin), &json!({"reason": "again"})).await.problem(409);

    let progress = app.get("/v1/programmes/connection/progress", None).await.json();
    assert_eq!(crate::helpers::indicator(&progress, "staff-exchanges")["actual"], "0");
}

#[tokio::test]
async fn in_a_programme_that_requires_approval_activities_are_pending_until_approved() {
    let app = spawn_app().await;
    let (coordinator, recorder) = crate::coordinate::pilot(&app).await;
    let body = json!({"kind": "staff_exchange", "occurred_on": "2024-03-01", "host": "gent", "visitor": "lille", "days": 3, "staff": 1});
    let activity = app.post("/v1/programmes/pilot/activities", Some(&recorder), &body).await.expect(201).json();
    assert_eq!(activity["status"], "submitted");
    let id = activity["id"].as_str().unwrap();

    let progress = app.get("/v1/programmes/pilot/progress?as_of=2024-12-31", None).await.json();
    assert_eq!(progress["indicators"][0]["actual"], "0");
    assert_eq!(progress["indicators"][0]["pending"], "1");

    let base = format!("/v1/programmes/pilot/activities/{id}");
    app.post(&format!("{base}/approval"), Some(&recorder), &json!({})).await.problem(403);
    let returned = app.post(&format!("{base}/return"), Some(&coordinator), &json!({"note": "add the evidence"})).await.expect(200).json();
    assert_eq!(returned["status"], "returned");
    assert_eq!(returned["return_note"], "add the evidence");
    let resubmitted = app.post(&format!("{base}/submission"), Some(&recorder), &json!({})).await.expect(200).json();
    assert_eq!(resubmitted["status"], "submitted");
    let approved = app.post(&format!("{base}/approval"), Some(&coordinator), &json!({"note": "fine"})).await.expect(200).json();
    assert_eq!(approved["status"], "approved");
    app.post(&format!("{base}/approval"), Some(&coordinator), &json!({})).await.problem(409);

    let correction = json!({"reason": "more staff", "changes": {"staff": 2}});
    app.post(&format!("{base}/corrections"), Some(&recorder), &correction).await.problem(403);

    let progress = app.get("/v1/programmes/pilot/progress?as_of=2024-12-31", None).await.json();
    assert_eq!(progress["indicators"][0]["actual"], "1");
    assert_eq!(progress["indicators"][0]["pending"], "0");
}

#[tokio::test]
async fn a_recorder_records_and_corrects_only_for_their_own_partner() {
    let app = spawn_app().await;
    let torino = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let paris = app.token("paris-staff", "recorder", Some("connection"), Some("paris")).await;
    let id = recorded(&app, &torino, "torino", "asti", "2021-10-11").await;
    let problem = app
        .post("/v1/programmes/connection/activities", Some(&paris), &exchange("torino", "asti", "2021-10-12"))
        .await
        .problem(403);
    assert!(problem["detail"].as_str().unwrap().contains("paris"), "{problem}");
    let correction = json!({"reason": "mine now", "changes": {"days": 1}});
    app.post(&format!("/v1/programmes/connection/activities/{id}/corrections"), Some(&paris), &correction)
        .await
        .problem(403);
    app.post(&format!("/v1/programmes/connection/activities/{id}/corrections"), Some(&torino), &correction)
        .await
        .expect(200);
}
