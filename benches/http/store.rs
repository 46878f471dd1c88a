//! The stores the bench measures: the seeds and activity events written in-process by `SledLog::import`
//! (not over HTTP), and what is measured of a store with its server stopped: bytes on disk, `tracker export`
//! and `tracker rebuild`.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use events::event::ActivityRecorded;
use events::{ChainHash, DomainEvent, Envelope, EventData, Timestamp};
use tracker::store::{EventLog, SledLog, SledLogOptions};

use crate::{PROGRAMME, TRACKER};

/// The seed programmes' envelopes, as the server itself would write them into an empty store.
pub(super) fn seed_envelopes(runtime: &tokio::runtime::Runtime) -> Vec<Envelope> {
    let dir = tempfile::tempdir().unwrap();
    let log = SledLog::open(dir.path(), SledLogOptions::default()).unwrap();
    runtime.block_on(async {
        tracker::seed::load_seeds(&log, chrono::Utc::now().date_naive()).await.unwrap();
        let envelopes = log.read_all(1, 100_000).await.unwrap();
        log.close();
        envelopes
    })
}

/// Staff exchanges of CONNECTION, each in its own activity stream, spread over partners, clusters and days.
fn activity_event(i: u64) -> (String, DomainEvent) {
    const PARTNERS: [&str; 6] = ["torino", "paris", "zagreb", "madrid", "athens", "sofia"];
    let mut body = serde_json::json!({
        "kind": "staff_exchange",
        "occurred_on": format!("2021-{:02}-{:02}", 1 + (i / 28) % 12, 1 + i % 28),
        "host": PARTNERS[(i % 6) as usize], "visitor": PARTNERS[((i + 1) % 6) as usize],
        "days": 1 + i % 10, "staff": 1 + i % 3
    });
    if i % 3 != 0 {
        body["cluster"] = serde_json::json!("cop1");
    }
    let activity = events::parse_activity(&body, None).unwrap();
    let id = uuid::Uuid::from_u128(i as u128 + 1);
    (format!("activity-{id}"), DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: id, activity }))
}

/// A data directory with the seeds and `count` activity events of CONNECTION, written by `SledLog::import`.
pub(super) fn fill(dir: &Path, seeds: &[Envelope], count: u64) {
    let last = seeds.last().expect("the seeds wrote events");
    let mut previous = last.hash;
    let first_position = last.position + 1;
    let base_micros = last.recorded_at.as_micros();
    let activities = (0..count).map(move |i| {
        let (stream, event) = activity_event(i);
        let mut e = Envelope {
            position: first_position + i,
            stream,
            version: 1,
            id: uuid::Uuid::from_u128(u128::MAX - i as u128),
            event_type: event.event_type().into(),
            schema: event.schema(),
            programme: PROGRAMME.into(),
            recorded_at: Timestamp::from_micros(base_micros + i as i64),
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
    SledLog::import(dir, seeds.iter().cloned().map(Ok).chain(activities), |_| {}).unwrap();
}

/// Bytes on disk under `dir`, as `du` counts them (allocated blocks).
pub(super) fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() { disk_bytes(&entry.path()) } else { meta.blocks() * 512 };
    }
    total
}

/// `tracker export` of a stopped server's directory: the bytes of NDJSON it writes.
pub(super) fn export_bytes(dir: &Path) -> u64 {
    let mut child = Command::new(TRACKER)
        .args(["export", "--data"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = stdout.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert!(child.wait().unwrap().success(), "tracker export failed");
    total
}

/// `tracker rebuild` of a stopped server's directory: wall time of the whole command.
pub(super) fn rebuild_seconds(dir: &Path) -> f64 {
    let start = Instant::now();
    let output = Command::new(TRACKER).args(["rebuild", "--data"]).arg(dir).stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success(), "tracker rebuild failed: {}", String::from_utf8_lossy(&output.stderr));
    start.elapsed().as_secs_f64()
}
