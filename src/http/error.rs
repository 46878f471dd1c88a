//! The one error type of the HTTP API. Every failure leaves as RFC 9457 `application/problem+json`
//! `{type, title, status, detail, errors?}`; client mistakes are 4xx and logged at debug level, internal failures
//! are 500 (or 503 while the log is unavailable) with a generic body and the cause logged as an error; once the
//! log refuses writes after a failed write or sync, the answer names that cause (507 when the storage is full).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use events::{Fault, FaultKind, Faults};
use serde::Serialize;

use crate::service::CommandError;
use crate::store::{AppendError, ReadError, WriteFailure};

/// A problem to report to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    title: String,
    detail: Option<String>,
    errors: Vec<Fault>,
    /// Extra response headers, such as `ETag` with the current version on a 412.
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:tracker:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every fault of the request, each naming its field (dotted path; empty for the whole body).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FaultSchema>)]
    pub errors: Vec<Fault>,
}

/// One fault of a request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Fault)]
pub(super) struct FaultSchema {
    pub field: String,
    pub message: String,
}

pub(super) const PROBLEM_JSON: &str = "application/problem+json";

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, title: impl Into<String>) -> ApiError {
        ApiError { status, kind, title: title.into(), detail: None, errors: Vec::new(), headers: Vec::new() }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub fn errors(mut self, errors: Vec<Fault>) -> ApiError {
        self.errors = errors;
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The faults of the request, each naming its field (for a page that shows them next to its fields).
    pub fn faults(&self) -> &[Fault] {
        &self.errors
    }

    /// What went wrong in words: the detail, or the title when there is none.
    pub fn message(&self) -> &str {
        self.detail.as_deref().unwrap_or(&self.title)
    }

    /// What a page shows of the problem in one line: its message and every fault with its field.
    pub fn detail_text(&self) -> String {
        let mut text = self.message().to_owned();
        for fault in &self.errors {
            text.push_str(&format!("; {}: {}", fault.field, fault.message));
        }
        text
    }

    /// The problem's title and its detail, if it has one, for a page that shows them instead of problem+json.
    pub(super) fn title(&self) -> &str {
        &self.title
    }

    pub(super) fn detail_opt(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "malformed request").detail(detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "authentication required")
            .detail(detail)
            .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "not allowed").detail(detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found").detail(detail)
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", "conflict").detail(detail)
    }

    /// `If-Match` named another version than the current one, which the `ETag` header carries.
    pub fn precondition_failed(current: u64) -> ApiError {
        ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", "version mismatch")
            .detail(format!("If-Match does not name the current version {current}; read it again and retry"))
            .header(header::ETAG, etag(current))
    }

    /// A request field that is not valid, as a 422 naming the field.
    pub fn invalid(title: &str, field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", title).errors(vec![Fault::new(field, message)])
    }

    /// A failure of the server itself: the cause is logged, the client gets a generic answer.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            .detail("the server failed to answer; the cause is in its log")
    }

    /// The store refuses writes since one failed: 507 when its storage is full, else 503. Unlike other internal
    /// failures the client is told what happened (the operating system's words, no path), because retrying will
    /// not help until an operator has fixed the storage and restarted the server.
    pub fn writes_refused(failure: &WriteFailure) -> ApiError {
        tracing::error!(cause = %failure.cause, "refusing a write: the data directory failed earlier");
        let (status, title) = if failure.storage_full {
            (StatusCode::INSUFFICIENT_STORAGE, "the server's storage is full")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "the server's storage failed")
        };
        ApiError::new(status, "storage_failed", title).detail(format!(
            "writing to the event log failed ({}); nothing more is written until the server is restarted on working \
             storage. Everything acknowledged before is kept; this request changed nothing",
            failure.cause
        ))
    }

    /// Faults of a command, with the title for their kind of request (e.g. "invalid activity").
    pub fn from_faults(faults: Faults, title: &str) -> ApiError {
        let (status, kind, title) = match faults.kind() {
            FaultKind::Validation => (StatusCode::UNPROCESSABLE_ENTITY, "validation", title.to_owned()),
            FaultKind::Conflict => (StatusCode::CONFLICT, "conflict", "conflict".to_owned()),
            FaultKind::Locked => (StatusCode::LOCKED, "locked", "the reporting period is locked".to_owned()),
            FaultKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "not allowed".to_owned()),
            FaultKind::NotFound => (StatusCode::NOT_FOUND, "not_found", "not found".to_owned()),
        };
        let detail = faults.faults().iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        ApiError::new(status, kind, title).detail(detail).errors(faults.into_faults())
    }

    pub fn from_command(error: CommandError, title: &str) -> ApiError {
        match error {
            CommandError::Rejected(faults) => ApiError::from_faults(faults, title),
            CommandError::Append(error) => ApiError::from(error),
            CommandError::Read(error) => ApiError::from(error),
            CommandError::Undecodable { .. } => ApiError::internal(error),
            CommandError::VersionMismatch { current } => ApiError::precondition_failed(current),
        }
    }
}

/// The `ETag` of a stream version: the version as a strong tag, `"3"`.
pub(super) fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header value")
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> ApiError {
        match error {
            ReadError::Unavailable(cause) => {
                tracing::error!(%cause, "event log unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the event log is unavailable")
                    .detail(
                        "the server cannot reach its event log just now (its store is restarting or out of reach); \
                         retry in a moment — a write retried with the same Idempotency-Key is recorded once, \
                         whether or not this attempt was",
                    )
                    // The server takes its store back by itself within about a second of its return.
                    .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            }
            corrupt @ ReadError::Corrupt { .. } => ApiError::internal(corrupt),
            ReadError::WritesRefused(failure) => ApiError::writes_refused(&failure),
        }
    }
}

impl From<AppendError> for ApiError {
    fn from(error: AppendError) -> ApiError {
        match error {
            AppendError::WrongExpectedVersion { .. } | AppendError::GuardChanged { .. } => {
                ApiError::conflict(format!("{error}; retry"))
            }
            AppendError::IdempotencyConflict { .. } => ApiError::conflict(error.to_string()),
            AppendError::Invalid(reason) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid event")
                .detail(reason),
            AppendError::Unavailable(cause) => ApiError::from(ReadError::Unavailable(cause)),
            AppendError::WritesRefused(failure) => ApiError::writes_refused(&failure),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(status = self.status.as_u16(), title = %self.title, detail = ?self.detail, "client error");
        }
        let problem = Problem {
            kind: format!("urn:tracker:problem:{}", self.kind),
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let body = serde_json::to_vec(&problem).expect("a problem always serialises");
        let mut response = (self.status, [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))], body)
            .into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}
