//! What the pages about a programme's activities start from: the programme by its id (or a page saying there is
//! none), whether the viewer may record in it and whether the viewer sees who did what, decided by the API's own
//! rules (`Caller::recorder_in`); and the answers these pages share — not found, and a command that failed for
//! a reason that is not about a form's fields.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use events::{ActivityKind, DomainEvent, Fault, Faults, FaultKind, Programme, ProgrammeState, Role, Slug};
use maud::html;

use super::SignedIn;
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::http::AppState;
use crate::service::CommandError;

/// A programme as a page about it needs it: its id and its state as commands decide on it.
pub(super) struct ProgrammeAt {
    pub id: Slug,
    pub state: Arc<ProgrammeState>,
    definition: Programme,
}

impl ProgrammeAt {
    /// The definition with every partner, cluster and period added since it was registered.
    pub(super) fn definition(&self) -> &Programme {
        &self.definition
    }

    /// The path of a page of this programme: `/programmes/{id}{rest}`.
    pub(super) fn path(&self, rest: &str) -> String {
        format!("/programmes/{}{rest}", self.id)
    }
}

/// The programme `id`, as the commands' cache holds it; a page saying so when there is none.
pub(super) async fn programme(state: &AppState, viewer: &SignedIn, id: &str) -> Result<ProgrammeAt, Response> {
    let unknown = || not_found(viewer, &format!("There is no programme '{id}'."));
    let Ok(slug) = Slug::parse(id) else { return Err(unknown()) };
    let (programme_state, _) = state.programmes().load(state.log(), &slug).await.map_err(|e| failed(viewer, e))?;
    let Some(definition) = programme_state.programme().cloned() else { return Err(unknown()) };
    Ok(ProgrammeAt { id: slug, state: programme_state, definition })
}

/// Whether the viewer may record in the programme — its recorders, its coordinator, admins: the rule of
/// `POST …/activities` — or the page that says why not.
pub(super) fn may_record(viewer: &SignedIn, programme: &str) -> Result<(), Response> {
    let caller = Caller(Some(Arc::clone(viewer.principal())));
    caller.recorder_in(programme).map(drop).map_err(|refused| viewer.forbidden(refused.message()))
}

/// Whether the viewer sees who did what and why (actor names, notes, reasons): the programme's own people (its
/// recorders and coordinator) and those who read everything (auditors, admins).
pub(super) fn sees_people(viewer: &SignedIn, programme: &str) -> bool {
    viewer.principal().is_auditor() || Caller(Some(Arc::clone(viewer.principal()))).recorder_in(programme).is_ok()
}

/// The partner the viewer records for, when the viewer is a recorder of this programme.
pub(super) fn own_partner<'a>(viewer: &'a SignedIn, programme: &str) -> Option<&'a Slug> {
    match &viewer.principal().role {
        Role::Recorder { programme: p, partner } if p.as_str() == programme => Some(partner),
        _ => None,
    }
}

/// A kind as people read it: `staff_exchange` → "Staff exchange".
pub(super) fn kind_name(kind: ActivityKind) -> String {
    capitalised(&kind.as_str().replace('_', " "))
}

/// `text` with its first letter in capitals.
pub(super) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A 404 page saying what is not there.
pub(super) fn not_found(viewer: &SignedIn, message: &str) -> Response {
    let body = html! { h1 { "Not found" } p { (message) } p { a href="/" { "Back to all programmes" } } };
    (StatusCode::NOT_FOUND, viewer.page("Not found", body)).into_response()
}

/// The status a command's faults answer with, as the API maps them (422, 409, 423, 403, 404).
pub(super) fn status_of(faults: &Faults) -> StatusCode {
    ApiError::from_faults(faults.clone(), "").status()
}

/// The answer to a command that failed other than by faults a form shows: refused (the forbidden page), about
/// something that is not there (the not-found page), or a failure of the server or its log (the API's problem,
/// which names it without blaming the viewer).
pub(super) fn failed(viewer: &SignedIn, error: CommandError) -> Response {
    match error {
        CommandError::Rejected(faults) if faults.kind() == FaultKind::Forbidden => viewer.forbidden(&words(&faults)),
        CommandError::Rejected(faults) if faults.kind() == FaultKind::NotFound => not_found(viewer, &words(&faults)),
        other => ApiError::from_command(other, "").into_response(),
    }
}

/// Every fault's message, in one sentence.
pub(super) fn words(faults: &Faults) -> String {
    faults.faults().iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; ")
}

/// The answer to a form that did what it asked: back to `path` with a GET (303 See Other).
pub(super) fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// The faults of a form whose values the reader could not all take apart (`cell_faults`: such a body must not be
/// recorded) with those the domain finds in the rest, decided without appending anything, so that every fault
/// is listed at once; a refusal (forbidden, not found) instead, as it would come first.
pub(super) fn with_domain_faults(
    mut cell_faults: Vec<Fault>,
    decided: Result<Vec<DomainEvent>, Faults>,
) -> Result<Vec<Fault>, CommandError> {
    match decided {
        Err(rejected) if rejected.kind() == FaultKind::Validation => cell_faults.extend(rejected.into_faults()),
        Err(refused) if matches!(refused.kind(), FaultKind::Forbidden | FaultKind::NotFound) => {
            return Err(CommandError::Rejected(refused));
        }
        _ => {}
    }
    Ok(cell_faults)
}
