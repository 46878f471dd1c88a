//! Programme endpoints: register, list with headline progress, read the definition, add partners, clusters and
//! periods, set or revise indicators, lock and unlock periods, and the progress report (JSON or CSV).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events::{
    add_cluster, add_partner, add_period, lock_period, register_programme, set_indicator, unlock_period,
    ChangePeriodLock, Cluster, CommandContext, Partner, Programme, ProgrammeState, ReportingPeriod, SetIndicator, Slug,
    Timestamp,
};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{query_rejection, typed, Caller, IdempotencyKey, IfMatch, JsonBody};
use super::idempotency::idempotent;
use super::{location, wants, with_etag, AppState};
use crate::auth::Principal;
use crate::query::{parse_as_of, parse_at_position, parse_known_at, QueryFault};
use crate::report::{progress_report, to_csv, ReportError, ReportRequest};
use crate::service::{on_programme, Executed};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(definition))
        .routes(routes!(add_partner_to))
        .routes(routes!(add_cluster_to))
        .routes(routes!(add_period_to))
        .routes(routes!(put_indicator))
        .routes(routes!(lock))
        .routes(routes!(unlock))
        .routes(routes!(progress))
}

/// A programme id from the path; anything that is not a slug names no programme.
pub(super) fn programme_id(id: &str) -> Result<Slug, ApiError> {
    Slug::parse(id).map_err(|_| ApiError::not_found(format!("unknown programme '{id}'")))
}

/// The definition and the stream version, or 404.
pub(super) async fn existing(state: &AppState, id: &Slug) -> Result<(std::sync::Arc<ProgrammeState>, u64), ApiError> {
    let (programme, version) = state.programmes().load(state.log(), id).await.map_err(|e| ApiError::from_command(e, ""))?;
    if programme.programme().is_none() {
        return Err(ApiError::not_found(format!("unknown programme '{id}'")));
    }
    Ok((programme, version))
}

fn context(state: &AppState, role: events::Role) -> CommandContext {
    CommandContext { today: state.today(), role }
}

/// The definition as the API shows it: the programme's fields, its locked periods and the stream version.
fn view(state: &ProgrammeState, version: u64) -> Value {
    let mut value = serde_json::to_value(state.programme()).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        let locked: Vec<&str> = state.locked_periods().map(Slug::as_str).collect();
        map.insert("locked_periods".into(), json!(locked));
        map.insert("version".into(), json!(version));
    }
    value
}

/// Register a programme with its whole definition (admin).
#[utoipa::path(post, path = "/v1/programmes", tag = "programmes", operation_id = "register_programme", security(("bearer" = [])),
    request_body(content = Object, description = "the whole definition (SPEC §3)"),
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key return the first answer")),
    responses((status = 201, description = "registered; Location and ETag set", body = Object),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 409, body = super::Problem),
        (status = 422, body = super::Problem)))]
async fn register(
    State(state): State<AppState>,
    caller: Caller,
    key: Result<IdempotencyKey, ApiError>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    let principal = caller.admin()?;
    let IdempotencyKey(key) = key?;
    let JsonBody(body) = body?;
    let scope = format!("programmes\n{}", principal.name);
    let (shared, request) = (state.clone(), body.clone());
    idempotent(&shared, &scope, key, &request, 0, |_| async move {
        let programme = Programme::parse(&body).map_err(|f| ApiError::from_faults(f, "invalid programme"))?;
        let id = programme.id.clone();
        let ctx = context(&state, principal.role.clone());
        let executed = on_programme(state.log(), state.programmes(), &id, None, &principal.name, |current| {
            register_programme(current, programme.clone(), &ctx)
        })
        .await
        .map_err(|e| ApiError::from_command(e, "invalid programme"))?;
        let mut response = with_etag(StatusCode::CREATED, executed.version, view(&executed.state, executed.version));
        let (name, value) = location(format!("/v1/programmes/{id}"));
        response.headers_mut().insert(name, value);
        Ok(response)
    })
    .await
}

/// Every programme with its headline progress as of today.
#[utoipa::path(get, path = "/v1/programmes", tag = "programmes", operation_id = "list_programmes",
    responses((status = 200, description = "`{programmes: [{id, name, acronym, starts_on, ends_on, position, indicators: [{id, label, unit, target, actual, percent, status}]}]}`", body = Object)))]
async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let today = state.today();
    let projection = state.caught_up_progress().await?;
    let mut programmes = Vec::new();
    for id in projection.programme_ids() {
        let Some(definition) = projection.programme(id) else { continue };
        let query = projections::ProgressQuery { as_of: today, at_position: None };
        let Some(report) = projection.report(id, &query) else { continue };
        let indicators: Vec<Value> = report
            .indicators
            .iter()
            .map(|i| json!({"id": i.id, "label": i.label, "unit": i.unit, "target": i.target, "actual": i.actual,
                           "percent": i.percent, "status": i.status.as_str()}))
            .collect();
        programmes.push(json!({
            "id": id, "name": definition.name, "acronym": definition.acronym,
            "starts_on": definition.starts_on, "ends_on": definition.ends_on,
            "position": report.position, "indicators": indicators,
        }));
    }
    Ok(axum::Json(json!({"programmes": programmes, "as_of": today})).into_response())
}

/// A programme's definition; `ETag` is the version of its stream.
#[utoipa::path(get, path = "/v1/programmes/{id}", tag = "programmes", operation_id = "get_programme",
    params(("id" = String, Path, description = "programme id")),
    responses((status = 200, body = Object), (status = 404, body = super::Problem)))]
async fn definition(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = programme_id(&id)?;
    let (programme, version) = existing(&state, &id).await?;
    Ok(with_etag(StatusCode::OK, version, view(&programme, version)))
}

/// Runs a programme command for the caller: 404 naming the programme if it does not exist, else what the
/// command did.
pub(super) async fn change(
    state: &AppState,
    principal: std::sync::Arc<Principal>,
    id: &str,
    if_match: Option<u64>,
    title: &str,
    decide: impl Fn(&ProgrammeState, &CommandContext) -> Result<Vec<events::DomainEvent>, events::Faults>,
) -> Result<Executed<ProgrammeState>, ApiError> {
    let id = programme_id(id)?;
    existing(state, &id).await?;
    let ctx = context(state, principal.role.clone());
    on_programme(state.log(), state.programmes(), &id, if_match, &principal.name, |current| decide(current, &ctx))
        .await
        .map_err(|e| ApiError::from_command(e, title))
}

fn parsed<T>(parsed: Result<T, events::Faults>, title: &str) -> Result<T, ApiError> {
    parsed.map_err(|f| ApiError::from_faults(f, title))
}

/// Add a partner (coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/partners", tag = "programmes", operation_id = "add_partner", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content = Object, description = "a partner (SPEC §3)"),
    responses((status = 201, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn add_partner_to(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    add_part_for(&state, caller, &id, body, &PARTNER).await
}

/// Add a cluster (community of practice) (coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/clusters", tag = "programmes", operation_id = "add_cluster", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content = Object, description = "a cluster (SPEC §3)"),
    responses((status = 201, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn add_cluster_to(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    add_part_for(&state, caller, &id, body, &CLUSTER).await
}

/// Add a reporting period (coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/periods", tag = "programmes", operation_id = "add_period", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content = Object, description = "`{id, starts_on, ends_on}`"),
    responses((status = 201, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn add_period_to(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    add_part_for(&state, caller, &id, body, &PERIOD).await
}

/// A part a programme's definition grows by — a partner, a cluster or a reporting period: how its JSON is read
/// and the command that adds it.
#[derive(Debug)]
pub(super) struct Part<T: 'static> {
    /// The title of the problem when it cannot be added, e.g. "invalid partner".
    pub title: &'static str,
    parse: fn(&Value) -> Result<T, events::Faults>,
    decide: fn(&ProgrammeState, T, &CommandContext) -> Result<Vec<events::DomainEvent>, events::Faults>,
}

pub(super) const PARTNER: Part<Partner> = Part { title: "invalid partner", parse: Partner::parse, decide: add_partner };
pub(super) const CLUSTER: Part<Cluster> = Part { title: "invalid cluster", parse: Cluster::parse, decide: add_cluster };
pub(super) const PERIOD: Part<ReportingPeriod> =
    Part { title: "invalid period", parse: ReportingPeriod::parse, decide: add_period };

/// Adds a part to programme `id` for `principal`, whom the caller has checked may manage it: the body is read,
/// then the command decides. The part as added and what the command did.
pub(super) async fn add_part<T: Clone>(
    state: &AppState,
    principal: std::sync::Arc<Principal>,
    id: &str,
    body: &Value,
    part: &Part<T>,
) -> Result<(T, Executed<ProgrammeState>), ApiError> {
    let added = parsed((part.parse)(body), part.title)?;
    let executed = change(state, principal, id, None, part.title, |s, ctx| (part.decide)(s, added.clone(), ctx)).await?;
    Ok((added, executed))
}

/// The endpoint of [`add_part`]: who may, then the body, then the decision; 201 with the part and the programme's
/// new version.
async fn add_part_for<T: serde::Serialize + Clone>(
    state: &AppState,
    caller: Caller,
    id: &str,
    body: Result<JsonBody, ApiError>,
    part: &Part<T>,
) -> Result<Response, ApiError> {
    let principal = caller.manager_of(id)?;
    let JsonBody(body) = body?;
    let (added, executed) = add_part(state, principal, id, &body, part).await?;
    Ok(created(id, executed.version, serde_json::to_value(&added).unwrap_or(Value::Null)))
}

fn created(id: &str, version: u64, body: Value) -> Response {
    let mut response = with_etag(StatusCode::CREATED, version, body);
    let (name, value) = location(format!("/v1/programmes/{id}"));
    response.headers_mut().insert(name, value);
    response
}

/// Set an indicator (201) or revise it (200, `reason` required); `If-Match` is checked against the programme's
/// version (coordinator).
#[utoipa::path(put, path = "/v1/programmes/{id}/indicators/{indicator}", tag = "programmes", security(("bearer" = [])),
    params(("id" = String, Path), ("indicator" = String, Path), ("If-Match" = Option<String>, Header, description = "the programme version, e.g. \"3\"")),
    request_body(content = Object, description = "an indicator (SPEC §3) and `reason` when revising"),
    responses((status = 200, description = "revised or unchanged", body = Object), (status = 201, description = "set", body = Object),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 404, body = super::Problem),
        (status = 412, body = super::Problem), (status = 422, body = super::Problem)))]
async fn put_indicator(
    State(state): State<AppState>,
    caller: Caller,
    if_match: Result<IfMatch, ApiError>,
    Path((id, indicator)): Path<(String, String)>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    let principal = caller.manager_of(&id)?;
    let IfMatch(if_match) = if_match?;
    let JsonBody(body) = body?;
    let (executed, set) = set_indicator_of(&state, principal, &id, &indicator, &body, if_match).await?;
    // A new indicator is `IndicatorSet` (201); a revision, or no change at all, is 200.
    let status = if set { StatusCode::CREATED } else { StatusCode::OK };
    let current = executed.state.programme().and_then(|p| p.indicator(&indicator));
    Ok(with_etag(status, executed.version, serde_json::to_value(current).unwrap_or(Value::Null)))
}

/// Sets indicator `indicator` of programme `id` for `principal`, whom the caller has checked may manage it, from
/// `body` (the indicator's fields, and `reason` when revising): what the command did, and whether the indicator
/// is new (`IndicatorSet`) rather than revised or left as it was.
pub(super) async fn set_indicator_of(
    state: &AppState,
    principal: std::sync::Arc<Principal>,
    id: &str,
    indicator: &str,
    body: &Value,
    if_match: Option<u64>,
) -> Result<(Executed<ProgrammeState>, bool), ApiError> {
    let slug = Slug::parse(indicator).map_err(|e| ApiError::invalid("invalid indicator", "id", e.to_string()))?;
    let command = parsed(SetIndicator::parse(&slug, body), "invalid indicator")?;
    let executed = change(state, principal, id, if_match, "invalid indicator", |s, ctx| set_indicator(s, command.clone(), ctx)).await?;
    let set = executed.appended.as_ref().is_some_and(|a| a.envelopes.iter().any(|e| e.event_type == "IndicatorSet"));
    Ok((executed, set))
}

/// The body of a lock or unlock.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LockBody {
    /// Why the period is locked or unlocked.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    pub reason: String,
}

/// Lock a reporting period: no activity dated in it may be recorded, corrected or retracted (coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/periods/{period}/lock", tag = "programmes", operation_id = "lock_period", security(("bearer" = [])),
    params(("id" = String, Path), ("period" = String, Path)), request_body = LockBody,
    responses((status = 200, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn lock(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, period)): Path<(String, String)>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    change_lock(state, caller, id, period, body, true).await
}

/// Unlock a reporting period, for a reason (coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/periods/{period}/unlock", tag = "programmes", operation_id = "unlock_period", security(("bearer" = [])),
    params(("id" = String, Path), ("period" = String, Path)), request_body = LockBody,
    responses((status = 200, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 422, body = super::Problem)))]
async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, period)): Path<(String, String)>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    change_lock(state, caller, id, period, body, false).await
}

async fn change_lock(
    state: AppState,
    caller: Caller,
    id: String,
    period: String,
    body: Result<JsonBody, ApiError>,
    locking: bool,
) -> Result<Response, ApiError> {
    let principal = caller.manager_of(&id)?;
    let JsonBody(body) = body?;
    let body: LockBody = typed(body, "invalid lock", &["reason"])?;
    let executed = change_period_lock(&state, principal, &id, &period, body.reason, locking).await?;
    let (locked, version) = (executed.state.is_locked(&period), executed.version);
    Ok(with_etag(StatusCode::OK, version, json!({"programme": id, "period": period, "locked": locked, "version": version})))
}

/// Locks (`locking`) or unlocks reporting period `period` of programme `id` for `principal`, whom the caller has
/// checked may manage it, for `reason`.
pub(super) async fn change_period_lock(
    state: &AppState,
    principal: std::sync::Arc<Principal>,
    id: &str,
    period: &str,
    reason: String,
    locking: bool,
) -> Result<Executed<ProgrammeState>, ApiError> {
    let period = Slug::parse(period).map_err(|_| ApiError::not_found(format!("unknown period '{period}'")))?;
    let command = ChangePeriodLock { period, reason };
    change(state, principal, id, None, "invalid lock", |s, ctx| {
        if locking {
            lock_period(s, command.clone(), ctx)
        } else {
            unlock_period(s, command.clone(), ctx)
        }
    })
    .await
}

/// The media type of an XLSX workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The query of a progress report.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ProgressParams {
    /// Count activities that occurred on or before this day (default: today, or the day of `known_at`).
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<String>,
    /// Report what was known at this moment (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub known_at: Option<String>,
    /// Report what the log said at this position; the same query gives the same bytes forever.
    #[param(value_type = Option<u64>, minimum = 0)]
    pub at_position: Option<String>,
}

/// Progress against every output target; `Accept: text/csv` gives one CSV row per indicator (each starting
/// with programme, as_of, known_at, log_position, log_hash), `Accept:
/// application/vnd.openxmlformats-officedocument.spreadsheetml.sheet` an XLSX workbook (indicators, by partner,
/// by cluster, activities, about).
#[utoipa::path(get, path = "/v1/programmes/{id}/progress", tag = "progress", operation_id = "get_progress",
    params(("id" = String, Path), ProgressParams),
    responses((status = 200, description = "the report (SPEC §6), or CSV",
            content((Object = "application/json"), (String = "text/csv"),
                (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 404, body = super::Problem), (status = 422, body = super::Problem)))]
async fn progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ProgressParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query.map_err(query_rejection)?;
    let id = programme_id(&id)?;
    if !wants(&headers, XLSX) && !wants(&headers, "text/csv") {
        let body = report_json_for(&state, &id, &params).await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let report = report_for(&state, &id, &params).await?;
    // The file's name says what it reflects too: programme, as_of and log position.
    let name = format!("{id}-progress-{}-at-{}", report.as_of, report.position);
    if wants(&headers, XLSX) {
        let projection = state.progress().read().await;
        let rows = crate::exports::report_rows(&projection, &report, &Default::default());
        drop(projection);
        let bytes = crate::exports::progress_xlsx(&report, &rows).map_err(ApiError::internal)?;
        let disposition = format!("attachment; filename=\"{name}.xlsx\"");
        return Ok(([(header::CONTENT_TYPE, XLSX.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response());
    }
    let disposition = format!("attachment; filename=\"{name}.csv\"");
    let headers = [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)];
    Ok((headers, to_csv(&report)).into_response())
}

/// The report a progress query asks for: it reflects every event acknowledged before the request; a past position
/// or moment must be one that has happened, or the same query would give other bytes later.
pub(super) async fn report_for(state: &AppState, id: &Slug, params: &ProgressParams) -> Result<projections::ProgressReport, ApiError> {
    let request = report_request(state, params).await?;
    let projection = state.progress().read().await;
    progress_report(state.log(), &projection, id.as_str(), &request, state.today()).await.map_err(report_error)
}

/// The report of [`report_for`] as JSON. A report is the same for the same query, projection position and day,
/// so the last one made for each programme is kept serialised and served again while nothing changed.
async fn report_json_for(state: &AppState, id: &Slug, params: &ProgressParams) -> Result<axum::body::Bytes, ApiError> {
    let request = report_request(state, params).await?;
    let projection = state.progress().read().await;
    let key = ReportKey { request, position: projection.position(), today: state.today() };
    if let Some(body) = state.reports().get(id.as_str(), &key) {
        return Ok(body);
    }
    let report = progress_report(state.log(), &projection, id.as_str(), &key.request, key.today).await.map_err(report_error)?;
    drop(projection);
    let body = axum::body::Bytes::from(serde_json::to_vec(&report).map_err(ApiError::internal)?);
    state.reports().put(id.as_str(), key, body.clone());
    Ok(body)
}

fn report_error(error: ReportError) -> ApiError {
    match error {
        ReportError::UnknownProgramme(_) => ApiError::not_found(error.to_string()),
        ReportError::NotYetRegistered { .. } => ApiError::not_found(error.to_string()),
        ReportError::Query(fault) => ApiError::invalid("invalid query", fault.field, fault.message),
        ReportError::Read(e) => ApiError::from(e),
    }
}

/// What a progress report depends on besides the programme: the query, the position the projection stands at
/// and the day (the default `as_of`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ReportKey {
    request: ReportRequest,
    position: u64,
    today: chrono::NaiveDate,
}

/// The last JSON progress report served for each programme, with what it was made from.
#[derive(Debug, Default)]
pub(super) struct ReportCache(parking_lot::Mutex<std::collections::HashMap<String, (ReportKey, axum::body::Bytes)>>);

impl ReportCache {
    fn get(&self, programme: &str, key: &ReportKey) -> Option<axum::body::Bytes> {
        let reports = self.0.lock();
        reports.get(programme).filter(|(made_for, _)| made_for == key).map(|(_, body)| body.clone())
    }

    fn put(&self, programme: &str, key: ReportKey, body: axum::body::Bytes) {
        self.0.lock().insert(programme.to_owned(), (key, body));
    }
}

/// The checked query of a progress report, once the projection has reached every event acknowledged before it.
async fn report_request(state: &AppState, params: &ProgressParams) -> Result<ReportRequest, ApiError> {
    let fault = |f: QueryFault| ApiError::invalid("invalid query", f.field, f.message);
    let request = ReportRequest {
        as_of: params.as_of.as_deref().map(parse_as_of).transpose().map_err(fault)?,
        known_at: params.known_at.as_deref().map(parse_known_at).transpose().map_err(fault)?,
        at_position: params.at_position.as_deref().map(parse_at_position).transpose().map_err(fault)?,
    };
    let head = state.log().head().await?.position;
    request.check(head, Timestamp::now()).map_err(fault)?;
    state.progress().wait_for(request.at_position.unwrap_or(head), Duration::from_secs(2)).await;
    Ok(request)
}
