//! Keeps the progress projection's state and the position it has applied, so that start-up catches up from
//! there instead of replaying the whole log. A snapshot is `[u32 version][u64 position][32-byte chain hash at
//! that position][CRC-32 of the state][state]`, the state in the projection's own binary form (`ProgressProjection::to_snapshot`); it is rebuilt from the log when the projection's code version changed, when it
//! is unreadable, or when it does not belong to this log (the hash at its position differs, or the log is
//! shorter). Snapshots are derived data: losing one costs a replay, never an event.

use events::ChainHash;
use projections::ProgressProjection;

use crate::report::catch_up;
use crate::store::{
    event_at, Engine, EventLog, OpenError, PgLog, PgLogOptions, PgOpenError, ReadError, SledLog, SledLogOptions, StoreLocation,
    REOPEN_AFTER_EVENTS,
};

/// Where snapshots of derived state are kept (a sled tree for the embedded store, a table for PostgreSQL).
pub trait SnapshotStore: Send + Sync {
    fn load_snapshot(&self, name: &str) -> Result<Option<Vec<u8>>, ReadError>;
    /// Stores a snapshot; durable with the store's next flush.
    fn save_snapshot(&self, name: &str, bytes: &[u8]) -> Result<(), ReadError>;
}

const PROGRESS: &str = "progress";
const HEADER: usize = 4 + 8 + 32 + 4;

/// How the projection was brought up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    /// From a snapshot at `position`, then `applied` newer events from the log.
    FromSnapshot { position: u64, applied: u64 },
    /// From the whole log, for `reason`.
    Rebuilt { reason: String, applied: u64 },
}

/// The progress projection, up to the log's head: from its snapshot when one fits, else rebuilt. A new
/// snapshot is saved whenever events were applied.
pub async fn load_progress(
    log: &dyn EventLog,
    snapshots: &dyn SnapshotStore,
) -> Result<(ProgressProjection, Restored), ReadError> {
    let prepared = prepare_progress(snapshots)?;
    load_prepared_progress(log, snapshots, prepared).await
}

/// Opens the log in `dir` and brings the progress projection up to date ([`load_progress`]), reading its
/// snapshot while the log rebuilds its indexes.
pub async fn open_with_progress(
    dir: &std::path::Path,
    options: SledLogOptions,
) -> Result<(SledLog, ProgressProjection, Restored), StartError> {
    open_with_progress_reopening(dir, options, REOPEN_AFTER_EVENTS).await
}

/// [`open_with_progress`], opening sled again when the catch-up applied at least `reopen_after` events or the
/// index rebuild read [`REOPEN_AFTER_EVENTS`] or more. Reading much of the log pages it into sled's cache, which
/// keeps it (see `SledLog::open`): opening sled again (`SledLog::reopen_storage`, which keeps the indexes) empties
/// the cache, so a server that rebuilt its indexes or its projection does not hold the log. Once, after both.
pub async fn open_with_progress_reopening(
    dir: &std::path::Path,
    options: SledLogOptions,
    reopen_after: u64,
) -> Result<(SledLog, ProgressProjection, Restored), StartError> {
    // One core rebuilds the log's indexes; the snapshot is decoded on the others.
    let threads = crate::report::cores().saturating_sub(1).max(1);
    let (mut log, prepared) = SledLog::open_with(dir, options.clone(), |snapshots| prepare_progress_on(snapshots, threads))?;
    let (projection, restored) = load_prepared_progress(&log, &log, prepared?).await?;
    let applied = match &restored {
        Restored::FromSnapshot { applied, .. } | Restored::Rebuilt { applied, .. } => *applied,
    };
    if applied >= reopen_after || log.scanned_enough_to_reopen() {
        log = log.reopen_storage(options)?;
    }
    Ok((log, projection, restored))
}

/// Opens the log wherever `location` says and brings the progress projection up to date: for sled exactly
/// [`open_with_progress`]; for PostgreSQL from the snapshot the nodes share in the database (table `snapshots`),
/// caught up from the log, or rebuilt from the log when it does not fit.
pub async fn open_store_with_progress(location: &StoreLocation) -> Result<(Engine, ProgressProjection, Restored), StartError> {
    match location {
        StoreLocation::Sled(dir) => {
            let (log, projection, restored) = open_with_progress(dir, SledLogOptions::default()).await?;
            Ok((Engine::Sled(std::sync::Arc::new(log)), projection, restored))
        }
        StoreLocation::Postgres(url) => {
            let log = PgLog::open(url, PgLogOptions::default()).await?;
            let (projection, restored) = load_progress(&log, &log).await?;
            Ok((Engine::Postgres(std::sync::Arc::new(log)), projection, restored))
        }
    }
}

/// Why the log and its projection could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Postgres(#[from] PgOpenError),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A stored snapshot, read and decoded but not yet checked against the log (which may still be opening).
#[derive(Debug)]
pub struct PreparedSnapshot(Result<(ProgressProjection, ChainHash), String>);

/// Reads and decodes the progress snapshot; whether it belongs to the log is checked when it is loaded.
pub fn prepare_progress(snapshots: &dyn SnapshotStore) -> Result<PreparedSnapshot, ReadError> {
    prepare_progress_on(snapshots, crate::report::cores())
}

/// [`prepare_progress`], decoding on up to `threads` threads.
fn prepare_progress_on(snapshots: &dyn SnapshotStore, threads: usize) -> Result<PreparedSnapshot, ReadError> {
    Ok(PreparedSnapshot(match snapshots.load_snapshot(PROGRESS)? {
        None => Err("no snapshot".to_owned()),
        Some(bytes) => decode_snapshot(&bytes, threads),
    }))
}

/// [`load_progress`] from a snapshot read beforehand.
pub async fn load_prepared_progress(
    log: &dyn EventLog,
    snapshots: &dyn SnapshotStore,
    prepared: PreparedSnapshot,
) -> Result<(ProgressProjection, Restored), ReadError> {
    let checked = match prepared.0 {
        Ok((projection, hash)) => {
            let position = projection.position();
            if hash_at(log, position).await? == Some(hash) {
                Ok(projection)
            } else {
                Err(format!("the snapshot at position {position} does not belong to this log"))
            }
        }
        Err(reason) => Err(reason),
    };
    let (mut projection, reason) = match checked {
        Ok(projection) => (projection, None),
        Err(reason) => (ProgressProjection::new(), Some(reason)),
    };
    let start = projection.position();
    catch_up(log, &mut projection).await?;
    let applied = projection.position() - start;
    if applied > 0 || reason.is_some() {
        // The snapshot only saves the next start some reading: a store that cannot take it (a nearly full disk)
        // still starts, and serves its reads.
        if let Err(error) = save_progress(log, snapshots, &projection).await {
            tracing::warn!(%error, "could not save the progress snapshot; the next start catches up from the log");
        }
    }
    let restored = match reason {
        None => Restored::FromSnapshot { position: start, applied },
        Some(reason) => Restored::Rebuilt { reason, applied },
    };
    Ok((projection, restored))
}

/// Replays the whole log into a fresh projection and saves it (`tracker rebuild`).
pub async fn rebuild_progress(
    log: &dyn EventLog,
    snapshots: &dyn SnapshotStore,
) -> Result<ProgressProjection, ReadError> {
    let mut projection = ProgressProjection::new();
    catch_up(log, &mut projection).await?;
    save_progress(log, snapshots, &projection).await?;
    Ok(projection)
}

/// Saves the projection with the chain hash of the position it has applied.
pub async fn save_progress(
    log: &dyn EventLog,
    snapshots: &dyn SnapshotStore,
    projection: &ProgressProjection,
) -> Result<(), ReadError> {
    let hash = hash_at(log, projection.position()).await?.unwrap_or(ChainHash::GENESIS);
    let threads = crate::report::cores();
    let mut bytes = projection.to_snapshot_after(HEADER, threads);
    let checksum = crc32fast::hash(&bytes[HEADER..]);
    bytes[0..4].copy_from_slice(&ProgressProjection::VERSION.to_be_bytes());
    bytes[4..12].copy_from_slice(&projection.position().to_be_bytes());
    bytes[12..44].copy_from_slice(&hash.0);
    bytes[44..HEADER].copy_from_slice(&checksum.to_be_bytes());
    snapshots.save_snapshot(PROGRESS, &bytes)
}

async fn hash_at(log: &dyn EventLog, position: u64) -> Result<Option<ChainHash>, ReadError> {
    if position == 0 {
        return Ok(Some(ChainHash::GENESIS));
    }
    Ok(event_at(log, position).await?.map(|e| e.hash))
}

/// The snapshot's projection and the chain hash at its position, or why it cannot be used.
fn decode_snapshot(bytes: &[u8], threads: usize) -> Result<(ProgressProjection, ChainHash), String> {
    if bytes.len() < HEADER {
        return Err("the snapshot is truncated".into());
    }
    let version = u32::from_be_bytes(bytes[0..4].try_into().expect("4 bytes"));
    if version != ProgressProjection::VERSION {
        return Err(format!("the snapshot has version {version}, the code version {}", ProgressProjection::VERSION));
    }
    let position = u64::from_be_bytes(bytes[4..12].try_into().expect("8 bytes"));
    let hash = ChainHash(bytes[12..44].try_into().expect("32 bytes"));
    let state = &bytes[HEADER..];
    // Snapshots are far bigger than anything else in sled (a blob of its own, which sled does not sync): a
    // checksum makes a damaged one a rebuild, never a wrong state. A CRC-32 (not a SHA-256, which took 30 ms of
    // every save and every start at a million events): the snapshot is derived data guarded against damage,
    // not evidence — the log's hash chain is that, and the snapshot names the chain hash it belongs to.
    if crc32fast::hash(state).to_be_bytes()[..] != bytes[44..HEADER] {
        return Err("the snapshot is unreadable: its checksum does not match".into());
    }
    match ProgressProjection::from_snapshot(state, threads) {
        Ok(projection) if projection.position() == position => Ok((projection, hash)),
        Ok(_) => Err("the snapshot's state does not match its position".into()),
        Err(e) => Err(e.to_string()),
    }
}
