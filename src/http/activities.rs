//! Activity endpoints: record (with `Idempotency-Key`), list with filters and a cursor, read one with its event
//! history, and its lifecycle — corrections and retraction (with `If-Match`), submission, approval and return.


use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use events::{
    ActivityKind, ActivityState, ActivityStatus, CorrectActivity, Envelope, RetractActivity,
};
use projections::{ActivityFilter, ActivityRevision, ProgressProjection};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::activity_commands::{self as commands, activity_id, Done};
use super::error::ApiError;
use super::extract::{parse_json, query_rejection, typed, Caller, IdempotencyKey, IfMatch, JsonBody, JsonText};
use super::idempotency::idempotent;
use super::programmes::{programme_id, report_for, ProgressParams};
use super::{json_with_etag, location, wants, with_etag, AppState};
use crate::service::ActivityBody;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_one, list))
        .routes(routes!(read_one))
        .routes(routes!(correct))
        .routes(routes!(retract))
        .routes(routes!(submit))
}

/// Longest page of a list.
const MAX_LIMIT: usize = 500;

/// An activity as the API shows it: id, programme, its fields, status, stream version and the position of its
/// last event.
pub(super) fn view(programme: &str, state: &ActivityState, version: u64, position: u64) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("id".into(), json!(state.id()));
    map.insert("programme".into(), json!(programme));
    if let Some(Value::Object(fields)) = state.activity().map(events::Activity::to_value) {
        map.extend(fields);
    }
    map.insert("status".into(), json!(state.status().as_str()));
    if let Some(note) = state.return_note() {
        map.insert("return_note".into(), json!(note));
    }
    map.insert("version".into(), json!(version));
    map.insert("position".into(), json!(position));
    Value::Object(map)
}

/// The entries a view adds to the activity's fields, in key order.
const VIEW_ENTRIES: [&str; 6] = ["id", "position", "programme", "return_note", "status", "version"];

/// [`view`] written straight to JSON: the same bytes as serialising it, without building the object first.
/// The view's own entries go between the activity's fields in key order.
pub(super) fn view_json(programme: &str, state: &ActivityState, version: u64, position: u64) -> Vec<u8> {
    use events::activity::FieldJson;
    /// An entry of the view that is not one of the activity's fields: no kind has a field named like one of
    /// [`VIEW_ENTRIES`] (the catalogue is checked by `no_activity_field_is_named_like_a_view_entry`), so the two
    /// sorted lists merge without a clash.
    enum Own<'a> {
        Id(Option<Uuid>),
        Text(&'a str),
        Number(u64),
    }
    let fields = state.activity().map(events::Activity::json_fields).unwrap_or_default();
    let [id, at, in_programme, return_note, status, of_version] = VIEW_ENTRIES;
    let mut own = Vec::with_capacity(VIEW_ENTRIES.len());
    own.push((id, Own::Id(state.id())));
    own.push((at, Own::Number(position)));
    own.push((in_programme, Own::Text(programme)));
    if let Some(note) = state.return_note() {
        own.push((return_note, Own::Text(note)));
    }
    own.push((status, Own::Text(state.status().as_str())));
    own.push((of_version, Own::Number(version)));
    let mut out = String::with_capacity(512);
    out.push('{');
    let mut first = true;
    let mut entry = |out: &mut String, key: &str| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        FieldJson::Text(key).write(out);
        out.push(':');
    };
    // Both lists are sorted by name: merged, they make the object's keys in order.
    let mut fields = fields.iter().peekable();
    for (key, value) in own {
        while let Some((name, field)) = fields.next_if(|(name, _)| *name < key) {
            entry(&mut out, name);
            field.write(&mut out);
        }
        entry(&mut out, key);
        match value {
            Own::Id(Some(id)) => {
                let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
                FieldJson::Text(id.hyphenated().encode_lower(&mut text)).write(&mut out);
            }
            Own::Id(None) => out.push_str("null"),
            Own::Text(text) => FieldJson::Text(text).write(&mut out),
            Own::Number(n) => {
                use std::fmt::Write as _;
                let _ = write!(out, "{n}");
            }
        }
    }
    for (name, field) in fields {
        entry(&mut out, name);
        field.write(&mut out);
    }
    out.push('}');
    out.into_bytes()
}

fn envelope_json(envelope: &Envelope) -> Value {
    serde_json::from_str(&envelope.to_json_line()).unwrap_or(Value::Null)
}

/// Record an activity (recorder of its partner, coordinator). `Idempotency-Key`: a retry with the same key and
/// body returns the first answer and records nothing more.
#[utoipa::path(post, path = "/v1/programmes/{id}/activities", tag = "activities", operation_id = "record_activity", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Object, description = "`{kind, occurred_on, …the kind's fields}` (SPEC §3)"),
    responses((status = 201, description = "recorded; Location and ETag set", body = Object),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 404, body = super::Problem),
        (status = 409, body = super::Problem), (status = 422, body = super::Problem), (status = 423, body = super::Problem)))]
async fn record_one(
    State(state): State<AppState>,
    caller: Caller,
    key: Result<IdempotencyKey, ApiError>,
    Path(id): Path<String>,
    body: Result<JsonText, ApiError>,
) -> Result<Response, ApiError> {
    let principal = caller.recorder_in(&id)?;
    let IdempotencyKey(key) = key?;
    let JsonText(text) = body?;
    // The fast reader takes nearly every valid body; any other is parsed as JSON (400 if it is not) for the
    // reader that names every fault.
    let body = match events::ActivityDraft::read(&text) {
        Some(draft) => ActivityBody::Draft(draft, text.to_vec()),
        None => ActivityBody::Json(parse_json(&text)?),
    };
    let programme = programme_id(&id)?;
    let scope = format!("activities\n{}\n{programme}", principal.name);
    // The body is kept for the key's request hash only when there is a key.
    let (shared, request) = (state.clone(), if key.is_some() { body.to_value() } else { Value::Null });
    idempotent(&shared, &scope, key, &request, 3, |attempt| async move {
        let done = commands::record(&state, &principal, &programme, &body, &attempt.ids, attempt.fresh)
            .await
            .map_err(|e| ApiError::from_command(e, "invalid activity"))?;
        let body = view_json(programme.as_str(), &done.state, done.version, done.position);
        let mut response = json_with_etag(StatusCode::CREATED, done.version, body);
        let (name, value) = location(format!("/v1/programmes/{programme}/activities/{}", attempt.ids[0]));
        response.headers_mut().insert(name, value);
        Ok(response)
    })
    .await
}

/// The filters and page of an activity list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    /// An activity kind, e.g. `staff_exchange`.
    pub kind: Option<String>,
    /// The partner an activity is attributed to.
    pub partner: Option<String>,
    /// A cluster id, or `none` for activities without one.
    pub cluster: Option<String>,
    /// recorded | submitted | approved | returned | retracted
    pub status: Option<String>,
    /// Occurred on or after this day.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Occurred on or before this day.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    pub cursor: Option<String>,
    /// Only activities that occurred on or before this day (default: today, or the day of `known_at` /
    /// `at_position`).
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<String>,
    /// The activities as they were known at this moment (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub known_at: Option<String>,
    /// The activities as they stood at this log position; with `Accept: text/csv` the same query gives the same
    /// bytes forever.
    #[param(value_type = Option<u64>, minimum = 0)]
    pub at_position: Option<String>,
}

fn invalid_query(field: &str, message: String) -> ApiError {
    ApiError::invalid("invalid query", field, message)
}

impl ListParams {
    /// The filter these parameters name; 422 naming a parameter that cannot be read.
    pub(super) fn filter(&self) -> Result<ActivityFilter, ApiError> {
        let date = |field: &str, text: &Option<String>| -> Result<Option<chrono::NaiveDate>, ApiError> {
            text.as_deref()
                .map(|t| events::values::parse_date(t).map_err(|_| invalid_query(field, format!("'{t}' is not a date YYYY-MM-DD"))))
                .transpose()
        };
        Ok(ActivityFilter {
            kind: self
                .kind
                .as_deref()
                .map(|k| ActivityKind::parse(k).ok_or_else(|| invalid_query("kind", ActivityKind::unknown(k))))
                .transpose()?,
            partner: self.partner.clone(),
            cluster: self.cluster.clone(),
            status: self
                .status
                .as_deref()
                .map(|s| ActivityStatus::parse(s).ok_or_else(|| invalid_query("status", format!("unknown status '{s}'"))))
                .transpose()?,
            from: date("from", &self.from)?,
            to: date("to", &self.to)?,
        })
    }

    /// The page size (default 50) and the activity to continue after; 422 for either that cannot be read.
    pub(super) fn page(&self) -> Result<(usize, Option<Uuid>), ApiError> {
        let limit = match self.limit.as_deref() {
            None => 50,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(invalid_query("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))),
            },
        };
        let after = self
            .cursor
            .as_deref()
            .map(|c| Uuid::parse_str(c).map_err(|_| invalid_query("cursor", "not a cursor from a previous page".into())))
            .transpose()?;
        Ok((limit, after))
    }
}

/// 404 when the projection has no such programme, 422 when `after` names none of its activities.
pub(super) fn known_cursor(projection: &ProgressProjection, programme: &str, after: Option<Uuid>) -> Result<(), ApiError> {
    if projection.programme(programme).is_none() {
        return Err(ApiError::not_found(format!("unknown programme '{programme}'")));
    }
    if let Some(cursor) = after.filter(|c| projection.activity(programme, c).is_none()) {
        return Err(invalid_query("cursor", format!("'{cursor}' is not a cursor from a previous page")));
    }
    Ok(())
}

/// One page of the activities that pass `filter`, as they stood at log position `at`, after the activity
/// `after`: up to `limit` of them, and the cursor of the next page when there are more.
pub(super) fn page_of<'a>(
    projection: &'a ProgressProjection,
    programme: &str,
    filter: &ActivityFilter,
    after: Option<Uuid>,
    limit: usize,
    at: u64,
) -> (Vec<(Uuid, ActivityRevision<'a>)>, Option<Uuid>) {
    let mut page = projection.list_activities_at(programme, filter, after, limit + 1, at);
    let more = page.len() > limit;
    page.truncate(limit);
    let next = if more { page.last().map(|(id, _)| *id) } else { None };
    (page, next)
}

/// Activities of a programme in the order they were recorded, filtered, a page at a time, as they stood at a
/// log position or moment and dated on or before `as_of`; `Accept: text/csv` gives every activity that passes
/// the filters as CSV, each row starting with what the file reflects (programme, as_of, known_at, log_position,
/// log_hash) and holding every recorded value.
#[utoipa::path(get, path = "/v1/programmes/{id}/activities", tag = "activities", operation_id = "list_activities",
    params(("id" = String, Path), ListParams),
    responses((status = 200, description = "`{activities: [activity], next_cursor}`, or CSV",
            content((Object = "application/json"), (String = "text/csv"))),
        (status = 404, body = super::Problem), (status = 422, body = super::Problem)))]
async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    query: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query.map_err(query_rejection)?;
    let programme = programme_id(&id)?;
    let filter = params.filter()?;
    let (limit, after) = params.page()?;
    let csv = wants(&headers, "text/csv");
    let times = ProgressParams { as_of: params.as_of, known_at: params.known_at, at_position: params.at_position };
    let timed = times.as_of.is_some() || times.known_at.is_some() || times.at_position.is_some();
    // A CSV states what it reflects, and a list asked for at a date, moment or position stands where the
    // progress report for the same query stands.
    let report = if csv || timed { Some(report_for(&state, &programme, &times).await?) } else { None };
    let projection = state.caught_up_progress().await?;
    known_cursor(&projection, programme.as_str(), after)?;
    if let Some(report) = report.as_ref().filter(|_| csv) {
        let rows = crate::exports::report_rows(&projection, report, &filter);
        let csv = crate::exports::activities_csv(report, &rows);
        let disposition = format!("attachment; filename=\"{programme}-activities-{}-at-{}.csv\"", report.as_of, report.position);
        let headers = [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)];
        return Ok((headers, csv).into_response());
    }
    let mut filter = filter;
    let at = match &report {
        Some(report) => {
            filter.to = Some(filter.to.map_or(report.as_of, |to| to.min(report.as_of)));
            report.position
        }
        None => u64::MAX,
    };
    let (page, next) = page_of(&projection, programme.as_str(), &filter, after, limit, at);
    let activities: Vec<Value> = page
        .iter()
        .map(|(id, revision)| {
            let version = projection.activity(programme.as_str(), id).map_or(0, |h| h.version_at(at));
            view(programme.as_str(), &revision.to_state(*id), version, revision.position())
        })
        .collect();
    let next_cursor = next.map(|id| id.to_string());
    Ok(axum::Json(json!({"activities": activities, "next_cursor": next_cursor})).into_response())
}

/// One activity: its current state and every event of its stream; `ETag` is the stream version.
#[utoipa::path(get, path = "/v1/programmes/{id}/activities/{activity}", tag = "activities", operation_id = "get_activity",
    params(("id" = String, Path), ("activity" = String, Path)),
    responses((status = 200, description = "the activity and `history`: its envelopes", body = Object),
        (status = 404, body = super::Problem)))]
async fn read_one(
    State(state): State<AppState>,
    Path((id, activity)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let programme = programme_id(&id)?;
    let activity = activity_id(&activity)?;
    let found = commands::with_history(&state, &programme, &activity).await.map_err(|e| ApiError::from_command(e, ""))?;
    let Some((current, version, envelopes)) = found else {
        return Err(ApiError::not_found(format!("unknown activity '{activity}' in programme '{programme}'")));
    };
    let position = envelopes.last().map_or(0, |e| e.position);
    let mut body = view(programme.as_str(), &current, version, position);
    body["history"] = Value::Array(envelopes.iter().map(envelope_json).collect());
    Ok(with_etag(StatusCode::OK, version, body))
}

/// The answer to a lifecycle command: the activity's new state with its version as `ETag`, or the problem.
pub(super) fn answer(programme: &str, done: Result<Done, crate::service::CommandError>, title: &str) -> Result<Response, ApiError> {
    let Done { state, version, position } = done.map_err(|e| ApiError::from_command(e, title))?;
    Ok(json_with_etag(StatusCode::OK, version, view_json(programme, &state, version, position)))
}

/// The body of a correction: the changed fields (`null` removes an optional one) and why.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CorrectionBody {
    /// Why the activity is corrected.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    pub reason: String,
    #[serde(default)]
    #[schema(value_type = Object, required = true)]
    pub changes: Value,
}

/// Correct an activity's fields, for a reason; `If-Match` is checked against the activity's version
/// (recorder of its partner before approval, coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/activities/{activity}/corrections", tag = "activities", operation_id = "correct_activity",
    security(("bearer" = [])), request_body = CorrectionBody,
    params(("id" = String, Path), ("activity" = String, Path), ("If-Match" = Option<String>, Header, description = "the activity version, e.g. \"1\"")),
    responses((status = 200, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 412, body = super::Problem),
        (status = 422, body = super::Problem), (status = 423, body = super::Problem)))]
async fn correct(
    State(state): State<AppState>,
    caller: Caller,
    if_match: Result<IfMatch, ApiError>,
    Path(path): Path<(String, String)>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    let principal = caller.recorder_in(&path.0)?;
    let IfMatch(if_match) = if_match?;
    let JsonBody(body) = body?;
    let body: CorrectionBody = typed(body, "invalid correction", &["reason", "changes"])?;
    let command = CorrectActivity { reason: body.reason, changes: body.changes };
    let (programme, activity) = (programme_id(&path.0)?, activity_id(&path.1)?);
    let done = commands::correct(&state, &principal, &programme, activity, if_match, command).await;
    answer(programme.as_str(), done, "invalid correction")
}

/// The body of a retraction.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RetractionBody {
    /// Why the activity no longer counts.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    pub reason: String,
}

/// Retract an activity, for a reason: it no longer counts; `If-Match` honoured (recorder of its partner before
/// approval, coordinator).
#[utoipa::path(post, path = "/v1/programmes/{id}/activities/{activity}/retraction", tag = "activities", operation_id = "retract_activity",
    security(("bearer" = [])), request_body = RetractionBody,
    params(("id" = String, Path), ("activity" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem), (status = 412, body = super::Problem),
        (status = 422, body = super::Problem), (status = 423, body = super::Problem)))]
async fn retract(
    State(state): State<AppState>,
    caller: Caller,
    if_match: Result<IfMatch, ApiError>,
    Path(path): Path<(String, String)>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    let principal = caller.recorder_in(&path.0)?;
    let IfMatch(if_match) = if_match?;
    let JsonBody(body) = body?;
    let body: RetractionBody = typed(body, "invalid retraction", &["reason"])?;
    let command = RetractActivity { reason: body.reason };
    let (programme, activity) = (programme_id(&path.0)?, activity_id(&path.1)?);
    let done = commands::retract(&state, &principal, &programme, activity, if_match, command).await;
    answer(programme.as_str(), done, "invalid retraction")
}

/// Submit a recorded or returned activity for approval, in programmes that require it.
#[utoipa::path(post, path = "/v1/programmes/{id}/activities/{activity}/submission", tag = "activities", operation_id = "submit_activity",
    security(("bearer" = [])), params(("id" = String, Path), ("activity" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = super::Problem), (status = 403, body = super::Problem),
        (status = 404, body = super::Problem), (status = 409, body = super::Problem)))]
async fn submit(State(state): State<AppState>, caller: Caller, Path(path): Path<(String, String)>) -> Result<Response, ApiError> {
    let principal = caller.recorder_in(&path.0)?;
    let (programme, activity) = (programme_id(&path.0)?, activity_id(&path.1)?);
    answer(programme.as_str(), commands::submit(&state, &principal, &programme, activity).await, "invalid submission")
}

#[cfg(test)]
mod tests {
    use events::event::{ActivityRecorded, ActivityReturned, ActivitySubmitted};
    use events::DomainEvent;
    use serde_json::json;

    use super::*;

    fn recorded(body: Value) -> (Uuid, DomainEvent) {
        let id = Uuid::now_v7();
        let activity = events::parse_activity(&body, None).expect("a valid activity");
        (id, DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: id, activity }))
    }

    /// `view_json` merges the activity's fields with the view's own entries without checking for a clash: no
    /// kind may have a field (common, own, or the `evidence` and `attributes` lists) named like a view entry.
    #[test]
    fn no_activity_field_is_named_like_a_view_entry() {
        assert!(VIEW_ENTRIES.is_sorted(), "the merge needs the entries in key order");
        for kind in events::ActivityKind::ALL {
            for entry in VIEW_ENTRIES {
                assert_eq!(kind.field_type(entry), None, "{kind} has a field named {entry}");
                assert!(!["evidence", "attributes"].contains(&entry));
            }
        }
    }

    /// The view written straight to JSON is byte for byte the serialised object, for activities of several kinds
    /// (nested objects, arrays, escapes, money), a returned one with its note, and no activity at all.
    #[test]
    fn the_view_written_directly_is_the_serialised_object() {
        let bodies = [
            json!({"kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino", "visitor": "asti",
                   "cluster": "cop1", "days": 5, "staff": 2}),
            json!({"kind": "cluster_visit", "occurred_on": "2021-03-04", "ends_on": "2021-03-05", "cluster": "cop1",
                   "host": "torino", "partner": "torino", "participants": {"total": 25, "women": 14},
                   "title": "Visit \"one\" \\ ü\n", "notes": "a\tb",
                   "evidence": [{"title": "Agenda", "url": "https://example.org/agenda.pdf"}]}),
            json!({"kind": "grant_awarded", "occurred_on": "2021-02-01", "recipient": "asti", "amount": "12.34",
                   "purpose": "one-stop-shop pilot"}),
            json!({"kind": "action_plan_endorsed", "occurred_on": "2021-02-01", "partner": "asti", "title": "Plan"}),
        ];
        for body in bodies {
            let (id, event) = recorded(body);
            let mut state = ActivityState::from_events([&event]);
            let check = |state: &ActivityState| {
                let expected = serde_json::to_vec(&view("connection", state, 3, 1_234_567)).unwrap();
                let written = view_json("connection", state, 3, 1_234_567);
                assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(expected).unwrap());
            };
            check(&state);
            state.apply(&DomainEvent::ActivitySubmitted(ActivitySubmitted { activity_id: id }));
            state.apply(&DomainEvent::ActivityReturned(ActivityReturned { activity_id: id, note: "fix \"the\" days ✓".into() }));
            assert!(state.return_note().is_some());
            check(&state);
        }
        let nothing = ActivityState::new();
        assert_eq!(view_json("p", &nothing, 0, 0), serde_json::to_vec(&view("p", &nothing, 0, 0)).unwrap());
    }
}
