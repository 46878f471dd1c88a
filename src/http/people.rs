//! People endpoints (admin): invite a person (`POST /v1/people` answers the one-time invitation link, the way a
//! first admin who holds only the admin token brings the first person in), list people (never a password hash
//! or an invitation's secret), and revoke one (`DELETE /v1/people/{name}`: their sessions and personal tokens
//! end; the name is never given again). The admin's page (`account/admin.rs`) runs the same functions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{read_fields, Caller, JsonBody};
use super::tokens::{check_scope, token_request, IssueBody};
use super::{location, AppState};
use crate::auth::RoleName;
use crate::people::{AccountError, Invitation, StoredPerson, INVITATION_DAYS};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(invite, list)).routes(routes!(revoke))
}

/// Whom to invite.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct InviteBody {
    /// The account name, a slug: every event the person records carries it as `actor`.
    pub name: String,
    /// The person's name as colleagues know it.
    pub display_name: String,
    pub email: String,
    /// admin | coordinator | recorder | auditor
    pub role: String,
    /// For a coordinator or recorder.
    #[serde(default)]
    pub programme: Option<String>,
    /// For a recorder.
    #[serde(default)]
    pub partner: Option<String>,
}

/// An invitation: the person opens `invitation` (a path of this server) to choose a password.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Invited {
    pub name: String,
    /// `/invitations/{secret}`: shown only here; send it to the person.
    pub invitation: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// A person as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct PersonView {
    pub name: String,
    pub display_name: String,
    pub email: String,
    pub role: RoleName,
    #[schema(required = true)]
    pub programme: Option<String>,
    #[schema(required = true)]
    pub partner: Option<String>,
    /// invited | active | revoked
    pub status: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub invited_by: String,
    #[schema(required = true, format = DateTime)]
    pub revoked_at: Option<String>,
}

impl From<&StoredPerson> for PersonView {
    fn from(p: &StoredPerson) -> PersonView {
        PersonView {
            name: p.name.clone(),
            display_name: p.display_name.clone(),
            email: p.email.clone(),
            role: p.role,
            programme: p.programme.clone(),
            partner: p.partner.clone(),
            status: p.status().to_owned(),
            created_at: p.created_at.clone(),
            invited_by: p.invited_by.clone(),
            revoked_at: p.revoked_at.clone(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct PeopleList {
    pub people: Vec<PersonView>,
}

/// The invitation an invite body asks for, with every fault of its fields.
pub(super) fn invitation(body: InviteBody) -> Result<Invitation, Vec<events::Fault>> {
    let mut faults = Vec::new();
    let role = token_request(
        IssueBody { name: body.name, role: body.role, programme: body.programme, partner: body.partner, expires_at: None },
        &mut faults,
    );
    let invitation = Invitation { role, display_name: body.display_name, email: body.email };
    let more: Vec<_> = invitation.check(chrono::Utc::now()).into_iter().filter(|f| !faults.iter().any(|g| g.field == f.field)).collect();
    faults.extend(more);
    if faults.is_empty() { Ok(invitation) } else { Err(faults) }
}

pub(super) fn account_error(error: AccountError) -> ApiError {
    match error {
        AccountError::NameTaken(_) => ApiError::conflict(error.to_string()),
        AccountError::Invalid(faults) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid person").errors(faults),
        AccountError::Unknown(_) | AccountError::UnknownInvitation => ApiError::not_found(error.to_string()),
        AccountError::ExpiredInvitation(_) => ApiError::new(StatusCode::GONE, "gone", "invitation expired").detail(error.to_string()),
        AccountError::Store(e) => e.into(),
    }
}

/// Invites a checked person — programme and partner must exist, the name must be no token's or person's —; the
/// invitation's path and when it expires.
pub(super) async fn invite_person(state: &AppState, invitation: Invitation, by: &str) -> Result<Invited, ApiError> {
    check_scope(state, &invitation.role).await?;
    let accounts = state.clone();
    let who = by.to_owned();
    let name = invitation.role.name.clone();
    let secret = tokio::task::spawn_blocking(move || {
        accounts.naming(|| accounts.accounts().people.invite(&invitation, &who, |name| !accounts.tokens().has(name)))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(account_error)?;
    tracing::info!(%name, %by, "person invited");
    let expires_at = crate::auth::rfc3339(chrono::Utc::now() + chrono::Duration::days(INVITATION_DAYS));
    Ok(Invited { name, invitation: format!("/invitations/{secret}"), expires_at })
}

/// Revokes a person with their sessions and personal tokens; `false` if they were revoked before.
pub(super) async fn revoke_person(state: &AppState, name: &str, by: &str) -> Result<bool, ApiError> {
    let accounts = state.clone();
    let person = name.to_owned();
    let revoked = tokio::task::spawn_blocking(move || -> Result<bool, ApiError> {
        let revoked = accounts.accounts().people.revoke(&person).map_err(account_error)?;
        accounts.accounts().sessions.end_all(&person)?;
        for token in accounts.tokens().owned_by(&person) {
            accounts.tokens().revoke(&token)?;
        }
        Ok(revoked)
    })
    .await
    .map_err(ApiError::internal)??;
    tracing::info!(%name, %by, revoked, "person revoked");
    Ok(revoked)
}

/// Invite a person (admin); the answer holds the one-time invitation link.
#[utoipa::path(post, path = "/v1/people", tag = "people", operation_id = "invite_person", security(("bearer" = [])), request_body = InviteBody,
    responses((status = 201, body = Invited), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn invite(State(state): State<AppState>, caller: Caller, body: Result<JsonBody, ApiError>) -> Result<Response, ApiError> {
    let principal = caller.admin()?;
    let JsonBody(body) = body?;
    let invalid = |faults| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid person").errors(faults);
    let fields = ["name", "display_name", "email", "role", "programme", "partner"];
    let (body, faults) = read_fields::<InviteBody>(body, &fields);
    let Some(body) = body.filter(|_| faults.is_empty()) else { return Err(invalid(faults)) };
    let invitation = invitation(body).map_err(invalid)?;
    let invited = invite_person(&state, invitation, &principal.name).await?;
    Ok((StatusCode::CREATED, [location(format!("/v1/people/{}", invited.name))], axum::Json(invited)).into_response())
}

/// List every person (admin): role, scope, status; never a password hash or an invitation's secret.
#[utoipa::path(get, path = "/v1/people", tag = "people", operation_id = "list_people", security(("bearer" = [])),
    responses((status = 200, body = PeopleList), (status = 401, body = super::Problem), (status = 403, body = super::Problem)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<PeopleList>, ApiError> {
    caller.admin()?;
    let people = state.accounts().people.list().iter().map(PersonView::from).collect();
    Ok(axum::Json(PeopleList { people }))
}

/// Revoke a person (admin): their sessions and personal tokens end; the name is never given again.
#[utoipa::path(delete, path = "/v1/people/{name}", tag = "people", operation_id = "revoke_person", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem)))]
async fn revoke(State(state): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let principal = caller.admin()?;
    if !revoke_person(&state, &name, &principal.name).await? {
        let at = state.accounts().people.get(&name).and_then(|p| p.revoked_at).unwrap_or_default();
        return Err(ApiError::not_found(format!("the person '{name}' was revoked at {at}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
