//! Shared helpers: fresh data directories, appends with little ceremony, and raw access to stored records.

use std::path::Path;

use events::EventData;
use tracker::store::{AppendRequest, Appended, AppendError, EventLog, ExpectedVersion, ProposedEvent, SledLog, SledLogOptions};

pub(crate) fn open(dir: &Path) -> SledLog {
    SledLog::open(dir, SledLogOptions::default()).expect("opening a fresh log")
}

pub(crate) fn event(payload: serde_json::Value) -> ProposedEvent {
    ProposedEvent {
        id: uuid::Uuid::now_v7(),
        event_type: "SomethingHappened".into(),
        schema: 1,
        data: EventData::from_value(&payload),
    }
}

pub(crate) fn request(stream: &str, expected: ExpectedVersion, events: Vec<ProposedEvent>) -> AppendRequest {
    AppendRequest {
        stream: stream.to_owned(),
        expected,
        programme: programme_of(stream).to_owned(),
        actor: "tester".into(),
        correlation_id: None,
        causation_id: None,
        events,
    }
}

/// Streams `a-…` belong to programme `alpha`, all others to `beta`.
pub(crate) fn programme_of(stream: &str) -> &'static str {
    if stream.starts_with("a-") { "alpha" } else { "beta" }
}

pub(crate) async fn append(log: &SledLog, stream: &str, expected: ExpectedVersion, n: usize) -> Result<Appended, AppendError> {
    let events = (0..n).map(|i| event(serde_json::json!({"stream": stream, "i": i}))).collect();
    log.append(request(stream, expected, events)).await
}

/// Flips one bit of the stored record at `position` (the log must be closed).
pub(crate) fn flip_stored_byte(dir: &Path, position: u64, byte: usize) {
    let db = tracker::store::sled_config(dir).open().expect("raw open");
    let tree = db.open_tree("log").expect("log tree");
    let key = position.to_be_bytes();
    let mut value = tree.get(key).expect("read").expect("record present").to_vec();
    let at = byte % value.len();
    value[at] ^= 0x01;
    tree.insert(key, value).expect("write");
    db.flush().expect("flush");
}
