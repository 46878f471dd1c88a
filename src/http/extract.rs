//! What handlers take from a request, with every rejection as a problem: the JSON body (400 malformed, 413 too
//! large, 415 not JSON, 422 unknown or mistyped fields), the caller's token (401 unknown), `If-Match` and
//! `Idempotency-Key`.
//! Handlers take the body and these headers as `Result`s and look at them only after checking the caller, so
//! that a request without a token gets 401 whatever else is wrong with it.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use events::Fault;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use crate::auth::Principal;
use events::Role;

/// A JSON request body, parsed but not yet interpreted.
#[derive(Debug)]
pub(super) struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<JsonBody, ApiError> {
        let JsonText(text) = JsonText::from_request(request, state).await?;
        parse_json(&text).map(JsonBody)
    }
}

/// A JSON request body as it came, checked as [`JsonBody`] checks it (size, content type) but not parsed, for a
/// handler with a faster reader of its own; [`parse_json`] is what `JsonBody` makes of it.
#[derive(Debug)]
pub(super) struct JsonText(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonText {
    type Rejection = ApiError;

    /// An empty body without a content type reads as `{}`, so that commands whose fields are all optional (an
    /// approval without a note) need no body.
    async fn from_request(request: Request, state: &S) -> Result<JsonText, ApiError> {
        let content_type = request.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("").to_owned());
        // A body announced as too large is refused at once, without waiting for it.
        let announced = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if announced.is_some_and(|length| length > super::MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(rejection.body_text())
            }
        })?;
        match content_type {
            None if bytes.is_empty() => Ok(JsonText(axum::body::Bytes::from_static(b"{}"))),
            Some(ct) if is_json(&ct) => Ok(JsonText(bytes)),
            _ => Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "the body must be JSON")
                .detail("send the body with Content-Type: application/json")),
        }
    }
}

/// A body's text as JSON (400 when it is not).
pub(super) fn parse_json(text: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(text).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is too large")
        .detail("request bodies may be at most 64 KiB")
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Interprets a JSON body as `T`, whose fields are `fields`: every unknown field is a fault, and so is the
/// first missing or mistyped one serde finds — all in one 422, each naming its field.
pub(super) fn typed<T: DeserializeOwned>(body: Value, title: &str, fields: &[&str]) -> Result<T, ApiError> {
    match read_fields(body, fields) {
        (Some(value), faults) if faults.is_empty() => Ok(value),
        (_, faults) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", title).errors(faults)),
    }
}

/// The body as `T` if serde could read it, and the faults found: unknown fields, the first missing or mistyped
/// one. A caller that checks more of the content adds its own faults to these.
pub(super) fn read_fields<T: DeserializeOwned>(body: Value, fields: &[&str]) -> (Option<T>, Vec<Fault>) {
    let Value::Object(mut map) = body else {
        return (None, vec![Fault::new("", "expected a JSON object")]);
    };
    let mut faults: Vec<Fault> = map
        .keys()
        .filter(|k| !fields.contains(&k.as_str()))
        .map(|k| Fault::new(k.clone(), "unknown field"))
        .collect();
    map.retain(|k, _| fields.contains(&k.as_str()));
    match serde_path_to_error::deserialize::<_, T>(Value::Object(map)) {
        Ok(value) => (Some(value), faults),
        Err(error) => {
            let path = error.path().to_string();
            let message = error.into_inner().to_string();
            let fault = match message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
                Some(field) => Fault::new(field, "required"),
                None => Fault::new(if path == "." { String::new() } else { path }, message),
            };
            faults.push(fault);
            (None, faults)
        }
    }
}

/// A query string that does not fit its parameters, as a 422 naming the parameter at fault.
pub(super) fn query_rejection(rejection: axum::extract::rejection::QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let field = ["unknown field `", "duplicate field `", "missing field `"]
        .iter()
        .find_map(|prefix| text.split(prefix).nth(1).and_then(|rest| rest.split('`').next()))
        .unwrap_or("");
    let message = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text).to_owned();
    ApiError::invalid("invalid query", field, message)
}

/// The caller, from `Authorization: Bearer <token>`; `None` without the header. An unknown, revoked or malformed
/// token is refused with 401 even where no token is needed, so that a client learns its token is wrong.
#[derive(Debug)]
pub(super) struct Caller(pub Option<Arc<Principal>>);

impl Caller {
    /// The principal, or 401.
    pub(super) fn required(self) -> Result<Arc<Principal>, ApiError> {
        self.0.ok_or_else(|| ApiError::unauthorized("send a token: Authorization: Bearer <token>"))
    }

    /// An auditor or admin, else 401 / 403.
    pub(super) fn auditor(self) -> Result<Arc<Principal>, ApiError> {
        let principal = self.required()?;
        if !principal.is_auditor() {
            return Err(ApiError::forbidden("only auditors and admins may read this"));
        }
        Ok(principal)
    }

    /// The programme's coordinator or an admin, else 401 / 403 — checked before the body is read, so that a
    /// caller who may not write learns nothing about its body.
    pub(super) fn manager_of(self, programme: &str) -> Result<Arc<Principal>, ApiError> {
        let principal = self.required()?;
        match &principal.role {
            Role::Admin => Ok(principal),
            Role::Coordinator { programme: p } if p.as_str() == programme => Ok(principal),
            _ => Err(ApiError::forbidden(format!("only the coordinator of '{programme}' or an admin may do this"))),
        }
    }

    /// Someone who may record in the programme: one of its recorders, its coordinator or an admin, else 401 / 403.
    /// Which activities a recorder may touch is the domain's decision.
    pub(super) fn recorder_in(self, programme: &str) -> Result<Arc<Principal>, ApiError> {
        let principal = self.required()?;
        match &principal.role {
            Role::Admin => Ok(principal),
            Role::Coordinator { programme: p } | Role::Recorder { programme: p, .. } if p.as_str() == programme => {
                Ok(principal)
            }
            _ => Err(ApiError::forbidden(format!(
                "only recorders and the coordinator of '{programme}' or an admin may do this"
            ))),
        }
    }

    /// An admin, else 401 / 403.
    pub(super) fn admin(self) -> Result<Arc<Principal>, ApiError> {
        let principal = self.required()?;
        if !principal.is_admin() {
            return Err(ApiError::forbidden("only an admin may do this"));
        }
        Ok(principal)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Caller, ApiError> {
        Ok(Caller(parts.extensions.get::<Arc<Principal>>().cloned()))
    }
}

/// Middleware: authenticates the bearer token of every request, public ones included, and leaves the principal
/// in the request's extensions for [`Caller`]. A malformed, unknown, revoked or expired token is 401 on every
/// route, an expired one with a problem that says so and when.
pub(super) async fn authenticate(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let Some(secret) = secret else {
            return ApiError::unauthorized("the Authorization header must be 'Bearer <token>'").into_response();
        };
        let arrived = std::time::Instant::now();
        let mut known = state.tokens().authenticate(secret);
        // Perhaps issued through another server a moment ago: asked again once the shared tokens were read anew.
        if matches!(known, Err(crate::auth::Refusal::Unknown)) && super::account::read_shared_since(&state, arrived).await {
            known = state.tokens().authenticate(secret);
        }
        let principal = match known {
            Ok(principal) => principal,
            Err(crate::auth::Refusal::Unknown) => return ApiError::unauthorized("the token is unknown or revoked").into_response(),
            Err(crate::auth::Refusal::Expired(at)) => {
                let detail = format!("the token expired at {}; ask an admin for a new one", crate::auth::rfc3339(at));
                return ApiError::unauthorized(detail).into_response();
            }
        };
        request.extensions_mut().insert(principal);
    } else {
        request = match super::session::authenticate_session(&state, request).await {
            Ok(request) => request,
            Err(refused) => return refused,
        };
    }
    next.run(request).await
}

/// `If-Match` as a stream version: `"3"`, `W/"3"` or `3`; `None` when absent or `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<IfMatch, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else { return Ok(IfMatch(None)) };
        let text = value.to_str().unwrap_or("").trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let tag = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
        tag.parse::<u64>()
            .map(|v| IfMatch(Some(v)))
            .map_err(|_| ApiError::bad_request(format!("If-Match must be a version ETag such as \"3\", not '{text}'")))
    }
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<IdempotencyKey, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        match value.to_str() {
            Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
                Ok(IdempotencyKey(Some(key.to_owned())))
            }
            _ => Err(ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")),
        }
    }
}
