//! Where the memory of a started server goes: opens a data directory as `tracker serve` does (log, indexes,
//! progress projection from its snapshot) and prints jemalloc's allocated and resident bytes after the open,
//! after dropping the projection and after closing the log. For profiling by hand (BENCHMARKS.md):
//!
//! ```sh
//! BENCH_FILL_ONLY=/tmp/s1m cargo bench --bench http     # a store with the seeds and 1 M activity events
//! cargo run --release --example memory /tmp/s1m
//! cargo run --release --example memory /tmp/s1m log     # the log alone, without the projection
//! APPEND=200000 CACHE=16777216 cargo run --release --example memory /tmp/s1m log
//! ```
//!
//! With `log`, `APPEND=N` then appends N activity events from 32 tasks (as 32 HTTP clients would) and reads
//! each back by its stream, printing the figures again; `CACHE` sets sled's cache capacity in bytes.

use std::sync::Arc;

use events::EventData;
use tracker::store::{AppendRequest, EventLog, ExpectedVersion, ProposedEvent, SledLog, SledLogOptions};

fn mib() -> String {
    let heap = tracker::memory::heap_stats().expect("jemalloc statistics");
    let (allocated, resident) = (heap.allocated as f64 / 1048576.0, heap.resident as f64 / 1048576.0);
    format!("allocated {allocated:.1} MiB, resident {resident:.1} MiB")
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: memory DATA_DIR [log]"));
    let log_only = std::env::args().nth(2).as_deref() == Some("log");
    let mut options = SledLogOptions::default();
    if let Some(cache) = std::env::var("CACHE").ok().and_then(|c| c.parse().ok()) {
        options.cache_capacity = cache;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    println!("before:                 {}", mib());
    if log_only {
        let log = Arc::new(SledLog::open(&dir, options).expect("the data directory opens"));
        println!("log opened:             {}", mib());
        let appends: usize = std::env::var("APPEND").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
        if appends > 0 {
            let start = std::time::Instant::now();
            runtime.block_on(append_and_read(&log, appends));
            println!("{appends} appended and read in {:.1} s: {}", start.elapsed().as_secs_f64(), mib());
        }
        drop(log);
        println!("log closed:             {}", mib());
        return;
    }
    let (log, projection, restored) = runtime
        .block_on(tracker::projection_store::open_with_progress(&dir, options))
        .expect("the data directory opens");
    println!("opened ({restored:?}): {}", mib());
    drop(projection);
    println!("projection dropped:     {}", mib());
    drop(log);
    println!("log closed:             {}", mib());
}

/// `count` staff exchanges, each a stream of its own, appended by 32 tasks; each task reads its stream back.
async fn append_and_read(log: &Arc<SledLog>, count: usize) {
    const TASKS: usize = 32;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let log = Arc::clone(log);
            tokio::spawn(async move {
                for n in (task..count).step_by(TASKS) {
                    let stream = format!("activity-{}", uuid::Uuid::now_v7());
                    let data = EventData::from_value(&serde_json::json!({
                        "activity": {"kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino",
                                     "visitor": "asti", "cluster": "cop1", "days": 5, "staff": 2, "partner": "torino",
                                     "evidence": []},
                        "n": n,
                    }));
                    let request = AppendRequest {
                        guard: None,
                        stream: stream.clone(),
                        expected: ExpectedVersion::NoStream,
                        programme: "connection".into(),
                        actor: "memory".into(),
                        correlation_id: None,
                        causation_id: None,
                        events: vec![ProposedEvent { id: uuid::Uuid::now_v7(), event_type: "ActivityRecorded".into(), schema: 1, data }],
                    };
                    log.append(request).await.expect("the append is stored");
                    let read = log.read_stream(&stream, 1, 10).await.expect("the stream reads back");
                    assert_eq!(read.len(), 1, "{stream}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an appending task");
    }
}
