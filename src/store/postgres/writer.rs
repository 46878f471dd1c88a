//! The writer: one task per node takes every append waiting for it (group commit) and writes them in one
//! transaction, in two round trips of pipelined statements:
//!
//! 1. `BEGIN`; the head row locked (`FOR UPDATE`: the writers of every node queue here, so positions are
//!    gapless and commits follow position order), with the database's clock read after the lock; the versions
//!    of the batch's streams and guard streams; the events already stored under the batch's ids. Each statement
//!    runs after the lock was granted, so each sees every commit before it.
//! 2. Each request checked against that snapshot plus what the batch staged before it (expected version, guard,
//!    idempotent retry), exactly as the sled writer checks (`staging.rs`), its envelopes built and hashed in
//!    Rust; then the events inserted (one `unnest` insert of their canonical bytes), the streams' versions
//!    upserted, the head moved with a `pg_notify` of the new position, and `COMMIT`.
//!
//! An append is answered only after `COMMIT` returned (with `synchronous_commit = on`: the WAL is flushed). A
//! request refused by the checks is refused alone; should the database refuse a statement of a batch of several
//! requests, each is tried again in a transaction of its own, so a request that cannot be stored fails alone.
//! Should the connection be lost after the batch was sent, whether it committed is not known: the writer opens
//! a new connection, waits for the head row (which the lost transaction holds until the server ends it), and
//! looks for the batch's last event id — answering the batch as committed if it is there and trying the batch
//! again if it is not. An event is never acknowledged unless it is in the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use events::{Envelope, Timestamp};
use futures_util::future::{join, join4};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;
use uuid::Uuid;

use super::conn::{self, Connection, Sql};
use super::read::{bigint, decode_row, head_of};
use super::{refused, Failure, Inner};
use crate::store::staging::{batch_of, check_shape, stored_retry, versions_hold, ChainEnd};
use crate::store::{AppendError, AppendRequest, Appended, LogStats};

/// How often a batch is tried when the connection is lost under it.
const ATTEMPTS: usize = 3;

/// The versions of the batch's streams, and the events already stored under its ids: lookups by key that run
/// as unnamed statements, planned for each batch. Prepared once, PostgreSQL keeps a generic plan chosen while
/// a new database's tables are nearly empty — a scan of the whole table — until autovacuum analyzes them, over a
/// minute later (measured: 638 scans reading 3.3 M rows in the first 635 transactions, appends falling from
/// 1 036 to 628 per second).
const STREAM_VERSIONS: &str = "SELECT stream, version FROM streams WHERE stream = ANY($1::text[])";
const EVENTS_BY_ID: &str = "SELECT position, canonical, hash, event_id FROM events WHERE event_id = ANY($1::uuid[])";

type Reply = oneshot::Sender<Result<Appended, AppendError>>;
type Answer = Result<Appended, AppendError>;

/// The writer task and its inbox.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) requests: mpsc::UnboundedSender<(AppendRequest, Reply)>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

/// Starts the writer task on the engine's runtime.
pub(super) fn start(inner: &Arc<Inner>, max_batch_events: usize) -> Writer {
    let (requests, inbox) = mpsc::unbounded_channel();
    let task = inner.handle.spawn(run(Arc::clone(inner), inbox, max_batch_events.max(1)));
    Writer { requests, task }
}

async fn run(inner: Arc<Inner>, mut inbox: mpsc::UnboundedReceiver<(AppendRequest, Reply)>, max_batch: usize) {
    let mut connection = None;
    while let Some(first) = inbox.recv().await {
        let batch = batch_of(first, max_batch, || inbox.try_recv().ok());
        let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let answers = answer_batch(&inner, &mut connection, &requests).await;
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }
}

/// What one request of a batch will be answered with once the batch committed.
enum Outcome {
    /// New events, as indexes into the batch's staged envelopes.
    Staged(std::ops::Range<usize>),
    /// An idempotent retry: the events already stored (or staged earlier in this batch).
    AlreadyStored(Vec<Envelope>),
    Refused(AppendError),
}

/// A batch checked and staged against the snapshot its transaction read.
struct Staged {
    outcomes: Vec<Outcome>,
    envelopes: Vec<Envelope>,
    /// The canonical bytes of each staged envelope, as hashed.
    canonical: Vec<Vec<u8>>,
}

impl Staged {
    /// The answers once the batch is committed (or wrote nothing).
    fn answers(self) -> Vec<Answer> {
        let mut staged = self.envelopes.into_iter();
        self.outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::Staged(range) => Ok(Appended { envelopes: staged.by_ref().take(range.len()).collect(), already_stored: false }),
                Outcome::AlreadyStored(envelopes) => Ok(Appended { envelopes, already_stored: true }),
                Outcome::Refused(error) => Err(error),
            })
            .collect()
    }
}

/// How one try of a batch ended.
enum Tried {
    /// Committed, or nothing to write: the answers, and the new head when something was written.
    Done(Staged),
    /// The database refused a statement; nothing was committed.
    Refused(Failure),
    /// The connection failed; `sent` holds the batch when its `COMMIT` may have reached the server.
    Lost { failure: Failure, sent: Option<Staged> },
}

/// The writer's own connection, opened when it has none.
async fn connected<'c>(inner: &Inner, connection: &'c mut Option<Connection>) -> Result<&'c Connection, Failure> {
    if connection.as_ref().is_some_and(|c| c.client.is_closed()) {
        *connection = None;
    }
    if connection.is_none() {
        *connection = Some(conn::open(&inner.endpoint, conn::Role::Writer, &inner.handle).await?);
    }
    Ok(connection.as_ref().expect("just opened"))
}

/// Appends a batch and gives each request its answer, in order.
async fn answer_batch(inner: &Inner, connection: &mut Option<Connection>, requests: &[AppendRequest]) -> Vec<Answer> {
    let mut last_failure = None;
    for _ in 0..ATTEMPTS {
        let open = match connected(inner, connection).await {
            Ok(open) => open,
            Err(failure) => return refuse_all(requests, &failure),
        };
        match try_batch(inner, open, requests).await {
            Tried::Done(staged) => return acknowledge(inner, staged),
            Tried::Refused(failure) => {
                if open.client.batch_execute("ROLLBACK").await.is_err() {
                    *connection = None;
                }
                if requests.len() == 1 {
                    return refuse_all(requests, &failure);
                }
                // Each request alone, so that only the one the database refuses fails.
                let mut answers = Vec::with_capacity(requests.len());
                for request in requests {
                    answers.extend(Box::pin(answer_batch(inner, connection, std::slice::from_ref(request))).await);
                }
                return answers;
            }
            Tried::Lost { failure, sent } => {
                *connection = None;
                tracing::warn!(%failure, "the log writer lost its database connection");
                if let Some(staged) = sent {
                    let last = staged.envelopes.last().expect("a sent batch holds events").id;
                    match committed(inner, connection, last).await {
                        Ok(true) => return acknowledge(inner, staged),
                        Ok(false) => {}
                        Err(failure) => {
                            *connection = None;
                            let unknown = format!("the database connection was lost while committing and the outcome could not be read ({failure}); retry the request");
                            return requests.iter().map(|_| Err(AppendError::Unavailable(unknown.clone()))).collect();
                        }
                    }
                }
                last_failure = Some(failure);
            }
        }
    }
    let failure = last_failure.expect("every try failed");
    refuse_all(requests, &failure)
}

fn refuse_all(requests: &[AppendRequest], failure: &Failure) -> Vec<Answer> {
    requests.iter().map(|_| Err(failure.to_append())).collect()
}

/// Publishes the head a committed batch moved to and gives the answers.
fn acknowledge(inner: &Inner, staged: Staged) -> Vec<Answer> {
    if let Some(last) = staged.envelopes.last() {
        inner.publish(last.position);
    }
    staged.answers()
}

/// Whether the event `id` is in the log, read once no transaction holds the head row any more (the lost one
/// included: the server ends it when it notices the connection is gone, or after it sat idle for a minute).
async fn committed(inner: &Inner, connection: &mut Option<Connection>, id: Uuid) -> Result<bool, Failure> {
    let open = connected(inner, connection).await?;
    let client = &open.client;
    let (begin, lock, found, rollback) = join4(
        client.batch_execute("BEGIN"),
        client.query(open.statement(Sql::LockHead), &[]),
        client.query(open.statement(Sql::EventPosition), &[&id]),
        client.batch_execute("ROLLBACK"),
    )
    .await;
    begin?;
    lock?;
    rollback?;
    Ok(!found?.is_empty())
}

/// Sorts the results of pipelined statements: `Ok` when all succeeded; a refusal when the database refused
/// any (its transaction is then aborted, whatever else happened); else the connection's failure (which
/// includes the server ending the session: see [`refused`]).
fn settle(results: Vec<Result<(), tokio_postgres::Error>>) -> Result<(), (bool, Failure)> {
    let mut lost = None;
    for result in results {
        match result {
            Ok(()) => {}
            Err(error) if refused(&error) => return Err((true, Failure::from(error))),
            Err(error) => lost = lost.or(Some(Failure::from(error))),
        }
    }
    lost.map_or(Ok(()), |failure| Err((false, failure)))
}

/// One try of a batch on an open connection.
async fn try_batch(inner: &Inner, open: &Connection, requests: &[AppendRequest]) -> Tried {
    let client = &open.client;
    let mut streams: Vec<&str> = requests.iter().map(|r| r.stream.as_str()).collect();
    streams.extend(requests.iter().filter_map(|r| r.guard.as_ref().map(|g| g.stream.as_str())));
    streams.sort_unstable();
    streams.dedup();
    let ids: Vec<Uuid> = requests.iter().flat_map(|r| r.events.iter().map(|e| e.id)).collect();

    let (begin, lock, versions, stored) = join4(
        client.batch_execute("BEGIN"),
        client.query(open.statement(Sql::LockHead), &[]),
        client.query_typed(STREAM_VERSIONS, &[(&streams, Type::TEXT_ARRAY)]),
        client.query_typed(EVENTS_BY_ID, &[(&ids, Type::UUID_ARRAY)]),
    )
    .await;
    let split = |r: Result<Vec<Row>, tokio_postgres::Error>| match r {
        Ok(rows) => (Ok(()), rows),
        Err(error) => (Err(error), Vec::new()),
    };
    let ((lock_ok, lock), (versions_ok, versions), (stored_ok, stored)) = (split(lock), split(versions), split(stored));
    match settle(vec![begin, lock_ok, versions_ok, stored_ok]) {
        Ok(()) => {}
        Err((true, failure)) => return Tried::Refused(failure),
        Err((false, failure)) => return Tried::Lost { failure, sent: None },
    }
    let Some(head_row) = lock.first() else {
        return Tried::Refused(Failure::Schema("the log_head row is missing".into()));
    };
    let head = match head_of(head_row) {
        Ok(head) => head,
        Err(error) => return Tried::Refused(Failure::Schema(error.to_string())),
    };
    let now = Timestamp::from_micros(head_row.get(3));
    let mut staging = Staging {
        end: ChainEnd { next_position: head.position + 1, last_hash: head.hash, last_recorded_at: head.recorded_at },
        versions: versions.iter().map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1) as u64)).collect(),
        stored: stored.iter().map(|row| (row.get::<_, Uuid>(3), decode_row(row).map_err(|e| e.to_string()))).collect(),
        now,
        staged: Staged { outcomes: Vec::with_capacity(requests.len()), envelopes: Vec::new(), canonical: Vec::new() },
        staged_ids: HashMap::new(),
    };
    for request in requests {
        let outcome = staging.stage(request);
        staging.staged.outcomes.push(outcome);
    }
    let staged = staging.staged;
    if staged.envelopes.is_empty() {
        return match client.batch_execute("ROLLBACK").await {
            Ok(()) => Tried::Done(staged),
            Err(error) => Tried::Lost { failure: Failure::from(error), sent: None },
        };
    }
    let started = Instant::now();
    let written = write(open, &staged, &staging.versions).await;
    match written {
        Ok(()) => {
            let mut stats = inner.stats.lock();
            stats.commits += 1;
            stats.events += staged.envelopes.len() as u64;
            stats.batch_sizes[LogStats::bucket(staged.envelopes.len() as u64)] += 1;
            stats.sync_micros += started.elapsed().as_micros() as u64;
            drop(stats);
            Tried::Done(staged)
        }
        Err((true, failure)) => Tried::Refused(failure),
        Err((false, failure)) => Tried::Lost { failure, sent: Some(staged) },
    }
}

/// The second round trip: the events, the streams' versions, the head with its notification, and `COMMIT`,
/// pipelined. Committed only if every statement succeeded.
async fn write(open: &Connection, staged: &Staged, versions: &HashMap<String, u64>) -> Result<(), (bool, Failure)> {
    let client = &open.client;
    let envelopes = &staged.envelopes;
    let columns = EventColumns::of(envelopes);
    // Only the streams this batch wrote, each once, at its last version.
    let mut seen = std::collections::HashSet::new();
    let (written_streams, written_versions): (Vec<&str>, Vec<i64>) = envelopes
        .iter()
        .filter(|e| seen.insert(e.stream.as_str()))
        .map(|e| (e.stream.as_str(), bigint(versions[&e.stream])))
        .unzip();
    let last = envelopes.last().expect("a batch to write holds events");
    let (last_position, last_hash, last_recorded) = (bigint(last.position), &last.hash.0[..], last.recorded_at.as_micros());

    let events = columns.params(&staged.canonical);
    let stream_rows: [&(dyn ToSql + Sync); 2] = [&written_streams, &written_versions];
    let head: [&(dyn ToSql + Sync); 3] = [&last_position, &last_hash, &last_recorded];
    let insert = client.execute(open.statement(Sql::InsertEvents), &events);
    let upsert = client.execute(open.statement(Sql::UpsertStreams), &stream_rows);
    let moved = client.query(open.statement(Sql::MoveHead), &head);
    let commit = client.batch_execute("COMMIT");
    let ((insert, upsert), (moved, commit)) = join(join(insert, upsert), join(moved, commit)).await;
    let moved = match moved {
        Ok(rows) if rows.len() == 1 => Ok(()),
        Ok(_) => return Err((true, Failure::Schema("the log_head row is missing".into()))),
        Err(error) => Err(error),
    };
    settle(vec![insert.map(drop), upsert.map(drop), moved, commit])
}

/// The columns of [`Sql::InsertEvents`] for some envelopes, all but their canonical bytes.
pub(super) struct EventColumns<'a> {
    positions: Vec<i64>,
    streams: Vec<&'a str>,
    versions: Vec<i64>,
    ids: Vec<Uuid>,
    programmes: Vec<&'a str>,
    recorded: Vec<i64>,
    hashes: Vec<&'a [u8]>,
}

impl<'a> EventColumns<'a> {
    pub(super) fn of(envelopes: &'a [Envelope]) -> EventColumns<'a> {
        EventColumns {
            positions: envelopes.iter().map(|e| bigint(e.position)).collect(),
            streams: envelopes.iter().map(|e| e.stream.as_str()).collect(),
            versions: envelopes.iter().map(|e| bigint(e.version)).collect(),
            ids: envelopes.iter().map(|e| e.id).collect(),
            programmes: envelopes.iter().map(|e| e.programme.as_str()).collect(),
            recorded: envelopes.iter().map(|e| e.recorded_at.as_micros()).collect(),
            hashes: envelopes.iter().map(|e| &e.hash.0[..]).collect(),
        }
    }

    /// The statement's parameters, with the envelopes' canonical bytes in the same order.
    pub(super) fn params<'p>(&'p self, canonical: &'p Vec<Vec<u8>>) -> [&'p (dyn ToSql + Sync); 8] {
        [&self.positions, &self.streams, &self.versions, &self.ids, &self.programmes, &self.recorded, canonical, &self.hashes]
    }
}

/// The writer's view while it stages one batch: the snapshot its transaction read plus what it staged.
struct Staging {
    end: ChainEnd,
    /// Stream versions: those read, then those this batch moved.
    versions: HashMap<String, u64>,
    /// The stored events with the batch's ids, or why one is unreadable.
    stored: HashMap<Uuid, Result<Envelope, String>>,
    /// The database's clock, read after the head was locked.
    now: Timestamp,
    staged: Staged,
    staged_ids: HashMap<Uuid, usize>,
}

impl Staging {
    fn version(&self, stream: &str) -> u64 {
        self.versions.get(stream).copied().unwrap_or(0)
    }

    fn stage(&mut self, request: &AppendRequest) -> Outcome {
        if let Err(reason) = check_shape(request) {
            return Outcome::Refused(AppendError::Invalid(reason));
        }
        let retry = stored_retry(request, |id| match self.staged_ids.get(&id) {
            Some(&i) => Ok(Some(self.staged.envelopes[i].clone())),
            None => match self.stored.get(&id) {
                None => Ok(None),
                Some(Ok(envelope)) => Ok(Some(envelope.clone())),
                Some(Err(reason)) => Err(AppendError::Unavailable(reason.clone())),
            },
        });
        match retry {
            Ok(Some(envelopes)) => return Outcome::AlreadyStored(envelopes),
            Ok(None) => {}
            Err(error) => return Outcome::Refused(error),
        }
        let current = match versions_hold(request, |stream| Ok(self.version(stream))) {
            Ok(current) => current,
            Err(error) => return Outcome::Refused(error),
        };
        let start = self.staged.envelopes.len();
        let mut version = current;
        for proposed in &request.events {
            version += 1;
            let (envelope, canonical) = self.end.seal_keeping_bytes(request, proposed, version, self.now);
            self.staged_ids.insert(proposed.id, self.staged.envelopes.len());
            self.staged.envelopes.push(envelope);
            self.staged.canonical.push(canonical);
        }
        self.versions.insert(request.stream.clone(), version);
        Outcome::Staged(start..self.staged.envelopes.len())
    }
}
