//! Runs domain commands against the log: read the aggregate's stream, rebuild its state, let the pure handler in
//! `events` decide, and append what it decided with the stream version that was read, so a concurrent change
//! makes the append fail instead of being overwritten. Without `If-Match` a command that lost such a race is
//! decided again on the new state (a few times); with `If-Match` the client named the version it decided on,
//! and a change since is reported to it. Activity commands are decided against the programme too (its
//! partners, periods and locks), so their append is guarded by the programme stream's version.

use events::{
    activity_stream, programme_stream, ActivityState, DomainEvent, Envelope, Faults, FaultKind,
    ProgrammeState, Slug,
};
use uuid::Uuid;

use crate::live::LiveProgress;
use crate::store::{
    AppendError, AppendRequest, Appended, EventLog, ExpectedVersion, ProposedEvent, ReadError, StreamGuard,
};

/// How often a command that lost a race with another writer is decided again before giving up.
const ATTEMPTS: usize = 8;

/// Why a command changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Rejected(Faults),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("stored event at position {position} is unreadable: {reason}")]
    Undecodable { position: u64, reason: String },
    #[error("the stream is at version {current}, not the version given in If-Match")]
    VersionMismatch { current: u64 },
}

/// Decodes stored envelopes into domain events (upcasting old schemas).
pub fn decode_all(envelopes: &[Envelope]) -> Result<Vec<DomainEvent>, CommandError> {
    envelopes
        .iter()
        .map(|e| {
            let undecodable = |reason: String| CommandError::Undecodable { position: e.position, reason };
            let data = e.data.to_value().map_err(|err| undecodable(err.to_string()))?;
            DomainEvent::decode(&e.event_type, e.schema, &data).map_err(|err| undecodable(err.to_string()))
        })
        .collect()
}

/// A programme's state and the version of its stream it was built from.
pub async fn load_programme(log: &dyn EventLog, programme: &Slug) -> Result<(ProgrammeState, u64), CommandError> {
    let envelopes = log.read_stream(&programme_stream(programme), 1, usize::MAX).await?;
    let version = envelopes.last().map_or(0, |e| e.version);
    Ok((ProgrammeState::from_events(&decode_all(&envelopes)?), version))
}

/// Programme states by stream version, so that a command does not re-read and re-decode its programme's whole
/// definition on every append (profiled: half the server's time under 32 appending clients). `load` reads the
/// version from the log first and uses a cached state only for exactly that version; `cached` gives the state
/// last cached without asking the log (a read of the database per request on PostgreSQL), for a command whose
/// append's guard checks that version when the events are written.
#[derive(Debug, Default)]
pub struct ProgrammeCache(parking_lot::Mutex<std::collections::HashMap<String, (u64, std::sync::Arc<ProgrammeState>)>>);

impl ProgrammeCache {
    /// The state last cached for `programme` and its version, not checked against the log.
    pub fn cached(&self, programme: &Slug) -> Option<(std::sync::Arc<ProgrammeState>, u64)> {
        self.0.lock().get(programme.as_str()).map(|(version, state)| (std::sync::Arc::clone(state), *version))
    }

    pub async fn load(&self, log: &dyn EventLog, programme: &Slug) -> Result<(std::sync::Arc<ProgrammeState>, u64), CommandError> {
        let version = log.stream_version(&programme_stream(programme)).await?.unwrap_or(0);
        if let Some((cached, state)) = self.0.lock().get(programme.as_str()) {
            if *cached == version {
                return Ok((std::sync::Arc::clone(state), version));
            }
        }
        let (state, version) = load_programme(log, programme).await?;
        let state = std::sync::Arc::new(state);
        if version > 0 {
            self.0.lock().insert(programme.to_string(), (version, std::sync::Arc::clone(&state)));
        }
        Ok((state, version))
    }
}

/// An activity of `programme`: its state, stream version and stored events. An activity of another programme
/// is not found here.
pub async fn load_activity(
    log: &dyn EventLog,
    programme: &Slug,
    id: &Uuid,
) -> Result<(ActivityState, u64, Vec<Envelope>), CommandError> {
    let envelopes = log.read_stream(&activity_stream(id), 1, usize::MAX).await?;
    if envelopes.first().is_some_and(|e| e.programme != programme.as_str()) {
        return Ok((ActivityState::new(), 0, Vec::new()));
    }
    let version = envelopes.last().map_or(0, |e| e.version);
    Ok((ActivityState::from_events(&decode_all(&envelopes)?), version, envelopes))
}

/// Turns decided events into an append request, each event with a new id.
pub fn proposed(stream: String, expected: ExpectedVersion, programme: &Slug, actor: &str, decided: &[DomainEvent]) -> AppendRequest {
    let ids = decided.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>();
    proposed_with_ids(stream, expected, programme, actor, decided, &ids)
}

fn proposed_with_ids(
    stream: String,
    expected: ExpectedVersion,
    programme: &Slug,
    actor: &str,
    decided: &[DomainEvent],
    ids: &[Uuid],
) -> AppendRequest {
    AppendRequest {
        guard: None,
        stream,
        expected,
        programme: programme.to_string(),
        actor: actor.to_owned(),
        correlation_id: None,
        causation_id: None,
        events: decided
            .iter()
            .zip(ids)
            .map(|(event, id)| ProposedEvent {
                id: *id,
                event_type: event.event_type().to_owned(),
                schema: event.schema(),
                data: event.to_event_data(),
            })
            .collect(),
    }
}

/// What a command did.
#[derive(Debug)]
pub struct Executed<S> {
    /// The stored events; `None` when the command decided that nothing changes.
    pub appended: Option<Appended>,
    /// The stream's version afterwards.
    pub version: u64,
    /// The aggregate's state afterwards.
    pub state: S,
}

/// Decides a command on a programme and appends its events to the programme's stream. `if_match` is the
/// version the client decided on, if it named one.
pub async fn on_programme(
    log: &dyn EventLog,
    cache: &ProgrammeCache,
    programme: &Slug,
    if_match: Option<u64>,
    actor: &str,
    decide: impl Fn(&ProgrammeState) -> Result<Vec<DomainEvent>, Faults>,
) -> Result<Executed<ProgrammeState>, CommandError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (state, version) = cache.load(log, programme).await?;
        let mut state = ProgrammeState::clone(&state);
        if if_match.is_some_and(|v| v != version) {
            return Err(CommandError::VersionMismatch { current: version });
        }
        let decided = decide(&state).map_err(CommandError::Rejected)?;
        if decided.is_empty() {
            return Ok(Executed { appended: None, version, state });
        }
        let expected = if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
        let request = proposed(programme_stream(programme), expected, programme, actor, &decided);
        match log.append(request).await {
            Ok(appended) => {
                for event in &decided {
                    state.apply(event);
                }
                return Ok(Executed { version: appended.stream_version(), appended: Some(appended), state });
            }
            Err(AppendError::WrongExpectedVersion { current, .. }) if if_match.is_some() => {
                return Err(CommandError::VersionMismatch { current });
            }
            Err(AppendError::WrongExpectedVersion { .. }) if attempt < ATTEMPTS => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// The activity a command acts on, and what ids its events get.
#[derive(Clone, Copy, Debug)]
pub struct ActivityTarget<'a> {
    pub programme: &'a Slug,
    pub activity: Uuid,
    /// For a new activity, the ids its events get, chosen once per request so that a retry of the same request
    /// is recognised by the log as the same events.
    pub event_ids: Option<&'a [Uuid]>,
    /// The activity's id was made for this request (a UUID v7 no stream can have yet): its stream is not read
    /// before the first decision. Were it there after all, the append's expectation of no stream refuses it,
    /// and the next attempt reads the stream as any other command does.
    pub new: bool,
}

/// Decides a command on an activity, against its programme too, and appends its events to the activity's
/// stream, guarded by the programme stream's version: a period locked or a partner changed in between makes
/// the command be decided again. The events appended are handed to `live`, the server's live projection.
pub async fn on_activity(
    log: &dyn EventLog,
    cache: &ProgrammeCache,
    live: Option<&LiveProgress>,
    target: ActivityTarget<'_>,
    if_match: Option<u64>,
    actor: &str,
    decide: impl Fn(&ProgrammeState, &ActivityState) -> Result<Vec<DomainEvent>, Faults>,
) -> Result<Executed<ActivityState>, CommandError> {
    let programme = target.programme;
    let mut attempt = 0;
    loop {
        attempt += 1;
        // First from the cache, unchecked: the append's guard checks the version, and a refusal or a no-op is
        // checked below before it is answered.
        let cached = if attempt == 1 { cache.cached(programme) } else { None };
        let checked = cached.is_none();
        let (programme_state, programme_version) = match cached {
            Some(cached) => cached,
            None => cache.load(log, programme).await?,
        };
        if programme_state.programme().is_none() {
            return Err(CommandError::Rejected(Faults::one(
                FaultKind::NotFound,
                "",
                format!("unknown programme '{programme}'"),
            )));
        }
        let (mut state, version, _) = if target.new && attempt == 1 {
            (ActivityState::new(), 0, Vec::new())
        } else {
            load_activity(log, programme, &target.activity).await?
        };
        // An unknown activity is the decision's to report (404), whatever If-Match says.
        if version > 0 && if_match.is_some_and(|v| v != version) {
            return Err(CommandError::VersionMismatch { current: version });
        }
        let decided = decide(&programme_state, &state);
        // Refused, or nothing to do, by a programme state that may be stale: decided again on the current one.
        if !checked && decided.as_ref().map_or(true, Vec::is_empty) {
            let current = log.stream_version(&programme_stream(programme)).await?.unwrap_or(0);
            if current != programme_version {
                continue;
            }
        }
        let decided = decided.map_err(CommandError::Rejected)?;
        if decided.is_empty() {
            return Ok(Executed { appended: None, version, state });
        }
        let expected = if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
        let stream = activity_stream(&target.activity);
        let mut request = match target.event_ids {
            Some(ids) if ids.len() >= decided.len() => {
                proposed_with_ids(stream, expected, programme, actor, &decided, ids)
            }
            _ => proposed(stream, expected, programme, actor, &decided),
        };
        request.guard = Some(StreamGuard { stream: programme_stream(programme), version: programme_version });
        // The live projection is handed the events this append stores instead of reading them back.
        let appending = match live {
            Some(live) => Some(live.appending(log.known_head_position().await?)),
            None => None,
        };
        match log.append(request).await {
            Ok(appended) => {
                if appended.already_stored {
                    // A retry of a request whose events are stored: answer with the state they made.
                    drop(appending);
                    let (state, version, _) = load_activity(log, programme, &target.activity).await?;
                    return Ok(Executed { appended: Some(appended), version, state });
                }
                for event in &decided {
                    state.apply(event);
                }
                if let Some(appending) = appending {
                    appending.deliver(&appended.envelopes, decided);
                }
                return Ok(Executed { version: appended.stream_version(), appended: Some(appended), state });
            }
            Err(AppendError::WrongExpectedVersion { current, .. }) if if_match.is_some() => {
                return Err(CommandError::VersionMismatch { current });
            }
            Err(AppendError::WrongExpectedVersion { .. } | AppendError::GuardChanged { .. }) if attempt < ATTEMPTS => {
                continue
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// The body of a request that records an activity, read once however many times the command is decided.
#[derive(Debug)]
pub enum ActivityBody {
    /// Taken by the fast reader, with the text it was read from (the slow path's input if the programme's
    /// rules refuse the draft: it names the faults).
    Draft(events::ActivityDraft, Vec<u8>),
    /// Parsed as JSON, for the fault-collecting reader.
    Json(serde_json::Value),
}

impl ActivityBody {
    /// The body as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            // The fast reader took the text, so it is JSON.
            ActivityBody::Draft(_, text) => serde_json::from_slice(text).unwrap_or(serde_json::Value::Null),
            ActivityBody::Json(value) => value.clone(),
        }
    }
}

/// Records a new activity (`POST …/activities`) as a new `activity-{id}` stream. When the activity already
/// exists (a retry of the same request, with the same id), nothing is appended and its state is the answer.
pub async fn record(
    log: &dyn EventLog,
    cache: &ProgrammeCache,
    live: Option<&LiveProgress>,
    target: ActivityTarget<'_>,
    body: &ActivityBody,
    ctx: &events::CommandContext,
    actor: &str,
) -> Result<Executed<ActivityState>, CommandError> {
    on_activity(log, cache, live, target, None, actor, |programme, activity| {
        if activity.exists() {
            return Ok(Vec::new());
        }
        match body {
            ActivityBody::Draft(draft, _) => {
                if let Some(decided) = events::record_activity_draft(programme, target.activity, draft, ctx) {
                    return decided;
                }
                events::record_activity_body(programme, target.activity, &body.to_value(), ctx)
            }
            ActivityBody::Json(value) => events::record_activity_body(programme, target.activity, value, ctx),
        }
    })
    .await
}
