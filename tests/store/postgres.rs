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
