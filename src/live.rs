//! The progress projection kept current while the server runs: restored from its snapshot (or rebuilt) at
//! start by `projection_store::open_with_progress`, then a follower task applies every new event as the log announces it — it waits on the log's head,
//! it never polls. Requests read it under a read lock; a request that must reflect the log as it stands (a
//! progress report after a write) first waits until the follower has applied the head it saw.
//!
//! The follower applies each position once, in log order, from one of two sources. Activity commands hand it
//! the events they just appended, already decoded (`Appending::deliver`), which saves reading them back from
//! the log and decoding them again; everything else — programme commands, the seeds, events of an append whose
//! request was dropped, anything that went past the hand-off — is read from the log. The follower reads the
//! log at a missing position unless an append still under way may bring it: one sent when the head was
//! before that position (`Appending` records the head it was made at, and is dropped when the append ends).
//! A read of the log that fails (its database restarting, a connection lost) is tried again after a pause
//! that doubles with each failure in a row, from 125 ms up to 1 s: the follower never gives up while the
//! server runs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use events::{DomainEvent, Envelope};
use projections::ProgressProjection;
use tokio::sync::{watch, Notify, RwLock, RwLockReadGuard};

use crate::projection_store::{save_progress, SnapshotStore};
use crate::store::{EventLog, ReadError};

/// Events applied under one hold of the write lock.
const BATCH: usize = 1024;
/// How long the follower waits before reading the log again after a failed read; doubled for each failure in a
/// row, up to eight times as long.
const RETRY_FIRST: Duration = Duration::from_millis(125);

/// Most events the hand-off keeps for the follower; past that (a follower that stopped) they are dropped and
/// the follower, if it goes on, reads them from the log.
const HAND_OFF_LIMIT: usize = 16 * 1024;

/// The live progress projection.
#[derive(Debug)]
pub struct LiveProgress {
    projection: RwLock<ProgressProjection>,
    applied: watch::Sender<u64>,
    hand_off: parking_lot::Mutex<HandOff>,
    /// Signalled when an append under way ends, delivered or not.
    ended: Notify,
}

/// Events appended in this process, handed to the follower, and the appends still under way.
#[derive(Debug, Default)]
struct HandOff {
    /// Appended events by position, each with the event it holds.
    events: BTreeMap<u64, (Envelope, Option<DomainEvent>)>,
    /// Appends under way, counted by the head the log had before each was sent: an append takes positions
    /// after that head only.
    under_way: BTreeMap<u64, usize>,
}

/// An append under way whose events the follower may take from the hand-off. Dropped without
/// [`Appending::deliver`] (the append failed or appended nothing, or the request was dropped), it tells the
/// follower not to wait for it.
#[derive(Debug)]
pub struct Appending<'a> {
    live: &'a LiveProgress,
    head: u64,
}

impl Appending<'_> {
    /// Hands the follower what the append stored: its envelopes and the events they hold, in order.
    pub fn deliver(self, envelopes: &[Envelope], events: Vec<DomainEvent>) {
        let mut hand_off = self.live.hand_off.lock();
        // Read under the lock: the follower moves `applied` before it prunes under it, so an event it already
        // applied is either refused here or pruned there.
        let applied = self.live.position();
        for (envelope, event) in envelopes.iter().zip(events) {
            if envelope.position > applied && hand_off.events.len() < HAND_OFF_LIMIT {
                hand_off.events.insert(envelope.position, (envelope.clone(), Some(event)));
            }
        }
    }
}

impl Drop for Appending<'_> {
    fn drop(&mut self) {
        let mut hand_off = self.live.hand_off.lock();
        if let Some(count) = hand_off.under_way.get_mut(&self.head) {
            *count -= 1;
            if *count == 0 {
                hand_off.under_way.remove(&self.head);
            }
        }
        drop(hand_off);
        self.live.ended.notify_one();
    }
}

/// What the hand-off has for the follower at a position.
enum Handed {
    /// The events from that position on, in order without gaps.
    Events(Vec<(Envelope, Option<DomainEvent>)>),
    /// Nothing yet, but an append under way may bring it.
    Awaited,
    /// Nothing, and no append under way can bring it: it is the log's to give.
    FromLog,
}

impl LiveProgress {
    /// Starts following the log from a projection already restored (see `projection_store::open_with_progress`).
    pub fn follow_from(projection: ProgressProjection, log: Arc<dyn EventLog>) -> (Arc<LiveProgress>, tokio::task::JoinHandle<()>) {
        let (applied, _) = watch::channel(projection.position());
        let live = Arc::new(LiveProgress {
            projection: RwLock::new(projection),
            applied,
            hand_off: parking_lot::Mutex::new(HandOff::default()),
            ended: Notify::new(),
        });
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

    /// Announces an append about to be sent to the log, whose head is at `head`; see [`Appending`].
    pub fn appending(&self, head: u64) -> Appending<'_> {
        *self.hand_off.lock().under_way.entry(head).or_default() += 1;
        Appending { live: self, head }
    }

    /// The handed-off events from `from` on (at most `limit`), or whether to wait for them or read the log.
    fn handed(&self, from: u64, limit: usize) -> Handed {
        let mut hand_off = self.hand_off.lock();
        let mut events = Vec::new();
        while events.len() < limit {
            match hand_off.events.remove(&(from + events.len() as u64)) {
                Some(entry) => events.push(entry),
                None => break,
            }
        }
        if !events.is_empty() {
            Handed::Events(events)
        } else if hand_off.under_way.range(..from).next().is_some() {
            Handed::Awaited
        } else {
            Handed::FromLog
        }
    }

    /// Marks every position up to `last` applied and forgets the handed-off events it covers.
    fn applied_up_to(&self, last: u64) {
        self.applied.send_replace(last);
        let mut hand_off = self.hand_off.lock();
        let kept = hand_off.events.split_off(&(last + 1));
        hand_off.events = kept;
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
    // Reads of the log that failed in a row.
    let mut failures = 0u32;
    loop {
        let position = live.position();
        let head = match log.wait_beyond(position).await {
            Ok(head) => head,
            Err(error) => {
                tracing::debug!(%error, "the progress follower stops");
                return;
            }
        };
        while live.position() < head {
            let from = live.position() + 1;
            let batch = match live.handed(from, BATCH) {
                Handed::Events(events) => events,
                Handed::Awaited => {
                    // An append under way may bring this position; it signals when it ends, delivered or not.
                    live.ended.notified().await;
                    continue;
                }
                Handed::FromLog => match log.read_all(from, BATCH).await {
                    // Decoding is the costly half of applying and needs no lock: readers wait only for the other half.
                    Ok(envelopes) => envelopes
                        .into_iter()
                        .map(|envelope| {
                            let event = ProgressProjection::decode(&envelope);
                            (envelope, event)
                        })
                        .collect(),
                    Err(error) => {
                        // The log's store is out of reach for now (a database restarting, its connection
                        // lost): tried again, less often the longer it lasts, until it answers.
                        if failures == 0 {
                            tracing::error!(%error, position = from, "the progress follower cannot read the log; trying again");
                        }
                        failures += 1;
                        tokio::time::sleep(RETRY_FIRST * 2u32.pow(failures.min(4) - 1)).await;
                        continue;
                    }
                },
            };
            if failures > 0 {
                tracing::info!(after = failures, "the progress follower reads the log again");
                failures = 0;
            }
            let Some(last) = batch.last().map(|(e, _)| e.position) else { break };
            let mut projection = live.projection.write().await;
            for (envelope, event) in batch {
                projection.apply_decoded(&envelope, event);
            }
            drop(projection);
            live.applied_up_to(last);
        }
    }
}
