//! The writer: one thread orders every append. It takes whatever requests are queued (group commit), checks
//! each against the indexes plus what the same batch already staged, writes the accepted events as one frame
//! of the write-ahead file with one `pwrite` and one `fdatasync`, then puts the same records into sled without
//! flushing it (see [`write_body`]). Only then are the indexes and the head updated and the appenders
//! answered. Room for the commit is made ahead of sled's data file before the frame is written (`room.rs`).
//!
//! A *checkpoint* — every [`SledLogOptions::checkpoint_bytes`] of frames, [`SledLogOptions::checkpoint_every`]
//! after the first frame since the last one, and at close — `flush`es sled and `fdatasync`s sled's data file
//! (sled 0.34's flush ends in `sync_file_range`, which does not empty the drive's volatile cache); after it
//! the write-ahead file starts over under a new epoch. A batch too big for the file goes to sled directly and
//! is flushed and synced before it is answered.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use events::{Envelope, Timestamp};
use uuid::Uuid;

use super::read::{fetch, version_at};
use super::{durable_flush, sled_io, writes_failed, Reply, Shared, SledLogOptions, Writer};
use crate::store::index::Index;
use crate::store::record;
use crate::store::wal::Wal;
use crate::store::staging::{batch_of, check_shape, stored_retry, versions_hold, ChainEnd};
use crate::store::{AppendError, AppendRequest, Appended, Head, LogStats, ReadError};

/// Starts the writer thread of a log just opened, with its write-ahead file.
pub(super) fn start(shared: &Arc<Shared>, options: &SledLogOptions, wal: Wal) -> std::io::Result<Writer> {
    let (requests, inbox) = mpsc::channel();
    let writer_shared = Arc::clone(shared);
    let checkpoints = Checkpoints { bytes: options.checkpoint_bytes, every: options.checkpoint_every, since: None };
    let max_batch = options.max_batch_events.max(1);
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || run_writer(&writer_shared, &inbox, max_batch, wal, checkpoints))?;
    Ok(Writer { requests, thread })
}

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
    end: ChainEnd,
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
        let batch = batch_of(first, max_batch, || inbox.try_recv().ok());
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
        end: ChainEnd { next_position: head.position + 1, last_hash: head.hash, last_recorded_at: head.recorded_at },
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
            // The frame takes the new epoch when it is written.
            checkpoint_now(shared, wal, checkpoints)?;
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
    insert_chunks(log, chunks)
}

/// Inserts chunks (first position, records) into sled one by one, unflushed, in order: what sled keeps after a
/// crash is a prefix of them (see [`write_body`]). Also how the open replays a frame.
pub(super) fn insert_chunks<'a>(log: &sled::Tree, chunks: impl IntoIterator<Item = (u64, &'a [u8])>) -> std::io::Result<()> {
    for (first, value) in chunks {
        log.insert(record::key(first), &*record::pack(value)).map_err(sled_io)?;
    }
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
        let current = match versions_hold(request, |stream| self.current_version(stream)) {
            Ok(current) => current,
            Err(error) => return Outcome::Refused(error),
        };
        let start = self.staged.len();
        let mut version = current;
        for proposed in &request.events {
            version += 1;
            let envelope = self.end.seal(request, proposed, version, Timestamp::now());
            self.staged_ids.insert(proposed.id, self.staged.len());
            self.staged.push(envelope);
        }
        self.staged_versions.insert(request.stream.clone(), version);
        Outcome::Staged(start..self.staged.len())
    }

    /// `Some` when every event of the request is already stored with the same content; an error when some are
    /// stored with other content or elsewhere, or only some of them are stored.
    fn already_stored(&self, request: &AppendRequest) -> Result<Option<Vec<Envelope>>, AppendError> {
        stored_retry(request, |id| match self.staged_ids.get(&id) {
            Some(&i) => Ok(Some(self.staged[i].clone())),
            None => self.stored_with_id(id),
        })
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
