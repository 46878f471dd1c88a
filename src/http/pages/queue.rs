//! The approval queue, `/programmes/{id}/queue`, for the programme's coordinator or an admin: its submitted
//! activities with the values recorded — date, kind, title, partner, amounts, participants and the rest — each
//! with a form to approve it and one to return it to its recorder with a note, which is mandatory. Both forms post
//! to routes of the page that run `approvals::decide_on`, the command the API's approval and return endpoints run.
//! A decision made comes back to the queue (303) saying what was done; a refused one shows the queue again with
//! the fault and the note as typed, with the API's status (422 for an empty note, 409 for an activity that is no
//! longer submitted), and nothing changed.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use events::ActivityStatus;
use maud::{html, Markup};
use projections::ActivityFilter;
use serde::Deserialize;
use uuid::Uuid;

use super::coordinator::{confirmation, failure_page, managed, Fields, FormView, Managed, Refusal};
use super::SignedIn;
use crate::http::activity_commands::activity_id;
use crate::http::approvals::{decide_on, Decision};
use crate::http::dashboard::layout::scroll_region;
use crate::http::dashboard::programme::{details, Names};
use crate::http::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/programmes/{id}/queue", get(queue))
        .route("/programmes/{id}/queue/{activity}/approve", post(approve))
        .route("/programmes/{id}/queue/{activity}/return", post(send_back))
}

/// The most submitted activities the queue shows at once; decisions made make room for the next.
const SHOWN: usize = 200;

/// What the queue says was done, after the redirect that follows a decision.
#[derive(Debug, Default, Deserialize)]
struct Done {
    approved: Option<String>,
    returned: Option<String>,
}

async fn queue(State(state): State<AppState>, viewer: SignedIn, Path(id): Path<String>, done: Result<Query<Done>, QueryRejection>) -> Response {
    let managed = match managed(&state, viewer, &id).await {
        Ok(managed) => managed,
        Err(page) => return page,
    };
    // A confirmation flag that cannot be read is left out: it only says what the last request did.
    let Query(done) = done.unwrap_or_default();
    let message = match (done.approved, done.returned) {
        (Some(_), _) => Some("The activity was approved: it now counts towards the programme's progress."),
        (None, Some(_)) => Some("The activity was returned to its recorder with your note."),
        (None, None) => None,
    };
    render(&state, &managed, message, None).await
}

async fn approve(
    State(state): State<AppState>,
    viewer: SignedIn,
    Path((id, activity)): Path<(String, String)>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    decide(state, viewer, id, activity, form, Decision::Approve).await
}

async fn send_back(
    State(state): State<AppState>,
    viewer: SignedIn,
    Path((id, activity)): Path<(String, String)>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    decide(state, viewer, id, activity, form, Decision::Return).await
}

/// The form of a decision on activity `id`.
fn form_name(decision: Decision, activity: Uuid) -> String {
    match decision {
        Decision::Approve => format!("approve-{activity}"),
        Decision::Return => format!("return-{activity}"),
    }
}

async fn decide(
    state: AppState,
    viewer: SignedIn,
    id: String,
    activity: String,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
    decision: Decision,
) -> Response {
    let managed = match managed(&state, viewer, &id).await {
        Ok(managed) => managed,
        Err(page) => return page,
    };
    let fields = match Fields::posted(&managed.viewer, form) {
        Ok(fields) => fields,
        Err(page) => return *page,
    };
    let activity = match activity_id(&activity) {
        Ok(activity) => activity,
        Err(error) => return failure_page(&managed.viewer, &error),
    };
    let note = Some(fields.get("note").to_owned()).filter(|note| !note.is_empty());
    match decide_on(&state, &managed.principal, &managed.id, activity, decision, note).await {
        Ok(_) => {
            let flag = if decision == Decision::Approve { "approved" } else { "returned" };
            Redirect::to(&format!("/programmes/{}/queue?{flag}={activity}", managed.id)).into_response()
        }
        Err(error) => {
            let names: &[&str] = if decision == Decision::Return { &["note"] } else { &[] };
            let refusal = Refusal::of(&error, &form_name(decision, activity), names, Some("decision"));
            render(&state, &managed, None, Some((&fields, &refusal))).await
        }
    }
}

/// The queue page: a confirmation, or the refusal of a decision posted (with its status), then every submitted
/// activity with its forms.
async fn render(state: &AppState, managed: &Managed, done: Option<&str>, posted: Option<(&Fields, &Refusal)>) -> Response {
    let definition = managed.definition();
    let programme = managed.id.as_str();
    let names = Names::of(definition);
    let currency = definition.currency.to_string();
    let projection = match state.caught_up_progress().await {
        Ok(projection) => projection,
        Err(error) => return failure_page(&managed.viewer, &error),
    };
    let filter = ActivityFilter { status: Some(ActivityStatus::Submitted), ..ActivityFilter::default() };
    let listed = projection.list_activities(programme, &filter, None, SHOWN + 1);
    let more = listed.len() > SHOWN;
    // A refused decision on an activity the queue no longer shows (approved meanwhile) links to nothing.
    let shown = |refusal: &Refusal| {
        listed.iter().take(SHOWN).any(|(a, _)| [Decision::Approve, Decision::Return].iter().any(|d| refusal.is_of(&form_name(*d, *a))))
    };
    let summary = posted.map(|(_, refusal)| refusal.summary(shown(refusal)));
    let rows: Vec<Markup> = listed
        .iter()
        .take(SHOWN)
        .filter_map(|(activity, revision)| Some((*activity, revision.activity()?)))
        .map(|(activity, recorded)| {
            let title = recorded.title.clone().unwrap_or_default();
            let kind = recorded.kind().as_str().replace('_', " ");
            let values = details(&recorded, &names, &currency);
            let refused = |decision| FormView::new(form_name(decision, activity), posted);
            html! {
                tr {
                    td.num { (recorded.occurred_on) @if let Some(ends) = recorded.ends_on { " to " (ends) } }
                    td { (kind) }
                    th scope="row" id={ "a-" (activity) } {
                        a href={ "/programmes/" (programme) "/activities/" (activity) } {
                            @if title.is_empty() { (kind) ", " (recorded.occurred_on) } @else { (title) }
                        }
                    }
                    td { (names.partner(recorded.partner.as_str())) }
                    td { (values) }
                    td { (decision_forms(programme, activity, &refused(Decision::Approve), &refused(Decision::Return), managed)) }
                }
            }
        })
        .collect();
    drop(projection);
    let count = rows.len();
    let body = html! {
        h1 { "Approval queue: " (definition.name) }
        @if let Some(summary) = summary { (summary) }
        @if let Some(message) = done { (confirmation(message)) }
        p.meta {
            @if !definition.require_approval { "This programme does not require approval: activities count once recorded. " }
            (count) @if count == 1 { " activity waits" } @else { " activities wait" } " for a decision"
            @if more { " (the first " (SHOWN) " are shown)" } "."
        }
        @if count > 0 {
            (scroll_region("Submitted activities", html! {
                table {
                    thead { tr { th.num scope="col" { "date" } th scope="col" { "kind" } th scope="col" { "title" }
                        th scope="col" { "partner" } th scope="col" { "recorded values" } th scope="col" { "decision" } } }
                    tbody { @for row in &rows { (row) } }
                }
            }))
        }
        p { a href={ "/programmes/" (programme) } { "Progress of " (definition.name) } " · "
            a href={ "/programmes/" (programme) "/manage" } { "Programme setup" } " · "
            a href={ "/programmes/" (programme) "/upload" } { "Bulk upload" } }
    };
    let status = posted.map_or(axum::http::StatusCode::OK, |(_, refusal)| refusal.status);
    (status, managed.viewer.page(&format!("Approval queue: {}", definition.name), body)).into_response()
}

/// The approve form and the return form (with its note) of one activity; a refusal of either that is about
/// the decision as a whole is shown by its button, which the error summary links to.
fn decision_forms(programme: &str, activity: Uuid, approve: &FormView<'_>, send_back: &FormView<'_>, managed: &Managed) -> Markup {
    let row = format!("a-{activity}");
    let button = |view: &FormView<'_>, words: &str| {
        let error = view.error("decision");
        let described = match &error {
            Some(_) => format!("{row} {}-error", view.id("decision")),
            None => row.clone(),
        };
        html! {
            @if let Some(error) = &error { span.field-error id={ (view.id("decision")) "-error" } { "Error: " (error) } }
            button type="submit" id=(view.id("decision")) aria-describedby=(described) { (words) }
        }
    };
    html! {
        form method="post" action={ "/programmes/" (programme) "/queue/" (activity) "/approve" } {
            (managed.viewer.csrf_field())
            (button(approve, "Approve"))
        }
        form method="post" action={ "/programmes/" (programme) "/queue/" (activity) "/return" } {
            (managed.viewer.csrf_field())
            (send_back.input("note", "Note for the recorder", "text", true, Some("what to fix")))
            (button(send_back, "Return"))
        }
    }
}
