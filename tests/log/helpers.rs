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
        guard: None,
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

/// The raw `log` tree of the closed store in `dir`, and the chunk holding `position`: its key, its stored bytes
/// and its first position.
fn chunk_holding(dir: &Path, position: u64) -> (sled::Db, sled::Tree, sled::IVec, sled::IVec, u64) {
    let db = tracker::store::open_raw(dir).expect("raw open");
    let tree = db.open_tree("log").expect("log tree");
    let (key, stored) = tree.range(..=position.to_be_bytes()).next_back().expect("a chunk").expect("read");
    let first = u64::from_be_bytes(key.as_ref().try_into().unwrap());
    (db, tree, key, stored, first)
}

/// Where each record of a chunk's (or frame body's) records starts: each is a big-endian u32 length, then that
/// many bytes.
pub(crate) fn record_starts(records: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut offset = 0;
    while offset < records.len() {
        starts.push(offset);
        offset += 4 + u32::from_be_bytes(records[offset..offset + 4].try_into().unwrap()) as usize;
    }
    starts
}

/// Flips one bit of byte `byte` (modulo its length) of the stored record at `position` (the log must be
/// closed). Records sit in chunks keyed by their first position, each preceded by a big-endian u32 length; the
/// chunk is unpacked, changed and packed again.
pub(crate) fn flip_stored_byte(dir: &Path, position: u64, byte: usize) {
    let (db, tree, key, stored, first) = chunk_holding(dir, position);
    let mut chunk = tracker::store::unpack_chunk(&stored).expect("a readable chunk");
    let offset = record_starts(&chunk)[(position - first) as usize];
    let len = u32::from_be_bytes(chunk[offset..offset + 4].try_into().unwrap()) as usize;
    chunk[offset + 4 + byte % len] ^= 0x01;
    tree.insert(key, tracker::store::pack_chunk(&chunk)).expect("write");
    db.flush().expect("flush");
}

/// Flips one bit of byte `byte` (modulo its length) of the chunk holding `position` as sled stores it (packed),
/// the log being closed. Returns the chunk's first and last positions, and whether its records changed (a flip
/// inside compressed bytes may also leave them as they were, or make the chunk unreadable).
pub(crate) fn flip_packed_byte(dir: &Path, position: u64, byte: usize) -> (u64, u64, bool) {
    let (db, tree, key, stored, first) = chunk_holding(dir, position);
    assert_eq!(stored[0], b'P', "the chunk is stored packed");
    let records = tracker::store::unpack_chunk(&stored).expect("a readable chunk");
    let count = record_starts(&records).len() as u64;
    let mut damaged = stored.to_vec();
    damaged[byte % stored.len()] ^= 0x01;
    let changed = tracker::store::unpack_chunk(&damaged).map_or(true, |r| r != records);
    tree.insert(key, damaged).expect("write");
    db.flush().expect("flush");
    (first, first + count - 1, changed)
}
