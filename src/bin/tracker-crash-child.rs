//! The child process of the crash tests (`tests/log/crash.rs`): appends to the log in `--data` from many
//! concurrent tasks, printing one line per acknowledged append, until it is killed. Not part of the product's
//! interface; it exists so the tests can kill a real appender at a random moment.
//!
//! The third argument chooses when the log makes checkpoints: `default`; `wal-only` (never while it runs, and
//! sled's background flush off, so that sled's files hold nothing of this run and every acknowledged event
//! must come back from the write-ahead file); `often` (every 32 KiB of frames or 2 ms, so kills land inside
//! checkpoints); `outgrown` (a write-ahead file of 4 KiB, so most group commits are too big for it and go to sled
//! directly, made durable by one checkpoint together with the small frames the file holds).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt as _;

use events::EventData;
use tracker::store::{AppendRequest, EventLog, ExpectedVersion, OpenError, ProposedEvent, SledLog, SledLogOptions};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: tracker-crash-child DIR APPENDERS [default|wal-only|often|outgrown]"));
    let appenders: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let options = match args.next().as_deref() {
        None | Some("default") => SledLogOptions::default(),
        Some("wal-only") => SledLogOptions {
            checkpoint_every: Duration::from_secs(3600),
            checkpoint_bytes: 1 << 30,
            background_flush: false,
            ..SledLogOptions::default()
        },
        Some("often") => SledLogOptions {
            checkpoint_every: Duration::from_millis(2),
            checkpoint_bytes: 32 * 1024,
            ..SledLogOptions::default()
        },
        Some("outgrown") => SledLogOptions { checkpoint_bytes: 4 * 1024, ..SledLogOptions::default() },
        Some(other) => panic!("unknown checkpoint mode {other}"),
    };
    // The test that starts this child has just closed the directory; a process that another test forked at that
    // moment may still hold a copy of its lock until it execs. Wait for the lock to be free, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        match SledLog::open(&dir, options.clone()) {
            Err(OpenError::InUse(_)) if lock_freed_before(&dir, deadline) => continue,
            opened => break Arc::new(opened.expect("opening the log")),
        }
    };
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    println!("ready");
    let mut tasks = Vec::new();
    for task in 0..appenders {
        let log = Arc::clone(&log);
        let stdout = Arc::clone(&stdout);
        tasks.push(tokio::spawn(async move {
            // Each task owns a stream and appends with exact expected versions, sometimes two events at once;
            // it starts from whatever an earlier (killed) run left.
            let stream = format!("activity-crash-{task}");
            let mut version = log.stream_version(&stream).await.expect("reading the version").unwrap_or(0);
            loop {
                let count = if version % 3 == 0 { 2 } else { 1 };
                let events = (0..count)
                    .map(|i| ProposedEvent {
                        id: uuid::Uuid::now_v7(),
                        event_type: "CrashTestAppended".into(),
                        schema: 1,
                        data: EventData::from_value(&serde_json::json!({"task": task, "n": version + i + 1})),
                    })
                    .collect();
                let request = AppendRequest {
                    guard: None,
                    stream: stream.clone(),
                    expected: if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) },
                    programme: "crash".into(),
                    actor: "crash-test".into(),
                    correlation_id: None,
                    causation_id: None,
                    events,
                };
                let appended = log.append(request).await.expect("append");
                let mut out = stdout.lock().expect("stdout");
                for e in &appended.envelopes {
                    writeln!(out, "ack {} {} {} {}", e.position, e.stream, e.version, e.id).expect("stdout");
                }
                out.flush().expect("stdout");
                version = appended.stream_version();
            }
        }));
    }
    for task in tasks {
        task.await.expect("appender task");
    }
}

/// Whether the directory's lock became free before `deadline`: a blocking lock, taken and dropped at once on a
/// thread of its own, wakes when the holder lets go.
fn lock_freed_before(dir: &std::path::Path, deadline: Instant) -> bool {
    let path = dir.join("tracker.lock");
    let (freed, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let locked = std::fs::File::open(&path).and_then(|file| file.lock_exclusive());
        let _ = freed.send(locked.is_ok());
    });
    wait.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or(false)
}
