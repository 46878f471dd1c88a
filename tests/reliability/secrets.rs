//! Secrets: with the most verbose log (`TRACKER_LOG=trace`) a server issues tokens, serves requests made with
//! them (good, revoked and unknown), and no secret — nor its random part without the `trk_` prefix — appears in
//! its output or anywhere in the data directory except `admin.token`, whose whole purpose is to hold one.

use serde_json::json;

use crate::server::{admin_token, exchange, Server};

/// Every file under `dir` but `admin.token`, whole.
fn stored_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(stored_bytes(&path));
        } else if path.file_name().is_some_and(|n| n != "admin.token") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

#[tokio::test]
async fn no_secret_is_logged_at_trace_level_or_stored_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(dir.path(), &[("TRACKER_LOG", "trace")]).unwrap_or_else(|r| panic!("{}", r.output));
    let admin = admin_token(dir.path());
    let recorder = server.recorder(&admin, "torino").await;
    let (status, _, auditor) = server.post("/v1/tokens", &admin, &json!({"name": "funder", "role": "auditor"})).await.unwrap();
    assert_eq!(status, 201);
    let auditor = auditor["token"].as_str().unwrap().to_owned();

    let (status, _, _) =
        server.post("/v1/programmes/connection/activities", &recorder, &exchange("torino", "paris", "2022-06-01", "secret test")).await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(server.get("/v1/audit/verify", &auditor).await.0, 200);
    assert_eq!(server.get("/v1/events", &recorder).await.0, 403);
    let revoked = server.client().delete(server.url("/v1/tokens/funder")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(server.get("/v1/audit/verify", &auditor).await.0, 401, "revoked");
    let unknown = format!("trk_{}", "ab".repeat(32));
    assert_eq!(server.get("/v1/audit/verify", &unknown).await.0, 401, "unknown");
    server.kill();

    let output = server.output();
    assert!(output.contains("TRACE") || output.contains("DEBUG"), "the log is verbose: {output}");
    let stored = stored_bytes(dir.path());
    for secret in [&admin, &recorder, &auditor, &unknown] {
        let random = secret.strip_prefix("trk_").expect("trk_ prefix");
        for needle in [secret.as_str(), random] {
            assert!(!output.contains(needle), "a secret is in the server's output");
            assert!(!stored.windows(needle.len()).any(|w| w == needle.as_bytes()), "a secret is stored in the clear");
        }
    }
    eprintln!("secrets: {} lines of trace output and {} stored bytes searched", output.lines().count(), stored.len());
}
