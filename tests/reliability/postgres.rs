//! The PostgreSQL engine under faults, with the real `tracker serve` binary as child processes ("nodes") on one
//! database: SIGKILL of one of two nodes in the middle of their batches; the database ending every session of
//! the nodes under load; PostgreSQL itself stopped and started again under load (on a cluster of the test's
//! own). Each time nothing acknowledged is lost and nothing is half written (the tables agree with each
//! other), a request that meets the fault is answered 503 with a problem that says what happened, and the
//! nodes recover by themselves and listen for each other's events again.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::crash::{check_after_restart, Ledger};
use crate::pg_cluster::{fresh_database, superuser, OwnCluster};
use crate::server::{admin_token, assert_log_whole, eventually, exchange, Api, Server};

const PARTNERS: [&str; 4] = ["torino", "paris", "zagreb", "madrid"];
/// How long the recorders may take to reach a count, on a loaded 2-core machine.
const PROGRESS_WITHIN: Duration = Duration::from_secs(120);

/// A node on the database at `url`, with its data directory (which holds only the admin token) in `dir`.
fn node(dir: &std::path::Path, url: &str) -> Server {
    Server::start_with(dir, &[("TRACKER_STORE", url)]).unwrap_or_else(|refused| panic!("the node did not start ({}): {}", refused.status, refused.output))
}

/// Recorders posting staff exchanges to one node until stopped or the node is gone.
struct Recorders {
    tasks: Vec<JoinHandle<()>>,
    /// 201 answers so far.
    acknowledged: watch::Receiver<usize>,
    /// The problems of 503 answers.
    unavailable: Arc<Mutex<Vec<Value>>>,
}

impl Recorders {
    /// `count` recorders on `api`, their tags starting with `label`; every answer goes into `ledger`: a 201 as
    /// acknowledged; a 503, or no answer, as in flight (stored or not). Any other answer fails the test.
    fn start(api: &Api, tokens: &[(&'static str, String)], count: usize, label: &str, ledger: &Arc<Mutex<Ledger>>, stop: &watch::Receiver<bool>) -> Recorders {
        let (acked_tx, acknowledged) = watch::channel(0usize);
        let (acked_tx, unavailable) = (Arc::new(acked_tx), Arc::new(Mutex::new(Vec::new())));
        let tasks = (0..count)
            .map(|recorder| {
                let (partner, token) = tokens[recorder % tokens.len()].clone();
                let visitor = PARTNERS[(recorder + 1) % PARTNERS.len()];
                let (api, ledger, acked_tx, unavailable, stop) =
                    (api.clone(), Arc::clone(ledger), Arc::clone(&acked_tx), Arc::clone(&unavailable), stop.clone());
                let label = label.to_owned();
                tokio::spawn(async move {
                    for n in 0.. {
                        if *stop.borrow() {
                            return;
                        }
                        let tag = format!("{label} r{recorder} n{n}");
                        let body = exchange(partner, visitor, &format!("2022-03-{:02}", 1 + (recorder + n) % 28), &tag);
                        match api.post("/v1/programmes/connection/activities", &token, &body).await {
                            Ok((201, _, answer)) => {
                                let id = answer["id"].as_str().expect("an id").to_owned();
                                ledger.lock().acknowledged.insert(tag, (body, id));
                                acked_tx.send_modify(|n| *n += 1);
                            }
                            Ok((503, content_type, problem)) => {
                                assert_eq!(content_type, "application/problem+json", "{tag}: {problem}");
                                ledger.lock().in_flight.insert(tag, body);
                                unavailable.lock().push(problem);
                            }
                            Ok((status, _, answer)) => panic!("{tag}: {status} {answer}"),
                            Err(_) => {
                                ledger.lock().in_flight.insert(tag, body);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        Recorders { tasks, acknowledged, unavailable }
    }

    /// Waits until `count` more answers were 201 than at `since`; returns the count reached.
    async fn reach(&mut self, since: usize, count: usize, what: &str) -> usize {
        let reached = tokio::time::timeout(PROGRESS_WITHIN, self.acknowledged.wait_for(|&n| n >= since + count)).await;
        *reached.unwrap_or_else(|_| panic!("{what}: {count} more acknowledgements within {PROGRESS_WITHIN:?}")).unwrap()
    }

    fn acknowledged(&self) -> usize {
        *self.acknowledged.borrow()
    }

    async fn finish(self) -> Vec<Value> {
        for task in self.tasks {
            task.await.expect("a recorder");
        }
        let problems = self.unavailable.lock().clone();
        problems
    }
}

/// Two nodes on one database, both listening, with recorder tokens for the partners that both admit; `dir_a`
/// holds the admin token.
struct Pair {
    a: Server,
    b: Server,
    dir_a: tempfile::TempDir,
    _dir_b: tempfile::TempDir,
    admin: String,
    tokens: Vec<(&'static str, String)>,
}

async fn two_nodes(url: &str) -> Pair {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(dir_a.path(), url);
    let admin = admin_token(dir_a.path());
    let b = node(dir_b.path(), url);
    until_listening(url, 2, "at start").await;
    let tokens = recorder_tokens(&a, &admin).await;
    until_admitted(&b, &tokens).await;
    Pair { a, b, dir_a, _dir_b: dir_b, admin, tokens }
}

/// Recorder tokens for the partners, issued through `api`.
async fn recorder_tokens(api: &Api, admin: &str) -> Vec<(&'static str, String)> {
    let mut tokens = Vec::new();
    for partner in PARTNERS {
        tokens.push((partner, api.recorder(admin, partner).await));
    }
    tokens
}

/// Waits until `api` admits every token of `tokens` (a node follows the tokens issued through another every
/// 400 ms): an empty body is then refused as invalid (422), not the caller as unknown (401).
async fn until_admitted(api: &Api, tokens: &[(&'static str, String)]) {
    for (partner, token) in tokens {
        let admitted = || async move {
            let (status, _, answer) = api.post("/v1/programmes/connection/activities", token, &serde_json::json!({})).await.unwrap();
            (status != 401).then_some((status, answer))
        };
        let (status, answer) = eventually(&format!("the node admits {partner}'s token"), Duration::from_secs(30), admitted).await;
        assert_eq!(status, 422, "{partner}: {answer}");
    }
}

/// The log's tables agree with each other: as many events as the head's position, each stream's version
/// its last event's, no stream without events. (A half-written batch would break one of these.)
async fn assert_tables_agree(url: &str) {
    let client = superuser(url).await;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM events), (SELECT coalesce(max(position), 0) FROM events), \
             (SELECT position FROM log_head), \
             (SELECT count(*) FROM streams s WHERE version IS DISTINCT FROM \
                (SELECT max(version) FROM events e WHERE e.stream = s.stream)), \
             (SELECT count(DISTINCT stream) FROM events), (SELECT count(*) FROM streams)",
            &[],
        )
        .await
        .expect("reading the tables");
    let [events, last, head, wrong_versions, streams_with_events, streams]: [i64; 6] = std::array::from_fn(|i| row.get(i));
    assert_eq!((events, last), (head, head), "events 1..=head, no gap");
    assert_eq!(wrong_versions, 0, "each stream's version is its last event's");
    assert_eq!(streams_with_events, streams, "no stream without events");
}

/// Waits until `nodes` of the sessions on the database at `url` are nodes `LISTEN`ing for new events.
async fn until_listening(url: &str, nodes: i64, what: &str) {
    let (database, client) = (url.rsplit('/').next().unwrap().to_owned(), superuser(url).await);
    let (database, client) = (&database, &client);
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tracker-listener' \
               AND query ILIKE 'LISTEN%'";
    let listening = || async move {
        let row = client.query_one(sql, &[database]).await.expect("reading pg_stat_activity");
        (row.get::<_, i64>(0) == nodes).then_some(())
    };
    eventually(&format!("{what}: {nodes} nodes listen"), Duration::from_secs(30), listening).await;
}

/// Every 503 problem says what happened and what to do.
fn assert_clear(problems: &[Value]) {
    for problem in problems {
        assert_eq!(problem["status"], 503, "{problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(!detail.is_empty() && problem["title"].is_string(), "a 503 names its cause: {problem}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_one_of_two_nodes_mid_batch_loses_nothing_and_the_other_goes_on() {
    let url = fresh_database().await;
    let Pair { mut a, b, dir_a, _dir_b, admin, tokens } = two_nodes(&url).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (stop_tx, stop) = watch::channel(false);
    let mut on_a = Recorders::start(&a, &tokens, 16, "kill a", &ledger, &stop);
    let mut on_b = Recorders::start(&b, &tokens, 16, "kill b", &ledger, &stop);
    on_a.reach(0, 200, "node A").await;
    a.kill();
    // B's writer takes the head row after A's session ended with its transaction: B goes on.
    let at_kill = on_b.acknowledged();
    on_b.reach(at_kill, 100, "node B after A was killed").await;
    stop_tx.send_replace(true);
    assert!(on_a.finish().await.is_empty() && on_b.finish().await.is_empty(), "no 503 without a database fault");

    assert_tables_agree(&url).await;
    let (stored, in_flight) = check_after_restart(&b, &admin, &ledger, "on B after A was killed").await;
    let a = node(dir_a.path(), &url);
    check_after_restart(&a, &admin, &ledger, "on A restarted").await;
    eprintln!("{stored} activities stored, {in_flight} of them in flight at the kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_whose_sessions_the_database_ends_under_load_recover_and_listen_again() {
    let url = fresh_database().await;
    let Pair { a, b, admin, tokens, dir_a: _dir_a, _dir_b } = two_nodes(&url).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (stop_tx, stop) = watch::channel(false);
    let mut on_a = Recorders::start(&a, &tokens, 16, "end a", &ledger, &stop);
    let database = url.rsplit('/').next().unwrap().to_owned();
    let cluster = superuser(&crate::pg_cluster::url("postgres")).await;
    let mut ended = 0;
    for round in 0..3 {
        let now = on_a.acknowledged();
        on_a.reach(now, 60, &format!("before ending the sessions, round {round}")).await;
        let terminate = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()";
        ended += cluster.query_one(terminate, &[&database]).await.unwrap().get::<_, i64>(0);
    }
    // Recovered by itself: it acknowledges again, and both nodes listen again.
    let now = on_a.acknowledged();
    on_a.reach(now, 60, "after the sessions were ended").await;
    until_listening(&url, 2, "after the sessions were ended").await;
    stop_tx.send_replace(true);
    let problems = on_a.finish().await;
    assert_clear(&problems);
    assert!(ended >= 6, "each round ended the writer's and the listener's sessions at least; {ended} in all");

    assert_tables_agree(&url).await;
    // B learnt of A's appends (its projection counts them) and reads the whole chain.
    check_after_restart(&b, &admin, &ledger, "on B").await;
    let events = assert_log_whole(&a, &admin, "on A").await;
    eprintln!("{ended} sessions ended; {} events; {} answers 503", events.len(), problems.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgresql_restart_under_load_answers_503_while_down_and_loses_nothing() {
    let mut cluster = tokio::task::spawn_blocking(OwnCluster::start).await.unwrap();
    let url = cluster.url("postgres");
    let Pair { a, b, admin, tokens, dir_a: _dir_a, _dir_b } = two_nodes(&url).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (stop_tx, stop) = watch::channel(false);
    let mut on_a = Recorders::start(&a, &tokens, 8, "restart a", &ledger, &stop);
    let mut on_b = Recorders::start(&b, &tokens, 8, "restart b", &ledger, &stop);
    on_a.reach(0, 100, "before the restart").await;
    cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    // While the database is down, writes are refused at once with a 503 that says so.
    let (_, token) = &tokens[0];
    let while_down = a.client().post(a.url("/v1/programmes/connection/activities")).bearer_auth(token);
    let answer = while_down.json(&exchange("torino", "paris", "2022-04-01", "while down")).send().await.unwrap();
    assert_eq!(answer.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"), "a 503 says when to retry");
    let (status, content_type) = (answer.status().as_u16(), answer.headers()["content-type"].to_str().unwrap().to_owned());
    let problem: Value = answer.json().await.unwrap();
    assert_eq!((status, content_type.as_str()), (503, "application/problem+json"), "{problem}");
    assert_clear(&[problem]);
    ledger.lock().in_flight.insert("while down".into(), exchange("torino", "paris", "2022-04-01", "while down"));
    let (status, problem) = b.get("/v1/events?from=1&limit=10", &admin).await;
    assert_eq!(status, 503, "reads of the log are refused too: {problem}");

    cluster = tokio::task::spawn_blocking(move || {
        cluster.start_again();
        cluster
    })
    .await
    .unwrap();
    let (now_a, now_b) = (on_a.acknowledged(), on_b.acknowledged());
    on_a.reach(now_a, 60, "node A after the restart").await;
    on_b.reach(now_b, 60, "node B after the restart").await;
    until_listening(&url, 2, "after the restart").await;
    stop_tx.send_replace(true);
    let mut problems = on_a.finish().await;
    problems.extend(on_b.finish().await);
    assert_clear(&problems);

    assert_tables_agree(&url).await;
    let (stored, _) = check_after_restart(&b, &admin, &ledger, "on B after the restart").await;
    check_after_restart(&a, &admin, &ledger, "on A after the restart").await;
    eprintln!("{stored} activities stored; {} answers 503 while PostgreSQL restarted, such as {}", problems.len(), problems[0]);
    drop(cluster);
}
