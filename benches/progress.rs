//! Benchmark of the progress projection (`cargo bench --bench progress`): with N activity events across 20
//! programmes (CONNECTION's definition under 20 ids), the rebuild rate, the time of a progress query at the head
//! with 10 k and with N events, a report at a past position, and start-up (restoring the snapshot and catching
//! up). Query times are per report, the median of `ROUNDS` rounds of 200 reports.
//!
//! Environment: `BENCH_PROGRESS_EVENTS` (default 1000000). `BENCH_PROGRESS_FILL=DIR` only fills the empty
//! directory DIR with that many events (for measuring `tracker serve` on it) and exits.

use std::time::Instant;

use events::event::{ActivityRecorded, ProgrammeRegistered};
use events::{ChainHash, DomainEvent, Envelope, EventData, Programme, Timestamp};
use projections::{ProgressProjection, ProgressQuery};
use tracker::projection_store::{open_with_progress, rebuild_progress};
use tracker::store::{SledLog, SledLogOptions};

const ROUNDS: usize = 5;
const PROGRAMMES: u64 = 20;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn programme(n: u64) -> Programme {
    let mut value: serde_json::Value = serde_json::from_str(tracker::seed::SEEDS[0].1).unwrap();
    value["id"] = serde_json::json!(format!("programme-{n}"));
    Programme::parse(&value).unwrap()
}

fn events(count: u64) -> impl Iterator<Item = (String, String, DomainEvent)> {
    let hosts = ["torino", "paris", "zagreb", "madrid", "athens", "sofia"];
    let registrations = (0..PROGRAMMES).map(|n| {
        let p = programme(n);
        (format!("programme-{n}"), format!("programme-programme-{n}"), DomainEvent::ProgrammeRegistered(ProgrammeRegistered { programme: p }))
    });
    let activities = (0..count).map(move |i| {
        let day = 1 + (i % 28);
        let month = 1 + (i / 28) % 12;
        let body = serde_json::json!({
            "kind": "staff_exchange", "occurred_on": format!("2021-{month:02}-{day:02}"),
            "host": hosts[(i % 6) as usize], "visitor": hosts[((i + 1) % 6) as usize],
            "cluster": if i % 3 == 0 { serde_json::Value::Null } else { serde_json::json!("cop1") },
            "days": 5, "staff": 2
        });
        let mut body = body;
        if body["cluster"].is_null() {
            body.as_object_mut().unwrap().remove("cluster");
        }
        let activity = events::parse_activity(&body, None).unwrap();
        let id = uuid::Uuid::from_u128(i as u128 + 1);
        (
            format!("programme-{}", i % PROGRAMMES),
            format!("activity-{id}"),
            DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: id, activity }),
        )
    });
    registrations.chain(activities)
}

fn fill(dir: &std::path::Path, count: u64) {
    let mut previous = ChainHash::GENESIS;
    let mut stream_versions = std::collections::HashMap::new();
    let envelopes = events(count).enumerate().map(move |(i, (programme, stream, event))| {
        let version = stream_versions.entry(stream.clone()).and_modify(|v| *v += 1).or_insert(1u64);
        let mut e = Envelope {
            position: i as u64 + 1,
            stream,
            version: *version,
            id: uuid::Uuid::from_u128(u128::MAX - i as u128),
            event_type: event.event_type().into(),
            schema: event.schema(),
            programme,
            recorded_at: Timestamp::from_micros(1_700_000_000_000_000 + i as i64),
            actor: "bench".into(),
            correlation_id: None,
            causation_id: None,
            data: EventData::from_value(&event.to_data()),
            hash: ChainHash::GENESIS,
        };
        e.hash = e.expected_hash(&previous);
        previous = e.hash;
        Ok(e)
    });
    SledLog::import(dir, envelopes, |_| {}).unwrap();
}

/// Milliseconds per report: the median over `ROUNDS` rounds of 200 reports each.
fn query_ms(projection: &ProgressProjection, at_position: Option<u64>) -> f64 {
    let as_of = chrono::NaiveDate::from_ymd_opt(2022, 12, 31).unwrap();
    median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..200 {
                    let report = projection.report("programme-1", &ProgressQuery { as_of, at_position }).unwrap();
                    assert!(!report.indicators.is_empty());
                }
                start.elapsed().as_secs_f64() * 1000.0 / 200.0
            })
            .collect(),
    )
}

fn main() {
    let count: u64 = std::env::var("BENCH_PROGRESS_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    if let Some(dir) = std::env::var_os("BENCH_PROGRESS_FILL") {
        fill(std::path::Path::new(&dir), count);
        println!("filled {} with {count} activity events across {PROGRAMMES} programmes", std::path::Path::new(&dir).display());
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("progress benchmark: {count} activity events across {PROGRAMMES} programmes; medians of {ROUNDS}");
    println!("| measure | figure |\n|---|---:|");
    for size in [10_000, count] {
        let dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        fill(dir.path(), size);
        let fill_s = start.elapsed().as_secs_f64();
        let log = SledLog::open(dir.path(), SledLogOptions { create: false, ..Default::default() }).unwrap();
        let start = Instant::now();
        let projection = runtime.block_on(rebuild_progress(&log, &log)).unwrap();
        let rebuild_s = start.elapsed().as_secs_f64();
        let events = projection.position() as f64;
        println!("| {size} events: fill by import | {fill_s:.1} s |");
        println!("| {size} events: rebuild (replay + save snapshot) | {:.0} events/s ({rebuild_s:.2} s) |", events / rebuild_s);
        println!("| {size} events: progress query at the head | {:.3} ms |", query_ms(&projection, None));
        println!("| {size} events: report at a past position (the middle) | {:.3} ms |", query_ms(&projection, Some(projection.position() / 2)));
        drop(projection);
        drop(log);
        let start = Instant::now();
        let options = SledLogOptions { create: false, ..Default::default() };
        let (_log, _, restored) = runtime.block_on(open_with_progress(dir.path(), options)).unwrap();
        println!("| {size} events: start-up (open log + restore snapshot) | {:.2} s ({restored:?}) |", start.elapsed().as_secs_f64());
    }
}
