//! Reading the log from sled: the walk over the stored chunks ([`scan`]) that every read, the index rebuild and
//! the writer's checks use, and the reads of [`EventLog`](crate::store::EventLog). Readers never look past the
//! head, which the writer moves only once a commit is durable: they never see an event that a crash could still
//! take away.

use events::Envelope;

use super::SledLog;
use crate::store::record;
use crate::store::ReadError;

/// A record that could not be read, or sled failing.
#[derive(Debug)]
pub(super) enum ScanError {
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
pub(super) fn scan(
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
pub(super) fn fetch(log: &sled::Tree, position: u64) -> Result<Envelope, ReadError> {
    let mut found = None;
    scan(log, position, position, |p, record| {
        found = Some(record::decode(p, record).map_err(|reason| Corrupt { position: p, reason })?);
        Ok(false)
    })?;
    found.ok_or_else(|| ReadError::Corrupt { position, reason: "the record is missing".into() })
}

/// The version of the event at `position` if it belongs to `stream`, from its record's header: how the index
/// tells apart the streams that share a tag (`index.rs`).
pub(super) fn version_at(log: &sled::Tree, position: u64, stream: &str) -> Result<Option<u64>, ScanError> {
    let mut found = None;
    scan(log, position, position, |p, record| {
        let header = record::decode_header(record).map_err(|reason| Corrupt { position: p, reason })?;
        found = Some((header.stream == stream).then_some(header.version));
        Ok(false)
    })?;
    found.ok_or_else(|| Corrupt { position, reason: "the record is missing".into() })
}

/// The reads of [`EventLog`](crate::store::EventLog), which answers them with these.
impl SledLog {
    /// Up to `limit` events from position `from`, up to the head.
    pub(super) fn events_from(&self, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
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

    /// Up to `limit` events of `stream` from version `from_version`.
    pub(super) fn stream_events(&self, stream: &str, from_version: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
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

    /// The current version of `stream`, or `None` when it has no events.
    pub(super) fn current_version(&self, stream: &str) -> Result<Option<u64>, ReadError> {
        let candidates = self.shared.index.read().stream_candidates(stream);
        let version = candidates.version(|p| version_at(&self.shared.log, p, stream))?;
        Ok((version > 0).then_some(version))
    }

    /// The events at these positions, in their order.
    pub(super) fn fetch_all(&self, positions: &[u64]) -> Result<Vec<Envelope>, ReadError> {
        positions.iter().map(|&p| fetch(&self.shared.log, p)).collect()
    }
}
