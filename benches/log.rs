//! Benchmark of the event log (`cargo bench --bench log`): durable appends per second with 1, 8 and 64
//! concurrent appenders, the same machine's raw ceiling measured in the same run (plain sled inserts of
//! records of the same size with one flush per 64), start-up (opening a log of N events), full replay (scan +
//! decode of every envelope), and reads of single streams and of their versions in that log. Every figure is
//! the median of `ROUNDS` runs; the table goes to stdout.
//!
//! Environment: `BENCH_SECONDS` (per run, default 3), `BENCH_REPLAY_EVENTS` (default 1000000).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{ChainHash, Envelope, EventData, Timestamp};
use tracker::store::{AppendRequest, EventLog, ExpectedVersion, ProposedEvent, SledLog, SledLogOptions};

const ROUNDS: usize = 3;

fn seconds() -> Duration {
    Duration::from_secs_f64(std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// A payload shaped like a recorded staff exchange.
fn payload(n: u64) -> EventData {
    EventData::from_value(&serde_json::json!({
        "activity": {"kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino", "visitor": "asti",
                     "cluster": "cop1", "days": 5, "staff": 2, "partner": "torino", "evidence": []},
        "n": n,
    }))
}

fn sample_envelope(position: u64, previous: &ChainHash) -> Envelope {
    let mut e = Envelope {
        position,
        stream: format!("activity-{}", uuid::Uuid::from_u128(position as u128)),
        version: 1,
        id: uuid::Uuid::from_u128(u128::MAX - position as u128),
        event_type: "ActivityRecorded".into(),
        schema: 1,
        programme: format!("programme-{}", position % 20),
        recorded_at: Timestamp::from_micros(1_700_000_000_000_000 + position as i64),
        actor: "bench".into(),
        correlation_id: None,
        causation_id: None,
        data: payload(position),
        hash: ChainHash::GENESIS,
    };
    e.hash = e.expected_hash(previous);
    e
}

/// Plain sled inserts of same-sized values, one `flush` per 64 inserts, single thread: the ceiling.
fn raw_ceiling(duration: Duration) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = tracker::store::open_raw(dir.path()).unwrap();
    let tree = db.open_tree("log").unwrap();
    let value = vec![7u8; record_size()];
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < duration {
        for _ in 0..64 {
            n += 1;
            tree.insert(n.to_be_bytes(), value.as_slice()).unwrap();
        }
        db.flush().unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn record_size() -> usize {
    // Header, names and hash of a stored record plus the payload: measured from a real envelope.
    let e = sample_envelope(1, &ChainHash::GENESIS);
    1 + 8 + 4 + 8 + 16 + 1 + 2 * 4 + e.stream.len() + e.event_type.len() + e.programme.len() + e.actor.len() + 32 + e.data.len()
}

fn durable_appends(runtime: &tokio::runtime::Runtime, appenders: usize, duration: Duration) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SledLog::open(dir.path(), SledLogOptions::default()).unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..appenders {
            let (log, count, stop) = (Arc::clone(&log), Arc::clone(&count), Arc::clone(&stop));
            tasks.push(tokio::spawn(async move {
                let mut version = 0;
                while !stop.load(Ordering::Relaxed) {
                    let request = AppendRequest {
                        guard: None,
                        stream: format!("activity-bench-{task}-{version}"),
                        expected: ExpectedVersion::NoStream,
                        programme: "connection".into(),
                        actor: "bench".into(),
                        correlation_id: None,
                        causation_id: None,
                        events: vec![ProposedEvent {
                            id: uuid::Uuid::now_v7(),
                            event_type: "ActivityRecorded".into(),
                            schema: 1,
                            data: payload(version),
                        }],
                    };
                    log.append(request).await.unwrap();
                    version += 1;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.unwrap();
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let appended = count.load(Ordering::Relaxed) as f64;
    (appended / elapsed, appended)
}

/// Reads of single activity streams and their versions in a log of `events` events (each event its own
/// stream), at positions spread over the log, for `duration` each: per second, reads and version lookups.
fn stream_lookups(runtime: &tokio::runtime::Runtime, log: &SledLog, events: u64, duration: Duration) -> (f64, f64) {
    let stream = |n: u64| format!("activity-{}", uuid::Uuid::from_u128(u128::from(n * 7_919 % events + 1)));
    runtime.block_on(async {
        let start = Instant::now();
        let mut reads = 0u64;
        while start.elapsed() < duration {
            let read = log.read_stream(&stream(reads), 1, 10).await.unwrap();
            assert_eq!(read.len(), 1);
            reads += 1;
        }
        let read_rate = reads as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        let mut lookups = 0u64;
        while start.elapsed() < duration {
            for n in lookups..lookups + 256 {
                assert_eq!(log.stream_version(&stream(n)).await.unwrap(), Some(1));
            }
            lookups += 256;
        }
        (read_rate, lookups as f64 / start.elapsed().as_secs_f64())
    })
}

fn fill_for_replay(dir: &std::path::Path, events: u64) {
    let mut previous = ChainHash::GENESIS;
    let envelopes = (1..=events).map(move |position| {
        let e = sample_envelope(position, &previous);
        previous = e.hash;
        Ok(e)
    });
    SledLog::import(dir, envelopes, |_| {}).unwrap();
}

fn main() {
    let duration = seconds();
    let replay_events: u64 =
        std::env::var("BENCH_REPLAY_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("event log benchmark: {ROUNDS} rounds of {duration:?} each, medians; record size {} bytes", record_size());

    let ceiling = median((0..ROUNDS).map(|_| raw_ceiling(duration)).collect());
    println!("| measure | per second | ratio to raw ceiling |");
    println!("|---|---:|---:|");
    println!("| raw ceiling: sled inserts, one flush per 64 (no fdatasync) | {ceiling:.0} | 1.00 |");
    for appenders in [1, 8, 64] {
        let rate = median((0..ROUNDS).map(|_| durable_appends(&runtime, appenders, duration).0).collect());
        println!("| durable appends, {appenders} appenders | {rate:.0} | {:.2} |", rate / ceiling);
    }

    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    fill_for_replay(dir.path(), replay_events);
    let fill = start.elapsed();
    let mut opens = Vec::new();
    let mut replays = Vec::new();
    let mut stream_reads = Vec::new();
    let mut version_reads = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let log = SledLog::open(dir.path(), SledLogOptions { create: false, ..SledLogOptions::default() }).unwrap();
        opens.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let replayed = runtime.block_on(async {
            let mut from = 1;
            let mut bytes = 0usize;
            loop {
                let batch = log.read_all(from, 4096).await.unwrap();
                let Some(last) = batch.last() else { break };
                from = last.position + 1;
                bytes += batch.iter().map(|e| e.data.len()).sum::<usize>();
            }
            assert!(bytes > 0);
            from - 1
        });
        assert_eq!(replayed, replay_events);
        replays.push(replayed as f64 / start.elapsed().as_secs_f64());
        let (streams, versions) = stream_lookups(&runtime, &log, replay_events, duration);
        stream_reads.push(streams);
        version_reads.push(versions);
    }
    println!("| full replay (scan + decode), {replay_events} events | {:.0} | |", median(replays));
    println!("| stream reads (`read_stream` of one activity), {replay_events} events | {:.0} | |", median(stream_reads));
    println!("| stream versions (`stream_version`), {replay_events} events | {:.0} | |", median(version_reads));
    println!();
    println!(
        "open of a {replay_events}-event log (index rebuild): median {:.3} s; filling it by import took {:.1} s",
        median(opens),
        fill.as_secs_f64()
    );
}
