//! `POST /v1/programmes/{id}/imports`: activities in bulk from a CSV or XLSX file (coordinator, admin). Every row
//! is read into the body `POST …/activities` takes (`crate::imports`) and decided by the same command, so a row's
//! faults are the ones that endpoint gives. Without `commit=true` nothing is recorded: the answer lists every
//! row's outcome — the activity it would be, or its faults with their cells. With `commit=true` the file is
//! recorded only if no row has a fault (else 422 listing them all, nothing recorded), so that a person fixes the
//! sheet and sends it again rather than working out which half of it went in. All of this is `import_file`, which
//! the bulk upload page (`pages/upload.rs`) runs too.
//!
//! Each row is recorded idempotently: its identity is the activity it makes (kind and every field, as the
//! domain reads them) within the programme, and its rank among rows of the same content in the file, so two
//! identical rows of one file are two activities, while the same file sent twice — or a sheet that grew since
//! it was last sent — records only what is new. The ids for an identity are reserved durably in the record
//! store before anything is appended (like an `Idempotency-Key`), so a commit cut short by a crash is finished
//! by sending the file again.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events::{activity_stream, CommandContext, DomainEvent, Fault, Slug};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{query_rejection, Caller};
use super::programmes::{existing, programme_id};
use super::AppState;
use crate::auth::Principal;
use crate::imports::{self, RowBody};
use crate::service::{record, ActivityBody, ActivityTarget};
use crate::store::Table;

/// The largest file an import takes.
pub(super) const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;
/// The most rows an import takes.
const MAX_IMPORT_ROWS: usize = 10_000;
/// The media type of an XLSX workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import)).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES))
}

/// The query of an import.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImportParams {
    /// `true` records every row (only if none has a fault); `false` (the default) only checks them.
    #[param(value_type = Option<bool>)]
    commit: Option<String>,
}

/// Import activities from a CSV (`text/csv`, with a `kind` column) or XLSX file (one kind per sheet named after
/// it, or a `kind` column), at most 4 MiB and 10 000 rows; columns are the activity fields (an activities export
/// reads back). Without `commit=true` nothing is recorded and every row's outcome is listed; with it every row
/// is recorded, each once however often the file is sent, or nothing if any row has a fault (422).
#[utoipa::path(post, path = "/v1/programmes/{id}/imports", tag = "activities", operation_id = "import_activities",
    security(("bearer" = [])),
    params(("id" = String, Path), ImportParams),
    request_body(description = "the file", content(
        (String = "text/csv"),
        (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
    responses((status = 200, description = "every row's outcome", body = Object),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 404, body = super::Problem),
        (status = 413, body = super::Problem), (status = 415, body = super::Problem), (status = 422, body = super::Problem)))]
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<ImportParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let principal = caller.manager_of(&id)?;
    let Query(params) = query.map_err(query_rejection)?;
    let commit = match params.commit.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::invalid("invalid query", "commit", format!("'{other}' is not true or false"))),
    };
    let programme = programme_id(&id)?;
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(kind) = FileKind::of_media_type(content_type) else {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "the body must be a CSV or XLSX file")
            .detail(format!("send the file with Content-Type: text/csv or {XLSX}")));
    };
    let imported = import_file(&state, principal, programme, kind, bytes, commit).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], imported.to_json().to_string()).into_response())
}

/// What kind of file an import reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FileKind {
    Csv,
    Xlsx,
}

impl FileKind {
    /// The kind a media type names (`text/csv` or the XLSX type, parameters aside), if any.
    pub(super) fn of_media_type(content_type: &str) -> Option<FileKind> {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(FileKind::Csv),
            XLSX => Some(FileKind::Xlsx),
            _ => None,
        }
    }

    fn read(self, bytes: &[u8]) -> Result<Vec<imports::Sheet>, imports::Unreadable> {
        match self {
            FileKind::Csv => imports::read::csv(bytes).map(|sheet| vec![sheet]),
            FileKind::Xlsx => imports::read::xlsx(bytes),
        }
    }
}

/// Every row's outcome of an import.
#[derive(Debug)]
pub(super) struct Imported {
    pub programme: Slug,
    pub committed: bool,
    pub outcomes: Vec<Outcome>,
}

impl Imported {
    /// How many rows have this outcome: valid | faulty | recorded | already_recorded.
    pub(super) fn count(&self, status: &str) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }

    fn to_json(&self) -> Value {
        let count = |status: &str| self.count(status);
        json!({
            "programme": self.programme.as_str(),
            "committed": self.committed,
            "rows": self.outcomes.len(),
            "valid": count("valid"),
            "faulty": count("faulty"),
            "recorded": count("recorded"),
            "already_recorded": count("already_recorded"),
            "outcomes": self.outcomes.iter().map(Outcome::to_json).collect::<Vec<_>>(),
        })
    }
}

/// Reads `bytes` as a file of `kind` and decides every row for `principal`, whom the caller has checked may
/// manage `programme`. Without `commit` nothing is recorded; with it every row is recorded once however often
/// the file comes, or — if any row has a fault — nothing at all (422 listing every fault by its cell).
pub(super) async fn import_file(
    state: &AppState,
    principal: Arc<Principal>,
    programme: Slug,
    kind: FileKind,
    bytes: axum::body::Bytes,
    commit: bool,
) -> Result<Imported, ApiError> {
    let read = move |bytes: &[u8]| kind.read(bytes);
    // Unpacking a workbook is work for a blocking thread. A file the reader refuses is the client's to fix; a
    // reader that panics is a fault of the server's (logged, 500), whatever file made it.
    let unreadable = |detail: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "unreadable file").detail(detail);
    let sheets = tokio::task::spawn_blocking(move || read(&bytes))
        .await
        .map_err(|panic| ApiError::internal(format!("reading an uploaded file failed: {panic}")))?
        .map_err(|e| unreadable(e.0))?;
    let rows = imports::row_bodies(&sheets, programme.as_str()).map_err(|faults| {
        let errors = faults.into_iter().map(|f| Fault::new(f.place.reference(), f.message)).collect();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid file layout")
            .detail("the headings of the file have faults, each named by its cell; nothing was recorded")
            .errors(errors)
    })?;
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the file has too many rows")
            .detail(format!("an import takes at most {MAX_IMPORT_ROWS} rows, this file has {}; split it", rows.len())));
    }
    let (programme_state, _) = existing(state, &programme).await?;
    let ctx = CommandContext { today: state.today(), role: principal.role.clone() };
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        let decided = events::record_activity_body(&programme_state, Uuid::nil(), &row.body, &ctx);
        let mut faults = row.faults.clone();
        let mut activity = None;
        match decided {
            Ok(decided) => {
                activity = decided.into_iter().find_map(|event| match event {
                    DomainEvent::ActivityRecorded(recorded) => Some(recorded.activity),
                    _ => None,
                });
            }
            Err(rejected) => faults.extend(rejected.into_faults()),
        }
        let identity = match (&activity, faults.is_empty()) {
            (Some(activity), true) => {
                let content = activity.to_value().to_string();
                let rank = seen.entry(content.clone()).or_default();
                *rank += 1;
                Some(hex::encode(Sha256::digest(format!("import-row\n{programme}\n{content}\n{rank}").as_bytes())))
            }
            _ => None,
        };
        outcomes.push(Outcome { row, activity: activity.map(|a| a.to_value()), faults, identity, id: None, status: "" });
    }
    let faulty = outcomes.iter().filter(|o| o.identity.is_none()).count();
    if commit && faulty > 0 {
        let errors = outcomes.iter().flat_map(Outcome::located_faults).collect();
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid activities")
            .detail(format!("{faulty} of {} rows have faults; nothing was recorded: fix them and send the file again", outcomes.len()))
            .errors(errors));
    }
    // The commit runs in its own task: a client that goes away does not stop it half way (sending the file again
    // would finish it, but there is no need).
    let state = state.clone();
    let work = tokio::spawn(async move {
        for outcome in &mut outcomes {
            let Some(identity) = outcome.identity.clone() else {
                outcome.status = "faulty";
                continue;
            };
            // A row of an export whose activity is in this programme already (recorded one at a time, or by
            // another import) is that activity, not a new one.
            if let Some(id) = outcome.row.exported {
                if state.caught_up_progress().await?.activity(programme.as_str(), &id).is_some() {
                    (outcome.id, outcome.status) = (Some(id), "already_recorded");
                    continue;
                }
            }
            let ids = reserved_ids(&state, &identity, commit).await?;
            let stored = match &ids {
                Some(ids) => state.log().stream_version(&activity_stream(&ids[0])).await.map_err(ApiError::from)?.unwrap_or(0) > 0,
                None => false,
            };
            outcome.id = ids.as_ref().map(|ids| ids[0]).filter(|_| stored || commit);
            outcome.status = match (stored, commit) {
                (true, _) => "already_recorded",
                (false, false) => "valid",
                (false, true) => {
                    let ids = ids.expect("a commit reserves ids");
                    let target = ActivityTarget { programme: &programme, activity: ids[0], event_ids: Some(&ids[1..]), new: false };
                    let body = ActivityBody::Json(outcome.row.body.clone());
                    match record(state.log(), state.programmes(), Some(state.progress()), target, &body, &ctx, &principal.name).await {
                        // An append the log recognised as already stored was made by a concurrent import.
                        Ok(executed) if executed.appended.as_ref().is_some_and(|a| !a.already_stored) => "recorded",
                        Ok(_) => "already_recorded",
                        // The programme changed since the check (a period locked): the row is refused as alone.
                        Err(crate::service::CommandError::Rejected(rejected)) => {
                            outcome.faults = rejected.into_faults();
                            outcome.id = None;
                            "faulty"
                        }
                        Err(error) => return Err(ApiError::from_command(error, "invalid activity")),
                    }
                }
            };
        }
        Ok::<_, ApiError>(Imported { programme, committed: commit, outcomes })
    });
    work.await.map_err(ApiError::internal)?
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the file is too large")
        .detail(format!("an import takes files of at most {} MiB; split it", MAX_IMPORT_BYTES / (1024 * 1024)))
}

/// The ids reserved for a row's identity: an activity id and ids for its events. With `reserve`, made and
/// stored durably when there are none yet; without, `None` then.
async fn reserved_ids(state: &AppState, identity: &str, reserve: bool) -> Result<Option<Vec<Uuid>>, ApiError> {
    let records = state.records();
    let key = identity.to_owned();
    tokio::task::spawn_blocking(move || {
        loop {
            if let Some(bytes) = records.get(Table::IdempotencyKeys, &key)? {
                let ids: Vec<Uuid> = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| serde_json::from_value(v["ids"].clone()).ok())
                    .filter(|ids: &Vec<Uuid>| ids.len() == 3)
                    .ok_or_else(|| ApiError::internal(format!("the import reservation {key} is unreadable")))?;
                return Ok(Some(ids));
            }
            if !reserve {
                return Ok(None);
            }
            let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
            let value = json!({"ids": ids}).to_string();
            // Another import of the same row may reserve first: then its ids are read back and used.
            if records.insert_new(Table::IdempotencyKeys, &key, value.as_bytes())? {
                return Ok(Some(ids));
            }
        }
    })
    .await
    .map_err(ApiError::internal)?
}

/// What became of one row.
#[derive(Debug)]
pub(super) struct Outcome {
    pub row: RowBody,
    /// The activity the row makes, as the API shows an activity's fields.
    pub activity: Option<Value>,
    pub faults: Vec<Fault>,
    /// The row's identity, when it has no fault.
    identity: Option<String>,
    pub id: Option<Uuid>,
    /// valid | faulty | recorded | already_recorded
    pub status: &'static str,
}

impl Outcome {
    /// The row's faults, each named by its cell (`staff_exchange!D4`) and its field.
    fn located_faults(&self) -> Vec<Fault> {
        let reference = |field: &str| self.row.place(field).reference();
        self.faults
            .iter()
            .map(|f| {
                let message = if f.field.is_empty() { f.message.clone() } else { format!("{}: {}", f.field, f.message) };
                Fault::new(reference(&f.field), message)
            })
            .collect()
    }

    fn to_json(&self) -> Value {
        let mut answer = json!({
            "row": self.row.row,
            "reference": self.row.place("").reference(),
            "outcome": self.status,
        });
        if let Some(sheet) = &self.row.sheet {
            answer["sheet"] = json!(sheet);
        }
        if let Some(id) = self.id {
            answer["id"] = json!(id);
        }
        match &self.activity {
            Some(activity) if self.faults.is_empty() => answer["activity"] = activity.clone(),
            _ => {}
        }
        if !self.faults.is_empty() {
            let errors = self.faults.iter().map(|f| {
                json!({"field": f.field, "reference": self.row.place(&f.field).reference(), "message": f.message})
            });
            answer["errors"] = Value::Array(errors.collect());
        }
        answer
    }
}
