//! Tamper evidence as an auditor meets it, against the real server: the head published by `GET /v1/audit/head`
//! and an NDJSON export taken over HTTP; `tracker check-export --head` refuses the export cut short and accepts
//! a later, longer one; `tracker import --head` imports nothing from the cut one; a payload byte changed inside
//! the stopped server's sled store is named by position in `GET /v1/audit/verify` and `tracker verify`.

use std::io::Write as _;
use std::process::{Output, Stdio};

use crate::server::{admin_token, exchange, tracker, Server};

fn run_with_stdin(mut command: std::process::Command, input: &[u8]) -> Output {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn export(server: &Server, token: &str) -> Vec<u8> {
    let response = server.client().get(server.url("/v1/events")).bearer_auth(token).header("accept", "application/x-ndjson").send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

/// Changes one letter of `needle` inside the stored record that holds it (the server must be stopped, and have
/// made its last checkpoint). The
/// payload stays valid, canonical JSON: only the hash chain can tell.
fn change_stored_payload(dir: &std::path::Path, needle: &str) {
    let db = tracker::store::open_raw(dir).expect("raw open");
    let tree = db.open_tree("log").unwrap();
    for entry in tree.iter() {
        let (key, stored) = entry.unwrap();
        let mut chunk = tracker::store::unpack_chunk(&stored).unwrap();
        if let Some(at) = chunk.windows(needle.len()).position(|w| w == needle.as_bytes()) {
            chunk[at] = chunk[at].to_ascii_uppercase();
            tree.insert(key, tracker::store::pack_chunk(&chunk)).unwrap();
            db.flush().unwrap();
            return;
        }
    }
    panic!("'{needle}' is not stored");
}

#[tokio::test]
async fn an_auditor_detects_a_truncated_export_and_a_changed_stored_payload() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let admin = admin_token(dir.path());
    let mut positions = Vec::new();
    let mut published = String::new();
    for n in 0..7 {
        let body = exchange("torino", "zagreb", "2022-07-01", &format!("tamper target {n}"));
        let (status, _, answer) = server.post("/v1/programmes/connection/activities", &admin, &body).await.unwrap();
        assert_eq!(status, 201, "{answer}");
        positions.push(answer["position"].as_u64().unwrap());
        if n == 4 {
            // What an auditor keeps: the head the server published at that moment.
            let (_, head) = server.get("/v1/audit/head", &admin).await;
            published = format!("{}:{}", head["position"], head["hash"].as_str().unwrap());
        }
    }
    let published_position: u64 = published.split(':').next().unwrap().parse().unwrap();
    let later_export = export(&server, &admin).await;
    let lines: Vec<&[u8]> = later_export.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 9, "2 seed events and 7 activities");

    // The later export reaches the published head; one cut before it does not.
    let mut check = tracker(dir.path());
    check.args(["check-export", "--head", &published]);
    let accepted = run_with_stdin(check, &later_export);
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));
    assert!(text(&accepted.stdout).starts_with("ok: 9 events checked"), "{}", text(&accepted.stdout));
    let truncated = lines[..published_position as usize - 1].concat();
    let mut check = tracker(dir.path());
    check.args(["check-export", "--head", &published]);
    let refused = run_with_stdin(check, &truncated);
    assert_eq!(refused.status.code(), Some(1));
    let message = text(&refused.stderr);
    assert!(message.contains(&format!("ends at position {} but the published head is position {published_position}: it is truncated", published_position - 1)), "{message}");
    let target = tempfile::tempdir().unwrap();
    let mut import = tracker(&target.path().join("copy"));
    import.args(["import", "--head", &published]);
    let refused = run_with_stdin(import, &truncated);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("is truncated") && text(&refused.stderr).contains("nothing was imported"), "{}", text(&refused.stderr));

    // A payload changed in the store of the stopped server. Stopped gracefully: its last checkpoint puts every
    // event into sled (after a SIGKILL the newest would still be only in the write-ahead file).
    assert!(server.terminate().success(), "{}", server.output());
    change_stored_payload(dir.path(), "tamper target 3");
    let changed = positions[3];
    let mut server = Server::start(dir.path());
    let (status, verified) = server.get("/v1/audit/verify", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(verified["ok"], false, "{verified}");
    assert_eq!(verified["first_bad_position"], changed, "{verified}");
    assert!(verified["reason"].as_str().unwrap().contains("hash mismatch"), "{verified}");
    server.kill();
    let out = tracker(dir.path()).arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).starts_with(&format!("FAILED at position {changed}: hash mismatch")), "{}", text(&out.stdout));
}
