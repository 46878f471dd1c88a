//! Opening a data directory: sled, the write-ahead file's replay, the index rebuild, sled opened again after a
//! long scan; and filling an empty directory from an export.
//!
//! At open, before the indexes are rebuilt, the frames of the write-ahead file holding positions beyond sled's
//! last stored one are replayed into sled (each record checked to continue the hash chain) and flushed: a torn
//! last frame was never acknowledged and is left out; a damaged frame followed by whole ones is an error naming
//! the first position it would lose. The indexes are then rebuilt from the records' headers.
//!
//! sled writes any log item bigger than a quarter of a segment to a separate "blob" file that it never syncs.
//! A leaf node holds up to 17 chunks of at most 64 KiB (or one record, whose payload is capped at
//! [`MAX_EVENT_DATA_BYTES`](crate::store::MAX_EVENT_DATA_BYTES): at most 1.7 MiB in all), so segments are 8 MiB
//! (blob threshold 2 MiB): no node can reach the threshold. sled keeps the segment it is filling in a buffer of
//! that size, so the segment is memory too (BENCHMARKS.md). A store keeps the segment size it was made with
//! (older stores have 16 MiB: sled refuses to open a store with another), read from sled's own `conf` file.

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use events::{ChainHash, Envelope};
use fs4::fs_std::FileExt;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use super::read::{scan, ScanError, ScanError::Corrupt};
use super::writer::{self, insert_chunks};
use super::{durable_flush, OpenError, Shared, SledLog, SledLogOptions, SledSnapshots};
use crate::projection_store::SnapshotStore;
use crate::store::index::Index;
use crate::store::record;
use crate::store::room::Room;
use crate::store::wal::{self, Wal};
use crate::store::{Head, LogStats};

/// sled's segment size for a new store (see the module's comment).
const SEGMENT_SIZE: usize = 8 * 1024 * 1024;
const IMPORT_MARKER: &[u8] = b"import_in_progress";
const IMPORT_BATCH: usize = 4096;

fn sled_config(dir: &Path, background_flush: bool) -> sled::Config {
    let flush_every_ms = background_flush.then_some(500);
    sled::Config::new().path(dir.join("sled")).segment_size(segment_size(dir)).flush_every_ms(flush_every_ms)
}

/// The segment size of the store in `dir`, as sled's `conf` file records it; [`SEGMENT_SIZE`] for a new store.
pub(super) fn segment_size(dir: &Path) -> usize {
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

impl SledLog {
    /// Opens (or creates) the log in `dir` and rebuilds its indexes from the stored records.
    ///
    /// The rebuild pages every leaf of the log into sled's cache, and sled 0.34 evicts from a shard of its cache
    /// only after 64 accesses to that shard: the leaves of a scan never get there, so the whole log would stay in
    /// memory. After a scan of [`REOPEN_AFTER_EVENTS`](super::REOPEN_AFTER_EVENTS) or more, sled is opened again,
    /// with an empty cache ([`SledLog::reopen_storage`]). Only worth it for a big log: every open of sled starts
    /// new segments in its data file (an empty store's file grows from about 6 to 16 MiB when opened twice),
    /// which a small store on a small disk feels.
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
        let writer = writer::start(&shared, &options, wal).map_err(io)?;
        Ok((SledLog { shared, writer: Mutex::new(Some(writer)), _lock: lock }, meanwhile))
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
    let mut chunks = Vec::new();
    for frame in &contents.frames {
        // One walk over the frame's records: those beyond sled's head are checked and cut into chunks as the
        // writer cuts them, then stored once the whole frame is read.
        let (mut count, mut at) = (0, 0);
        chunks.clear();
        for (i, bytes) in record::records(frame.body).enumerate() {
            let position = frame.first + i as u64;
            let bytes = bytes.map_err(|(_, reason)| damaged(position, reason))?;
            let record = at..at + 4 + bytes.len();
            (count, at) = (count + 1, record.end);
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
            add_to_chunks(&mut chunks, position, record);
            (head, hash, events) = (position, envelope.hash, events + 1);
        }
        if count != frame.records {
            return Err(damaged(frame.first, format!("a frame announces {} records but holds {count}", frame.records)));
        }
        let stored = chunks.iter().map(|(first, chunk)| (*first, &frame.body[chunk.clone()]));
        insert_chunks(log, stored).map_err(|error| OpenError::Io { dir: dir.to_owned(), error })?;
    }
    if events > 0 {
        tracing::info!(dir = %dir.display(), events, last = head, bytes = contents.end, "took acknowledged events from the write-ahead file");
    }
    Ok(Replayed { epoch: contents.epoch, events })
}

/// Adds the record at `position`, bytes `record` of a frame's body (its length included, right after the last
/// chunk's bytes), to the chunks cut from the body: to the last chunk while that stays within
/// [`record::CHUNK_BYTES`], else as a chunk of its own. The cut [`record::split_into_chunks`] makes of a commit.
fn add_to_chunks(chunks: &mut Vec<(u64, Range<usize>)>, position: u64, record: Range<usize>) {
    match chunks.last_mut() {
        Some((_, chunk)) if record.end - chunk.start <= record::CHUNK_BYTES => chunk.end = record.end,
        _ => chunks.push((position, record)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use events::{EventData, Timestamp};

    /// Chained envelopes from position 1 with payloads of these sizes.
    fn chained(sizes: &[usize]) -> Vec<Envelope> {
        let mut previous = ChainHash::GENESIS;
        (1..)
            .zip(sizes)
            .map(|(position, &size)| {
                let mut envelope = Envelope {
                    position,
                    stream: format!("s-{position}"),
                    version: 1,
                    id: uuid::Uuid::from_u128(u128::from(position)),
                    event_type: "Tested".into(),
                    schema: 1,
                    programme: "p".into(),
                    recorded_at: Timestamp::from_micros(position as i64),
                    actor: "t".into(),
                    correlation_id: None,
                    causation_id: None,
                    data: EventData::from_value(&serde_json::json!({ "n": position, "text": "x".repeat(size) })),
                    hash: ChainHash::GENESIS,
                };
                envelope.hash = envelope.expected_hash(&previous);
                previous = envelope.hash;
                envelope
            })
            .collect()
    }

    fn entries(log: &sled::Tree) -> Vec<(Vec<u8>, Vec<u8>)> {
        log.iter().map(|entry| entry.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
    }

    #[test]
    fn the_replay_stores_a_frame_in_the_chunks_the_writer_makes_of_it_from_where_sled_stops() {
        // Frames of 3, 9 and 4 events, payloads big enough that a frame makes several chunks (and one event is
        // bigger than a chunk).
        let sizes = [100, 30_000, 20, 25_000, 25_000, 70_000, 10, 30_000, 30_000, 5, 40_000, 1, 20_000, 20_000, 300, 9];
        let envelopes = chained(&sizes);
        let frames = [&envelopes[..3], &envelopes[3..12], &envelopes[12..]];
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(&dir.path().join("wal")).unwrap();
        wal.restart(None).unwrap();
        let written = sled::Config::new().temporary(true).open().unwrap().open_tree("log").unwrap();
        let mut bodies = Vec::new();
        for frame in frames {
            wal.build(frame);
            wal.append().unwrap();
            bodies.push(wal.body().to_vec());
            let chunks = record::split_into_chunks(frame[0].position, wal.body()).unwrap();
            insert_chunks(&written, chunks).unwrap();
        }
        let bytes = std::fs::read(dir.path().join("wal")).unwrap();
        let all = entries(&written);
        assert_eq!(all.len(), 6, "the second frame makes four chunks");
        // sled kept a prefix of the writer's inserts: nothing, the first frame, part of the second one…
        for kept in 0..=all.len() {
            let log = sled::Config::new().temporary(true).open().unwrap().open_tree("log").unwrap();
            for (key, value) in &all[..kept] {
                log.insert(key, &value[..]).unwrap();
            }
            let replayed = replay_wal(dir.path(), &log, &bytes).unwrap();
            assert_eq!(entries(&log), all, "sled kept {kept} chunks");
            let held = all[..kept].iter().map(|(_, value)| record::records(&record::unpack(value).unwrap()).count() as u64);
            assert_eq!(replayed.events, envelopes.len() as u64 - held.sum::<u64>(), "sled kept {kept} chunks");
        }
    }
}
