//! The event log as the application sees it: the [`EventLog`] trait, what an append asks for and what it
//! answers. Nothing above this trait knows which engine stores the log or whether its writer runs in this
//! process; `sled_log` is the embedded engine and the default, `postgres` the engine that several nodes share.

mod engine;
mod index;
mod postgres;
mod record;
mod room;
mod sled_log;
mod staging;
mod wal;

use async_trait::async_trait;
use events::{ChainHash, Envelope, EventData, Timestamp};
use uuid::Uuid;

pub use engine::{Engine, StoreLocation};
pub use postgres::{PgLog, PgLogOptions, PgOpenError, SchemaError};
pub use sled_log::{open_raw, OpenError, SledLog, SledLogOptions, REOPEN_AFTER_EVENTS};

/// The records of a chunk as sled stores it in the `log` tree (`record.rs`: packed, or plain in stores written
/// before packing), each preceded by its length (u32, big-endian): for tests and tools that read sled's raw
/// entries. An error says why the chunk is unreadable.
pub fn unpack_chunk(stored: &[u8]) -> Result<Vec<u8>, String> {
    record::unpack(stored).map(std::borrow::Cow::into_owned)
}

/// The bytes sled stores for a chunk of these records (the inverse of [`unpack_chunk`]).
pub fn pack_chunk(records: &[u8]) -> Vec<u8> {
    record::pack(records).into_owned()
}

/// Largest payload of one event, in bytes of canonical JSON. Bigger events are refused so that every node sled
/// writes stays in its log, where `fdatasync` reaches it (see `sled_log`).
pub const MAX_EVENT_DATA_BYTES: usize = 96 * 1024;

/// Most events one append may carry.
pub const MAX_EVENTS_PER_APPEND: usize = 1000;

/// What the appender believes about the stream before its events are added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must have at least one event.
    Exists,
    /// The stream's last version must be exactly this.
    Exact(u64),
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// One event to be appended; the log adds its place, time and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedEvent {
    pub id: Uuid,
    pub event_type: String,
    pub schema: u32,
    pub data: EventData,
}

/// One or more events for one stream, appended all together or not at all.
#[derive(Clone, Debug)]
pub struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub programme: String,
    pub actor: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub events: Vec<ProposedEvent>,
    /// Another stream that must still be at the version the decision was made against, checked in the same
    /// atomic step as `expected` (an activity is recorded against its programme's periods and partners).
    pub guard: Option<StreamGuard>,
}

/// A stream and the version it must have for an append to go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamGuard {
    pub stream: String,
    pub version: u64,
}

/// A successful append: the stored envelopes, in order.
#[derive(Clone, Debug)]
pub struct Appended {
    pub envelopes: Vec<Envelope>,
    /// True when every event was already stored with the same content (an idempotent retry).
    pub already_stored: bool,
}

impl Appended {
    /// The stream's version after the append.
    pub fn stream_version(&self) -> u64 {
        self.envelopes.last().map_or(0, |e| e.version)
    }

    /// The position of the last appended event.
    pub fn last_position(&self) -> u64 {
        self.envelopes.last().map_or(0, |e| e.position)
    }
}

/// Why an append changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("stream '{stream}' expected {expected}, but its current version is {current}")]
    WrongExpectedVersion { stream: String, expected: ExpectedVersion, current: u64 },
    #[error("stream '{stream}' changed to version {current} since version {expected} was read")]
    GuardChanged { stream: String, expected: u64, current: u64 },
    #[error("event {id} is already stored in stream '{stream}' with other content")]
    IdempotencyConflict { id: Uuid, stream: String },
    #[error("invalid append: {0}")]
    Invalid(String),
    #[error("the event log is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    WritesRefused(WriteFailure),
}

/// A write or sync of the store failed, so the store refuses every later write until it is reopened: after a
/// failed `fsync` the kernel may have dropped the unwritten pages, and a later sync that succeeds would not bring
/// them back (PostgreSQL's "fsyncgate"). What was acknowledged before the failure is safe.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the event log refuses writes since writing to its storage failed ({cause}); restart once the storage is fixed")]
pub struct WriteFailure {
    /// The storage is full (`ENOSPC`, or a quota).
    pub storage_full: bool,
    /// The operating system's words, without the path: "No space left on device (os error 28)".
    pub cause: String,
}

impl WriteFailure {
    pub fn from_io(error: &std::io::Error) -> WriteFailure {
        use std::io::ErrorKind;
        let storage_full = matches!(error.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded);
        WriteFailure { storage_full, cause: os_words(error) }
    }
}

/// The error's text as the operating system words it. sled passes some IO errors on as the `Debug` text of the
/// original (`Os { code: 28, kind: StorageFull, message: "No space left on device" }`); those are put back into
/// the usual form, "No space left on device (os error 28)".
fn os_words(error: &std::io::Error) -> String {
    let text = error.to_string();
    let field = |name: &str, end: char| {
        let start = text.find(name)? + name.len();
        text[start..].split(end).next().map(str::to_owned)
    };
    match (text.starts_with("Os {"), field("message: \"", '"'), field("code: ", ',')) {
        (true, Some(message), Some(code)) => format!("{message} (os error {code})"),
        _ => text,
    }
}

/// Why a read failed. Reads of positions beyond the head are not errors; they return nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("stored record at position {position} is unreadable: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("the event log is unavailable: {0}")]
    Unavailable(String),
    /// A write of a record (a token, an idempotency key) was refused: see [`WriteFailure`].
    #[error("{0}")]
    WritesRefused(WriteFailure),
}

/// The latest acknowledged event: publish it so that an auditor can later detect a truncated or rewritten log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub position: u64,
    pub hash: ChainHash,
    pub recorded_at: Option<Timestamp>,
}

impl Head {
    pub const EMPTY: Head = Head { position: 0, hash: ChainHash::GENESIS, recorded_at: None };
}

/// The event at `position`, or `None` beyond the head.
pub async fn event_at(log: &dyn EventLog, position: u64) -> Result<Option<Envelope>, ReadError> {
    Ok(log.read_all(position, 1).await?.into_iter().next().filter(|e| e.position == position))
}

/// What the writer has done since the log was opened, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Group commits written (each one frame of the write-ahead file: one write and one `fdatasync`).
    pub commits: u64,
    /// Checkpoints made (sled's flush and an `fdatasync` of its data file, after which the write-ahead file
    /// starts over).
    pub checkpoints: u64,
    /// Events written by those commits.
    pub events: u64,
    /// Commits by how many events they carried: 1, 2–8, 9–64, 65–512, more.
    pub batch_sizes: [u64; 5],
    /// Time spent making commits durable (the write-ahead file's write and `fdatasync`), in microseconds.
    pub sync_micros: u64,
    /// Successful appends by the time from request to durable answer: up to 0.5, 1, 2.5, 5, 10, 25, 50, 100 ms,
    /// more.
    pub append_latency: [u64; 9],
    /// The sum of those times, in microseconds.
    pub append_micros: u64,
}

impl LogStats {
    /// The upper bounds of `batch_sizes`' buckets (the last one is unbounded).
    pub const BATCH_BOUNDS: [u64; 4] = [1, 8, 64, 512];

    /// The upper bounds of `append_latency`'s buckets in seconds (the last one is unbounded).
    pub const LATENCY_BOUNDS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

    pub fn observe_append(&mut self, took: std::time::Duration) {
        let seconds = took.as_secs_f64();
        let bucket = LogStats::LATENCY_BOUNDS.iter().position(|&b| seconds <= b).unwrap_or(LogStats::LATENCY_BOUNDS.len());
        self.append_latency[bucket] += 1;
        self.append_micros += took.as_micros() as u64;
    }

    pub fn bucket(events: u64) -> usize {
        LogStats::BATCH_BOUNDS.iter().position(|&bound| events <= bound).unwrap_or(LogStats::BATCH_BOUNDS.len())
    }
}

/// Small durable records kept beside the log that are not events: API tokens (stored by name, holding only the
/// hash of their secret) and idempotency keys. Every write is on stable storage before it returns. Calls block;
/// async callers run them with `spawn_blocking`.
pub trait RecordStore: Send + Sync + std::fmt::Debug + 'static {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, ReadError>;
    /// Every record of a table, by key.
    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, ReadError>;
    /// Stores `value` unless `key` exists; `false` when it did (nothing is changed then).
    fn insert_new(&self, table: Table, key: &str, value: &[u8]) -> Result<bool, ReadError>;
    /// Stores `value` under `key`, replacing what was there.
    fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<(), ReadError>;
    /// Stores `value` under `key` only while `key` still holds `expected`; `false` when it holds something else
    /// or nothing (nothing is changed then). What a process writes back from its memory goes through this, so
    /// that it never undoes a change another process made meanwhile (a revocation, a sign-out).
    fn replace(&self, table: Table, key: &str, expected: &[u8], value: &[u8]) -> Result<bool, ReadError>;
    /// Removes `key`; `false` when it was not there.
    fn remove(&self, table: Table, key: &str) -> Result<bool, ReadError>;
    /// Removes `key` only while it still holds `expected`; `false` when it holds something else or nothing.
    fn remove_if(&self, table: Table, key: &str, expected: &[u8]) -> Result<bool, ReadError>;
}

/// The tables of a [`RecordStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Tokens,
    IdempotencyKeys,
    /// People's accounts (`crate::people`).
    People,
    /// Browser sessions, by the hash of their cookie.
    Sessions,
    /// Failed sign-ins by account name and by address, for the throttle (`crate::people::throttle`).
    SignInFailures,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Tokens => "tokens",
            Table::IdempotencyKeys => "idempotency_keys",
            Table::People => "people",
            Table::Sessions => "sessions",
            Table::SignInFailures => "sign_in_failures",
        }
    }
}

/// The append-only, hash-chained event log.
#[async_trait]
pub trait EventLog: Send + Sync + std::fmt::Debug + 'static {
    /// Appends the request's events to its stream atomically; answers once they are on stable storage.
    async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError>;

    /// Up to `limit` events of the global log from `from` (inclusive), in position order.
    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError>;

    /// Up to `limit` events of one stream from `from_version` (inclusive); empty for an unknown stream.
    async fn read_stream(&self, stream: &str, from_version: u64, limit: usize) -> Result<Vec<Envelope>, ReadError>;

    /// Up to `limit` events of one programme (all its streams) from position `from` (inclusive).
    async fn read_programme(&self, programme: &str, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError>;

    /// The current version of a stream, or `None` when it has no events.
    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, ReadError>;

    /// The latest acknowledged event.
    async fn head(&self) -> Result<Head, ReadError>;

    /// A position at or below the head, known without asking the store when the engine keeps one (PostgreSQL:
    /// the highest head this server saw committed). For what only needs a lower bound, such as the head an
    /// append was sent at.
    async fn known_head_position(&self) -> Result<u64, ReadError> {
        Ok(self.head().await?.position)
    }

    /// Waits until the head is beyond `position` and returns the new head position. Wakes on appends,
    /// never by polling the store.
    async fn wait_beyond(&self, position: u64) -> Result<u64, ReadError>;

    /// What the writer has done since the log was opened.
    fn stats(&self) -> LogStats {
        LogStats::default()
    }

    /// Why the log refuses writes, once a write or sync of its storage has failed; `None` while it accepts them.
    fn write_failure(&self) -> Option<WriteFailure> {
        None
    }
}
