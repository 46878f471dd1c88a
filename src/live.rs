//! The progress projection kept current while the server runs: restored from its snapshot (or rebuilt) at
//! start by `projection_store::open_with_progress`, then a follower task applies every new event as the log announces it — it waits on the log's head,
//! it never polls. Requests read it under a read lock; a request that must reflect the log as it stands (a
//! progress report after a write) first waits until the follower has applied the head it saw.

use std::sync::Arc;
use std::time::Duration;

use projections::ProgressProjection;
use tokio::sync::{watch, RwLock, RwLockReadGuard};

use crate::projection_store::{save_progress, SnapshotStore};
use crate::store::{EventLog, ReadError};

/// Events applied under one hold of the write lock.
const BATCH: usize = 1024;

/// The live progress projection.
#[derive(Debug)]
pub struct LiveProgress {
    projection: RwLock<ProgressProjection>,
    applied: watch::Sender<u64>,
}

impl LiveProgress {
    /// Starts following the log from a projection already restored (see `projection_store::open_with_progress`).
    pub fn follow_from(projection: ProgressProjection, log: Arc<dyn EventLog>) -> (Arc<LiveProgress>, tokio::task::JoinHandle<()>) {
        let (applied, _) = watch::channel(projection.position());
        let live = Arc::new(LiveProgress { projection: RwLock::new(projection), applied });
        let follower = tokio::spawn(follow(Arc::clone(&live), log));
        (live, follower)
    }

    /// The projection, for reading. Do not hold it across a long wait: the follower needs the write lock.
    pub async fn read(&self) -> RwLockReadGuard<'_, ProgressProjection> {
        self.projection.read().await
    }

    /// The last position applied.
    pub fn position(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until every event up to `position` is applied, at most `timeout`; `false` if it is not by then.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(timeout, applied.wait_for(|&p| p >= position)).await.is_ok_and(|r| r.is_ok())
    }

    /// Saves a snapshot of the projection as it stands, so the next start only catches up from here.
    pub async fn save(&self, log: &dyn EventLog, snapshots: &dyn SnapshotStore) -> Result<(), ReadError> {
        let projection = self.projection.read().await;
        save_progress(log, snapshots, &projection).await
    }
}

async fn follow(live: Arc<LiveProgress>, log: Arc<dyn EventLog>) {
    loop {
        let position = live.position();
        if let Err(error) = log.wait_beyond(position).await {
            tracing::debug!(%error, "the progress follower stops");
            return;
        }
        loop {
            let from = live.position() + 1;
            let batch = match log.read_all(from, BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(%error, position = from, "the progress follower cannot read the log");
                    return;
                }
            };
            let Some(last) = batch.last().map(|e| e.position) else { break };
            // Decoding is the costly half of applying and needs no lock: readers wait only for the other half.
            let events: Vec<_> = batch.iter().map(ProgressProjection::decode).collect();
            let mut projection = live.projection.write().await;
            for (envelope, event) in batch.iter().zip(events) {
                projection.apply_decoded(envelope, event);
            }
            drop(projection);
            live.applied.send_replace(last);
        }
    }
}
