//! The progress projection's snapshot in sled: saved with its position, restored and caught up on the next
//! start, and rebuilt from the log when its version changed, it belongs to another log, or it is unreadable.

use tracker::projection_store::{load_progress, Restored, SnapshotStore};
use tracker::report::replay;
use tracker::seed::load_seeds;
use tracker::store::ExpectedVersion;

use crate::helpers::{append, open};

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

#[tokio::test]
async fn a_saved_snapshot_is_restored_and_caught_up_to_the_same_state_as_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_seeds(&log, today()).await.unwrap();
    let (_, first) = load_progress(&log, &log).await.unwrap();
    assert_eq!(first, Restored::Rebuilt { reason: "no snapshot".into(), applied: 2 });
    for i in 0..3 {
        append(&log, &format!("a-{i}"), ExpectedVersion::Any, 1).await.unwrap();
    }
    drop(log);
    let log = open(dir.path());
    let (restored, how) = load_progress(&log, &log).await.unwrap();
    assert_eq!(how, Restored::FromSnapshot { position: 2, applied: 3 });
    assert_eq!(restored, replay(&log).await.unwrap());
    let (_, again) = load_progress(&log, &log).await.unwrap();
    assert_eq!(again, Restored::FromSnapshot { position: 5, applied: 0 });
}

async fn reason_after_replacing_snapshot(change: impl FnOnce(Vec<u8>) -> Vec<u8>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_seeds(&log, today()).await.unwrap();
    load_progress(&log, &log).await.unwrap();
    let bytes = log.load_snapshot("progress").unwrap().unwrap();
    log.save_snapshot("progress", &change(bytes)).unwrap();
    match load_progress(&log, &log).await.unwrap() {
        (projection, Restored::Rebuilt { reason, applied }) => {
            assert_eq!((applied, projection.position()), (2, 2));
            reason
        }
        (_, other) => panic!("expected a rebuild, got {other:?}"),
    }
}

#[tokio::test]
async fn a_snapshot_of_another_code_version_is_rebuilt() {
    let reason = reason_after_replacing_snapshot(|mut bytes| {
        bytes[3] = bytes[3].wrapping_add(1);
        bytes
    })
    .await;
    assert!(reason.starts_with("the snapshot has version"), "{reason}");
}

#[tokio::test]
async fn a_snapshot_that_does_not_belong_to_this_log_is_rebuilt() {
    let reason = reason_after_replacing_snapshot(|mut bytes| {
        bytes[20] ^= 0xff; // inside the chain hash
        bytes
    })
    .await;
    assert_eq!(reason, "the snapshot at position 2 does not belong to this log");
}

#[tokio::test]
async fn an_unreadable_snapshot_is_rebuilt() {
    let reason = reason_after_replacing_snapshot(|mut bytes| {
        bytes.truncate(bytes.len() - 10);
        bytes
    })
    .await;
    assert!(reason.starts_with("the snapshot is unreadable"), "{reason}");
}

#[tokio::test]
async fn a_snapshot_damaged_inside_its_state_is_rebuilt() {
    let reason = reason_after_replacing_snapshot(|mut bytes| {
        let middle = 76 + (bytes.len() - 76) / 2; // past the header, inside the state
        bytes[middle] ^= 0x01;
        bytes
    })
    .await;
    assert_eq!(reason, "the snapshot is unreadable: its checksum does not match");
}

#[tokio::test]
async fn the_log_opened_again_after_the_catch_up_takes_appends_and_restores_the_same_state() {
    use tracker::projection_store::open_with_progress_reopening;
    use tracker::store::{EventLog, SledLogOptions};
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_seeds(&log, today()).await.unwrap();
    append(&log, "a-1", ExpectedVersion::Any, 3).await.unwrap();
    drop(log);
    let options = SledLogOptions { create: false, ..SledLogOptions::default() };
    // Reopening after any catch-up (0): the path a server takes after rebuilding its projection at 1 M events.
    let (log, projection, how) = open_with_progress_reopening(dir.path(), options.clone(), 0).await.unwrap();
    assert_eq!(how, Restored::Rebuilt { reason: "no snapshot".into(), applied: 5 });
    assert_eq!(projection.position(), 5);
    let appended = append(&log, "a-1", ExpectedVersion::Exact(3), 1).await.unwrap();
    assert_eq!(appended.envelopes[0].position, 6);
    assert_eq!(log.read_stream("a-1", 1, 10).await.unwrap().len(), 4);
    drop(log);
    let (log, restored, how) = open_with_progress_reopening(dir.path(), options, 0).await.unwrap();
    assert_eq!(how, Restored::FromSnapshot { position: 5, applied: 1 });
    assert_eq!(restored, replay(&log).await.unwrap());
}

#[tokio::test]
async fn sled_opened_again_under_the_kept_indexes_reads_and_appends_as_a_fresh_open_does() {
    use tracker::store::{EventLog, SledLog, SledLogOptions};
    use crate::helpers::{event, request};
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let activity = format!("activity-{}", uuid::Uuid::now_v7());
    append(&log, &activity, ExpectedVersion::NoStream, 2).await.unwrap();
    append(&log, "a-1", ExpectedVersion::Any, 3).await.unwrap();
    let retried = request(&activity, ExpectedVersion::Exact(2), vec![event(serde_json::json!({"retry": 1}))]);
    let first = log.append(retried.clone()).await.unwrap();
    assert!(!first.already_stored);

    let log = log.reopen_storage(SledLogOptions::default()).unwrap();
    assert_eq!(log.replayed_at_open(), 0, "the close's checkpoint left nothing to replay");
    assert!(
        matches!(SledLog::open(dir.path(), SledLogOptions::default()), Err(tracker::store::OpenError::InUse(_))),
        "the directory stays locked"
    );
    assert_eq!(log.stream_version(&activity).await.unwrap(), Some(3));
    assert_eq!(log.stream_version("a-1").await.unwrap(), Some(3));
    let again = log.append(retried).await.unwrap();
    assert!(again.already_stored, "the event-id index was kept: the retry is recognised");
    assert_eq!(again.envelopes, first.envelopes);
    let next = append(&log, &activity, ExpectedVersion::Exact(3), 1).await.unwrap();
    assert_eq!(next.envelopes[0].position, 7);
    let read = log.read_stream(&activity, 1, 10).await.unwrap();
    assert_eq!(read.iter().map(|e| (e.position, e.version)).collect::<Vec<_>>(), vec![(1, 1), (2, 2), (6, 3), (7, 4)]);
    let kept: Vec<_> = log.read_all(1, 100).await.unwrap();
    drop(log);

    let log = open(dir.path());
    assert_eq!(log.read_all(1, 100).await.unwrap(), kept);
    assert_eq!(log.stream_version(&activity).await.unwrap(), Some(4));
    assert_eq!(log.read_stream(&activity, 1, 10).await.unwrap(), read);
}
