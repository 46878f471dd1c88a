//! Retries and races: concurrent retries with one `Idempotency-Key` create one activity and all get the first
//! answer; the same key with another body is 422; concurrent read-modify-write corrections with `If-Match` lose
//! no update; a key survives a restart of the server.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{exchange, spawn_app, spawn_in};

const RETRIES: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_idempotency_key_create_one_activity() {
    let app = Arc::new(spawn_app().await);
    let body = exchange("torino", "paris", "2021-10-11");
    let mut tasks = Vec::new();
    for _ in 0..RETRIES {
        let (app, body) = (Arc::clone(&app), body.clone());
        tasks.push(tokio::spawn(async move {
            let path = "/v1/programmes/connection/activities";
            app.send(Method::POST, path, Some(&app.admin), Some(&body), &[("idempotency-key", "exchange-torino-paris-1")]).await
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status.as_u16() {
            201 => created.push(answer.json()),
            409 => {
                answer.problem(409);
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert!(!created.is_empty());
    assert!(created.iter().all(|c| c == &created[0]), "every 201 is the first answer");
    let list = app.get("/v1/programmes/connection/activities", None).await.expect(200).json();
    assert_eq!(list["activities"].as_array().unwrap().len(), 1, "exactly one activity");

    // A retry after the race gets the first answer again.
    let path = "/v1/programmes/connection/activities";
    let again = app.send(Method::POST, path, Some(&app.admin), Some(&body), &[("idempotency-key", "exchange-torino-paris-1")]).await;
    assert_eq!(again.expect(201).json(), created[0]);
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_422_and_survives_a_restart() {
    let app = spawn_app().await;
    let path = "/v1/programmes/connection/activities";
    let key = [("idempotency-key", "k-1")];
    let first = app.send(Method::POST, path, Some(&app.admin), Some(&exchange("torino", "paris", "2021-10-11")), &key).await.expect(201);
    let problem = app
        .send(Method::POST, path, Some(&app.admin), Some(&exchange("torino", "paris", "2021-10-12")), &key)
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");

    let admin = app.admin.clone();
    let restarted = spawn_in(app.stop().await).await;
    let replayed = restarted
        .send(Method::POST, path, Some(&admin), Some(&exchange("torino", "paris", "2021-10-11")), &key)
        .await
        .expect(201);
    assert_eq!(replayed.json(), first.json());
    assert_eq!(replayed.header("location"), first.header("location"));
    assert_eq!(restarted.get("/healthz", None).await.json()["position"], 3, "one activity event in all");
}

#[tokio::test]
async fn a_refused_request_does_not_use_up_its_idempotency_key() {
    let app = spawn_app().await;
    let path = "/v1/programmes/connection/activities";
    let key = [("idempotency-key", "k-2")];
    app.send(Method::POST, path, Some(&app.admin), Some(&exchange("torino", "atlantis", "2021-10-11")), &key).await.problem(422);
    app.send(Method::POST, path, Some(&app.admin), Some(&exchange("torino", "paris", "2021-10-11")), &key).await.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_corrections_with_if_match_lose_no_update() {
    const WRITERS: u64 = 8;
    const EACH: u64 = 3;
    let app = Arc::new(spawn_app().await);
    let created = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let path = format!("/v1/programmes/connection/activities/{}", created["id"].as_str().unwrap());
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (app, path) = (Arc::clone(&app), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            let mut refused = 0;
            while done < EACH {
                // Read, add one day, write back only if nobody wrote in between.
                let current = app.get(&path, None).await.expect(200);
                let etag = current.header("etag").unwrap().to_owned();
                let days = current.json()["days"].as_u64().unwrap();
                let correction = json!({"reason": "one more day", "changes": {"days": days + 1}});
                let answer = app
                    .send(Method::POST, &format!("{path}/corrections"), Some(&app.admin), Some(&correction), &[("if-match", &etag)])
                    .await;
                match answer.status.as_u16() {
                    200 => done += 1,
                    412 => refused += 1,
                    other => panic!("unexpected {other}: {}", answer.text),
                }
            }
            refused
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let last = app.get(&path, None).await.expect(200).json();
    assert_eq!(last["days"], 5 + WRITERS * EACH, "every increment kept");
    assert_eq!(last["version"], 1 + WRITERS * EACH);
}
