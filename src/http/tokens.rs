//! Token endpoints (admin): issue a token with a role and an optional expiry — its secret is in the answer once
//! and never again —, list every token (never a secret), and revoke one by name (its name is never issued
//! again).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{read_fields, Caller, JsonBody};
use super::{location, AppState};
use crate::auth::{IssueError, Revoked, RoleName, TokenRequest, TokenView};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue, list)).routes(routes!(revoke))
}

/// What a new token is for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueBody {
    /// A slug; every event the token appends carries it as `actor`.
    pub name: String,
    /// admin | coordinator | recorder | auditor
    pub role: String,
    /// For a coordinator or recorder.
    #[serde(default)]
    pub programme: Option<String>,
    /// For a recorder.
    #[serde(default)]
    pub partner: Option<String>,
    /// When the token stops working: an RFC 3339 time in the future. Never, if absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// A new token; `token` is the secret, shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Issued {
    pub name: String,
    pub token: String,
    pub role: RoleName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// RFC 3339; absent for a token that never expires.
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Every token ever issued, live, expired and revoked, by name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// Issue a token (admin).
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", operation_id = "issue_token", security(("bearer" = [])), request_body = IssueBody,
    responses((status = 201, body = Issued), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    // No Idempotency-Key here: the answer holds the secret, which is never stored; the name is unique, so a
    // retry is a 409 and the caller can revoke and issue again.
    let principal = caller.admin()?;
    let JsonBody(body) = body?;
    let invalid = |faults| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid token request").errors(faults);
    let (body, mut faults) = read_fields::<IssueBody>(body, &["name", "role", "programme", "partner", "expires_at"]);
    let Some(body) = body else { return Err(invalid(faults)) };
    let request = token_request(body, &mut faults);
    if !faults.is_empty() {
        return Err(invalid(faults));
    }
    let secret = issue_token(&state, &request, None, &principal.name).await?;
    let issued = Issued {
        name: request.name.clone(),
        token: secret,
        role: request.role,
        programme: request.programme,
        partner: request.partner,
        expires_at: request.expires_at.map(crate::auth::rfc3339),
    };
    Ok((StatusCode::CREATED, [location(format!("/v1/tokens/{}", request.name))], axum::Json(issued)).into_response())
}

/// A token request from its fields, adding a fault for each field that cannot be read or breaks a rule of its
/// shape; the API and the admin's page read them alike.
pub(super) fn token_request(body: IssueBody, faults: &mut Vec<events::Fault>) -> TokenRequest {
    let role = RoleName::parse(&body.role);
    if role.is_none() {
        faults.push(events::Fault::new("role", format!("unknown role '{}': use admin, coordinator, recorder or auditor", body.role)));
    }
    let expires_at = body.expires_at.as_deref().and_then(|text| match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(at) => Some(at.with_timezone(&chrono::Utc)),
        Err(e) => {
            let message = format!("'{text}' is not an RFC 3339 time ({e}): write e.g. 2027-01-31T17:00:00Z");
            faults.push(events::Fault::new("expires_at", message));
            None
        }
    });
    let request = TokenRequest {
        name: body.name,
        role: role.unwrap_or(RoleName::Auditor),
        programme: body.programme,
        partner: body.partner,
        expires_at,
    };
    if role.is_some() {
        faults.extend(request.check(chrono::Utc::now()));
    } else if let Err(e) = events::Slug::parse(&request.name) {
        faults.push(events::Fault::new("name", e.to_string()));
    }
    request
}

/// Issues a checked token request — its programme and partner must exist, and its name must be no token's or
/// person's — for `owner` (a person's own token) or for no one; the secret. `by` is who issues it, for the log.
pub(super) async fn issue_token(state: &AppState, request: &TokenRequest, owner: Option<&str>, by: &str) -> Result<String, ApiError> {
    check_scope(state, request).await?;
    let tokens = state.clone();
    let (to_issue, owner) = (request.clone(), owner.map(str::to_owned));
    let secret = tokio::task::spawn_blocking(move || {
        tokens.naming(|| {
            if tokens.accounts().people.has(&to_issue.name) {
                return Err(IssueError::NameTaken(to_issue.name.clone()));
            }
            tokens.tokens().issue_owned(&to_issue, owner.as_deref())
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| match error {
        IssueError::NameTaken(_) | IssueError::NameRevoked(_) => ApiError::conflict(error.to_string()),
        IssueError::Invalid(faults) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid token request").errors(faults),
        IssueError::Store(e) => ApiError::from(e),
    })?;
    tracing::info!(name = %request.name, role = ?request.role, %by, "token issued");
    Ok(secret)
}

/// The programme and partner a token names must exist (its shape was checked before).
pub(super) async fn check_scope(state: &AppState, request: &TokenRequest) -> Result<(), ApiError> {
    let Some(programme) = &request.programme else { return Ok(()) };
    let projection = state.caught_up_progress().await?;
    let Some(definition) = projection.programme(programme) else {
        return Err(ApiError::invalid("invalid token request", "programme", format!("unknown programme '{programme}'")));
    };
    if let Some(partner) = &request.partner {
        if definition.partner(partner).is_none() {
            return Err(ApiError::invalid(
                "invalid token request",
                "partner",
                format!("unknown partner '{partner}' of programme '{programme}'"),
            ));
        }
    }
    Ok(())
}

/// Revoke a token (admin); requests with it are refused from now on.
#[utoipa::path(delete, path = "/v1/tokens/{name}", tag = "tokens", operation_id = "revoke_token", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem)))]
async fn revoke(State(state): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let principal = caller.admin()?;
    let tokens = state.clone();
    let target = name.clone();
    let revoked = tokio::task::spawn_blocking(move || tokens.tokens().revoke(&target))
        .await
        .map_err(ApiError::internal)??;
    match revoked {
        Revoked::Now => {}
        Revoked::Unknown => return Err(ApiError::not_found(format!("unknown token '{name}'"))),
        Revoked::Before(at) => return Err(ApiError::not_found(format!("the token '{name}' was revoked at {at}"))),
    }
    tracing::info!(%name, by = %principal.name, "token revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// List every token (admin): name, role, scope and times; never a secret or its hash.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", operation_id = "list_tokens", security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 401, body = super::Problem), (status = 403, body = super::Problem)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<TokenList>, ApiError> {
    caller.admin()?;
    // The list takes the record store's lock, which a save of last-used times holds across its writes.
    let tokens = tokio::task::spawn_blocking(move || state.tokens().list(chrono::Utc::now())).await.map_err(ApiError::internal)?;
    Ok(axum::Json(TokenList { tokens }))
}
