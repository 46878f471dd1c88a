//! Tokens: issued over HTTP or by `tracker token create`, shown once, stored only as hashes, revoked at once,
//! and the name of the token is the `actor` of what it appends. An expiry is honoured and said when refused; the
//! list shows every token but never a secret; a revoked name is never issued again, also after a restart.

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

    let past = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .args(["--data", dir.path().to_str().unwrap(), "token", "create", "--name", "late", "--role", "auditor"])
        .args(["--expires-at", "2020-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(!past.status.success());
    assert!(String::from_utf8_lossy(&past.stderr).contains("expires_at: 2020-01-01T00:00:00Z is not in the future"), "{past:?}");
    let expiring = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .args(["--data", dir.path().to_str().unwrap(), "token", "create", "--name", "visitor", "--role", "auditor"])
        .args(["--expires-at", "2099-01-01T00:00:00+01:00"])
        .output()
        .unwrap();
    assert!(expiring.status.success(), "{}", String::from_utf8_lossy(&expiring.stderr));

    let app = spawn_in(dir).await;
    app.get("/v1/audit/verify", Some(&secret)).await.expect(200);
    assert_eq!(listed(&app, "visitor").await["expires_at"], "2098-12-31T23:00:00Z");
    app.send(reqwest::Method::DELETE, "/v1/tokens/funder", Some(&app.admin), None, &[]).await.expect(204);
    let dir = app.stop().await;
    let reissued = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .args(["--data", dir.path().to_str().unwrap(), "token", "create", "--name", "funder", "--role", "auditor"])
        .output()
        .unwrap();
    assert!(!reissued.status.success());
    assert!(String::from_utf8_lossy(&reissued.stderr).contains("the name 'funder' belonged to a revoked token"), "{reissued:?}");
}

/// Issues `body` as the admin and answers the issued token.
async fn issue(app: &crate::helpers::TestApp, body: serde_json::Value) -> serde_json::Value {
    app.post("/v1/tokens", Some(&app.admin), &body).await.expect(201).json()
}

/// The token `name` as `GET /v1/tokens` lists it.
async fn listed(app: &crate::helpers::TestApp, name: &str) -> serde_json::Value {
    let list = app.get("/v1/tokens", Some(&app.admin)).await.expect(200).json();
    list["tokens"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} in {list}")).clone()
}

#[tokio::test]
async fn a_token_with_an_expiry_is_refused_once_it_expired_saying_when() {
    let app = spawn_app().await;
    let past = app
        .post("/v1/tokens", Some(&app.admin), &json!({"name": "late", "role": "auditor", "expires_at": "2020-01-01T00:00:00Z"}))
        .await
        .problem(422);
    assert_eq!(past["errors"][0]["field"], "expires_at", "{past}");
    assert!(past["errors"][0]["message"].as_str().unwrap().contains("not in the future"), "{past}");
    let garbled = app
        .post("/v1/tokens", Some(&app.admin), &json!({"name": "late", "role": "auditor", "expires_at": "next tuesday"}))
        .await
        .problem(422);
    assert!(garbled["errors"][0]["message"].as_str().unwrap().contains("RFC 3339"), "{garbled}");
    assert_eq!(listed_names(&app).await, ["admin"], "a refused request stores nothing");

    let expiry = chrono::Utc::now() + chrono::Duration::seconds(3);
    let expires_at = expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let expiry = chrono::DateTime::parse_from_rfc3339(&expires_at).unwrap().with_timezone(&chrono::Utc);
    let issued = issue(&app, json!({"name": "visitor", "role": "auditor", "expires_at": expires_at})).await;
    assert_eq!(issued["expires_at"], expires_at.as_str());
    let secret = issued["token"].as_str().unwrap().to_owned();
    // Until its expiry the token works and is listed as live; an answer that came after the expiry (a slow
    // machine) may already refuse it, never one that came before.
    let answer = app.get("/v1/audit/verify", Some(&secret)).await;
    if chrono::Utc::now() < expiry {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let asked = chrono::Utc::now();
    let status = listed(&app, "visitor").await["status"].clone();
    if asked < expiry && chrono::Utc::now() < expiry {
        assert_eq!(status, "live");
    }

    let problem = app.refused_once_expired(&secret).await.problem(401);
    assert_eq!(problem["detail"], format!("the token expired at {expires_at}; ask an admin for a new one"));
    // Expired tokens are refused on public routes too, like every unusable token.
    app.get("/v1/audit/head", Some(&secret)).await.problem(401);
    let entry = listed(&app, "visitor").await;
    assert_eq!((entry["status"].as_str(), entry["expires_at"].as_str()), (Some("expired"), Some(expires_at.as_str())));
}

async fn listed_names(app: &crate::helpers::TestApp) -> Vec<String> {
    let list = app.get("/v1/tokens", Some(&app.admin)).await.expect(200).json();
    list["tokens"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_token_list_shows_every_token_and_never_a_secret_or_its_hash() {
    let app = spawn_app().await;
    let staff = issue(&app, json!({"name": "torino-staff", "role": "recorder", "programme": "connection", "partner": "torino"})).await;
    let staff = staff["token"].as_str().unwrap().to_owned();
    let gone = issue(&app, json!({"name": "gone", "role": "coordinator", "programme": "unites"})).await;
    app.record_exchange(&staff, "torino", "paris", "2021-10-11").await;
    app.send(reqwest::Method::DELETE, "/v1/tokens/gone", Some(&app.admin), None, &[]).await.expect(204);

    let answer = app.get("/v1/tokens", Some(&app.admin)).await.expect(200);
    for secret in [staff.as_str(), gone["token"].as_str().unwrap(), app.admin.as_str()] {
        assert!(!answer.text.contains(secret), "a secret is listed: {}", answer.text);
        assert!(!answer.text.contains(&sha256_hex(secret)), "a secret's hash is listed: {}", answer.text);
    }
    let list = answer.json();
    let names: Vec<&str> = list["tokens"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "gone", "torino-staff"]);
    let staff = &list["tokens"][2];
    assert_eq!((staff["role"].as_str(), staff["programme"].as_str(), staff["partner"].as_str()), (Some("recorder"), Some("connection"), Some("torino")));
    assert_eq!((staff["status"].as_str(), staff["expires_at"].as_str(), staff["revoked_at"].as_str()), (Some("live"), None, None));
    assert!(staff["created_at"].is_string() && staff["last_used_at"].is_string(), "{staff}");
    let gone = &list["tokens"][1];
    assert_eq!((gone["status"].as_str(), gone["last_used_at"].as_str()), (Some("revoked"), None), "{gone}");
    assert!(gone["revoked_at"].is_string(), "{gone}");
    assert_eq!(staff.as_object().unwrap().len(), 9, "{staff}");
}

fn sha256_hex(secret: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

#[tokio::test]
async fn a_revoked_name_is_never_issued_again() {
    let app = spawn_app().await;
    issue(&app, json!({"name": "rita", "role": "recorder", "programme": "connection", "partner": "torino"})).await;
    app.send(reqwest::Method::DELETE, "/v1/tokens/rita", Some(&app.admin), None, &[]).await.expect(204);
    let problem = app.post("/v1/tokens", Some(&app.admin), &json!({"name": "rita", "role": "auditor"})).await.problem(409);
    assert_eq!(
        problem["detail"],
        "the name 'rita' belonged to a revoked token; the log's actor names must keep meaning one holder — choose another name"
    );
    let problem = app.send(reqwest::Method::DELETE, "/v1/tokens/rita", Some(&app.admin), None, &[]).await.problem(404);
    assert!(problem["detail"].as_str().unwrap().starts_with("the token 'rita' was revoked at "), "{problem}");
    issue(&app, json!({"name": "rita-2", "role": "auditor"})).await;
}

#[tokio::test]
async fn expiry_tombstones_and_last_used_times_survive_a_restart() {
    let app = spawn_app().await;
    let far = "2099-12-31T23:00:00Z";
    let funder = issue(&app, json!({"name": "funder", "role": "auditor", "expires_at": far})).await;
    let funder = funder["token"].as_str().unwrap().to_owned();
    app.get("/v1/audit/verify", Some(&funder)).await.expect(200);
    let used = listed(&app, "funder").await["last_used_at"].as_str().expect("noted on use").to_owned();
    issue(&app, json!({"name": "rex", "role": "admin"})).await;
    app.send(reqwest::Method::DELETE, "/v1/tokens/rex", Some(&app.admin), None, &[]).await.expect(204);
    let before = app.get("/v1/tokens", Some(&app.admin)).await.expect(200).json();

    let app = spawn_in(app.stop().await).await;
    let after = app.get("/v1/tokens", Some(&app.admin)).await.expect(200).json();
    let admin = after["tokens"][0].clone();
    assert_eq!(after["tokens"].as_array().unwrap()[1..], before["tokens"].as_array().unwrap()[1..], "the tokens as listed before");
    assert!(admin["last_used_at"].is_string(), "{admin}");
    let funder_listed = listed(&app, "funder").await;
    assert_eq!((funder_listed["expires_at"].as_str(), funder_listed["last_used_at"].as_str()), (Some(far), Some(used.as_str())));
    app.get("/v1/audit/verify", Some(&funder)).await.expect(200);
    app.post("/v1/tokens", Some(&app.admin), &json!({"name": "rex", "role": "auditor"})).await.problem(409);
    assert_eq!(listed(&app, "rex").await["status"], "revoked");
}
