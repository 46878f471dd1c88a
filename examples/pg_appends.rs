//! Durable appends per second through the PostgreSQL engine: `cargo run --release --example pg_appends --
//! URL [APPENDERS] [SECONDS]` opens the log in the database at URL (an empty database, or one this example
//! filled before) and runs APPENDERS tasks (default 32) for SECONDS (default 10), each appending one event of a
//! recorded staff exchange's size to a new stream at a time, as the HTTP API's recorders do; then it prints the
//! rate, the latency and how the writer batched the appends. Compare with `../shared/bench/pg-peer.sh 32 10`,
//! a plain event table driven by pgbench on the same server. Two of these at once on one database measure two
//! nodes sharing the log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::EventData;
use tracker::store::{AppendRequest, EventLog, ExpectedVersion, PgLog, PgLogOptions, ProposedEvent};

fn request(task: usize, n: u64) -> AppendRequest {
    let data = EventData::from_value(&serde_json::json!({
        "activity": {"kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino", "visitor": "asti",
                     "cluster": "cop1", "days": 5, "staff": 2, "partner": "torino", "evidence": []},
        "n": n,
    }));
    AppendRequest {
        stream: format!("activity-{}", uuid::Uuid::now_v7()),
        expected: ExpectedVersion::NoStream,
        programme: "connection".into(),
        actor: format!("bench-{task}"),
        correlation_id: None,
        causation_id: None,
        events: vec![ProposedEvent { id: uuid::Uuid::now_v7(), event_type: "ActivityRecorded".into(), schema: 1, data }],
        guard: None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("usage: pg_appends URL [APPENDERS] [SECONDS]").clone();
    let appenders: usize = args.get(2).map_or(32, |a| a.parse().expect("APPENDERS is a number"));
    let seconds: f64 = args.get(3).map_or(10.0, |a| a.parse().expect("SECONDS is a number"));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let log = Arc::new(PgLog::open(&url, PgLogOptions::default()).await.expect("the log opens"));
        let before = log.head().await.expect("the head").position;
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let tasks: Vec<_> = (0..appenders)
            .map(|task| {
                let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        log.append(request(task, n)).await.expect("an append");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut appended = 0;
        for task in tasks {
            appended += task.await.expect("an appender");
        }
        let elapsed = started.elapsed().as_secs_f64();
        let stats = log.stats();
        let head = log.head().await.expect("the head").position;
        // Other processes may append to the same log meanwhile (run two to measure two nodes).
        assert!(head - before >= appended, "every acknowledged append is in the log");
        println!("pg_appends appenders={appenders} appends_per_s={:.0}", appended as f64 / elapsed);
        println!(
            "  mean latency {:.2} ms; transactions {}, {:.1} events each; latency buckets (≤0.5, 1, 2.5, 5, 10, 25, 50, 100 ms, more) {:?}",
            stats.append_micros as f64 / 1000.0 / stats.events.max(1) as f64,
            stats.commits,
            stats.events as f64 / stats.commits.max(1) as f64,
            stats.append_latency,
        );
        log.close().await;
    });
}
