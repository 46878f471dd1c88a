//! A `COMMIT` whose outcome the writer cannot know, made to happen on purpose: the log talks to PostgreSQL
//! through a small proxy in this test that reads the wire protocol's messages and, when told to, cuts the
//! connection at one exact place — after the server answered `COMMIT` (the batch is committed, the writer never
//! hears so) or before the client's `COMMIT` reaches the server (the batch is rolled back when its session
//! ends). Either way every append is answered as the database has it: once committed, it is acknowledged as
//! new (found by event id, not appended again); once rolled back, it is appended again; each event is stored
//! exactly once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracker::store::{EventLog, ExpectedVersion, PgLog};

use crate::conformance::{event, request};
use crate::engines::open_postgres;
use crate::pg_cluster::{cluster, fresh_database};

const WITHIN: Duration = Duration::from_secs(20);

/// Where the proxy cuts the next connection that commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// Drops the server's `CommandComplete` for `COMMIT`: committed, and the client never hears it.
    CommitAnswer,
    /// Drops the client's `COMMIT` query: the server sees the session end inside the transaction.
    CommitQuery,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    ToServer,
    ToClient,
}

/// A proxy between the log and the test cluster.
struct Proxy {
    /// The database's connection string, through the proxy.
    url: String,
    armed: Arc<Mutex<Option<Cut>>>,
    cuts: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(database_url: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let database = database_url.rsplit('/').next().unwrap();
        // No TLS negotiation: every message on the wire is a framed one from the start.
        let url = format!("postgres://postgres@127.0.0.1:{port}/{database}?sslmode=disable");
        let (armed, cuts) = (Arc::new(Mutex::new(None)), Arc::new(AtomicUsize::new(0)));
        let upstream = cluster().port;
        let (plan, count) = (Arc::clone(&armed), Arc::clone(&cuts));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { continue };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let (cut, _) = watch::channel(false);
                let plan = Plan { armed: Arc::clone(&plan), cuts: Arc::clone(&count), cut };
                tokio::spawn(pump(client_read, server_write, Direction::ToServer, plan.clone()));
                tokio::spawn(pump(server_read, client_write, Direction::ToClient, plan));
            }
        });
        Proxy { url, armed, cuts }
    }

    fn arm(&self, cut: Cut) {
        *self.armed.lock() = Some(cut);
    }

    fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// What both directions of one proxied connection share.
#[derive(Clone)]
struct Plan {
    armed: Arc<Mutex<Option<Cut>>>,
    cuts: Arc<AtomicUsize>,
    /// Set when this connection is cut: both directions stop.
    cut: watch::Sender<bool>,
}

impl Plan {
    /// Whether `message` is where the armed cut falls; disarms it if so.
    fn cuts_at(&self, direction: Direction, message: &[u8]) -> bool {
        let mut armed = self.armed.lock();
        let here = match *armed {
            Some(Cut::CommitAnswer) => direction == Direction::ToClient && message[0] == b'C' && &message[5..] == b"COMMIT\0",
            Some(Cut::CommitQuery) => direction == Direction::ToServer && message[0] == b'Q' && message[5..].starts_with(b"COMMIT"),
            None => false,
        };
        if here {
            *armed = None;
            self.cuts.fetch_add(1, Ordering::SeqCst);
        }
        here
    }
}

/// Relays one direction message by message until either side ends or the connection is cut; then ends its
/// half of the relay (the peer reads the end of the stream).
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, direction: Direction, plan: Plan) {
    let mut cut = plan.cut.subscribe();
    // The client's first message, the startup message, has no type byte.
    let mut startup = direction == Direction::ToServer;
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    'relay: loop {
        let read = tokio::select! {
            read = from.read(&mut chunk) => read,
            _ = cut.wait_for(|&cut| cut) => break 'relay,
        };
        let n = match read {
            Ok(0) | Err(_) => break 'relay,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        while let Some(message) = next_message(&mut pending, &mut startup) {
            if plan.cuts_at(direction, &message) {
                plan.cut.send_replace(true);
                break 'relay;
            }
            if to.write_all(&message).await.is_err() {
                break 'relay;
            }
        }
    }
    let _ = to.shutdown().await;
}

/// The first whole message in `pending`, taken out of it.
fn next_message(pending: &mut Vec<u8>, startup: &mut bool) -> Option<Vec<u8>> {
    let at = if *startup { 0 } else { 1 };
    let length = u32::from_be_bytes(pending.get(at..at + 4)?.try_into().unwrap()) as usize;
    if pending.len() < at + length {
        return None;
    }
    *startup = false;
    Some(pending.drain(..at + length).collect())
}

/// Appends `count` events at once, each to a stream of its own; their answers.
async fn append_together(log: &Arc<PgLog>, count: usize) -> Vec<tracker::store::Appended> {
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let log = Arc::clone(log);
            tokio::spawn(async move { log.append(request(&format!("a-together-{n}"), ExpectedVersion::NoStream, vec![event(json!({"n": n}))])).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(tokio::time::timeout(WITHIN, task).await.expect("answered").unwrap().expect("acknowledged"));
    }
    answers
}

/// The log through a fresh proxy, with one event appended (so the writer's connection is open).
async fn proxied_log() -> (Proxy, Arc<PgLog>) {
    let proxy = Proxy::start(&fresh_database().await).await;
    let log = Arc::new(open_postgres(&proxy.url).await);
    log.append(request("a-first", ExpectedVersion::NoStream, vec![event(json!({"first": true}))])).await.expect("the first append");
    (proxy, log)
}

/// After the cut: the acknowledged events and the first are the log, each once, and the chain verifies.
async fn assert_each_stored_once(log: &PgLog, answers: &[tracker::store::Appended]) {
    let stored = log.read_all(1, 1000).await.unwrap();
    assert_eq!(stored.len(), answers.len() + 1, "each event once: {:?}", stored.iter().map(|e| &e.stream).collect::<Vec<_>>());
    let acknowledged: HashSet<_> = answers.iter().map(|a| (a.envelopes[0].id, a.envelopes[0].position)).collect();
    let found: HashSet<_> = stored[1..].iter().map(|e| (e.id, e.position)).collect();
    assert_eq!(found, acknowledged, "acknowledged at the positions where they are stored");
    let report = tracker::audit::verify_log(log, |_, _| {}).await.unwrap();
    assert!(report.ok(), "{report:?}");
    let after = log.append(request("a-after", ExpectedVersion::NoStream, vec![event(json!({"after": true}))])).await.unwrap();
    assert_eq!(after.last_position(), stored.len() as u64 + 1, "the writer goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_commit_answer_is_lost_is_found_committed_and_acknowledged_as_new() {
    let (proxy, log) = proxied_log().await;
    proxy.arm(Cut::CommitAnswer);
    let answers = append_together(&log, 8).await;
    assert_eq!(proxy.cuts(), 1, "the proxy cut one commit's answer");
    // Found by event id in the log: answered as appended, not as an idempotent retry of a stored event.
    assert!(answers.iter().all(|a| !a.already_stored), "{answers:?}");
    assert_each_stored_once(&log, &answers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_commit_never_reached_the_database_is_appended_again() {
    let (proxy, log) = proxied_log().await;
    proxy.arm(Cut::CommitQuery);
    let answers = append_together(&log, 8).await;
    assert_eq!(proxy.cuts(), 1, "the proxy cut one commit");
    assert!(answers.iter().all(|a| !a.already_stored), "{answers:?}");
    assert_each_stored_once(&log, &answers).await;
}
