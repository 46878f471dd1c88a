//! The activity commands as both doors into them run them: the API's handlers (`activities.rs`) and the
//! browser's pages (`pages/`). Each takes a caller already admitted to the programme (`Caller::recorder_in` or
//! `manager_of`), decides through `crate::service` with the domain's command, and gives back the activity's
//! state, stream version and the position the answer names; how the answer is written — JSON, a redirect, a
//! page with the faults next to their fields — is the caller's. One path, so no rule can differ between them.

use events::{
    correct_activity, retract_activity, submit_activity, ActivityState, CommandContext, CorrectActivity, DomainEvent,
    Envelope, FaultKind, Faults, ProgrammeState, RetractActivity, Slug,
};
use uuid::Uuid;

use super::error::ApiError;
use super::AppState;
use crate::auth::Principal;
use crate::service::{load_activity, on_activity, ActivityBody, ActivityTarget, CommandError};

/// An activity after a command: its state, its stream's version and the position the answer names (for a
/// record the activity's first event, for a change its last).
#[derive(Debug)]
pub(super) struct Done {
    pub state: ActivityState,
    pub version: u64,
    pub position: u64,
}

/// An activity id from a path; anything else names no activity (404).
pub(super) fn activity_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("unknown activity '{id}'")))
}

fn context(state: &AppState, principal: &Principal) -> CommandContext {
    CommandContext { today: state.today(), role: principal.role.clone() }
}

/// Records a new activity from `body`. `ids` are the activity's id and then its events' ids, chosen once per
/// request (a retry with the same ids records nothing twice); `fresh` when the activity's id was made for this
/// request, so that its stream need not be read first.
pub(super) async fn record(
    state: &AppState,
    principal: &Principal,
    programme: &Slug,
    body: &ActivityBody,
    ids: &[Uuid],
    fresh: bool,
) -> Result<Done, CommandError> {
    let ctx = context(state, principal);
    let target = ActivityTarget { programme, activity: ids[0], event_ids: Some(&ids[1..]), new: fresh };
    let executed =
        crate::service::record(state.log(), state.programmes(), Some(state.progress()), target, body, &ctx, &principal.name)
            .await?;
    let position = match &executed.appended {
        Some(appended) => appended.envelopes[0].position,
        // Already recorded by an earlier attempt with the same ids: its first event is the answer's position.
        None => positions_of(state, programme, &ids[0]).await?.first().copied().unwrap_or(0),
    };
    Ok(Done { state: executed.state, version: executed.version, position })
}

/// Runs a lifecycle command on an existing activity of the programme (an unknown one is a fault that names it).
/// `if_match` is the version the caller decided on, if it named one.
pub(super) async fn change(
    state: &AppState,
    principal: &Principal,
    programme: &Slug,
    activity: Uuid,
    if_match: Option<u64>,
    decide: impl Fn(&ProgrammeState, &ActivityState, &CommandContext) -> Result<Vec<DomainEvent>, Faults>,
) -> Result<Done, CommandError> {
    let ctx = context(state, principal);
    let target = ActivityTarget { programme, activity, event_ids: None, new: false };
    let executed = on_activity(state.log(), state.programmes(), Some(state.progress()), target, if_match, &principal.name, |p, a| {
        if !a.exists() {
            return Err(Faults::one(FaultKind::NotFound, "", format!("unknown activity '{activity}'")));
        }
        decide(p, a, &ctx)
    })
    .await?;
    let position = executed.appended.as_ref().map_or(0, |a| a.last_position());
    let position = if position == 0 { positions_of(state, programme, &activity).await?.last().copied().unwrap_or(0) } else { position };
    Ok(Done { state: executed.state, version: executed.version, position })
}

/// Corrects an activity's fields for a reason.
pub(super) async fn correct(
    state: &AppState,
    principal: &Principal,
    programme: &Slug,
    activity: Uuid,
    if_match: Option<u64>,
    command: CorrectActivity,
) -> Result<Done, CommandError> {
    change(state, principal, programme, activity, if_match, |p, a, ctx| correct_activity(p, a, command.clone(), ctx)).await
}

/// Retracts an activity for a reason.
pub(super) async fn retract(
    state: &AppState,
    principal: &Principal,
    programme: &Slug,
    activity: Uuid,
    if_match: Option<u64>,
    command: RetractActivity,
) -> Result<Done, CommandError> {
    change(state, principal, programme, activity, if_match, |p, a, ctx| retract_activity(p, a, command.clone(), ctx)).await
}

/// Submits a recorded or returned activity for approval.
pub(super) async fn submit(state: &AppState, principal: &Principal, programme: &Slug, activity: Uuid) -> Result<Done, CommandError> {
    change(state, principal, programme, activity, None, submit_activity).await
}

/// An activity of the programme as it is now, with its stream version and its stored events in order — the
/// `history` of `GET …/activities/{aid}`; `None` when the programme has no such activity.
pub(super) async fn with_history(
    state: &AppState,
    programme: &Slug,
    activity: &Uuid,
) -> Result<Option<(ActivityState, u64, Vec<Envelope>)>, CommandError> {
    let (current, version, envelopes) = load_activity(state.log(), programme, activity).await?;
    Ok(current.exists().then_some((current, version, envelopes)))
}

/// The positions of an activity's events, in order (for answers to commands that appended nothing new).
async fn positions_of(state: &AppState, programme: &Slug, activity: &Uuid) -> Result<Vec<u64>, CommandError> {
    let (_, _, envelopes) = load_activity(state.log(), programme, activity).await?;
    Ok(envelopes.iter().map(|e| e.position).collect())
}
