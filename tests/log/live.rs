//! The live progress projection (`src/live.rs`) applies every event once, in log order, whichever way it comes:
//! handed off by the activity command that appended it, or read from the log — events appended without a
//! hand-off, and those of requests dropped while their append was under way.

use std::sync::Arc;
use std::time::Duration;

use events::{CommandContext, Role, Slug};
use tracker::live::LiveProgress;
use tracker::report::replay;
use tracker::seed::load_seeds;
use tracker::service::{record, ActivityBody, ActivityTarget, ProgrammeCache};
use tracker::store::{EventLog, SledLog};

use crate::helpers::open;

fn coordinator() -> CommandContext {
    CommandContext {
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        role: Role::Coordinator { programme: Slug::parse("connection").unwrap() },
    }
}

/// Records one staff exchange in CONNECTION, handing its events to `live` when given.
async fn record_exchange(log: Arc<SledLog>, cache: Arc<ProgrammeCache>, live: Option<Arc<LiveProgress>>, days: u32) {
    let body = serde_json::json!({
        "kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino", "visitor": "paris",
        "cluster": "cop1", "days": days, "staff": 2
    });
    let text = serde_json::to_vec(&body).unwrap();
    let body = ActivityBody::Draft(events::ActivityDraft::read(&text).expect("the fast reader takes it"), text);
    let connection = Slug::parse("connection").unwrap();
    let target = ActivityTarget { programme: &connection, activity: uuid::Uuid::now_v7(), event_ids: None, new: true };
    record(log.as_ref(), &cache, live.as_deref(), target, &body, &coordinator(), "alexandra").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_projection_applies_every_event_once_whether_handed_off_or_read_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    load_seeds(log.as_ref(), coordinator().today).await.unwrap();
    let (live, follower) = LiveProgress::follow_from(replay(log.as_ref()).await.unwrap(), log.clone());
    let cache = Arc::new(ProgrammeCache::default());

    let mut tasks = Vec::new();
    for client in 0..24u32 {
        let (log, cache, live) = (log.clone(), cache.clone(), live.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..20u32 {
                // One client in four appends without a hand-off, as programme commands and seeds do.
                let handed = (client % 4 != 0).then(|| live.clone());
                record_exchange(log.clone(), cache.clone(), handed, 1 + (client + i) % 60).await;
            }
        }));
    }
    // Requests dropped while their append is under way: the event may be stored, never handed off.
    let mut dropped = Vec::new();
    for _ in 0..20 {
        let request = tokio::spawn(record_exchange(log.clone(), cache.clone(), Some(live.clone()), 7));
        tokio::task::yield_now().await;
        request.abort();
        dropped.push(request);
    }
    for task in tasks {
        task.await.unwrap();
    }
    for request in dropped {
        let _ = request.await;
    }

    let head = log.head().await.unwrap().position;
    assert!(head > 24 * 20, "{head}");
    assert!(live.wait_for(head, Duration::from_secs(60)).await, "the follower reached {} of {head}", live.position());
    let rebuilt = replay(log.as_ref()).await.unwrap();
    assert_eq!(rebuilt.position(), head);
    assert!(*live.read().await == rebuilt, "the live projection differs from one rebuilt from the log");
    follower.abort();
}
