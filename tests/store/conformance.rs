//! The contract of `EventLog` and `RecordStore` (SPEC §5), written once against the traits; `engines.rs` runs
//! each test on every engine.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use events::{ChainHash, ChainVerifier, EventData};
use serde_json::json;
use tracker::store::{AppendError, AppendRequest, Appended, ExpectedVersion, ProposedEvent, StreamGuard, Table};

use crate::engines::Store;

/// How long anything awaited may take before the test fails.
const WITHIN: Duration = Duration::from_secs(20);

pub(crate) fn event(payload: serde_json::Value) -> ProposedEvent {
    ProposedEvent { id: uuid::Uuid::now_v7(), event_type: "SomethingHappened".into(), schema: 1, data: EventData::from_value(&payload) }
}

/// An append to `stream` (programme `alpha` for streams `a-…`, else `beta`).
pub(crate) fn request(stream: &str, expected: ExpectedVersion, events: Vec<ProposedEvent>) -> AppendRequest {
    AppendRequest {
        stream: stream.to_owned(),
        expected,
        programme: if stream.starts_with("a-") { "alpha" } else { "beta" }.to_owned(),
        actor: "tester".into(),
        correlation_id: None,
        causation_id: None,
        events,
        guard: None,
    }
}

/// `n` new events appended to `stream`.
pub(crate) async fn append(store: &Store, stream: &str, expected: ExpectedVersion, n: usize) -> Result<Appended, AppendError> {
    let events = (0..n).map(|i| event(json!({"stream": stream, "i": i}))).collect();
    store.log.append(request(stream, expected, events)).await
}

pub(crate) async fn appends_honour_each_expected_version_and_a_mismatch_changes_nothing(store: &Store) {
    let first = append(store, "a-1", ExpectedVersion::NoStream, 1).await.expect("no stream yet");
    assert_eq!((first.last_position(), first.stream_version(), first.already_stored), (1, 1, false));
    let refusals = [
        (ExpectedVersion::NoStream, 1),
        (ExpectedVersion::Exact(0), 1),
        (ExpectedVersion::Exact(2), 1),
    ];
    for (expected, current) in refusals {
        match append(store, "a-1", expected, 1).await {
            Err(AppendError::WrongExpectedVersion { stream, expected: said, current: found }) => {
                assert_eq!((stream.as_str(), said, found), ("a-1", expected, current));
            }
            other => panic!("{expected:?} on a stream at version 1 was answered {other:?}"),
        }
    }
    match append(store, "b-none", ExpectedVersion::Exists, 1).await {
        Err(AppendError::WrongExpectedVersion { current: 0, .. }) => {}
        other => panic!("`exists` on a new stream was answered {other:?}"),
    }
    assert_eq!(store.log.head().await.unwrap().position, 1, "refusals change nothing");
    assert_eq!(store.log.stream_version("b-none").await.unwrap(), None);

    assert_eq!(append(store, "a-1", ExpectedVersion::Exists, 1).await.unwrap().stream_version(), 2);
    assert_eq!(append(store, "a-1", ExpectedVersion::Exact(2), 2).await.unwrap().stream_version(), 4);
    assert_eq!(append(store, "a-1", ExpectedVersion::Any, 1).await.unwrap().stream_version(), 5);
    assert_eq!(append(store, "b-any", ExpectedVersion::Any, 1).await.unwrap().stream_version(), 1);
    assert_eq!(store.log.stream_version("a-1").await.unwrap(), Some(5));
    assert_eq!(store.log.head().await.unwrap().position, 6);
}

pub(crate) async fn a_guard_on_another_stream_must_still_hold(store: &Store) {
    append(store, "a-programme", ExpectedVersion::NoStream, 2).await.unwrap();
    let mut guarded = request("a-activity", ExpectedVersion::NoStream, vec![event(json!({"n": 1}))]);
    guarded.guard = Some(StreamGuard { stream: "a-programme".into(), version: 2 });
    let appended = store.log.append(guarded.clone()).await.expect("the guard holds");
    assert_eq!(appended.last_position(), 3);

    append(store, "a-programme", ExpectedVersion::Exact(2), 1).await.unwrap();
    let mut stale = request("a-activity-2", ExpectedVersion::NoStream, vec![event(json!({"n": 2}))]);
    stale.guard = Some(StreamGuard { stream: "a-programme".into(), version: 2 });
    match store.log.append(stale).await {
        Err(AppendError::GuardChanged { stream, expected: 2, current: 3 }) => assert_eq!(stream, "a-programme"),
        other => panic!("a stale guard was answered {other:?}"),
    }
    assert_eq!(store.log.stream_version("a-activity-2").await.unwrap(), None, "nothing appended");

    // A guard on a stream that does not exist holds at version 0 only.
    let mut absent = request("a-activity-3", ExpectedVersion::NoStream, vec![event(json!({"n": 3}))]);
    absent.guard = Some(StreamGuard { stream: "a-nothing".into(), version: 0 });
    store.log.append(absent).await.expect("a guard at version 0 on no stream holds");
    assert_eq!(store.log.head().await.unwrap().position, 5);
}

pub(crate) async fn appending_the_same_event_ids_again_answers_the_original_events(store: &Store) {
    let events = vec![event(json!({"n": 1})), event(json!({"n": 2}))];
    let original = store.log.append(request("a-once", ExpectedVersion::NoStream, events.clone())).await.unwrap();
    append(store, "b-other", ExpectedVersion::Any, 1).await.unwrap();

    // The retry's expected version no longer holds: the ids decide, not the version.
    let retry = store.log.append(request("a-once", ExpectedVersion::NoStream, events.clone())).await.expect("an idempotent retry");
    assert!(retry.already_stored);
    assert_eq!(retry.envelopes, original.envelopes, "the original envelopes, positions and hashes included");

    let mut changed = events.clone();
    changed[1].data = EventData::from_value(&json!({"n": "other"}));
    let conflict = store.log.append(request("a-once", ExpectedVersion::Any, changed)).await;
    assert!(matches!(conflict, Err(AppendError::IdempotencyConflict { id, .. }) if id == events[1].id), "{conflict:?}");

    let elsewhere = store.log.append(request("a-elsewhere", ExpectedVersion::Any, vec![events[0].clone()])).await;
    assert!(matches!(elsewhere, Err(AppendError::IdempotencyConflict { .. })), "{elsewhere:?}");

    let partly = store.log.append(request("a-once", ExpectedVersion::Any, vec![events[0].clone(), event(json!({"n": 3}))])).await;
    assert!(matches!(partly, Err(AppendError::IdempotencyConflict { .. })), "{partly:?}");
    assert_eq!(store.log.head().await.unwrap().position, 3, "no retry or conflict stored anything");
}

pub(crate) async fn a_multi_event_append_is_all_or_nothing(store: &Store) {
    append(store, "b-x", ExpectedVersion::Any, 1).await.unwrap();
    let appended = append(store, "a-many", ExpectedVersion::NoStream, 3).await.unwrap();
    let placed: Vec<(u64, u64)> = appended.envelopes.iter().map(|e| (e.position, e.version)).collect();
    assert_eq!(placed, [(2, 1), (3, 2), (4, 3)]);

    let refused = append(store, "a-many", ExpectedVersion::Exact(1), 5).await;
    assert!(matches!(refused, Err(AppendError::WrongExpectedVersion { current: 3, .. })), "{refused:?}");
    let twice = event(json!({"twice": true}));
    let invalid = store.log.append(request("a-many", ExpectedVersion::Any, vec![event(json!({})), twice.clone(), twice])).await;
    assert!(matches!(invalid, Err(AppendError::Invalid(_))), "{invalid:?}");
    let empty = store.log.append(request("a-many", ExpectedVersion::Any, Vec::new())).await;
    assert!(matches!(empty, Err(AppendError::Invalid(_))), "{empty:?}");
    assert_eq!(store.log.head().await.unwrap().position, 4);
    assert_eq!(store.log.read_stream("a-many", 1, 100).await.unwrap().len(), 3, "none of a refused append is stored");
}

pub(crate) async fn reads_page_through_the_log_a_stream_and_a_programme(store: &Store) {
    for round in 0..5 {
        append(store, "a-s1", ExpectedVersion::Any, 2).await.unwrap();
        append(store, "b-s2", ExpectedVersion::Any, 1).await.unwrap();
        append(store, &format!("a-round-{round}"), ExpectedVersion::NoStream, 2).await.unwrap();
    }
    let total = 25;
    let mut all = Vec::new();
    let mut from = 1;
    loop {
        let page = store.log.read_all(from, 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        from = page.last().unwrap().position + 1;
        all.extend(page);
    }
    assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>());
    assert_eq!(store.log.read_all(0, 3).await.unwrap().first().map(|e| e.position), Some(1), "position 0 reads from 1");
    assert!(store.log.read_all(total + 1, 10).await.unwrap().is_empty());
    assert!(store.log.read_all(1, 0).await.unwrap().is_empty());

    let stream = store.log.read_stream("a-s1", 4, 3).await.unwrap();
    assert_eq!(stream.iter().map(|e| e.version).collect::<Vec<_>>(), [4, 5, 6]);
    assert!(stream.iter().all(|e| e.stream == "a-s1"));
    assert_eq!(store.log.read_stream("a-s1", 1, 100).await.unwrap().len(), 10);
    assert!(store.log.read_stream("a-s1", 11, 100).await.unwrap().is_empty());
    assert!(store.log.read_stream("a-unknown", 1, 100).await.unwrap().is_empty());
    assert_eq!(store.log.stream_version("a-s1").await.unwrap(), Some(10));
    assert_eq!(store.log.stream_version("a-unknown").await.unwrap(), None);

    let beta: Vec<u64> = store.log.read_programme("beta", 1, 100).await.unwrap().iter().map(|e| e.position).collect();
    assert_eq!(beta, [3, 8, 13, 18, 23]);
    let page: Vec<u64> = store.log.read_programme("alpha", 6, 4).await.unwrap().iter().map(|e| e.position).collect();
    assert_eq!(page, [6, 7, 9, 10]);
    assert!(store.log.read_programme("gamma", 1, 100).await.unwrap().is_empty());
    // Every read gives the same envelopes as the global log.
    assert_eq!(store.log.read_stream("a-round-3", 1, 10).await.unwrap(), all[18..20].to_vec());
}

pub(crate) async fn the_head_names_the_last_event_its_hash_and_time(store: &Store) {
    let empty = store.log.head().await.unwrap();
    assert_eq!((empty.position, empty.hash, empty.recorded_at), (0, ChainHash::GENESIS, None));
    append(store, "a-h", ExpectedVersion::Any, 2).await.unwrap();
    let last = append(store, "b-h", ExpectedVersion::Any, 3).await.unwrap().envelopes.pop().unwrap();
    let head = store.log.head().await.unwrap();
    assert_eq!((head.position, head.hash, head.recorded_at), (5, last.hash, Some(last.recorded_at)));
    assert_eq!(tracker::store::event_at(store.log.as_ref(), 5).await.unwrap(), Some(last));
    assert_eq!(tracker::store::event_at(store.log.as_ref(), 6).await.unwrap(), None);
}

pub(crate) async fn wait_beyond_wakes_on_an_append_and_answers_at_once_when_behind(store: &Store) {
    append(store, "a-w", ExpectedVersion::Any, 2).await.unwrap();
    let behind = tokio::time::timeout(WITHIN, store.log.wait_beyond(1)).await.expect("answers at once");
    assert_eq!(behind.unwrap(), 2);

    let log = Arc::clone(&store.log);
    let waiter = tokio::spawn(async move { log.wait_beyond(2).await });
    append(store, "b-w", ExpectedVersion::Any, 1).await.unwrap();
    let woken = tokio::time::timeout(WITHIN, waiter).await.expect("woken by the append").unwrap().unwrap();
    assert_eq!(woken, 3);
}

pub(crate) async fn the_hash_chain_verifies_over_read_all(store: &Store) {
    for i in 0..6 {
        let mut request = request(&format!("a-c{}", i % 3), ExpectedVersion::Any, vec![event(json!({"i": i, "text": "é\"\\\n"}))]);
        request.correlation_id = (i % 2 == 0).then(uuid::Uuid::now_v7);
        request.causation_id = (i % 3 == 0).then(uuid::Uuid::now_v7);
        store.log.append(request).await.unwrap();
    }
    let mut verifier = ChainVerifier::new();
    for envelope in store.log.read_all(1, 100).await.unwrap() {
        verifier.check(&envelope).unwrap_or_else(|e| panic!("{e}"));
    }
    let head = store.log.head().await.unwrap();
    assert_eq!(verifier.head(), (6, head.hash));
    let report = tracker::audit::verify_log(store.log.as_ref(), |_, _| {}).await.unwrap();
    assert!(report.ok() && report.events == 6, "{report:?}");
}

pub(crate) async fn concurrent_appenders_with_exact_versions_lose_nothing(store: &Store) {
    const TASKS: usize = 12;
    const APPENDS: usize = 8;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let log = Arc::clone(&store.log);
        tasks.push(tokio::spawn(async move {
            let (mut mine, mut rounds) = (Vec::new(), 0);
            while mine.len() < APPENDS {
                rounds += 1;
                let current = log.stream_version("a-shared").await.unwrap().unwrap_or(0);
                let proposed = event(json!({"task": task, "n": mine.len()}));
                let id = proposed.id;
                // Each also appends to a stream of its own at the same time, so batches hold several streams.
                let own = request(&format!("b-own-{task}"), ExpectedVersion::Any, vec![event(json!({}))]);
                let shared = request("a-shared", ExpectedVersion::Exact(current), vec![proposed]);
                let (own, shared) = tokio::join!(log.append(own), log.append(shared));
                own.expect("an append with any version");
                match shared {
                    Ok(appended) => {
                        assert_eq!(appended.stream_version(), current + 1);
                        mine.push(id);
                    }
                    Err(AppendError::WrongExpectedVersion { .. }) => {}
                    Err(other) => panic!("unexpected {other}"),
                }
            }
            (mine, rounds)
        }));
    }
    let (mut acknowledged, mut own) = (HashSet::new(), 0);
    for task in tasks {
        let (ids, rounds) = tokio::time::timeout(WITHIN * 3, task).await.expect("the appenders finish").unwrap();
        acknowledged.extend(ids);
        own += rounds;
    }
    let shared = store.log.read_stream("a-shared", 1, 10_000).await.unwrap();
    assert_eq!(shared.iter().map(|e| e.id).collect::<HashSet<_>>(), acknowledged, "every acknowledged append, nothing else");
    assert!(shared.iter().enumerate().all(|(i, e)| e.version == i as u64 + 1), "versions 1..n without gaps");
    assert_eq!(store.log.head().await.unwrap().position, (TASKS * APPENDS + own) as u64);
    let report = tracker::audit::verify_log(store.log.as_ref(), |_, _| {}).await.unwrap();
    assert!(report.ok(), "{report:?}");
}

pub(crate) async fn records_are_got_listed_inserted_once_put_replaced_if_unchanged_and_removed(store: &Store) {
    let records = Arc::clone(&store.records);
    // The record store blocks: called from a blocking thread, as the application calls it.
    tokio::task::spawn_blocking(move || {
        for table in [Table::Tokens, Table::IdempotencyKeys, Table::People, Table::Sessions, Table::SignInFailures] {
            assert_eq!(records.get(table, "k").unwrap(), None);
            assert!(records.list(table).unwrap().is_empty());
            assert!(records.insert_new(table, "k", b"first").unwrap());
            assert!(!records.insert_new(table, "k", b"second").unwrap(), "insert_new keeps what is there");
            assert_eq!(records.get(table, "k").unwrap().as_deref(), Some(&b"first"[..]));
            records.put(table, "k", b"replaced").unwrap();
            records.put(table, "b", &[0, 255, 7]).unwrap();
            records.put(table, "Z", b"").unwrap();
            let listed = records.list(table).unwrap();
            let expected = [("Z", &b""[..]), ("b", &[0, 255, 7][..]), ("k", &b"replaced"[..])];
            assert_eq!(listed.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect::<Vec<_>>(), expected, "by key, bytewise");
            assert!(!records.replace(table, "k", b"first", b"stale").unwrap(), "replace only over what is there");
            assert!(records.replace(table, "k", b"replaced", b"again").unwrap());
            assert!(!records.replace(table, "absent", b"", b"x").unwrap(), "nor over nothing");
            assert_eq!(records.get(table, "k").unwrap().as_deref(), Some(&b"again"[..]));
            assert_eq!(records.get(table, "absent").unwrap(), None);
            assert!(!records.remove_if(table, "k", b"replaced").unwrap(), "remove_if only what is there");
            assert!(records.remove_if(table, "k", b"again").unwrap());
            assert!(!records.remove_if(table, "k", b"again").unwrap(), "nor nothing");
            assert_eq!(records.get(table, "k").unwrap(), None);
            records.put(table, "k", b"back").unwrap();
            assert!(records.remove(table, "k").unwrap());
            assert!(!records.remove(table, "k").unwrap());
            assert_eq!(records.get(table, "k").unwrap(), None);
        }
        // Tables are apart.
        records.put(Table::Tokens, "same", b"token").unwrap();
        assert_eq!(records.get(Table::People, "same").unwrap(), None);
    })
    .await
    .unwrap();
    // And from async code, as start-up calls it.
    assert_eq!(store.records.get(Table::Tokens, "same").unwrap().as_deref(), Some(&b"token"[..]));
}
