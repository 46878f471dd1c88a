//! What every engine's writer decides the same way, so that the engines cannot drift apart: the shape an append
//! must have, whether an expected version holds, whether a stored event is an idempotent retry of a proposed
//! one, and the envelope (with its place in the hash chain) that a proposed event becomes. The sled writer
//! (`sled_log/writer.rs`) and the PostgreSQL writer (`postgres/writer.rs`) both build envelopes here, so the same
//! events at the same positions and times hash to the same bytes in either engine.

use events::{ChainHash, Envelope, Timestamp};
use uuid::Uuid;

use super::{AppendError, AppendRequest, ExpectedVersion, ProposedEvent, MAX_EVENTS_PER_APPEND, MAX_EVENT_DATA_BYTES};

const MAX_NAME_BYTES: usize = 255;

/// Why a request cannot be appended whatever the log holds, or `Ok` when its shape is fine.
pub(super) fn check_shape(request: &AppendRequest) -> Result<(), String> {
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

/// Whether a stream at version `current` (0: no events) meets `expected`.
pub(super) fn expected_holds(expected: ExpectedVersion, current: u64) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current == 0,
        ExpectedVersion::Exists => current > 0,
        ExpectedVersion::Exact(v) => current == v,
    }
}

/// What a writer commits at once: `first` and the requests already waiting behind it (`waiting` gives the next,
/// without blocking), up to `max_events` events.
pub(super) fn batch_of<T>(first: (AppendRequest, T), max_events: usize, mut waiting: impl FnMut() -> Option<(AppendRequest, T)>) -> Vec<(AppendRequest, T)> {
    let mut events = first.0.events.len();
    let mut batch = vec![first];
    while events < max_events {
        let Some(next) = waiting() else { break };
        events += next.0.events.len();
        batch.push(next);
    }
    batch
}

/// The version of the request's stream its events follow, once its expected version and its guard hold
/// against `version_of` (the versions as the writer sees them, its staged batch included); the refusal
/// otherwise.
pub(super) fn versions_hold(
    request: &AppendRequest,
    version_of: impl Fn(&str) -> Result<u64, AppendError>,
) -> Result<u64, AppendError> {
    let current = version_of(&request.stream)?;
    if !expected_holds(request.expected, current) {
        return Err(AppendError::WrongExpectedVersion { stream: request.stream.clone(), expected: request.expected, current });
    }
    if let Some(guard) = &request.guard {
        let current = version_of(&guard.stream)?;
        if current != guard.version {
            return Err(AppendError::GuardChanged { stream: guard.stream.clone(), expected: guard.version, current });
        }
    }
    Ok(current)
}

/// `Some` (the stored envelopes) when every event of the request is already stored with the same content (an
/// idempotent retry); `None` when none is; an error when some are stored with other content or in another
/// stream, or only some of them are stored. `stored` finds the envelope stored (or staged) under an id.
pub(super) fn stored_retry(
    request: &AppendRequest,
    mut stored: impl FnMut(Uuid) -> Result<Option<Envelope>, AppendError>,
) -> Result<Option<Vec<Envelope>>, AppendError> {
    let mut found = Vec::new();
    for proposed in &request.events {
        if let Some(existing) = stored(proposed.id)? {
            if !same_event(&existing, &request.stream, proposed) {
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

/// Whether `existing`, stored under the id of `proposed`, is the same event appended to `stream` again.
fn same_event(existing: &Envelope, stream: &str, proposed: &ProposedEvent) -> bool {
    existing.stream == stream
        && existing.event_type == proposed.event_type
        && existing.schema == proposed.schema
        && existing.data == proposed.data
}

/// Where the next envelope goes in the log: its position, the hash before it and the last `recorded_at`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChainEnd {
    pub(super) next_position: u64,
    pub(super) last_hash: ChainHash,
    pub(super) last_recorded_at: Option<Timestamp>,
}

impl ChainEnd {
    /// The envelope of `proposed` as event `version` of the request's stream, read at `now` (never earlier than
    /// the event before it), hashed onto the chain; the end moves past it.
    pub(super) fn seal(&mut self, request: &AppendRequest, proposed: &ProposedEvent, version: u64, now: Timestamp) -> Envelope {
        self.seal_keeping_bytes(request, proposed, version, now).0
    }

    /// [`ChainEnd::seal`], also giving the canonical bytes that were hashed (what the PostgreSQL engine stores).
    pub(super) fn seal_keeping_bytes(
        &mut self,
        request: &AppendRequest,
        proposed: &ProposedEvent,
        version: u64,
        now: Timestamp,
    ) -> (Envelope, Vec<u8>) {
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
        // What `Envelope::expected_hash` computes, keeping the bytes.
        let canonical = envelope.canonical_bytes();
        envelope.hash = self.last_hash.next(&canonical);
        self.last_hash = envelope.hash;
        self.last_recorded_at = Some(recorded_at);
        self.next_position += 1;
        (envelope, canonical)
    }
}
