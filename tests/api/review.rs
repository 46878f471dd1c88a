//! Edges found in review: a client that gives up does not leave its idempotency key stuck or its command half
//! done, token secrets are never replayed, a subscription does not hold up shutdown, odd inputs get 4xx, and who
//! may write is checked before the body is looked at.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{exchange, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_gives_up_leaves_one_activity_and_its_key_usable() {
    let app = spawn_app().await;
    let path = "/v1/programmes/connection/activities";
    let impatient = reqwest::Client::builder().timeout(Duration::from_micros(1)).build().unwrap();
    let given_up = impatient
        .post(app.url(path))
        .bearer_auth(&app.admin)
        .header("idempotency-key", "impatient-1")
        .json(&exchange("torino", "paris", "2021-10-11"))
        .send()
        .await;
    assert!(given_up.is_err(), "the client gave up before the answer");

    // Retry until the first attempt's work has ended (409 while it is in flight), with a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = app
            .send(Method::POST, path, Some(&app.admin), Some(&exchange("torino", "paris", "2021-10-11")), &[("idempotency-key", "impatient-1")])
            .await;
        if answer.status != 409 || Instant::now() > deadline {
            break answer;
        }
        tokio::task::yield_now().await;
    };
    let created = answer.expect(201).json();
    assert_ne!(created["position"], 0);
    let list = app.get("/v1/programmes/connection/activities", None).await.json();
    assert_eq!(list["activities"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_token_secret_is_never_replayed_by_an_idempotency_key() {
    let app = spawn_app().await;
    let body = json!({"name": "funder", "role": "auditor"});
    let key = [("idempotency-key", "token-1")];
    app.send(Method::POST, "/v1/tokens", Some(&app.admin), Some(&body), &key).await.expect(201);
    let again = app.send(Method::POST, "/v1/tokens", Some(&app.admin), Some(&body), &key).await;
    assert!(!again.text.contains("trk_"), "{}", again.text);
    again.problem(409);
}

#[tokio::test]
async fn an_open_subscription_does_not_hold_up_a_graceful_shutdown() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/v1/subscribe")).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("the server stops with a subscriber connected");
    drop(response);
}

#[tokio::test]
async fn odd_inputs_get_4xx_not_a_crash() {
    let app = spawn_app().await;
    let answer = app.send(Method::GET, "/v1/subscribe", Some(&app.admin), None, &[("last-event-id", "18446744073709551615")]).await;
    answer.problem(400);
    let problem = app.get("/v1/programmes/connection/progress?at_position=999", None).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "at_position");
    let problem = app.get("/v1/programmes/connection/progress?known_at=2999-01-01T00:00:00Z", None).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "known_at");
    let cursor = uuid::Uuid::now_v7();
    let problem = app.get(&format!("/v1/programmes/connection/activities?cursor={cursor}"), None).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "cursor");
    let problem = app.get("/v1/events?bogus=1", Some(&app.admin)).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "bogus");
    let unknown = format!("/v1/programmes/connection/activities/{}/corrections", uuid::Uuid::now_v7());
    let correction = json!({"reason": "r", "changes": {"days": 1}});
    app.send(Method::POST, &unknown, Some(&app.admin), Some(&correction), &[("if-match", "\"1\"")]).await.problem(404);
}

#[tokio::test]
async fn every_fault_of_a_small_body_is_listed() {
    let app = spawn_app().await;
    let problem = app.post("/v1/tokens", Some(&app.admin), &json!({"name": "BAD NAME", "role": "nope", "zzz": 1})).await.problem(422);
    let mut fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["name", "role", "zzz"], "{problem}");
    let problem = app.post("/v1/tokens", Some(&app.admin), &json!({})).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "name");
}

#[tokio::test]
async fn an_approval_needs_no_body_and_the_token_is_checked_before_the_body() {
    let app = spawn_app().await;
    let auditor = app.token("funder", "auditor", None, None).await;
    let created = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let approval = app.url(&format!("/v1/programmes/connection/activities/{}/approval", created["id"].as_str().unwrap()));
    // Connection does not require approval: past the checks of the body and the role, the domain says 409.
    let answer = app.client.post(&approval).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(answer.status(), 409);

    let programmes = app.url("/v1/programmes");
    let malformed = app.client.post(&programmes).header("content-type", "application/json").body("{").send().await.unwrap();
    assert_eq!(malformed.status(), 401);
    let text = app.client.post(&programmes).bearer_auth(&auditor).header("content-type", "text/plain").body("x").send().await.unwrap();
    assert_eq!(text.status(), 403);
}
