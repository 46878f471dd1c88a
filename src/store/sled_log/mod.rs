//! The embedded event log on sled 0.34: [`SledLog`], its options and errors, what its parts share, and the
//! traits it serves — [`EventLog`], [`RecordStore`] (tokens, idempotency keys) and [`SnapshotStore`].
//!
//! Layout: the data directory holds `tracker.lock` (an exclusive lock held while the log is open), `sled/`, the
//! sled database, and `wal`, the write-ahead file (`wal.rs`). Tree `log` holds the events in chunks (see
//! `record.rs`): one entry per group of consecutive events, keyed by its first position; tree `meta` holds
//! markers such as an unfinished import. Only the log is stored: the stream-version, event-id and programme
//! indexes (`index.rs`) are derived from it and rebuilt in memory at open by reading record headers.
//!
//! The parts: `open.rs` opens a directory (the write-ahead file's replay, the index rebuild, sled opened again
//! after a long scan) and imports an export; `writer.rs` is the one thread that orders every append (group
//! commit, checkpoints); `read.rs` reads records from sled, never past the head. Nothing reaches sled before
//! room is made for it ahead of its data file (`room.rs`): before every commit, record write and snapshot.
//!
//! After a failed write or sync (of the write-ahead file, of sled at a checkpoint, or of a record) the log
//! refuses further writes until it is reopened: after a failed fsync the kernel may already have dropped the
//! dirty pages, so retrying could acknowledge data that is not on disk.

mod open;
mod read;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use events::Envelope;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{oneshot, watch};

use super::index::Index;
use super::room::Room;
use super::{AppendError, AppendRequest, Appended, EventLog, Head, LogStats, ReadError, RecordStore, Table, WriteFailure};
use crate::projection_store::SnapshotStore;

pub use open::open_raw;

/// A scan of at least this many events fills sled's cache for good (see [`SledLog::open_with`]): a log this long
/// is opened a second time after its indexes are rebuilt, and so is one that a start-up catch-up read this far.
pub const REOPEN_AFTER_EVENTS: u64 = 100_000;

/// Tuning of the embedded log.
#[derive(Clone, Debug)]
pub struct SledLogOptions {
    /// Create the data directory when it does not exist.
    pub create: bool,
    /// sled's page cache, in bytes. 4 MiB by default (of packed chunks, about 16 MiB of records): appends write
    /// to the last leaves, and reads are mostly of recent events, which are in those leaves; older ones come from
    /// the system's file cache. A bigger cache is memory the server keeps once a load has filled it
    /// (BENCHMARKS.md).
    pub cache_capacity: u64,
    /// Most events written in one group commit.
    pub max_batch_events: usize,
    /// A checkpoint (sled's flush and `fdatasync`, after which the write-ahead file starts over) is made before
    /// the frames written since the last one would pass this many bytes…
    pub checkpoint_bytes: u64,
    /// …and this long after the first frame written since the last one, busy or idle.
    pub checkpoint_every: Duration,
    /// sled's own background flush (every 500 ms, not synced). Only tests turn it off: then sled's files hold
    /// nothing written since the last checkpoint, and a killed process leaves everything to the write-ahead file.
    pub background_flush: bool,
}

impl Default for SledLogOptions {
    fn default() -> Self {
        SledLogOptions {
            create: true,
            cache_capacity: 4 * 1024 * 1024,
            max_batch_events: 2048,
            checkpoint_bytes: 16 * 1024 * 1024,
            checkpoint_every: Duration::from_secs(1),
            background_flush: true,
        }
    }
}

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no data directory at {0}")]
    Missing(PathBuf),
    #[error("data directory {0} is in use by another tracker process (a running server?); stop it first")]
    InUse(PathBuf),
    #[error("data directory {0} holds an unfinished import; remove the directory and import again")]
    UnfinishedImport(PathBuf),
    #[error("data directory {dir}: record at position {position} is unreadable ({reason}); run `tracker verify`")]
    Corrupt { dir: PathBuf, position: u64, reason: String },
    #[error("data directory {dir}: the write-ahead file `wal` cannot give back the events from position {position} on: {reason}")]
    WalDamaged { dir: PathBuf, position: u64, reason: String },
    #[error("data directory {dir}: {error}")]
    Io { dir: PathBuf, error: std::io::Error },
    #[error("data directory {dir}: sled: {error}")]
    Sled { dir: PathBuf, error: sled::Error },
}

/// What the writer thread, the readers and the log's face share.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    db: sled::Db,
    log: sled::Tree,
    data_file: File,
    /// Allocated room ahead of sled's data file, checked before sled is given anything to write (`room.rs`).
    room: Mutex<Room>,
    index: RwLock<Index>,
    head: RwLock<Head>,
    head_tx: watch::Sender<u64>,
    /// Set by the first failed write or sync; from then on every write is refused (see the module's comment).
    failure: Mutex<Option<WriteFailure>>,
    stats: Mutex<LogStats>,
    /// Events taken from the write-ahead file at open.
    replayed: u64,
    /// Events the open's index rebuild read.
    scanned: u64,
}

type Reply = oneshot::Sender<Result<Appended, AppendError>>;

/// The writer thread (`writer.rs`) and its inbox.
#[derive(Debug)]
struct Writer {
    requests: mpsc::Sender<(AppendRequest, Reply)>,
    thread: JoinHandle<()>,
}

/// The event log in a sled data directory.
#[derive(Debug)]
pub struct SledLog {
    shared: Arc<Shared>,
    writer: Mutex<Option<Writer>>,
    // Held for as long as the log is open; dropping it releases the directory.
    _lock: File,
}

impl SledLog {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Whether the open read [`REOPEN_AFTER_EVENTS`] or more events to rebuild the indexes (never when
    /// [`SledLog::reopen_storage`] kept them), so that sled is worth opening again ([`SledLog::open`]).
    pub fn scanned_enough_to_reopen(&self) -> bool {
        self.shared.scanned >= REOPEN_AFTER_EVENTS
    }

    /// How many events opening took from the write-ahead file (acknowledged, not yet checkpointed into sled when
    /// the last process stopped).
    pub fn replayed_at_open(&self) -> u64 {
        self.shared.replayed
    }

    /// Stops the writer after the appends already queued; it makes a last checkpoint. Also done on drop.
    pub fn close(&self) {
        if let Some(writer) = self.writer.lock().take() {
            drop(writer.requests);
            let _ = writer.thread.join();
        }
        let _ = self.shared.db.flush();
    }
}

/// Tokens and idempotency keys live in trees of the same database, named after their table; each write is
/// flushed and synced like an append.
impl RecordStore for SledLog {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, ReadError> {
        Ok(self.tree(table)?.get(key).map_err(unavailable)?.map(|v| v.to_vec()))
    }

    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, ReadError> {
        self.tree(table)?
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                Ok((String::from_utf8_lossy(&key).into_owned(), value.to_vec()))
            })
            .collect()
    }

    fn insert_new(&self, table: Table, key: &str, value: &[u8]) -> Result<bool, ReadError> {
        self.write_record(table, key.len() + value.len(), |tree| Ok(tree.compare_and_swap(key, None::<&[u8]>, Some(value))?.is_ok()))
    }

    fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<(), ReadError> {
        self.write_record(table, key.len() + value.len(), |tree| tree.insert(key, value).map(|_| ()))
    }

    fn replace(&self, table: Table, key: &str, expected: &[u8], value: &[u8]) -> Result<bool, ReadError> {
        self.write_record(table, key.len() + value.len(), |tree| Ok(tree.compare_and_swap(key, Some(expected), Some(value))?.is_ok()))
    }

    fn remove(&self, table: Table, key: &str) -> Result<bool, ReadError> {
        self.write_record(table, key.len(), |tree| Ok(tree.remove(key)?.is_some()))
    }

    fn remove_if(&self, table: Table, key: &str, expected: &[u8]) -> Result<bool, ReadError> {
        self.write_record(table, key.len(), |tree| Ok(tree.compare_and_swap(key, Some(expected), None::<&[u8]>)?.is_ok()))
    }
}

impl SledLog {
    /// Runs one change of a record table and makes it durable, under the same rule as appends: nothing is written
    /// once a write has failed, and a failure here stops appends too (both share sled's one data file). `bytes`
    /// is the size of the change, for which room is made first (`room.rs`).
    fn write_record<T>(
        &self,
        table: Table,
        bytes: usize,
        change: impl FnOnce(&sled::Tree) -> sled::Result<T>,
    ) -> Result<T, ReadError> {
        if let Some(failure) = self.shared.failure.lock().clone() {
            return Err(ReadError::WritesRefused(failure));
        }
        if let Err(error) = self.shared.room.lock().ensure(bytes as u64) {
            return Err(ReadError::WritesRefused(writes_failed(&self.shared, &error)));
        }
        let tree = self.tree(table)?;
        let written = change(&tree).map_err(sled_io).and_then(|changed| durable_flush(&self.shared).map(|()| changed));
        written.map_err(|error| ReadError::WritesRefused(writes_failed(&self.shared, &error)))
    }
}

fn unavailable(error: impl std::fmt::Display) -> ReadError {
    ReadError::Unavailable(error.to_string())
}

impl SledLog {
    fn tree(&self, table: Table) -> Result<sled::Tree, ReadError> {
        self.shared.db.open_tree(table.name()).map_err(unavailable)
    }
}

/// Snapshots of derived state live in tree `snapshots` of the same database, beside the log.
#[derive(Debug)]
struct SledSnapshots {
    db: sled::Db,
}

impl SnapshotStore for SledSnapshots {
    fn load_snapshot(&self, name: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let tree = self.db.open_tree("snapshots").map_err(|e| ReadError::Unavailable(e.to_string()))?;
        Ok(tree.get(name).map_err(|e| ReadError::Unavailable(e.to_string()))?.map(|v| v.to_vec()))
    }

    fn save_snapshot(&self, name: &str, bytes: &[u8]) -> Result<(), ReadError> {
        let tree = self.db.open_tree("snapshots").map_err(|e| ReadError::Unavailable(e.to_string()))?;
        tree.insert(name, bytes).map_err(|e| ReadError::Unavailable(e.to_string()))?;
        Ok(())
    }
}

impl SnapshotStore for SledLog {
    fn load_snapshot(&self, name: &str) -> Result<Option<Vec<u8>>, ReadError> {
        SledSnapshots { db: self.shared.db.clone() }.load_snapshot(name)
    }

    /// Like every other write, refused after a failed write and made room for first (`room.rs`): a snapshot big
    /// enough to be one of sled's blob files needs that much free space beside the data file.
    fn save_snapshot(&self, name: &str, bytes: &[u8]) -> Result<(), ReadError> {
        if let Some(failure) = self.shared.failure.lock().clone() {
            return Err(ReadError::WritesRefused(failure));
        }
        let blob = bytes.len() as u64 > open::segment_size(&self.shared.dir) as u64 / 4;
        let mut room = self.shared.room.lock();
        let made = if blob { room.free_beside(bytes.len() as u64) } else { room.ensure(bytes.len() as u64) };
        drop(room);
        made.map_err(|error| ReadError::Unavailable(format!("no room for the {name} snapshot: {error}")))?;
        SledSnapshots { db: self.shared.db.clone() }.save_snapshot(name, bytes)
    }
}

impl Drop for SledLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// Appends go to the writer thread (`writer.rs`); reads are answered here, from sled up to the head (`read.rs`).
#[async_trait]
impl EventLog for SledLog {
    async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let (reply, answer) = oneshot::channel();
        {
            let writer = self.writer.lock();
            let writer = writer.as_ref().ok_or_else(|| AppendError::Unavailable("the log is closed".into()))?;
            writer
                .requests
                .send((request, reply))
                .map_err(|_| AppendError::Unavailable("the log writer has stopped".into()))?;
        }
        let started = std::time::Instant::now();
        let outcome = answer.await.map_err(|_| AppendError::Unavailable("the log writer has stopped".into()))?;
        if outcome.is_ok() {
            self.shared.stats.lock().observe_append(started.elapsed());
        }
        outcome
    }

    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        self.events_from(from, limit)
    }

    async fn read_stream(&self, stream: &str, from_version: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        self.stream_events(stream, from_version, limit)
    }

    async fn read_programme(&self, programme: &str, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        let positions = self.shared.index.read().programme_positions(programme, from, limit);
        self.fetch_all(&positions)
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, ReadError> {
        self.current_version(stream)
    }

    async fn head(&self) -> Result<Head, ReadError> {
        Ok(*self.shared.head.read())
    }

    async fn wait_beyond(&self, position: u64) -> Result<u64, ReadError> {
        let mut heads = self.shared.head_tx.subscribe();
        let head = heads
            .wait_for(|&head| head > position)
            .await
            .map_err(|_| ReadError::Unavailable("the log is closed".into()))?;
        Ok(*head)
    }

    fn stats(&self) -> LogStats {
        *self.shared.stats.lock()
    }

    fn write_failure(&self) -> Option<WriteFailure> {
        self.shared.failure.lock().clone()
    }
}

/// sled's flush, then an `fdatasync` of its data file: sled 0.34's flush ends in `sync_file_range`, which does
/// not empty the drive's volatile cache.
fn durable_flush(shared: &Shared) -> std::io::Result<()> {
    shared.db.flush().map_err(sled_io)?;
    shared.data_file.sync_data()
}

/// sled's error as the operating system's, so that a full disk stays recognisable.
fn sled_io(error: sled::Error) -> std::io::Error {
    match error {
        sled::Error::Io(error) => error,
        other => std::io::Error::other(other),
    }
}

/// Records the first failure of a write or sync, after which every write is refused, and returns it.
fn writes_failed(shared: &Shared, error: &std::io::Error) -> WriteFailure {
    let mut failure = shared.failure.lock();
    if let Some(first) = failure.as_ref() {
        return first.clone();
    }
    let first = WriteFailure::from_io(error);
    tracing::error!(dir = %shared.dir.display(), %error, "writing to the data directory failed; refusing every write until restart");
    *failure = Some(first.clone());
    first
}
