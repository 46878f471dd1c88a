//! Tokens: issued over HTTP or by `tracker token create`, shown once, stored only as hashes, revoked at once,
//! and the name of the token is the `actor` of what it appends.

use std::process::Command;

use serde_json::json;

use crate::helpers::{spawn_app, spawn_in};

/// Every byte under `dir`, to look for secrets in.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else if path.file_name().is_some_and(|n| n != "admin.token") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

#[tokio::test]
async fn a_token_is_shown_once_stored_only_as_a_hash_and_refused_once_revoked() {
    let app = spawn_app().await;
    let issued = app
        .post("/v1/tokens", Some(&app.admin), &json!({"name": "torino-staff", "role": "recorder", "programme": "connection", "partner": "torino"}))
        .await
        .expect(201)
        .json();
    let secret = issued["token"].as_str().unwrap().to_owned();
    assert_eq!(issued["name"], "torino-staff");
    let recorded = app.record_exchange(&secret, "torino", "paris", "2021-10-11").await;
    let activity = app.get(&format!("/v1/programmes/connection/activities/{}", recorded["id"].as_str().unwrap()), None).await.json();
    assert_eq!(activity["history"][0]["actor"], "torino-staff");

    app.post("/v1/tokens", Some(&app.admin), &json!({"name": "torino-staff", "role": "auditor"})).await.problem(409);
    let problem = app
        .post("/v1/tokens", Some(&app.admin), &json!({"name": "x", "role": "recorder", "programme": "connection", "partner": "atlantis"}))
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "partner");
    app.post("/v1/tokens", Some(&app.admin), &json!({"name": "y", "role": "emperor"})).await.problem(422);

    app.send(reqwest::Method::DELETE, "/v1/tokens/torino-staff", Some(&app.admin), None, &[]).await.expect(204);
    app.send(reqwest::Method::DELETE, "/v1/tokens/torino-staff", Some(&app.admin), None, &[]).await.problem(404);
    let problem = app
        .post("/v1/programmes/connection/activities", Some(&secret), &crate::helpers::exchange("torino", "paris", "2021-10-12"))
        .await
        .problem(401);
    assert_eq!(problem["detail"], "the token is unknown or revoked");

    let dir = app.stop().await;
    let stored = all_bytes(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("admin.token")).unwrap();
    for secret in [secret.as_str(), admin.trim()] {
        assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()), "a secret is stored in the clear");
    }
}

#[tokio::test]
async fn tracker_token_create_issues_a_token_the_server_accepts() {
    let app = spawn_app().await;
    let dir = app.stop().await;
    let output = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .args(["--data", dir.path().to_str().unwrap(), "token", "create", "--name", "funder", "--role", "auditor"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let secret = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("trk_") && secret.len() == 68, "{secret}");

    let refused = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .args(["--data", dir.path().to_str().unwrap(), "token", "create", "--name", "x", "--role", "recorder", "--programme", "connection"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("partner: required for a recorder"));

    let app = spawn_in(dir).await;
    app.get("/v1/audit/verify", Some(&secret)).await.expect(200);
}
