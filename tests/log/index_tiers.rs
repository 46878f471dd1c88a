//! The log's index in its three tiers (`src/store/index.rs`: big sorted arrays, a middle tier, hash maps),
//! through the log itself: with events of one stream in each tier, its version, reads from any version, the
//! check of an expected version and the recognition of a repeated event id agree with what was appended, and
//! again after a reopen, which puts every event in the big arrays.
//!
//! The positions follow the index's merges (every 4 096 appends the maps move into the middle tier, which
//! moves into the big arrays while it holds at least an eighth of them): after 40 960 appends the big arrays
//! hold positions 1–36 864 and the middle tier 36 865–40 960; what follows is in the maps. The unit tests of
//! `index.rs` check that arithmetic against the tiers themselves.

use tracker::store::{AppendError, AppendRequest, EventLog, ExpectedVersion, SledLog};

use crate::helpers::{event, open, request};

/// The last position of the big arrays, and of the middle tier, after 40 960 appends.
const BIG_END: u64 = 36_864;
const MIDDLE_END: u64 = 40_960;

fn activity() -> String {
    format!("activity-{}", uuid::Uuid::now_v7())
}

/// Appends events of new activity streams, 512 to a request, until the head is at `to`.
async fn fill(log: &SledLog, to: u64) {
    loop {
        let head = log.head().await.unwrap().position;
        if head >= to {
            assert_eq!(head, to);
            return;
        }
        let n = (to - head).min(512);
        let events = (0..n).map(|i| event(serde_json::json!({"filler": i}))).collect();
        log.append(request(&activity(), ExpectedVersion::NoStream, events)).await.unwrap();
    }
}

/// A request of one event.
fn one(stream: &str, expected: ExpectedVersion) -> AppendRequest {
    request(stream, expected, vec![event(serde_json::json!({"stream": stream}))])
}

/// The position of a one-event append.
async fn position(log: &SledLog, stream: &str, expected: ExpectedVersion) -> u64 {
    log.append(one(stream, expected)).await.unwrap().envelopes[0].position
}

/// The positions of the stream's events from `from_version` on.
async fn positions(log: &SledLog, stream: &str, from_version: u64) -> Vec<u64> {
    let envelopes = log.read_stream(stream, from_version, 100).await.unwrap();
    assert!(envelopes.iter().all(|e| e.stream == stream));
    assert!(envelopes.windows(2).all(|w| w[1].version == w[0].version + 1), "versions without gaps");
    envelopes.iter().map(|e| e.position).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_with_events_in_every_tier_of_the_index_read_and_append_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    // `across`: one event in each tier; `middle`: only in the middle tier; `late`: only in the maps.
    let (across, middle, late) = (activity(), activity(), activity());
    assert_eq!(position(&log, &across, ExpectedVersion::NoStream).await, 1);
    fill(&log, BIG_END + 100).await;
    let second_request = one(&across, ExpectedVersion::Exact(1));
    let p2 = log.append(second_request.clone()).await.unwrap().envelopes[0].position;
    let pm = position(&log, &middle, ExpectedVersion::NoStream).await;
    assert_eq!((p2, pm), (BIG_END + 101, BIG_END + 102));
    fill(&log, MIDDLE_END).await;
    let p3 = position(&log, &across, ExpectedVersion::Exact(2)).await;
    let pl = position(&log, &late, ExpectedVersion::NoStream).await;
    assert_eq!((p3, pl), (MIDDLE_END + 1, MIDDLE_END + 2));

    let expected = Expected { across: vec![1, p2, p3], middle: vec![pm], late: vec![pl] };
    check(&log, &[&across, &middle, &late], &expected, &second_request, "after the appends").await;

    // One more event of the stream only in the middle tier puts it in the maps too.
    let pm2 = position(&log, &middle, ExpectedVersion::Exact(1)).await;
    let expected = Expected { middle: vec![pm, pm2], ..expected };
    check(&log, &[&across, &middle, &late], &expected, &second_request, "across the middle tier and the maps").await;

    drop(log);
    let log = open(dir.path());
    check(&log, &[&across, &middle, &late], &expected, &second_request, "after the reopen").await;
}

/// The positions of each stream's events.
struct Expected {
    across: Vec<u64>,
    middle: Vec<u64>,
    late: Vec<u64>,
}

/// Checks each stream's version, reads from each version, a retry of `retry` (the second event of the
/// first stream) and appends at stale versions.
async fn check(log: &SledLog, streams: &[&String; 3], expected: &Expected, retry: &AppendRequest, when: &str) {
    for (stream, positions_expected) in streams.iter().zip([&expected.across, &expected.middle, &expected.late]) {
        let version = positions_expected.len() as u64;
        assert_eq!(log.stream_version(stream).await.unwrap(), Some(version), "{when}: {stream}");
        for from in 1..=version + 1 {
            let tail = positions_expected[(from - 1) as usize..].to_vec();
            assert_eq!(positions(log, stream, from).await, tail, "{when}: {stream} from {from}");
        }
        let first = log.read_stream(stream, 1, 1).await.unwrap();
        assert_eq!(first[0].position, positions_expected[0], "{when}: {stream}");
        let stale = log.append(one(stream, ExpectedVersion::Exact(version - 1))).await;
        assert!(
            matches!(&stale, Err(AppendError::WrongExpectedVersion { current, .. }) if *current == version),
            "{when}: {stream}: {stale:?}"
        );
    }
    assert_eq!(log.stream_version(&activity()).await.unwrap(), None, "{when}");
    // The retried event is in the middle tier (in the big arrays after the reopen): recognised by its id.
    let retried = log.append(retry.clone()).await.unwrap();
    assert!(retried.already_stored, "{when}");
    assert_eq!(retried.envelopes[0].position, expected.across[1], "{when}");
}
