//! Recording an activity in the browser: `GET /programmes/{id}/record` lists the catalogue's kinds to pick from,
//! `GET …/record/{kind}` is the kind's form (`form.rs`), and `POST …/record/{kind}` reads what was entered into
//! the body `POST /v1/programmes/{id}/activities` takes and records it through the same command
//! (`activity_commands::record`). Faults come back on the same form (422, or 409 / 423) with every value kept;
//! a recorded activity is a 303 to its page. A form sent twice (a double press, a resend) records once: it
//! carries a key that runs the API's `Idempotency-Key` path. Only those who may record in the programme get
//! these pages.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use events::{ActivityKind, CommandContext, Fault, FaultKind};
use maud::html;
use uuid::Uuid;

use super::context::{self, kind_name, ProgrammeAt};
use super::form::{self, Entered, FormView};
use super::SignedIn;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::http::activity_commands;
use crate::http::error::ApiError;
use crate::http::idempotency::idempotent;
use crate::http::dashboard::layout::error_summary;
use crate::http::AppState;
use crate::imports::RowBody;
use crate::service::{ActivityBody, CommandError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/programmes/{id}/record", get(kinds))
        .route("/programmes/{id}/record/{kind}", get(blank_form).post(record))
}

/// The programme, once the viewer is known to be allowed to record in it.
async fn recording_in(state: &AppState, viewer: &SignedIn, id: &str) -> Result<ProgrammeAt, Response> {
    context::may_record(viewer, id)?;
    context::programme(state, viewer, id).await
}

/// Every kind of the catalogue, each a link to its form.
async fn kinds(State(state): State<AppState>, viewer: SignedIn, Path(id): Path<String>) -> Response {
    let programme = match recording_in(&state, &viewer, &id).await {
        Ok(programme) => programme,
        Err(refused) => return refused,
    };
    let name = &programme.definition().name;
    let body = html! {
        h1 { "Record an activity" }
        p.meta { "In " a href=(programme.path("")) { (name) } " · " a href=(programme.path("/activities")) { "its activities" } }
        p { "What took place?" }
        ul.kinds {
            @for kind in ActivityKind::ALL {
                li { a href=(programme.path(&format!("/record/{kind}"))) { (kind_name(kind)) } }
            }
        }
    };
    viewer.page(&format!("Record an activity in {name}"), body).into_response()
}

/// The kind named in a path, or the page saying there is no such kind.
fn kind_of(viewer: &SignedIn, text: &str) -> Result<ActivityKind, Response> {
    ActivityKind::parse(text).ok_or_else(|| context::not_found(viewer, &ActivityKind::unknown(text)))
}

/// The empty form of a kind.
async fn blank_form(State(state): State<AppState>, viewer: SignedIn, Path((id, kind)): Path<(String, String)>) -> Response {
    let (programme, kind) = match recording_in(&state, &viewer, &id).await.and_then(|p| Ok((p, kind_of(&viewer, &kind)?))) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    form_page(&viewer, &programme, kind, &Entered::default(), &[], None).into_response()
}

/// Records what the form says, or shows the form again with its faults.
async fn record(
    State(state): State<AppState>,
    viewer: SignedIn,
    Path((id, kind)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (programme, kind) = match recording_in(&state, &viewer, &id).await.and_then(|p| Ok((p, kind_of(&viewer, &kind)?))) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let entered = Entered::from_pairs(pairs);
    let controls = form::controls(kind, programme.definition());
    let row = match form::read(kind, &controls, &entered, programme.id.as_str()) {
        Ok(row) => row,
        Err(faults) => return (StatusCode::UNPROCESSABLE_ENTITY, form_page(&viewer, &programme, kind, &entered, &faults, None)).into_response(),
    };
    if !row.faults.is_empty() {
        // A value the reader could not take apart is left out of the body, which must then not be recorded; the
        // domain decides it anyway (nothing is appended) so that every fault is listed at once.
        let ctx = CommandContext { today: state.today(), role: viewer.principal().role.clone() };
        let decided = events::record_activity_body(&programme.state, Uuid::nil(), &row.body, &ctx);
        let faults = match context::with_domain_faults(row.faults.clone(), decided) {
            Ok(faults) => faults,
            Err(refused) => return context::failed(&viewer, refused),
        };
        return (StatusCode::UNPROCESSABLE_ENTITY, form_page(&viewer, &programme, kind, &entered, &faults, Some(&row))).into_response();
    }
    // The form's `submission` key makes a second press of "Record" (or a resent form) answer what the first did,
    // through the API's Idempotency-Key path: the activity's id and its events' ids (a programme that requires
    // approval adds a submission) are reserved under the key before anything is appended.
    let key = Some(entered.value(SUBMISSION).to_owned()).filter(|key| !key.is_empty());
    let scope = format!("page-activities\n{}\n{}", viewer.principal().name, programme.id);
    let refused: Arc<Mutex<Option<CommandError>>> = Arc::default();
    let (shared, principal, id, kept) = (state.clone(), viewer.principal().clone(), programme.id.clone(), refused.clone());
    let (activities, request) = (programme.path("/activities/"), row.body.clone());
    let answered = idempotent(&state, &scope, key, &row.body, 3, move |attempt| async move {
        let body = ActivityBody::Json(request);
        match activity_commands::record(&shared, &principal, &id, &body, &attempt.ids, attempt.fresh).await {
            Ok(_) => Ok(context::see_other(&format!("{activities}{}", attempt.ids[0]))),
            Err(error @ CommandError::Rejected(_)) => {
                *kept.lock() = Some(error);
                // A client error: the key is forgotten, so the corrected form may be sent under it again.
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "invalid activity"))
            }
            Err(error) => Err(ApiError::from_command(error, "invalid activity")),
        }
    })
    .await;
    let error = match answered {
        Ok(recorded) => return recorded,
        Err(error) => error,
    };
    let refusal = refused.lock().take();
    match refusal {
        Some(CommandError::Rejected(faults)) if !matches!(faults.kind(), FaultKind::Forbidden | FaultKind::NotFound) => {
            let status = context::status_of(&faults);
            (status, form_page(&viewer, &programme, kind, &entered, faults.faults(), Some(&row))).into_response()
        }
        Some(other) => context::failed(&viewer, other),
        None if error.status() == StatusCode::CONFLICT => {
            let body = html! {
                h1 { "Still recording" }
                p { "This form is being recorded from an earlier press of the button. " a href=(programme.path("/activities")) { "See the activities" } "." }
            };
            (StatusCode::CONFLICT, viewer.page("Still recording", body)).into_response()
        }
        None => error.into_response(),
    }
}

/// The hidden field that names one filling-in of the form, for [`record`]'s idempotency.
const SUBMISSION: &str = "submission";

/// The page with a kind's form: the faults at the top (each linking to its field) and next to their fields, and
/// the values entered.
fn form_page(
    viewer: &SignedIn,
    programme: &ProgrammeAt,
    kind: ActivityKind,
    entered: &Entered,
    faults: &[Fault],
    row: Option<&RowBody>,
) -> axum::response::Html<String> {
    let definition = programme.definition();
    let controls = form::controls(kind, definition);
    let placed = form::place(faults, &controls, row, "", "");
    let own = context::own_partner(viewer, programme.id.as_str());
    let view = FormView { controls: &controls, entered, placed: &placed, id_prefix: "", programme: definition, own };
    let name = kind_name(kind);
    let body = html! {
        h1 { "Record: " (name) }
        p.meta { "In " a href=(programme.path("")) { (definition.name) } " · " a href=(programme.path("/record")) { "another kind" } }
        @if !faults.is_empty() { (error_summary(&placed.summary())) }
        form.record method="post" action=(programme.path(&format!("/record/{kind}"))) {
            (viewer.csrf_field())
            input type="hidden" name=(SUBMISSION) value=(Uuid::now_v7());
            (form::fields(&view))
            button type="submit" { "Record" }
        }
    };
    let title = if faults.is_empty() { format!("Record: {name}") } else { format!("Error: record: {name}") };
    viewer.page(&title, body)
}
