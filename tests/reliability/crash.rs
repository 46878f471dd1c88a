//! Crash safety over HTTP: 32 recorders post activities to the real `tracker serve`; the server is killed with
//! SIGKILL once a random number of them (drawn from a seeded RNG) were acknowledged, restarted, and so on for
//! several cycles. After every restart each acknowledged activity reads back with what was sent, the chain
//! verifies, positions are gapless, and progress counts exactly the activities stored — every acknowledged one,
//! and any of those in flight at the kill that made it (complete, or not at all).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::{Rng as _, SeedableRng as _};
use serde_json::Value;
use tokio::sync::watch;

use crate::server::{admin_token, assert_log_whole, exchange, Server};

const CYCLES: usize = 5;
const RECORDERS: usize = 32;
const PARTNERS: [&str; 4] = ["torino", "paris", "zagreb", "madrid"];
const SEED: u64 = 0x7261_636b;

/// What a recorder sent, by its `notes` tag, and what became of it.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Tag → (body sent, activity id answered with 201).
    pub(crate) acknowledged: HashMap<String, (Value, String)>,
    /// Tag → body of requests that got no answer: the kill came first. Each may or may not be stored.
    pub(crate) in_flight: HashMap<String, Value>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_activity_survives_sigkill_of_the_server() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut server = Server::start(dir.path());
    let admin = admin_token(dir.path());
    let mut tokens = Vec::new();
    for partner in PARTNERS {
        tokens.push((partner, server.recorder(&admin, partner).await));
    }
    let mut figures = Vec::new();
    for cycle in 0..CYCLES {
        let kill_after = rng.gen_range(50..800);
        let (acked_tx, mut acked) = watch::channel(0usize);
        let acked_tx = Arc::new(acked_tx);
        let mut recorders = Vec::new();
        for recorder in 0..RECORDERS {
            let (partner, token) = tokens[recorder % PARTNERS.len()].clone();
            let visitor = PARTNERS[(recorder + 1) % PARTNERS.len()];
            let (api, ledger, acked_tx) = (server.api.clone(), Arc::clone(&ledger), Arc::clone(&acked_tx));
            recorders.push(tokio::spawn(async move {
                for n in 0.. {
                    let tag = format!("crash c{cycle} r{recorder} n{n}");
                    let day = 1 + (recorder + n) % 28;
                    let body = exchange(partner, visitor, &format!("2022-02-{day:02}"), &tag);
                    match api.post("/v1/programmes/connection/activities", &token, &body).await {
                        Ok((201, _, answer)) => {
                            let id = answer["id"].as_str().expect("an id").to_owned();
                            ledger.lock().acknowledged.insert(tag, (body, id));
                            acked_tx.send_modify(|n| *n += 1);
                        }
                        Ok((status, _, answer)) => panic!("{tag}: {status} {answer}"),
                        // The server is gone; this request may or may not have been stored.
                        Err(_) => {
                            ledger.lock().in_flight.insert(tag, body);
                            return;
                        }
                    }
                }
            }));
        }
        // Kill once enough were acknowledged: the moment varies with the seed, never with a sleep.
        tokio::time::timeout(Duration::from_secs(120), acked.wait_for(|&n| n >= kill_after))
            .await
            .expect("the recorders make progress")
            .unwrap();
        server.kill();
        for recorder in recorders {
            recorder.await.expect("a recorder task");
        }
        let acknowledged_now = *acked.borrow();

        server = Server::start(dir.path());
        let (stored, in_flight_stored) = check_after_restart(&server, &admin, &ledger, &format!("after kill {cycle}")).await;
        figures.push(format!(
            "cycle {cycle}: killed after {kill_after} acknowledgements ({acknowledged_now} by the time all recorders \
             saw the kill); {stored} activities stored, {in_flight_stored} of them from requests in flight"
        ));
    }
    let ledger = ledger.lock();
    eprintln!(
        "{}\n{} cycles, {} recorders: {} acknowledged, {} in flight at kills, {:.1} s",
        figures.join("\n"),
        CYCLES,
        RECORDERS,
        ledger.acknowledged.len(),
        ledger.in_flight.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The checks after a restart (`when` names it in failures); returns how many activities are stored and how many of them had no answer.
pub(crate) async fn check_after_restart(server: &Server, admin: &str, ledger: &Mutex<Ledger>, when: &str) -> (usize, usize) {
    let events = assert_log_whole(server, admin, &when).await;
    // The recorders have all stopped: a copy of the ledger, so that no lock is held across the requests below.
    let ledger = {
        let ledger = ledger.lock();
        Ledger { acknowledged: ledger.acknowledged.clone(), in_flight: ledger.in_flight.clone() }
    };
    // Every stored activity is one that was sent, whole: acknowledged, or in flight at a kill.
    let mut stored = HashMap::new();
    for event in events.iter().filter(|e| e["type"] == "ActivityRecorded") {
        let tag = notes(&event["data"]).unwrap_or_else(|| panic!("{when}: an activity without notes: {event}")).to_owned();
        let sent = ledger.acknowledged.get(&tag).map(|(body, _)| body).or_else(|| ledger.in_flight.get(&tag));
        let sent = sent.unwrap_or_else(|| panic!("{when}: stored activity '{tag}' was never sent"));
        assert!(stored.insert(tag.clone(), sent.clone()).is_none(), "{when}: '{tag}' stored twice");
    }
    let in_flight_stored = stored.keys().filter(|tag| ledger.in_flight.contains_key(*tag)).count();
    // Every acknowledged activity reads back with what was sent.
    for (tag, (body, id)) in &ledger.acknowledged {
        assert!(stored.contains_key(tag), "{when}: acknowledged '{tag}' is missing from the log");
        let (status, activity) = server.get(&format!("/v1/programmes/connection/activities/{id}"), admin).await;
        assert_eq!(status, 200, "{when}: {tag}: {activity}");
        for field in ["occurred_on", "host", "visitor", "cluster", "days", "staff", "notes"] {
            assert_eq!(activity[field], body[field], "{when}: {tag}: field {field}");
        }
    }
    // An in-flight activity that made it is whole too: its stored payload carries what was sent.
    for (tag, body) in stored.iter().filter(|(tag, _)| ledger.in_flight.contains_key(*tag)) {
        let event = events.iter().find(|e| notes(&e["data"]) == Some(tag.as_str())).unwrap();
        for field in ["occurred_on", "host", "visitor", "days", "staff"] {
            assert!(contains(&event["data"], field, &body[field]), "{when}: in-flight {tag}: field {field} in {event}");
        }
    }
    // Progress counts exactly the stored exchanges: the acknowledged ones plus those in flight that made it.
    let (status, report) = server.get("/v1/programmes/connection/progress?as_of=2022-12-31", admin).await;
    assert_eq!(status, 200, "{report}");
    let exchanges = report["indicators"].as_array().unwrap().iter().find(|i| i["id"] == "staff-exchanges").unwrap();
    let actual: usize = exchanges["actual"].as_str().unwrap().parse().unwrap();
    assert_eq!(actual, stored.len(), "{when}: progress counts the stored exchanges");
    assert!(
        (ledger.acknowledged.len()..=ledger.acknowledged.len() + ledger.in_flight.len()).contains(&actual),
        "{when}: {actual} exchanges counted; {} acknowledged, {} in flight",
        ledger.acknowledged.len(),
        ledger.in_flight.len()
    );
    (stored.len(), in_flight_stored)
}

/// The `notes` field anywhere in an event's payload.
fn notes(data: &Value) -> Option<&str> {
    match data {
        Value::Object(fields) => fields.get("notes").and_then(Value::as_str).or_else(|| fields.values().find_map(notes)),
        Value::Array(items) => items.iter().find_map(notes),
        _ => None,
    }
}

/// True when `field` holds `value` anywhere in the payload.
fn contains(data: &Value, field: &str, value: &Value) -> bool {
    match data {
        Value::Object(fields) => fields.get(field) == Some(value) || fields.values().any(|v| contains(v, field, value)),
        Value::Array(items) => items.iter().any(|v| contains(v, field, value)),
        _ => false,
    }
}
