//! The `tracker` binary on a real data directory: verify, export → import byte-identical, a tampered export
//! refused naming its position, and a data directory in use refused clearly.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use tracker::store::{EventLog, ExpectedVersion, OpenError, SledLog};

use crate::helpers::{append, open};

fn tracker(data: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn filled_store(dir: &Path, events: usize) {
    let log = open(dir);
    for i in 0..events {
        append(&log, &format!("a-{}", i % 7), ExpectedVersion::Any, 1 + i % 2).await.unwrap();
    }
}

#[tokio::test]
async fn export_then_import_round_trips_byte_for_byte() {
    let source = tempfile::tempdir().unwrap();
    filled_store(source.path(), 40).await;
    let exported = tracker(source.path(), &["export"], None);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    assert_eq!(exported.stdout.iter().filter(|&&b| b == b'\n').count(), 60);

    let target = tempfile::tempdir().unwrap();
    let target = target.path().join("copy");
    let imported = tracker(&target, &["import"], Some(&exported.stdout));
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let again = tracker(&target, &["export"], None);
    assert_eq!(text(&again.stdout), text(&exported.stdout));

    let verified = tracker(&target, &["verify"], None);
    assert!(verified.status.success());
    let head = SledLog::open(&target, Default::default()).unwrap().head().await.unwrap();
    assert_eq!(text(&verified.stdout).trim(), format!("ok: 60 events checked; head position 60 hash {}", head.hash));
}

#[tokio::test]
async fn a_modified_export_is_refused_naming_the_position_and_nothing_is_imported() {
    let source = tempfile::tempdir().unwrap();
    filled_store(source.path(), 10).await;
    let exported = text(&tracker(source.path(), &["export"], None).stdout);
    let mut lines: Vec<String> = exported.lines().map(str::to_owned).collect();
    // Change a figure in the payload of position 7, keeping the line well-formed.
    lines[6] = lines[6].replace("\"i\":0", "\"i\":1");
    assert_ne!(lines[6], exported.lines().nth(6).unwrap());
    let tampered = lines.join("\n") + "\n";
    let target = tempfile::tempdir().unwrap();
    let refused = tracker(target.path(), &["import"], Some(tampered.as_bytes()));
    assert!(!refused.status.success());
    let message = text(&refused.stderr);
    assert!(message.contains("position 7: hash mismatch"), "{message}");
    assert!(message.contains("nothing was imported"), "{message}");
    let log = SledLog::open(target.path(), Default::default()).unwrap();
    assert_eq!(log.head().await.unwrap().position, 0);
}

#[tokio::test]
async fn verify_names_the_first_bad_position_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 12).await;
    // The records of this test have a 109-byte header, so byte 115 lies in the payload: the record still
    // decodes and only the chain can tell.
    crate::helpers::flip_stored_byte(dir.path(), 5, 115);
    let out = tracker(dir.path(), &["verify"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("FAILED at position 5: hash mismatch"), "{}", text(&out.stdout));
}

#[tokio::test]
async fn a_data_directory_in_use_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _running = open(dir.path());
    let second = SledLog::open(dir.path(), Default::default()).unwrap_err();
    assert!(matches!(second, OpenError::InUse(_)), "{second}");
    let out = tracker(dir.path(), &["verify"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is in use by another tracker process"), "{}", text(&out.stderr));
}

#[test]
fn commands_on_a_missing_data_directory_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = tracker(&dir.path().join("nope"), &["export"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no data directory at"), "{}", text(&out.stderr));
}

#[test]
fn seed_registers_connection_and_unites_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seeded = tracker(&data, &["seed"], None);
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    assert_eq!(text(&seeded.stdout).trim(), "registered connection, unites");
    let again = tracker(&data, &["seed"], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already holds events"), "{}", text(&again.stderr));
    let verified = tracker(&data, &["verify"], None);
    assert!(text(&verified.stdout).starts_with("ok: 2 events checked"), "{}", text(&verified.stdout));
}

#[test]
fn report_renders_a_table_json_and_csv_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(tracker(&data, &["seed"], None).status.success());
    let table = text(&tracker(&data, &["report", "connection"], None).stdout);
    assert!(table.starts_with("connection — progress as of "), "{table}");
    assert!(table.contains("Staff exchanges"), "{table}");
    assert!(table.contains("0 / 14 exchanges"), "{table}");
    assert!(table.contains("budget EUR 1874876.03; partner shares 30979.71"), "{table}");

    let json = tracker(&data, &["report", "unites", "--format", "json", "--as-of", "2024-12-31"], None);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["as_of"], "2024-12-31");
    let grants = report["indicators"].as_array().unwrap().iter().find(|i| i["id"] == "grants").unwrap();
    assert_eq!((grants["target"].as_str(), grants["status"].as_str()), (Some("160000.00"), Some("behind")));

    let csv = text(&tracker(&data, &["report", "connection", "--format", "csv"], None).stdout);
    assert!(csv.starts_with("programme,as_of,known_at,log_position,log_hash,indicator,label,unit,target,"), "{csv}");
    assert!(csv.contains(",staff-exchanges,Staff exchanges,exchanges,14,0,0,0,0.0,"), "{csv}");

    let early = tracker(&data, &["report", "unites", "--at-position", "1"], None);
    assert_eq!(early.status.code(), Some(1));
    assert!(text(&early.stderr).contains("programme 'unites' was not yet registered at log position 1"), "{}", text(&early.stderr));
    let unknown = tracker(&data, &["report", "atlantis"], None);
    assert!(text(&unknown.stderr).contains("unknown programme 'atlantis'"), "{}", text(&unknown.stderr));
}

#[test]
fn report_refuses_what_the_api_refuses_and_names_the_form_expected() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(tracker(&data, &["seed"], None).status.success());
    for (args, said) in [
        (&["--at-position", "999"][..], "--at-position: position 999 is beyond the head of the log (2); ask for 2 or less"),
        (&["--at-position", "two"][..], "'two' is not a log position; write a whole number such as 42"),
        (&["--as-of", "30/06/2022"][..], "'30/06/2022' is not a date; write it YYYY-MM-DD, e.g. 2022-06-30"),
        (&["--known-at", "yesterday"][..], "'yesterday' is not an RFC 3339 time; write it e.g. 2022-06-30T23:59:59Z"),
        (&["--known-at", "2999-01-01T00:00:00Z"][..], "--known-at: 2999-01-01T00:00:00.000000Z is in the future"),
    ] {
        let out = tracker(&data, &[&["report", "connection"][..], args].concat(), None);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(text(&out.stderr).contains(said), "{args:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("envelope"), "{args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn rebuild_replays_the_whole_log_and_says_how_fast() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(tracker(&data, &["seed"], None).status.success());
    let out = tracker(&data, &["rebuild"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("rebuilt the progress projection from 2 events in "), "{}", text(&out.stdout));
}
