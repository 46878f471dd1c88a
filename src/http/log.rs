//! The log as auditors read it: the global log (JSON pages or an NDJSON stream), one stream, a programme's
//! history, a live subscription by Server-Sent Events, chain verification and the published head; and the
//! public health check.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use events::Envelope;
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{query_rejection, Caller};
use super::programmes::programme_id;
use super::AppState;
use crate::audit::verify_log;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events_page))
        .routes(routes!(one_stream))
        .routes(routes!(history))
        .routes(routes!(subscribe))
        .routes(routes!(verify))
        .routes(routes!(head))
        .routes(routes!(healthz))
}

/// Default and largest page of events.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// The largest position or version a query may name: the description says `int64`, and no log gets near it.
const MAX_POSITION: u64 = i64::MAX as u64;
/// Events read per step while filtering or streaming.
const READ_BATCH: usize = 1000;
/// Events looked at, at most, for one filtered page.
const SCAN_LIMIT: u64 = 100_000;

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid("invalid query", field, message)
}

fn number(field: &str, text: Option<&str>, default: u64, range: std::ops::RangeInclusive<u64>) -> Result<u64, ApiError> {
    match text {
        None => Ok(default),
        Some(t) => match t.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(invalid(field, format!("must be a whole number from {} to {}", range.start(), range.end()))),
        },
    }
}

/// A page of envelopes as one JSON document, each envelope in its stored canonical form.
fn page_json(events: &[Envelope], extra: &[(&str, serde_json::Value)]) -> Response {
    let mut out = String::from("{\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&e.to_json_line());
    }
    out.push(']');
    for (name, value) in extra {
        out.push_str(&format!(",\"{name}\":{value}"));
    }
    out.push('}');
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

/// The query of the global log.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsParams {
    /// First position (default 1).
    #[param(value_type = Option<u64>, minimum = 1)]
    pub from: Option<String>,
    /// Page size, 1 to 1000 (default 100). Ignored by the NDJSON stream, which runs to the head.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only events of this type, e.g. `ActivityRecorded`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// Only events of this programme.
    pub programme: Option<String>,
}

/// The global log from `from`, filtered by type and programme (auditor). `Accept: application/x-ndjson` streams
/// every matching event to the head as export lines.
#[utoipa::path(get, path = "/v1/events", tag = "log", operation_id = "list_events", security(("bearer" = [])), params(EventsParams),
    responses((status = 200, description = "`{events, next_from, head}`, or NDJSON",
            content((Object = "application/json"), (String = "application/x-ndjson"))),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 422, body = super::Problem)))]
async fn events_page(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.auditor()?;
    let Query(params) = query.map_err(query_rejection)?;
    let from = number("from", params.from.as_deref(), 1, 1..=MAX_POSITION)?;
    let limit = number("limit", params.limit.as_deref(), DEFAULT_LIMIT as u64, 1..=MAX_LIMIT as u64)? as usize;
    let filter = Filter { event_type: params.event_type, programme: params.programme };
    let head = state.log().head().await?.position;
    if super::wants(&headers, "application/x-ndjson") {
        return Ok(ndjson(state, from, head, filter));
    }
    let mut events = Vec::new();
    let mut next = from;
    while events.len() < limit && next <= head && next - from < SCAN_LIMIT {
        let batch = read(&state, &filter, next, READ_BATCH).await?;
        let Some(last) = batch.last().map(|e| e.position) else { break };
        for envelope in batch {
            if events.len() == limit {
                break;
            }
            next = envelope.position + 1;
            if filter.accepts(&envelope) {
                events.push(envelope);
            }
        }
        if events.len() < limit {
            next = last + 1;
        }
    }
    Ok(page_json(&events, &[("next_from", json!(next)), ("head", json!(head))]))
}

#[derive(Clone, Debug, Default)]
struct Filter {
    event_type: Option<String>,
    programme: Option<String>,
}

impl Filter {
    fn accepts(&self, e: &Envelope) -> bool {
        self.event_type.as_deref().is_none_or(|t| t == e.event_type)
            && self.programme.as_deref().is_none_or(|p| p == e.programme)
    }
}

/// Up to `limit` events from `from`: of the programme when the filter names one (its own index), else global.
async fn read(state: &AppState, filter: &Filter, from: u64, limit: usize) -> Result<Vec<Envelope>, ApiError> {
    Ok(match &filter.programme {
        Some(p) => state.log().read_programme(p, from, limit).await?,
        None => state.log().read_all(from, limit).await?,
    })
}

fn ndjson(state: AppState, from: u64, head: u64, filter: Filter) -> Response {
    let lines = stream::unfold(Some(from), move |next| {
        let state = state.clone();
        let filter = filter.clone();
        async move {
            let from = next?;
            if from > head {
                return None;
            }
            match read(&state, &filter, from, READ_BATCH).await {
                Ok(batch) if batch.is_empty() => None,
                Ok(batch) => {
                    let last = batch.last().map_or(from, |e| e.position);
                    let mut chunk = String::new();
                    for e in batch.iter().filter(|e| e.position <= head && filter.accepts(e)) {
                        chunk.push_str(&e.to_json_line());
                        chunk.push('\n');
                    }
                    Some((Ok::<_, Infallible>(chunk), Some(last + 1)))
                }
                Err(error) => {
                    tracing::error!(?error, "the NDJSON stream of the log stopped");
                    None
                }
            }
        }
    });
    ([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response()
}

/// The query of a stream.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamParams {
    /// First version (default 1).
    #[param(value_type = Option<u64>, minimum = 1)]
    pub from_version: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// One stream from `from_version` (auditor): `programme-{id}` or `activity-{uuid}`.
#[utoipa::path(get, path = "/v1/streams/{stream}", tag = "log", operation_id = "read_stream", security(("bearer" = [])),
    params(("stream" = String, Path), StreamParams),
    responses((status = 200, description = "`{stream, version, events, next_version}`", body = Object),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 404, body = super::Problem),
        (status = 422, body = super::Problem)))]
async fn one_stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream): Path<String>,
    query: Result<Query<StreamParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.auditor()?;
    let Query(params) = query.map_err(query_rejection)?;
    let from = number("from_version", params.from_version.as_deref(), 1, 1..=MAX_POSITION)?;
    let limit = number("limit", params.limit.as_deref(), DEFAULT_LIMIT as u64, 1..=MAX_LIMIT as u64)? as usize;
    let Some(version) = state.log().stream_version(&stream).await? else {
        return Err(ApiError::not_found(format!("unknown stream '{stream}'")));
    };
    let events = state.log().read_stream(&stream, from, limit).await?;
    let next = events.last().map_or(from, |e| e.version + 1);
    Ok(page_json(&events, &[("stream", json!(stream)), ("version", json!(version)), ("next_version", json!(next))]))
}

/// The query of a programme's history.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryParams {
    /// First position (default 1).
    #[param(value_type = Option<u64>, minimum = 1)]
    pub from: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// Every event of a programme — its definition and all its activities — in log order, a page at a time
/// (auditor, the programme's coordinator).
#[utoipa::path(get, path = "/v1/programmes/{id}/history", tag = "log", operation_id = "programme_history", security(("bearer" = [])),
    params(("id" = String, Path), HistoryParams),
    responses((status = 200, description = "`{events, next_from, head}`", body = Object),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 404, body = super::Problem),
        (status = 422, body = super::Problem)))]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<HistoryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let principal = caller.required()?;
    let programme = programme_id(&id)?;
    if !principal.may_read_history(programme.as_str()) {
        return Err(ApiError::forbidden("only auditors, admins and the programme's coordinator may read its history"));
    }
    let Query(params) = query.map_err(query_rejection)?;
    let from = number("from", params.from.as_deref(), 1, 1..=MAX_POSITION)?;
    let limit = number("limit", params.limit.as_deref(), DEFAULT_LIMIT as u64, 1..=MAX_LIMIT as u64)? as usize;
    if state.log().stream_version(&events::programme_stream(&programme)).await?.is_none() {
        return Err(ApiError::not_found(format!("unknown programme '{programme}'")));
    }
    let head = state.log().head().await?.position;
    let events = state.log().read_programme(programme.as_str(), from, limit).await?;
    let next = events.last().map_or(from, |e| e.position + 1);
    Ok(page_json(&events, &[("next_from", json!(next)), ("head", json!(head))]))
}

/// The query of a subscription.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct SubscribeParams {
    /// First position to send (default 1); `Last-Event-ID` continues after the position it names.
    #[param(value_type = Option<u64>, minimum = 1)]
    pub from: Option<String>,
    /// Only events of this programme.
    pub programme: Option<String>,
}

/// Server-Sent Events (auditor): every event from `from` (or after `Last-Event-ID`), then live ones as they are
/// appended; `id:` is the position, `event:` the type, `data:` the envelope. A comment line every 15 s keeps
/// the connection open.
#[utoipa::path(get, path = "/v1/subscribe", tag = "log", security(("bearer" = [])), params(SubscribeParams,
        ("Last-Event-ID" = Option<String>, Header, description = "the last position received")),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 422, body = super::Problem)))]
async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<SubscribeParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.auditor()?;
    let Query(params) = query.map_err(query_rejection)?;
    let mut from = number("from", params.from.as_deref(), 1, 1..=MAX_POSITION)?;
    if let Some(last) = headers.get("last-event-id") {
        let last = last.to_str().ok().and_then(|t| t.trim().parse::<u64>().ok());
        from = last
            .and_then(|p| p.checked_add(1))
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be a log position"))?;
    }
    let filter = Filter { event_type: None, programme: params.programme };
    let stopping = state.stopping();
    let events = stream::unfold((state, from, Vec::<Envelope>::new().into_iter()), move |(state, mut next, mut pending)| {
        let filter = filter.clone();
        async move {
            loop {
                if let Some(envelope) = pending.next() {
                    let event = Event::default()
                        .id(envelope.position.to_string())
                        .event(envelope.event_type.clone())
                        .data(envelope.to_json_line());
                    return Some((Ok(event), (state, next, pending)));
                }
                // Caught up: wait until the log grows beyond what was sent (woken by the append, no polling).
                if state.log().head().await.ok()?.position < next {
                    state.log().wait_beyond(next - 1).await.ok()?;
                }
                let head = state.log().head().await.ok()?.position;
                let batch = read(&state, &filter, next, READ_BATCH).await.ok()?;
                let Some(last) = batch.last().map(|e| e.position) else {
                    // A programme filter may find nothing up to the head read before: go on after it.
                    next = head + 1;
                    continue;
                };
                next = last + 1;
                pending = batch.into_iter().filter(|e| filter.accepts(e)).collect::<Vec<_>>().into_iter();
            }
        }
    });
    let events = futures_util::StreamExt::take_until(events, stopping);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("heartbeat")))
}

/// The head of the log as published.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct HeadView {
    pub position: u64,
    /// Hex SHA-256 chain hash at `position`.
    pub hash: String,
    pub recorded_at: Option<String>,
}

/// The result of verifying the chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct VerifyView {
    pub ok: bool,
    /// Events checked and found good.
    pub events: u64,
    pub head: HeadView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Recomputes the hash chain from position 1 (auditor).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", operation_id = "verify_chain", security(("bearer" = [])),
    responses((status = 200, body = VerifyView), (status = 401, body = super::Problem), (status = 403, body = super::Problem)))]
async fn verify(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.auditor()?;
    let report = verify_log(state.log(), |_, _| {}).await?;
    let (position, hash) = report.head;
    let recorded_at = match position {
        0 => None,
        p => crate::store::event_at(state.log(), p).await?.map(|e| e.recorded_at.to_rfc3339()),
    };
    Ok(axum::Json(VerifyView {
        ok: report.ok(),
        events: report.events,
        head: HeadView { position, hash: hash.to_hex(), recorded_at },
        first_bad_position: report.first_bad.as_ref().map(|e| e.position),
        reason: report.first_bad.map(|e| e.reason),
    })
    .into_response())
}

/// The latest event's position and chain hash: keep it elsewhere to detect a truncated or rewritten log later.
#[utoipa::path(get, path = "/v1/audit/head", tag = "audit", operation_id = "audit_head", responses((status = 200, body = HeadView)))]
async fn head(State(state): State<AppState>) -> Result<axum::Json<HeadView>, ApiError> {
    let head = state.log().head().await?;
    Ok(axum::Json(HeadView {
        position: head.position,
        hash: head.hash.to_hex(),
        recorded_at: head.recorded_at.map(|t| t.to_rfc3339()),
    }))
}

/// Liveness, with the log's head position.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    pub status: String,
    pub position: u64,
}

/// `{"status":"ok","position":N}`; the storage problem (503 or 507) once the log refuses writes, so that a
/// monitor notices a server that can only read.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Health),
    (status = 503, body = super::Problem), (status = 507, body = super::Problem)))]
async fn healthz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    if let Some(failure) = state.log().write_failure() {
        return Err(ApiError::writes_refused(&failure));
    }
    let head = state.log().head().await?;
    Ok(axum::Json(Health { status: "ok".into(), position: head.position }))
}
