//! Many tasks against one log: optimistic concurrency on one stream loses no append and duplicates no version,
//! and concurrent appends of the same event id store it exactly once.

use std::collections::HashSet;
use std::sync::Arc;

use tracker::audit::verify_log;
use tracker::store::{AppendError, EventLog, ExpectedVersion};

use crate::helpers::{event, open, request};

const TASKS: usize = 16;
const APPENDS_PER_TASK: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_with_exact_expected_versions_lose_nothing_and_duplicate_no_version() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut conflicts = 0;
            while mine.len() < APPENDS_PER_TASK {
                // Read-modify-write: read the version, append expecting exactly it, retry on conflict.
                let current = log.stream_version("a-shared").await.unwrap().unwrap_or(0);
                let proposed = event(serde_json::json!({"task": task, "n": mine.len()}));
                let id = proposed.id;
                match log.append(request("a-shared", ExpectedVersion::Exact(current), vec![proposed])).await {
                    Ok(appended) => {
                        assert_eq!(appended.envelopes[0].version, current + 1);
                        mine.push(id);
                    }
                    Err(AppendError::WrongExpectedVersion { .. }) => conflicts += 1,
                    Err(other) => panic!("unexpected {other}"),
                }
            }
            (mine, conflicts)
        }));
    }
    let mut acknowledged = HashSet::new();
    let mut conflicts = 0;
    for task in tasks {
        let (ids, c) = task.await.unwrap();
        acknowledged.extend(ids);
        conflicts += c;
    }
    let stream = log.read_stream("a-shared", 1, 10_000).await.unwrap();
    assert_eq!(stream.len(), TASKS * APPENDS_PER_TASK);
    let stored: HashSet<_> = stream.iter().map(|e| e.id).collect();
    assert_eq!(stored, acknowledged, "every acknowledged append is stored, nothing else");
    assert!(stream.iter().enumerate().all(|(i, e)| e.version == i as u64 + 1), "versions 1..n without gaps");
    assert!(conflicts > 0, "the tasks really did race");
    assert!(verify_log(log.as_ref(), |_, _| {}).await.unwrap().ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_of_the_same_event_id_store_exactly_one_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    let proposed = event(serde_json::json!({"kind": "staff_exchange"}));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let log = Arc::clone(&log);
        let req = request("a-once", ExpectedVersion::Any, vec![proposed.clone()]);
        tasks.push(tokio::spawn(async move { log.append(req).await }));
    }
    let mut positions = HashSet::new();
    let mut first_answers = 0;
    for task in tasks {
        let appended = task.await.unwrap().expect("same content is a success");
        positions.insert(appended.envelopes[0].position);
        if !appended.already_stored {
            first_answers += 1;
        }
    }
    assert_eq!(positions, HashSet::from([1]));
    assert_eq!(first_answers, 1);
    assert_eq!(log.head().await.unwrap().position, 1);
}

#[tokio::test]
async fn an_append_guarded_by_another_stream_goes_through_only_while_that_stream_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    crate::helpers::append(&log, "a-programme", ExpectedVersion::NoStream, 2).await.unwrap();
    let guarded = |stream: &str, version| {
        let mut r = request(stream, ExpectedVersion::NoStream, vec![event(serde_json::json!({"s": stream}))]);
        r.guard = Some(tracker::store::StreamGuard { stream: "a-programme".into(), version });
        r
    };

    let appended = log.append(guarded("a-activity-1", 2)).await.unwrap();
    assert_eq!(appended.last_position(), 3);

    crate::helpers::append(&log, "a-programme", ExpectedVersion::Exact(2), 1).await.unwrap();
    let refused = log.append(guarded("a-activity-2", 2)).await.unwrap_err();
    assert_eq!(
        refused,
        AppendError::GuardChanged { stream: "a-programme".into(), expected: 2, current: 3 }
    );
    assert_eq!(log.head().await.unwrap().position, 4, "the refused append stored nothing");
    assert_eq!(log.stream_version("a-activity-2").await.unwrap(), None);
}
