//! What only the PostgreSQL engine has to show: several logs (nodes) on one database share one gapless chain and
//! wake each other; appends and wake-ups survive the database ending every connection; a request the database
//! cannot store fails alone; the stored bytes are the hashed ones and cannot be changed in place; the schema is
//! made on an empty database and a newer one is refused.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use events::ChainHash;
use serde_json::json;
use tracker::store::{AppendError, EventLog, ExpectedVersion, PgLog, PgLogOptions, PgOpenError, SchemaError};

use crate::conformance::{event, request};
use crate::engines::open_postgres;
use crate::pg_cluster::{empty_database, fresh_database, superuser};

const WITHIN: Duration = Duration::from_secs(20);

async fn append_one(log: &PgLog, stream: &str) -> u64 {
    log.append(request(stream, ExpectedVersion::Any, vec![event(json!({"at": stream}))])).await.expect("an append").last_position()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_logs_on_one_database_append_to_one_gapless_chain() {
    let url = fresh_database().await;
    let nodes = [Arc::new(open_postgres(&url).await), Arc::new(open_postgres(&url).await)];
    let mut tasks = Vec::new();
    for task in 0..8 {
        let log = Arc::clone(&nodes[task % 2]);
        tasks.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for n in 0..10 {
                let stream = if n % 3 == 0 { "a-shared".to_owned() } else { format!("b-{task}") };
                positions.push(append_one(&log, &stream).await);
            }
            positions
        }));
    }
    let mut acknowledged = HashSet::new();
    for task in tasks {
        acknowledged.extend(tokio::time::timeout(WITHIN, task).await.expect("the appenders finish").unwrap());
    }
    assert_eq!(acknowledged, (1..=80).collect::<HashSet<u64>>(), "every position once, no gap");
    let (a, b) = (nodes[0].read_all(1, 1000).await.unwrap(), nodes[1].read_all(1, 1000).await.unwrap());
    assert_eq!(a, b, "both nodes read the same log");
    for node in &nodes {
        let report = tracker::audit::verify_log(node.as_ref(), |_, _| {}).await.unwrap();
        assert!(report.ok() && report.events == 80, "{report:?}");
    }
    assert_eq!(nodes[1].stream_version("a-shared").await.unwrap(), Some(32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_wakes_on_an_append_made_through_another_log() {
    let url = fresh_database().await;
    let (a, b) = (open_postgres(&url).await, Arc::new(open_postgres(&url).await));
    append_one(&a, "a-first").await;
    let head = b.head().await.unwrap().position;
    assert_eq!(head, 1, "B reads what A appended");
    let waiting = Arc::clone(&b);
    let waiter = tokio::spawn(async move { waiting.wait_beyond(1).await });
    let position = append_one(&a, "a-second").await;
    let woken = tokio::time::timeout(WITHIN, waiter).await.expect("B is woken by A's append").unwrap().unwrap();
    assert_eq!(woken, position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_and_wake_ups_go_on_after_the_database_ends_every_connection() {
    let url = fresh_database().await;
    let (a, b) = (open_postgres(&url).await, Arc::new(open_postgres(&url).await));
    append_one(&a, "a-before").await;
    let database = url.rsplit('/').next().unwrap().to_owned();
    let admin = superuser(&crate::pg_cluster::url("postgres")).await;
    let ended = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(ended >= 4, "both writers and both listeners were connected; ended {ended}");

    let waiting = Arc::clone(&b);
    let waiter = tokio::spawn(async move { waiting.wait_beyond(1).await });
    let position = tokio::time::timeout(WITHIN, append_one(&a, "a-after")).await.expect("the append is answered");
    assert_eq!(position, 2);
    let woken = tokio::time::timeout(WITHIN, waiter).await.expect("B is woken after losing its connections").unwrap().unwrap();
    assert_eq!(woken, 2);
    assert_eq!(append_one(&b, "b-after").await, 3, "B's writer connects again too");
    let report = tracker::audit::verify_log(b.as_ref(), |_, _| {}).await.unwrap();
    assert!(report.ok() && report.events == 3, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_database_cannot_store_fails_alone_in_its_batch() {
    let log = Arc::new(open_postgres(&fresh_database().await).await);
    let mut tasks = Vec::new();
    for n in 0..12 {
        let log = Arc::clone(&log);
        // PostgreSQL's text holds no NUL character: that stream name is refused by the database itself.
        let stream = if n == 5 { "a-nul-\u{0}".to_owned() } else { format!("a-fine-{n}") };
        tasks.push(tokio::spawn(async move { log.append(request(&stream, ExpectedVersion::Any, vec![event(json!({"n": n}))])).await }));
    }
    let mut stored = 0;
    for (n, task) in tasks.into_iter().enumerate() {
        match tokio::time::timeout(WITHIN, task).await.expect("answered").unwrap() {
            Ok(_) => stored += 1,
            Err(AppendError::Invalid(_)) if n == 5 => {}
            Err(other) => panic!("request {n} was answered {other:?}"),
        }
    }
    assert_eq!(stored, 11);
    let report = tracker::audit::verify_log(log.as_ref(), |_, _| {}).await.unwrap();
    assert!(report.ok() && report.events == 11, "{report:?}");
}

#[tokio::test]
async fn events_are_stored_as_the_canonical_bytes_that_were_hashed_and_never_changed_in_place() {
    let url = fresh_database().await;
    let log = open_postgres(&url).await;
    append_one(&log, "a-one").await;
    append_one(&log, "a-two").await;
    let envelopes = log.read_all(1, 10).await.unwrap();
    let db = superuser(&url).await;
    let rows = db.query("SELECT canonical, hash FROM events ORDER BY position", &[]).await.unwrap();
    let mut previous = ChainHash::GENESIS;
    for (row, envelope) in rows.iter().zip(&envelopes) {
        let (canonical, hash): (Vec<u8>, Vec<u8>) = (row.get(0), row.get(1));
        assert_eq!(canonical, envelope.canonical_bytes());
        assert_eq!(hash, previous.next(&canonical).0);
        previous = envelope.hash;
    }
    for change in ["UPDATE events SET stream = 'a-other' WHERE position = 1", "DELETE FROM events WHERE position = 2", "TRUNCATE events"] {
        let refused = db.batch_execute(change).await.expect_err("stored events are permanent");
        assert!(refused.to_string().contains("never changed") || format!("{refused:?}").contains("never changed"), "{refused:?}");
    }

    // Someone with the rights to switch the trigger off changes a byte: verification names the position.
    db.batch_execute(
        "ALTER TABLE events DISABLE TRIGGER events_are_permanent;
         UPDATE events SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), 'a-two\"}', 'a-tw0\"}'), 'UTF8')
             WHERE position = 2;",
    )
    .await
    .unwrap();
    let report = tracker::audit::verify_log(&log, |_, _| {}).await.unwrap();
    assert_eq!(report.first_bad.map(|bad| bad.position), Some(2), "the changed event is found");
}

#[tokio::test]
async fn an_empty_database_is_given_the_schema_and_a_newer_schema_is_refused() {
    let url = empty_database().await;
    let log = open_postgres(&url).await;
    assert_eq!(log.head().await.unwrap().position, 0);
    append_one(&log, "a-x").await;
    log.close().await;
    drop(log);
    let again = open_postgres(&url).await;
    assert_eq!(again.head().await.unwrap().position, 1, "opening again keeps the log");
    let db = superuser(&url).await;
    assert_eq!(db.query_one("SELECT version FROM tracker_schema", &[]).await.unwrap().get::<_, i32>(0), 1);

    db.batch_execute("UPDATE tracker_schema SET version = 99").await.unwrap();
    match PgLog::open(&url, PgLogOptions::default()).await {
        Err(PgOpenError::Schema { error: SchemaError::Newer { found: 99, known: 1 }, .. }) => {}
        other => panic!("a newer schema was met with {other:?}"),
    }
    assert_eq!(again.head().await.unwrap().position, 1, "and left as it was");
}

/// `tracker` with `--store` (or `TRACKER_STORE`) and these arguments; its output, failing on a non-zero exit.
fn tracker(url: &str, args: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tracker"))
        .env("TRACKER_STORE", url)
        .arg("--data")
        .arg(data.path())
        .args(args)
        .output()
        .expect("running tracker");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "tracker {args:?}: {text}{}", String::from_utf8_lossy(&output.stderr));
    text
}

#[tokio::test]
async fn the_command_line_seeds_reports_verifies_and_exports_a_postgres_store() {
    let url = fresh_database().await;
    assert_eq!(tracker(&url, &["seed"]).trim(), "registered connection, unites");
    let report: serde_json::Value = serde_json::from_str(&tracker(&url, &["report", "unites", "--format", "json"])).unwrap();
    assert_eq!((report["programme"].as_str(), report["position"].as_u64()), (Some("unites"), Some(2)));
    assert!(tracker(&url, &["verify"]).starts_with("ok: 2 events checked; head position 2"));
    let export = tracker(&url, &["export"]);
    let log = open_postgres(&url).await;
    let lines: Vec<String> = log.read_all(1, 10).await.unwrap().iter().map(|e| e.to_json_line()).collect();
    assert_eq!(export.lines().collect::<Vec<_>>(), lines, "the export is the stored envelopes");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_tracker")).args(["--store", "mysql://x", "verify"]).output().unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("sled:DIR or a PostgreSQL URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_acknowledged_while_the_writer_connection_is_ended_again_and_again_are_all_stored() {
    const TASKS: usize = 4;
    const APPENDS: usize = 40;
    let url = fresh_database().await;
    let log = Arc::new(open_postgres(&url).await);
    let (acknowledged_tx, mut acknowledged_rx) = tokio::sync::watch::channel(0usize);
    let acknowledged_tx = Arc::new(acknowledged_tx);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (log, acks) = (Arc::clone(&log), Arc::clone(&acknowledged_tx));
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for n in 0..APPENDS {
                let request = request(&format!("a-{task}"), ExpectedVersion::Any, vec![event(json!({"task": task, "n": n}))]);
                let answer = log.append(request.clone()).await;
                if answer.is_ok() {
                    acks.send_modify(|count| *count += 1);
                }
                answers.push((request, answer));
            }
            answers
        }));
    }
    // Every tenth acknowledgement, the server ends the writer's session, wherever its transaction is.
    let database = url.rsplit('/').next().unwrap().to_owned();
    let admin = superuser(&crate::pg_cluster::url("postgres")).await;
    let mut ended = 0;
    while ended < 8 {
        let target = (ended + 1) * 10;
        // (`wait_for` answers with a read lock of the count: not held any longer than the check.)
        let reached = tokio::time::timeout(WITHIN, acknowledged_rx.wait_for(|&count| count >= target)).await.map(drop);
        if reached.is_err() {
            break;
        }
        let terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tracker-writer'";
        admin.execute(terminate, &[&database]).await.unwrap();
        ended += 1;
    }
    let mut stored_by_retry = 0;
    let mut acknowledged = HashSet::new();
    for task in tasks {
        for (request, answer) in tokio::time::timeout(WITHIN, task).await.expect("the appenders finish").unwrap() {
            match answer {
                Ok(appended) => {
                    acknowledged.insert(appended.envelopes[0].id);
                }
                Err(AppendError::Unavailable(_)) => {
                    // The client's retry with the same event id: stored once either way.
                    let retried = log.append(request).await.expect("the retry is answered");
                    stored_by_retry += usize::from(!retried.already_stored);
                    acknowledged.insert(retried.envelopes[0].id);
                }
                Err(other) => panic!("an append was answered {other:?}"),
            }
        }
    }
    assert!(ended >= 3, "the writer's session was ended {ended} times");
    let stored = log.read_all(1, 10_000).await.unwrap();
    assert_eq!(stored.len(), TASKS * APPENDS, "every append stored exactly once ({stored_by_retry} by a retry)");
    assert_eq!(stored.iter().map(|e| e.id).collect::<HashSet<_>>(), acknowledged);
    let report = tracker::audit::verify_log(log.as_ref(), |_, _| {}).await.unwrap();
    assert!(report.ok(), "{report:?}");
}

#[tokio::test]
async fn an_export_of_a_data_directory_imports_into_postgres_with_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    {
        let sled = crate::engines::sled_in(dir.path());
        for n in 0..5 {
            let stream = format!("a-moved-{}", n % 2);
            sled.append(request(&stream, ExpectedVersion::Any, vec![event(json!({"n": n, "text": "Zürich \"quoted\""}))])).await.unwrap();
        }
    }
    let run = |args: &[&str], stdin: &[u8]| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tracker"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    };
    let export = run(&["--data", dir.path().to_str().unwrap(), "export"], b"");
    assert!(export.status.success());
    let url = fresh_database().await;
    let spool = tempfile::tempdir().unwrap();
    let spool = spool.path().to_str().unwrap();
    let imported = run(&["--store", &url, "--data", spool, "import"], &export.stdout);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));

    let log = open_postgres(&url).await;
    let moved: Vec<String> = log.read_all(1, 100).await.unwrap().iter().map(|e| e.to_json_line() + "\n").collect();
    assert_eq!(moved.concat().as_bytes(), export.stdout.as_slice(), "the same envelopes, times and hashes");
    assert_eq!(log.stream_version("a-moved-0").await.unwrap(), Some(3), "the streams' versions came along");
    assert_eq!(append_one(&log, "a-after").await, 6, "and the log goes on from there");
    let again = run(&["--store", &url, "--data", spool, "import"], &export.stdout);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already holds 6 events"));
}
