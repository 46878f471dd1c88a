//! Runs domain commands against the log: read the aggregate's stream, rebuild its state, let the pure handler in
//! `events` decide, and append what it decided with the stream version that was read, so a concurrent change
//! makes the append fail instead of being overwritten.

use events::{
    activity_stream, programme_stream, record_activity, CommandContext, DomainEvent, Envelope, EventData, Faults,
    ProgrammeState, RecordActivity, Slug,
};
use uuid::Uuid;

use crate::store::{AppendError, AppendRequest, Appended, EventLog, ExpectedVersion, ProposedEvent, ReadError};

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

/// Turns decided events into an append request.
pub fn proposed(stream: String, expected: ExpectedVersion, programme: &Slug, actor: &str, decided: &[DomainEvent]) -> AppendRequest {
    AppendRequest {
        stream,
        expected,
        programme: programme.to_string(),
        actor: actor.to_owned(),
        correlation_id: None,
        causation_id: None,
        events: decided
            .iter()
            .map(|event| ProposedEvent {
                id: Uuid::now_v7(),
                event_type: event.event_type().to_owned(),
                schema: event.schema(),
                data: EventData::from_value(&event.to_data()),
            })
            .collect(),
    }
}

/// Records a new activity (`POST …/activities`): decided against the programme's current state, appended as a
/// new `activity-{id}` stream.
pub async fn record(
    log: &dyn EventLog,
    programme: &Slug,
    activity_id: Uuid,
    body: serde_json::Value,
    ctx: &CommandContext,
    actor: &str,
) -> Result<Appended, CommandError> {
    let (state, _) = load_programme(log, programme).await?;
    let decided = record_activity(&state, RecordActivity { activity_id, body }, ctx).map_err(CommandError::Rejected)?;
    let request = proposed(activity_stream(&activity_id), ExpectedVersion::NoStream, programme, actor, &decided);
    Ok(log.append(request).await?)
}
