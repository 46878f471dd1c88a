//! Three servers ("nodes") on one PostgreSQL database serve one log under load: 32 HTTP writers spread over the
//! nodes while a reader, rotating over the nodes, asserts on every poll that the positions it sees run from 1
//! without a gap, and an SSE client on node C streams every event, A's and B's included, in position order.
//! Afterwards every acknowledged activity reads back through another node at its position, the chain verifies
//! on each node to the same head, and each node's progress counts the same. A token revoked through A is refused
//! by B and C within a second, and 16 concurrent retries with one `Idempotency-Key`, spread over the nodes, make
//! one activity and get one answer.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::Barrier;
use tracker::store::StoreLocation;

use crate::helpers::{eventually, exchange, indicator, spawn_on, TestApp};
use crate::log::next_events;
use crate::pg_cluster::fresh_database;

/// HTTP writers, writer `i` on node `i % 3`.
const WRITERS: usize = 32;
/// Exchanges each writer records.
const EACH: usize = 20;
/// Concurrent requests with one `Idempotency-Key`.
const RETRIES: usize = 16;
const ACTIVITIES: &str = "/v1/programmes/connection/activities";
/// The recorders' partners, each hosting exchanges of CoP1 (whose members they are) with a visitor.
const HOSTS: [(&str, &str); 4] = [("torino", "paris"), ("paris", "zagreb"), ("zagreb", "torino"), ("anci-piemonte", "torino")];
/// The partner whose recorder sends the idempotent retries: no writer records for it.
const RETRYING: &str = "thessaloniki-region";
const NAMES: [&str; 3] = ["A", "B", "C"];

/// An acknowledged activity: its id and position as the 201 said, the node that said it, its unique notes.
#[derive(Clone, Debug)]
struct Ack {
    id: String,
    position: u64,
    node: usize,
    notes: String,
}

async fn node(url: &str, admin: Option<String>) -> TestApp {
    spawn_on(tempfile::tempdir().unwrap(), StoreLocation::Postgres(url.to_owned()), admin).await
}

async fn head_of(node: &TestApp) -> u64 {
    node.get("/v1/audit/head", None).await.expect(200).json()["position"].as_u64().expect("a head position")
}

/// Writer `writer`'s exchanges, each posted to its node and answered 201 (anything else fails with the body).
async fn write(nodes: Arc<Vec<TestApp>>, token: String, writer: usize) -> Vec<Ack> {
    let node = writer % nodes.len();
    let (host, visitor) = HOSTS[writer % HOSTS.len()];
    let mut acks = Vec::with_capacity(EACH);
    for j in 0..EACH {
        let notes = format!("writer {writer}, exchange {j}");
        let mut body = exchange(host, visitor, &format!("2021-{:02}-{:02}", writer % 12 + 1, j % 28 + 1));
        body["notes"] = json!(notes);
        let answer = nodes[node].post(ACTIVITIES, Some(&token), &body).await;
        assert_eq!(answer.status, 201, "writer {writer}, exchange {j} on node {}: {}", NAMES[node], answer.text);
        let created = answer.json();
        let (id, position) = (created["id"].as_str().expect("an id"), created["position"].as_u64().expect("a position"));
        acks.push(Ack { id: id.to_owned(), position, node, notes });
    }
    acks
}

/// Polls `/v1/events` on the nodes in turn, from just after what it has seen, and asserts on every poll that
/// the page continues the positions seen so far without a gap, none skipped or out of order; returns every
/// event once it has read up to `until` (0 while not known) and how many polls it made.
async fn read_contiguously(nodes: Arc<Vec<TestApp>>, auditor: String, until: Arc<AtomicU64>) -> (Vec<Value>, usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut pace = tokio::time::interval(Duration::from_millis(5));
    let mut events: Vec<Value> = Vec::new();
    let mut polls = 0;
    loop {
        let seen = events.len() as u64;
        let target = until.load(Ordering::SeqCst);
        if target != 0 && seen >= target {
            return (events, polls);
        }
        assert!(Instant::now() < deadline, "the reader reached {seen} of {target} within its deadline");
        pace.tick().await;
        let node = polls % nodes.len();
        polls += 1;
        let path = format!("/v1/events?from={}&limit=1000", seen + 1);
        let page = nodes[node].get(&path, Some(&auditor)).await.expect(200).json();
        let batch = page["events"].as_array().expect("events");
        let positions: Vec<u64> = batch.iter().map(|e| e["position"].as_u64().expect("a position")).collect();
        let expected: Vec<u64> = (seen + 1..=seen + positions.len() as u64).collect();
        assert_eq!(positions, expected, "poll {polls} on node {}: positions continue from {seen} without a gap", NAMES[node]);
        events.extend(batch.iter().cloned());
    }
}

/// Waits (a second at most) until every node admits `token`, issued through one of them.
async fn known_everywhere(nodes: &[TestApp], token: &str) {
    for (n, node) in nodes.iter().enumerate() {
        let admitted = || async move { (node.get("/v1/audit/verify", Some(token)).await.status != 401).then_some(()) };
        eventually(&format!("node {} admits a token issued through another", NAMES[n]), Duration::from_secs(1), admitted).await;
    }
}

async fn exchanges_counted(node: &TestApp) -> String {
    let report = node.get("/v1/programmes/connection/progress?as_of=2022-12-31", None).await.expect(200).json();
    indicator(&report, "staff-exchanges")["actual"].as_str().expect("a count").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_database_serve_one_gapless_log_to_concurrent_writers_readers_and_a_stream() {
    let url = fresh_database().await;
    let a = node(&url, None).await;
    let (b, c) = (node(&url, Some(a.admin.clone())).await, node(&url, Some(a.admin.clone())).await);
    let auditor = a.token("funder", "auditor", None, None).await;
    let mut recorders = Vec::new();
    for (host, _) in HOSTS {
        recorders.push(b.token(&format!("{host}-recorder"), "recorder", Some("connection"), Some(host)).await);
    }
    let nodes = Arc::new(vec![a, b, c]);
    for token in recorders.iter().chain([&auditor]) {
        known_everywhere(&nodes, token).await;
    }
    let start = head_of(&nodes[0]).await;

    // The stream on C, open before anything is written; read as it comes, so that it never falls behind.
    let subscribe = nodes[2].url(&format!("/v1/subscribe?from={}", start + 1));
    let response = nodes[2].client.get(subscribe).bearer_auth(&auditor).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let streamed = tokio::spawn(async move {
        let mut live = response.bytes_stream();
        next_events(&mut live, &mut String::new(), WRITERS * EACH).await
    });
    let until = Arc::new(AtomicU64::new(0));
    let reader = tokio::spawn(read_contiguously(Arc::clone(&nodes), auditor.clone(), Arc::clone(&until)));

    let began = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(write(Arc::clone(&nodes), recorders[writer % HOSTS.len()].clone(), writer)))
        .collect();
    let mut acks = Vec::new();
    for writer in writers {
        acks.extend(writer.await.expect("a writer"));
    }
    let wrote = began.elapsed();
    let head = head_of(&nodes[2]).await;
    assert_eq!(head, start + (WRITERS * EACH) as u64, "one event for each acknowledged activity, and nothing else");
    until.store(head, Ordering::SeqCst);
    let (events, polls) = reader.await.expect("the reader");
    eprintln!("{} activities through 3 nodes in {wrote:?}; the reader polled {polls} times", acks.len());

    // Each acknowledged position holds its activity's event, and no two activities were given one position.
    let positions: HashSet<u64> = acks.iter().map(|ack| ack.position).collect();
    assert_eq!(positions.len(), acks.len(), "each acknowledgement names a position of its own");
    assert_eq!(positions, (start + 1..=head).collect::<HashSet<_>>(), "the acknowledged positions are those written");
    assert_eq!(events.len() as u64, head, "the reader read every position up to the head");
    for ack in &acks {
        let event = &events[ack.position as usize - 1];
        let stream = format!("activity-{}", ack.id);
        assert_eq!((event["type"].as_str(), event["stream"].as_str()), (Some("ActivityRecorded"), Some(&*stream)), "{ack:?}");
    }

    // The stream on C delivered every event from its start to the head in order, A's and B's among them.
    let streamed = tokio::time::timeout(Duration::from_secs(30), streamed).await.expect("the stream in time");
    let streamed = streamed.expect("the stream");
    let streamed_positions: Vec<u64> = streamed.iter().map(|(position, _)| *position).collect();
    assert_eq!(streamed_positions, (start + 1..=head).collect::<Vec<_>>(), "C streams every event in position order");
    assert!(streamed.iter().all(|(_, kind)| kind == "ActivityRecorded"), "{streamed:?}");
    let streamed_positions: HashSet<u64> = streamed_positions.into_iter().collect();
    for n in [0, 1] {
        let through: Vec<&Ack> = acks.iter().filter(|ack| ack.node == n).collect();
        assert!(!through.is_empty(), "node {} acknowledged activities", NAMES[n]);
        assert!(through.iter().all(|ack| streamed_positions.contains(&ack.position)), "C streamed {}'s events", NAMES[n]);
    }

    // Every acknowledged activity reads back, through a node other than the one that acknowledged it.
    let checks: Vec<_> = acks
        .chunks(acks.len().div_ceil(8))
        .map(|chunk| {
            let (nodes, chunk) = (Arc::clone(&nodes), chunk.to_vec());
            tokio::spawn(async move {
                for ack in chunk {
                    let other = (ack.node + 1) % nodes.len();
                    let read = nodes[other].get(&format!("{ACTIVITIES}/{}", ack.id), None).await.expect(200).json();
                    let found = (read["position"].as_u64(), read["notes"].as_str());
                    assert_eq!(found, (Some(ack.position), Some(&*ack.notes)), "{ack:?} read through {}", NAMES[other]);
                }
            })
        })
        .collect();
    for check in checks {
        check.await.expect("the read-back");
    }

    // The chain verifies on each node to one head, and each node's progress counts every exchange.
    let mut verified_heads = BTreeMap::new();
    for (n, node) in nodes.iter().enumerate() {
        let verified = node.get("/v1/audit/verify", Some(&auditor)).await.expect(200).json();
        assert_eq!((verified["ok"].as_bool(), verified["events"].as_u64()), (Some(true), Some(head)), "{}: {verified}", NAMES[n]);
        verified_heads.insert(NAMES[n], verified["head"].clone());
    }
    let first = verified_heads["A"].clone();
    assert!(verified_heads.values().all(|h| *h == first), "one head on every node: {verified_heads:?}");
    let total = (WRITERS * EACH).to_string();
    for (n, node) in nodes.iter().enumerate() {
        let what = format!("node {}'s progress counts {total} exchanges", NAMES[n]);
        let total = &total;
        eventually(&what, Duration::from_secs(5), || async move { (exchanges_counted(node).await == *total).then_some(()) }).await;
    }

    revoked_through_a_is_refused_by_b_and_c_within_a_second(&nodes).await;
    let retrying = nodes[0].token("thessaloniki-recorder", "recorder", Some("connection"), Some(RETRYING)).await;
    known_everywhere(&nodes, &retrying).await;
    retries_with_one_key_over_the_nodes_make_one_activity(&nodes, &retrying, "retry-1").await;

    let nodes = Arc::into_inner(nodes).expect("no task holds the nodes any more");
    for node in nodes.into_iter().rev() {
        node.stop().await;
    }
}

/// A token issued through A is admitted by B and C, and refused by them within a second of its revocation
/// through A.
async fn revoked_through_a_is_refused_by_b_and_c_within_a_second(nodes: &[TestApp]) {
    let token = nodes[0].token("late-auditor", "auditor", None, None).await;
    let status = |n: usize| {
        let token = token.clone();
        async move { nodes[n].get("/v1/audit/verify", Some(&token)).await.status.as_u16() }
    };
    for n in [1, 2] {
        let what = format!("{} admits a token issued through A", NAMES[n]);
        eventually(&what, Duration::from_secs(1), || async move { (status(n).await == 200).then_some(()) }).await;
    }
    nodes[0].send(Method::DELETE, "/v1/tokens/late-auditor", Some(&nodes[0].admin), None, &[]).await.expect(204);
    let revoked = Instant::now();
    for n in [1, 2] {
        let what = format!("{} refuses a token revoked through A", NAMES[n]);
        let within = Duration::from_secs(1).saturating_sub(revoked.elapsed());
        eventually(&what, within, || async move { (status(n).await == 401).then_some(()) }).await;
    }
}

/// 16 requests with one key and one body, started together over the three nodes, make one activity: each is
/// answered 201 with that activity (a replay says so) or 409 while another holds the key, and a retry after
/// all ended gets the stored answer.
async fn retries_with_one_key_over_the_nodes_make_one_activity(nodes: &Arc<Vec<TestApp>>, token: &str, key: &'static str) {
    let mut body = exchange(RETRYING, "torino", "2021-06-15");
    body["notes"] = json!(format!("the one exchange recorded with key {key}"));
    let barrier = Arc::new(Barrier::new(RETRIES));
    let tasks: Vec<_> = (0..RETRIES)
        .map(|i| {
            let (nodes, barrier, token, body) = (Arc::clone(nodes), Arc::clone(&barrier), token.to_owned(), body.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let node = i % nodes.len();
                (node, nodes[node].send(Method::POST, ACTIVITIES, Some(&token), Some(&body), &[("idempotency-key", key)]).await)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a retry"));
    }

    let listed = nodes[1].get(&format!("{ACTIVITIES}?partner={RETRYING}&limit=500"), None).await.expect(200).json();
    let listed: Vec<&Value> = listed["activities"].as_array().expect("activities").iter().filter(|a| a["notes"] == body["notes"]).collect();
    assert_eq!(listed.len(), 1, "one activity for {RETRIES} retries with one key: {listed:?}");
    let id = listed[0]["id"].as_str().expect("an id").to_owned();
    let mut created = 0;
    for (node, answer) in &answers {
        match answer.status.as_u16() {
            201 => {
                created += 1;
                assert_eq!(answer.json()["id"].as_str(), Some(&*id), "a 201 from {} names the one activity", NAMES[*node]);
            }
            409 => {
                let detail = answer.json()["detail"].as_str().unwrap_or_default().to_owned();
                assert!(detail.contains("in flight"), "a 409 from {} says the key is in flight: {}", NAMES[*node], answer.text);
            }
            other => panic!("{other} from {}: {}", NAMES[*node], answer.text),
        }
    }
    assert!(created > 0, "at least one request was answered 201: {answers:?}");
    let again = nodes[2].send(Method::POST, ACTIVITIES, Some(token), Some(&body), &[("idempotency-key", key)]).await.expect(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"), "the stored answer: {}", again.text);
    assert_eq!(again.json()["id"].as_str(), Some(&*id));
}

