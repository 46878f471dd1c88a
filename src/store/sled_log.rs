//! The embedded event log on sled 0.34.
//!
//! Layout: the data directory holds `tracker.lock` (an exclusive lock held while the log is open), `sled/`, the
//! sled database, and `wal`, the write-ahead file (`wal.rs`). Tree `log` holds the events in chunks (see
//! `record.rs`): one entry per group of consecutive events, keyed by its first position; tree `meta` holds
//! markers such as an unfinished import. Only the log is stored: the stream-version, event-id and programme
//! indexes (`index.rs`) are derived from it and rebuilt in memory at open by reading record headers.
//!
//! Writes: one writer thread orders every append. It takes whatever requests are queued (group commit), checks
//! each against the indexes plus what the same batch already staged, writes the accepted events as one frame
//! of the write-ahead file with one `pwrite` and one `fdatasync`, then puts the same records into sled without
//! flushing it (see `write_body`). Only then are the indexes and the head updated and the appenders
//! answered. Readers never look past the head, so they never see an event that a crash could still take away.
//! A *checkpoint* — every [`SledLogOptions::checkpoint_bytes`] of frames, [`SledLogOptions::checkpoint_every`]
//! after the first frame since the last one, and at close — `flush`es sled and `fdatasync`s sled's data file
//! (sled 0.34's flush ends in `sync_file_range`, which does not empty the drive's volatile cache); after it
//! the write-ahead file starts over under a new epoch. At open, before the indexes are rebuilt, the frames
//! holding positions beyond sled's last stored one are replayed into sled (each record checked to continue
//! the hash chain) and flushed: a torn last frame was never acknowledged and is left out; a damaged frame
//! followed by whole ones is an error naming the first position it would lose. A batch too big for the file
//! goes to sled directly and is flushed and synced before it is answered.
//!
//! After a failed write or sync (of the write-ahead file, of sled at a checkpoint, or of a record) the log
//! refuses further writes until it is reopened: after a failed fsync the kernel may already have dropped the
//! dirty pages, so retrying could acknowledge data that is not on disk.
//!
//! sled writes any log item bigger than a quarter of a segment to a separate "blob" file that it never syncs.
//! A leaf node holds up to 17 chunks of at most 64 KiB (or one record, whose payload is capped at
//! [`MAX_EVENT_DATA_BYTES`](super::MAX_EVENT_DATA_BYTES): at most 1.7 MiB in all), so segments are 8 MiB (blob
//! threshold 2 MiB): no node can reach the threshold. sled keeps the segment it is filling in a buffer of that
//! size, so the segment is memory too (BENCHMARKS.md, issue 6). A store keeps the segment size it was made with
//! (stores made before session 5 have 16 MiB: sled refuses to open a store with another), read from sled's own
//! `conf` file.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use events::{ChainHash, Envelope, Timestamp};
use fs4::fs_std::FileExt;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::index::Index;
use super::record;
use super::room::Room;
use super::wal::{self, Wal};
use crate::projection_store::SnapshotStore;
use super::{
    AppendError, AppendRequest, Appended, EventLog, ExpectedVersion, Head, LogStats, ReadError, RecordStore, Table, WriteFailure,
    MAX_EVENTS_PER_APPEND,
    MAX_EVENT_DATA_BYTES,
};

/// A scan of at least this many events fills sled's cache for good (see [`SledLog::open_with`]): a log this long
/// is opened a second time after its indexes are rebuilt, and so is one that a start-up catch-up read this far.
pub const REOPEN_AFTER_EVENTS: u64 = 100_000;

/// sled's segment size for a new store (see the module's comment).
const SEGMENT_SIZE: usize = 8 * 1024 * 1024;
const MAX_NAME_BYTES: usize = 255;
const IMPORT_MARKER: &[u8] = b"import_in_progress";
const IMPORT_BATCH: usize = 4096;

/// Tuning of the embedded log.
#[derive(Clone, Debug)]
pub struct SledLogOptions {
    /// Create the data directory when it does not exist.
    pub create: bool,
    /// sled's page cache, in bytes. 4 MiB by default (of packed chunks, about 16 MiB of records): appends write
    /// to the last leaves, and reads are mostly of recent events, which are in those leaves; older ones come from
    /// the system's file cache. A bigger cache is memory the server keeps once a load has filled it
    /// (BENCHMARKS.md, issue 6).
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

fn sled_config(dir: &Path, background_flush: bool) -> sled::Config {
    let flush_every_ms = background_flush.then_some(500);
    sled::Config::new().path(dir.join("sled")).segment_size(segment_size(dir)).flush_every_ms(flush_every_ms)
}

/// The segment size of the store in `dir`, as sled's `conf` file records it; [`SEGMENT_SIZE`] for a new store.
fn segment_size(dir: &Path) -> usize {
    let conf = std::fs::read(dir.join("sled").join("conf")).unwrap_or_default();
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|line| line.strip_prefix("segment_size: ")?.trim().parse().ok())
        .unwrap_or(SEGMENT_SIZE)
}

/// sled on a data directory, configured as the log uses it, for tests and benchmarks that need the raw trees.
/// Waits, like [`SledLog::open`], for a handle of this process that is still closing.
pub fn open_raw(dir: &Path) -> sled::Result<sled::Db> {
    open_sled(dir, &SledLogOptions::default())
}

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
    /// Opens (or creates) the log in `dir` and rebuilds its indexes from the stored records.
    ///
    /// The rebuild pages every leaf of the log into sled's cache, and sled 0.34 evicts from a shard of its cache
    /// only after 64 accesses to that shard: the leaves of a scan never get there, so the whole log would stay in
    /// memory. After a scan of [`REOPEN_AFTER_EVENTS`] or more, sled is opened again, with an empty cache
    /// ([`SledLog::reopen_storage`]). Only worth it for a big log: every open of sled starts new segments in its
    /// data file (an empty store's file grows from about 6 to 16 MiB when opened twice), which a small store on
    /// a small disk feels.
    pub fn open(dir: &Path, options: SledLogOptions) -> Result<SledLog, OpenError> {
        let (log, ()) = SledLog::open_with(dir, options.clone(), |_| ())?;
        if log.scanned_enough_to_reopen() {
            return log.reopen_storage(options);
        }
        Ok(log)
    }

    /// [`SledLog::open`] without opening sled again after the scan (the caller decides, with
    /// [`SledLog::scanned_enough_to_reopen`]: start-up reads more of the log to catch its projection up first, and opens
    /// sled again once), running `meanwhile` on another thread with the directory's snapshots while the indexes
    /// are rebuilt: start-up restores a projection's snapshot in the time the log takes to open.
    pub fn open_with<T: Send>(
        dir: &Path,
        options: SledLogOptions,
        meanwhile: impl FnOnce(&dyn SnapshotStore) -> T + Send,
    ) -> Result<(SledLog, T), OpenError> {
        let io = |error| OpenError::Io { dir: dir.to_owned(), error };
        if !dir.exists() {
            if !options.create {
                return Err(OpenError::Missing(dir.to_owned()));
            }
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let lock = File::options().create(true).truncate(false).write(true).open(dir.join("tracker.lock")).map_err(io)?;
        if !lock.try_lock_exclusive().map_err(io)? {
            return Err(OpenError::InUse(dir.to_owned()));
        }
        SledLog::open_locked(dir, options, lock, None, meanwhile)
    }

    /// Closes sled and opens it again, keeping the indexes and the head: sled's cache, which a long scan filled
    /// for good (see [`SledLog::open_with`]), starts empty, without the second open's index rebuild. The
    /// directory stays locked throughout. Should the write-ahead file hold anything after the close (it holds
    /// nothing after the close's checkpoint unless that failed), the indexes are rebuilt as at any open.
    pub fn reopen_storage(self, options: SledLogOptions) -> Result<SledLog, OpenError> {
        let dir = self.shared.dir.clone();
        let io = |error| OpenError::Io { dir: dir.clone(), error };
        self.close();
        let lock = self._lock.try_clone().map_err(io)?;
        let kept = self.shared.failure.lock().is_none().then(|| {
            let index = std::mem::take(&mut *self.shared.index.write());
            (index, *self.shared.head.read())
        });
        drop(self);
        SledLog::open_locked(&dir, options, lock, kept, |_| ()).map(|(log, ())| log)
    }

    /// Opens the log in `dir`, whose lock is held; `kept` are the indexes and head of this process's last
    /// handle on it, used when the write-ahead file gives nothing back.
    fn open_locked<T: Send>(
        dir: &Path,
        options: SledLogOptions,
        lock: File,
        kept: Option<(Index, Head)>,
        meanwhile: impl FnOnce(&dyn SnapshotStore) -> T + Send,
    ) -> Result<(SledLog, T), OpenError> {
        let io = |error| OpenError::Io { dir: dir.to_owned(), error };
        let sled_error = |error| OpenError::Sled { dir: dir.to_owned(), error };
        let db = open_sled(dir, &options).map_err(sled_error)?;
        let meta = db.open_tree("meta").map_err(sled_error)?;
        if meta.get(IMPORT_MARKER).map_err(sled_error)?.is_some() {
            return Err(OpenError::UnfinishedImport(dir.to_owned()));
        }
        let log = db.open_tree("log").map_err(sled_error)?;
        let wal_data_file = File::open(dir.join("sled").join("db")).map_err(io)?;
        let (mut wal, wal_bytes) = Wal::open(&dir.join("wal")).map_err(io)?;
        let replayed = replay_wal(dir, &log, &wal_bytes)?;
        if replayed.events > 0 {
            db.flush().map_err(sled_error)?;
            wal_data_file.sync_data().map_err(io)?;
        }
        drop((wal_bytes, wal_data_file));
        wal.restart(replayed.epoch).map_err(io)?;

        let snapshots = SledSnapshots { db: db.clone() };
        let kept = kept.filter(|_| replayed.events == 0);
        let scanned = kept.is_none();
        let (index, meanwhile) = std::thread::scope(|scope| {
            let meanwhile = scope.spawn(|| meanwhile(&snapshots));
            let index = match kept {
                Some(kept) => Ok(kept),
                None => rebuild_index(dir, &log),
            };
            (index, meanwhile.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        });
        let (index, head) = index?;
        let data_file = File::options().read(true).write(true).open(dir.join("sled").join("db")).map_err(io)?;
        let room = Room::new(data_file.try_clone().map_err(io)?, &dir.join("sled"), segment_size(dir) as u64);
        let (head_tx, _) = watch::channel(head.position);
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            db,
            log,
            data_file,
            room: Mutex::new(room),
            index: RwLock::new(index),
            head: RwLock::new(head),
            head_tx,
            failure: Mutex::new(None),
            stats: Mutex::new(LogStats::default()),
            replayed: replayed.events,
            scanned: if scanned { head.position } else { 0 },
        });
        let (requests, inbox) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let checkpoints = Checkpoints { bytes: options.checkpoint_bytes, every: options.checkpoint_every, since: None };
        let max_batch = options.max_batch_events.max(1);
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || run_writer(&writer_shared, &inbox, max_batch, wal, checkpoints))
            .map_err(io)?;
        Ok((SledLog { shared, writer: Mutex::new(Some(Writer { requests, thread })), _lock: lock }, meanwhile))
    }

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

    /// Fills an empty data directory with envelopes that were verified beforehand, keeping their positions,
    /// times and hashes. A marker makes an interrupted import visible at the next open.
    pub fn import(
        dir: &Path,
        envelopes: impl IntoIterator<Item = anyhow::Result<Envelope>>,
        mut progress: impl FnMut(u64),
    ) -> Result<Head, anyhow::Error> {
        use anyhow::Context as _;
        let log = SledLog::open(dir, SledLogOptions::default())?;
        if log.shared.head.read().position != 0 {
            anyhow::bail!("data directory {} already holds events; import needs an empty one", dir.display());
        }
        log.close();
        let shared = &log.shared;
        let meta = shared.db.open_tree("meta")?;
        meta.insert(IMPORT_MARKER, &[1u8][..])?;
        durable_flush(shared).context("marking the import as started")?;
        let mut pending = Vec::with_capacity(IMPORT_BATCH);
        let mut count = 0;
        for envelope in envelopes {
            pending.push(envelope?);
            if pending.len() == IMPORT_BATCH {
                count += pending.len() as u64;
                write_chunks(&shared.log, &pending)?;
                pending.clear();
                progress(count);
            }
        }
        count += pending.len() as u64;
        write_chunks(&shared.log, &pending)?;
        durable_flush(shared).context("writing the imported events")?;
        meta.remove(IMPORT_MARKER)?;
        durable_flush(shared).context("finishing the import")?;
        progress(count);
        let (_, head) = rebuild_index(dir, &shared.log)?;
        Ok(head)
    }

    fn fetch_all(&self, positions: &[u64]) -> Result<Vec<Envelope>, ReadError> {
        positions.iter().map(|&p| fetch(&self.shared.log, p)).collect()
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

    fn remove(&self, table: Table, key: &str) -> Result<bool, ReadError> {
        self.write_record(table, key.len(), |tree| Ok(tree.remove(key)?.is_some()))
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
        let blob = bytes.len() as u64 > segment_size(&self.shared.dir) as u64 / 4;
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

/// Opens sled. Holding `tracker.lock` means no other tracker process has the directory, so a busy sled lock
/// can only be a handle of this process that is still shutting down (sled releases its lock from background
/// threads after the last handle is dropped): wait for it, with a deadline generous enough for a loaded machine
/// (a test once failed at 5 s under load).
fn open_sled(dir: &Path, options: &SledLogOptions) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match sled_config(dir, options.background_flush).cache_capacity(options.cache_capacity).open() {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

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

/// A record that could not be read, or sled failing.
#[derive(Debug)]
enum ScanError {
    Corrupt { position: u64, reason: String },
    Sled(sled::Error),
}
use ScanError::Corrupt;

impl From<sled::Error> for ScanError {
    fn from(error: sled::Error) -> Self {
        ScanError::Sled(error)
    }
}

impl From<ScanError> for ReadError {
    fn from(error: ScanError) -> Self {
        match error {
            Corrupt { position, reason } => ReadError::Corrupt { position, reason },
            ScanError::Sled(e) => ReadError::Unavailable(e.to_string()),
        }
    }
}

/// Calls `visit` with each stored record from position `from` to `to` (inclusive) in order, until it returns
/// `false`. Positions are checked to follow on from one chunk to the next.
fn scan(
    log: &sled::Tree,
    from: u64,
    to: u64,
    mut visit: impl FnMut(u64, &[u8]) -> Result<bool, ScanError>,
) -> Result<(), ScanError> {
    // The chunk holding `from` is the last one starting at or before it.
    let start = match log.range(..=record::key(from)).next_back() {
        Some(item) => item?.0,
        None => sled::IVec::from(&record::key(from)),
    };
    let mut expected: Option<u64> = None;
    for item in log.range(start..) {
        let (key, chunk) = item?;
        let at = expected.unwrap_or(from);
        let first = record::position_of(&key).map_err(|reason| Corrupt { position: at, reason })?;
        if expected.is_some_and(|e| e != first) {
            return Err(Corrupt { position: at, reason: format!("the next stored position is {first}") });
        }
        if first > to {
            return Ok(());
        }
        let chunk = record::unpack(&chunk).map_err(|reason| Corrupt { position: first, reason })?;
        let mut position = first;
        for record in record::records(&chunk) {
            let record = record.map_err(|(i, reason)| Corrupt { position: first + i as u64, reason })?;
            if position > to {
                return Ok(());
            }
            if position >= from && !visit(position, record)? {
                return Ok(());
            }
            position += 1;
        }
        expected = Some(position);
    }
    Ok(())
}

/// The event at `position`.
fn fetch(log: &sled::Tree, position: u64) -> Result<Envelope, ReadError> {
    let mut found = None;
    scan(log, position, position, |p, record| {
        found = Some(record::decode(p, record).map_err(|reason| Corrupt { position: p, reason })?);
        Ok(false)
    })?;
    found.ok_or_else(|| ReadError::Corrupt { position, reason: "the record is missing".into() })
}

/// The version of the event at `position` if it belongs to `stream`, from its record's header: how the index
/// tells apart the streams that share a tag (`index.rs`).
fn version_at(log: &sled::Tree, position: u64, stream: &str) -> Result<Option<u64>, ScanError> {
    let mut found = None;
    scan(log, position, position, |p, record| {
        let header = record::decode_header(record).map_err(|reason| Corrupt { position: p, reason })?;
        found = Some((header.stream == stream).then_some(header.version));
        Ok(false)
    })?;
    found.ok_or_else(|| Corrupt { position, reason: "the record is missing".into() })
}

/// Inserts a frame's records into sled as chunks, one insert each, without flushing. Not one `apply_batch`:
/// sled 0.34 writes its buffer out (`pwrite` and `sync_file_range`, on its own threads) at every batch, which
/// competes with the frame's `fdatasync` for the disk; single inserts stay in its buffer until a checkpoint or its
/// background flush. The inserts come from this one thread, so what sled keeps after a crash is a prefix of them,
/// and replaying the write-ahead file completes a frame sled holds part of. With `one_batch` (a group commit
/// too big for the write-ahead file, which no frame will complete), one `apply_batch` instead: all or nothing.
fn write_body(log: &sled::Tree, first: u64, body: &[u8], one_batch: bool) -> std::io::Result<()> {
    let chunks = record::split_into_chunks(first, body).map_err(std::io::Error::other)?;
    if one_batch {
        let mut batch = sled::Batch::default();
        for (first, value) in chunks {
            batch.insert(&record::key(first), &*record::pack(value));
        }
        return log.apply_batch(batch).map_err(sled_io);
    }
    for (first, value) in chunks {
        log.insert(record::key(first), &*record::pack(value)).map_err(sled_io)?;
    }
    Ok(())
}

/// What opening took from the write-ahead file.
struct Replayed {
    epoch: Option<u64>,
    events: u64,
}

/// Puts the acknowledged events that the write-ahead file holds beyond sled's last stored position into sled
/// (unflushed: the caller flushes), checking that each continues the chain. A torn last frame is left out (it
/// was never acknowledged); anything else unreadable is an error naming the first position it loses.
fn replay_wal(dir: &Path, log: &sled::Tree, bytes: &[u8]) -> Result<Replayed, OpenError> {
    let corrupt = |position, reason| OpenError::Corrupt { dir: dir.to_owned(), position, reason };
    let damaged = |position, reason| OpenError::WalDamaged { dir: dir.to_owned(), position, reason };
    let sled_error = |error| OpenError::Sled { dir: dir.to_owned(), error };
    let (mut head, mut hash) = (0, ChainHash::GENESIS);
    if let Some((key, chunk)) = log.last().map_err(sled_error)? {
        let first = record::position_of(&key).map_err(|reason| corrupt(1, reason))?;
        let chunk = record::unpack(&chunk).map_err(|reason| corrupt(first, reason))?;
        for (i, bytes) in record::records(&chunk).enumerate() {
            let position = first + i as u64;
            let bytes = bytes.map_err(|(_, reason)| corrupt(position, reason))?;
            let header = record::decode_header(bytes).map_err(|reason| corrupt(position, reason))?;
            (head, hash) = (position, header.hash);
        }
    }
    let contents = wal::scan(bytes, head).map_err(|d| damaged(d.position, d.reason))?;
    let mut events = 0;
    for frame in &contents.frames {
        // The records beyond sled's head are checked, then stored as the frame holds them (from byte `from`).
        let (mut count, mut at, mut from) = (0, 0, None);
        for (i, bytes) in record::records(frame.body).enumerate() {
            let position = frame.first + i as u64;
            let bytes = bytes.map_err(|(_, reason)| damaged(position, reason))?;
            let start = at;
            (count, at) = (count + 1, at + 4 + bytes.len());
            if position <= head {
                continue;
            }
            if position != head + 1 {
                return Err(damaged(head + 1, format!("sled ends at position {head}, the write-ahead file goes on at {position}")));
            }
            let envelope = record::decode(position, bytes).map_err(|reason| damaged(position, reason))?;
            if envelope.expected_hash(&hash) != envelope.hash {
                return Err(damaged(position, "the record does not continue the hash chain".into()));
            }
            from.get_or_insert((position, start));
            (head, hash) = (position, envelope.hash);
        }
        if count != frame.records {
            return Err(damaged(frame.first, format!("a frame announces {} records but holds {count}", frame.records)));
        }
        if let Some((first, start)) = from {
            events += head + 1 - first;
            write_body(log, first, &frame.body[start..], false).map_err(|error| OpenError::Io { dir: dir.to_owned(), error })?;
        }
    }
    if events > 0 {
        tracing::info!(dir = %dir.display(), events, last = head, bytes = contents.end, "took acknowledged events from the write-ahead file");
    }
    Ok(Replayed { epoch: contents.epoch, events })
}

fn write_chunks(log: &sled::Tree, envelopes: &[Envelope]) -> Result<(), sled::Error> {
    let mut batch = sled::Batch::default();
    for (first, value) in record::chunks(envelopes) {
        batch.insert(&record::key(first), &*record::pack(&value));
    }
    log.apply_batch(batch)
}

/// Reads every record header and rebuilds the in-memory indexes. (Two scans side by side, one per index,
/// measured slower than one: sled's reads contend.)
fn rebuild_index(dir: &Path, log: &sled::Tree) -> Result<(Index, Head), OpenError> {
    // The first position of the last chunk is nearly the number of events: size the arrays once for it.
    let events = match log.last() {
        Ok(Some((key, _))) => usize::try_from(record::position_of(&key).unwrap_or(0)).unwrap_or(0),
        _ => 0,
    };
    let mut index = Index::builder(events);
    let mut head = Head::EMPTY;
    scan(log, 1, u64::MAX, |position, bytes| {
        if position != head.position + 1 {
            return Err(Corrupt { position: head.position + 1, reason: format!("the next stored position is {position}") });
        }
        let header = record::decode_header(bytes).map_err(|reason| Corrupt { position, reason })?;
        index.add(position, header.stream, header.version, header.id, header.programme);
        head = Head { position, hash: header.hash, recorded_at: Some(header.recorded_at) };
        Ok(true)
    })
    .map_err(|error| match error {
        Corrupt { position, reason } => OpenError::Corrupt { dir: dir.to_owned(), position, reason },
        ScanError::Sled(error) => OpenError::Sled { dir: dir.to_owned(), error },
    })?;
    Ok((index.finish(), head))
}

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
        let head = self.shared.head.read().position;
        let from = from.max(1);
        if from > head || limit == 0 {
            return Ok(Vec::new());
        }
        let last = head.min(from.saturating_add(limit as u64 - 1));
        let mut out = Vec::with_capacity((last - from + 1) as usize);
        scan(&self.shared.log, from, last, |position, record| {
            out.push(record::decode(position, record).map_err(|reason| Corrupt { position, reason })?);
            Ok(true)
        })?;
        Ok(out)
    }

    async fn read_stream(&self, stream: &str, from_version: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        // The index's candidates are read whole: those of this stream are what the read returns.
        let mut read = Vec::new();
        let candidates = self.shared.index.read().stream_candidates(stream);
        let positions = candidates.positions(from_version, limit, |position| {
            let envelope = fetch(&self.shared.log, position)?;
            let version = (envelope.stream == stream).then_some(envelope.version);
            read.extend(version.map(|_| envelope));
            Ok::<_, ReadError>(version)
        })?;
        positions
            .iter()
            .map(|&position| match read.iter().position(|e| e.position == position) {
                Some(i) => Ok(read.swap_remove(i)),
                None => fetch(&self.shared.log, position),
            })
            .collect()
    }

    async fn read_programme(&self, programme: &str, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        let positions = self.shared.index.read().programme_positions(programme, from, limit);
        self.fetch_all(&positions)
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, ReadError> {
        let candidates = self.shared.index.read().stream_candidates(stream);
        let version = candidates.version(|p| version_at(&self.shared.log, p, stream))?;
        Ok((version > 0).then_some(version))
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

// ---------------------------------------------------------------------------------------------------------------
// The writer

/// What one request in a batch will be answered with once the batch is durable.
enum Outcome {
    /// New events, as indexes into the batch's staged envelopes.
    Staged(std::ops::Range<usize>),
    /// An idempotent retry: the events already stored (or staged earlier in this batch).
    AlreadyStored(Vec<Envelope>),
    Refused(AppendError),
}

/// The writer's view while it builds one batch: the committed state plus what this batch has staged.
struct BatchBuilder<'a> {
    shared: &'a Shared,
    index: &'a Index,
    next_position: u64,
    last_hash: ChainHash,
    last_recorded_at: Option<Timestamp>,
    staged: Vec<Envelope>,
    staged_versions: HashMap<String, u64>,
    staged_ids: HashMap<Uuid, usize>,
}

/// When the writer makes a checkpoint.
struct Checkpoints {
    bytes: u64,
    every: Duration,
    /// When the first frame since the last checkpoint was written.
    since: Option<Instant>,
}

impl Checkpoints {
    /// How long the writer may wait for appends before a checkpoint is due.
    fn wait(&self) -> Duration {
        self.since.map_or(Duration::from_secs(3600), |since| self.every.saturating_sub(since.elapsed()))
    }
}

fn run_writer(
    shared: &Shared,
    inbox: &mpsc::Receiver<(AppendRequest, Reply)>,
    max_batch: usize,
    mut wal: Wal,
    mut checkpoints: Checkpoints,
) {
    loop {
        let first = match inbox.recv_timeout(checkpoints.wait()) {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                checkpoint(shared, &mut wal, &mut checkpoints);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        let mut events = batch[0].0.events.len();
        while events < max_batch {
            match inbox.try_recv() {
                Ok(next) => {
                    events += next.0.events.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        commit_batch(shared, &mut wal, &mut checkpoints, batch);
        if checkpoints.wait().is_zero() {
            checkpoint(shared, &mut wal, &mut checkpoints);
        }
    }
    // Closing: everything into sled, and a file that holds nothing to replay.
    checkpoint(shared, &mut wal, &mut checkpoints);
    if shared.failure.lock().is_none() {
        if let Err(error) = wal.sync() {
            writes_failed(shared, &error);
        }
    }
}

/// Makes sled durable and starts the write-ahead file over; a failure stops every later write.
fn checkpoint(shared: &Shared, wal: &mut Wal, checkpoints: &mut Checkpoints) {
    if shared.failure.lock().is_some() || !wal.holds_frames() {
        return;
    }
    if let Err(error) = checkpoint_now(shared, wal, checkpoints) {
        writes_failed(shared, &error);
    }
}

fn checkpoint_now(shared: &Shared, wal: &mut Wal, checkpoints: &mut Checkpoints) -> std::io::Result<()> {
    durable_flush(shared)?;
    wal.checkpointed()?;
    checkpoints.since = None;
    shared.stats.lock().checkpoints += 1;
    Ok(())
}

fn commit_batch(shared: &Shared, wal: &mut Wal, checkpoints: &mut Checkpoints, batch: Vec<(AppendRequest, Reply)>) {
    if let Some(failure) = shared.failure.lock().clone() {
        for (_, reply) in batch {
            let _ = reply.send(Err(AppendError::WritesRefused(failure.clone())));
        }
        return;
    }
    let index = shared.index.read();
    let head = *shared.head.read();
    let mut builder = BatchBuilder {
        shared,
        index: &index,
        next_position: head.position + 1,
        last_hash: head.hash,
        last_recorded_at: head.recorded_at,
        staged: Vec::new(),
        staged_versions: HashMap::new(),
        staged_ids: HashMap::new(),
    };
    let outcomes: Vec<Outcome> = batch.iter().map(|(request, _)| builder.stage(request)).collect();
    let staged = builder.staged;
    drop(index);

    if !staged.is_empty() {
        if let Err(error) = write_durably(shared, wal, checkpoints, &staged) {
            let failure = writes_failed(shared, &error);
            for (_, reply) in batch {
                let _ = reply.send(Err(AppendError::WritesRefused(failure.clone())));
            }
            return;
        }
        let mut index = shared.index.write();
        for e in &staged {
            index.add(e.position, &e.stream, e.version, e.id, &e.programme);
        }
        drop(index);
        let last = staged.last().expect("not empty");
        *shared.head.write() = Head { position: last.position, hash: last.hash, recorded_at: Some(last.recorded_at) };
        shared.head_tx.send_replace(last.position);
    }

    // The staged envelopes are moved into the answers, not copied: the ranges follow each other in request order.
    let mut staged = staged.into_iter();
    for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
        let answer = match outcome {
            Outcome::Staged(range) => {
                Ok(Appended { envelopes: staged.by_ref().take(range.len()).collect(), already_stored: false })
            }
            Outcome::AlreadyStored(envelopes) => Ok(Appended { envelopes, already_stored: true }),
            Outcome::Refused(error) => Err(error),
        };
        let _ = reply.send(answer);
    }
}

/// Makes a batch durable: one frame of the write-ahead file, written and synced, then the same records into
/// sled unflushed. A batch bigger than the file may hold goes to sled directly, and one checkpoint makes it
/// durable together with whatever frames the file holds.
fn write_durably(shared: &Shared, wal: &mut Wal, checkpoints: &mut Checkpoints, staged: &[Envelope]) -> std::io::Result<()> {
    let frame_bytes = wal.build(staged) as u64;
    shared.room.lock().ensure(frame_bytes)?;
    let started;
    if frame_bytes > checkpoints.bytes {
        // One atomic batch: no frame of the write-ahead file could complete a part of it that sled kept. It is
        // made of the frame's body, already encoded.
        started = Instant::now();
        write_body(&shared.log, staged[0].position, wal.body(), true)?;
        if wal.holds_frames() {
            checkpoint_now(shared, wal, checkpoints)?;
        } else {
            durable_flush(shared)?;
        }
    } else {
        if wal.holds_frames() && wal.used() + frame_bytes > checkpoints.bytes {
            checkpoint_now(shared, wal, checkpoints)?;
            wal.stamp(); // the frame was built under the epoch the checkpoint ended
        }
        started = Instant::now();
        wal.append()?;
        checkpoints.since.get_or_insert(started);
        write_body(&shared.log, staged[0].position, wal.body(), false)?;
    }
    let mut stats = shared.stats.lock();
    stats.commits += 1;
    stats.events += staged.len() as u64;
    stats.batch_sizes[LogStats::bucket(staged.len() as u64)] += 1;
    stats.sync_micros += started.elapsed().as_micros() as u64;
    Ok(())
}

impl BatchBuilder<'_> {
    /// A stream's version with what this batch already staged.
    fn current_version(&self, stream: &str) -> Result<u64, AppendError> {
        match self.staged_versions.get(stream) {
            Some(&version) => Ok(version),
            None => self
                .index
                .stream_version(stream, |p| version_at(&self.shared.log, p, stream))
                .map_err(|e| AppendError::Unavailable(ReadError::from(e).to_string())),
        }
    }

    fn stage(&mut self, request: &AppendRequest) -> Outcome {
        if let Err(reason) = check_shape(request) {
            return Outcome::Refused(AppendError::Invalid(reason));
        }
        match self.already_stored(request) {
            Ok(Some(envelopes)) => return Outcome::AlreadyStored(envelopes),
            Ok(None) => {}
            Err(error) => return Outcome::Refused(error),
        }
        let current = match self.current_version(&request.stream) {
            Ok(current) => current,
            Err(error) => return Outcome::Refused(error),
        };
        let matches = match request.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exists => current > 0,
            ExpectedVersion::Exact(v) => current == v,
        };
        if !matches {
            return Outcome::Refused(AppendError::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                current,
            });
        }
        if let Some(guard) = &request.guard {
            let current = match self.current_version(&guard.stream) {
                Ok(current) => current,
                Err(error) => return Outcome::Refused(error),
            };
            if current != guard.version {
                return Outcome::Refused(AppendError::GuardChanged {
                    stream: guard.stream.clone(),
                    expected: guard.version,
                    current,
                });
            }
        }
        let start = self.staged.len();
        let mut version = current;
        for proposed in &request.events {
            version += 1;
            let now = Timestamp::now();
            let recorded_at = self.last_recorded_at.map_or(now, |last| last.max(now));
            let mut envelope = Envelope {
                position: self.next_position,
                stream: request.stream.clone(),
                version,
                id: proposed.id,
                event_type: proposed.event_type.clone(),
                schema: proposed.schema,
                programme: request.programme.clone(),
                recorded_at,
                actor: request.actor.clone(),
                correlation_id: request.correlation_id,
                causation_id: request.causation_id,
                data: proposed.data.clone(),
                hash: ChainHash::GENESIS,
            };
            envelope.hash = envelope.expected_hash(&self.last_hash);
            self.last_hash = envelope.hash;
            self.last_recorded_at = Some(recorded_at);
            self.next_position += 1;
            self.staged_ids.insert(proposed.id, self.staged.len());
            self.staged.push(envelope);
        }
        self.staged_versions.insert(request.stream.clone(), version);
        Outcome::Staged(start..self.staged.len())
    }

    /// `Some` when every event of the request is already stored with the same content; an error when some are
    /// stored with other content or elsewhere, or only some of them are stored.
    fn already_stored(&self, request: &AppendRequest) -> Result<Option<Vec<Envelope>>, AppendError> {
        let mut found = Vec::new();
        for proposed in &request.events {
            let existing = match self.staged_ids.get(&proposed.id) {
                Some(&i) => Some(self.staged[i].clone()),
                None => self.stored_with_id(proposed.id)?,
            };
            if let Some(existing) = existing {
                let same = existing.stream == request.stream
                    && existing.event_type == proposed.event_type
                    && existing.schema == proposed.schema
                    && existing.data == proposed.data;
                if !same {
                    return Err(AppendError::IdempotencyConflict { id: proposed.id, stream: existing.stream });
                }
                found.push(existing);
            }
        }
        if found.is_empty() {
            Ok(None)
        } else if found.len() == request.events.len() {
            Ok(Some(found))
        } else {
            Err(AppendError::IdempotencyConflict { id: found[0].id, stream: request.stream.clone() })
        }
    }

    /// The stored event with this id: the index names where it may be, and each candidate is read.
    fn stored_with_id(&self, id: Uuid) -> Result<Option<Envelope>, AppendError> {
        for position in self.index.candidates_for_id(id) {
            let envelope = fetch(&self.shared.log, position).map_err(|e| AppendError::Unavailable(e.to_string()))?;
            if envelope.id == id {
                return Ok(Some(envelope));
            }
        }
        Ok(None)
    }
}

fn check_shape(request: &AppendRequest) -> Result<(), String> {
    if request.events.is_empty() {
        return Err("an append needs at least one event".into());
    }
    if request.events.len() > MAX_EVENTS_PER_APPEND {
        return Err(format!("an append carries at most {MAX_EVENTS_PER_APPEND} events"));
    }
    for (name, value) in [("stream", &request.stream), ("programme", &request.programme), ("actor", &request.actor)] {
        if value.is_empty() || value.len() > MAX_NAME_BYTES {
            return Err(format!("{name} must have 1 to {MAX_NAME_BYTES} bytes"));
        }
    }
    let mut ids = std::collections::HashSet::new();
    for event in &request.events {
        if event.event_type.is_empty() || event.event_type.len() > MAX_NAME_BYTES {
            return Err(format!("event type must have 1 to {MAX_NAME_BYTES} bytes"));
        }
        if event.data.len() > MAX_EVENT_DATA_BYTES {
            return Err(format!("event {} has {} bytes of data; at most {MAX_EVENT_DATA_BYTES}", event.id, event.data.len()));
        }
        if !ids.insert(event.id) {
            return Err(format!("event id {} appears twice in one append", event.id));
        }
    }
    Ok(())
}
