//! The embedded event log on sled 0.34.
//!
//! Layout: the data directory holds `tracker.lock` (an exclusive lock held while the log is open) and `sled/`,
//! the sled database. Tree `log` holds the events in chunks (see `record.rs`): one entry per group of
//! consecutive events, keyed by its first position; tree `meta` holds markers such as an unfinished import. Only the log is stored: the stream-version, event-id and programme
//! indexes (`index.rs`) are derived from it and rebuilt in memory at open by reading record headers.
//!
//! Writes: one writer thread orders every append. It takes whatever requests are queued (group commit), checks
//! each against the indexes plus what the same batch already staged, writes all accepted events in one atomic
//! sled batch, then `flush`es sled and `fdatasync`s sled's data file — sled 0.34's flush ends in
//! `sync_file_range`, which does not empty the drive's volatile cache. Only then are the indexes and the head
//! updated and the appenders answered. Readers never look past the head, so they never see an event that a
//! crash could still take away. After a failed write or sync the log refuses further writes until it is
//! reopened: after a failed fsync the kernel may already have dropped the dirty pages, so retrying could
//! acknowledge data that is not on disk.
//!
//! sled writes any log item bigger than a quarter of a segment to a separate "blob" file that it never syncs.
//! A leaf node holds up to 17 chunks of at most 64 KiB (or one record, whose payload is capped at
//! [`MAX_EVENT_DATA_BYTES`](super::MAX_EVENT_DATA_BYTES)), so segments are 16 MiB (blob threshold 4 MiB): no
//! node can reach the threshold.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use events::{ChainHash, Envelope, Timestamp};
use fs4::fs_std::FileExt;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::index::Index;
use super::record;
use crate::projection_store::SnapshotStore;
use super::{
    AppendError, AppendRequest, Appended, EventLog, ExpectedVersion, Head, LogStats, ReadError, RecordStore, Table, WriteFailure,
    MAX_EVENTS_PER_APPEND,
    MAX_EVENT_DATA_BYTES,
};

/// A log at least this long is opened a second time after its indexes are rebuilt, to empty sled's cache.
const REOPEN_AFTER_EVENTS: u64 = 100_000;

const SEGMENT_SIZE: usize = 16 * 1024 * 1024;
const MAX_NAME_BYTES: usize = 255;
const IMPORT_MARKER: &[u8] = b"import_in_progress";
const IMPORT_BATCH: usize = 4096;

/// Tuning of the embedded log.
#[derive(Clone, Debug)]
pub struct SledLogOptions {
    /// Create the data directory when it does not exist.
    pub create: bool,
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Most events written in one group commit.
    pub max_batch_events: usize,
}

impl Default for SledLogOptions {
    fn default() -> Self {
        SledLogOptions { create: true, cache_capacity: 64 * 1024 * 1024, max_batch_events: 2048 }
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
    #[error("data directory {dir}: {error}")]
    Io { dir: PathBuf, error: std::io::Error },
    #[error("data directory {dir}: sled: {error}")]
    Sled { dir: PathBuf, error: sled::Error },
}

fn sled_config(dir: &Path) -> sled::Config {
    sled::Config::new().path(dir.join("sled")).segment_size(SEGMENT_SIZE)
}

/// sled on a data directory, configured as the log uses it, for tests and benchmarks that need the raw trees.
/// Waits, like [`SledLog::open`], for a handle of this process that is still closing.
pub fn open_raw(dir: &Path) -> sled::Result<sled::Db> {
    open_sled(dir, SledLogOptions::default().cache_capacity)
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    db: sled::Db,
    log: sled::Tree,
    data_file: File,
    index: RwLock<Index>,
    head: RwLock<Head>,
    head_tx: watch::Sender<u64>,
    /// Set by the first failed write or sync; from then on every write is refused (see the module's comment).
    failure: Mutex<Option<WriteFailure>>,
    stats: Mutex<LogStats>,
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
    pub fn open(dir: &Path, options: SledLogOptions) -> Result<SledLog, OpenError> {
        SledLog::open_with(dir, options, |_| ()).map(|(log, ())| log)
    }

    /// [`SledLog::open`], running `meanwhile` on another thread with the directory's snapshots while the
    /// indexes are rebuilt: start-up restores a projection's snapshot in the time the log takes to open.
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
        let sled_error = |error| OpenError::Sled { dir: dir.to_owned(), error };
        let db = open_sled(dir, options.cache_capacity).map_err(sled_error)?;
        let meta = db.open_tree("meta").map_err(sled_error)?;
        if meta.get(IMPORT_MARKER).map_err(sled_error)?.is_some() {
            return Err(OpenError::UnfinishedImport(dir.to_owned()));
        }
        let log = db.open_tree("log").map_err(sled_error)?;

        let snapshots = SledSnapshots { db: db.clone() };
        let (index, meanwhile) = std::thread::scope(|scope| {
            let meanwhile = scope.spawn(|| meanwhile(&snapshots));
            let index = rebuild_index(dir, &log);
            (index, meanwhile.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        });
        let (index, head) = index?;
        // The rebuild paged every leaf of the log into sled's cache, and sled 0.34 evicts from a shard of its
        // cache only after 64 accesses to that shard: the few hundred large leaves of a scan never get there,
        // so the whole log would stay in memory. Reopening sled starts with an empty cache. Only worth it for a
        // big log: every open of sled starts new segments in its data file (an empty store's file grows from
        // about 6 to 16 MiB when opened twice), which a small store on a small disk feels.
        let (db, log) = if head.position >= REOPEN_AFTER_EVENTS {
            drop((log, meta, snapshots));
            drop(db);
            let db = open_sled(dir, options.cache_capacity).map_err(sled_error)?;
            let log = db.open_tree("log").map_err(sled_error)?;
            (db, log)
        } else {
            (db, log)
        };
        let data_file = File::open(dir.join("sled").join("db")).map_err(io)?;
        let (head_tx, _) = watch::channel(head.position);
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            db,
            log,
            data_file,
            index: RwLock::new(index),
            head: RwLock::new(head),
            head_tx,
            failure: Mutex::new(None),
            stats: Mutex::new(LogStats::default()),
        });
        let (requests, inbox) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let max_batch = options.max_batch_events.max(1);
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || run_writer(&writer_shared, &inbox, max_batch))
            .map_err(io)?;
        Ok((SledLog { shared, writer: Mutex::new(Some(Writer { requests, thread })), _lock: lock }, meanwhile))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Stops the writer after the appends already queued, and flushes. Also done on drop.
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
        self.write_record(table, |tree| Ok(tree.compare_and_swap(key, None::<&[u8]>, Some(value))?.is_ok()))
    }

    fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<(), ReadError> {
        self.write_record(table, |tree| tree.insert(key, value).map(|_| ()))
    }

    fn remove(&self, table: Table, key: &str) -> Result<bool, ReadError> {
        self.write_record(table, |tree| Ok(tree.remove(key)?.is_some()))
    }
}

impl SledLog {
    /// Runs one change of a record table and makes it durable, under the same rule as appends: nothing is written
    /// once a write has failed, and a failure here stops appends too (both share sled's one data file).
    fn write_record<T>(&self, table: Table, change: impl FnOnce(&sled::Tree) -> sled::Result<T>) -> Result<T, ReadError> {
        if let Some(failure) = self.shared.failure.lock().clone() {
            return Err(ReadError::WritesRefused(failure));
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

    fn save_snapshot(&self, name: &str, bytes: &[u8]) -> Result<(), ReadError> {
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
fn open_sled(dir: &Path, cache_capacity: u64) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match sled_config(dir).cache_capacity(cache_capacity).open() {
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

fn write_chunks(log: &sled::Tree, envelopes: &[Envelope]) -> Result<(), sled::Error> {
    let mut batch = sled::Batch::default();
    for (first, value) in record::chunks(envelopes) {
        batch.insert(&record::key(first), value);
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
        let positions = self.shared.index.read().stream_positions(stream, from_version, limit);
        self.fetch_all(&positions)
    }

    async fn read_programme(&self, programme: &str, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        let positions = self.shared.index.read().programme_positions(programme, from, limit);
        self.fetch_all(&positions)
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, ReadError> {
        let version = self.shared.index.read().stream_version(stream);
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

fn run_writer(shared: &Shared, inbox: &mpsc::Receiver<(AppendRequest, Reply)>, max_batch: usize) {
    while let Ok(first) = inbox.recv() {
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
        commit_batch(shared, batch);
    }
}

fn commit_batch(shared: &Shared, batch: Vec<(AppendRequest, Reply)>) {
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
        if let Err(error) = write_durably(shared, &staged) {
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

fn write_durably(shared: &Shared, staged: &[Envelope]) -> std::io::Result<()> {
    write_chunks(&shared.log, staged).map_err(sled_io)?;
    let started = std::time::Instant::now();
    durable_flush(shared)?;
    let mut stats = shared.stats.lock();
    stats.commits += 1;
    stats.events += staged.len() as u64;
    stats.batch_sizes[LogStats::bucket(staged.len() as u64)] += 1;
    stats.sync_micros += started.elapsed().as_micros() as u64;
    Ok(())
}

impl BatchBuilder<'_> {
    fn stage(&mut self, request: &AppendRequest) -> Outcome {
        if let Err(reason) = check_shape(request) {
            return Outcome::Refused(AppendError::Invalid(reason));
        }
        match self.already_stored(request) {
            Ok(Some(envelopes)) => return Outcome::AlreadyStored(envelopes),
            Ok(None) => {}
            Err(error) => return Outcome::Refused(error),
        }
        let current = self
            .staged_versions
            .get(&request.stream)
            .copied()
            .unwrap_or_else(|| self.index.stream_version(&request.stream));
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
            let current = self
                .staged_versions
                .get(&guard.stream)
                .copied()
                .unwrap_or_else(|| self.index.stream_version(&guard.stream));
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
            let existing = if let Some(&i) = self.staged_ids.get(&proposed.id) {
                Some(self.staged[i].clone())
            } else if let Some(position) = self.index.position_of(proposed.id) {
                Some(fetch(&self.shared.log, position).map_err(|e| AppendError::Unavailable(e.to_string()))?)
            } else {
                None
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
