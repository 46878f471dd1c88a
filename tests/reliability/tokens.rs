//! Tokens across a crash and a graceful stop of the real binary: a SIGKILL may lose recent last-used times
//! (they are saved at most once a minute) but never a token, its expiry or a revocation; SIGTERM saves the
//! last-used times.

use serde_json::{json, Value};

use crate::server::{admin_token, Server};

/// The token `name` as `GET /v1/tokens` lists it.
async fn listed(server: &Server, admin: &str, name: &str) -> Value {
    let (status, list) = server.get("/v1/tokens", admin).await;
    assert_eq!(status, 200, "{list}");
    list["tokens"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} in {list}")).clone()
}

#[tokio::test]
async fn a_crash_loses_at_most_last_used_times_and_a_graceful_stop_saves_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let admin = admin_token(dir.path());
    let far = "2099-12-31T23:00:00Z";
    let (status, _, funder) = server.post("/v1/tokens", &admin, &json!({"name": "funder", "role": "auditor", "expires_at": far})).await.unwrap();
    assert_eq!(status, 201, "{funder}");
    let funder = funder["token"].as_str().unwrap().to_owned();
    server.recorder(&admin, "torino").await;
    let revoke = server.client().delete(server.url("/v1/tokens/torino-recorder")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(server.get("/v1/audit/verify", &funder).await.0, 200);
    server.kill();

    let mut server = Server::start(dir.path());
    let after_crash = listed(&server, &admin, "funder").await;
    assert_eq!((after_crash["status"].as_str(), after_crash["expires_at"].as_str()), (Some("live"), Some(far)), "{after_crash}");
    assert_eq!(listed(&server, &admin, "torino-recorder").await["status"], "revoked");
    let body = json!({"name": "torino-recorder", "role": "recorder", "programme": "connection", "partner": "torino"});
    assert_eq!(server.post("/v1/tokens", &admin, &body).await.unwrap().0, 409, "a revoked name stays taken after a crash");
    assert_eq!(server.get("/v1/audit/verify", &funder).await.0, 200);
    let used = listed(&server, &admin, "funder").await["last_used_at"].as_str().expect("noted in memory").to_owned();
    assert!(server.terminate().success(), "{}", server.output());

    let server = Server::start(dir.path());
    let after_stop = listed(&server, &admin, "funder").await;
    assert_eq!(after_stop["last_used_at"].as_str(), Some(used.as_str()), "saved at the graceful stop: {after_stop}");
}
