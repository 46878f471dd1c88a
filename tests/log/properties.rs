//! Property tests of the log's invariants over random histories: gapless positions, gapless versions, a chain
//! that verifies, idempotent retries, and a flipped byte anywhere in any stored record caught at its position.

use std::collections::HashMap;

use proptest::prelude::*;
use tracker::audit::verify_log;
use tracker::store::{AppendError, EventLog, ExpectedVersion};

use crate::helpers::{append, event, open, request};

#[derive(Debug, Clone)]
enum Op {
    Append { stream: u8, count: usize, expectation: u8 },
    Retry { of: usize },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0u8..6, 1usize..4, 0u8..5).prop_map(|(stream, count, expectation)| Op::Append { stream, count, expectation }),
        1 => (0usize..50).prop_map(|of| Op::Retry { of }),
    ];
    proptest::collection::vec(op, 1..40)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// What a damaged store says when it is opened again.
enum Reopened {
    /// The open refused it, naming a position.
    Refused { position: u64, reason: String },
    /// It opened, and `verify` stopped at a position after `events` good ones.
    Bad { position: u64, reason: String, events: u64 },
    /// It opened and verified.
    Whole,
}

/// Opens the store in `dir` again and verifies it; an error is any other failure to open.
fn reopen(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Result<Reopened, String> {
    match tracker::store::SledLog::open(dir, Default::default()) {
        Ok(log) => rt.block_on(async {
            let report = verify_log(&log, |_, _| {}).await.unwrap();
            Ok(match report.first_bad {
                Some(bad) => Reopened::Bad { position: bad.position, reason: bad.reason, events: report.events },
                None => Reopened::Whole,
            })
        }),
        Err(tracker::store::OpenError::Corrupt { position, reason, .. }) => Ok(Reopened::Refused { position, reason }),
        Err(other) => Err(other.to_string()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_positions_and_versions_gapless_and_the_chain_verifies(ops in ops()) {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let log = open(dir.path());
            let mut model: HashMap<String, u64> = HashMap::new();
            let mut accepted = Vec::new();
            let mut head = 0;
            for op in ops {
                match op {
                    Op::Append { stream, count, expectation } => {
                        let name = format!("{}-{stream}", if stream % 2 == 0 { "a" } else { "b" });
                        let current = model.get(&name).copied().unwrap_or(0);
                        let expected = match expectation {
                            0 => ExpectedVersion::Any,
                            1 => ExpectedVersion::NoStream,
                            2 => ExpectedVersion::Exists,
                            3 => ExpectedVersion::Exact(current),
                            _ => ExpectedVersion::Exact(current + 1),
                        };
                        let should_pass = match expected {
                            ExpectedVersion::Any => true,
                            ExpectedVersion::NoStream => current == 0,
                            ExpectedVersion::Exists => current > 0,
                            ExpectedVersion::Exact(v) => v == current,
                        };
                        let events: Vec<_> = (0..count).map(|i| event(serde_json::json!({"i": i}))).collect();
                        let req = request(&name, expected, events);
                        match log.append(req.clone()).await {
                            Ok(appended) => {
                                prop_assert!(should_pass);
                                for (i, e) in appended.envelopes.iter().enumerate() {
                                    prop_assert_eq!(e.position, head + 1 + i as u64);
                                    prop_assert_eq!(e.version, current + 1 + i as u64);
                                }
                                head += count as u64;
                                model.insert(name, current + count as u64);
                                accepted.push((req, appended.envelopes));
                            }
                            Err(AppendError::WrongExpectedVersion { current: reported, .. }) => {
                                prop_assert!(!should_pass);
                                prop_assert_eq!(reported, current);
                            }
                            Err(other) => prop_assert!(false, "unexpected {other}"),
                        }
                    }
                    Op::Retry { of } => {
                        if accepted.is_empty() { continue; }
                        let (req, original) = &accepted[of % accepted.len()];
                        let again = log.append(req.clone()).await.unwrap();
                        prop_assert!(again.already_stored);
                        prop_assert_eq!(&again.envelopes, original);
                    }
                }
            }
            prop_assert_eq!(log.head().await.unwrap().position, head);
            for (stream, version) in &model {
                let events = log.read_stream(stream, 1, 1000).await.unwrap();
                prop_assert_eq!(events.len() as u64, *version);
                for (i, e) in events.iter().enumerate() {
                    prop_assert_eq!(e.version, i as u64 + 1);
                }
            }
            let all = log.read_all(1, 10_000).await.unwrap();
            prop_assert_eq!(all.len() as u64, head);
            let alpha = log.read_programme("alpha", 1, 10_000).await.unwrap();
            prop_assert!(alpha.iter().all(|e| e.programme == "alpha" && e.stream.starts_with("a-")));
            prop_assert_eq!(alpha.len(), all.iter().filter(|e| e.programme == "alpha").count());
            let report = verify_log(&log, |_, _| {}).await.unwrap();
            prop_assert!(report.ok(), "{:?}", report.first_bad);
            prop_assert_eq!(report.events, head);
            drop(log);
            // Reopening rebuilds the same head from the stored records.
            let reopened = open(dir.path());
            prop_assert_eq!(reopened.head().await.unwrap().position, head);
            Ok(())
        })?;
    }

    #[test]
    fn a_flipped_byte_in_any_stored_record_is_caught_at_its_position(
        events in 2u64..30,
        victim in any::<prop::sample::Index>(),
        byte in any::<usize>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        rt.block_on(async {
            let log = open(dir.path());
            for i in 0..events {
                append(&log, &format!("a-{}", i % 3), ExpectedVersion::Any, 1).await.unwrap();
            }
        });
        let position = victim.index(events as usize) as u64 + 1;
        crate::helpers::flip_stored_byte(dir.path(), position, byte);
        // A flip in a record header may make the store refuse to open; that also names the position.
        match reopen(&rt, dir.path()) {
            Ok(Reopened::Bad { position: at, reason, events }) => {
                prop_assert_eq!(at, position, "{}", reason);
                prop_assert_eq!(events, position - 1);
            }
            Ok(Reopened::Refused { position: at, .. }) => prop_assert_eq!(at, position),
            Ok(Reopened::Whole) => prop_assert!(false, "the flip is detected"),
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Chunks are stored compressed: a flipped bit anywhere in the stored bytes either leaves the records as they
    /// were, or is caught — the store refuses to open or `verify` stops — at a position of that chunk.
    #[test]
    fn a_flipped_byte_in_a_packed_chunk_is_caught_within_the_chunk(
        events in 2u64..40,
        victim in any::<prop::sample::Index>(),
        byte in any::<usize>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        rt.block_on(async {
            let log = open(dir.path());
            // One append of many events: one chunk, compressible (its payloads share their keys).
            let events: Vec<_> = (0..events).map(|i| event(serde_json::json!({"kind": "staff_exchange", "days": i}))).collect();
            log.append(request("a-packed", ExpectedVersion::NoStream, events)).await.unwrap();
        });
        let position = victim.index(events as usize) as u64 + 1;
        let (first, last, changed) = crate::helpers::flip_packed_byte(dir.path(), position, byte);
        match reopen(&rt, dir.path()) {
            Ok(Reopened::Bad { position: at, reason, .. }) => {
                prop_assert!(changed, "nothing changed, yet verify reports {}", reason);
                prop_assert!((first..=last).contains(&at), "{at} outside {first}..={last}: {reason}");
            }
            Ok(Reopened::Whole) => prop_assert!(!changed, "a changed chunk passed verify"),
            Ok(Reopened::Refused { position: at, reason }) => {
                prop_assert!(changed, "nothing changed, yet the open refused: {reason}");
                prop_assert!((first..=last).contains(&at), "{at} outside {first}..={last}: {reason}");
            }
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }
}

#[tokio::test]
async fn appending_to_a_stream_with_a_wrong_expected_version_changes_nothing_and_reports_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    append(&log, "a-1", ExpectedVersion::NoStream, 2).await.unwrap();
    let error = append(&log, "a-1", ExpectedVersion::Exact(1), 1).await.unwrap_err();
    assert_eq!(error, AppendError::WrongExpectedVersion { stream: "a-1".into(), expected: ExpectedVersion::Exact(1), current: 2 });
    let error = append(&log, "a-2", ExpectedVersion::Exists, 1).await.unwrap_err();
    assert!(matches!(error, AppendError::WrongExpectedVersion { current: 0, .. }), "{error}");
    assert_eq!(log.head().await.unwrap().position, 2);
}

#[tokio::test]
async fn reusing_an_event_id_with_other_content_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let first = event(serde_json::json!({"n": 1}));
    log.append(request("a-1", ExpectedVersion::Any, vec![first.clone()])).await.unwrap();
    let mut changed = first.clone();
    changed.data = events::EventData::from_value(&serde_json::json!({"n": 2}));
    let error = log.append(request("a-1", ExpectedVersion::Any, vec![changed])).await.unwrap_err();
    assert_eq!(error, AppendError::IdempotencyConflict { id: first.id, stream: "a-1".into() });
    let elsewhere = log.append(request("a-2", ExpectedVersion::Any, vec![first.clone()])).await.unwrap_err();
    assert!(matches!(elsewhere, AppendError::IdempotencyConflict { .. }), "{elsewhere}");
    // The index is permanent: after a restart the same retry still returns the original position.
    drop(log);
    let log = open(dir.path());
    let again = log.append(request("a-1", ExpectedVersion::NoStream, vec![first])).await.unwrap();
    assert!(again.already_stored);
    assert_eq!(again.envelopes[0].position, 1);
}

#[tokio::test]
async fn malformed_appends_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let empty = append(&log, "a-1", ExpectedVersion::Any, 0).await.unwrap_err();
    assert_eq!(empty, AppendError::Invalid("an append needs at least one event".into()));
    let big = event(serde_json::json!({"blob": "x".repeat(tracker::store::MAX_EVENT_DATA_BYTES)}));
    let error = log.append(request("a-1", ExpectedVersion::Any, vec![big])).await.unwrap_err();
    assert!(matches!(&error, AppendError::Invalid(reason) if reason.contains("bytes of data")), "{error}");
    let twice = event(serde_json::json!({}));
    let error = log.append(request("a-1", ExpectedVersion::Any, vec![twice.clone(), twice])).await.unwrap_err();
    assert!(matches!(&error, AppendError::Invalid(reason) if reason.contains("appears twice")), "{error}");
    assert_eq!(log.head().await.unwrap().position, 0);
}

#[tokio::test]
async fn recorded_at_never_goes_backwards_and_waiters_wake_on_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(open(dir.path()));
    let waiter = {
        let log = std::sync::Arc::clone(&log);
        tokio::spawn(async move { log.wait_beyond(2).await })
    };
    for i in 0..5 {
        append(&log, &format!("a-{i}"), ExpectedVersion::Any, 1).await.unwrap();
    }
    let woke_at = waiter.await.unwrap().unwrap();
    assert!(woke_at > 2);
    let all = log.read_all(1, 100).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
    let head = log.head().await.unwrap();
    assert_eq!((head.position, head.hash), (5, all[4].hash));
}
