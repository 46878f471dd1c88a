//! Token endpoints (admin): issue a token with a role — its secret is in the answer once and never again — and
//! revoke one by name.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{read_fields, Caller, JsonBody};
use super::{location, AppState};
use crate::auth::{IssueError, RoleName, TokenRequest};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue)).routes(routes!(revoke))
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
    {
        let invalid = |faults| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid token request").errors(faults);
        let (body, mut faults) = read_fields::<IssueBody>(body, &["name", "role", "programme", "partner"]);
        let Some(body) = body else { return Err(invalid(faults)) };
        let role = RoleName::parse(&body.role);
        if role.is_none() {
            faults.push(events::Fault::new("role", format!("unknown role '{}': use admin, coordinator, recorder or auditor", body.role)));
        }
        let request = TokenRequest {
            name: body.name,
            role: role.unwrap_or(RoleName::Auditor),
            programme: body.programme,
            partner: body.partner,
        };
        if role.is_some() {
            faults.extend(request.check());
        } else if let Err(e) = events::Slug::parse(&request.name) {
            faults.push(events::Fault::new("name", e.to_string()));
        }
        if !faults.is_empty() {
            return Err(invalid(faults));
        }
        check_scope(&state, &request).await?;
        let tokens = state.clone();
        let to_issue = request.clone();
        let secret = tokio::task::spawn_blocking(move || tokens.tokens().issue(&to_issue))
            .await
            .map_err(ApiError::internal)?
            .map_err(|error| match error {
                IssueError::NameTaken(_) => ApiError::conflict(error.to_string()),
                IssueError::Invalid(faults) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid token request").errors(faults),
                IssueError::Store(e) => ApiError::from(e),
            })?;
        tracing::info!(name = %request.name, role = ?request.role, by = %principal.name, "token issued");
        let issued = Issued {
            name: request.name.clone(),
            token: secret,
            role: request.role,
            programme: request.programme,
            partner: request.partner,
        };
        Ok((StatusCode::CREATED, [location(format!("/v1/tokens/{}", request.name))], axum::Json(issued)).into_response())
    }
}

/// The programme and partner a token names must exist (its shape was checked before).
async fn check_scope(state: &AppState, request: &TokenRequest) -> Result<(), ApiError> {
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
    if !revoked {
        return Err(ApiError::not_found(format!("unknown token '{name}'")));
    }
    tracing::info!(%name, by = %principal.name, "token revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}
