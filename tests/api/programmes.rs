//! Programme endpoints: the seeds are served, a programme is registered by an admin, definitions carry their
//! version as `ETag`, and partners, clusters, periods and indicators change it.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_fresh_server_serves_the_seeded_programmes_with_their_health() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await.expect(200).json();
    assert_eq!(health, json!({"status": "ok", "position": 2}));

    let list = app.get("/v1/programmes", None).await.expect(200).json();
    let ids: Vec<&str> = list["programmes"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["connection", "unites"]);
    let exchanges = list["programmes"][0]["indicators"].as_array().unwrap().iter().find(|i| i["id"] == "staff-exchanges").unwrap();
    assert_eq!(exchanges["target"], "14");
    assert_eq!(exchanges["actual"], "0");

    let connection = app.get("/v1/programmes/connection", None).await.expect(200);
    assert_eq!(connection.header("etag"), Some("\"1\""));
    let definition = connection.json();
    assert_eq!(definition["budget"], "1874876.03");
    assert_eq!(definition["version"], 1);
}

#[tokio::test]
async fn an_unknown_programme_is_not_found() {
    let app = spawn_app().await;
    let problem = app.get("/v1/programmes/atlantis", None).await.problem(404);
    assert_eq!(problem["detail"], "unknown programme 'atlantis'");
    app.get("/v1/programmes/Not%20A%20Slug/progress", None).await.problem(404);
}

#[tokio::test]
async fn an_admin_registers_a_programme_and_a_second_registration_conflicts() {
    let app = spawn_app().await;
    let definition = json!({
        "id": "pilot", "name": "Pilot programme", "coordinator": "lead",
        "starts_on": "2024-01-01", "ends_on": "2025-12-31",
        "partners": [{"id": "lead", "name": "Lead city", "kind": "city", "country": "BE", "role": "coordinator"}],
        "clusters": [], "periods": [], "sources": [],
        "indicators": [{"id": "visits", "label": "Visits", "unit": "visits", "target": "3",
                        "measure": {"aggregate": "count", "kinds": ["peer_visit"]}}]
    });
    let created = app.post("/v1/programmes", Some(&app.admin), &definition).await.expect(201);
    assert_eq!(created.header("location"), Some("/v1/programmes/pilot"));
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.json()["name"], "Pilot programme");

    let again = app.post("/v1/programmes", Some(&app.admin), &definition).await.problem(409);
    assert_eq!(again["detail"], "id: programme 'pilot' already exists");
    assert_eq!(app.get("/v1/programmes/pilot", None).await.expect(200).header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn an_invalid_programme_lists_every_fault_and_stores_nothing() {
    let app = spawn_app().await;
    let definition = json!({"id": "Bad Id", "name": "", "starts_on": "2024-13-01", "surprise": true});
    let problem = app.post("/v1/programmes", Some(&app.admin), &definition).await.problem(422);
    let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in ["id", "starts_on", "surprise"] {
        assert!(fields.contains(&field), "{field} missing from {problem}");
    }
    assert_eq!(app.get("/healthz", None).await.json()["position"], 2);
}

#[tokio::test]
async fn a_coordinator_adds_a_partner_a_cluster_and_a_period_and_each_moves_the_version() {
    let app = spawn_app().await;
    let coordinator = app.token("alexandra", "coordinator", Some("connection"), None).await;
    let partner = json!({"id": "lyon", "name": "Lyon", "kind": "city", "country": "FR", "role": "fellow_city"});
    let added = app.post("/v1/programmes/connection/partners", Some(&coordinator), &partner).await.expect(201);
    assert_eq!(added.header("etag"), Some("\"2\""));
    app.post("/v1/programmes/connection/partners", Some(&coordinator), &partner).await.problem(409);

    let cluster = json!({"id": "cop5", "name": "CoP5", "members": ["lyon", "torino"]});
    let added = app.post("/v1/programmes/connection/clusters", Some(&coordinator), &cluster).await.expect(201);
    assert_eq!(added.header("etag"), Some("\"3\""));

    let period = json!({"id": "2021", "starts_on": "2021-01-01", "ends_on": "2021-12-31"});
    let added = app.post("/v1/programmes/connection/periods", Some(&coordinator), &period).await.expect(201);
    assert_eq!(added.header("etag"), Some("\"4\""));

    let definition = app.get("/v1/programmes/connection", None).await.expect(200).json();
    assert!(definition["partners"].as_array().unwrap().iter().any(|p| p["id"] == "lyon"));
    assert!(definition["clusters"].as_array().unwrap().iter().any(|c| c["id"] == "cop5"));
    assert_eq!(definition["version"], 4);
}

#[tokio::test]
async fn revising_an_indicator_needs_a_reason_and_honours_if_match() {
    let app = spawn_app().await;
    let coordinator = app.token("alexandra", "coordinator", Some("connection"), None).await;
    let path = "/v1/programmes/connection/indicators/staff-exchanges";
    let revised = json!({"label": "Staff exchanges", "unit": "exchanges", "target": "16",
                         "measure": {"aggregate": "count", "kinds": ["staff_exchange"]}});

    let problem = app.send(reqwest::Method::PUT, path, Some(&coordinator), Some(&revised), &[]).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "reason");

    let mut with_reason = revised.clone();
    with_reason["reason"] = json!("amendment 2 of the grant agreement");
    let stale = app.send(reqwest::Method::PUT, path, Some(&coordinator), Some(&with_reason), &[("if-match", "\"7\"")]).await;
    assert_eq!(stale.header("etag"), Some("\"1\""));
    stale.problem(412);

    let ok = app.send(reqwest::Method::PUT, path, Some(&coordinator), Some(&with_reason), &[("if-match", "\"1\"")]).await.expect(200);
    assert_eq!(ok.header("etag"), Some("\"2\""));
    assert_eq!(ok.json()["target"], "16");

    let new = json!({"label": "Mentoring sessions", "unit": "sessions", "target": "4",
                     "measure": {"aggregate": "count", "kinds": ["training_delivered"]}});
    let created = app.send(reqwest::Method::PUT, "/v1/programmes/connection/indicators/mentoring", Some(&coordinator), Some(&new), &[]).await;
    assert_eq!(created.expect(201).header("etag"), Some("\"3\""));
}

#[tokio::test]
async fn locking_a_period_refuses_activities_dated_in_it_until_it_is_unlocked() {
    let app = spawn_app().await;
    let coordinator = app.token("alexandra", "coordinator", Some("connection"), None).await;
    let period = json!({"id": "2021", "starts_on": "2021-01-01", "ends_on": "2021-12-31"});
    app.post("/v1/programmes/connection/periods", Some(&coordinator), &period).await.expect(201);

    let problem = app.post("/v1/programmes/connection/periods/2021/lock", Some(&coordinator), &json!({})).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "reason");
    let locked = app
        .post("/v1/programmes/connection/periods/2021/lock", Some(&coordinator), &json!({"reason": "interim report filed"}))
        .await
        .expect(200)
        .json();
    assert_eq!(locked["locked"], true);
    app.post("/v1/programmes/connection/periods/2021/lock", Some(&coordinator), &json!({"reason": "again"})).await.problem(409);
    app.post("/v1/programmes/connection/periods/1999/lock", Some(&coordinator), &json!({"reason": "x"})).await.problem(404);

    let exchange = crate::helpers::exchange("torino", "paris", "2021-10-11");
    let problem = app.post("/v1/programmes/connection/activities", Some(&coordinator), &exchange).await.problem(423);
    assert_eq!(problem["errors"][0]["field"], "occurred_on");
    app.record_exchange(&coordinator, "torino", "paris", "2022-02-01").await;

    app.post("/v1/programmes/connection/periods/2021/unlock", Some(&coordinator), &json!({"reason": "late evidence"}))
        .await
        .expect(200);
    app.record_exchange(&coordinator, "torino", "paris", "2021-10-11").await;
}
