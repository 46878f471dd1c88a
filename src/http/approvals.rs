//! The coordinator's decisions on submitted activities, in programmes that require approval: approve, or return
//! to the recorder with a note saying what to fix. The endpoints and [`decide_on`], which the approval queue page
//! (`pages/queue.rs`) runs too, so that a decision is made one way whichever way it is asked for.

use axum::extract::{Path, State};
use axum::response::Response;
use events::{approve_activity, return_activity, ApproveActivity, ReturnActivity, Slug};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::activities::answer;
use super::activity_commands::{activity_id, change, Done};
use super::error::ApiError;
use super::extract::{typed, Caller, JsonBody};
use super::programmes::programme_id;
use super::AppState;
use crate::auth::Principal;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(approve)).routes(routes!(send_back))
}

/// The body of an approval or a return.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NoteBody {
    #[serde(default)]
    pub note: Option<String>,
}

/// Approve a submitted activity (coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/activities/{activity}/approval", tag = "activities", operation_id = "approve_activity",
    security(("bearer" = [])), request_body = NoteBody, params(("id" = String, Path), ("activity" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    with_note(&state, caller, path, body, Decision::Approve).await
}

/// Return a submitted activity to its recorder with a note saying what to fix (coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/activities/{activity}/return", tag = "activities", operation_id = "return_activity",
    security(("bearer" = [])), request_body = NoteBody, params(("id" = String, Path), ("activity" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn send_back(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    with_note(&state, caller, path, body, Decision::Return).await
}

/// A coordinator's decision on a submitted activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    Approve,
    /// Back to its recorder, with a note saying what to fix.
    Return,
}

impl Decision {
    /// The title of the problem when the decision cannot be made.
    pub(super) fn title(self) -> &'static str {
        match self {
            Decision::Approve => "invalid approval",
            Decision::Return => "invalid return",
        }
    }
}

/// Approves or returns an activity of `programme` with `note`, for `principal`, whom the caller has checked
/// may manage the programme: what the command did.
pub(super) async fn decide_on(
    state: &AppState,
    principal: &Principal,
    programme: &Slug,
    activity: Uuid,
    decision: Decision,
    note: Option<String>,
) -> Result<Done, ApiError> {
    decision_of(state, principal, programme, activity, decision, note).await.map_err(|e| ApiError::from_command(e, decision.title()))
}

async fn decision_of(
    state: &AppState,
    principal: &Principal,
    programme: &Slug,
    activity: Uuid,
    decision: Decision,
    note: Option<String>,
) -> Result<Done, crate::service::CommandError> {
    change(state, principal, programme, activity, None, |p, a, ctx| match decision {
        Decision::Approve => approve_activity(p, a, ApproveActivity { note: note.clone() }, ctx),
        Decision::Return => return_activity(p, a, ReturnActivity { note: note.clone().unwrap_or_default() }, ctx),
    })
    .await
}

/// The endpoint of a coordinator's decision with an optional note (approval, return).
async fn with_note(
    state: &AppState,
    caller: Caller,
    (id, activity): (String, String),
    body: Result<JsonBody, ApiError>,
    decision: Decision,
) -> Result<Response, ApiError> {
    let principal = caller.manager_of(&id)?;
    let JsonBody(body) = body?;
    let body: NoteBody = typed(body, decision.title(), &["note"])?;
    let (programme, activity) = (programme_id(&id)?, activity_id(&activity)?);
    answer(programme.as_str(), decision_of(state, &principal, &programme, activity, decision, body.note).await, decision.title())
}

