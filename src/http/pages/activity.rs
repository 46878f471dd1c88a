//! One activity in the browser: `GET /programmes/{id}/activities/{activity}` shows every recorded value, its
//! status and its history — the events `GET /v1/programmes/{id}/activities/{activity}` lists: when, who, what,
//! what changed, and the reason or note (who and why only to the programme's people, auditors and admins) — and
//! the actions the viewer may take, as forms: submit, correct (the kind's form filled in with the current values,
//! and a reason; only the fields changed are sent) and retract (with a reason). Which actions are offered is the
//! domain's decision, asked without appending anything; each POST runs the API's command (`activity_commands`)
//! and answers 303 back here, or this page with the faults (422, 409, 423) and what was entered.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use events::{
    approve_activity, correct_activity, retract_activity, submit_activity, ActivityState, ActivityStatus,
    ApproveActivity, CommandContext, CorrectActivity, DomainEvent, Envelope, Fault, FaultKind, Faults,
    ProgrammeState, RetractActivity,
};
use maud::{html, Markup};
use serde_json::Value;
use uuid::Uuid;

use super::context::{self, kind_name, ProgrammeAt};
use super::form::{self, Control, Entered, FormView, Input, Placed};
use super::SignedIn;
use crate::http::activity_commands::{self, activity_id};
use crate::http::dashboard::layout::{error_summary, scroll_region};
use crate::http::dashboard::programme::{recorded_values, Names};
use crate::http::AppState;
use crate::imports::RowBody;
use crate::service::CommandError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/programmes/{id}/activities/{activity}", get(show))
        .route("/programmes/{id}/activities/{activity}/submit", post(submit))
        .route("/programmes/{id}/activities/{activity}/correct", post(correct))
        .route("/programmes/{id}/activities/{activity}/retract", post(retract))
}

/// An activity with its programme and its stored events.
struct Loaded {
    programme: ProgrammeAt,
    id: Uuid,
    state: ActivityState,
    history: Vec<Envelope>,
}

impl Loaded {
    fn path(&self, rest: &str) -> String {
        self.programme.path(&format!("/activities/{}{rest}", self.id))
    }
}

/// The programme `id` and its activity `activity`, or the page saying one is not there.
async fn load(state: &AppState, viewer: &SignedIn, id: &str, activity: &str) -> Result<Loaded, Response> {
    let programme = context::programme(state, viewer, id).await?;
    let unknown = || context::not_found(viewer, &format!("There is no activity '{activity}' in this programme."));
    let Ok(activity) = activity_id(activity) else { return Err(unknown()) };
    match activity_commands::with_history(state, &programme.id, &activity).await {
        Ok(Some((current, _, history))) => Ok(Loaded { programme, id: activity, state: current, history }),
        Ok(None) => Err(unknown()),
        Err(error) => Err(context::failed(viewer, error)),
    }
}

/// For a form's POST: the viewer may record in the programme (else the forbidden page), and the activity.
async fn acting_on(state: &AppState, viewer: &SignedIn, (id, activity): &(String, String)) -> Result<Loaded, Response> {
    context::may_record(viewer, id)?;
    load(state, viewer, id, activity).await
}

/// Which form of the page was sent, with what, and the faults it got.
enum Sent {
    Nothing,
    Submit(Vec<Fault>),
    Correct { entered: Entered, faults: Vec<Fault>, row: Option<RowBody> },
    Retract { reason: String, faults: Vec<Fault> },
}

async fn show(State(state): State<AppState>, viewer: SignedIn, Path((id, activity)): Path<(String, String)>) -> Response {
    match load(&state, &viewer, &id, &activity).await {
        Ok(loaded) => page(&state, &viewer, &loaded, Sent::Nothing, StatusCode::OK),
        Err(refused) => refused,
    }
}

async fn submit(State(state): State<AppState>, viewer: SignedIn, Path(path): Path<(String, String)>) -> Response {
    let loaded = match acting_on(&state, &viewer, &path).await {
        Ok(loaded) => loaded,
        Err(refused) => return refused,
    };
    let done = activity_commands::submit(&state, viewer.principal(), &loaded.programme.id, loaded.id).await;
    answer(&state, &viewer, &loaded, done.map(drop), Sent::Submit)
}

async fn retract(
    State(state): State<AppState>,
    viewer: SignedIn,
    Path(path): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let loaded = match acting_on(&state, &viewer, &path).await {
        Ok(loaded) => loaded,
        Err(refused) => return refused,
    };
    let reason = Entered::from_pairs(pairs).value("reason").to_owned();
    let command = RetractActivity { reason: reason.clone() };
    let done = activity_commands::retract(&state, viewer.principal(), &loaded.programme.id, loaded.id, None, command).await;
    answer(&state, &viewer, &loaded, done.map(drop), |faults| Sent::Retract { reason, faults })
}

async fn correct(
    State(state): State<AppState>,
    viewer: SignedIn,
    Path(path): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let loaded = match acting_on(&state, &viewer, &path).await {
        Ok(loaded) => loaded,
        Err(refused) => return refused,
    };
    let Some(current) = loaded.state.activity() else { return context::not_found(&viewer, "The activity has no values yet.") };
    let (kind, programme) = (current.kind(), loaded.programme.id.as_str());
    let controls = form::controls(kind, loaded.programme.definition());
    let entered = Entered::from_pairs(pairs);
    // Both the current values and the entered ones are read into bodies the same way, so that only what was
    // changed differs.
    let read = form::read(kind, &controls, &Entered::of_activity(current), programme)
        .and_then(|before| Ok((before, form::read(kind, &controls, &entered, programme)?)));
    let (before, after) = match read {
        Ok(bodies) => bodies,
        Err(faults) => return page(&state, &viewer, &loaded, Sent::Correct { entered, faults, row: None }, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let changes = Value::Object(form::changes(&before.body, &after.body));
    let command = CorrectActivity { reason: entered.value("reason").to_owned(), changes };
    if !after.faults.is_empty() {
        let ctx = CommandContext { today: state.today(), role: viewer.principal().role.clone() };
        let decided = correct_activity(&loaded.programme.state, &loaded.state, command, &ctx);
        return match context::with_domain_faults(after.faults.clone(), decided) {
            Ok(faults) => {
                let sent = Sent::Correct { entered, faults, row: Some(after) };
                page(&state, &viewer, &loaded, sent, StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(refused) => context::failed(&viewer, refused),
        };
    }
    let done = activity_commands::correct(&state, viewer.principal(), &loaded.programme.id, loaded.id, None, command).await;
    answer(&state, &viewer, &loaded, done.map(drop), |faults| Sent::Correct { entered, faults, row: Some(after) })
}

/// The answer to an action: back to the activity's page, or that page with the faults of the form sent.
fn answer(
    state: &AppState,
    viewer: &SignedIn,
    loaded: &Loaded,
    done: Result<(), CommandError>,
    sent: impl FnOnce(Vec<Fault>) -> Sent,
) -> Response {
    match done {
        Ok(()) => context::see_other(&loaded.path("")),
        Err(CommandError::Rejected(faults)) if !matches!(faults.kind(), FaultKind::Forbidden | FaultKind::NotFound) => {
            let status = context::status_of(&faults);
            page(state, viewer, loaded, sent(faults.into_faults()), status)
        }
        Err(error) => context::failed(viewer, error),
    }
}

/// The actions the viewer may take on the activity, as the domain decides them: a decision refused only for
/// what the form is there to supply (the reason, the changes) means the viewer may take that action.
struct Offered {
    submit: bool,
    correct: bool,
    retract: bool,
    approve: bool,
}

fn offered(programme: &ProgrammeState, activity: &ActivityState, ctx: &CommandContext) -> Offered {
    let open = |decided: Result<Vec<DomainEvent>, Faults>| match decided {
        Ok(_) => true,
        Err(faults) => faults.kind() == FaultKind::Validation,
    };
    Offered {
        submit: submit_activity(programme, activity, ctx).is_ok(),
        correct: open(correct_activity(programme, activity, CorrectActivity::default(), ctx)),
        retract: open(retract_activity(programme, activity, RetractActivity::default(), ctx)),
        approve: approve_activity(programme, activity, ApproveActivity::default(), ctx).is_ok(),
    }
}

/// The reason a correction or retraction needs; `label` says which, so the page's two reasons read apart.
fn reason(label: &str, hint: &str) -> Control {
    Control::new("reason", label, Input::LongText, true, Some(hint.to_owned()))
}

/// The activity's page, with the faults of the form sent (if any) at the top and next to their fields.
fn page(state: &AppState, viewer: &SignedIn, loaded: &Loaded, sent: Sent, status: StatusCode) -> Response {
    let Some(current) = loaded.state.activity() else { return context::not_found(viewer, "The activity has no values yet.") };
    let events = match crate::service::decode_all(&loaded.history) {
        Ok(events) => events,
        Err(error) => return context::failed(viewer, error),
    };
    let programme = loaded.programme.definition();
    let programme_id = loaded.programme.id.as_str();
    let sees = context::sees_people(viewer, programme_id);
    let ctx = CommandContext { today: state.today(), role: viewer.principal().role.clone() };
    let offered = offered(&loaded.programme.state, &loaded.state, &ctx);
    let own = context::own_partner(viewer, programme_id);

    let mut correct_controls = form::controls(current.kind(), programme);
    correct_controls.push(reason("Reason for the correction", "Why the values change; kept in the activity's history"));
    let retract_controls = [reason("Reason for the retraction", "Why the activity no longer counts; kept in its history")];
    let (placed_correct, placed_retract, other_faults) = match &sent {
        Sent::Correct { faults, row, .. } => (form::place(faults, &correct_controls, row.as_ref(), "changes.", "correct-"), Placed::default(), None),
        Sent::Retract { faults, .. } => (Placed::default(), form::place(faults, &retract_controls, None, "", "retract-"), None),
        Sent::Submit(faults) => (Placed::default(), Placed::default(), Some(form::place(faults, &[], None, "", ""))),
        Sent::Nothing => (Placed::default(), Placed::default(), None),
    };
    let summary: Vec<(Option<&str>, String)> =
        [placed_correct.summary(), placed_retract.summary(), other_faults.as_ref().map(Placed::summary).unwrap_or_default()].concat();
    let entered = match &sent {
        Sent::Correct { entered, .. } => entered.clone(),
        _ => Entered::of_activity(current),
    };
    let retract_entered = match &sent {
        Sent::Retract { reason, .. } => Entered::from_pairs(vec![("reason".into(), reason.clone())]),
        _ => Entered::default(),
    };
    let correct_view = FormView { controls: &correct_controls, entered: &entered, placed: &placed_correct, id_prefix: "correct-", programme, own };
    let retract_view = FormView { controls: &retract_controls, entered: &retract_entered, placed: &placed_retract, id_prefix: "retract-", programme, own };

    let names = Names::of(programme);
    let currency = programme.currency.to_string();
    let mut leave_out = vec!["kind", "occurred_on", "partner", "title"];
    if !sees {
        leave_out.push("notes");
    }
    let title = current.title.clone().unwrap_or_else(|| "(untitled)".to_owned());
    let heading = format!("{}: {title}", kind_name(current.kind()));
    let status_now = loaded.state.status();
    let body = html! {
        h1 { (heading) }
        p.meta { "In " a href=(loaded.programme.path("")) { (programme.name) } " · " a href=(loaded.programme.path("/activities")) { "all its activities" } }
        @if !summary.is_empty() { (error_summary(&summary)) }
        dl.values {
            dt { "Status" } dd.status { (status_now.as_str()) }
            dt { "Occurred on" } dd { (current.occurred_on) }
            dt { "Attributed to" } dd { (names.partner(current.partner.as_str())) }
            @for (name, text) in recorded_values(current, &names, &currency, &leave_out) {
                dt { (form::label(name, programme)) } dd { (text) }
            }
            @if sees { @if let Some(note) = loaded.state.return_note() { dt { "Returned with the note" } dd { (note) } } }
        }
        h2 id="history" { "History" }
        (history(&loaded.history, &events, sees))
        @if offered.approve && status_now == ActivityStatus::Submitted {
            p { a href=(loaded.programme.path("/queue")) { "Approve or return it in the approval queue" } }
        }
        @if offered.submit {
            form method="post" action=(loaded.path("/submit")) {
                (viewer.csrf_field())
                button type="submit" { "Submit for approval" }
            }
        }
        @if offered.correct {
            (action_form(viewer, matches!(sent, Sent::Correct { .. }), "Correct", &loaded.path("/correct"), &correct_view))
        }
        @if offered.retract {
            (action_form(viewer, matches!(sent, Sent::Retract { .. }), "Retract", &loaded.path("/retract"), &retract_view))
        }
    };
    let title = if summary.is_empty() { heading } else { format!("Error: {heading}") };
    let page: Html<String> = viewer.page(&title, body);
    (status, page).into_response()
}

/// An action's form folded under "`verb` it" — open when it was just sent and came back with faults — with its
/// fields and the button `verb`.
fn action_form(viewer: &SignedIn, open: bool, verb: &str, action: &str, view: &FormView<'_>) -> maud::Markup {
    html! {
        details open[open] {
            summary { (verb) " it" }
            form.record method="post" action=(action) {
                (viewer.csrf_field())
                (form::fields(view))
                button type="submit" { (verb) }
            }
        }
    }
}

/// The activity's events, oldest first: when, who (to those who see people), what, what changed, and the
/// reason or note (to those who see people).
fn history(envelopes: &[Envelope], events: &[DomainEvent], sees: bool) -> Markup {
    let rows = envelopes.iter().zip(events).map(|(envelope, event)| {
        let (what, why, changed) = match event {
            DomainEvent::ActivityRecorded(_) => ("recorded", None, String::new()),
            DomainEvent::ActivitySubmitted(_) => ("submitted", None, String::new()),
            DomainEvent::ActivityApproved(e) => ("approved", e.note.clone(), String::new()),
            DomainEvent::ActivityReturned(e) => ("returned", Some(e.note.clone()), String::new()),
            DomainEvent::ActivityCorrected(e) => ("corrected", Some(e.reason.clone()), changed_fields(&e.changes)),
            DomainEvent::ActivityRetracted(e) => ("retracted", Some(e.reason.clone()), String::new()),
            other => (other.event_type(), None, String::new()),
        };
        let at = envelope.recorded_at.to_rfc3339();
        let shown = at.get(..19).map_or(at.clone(), |t| format!("{} UTC", t.replace('T', " ")));
        html! {
            tr {
                td.num { time datetime=(at) { (shown) } }
                @if sees { td { (envelope.actor) } }
                th scope="row" { (what) }
                td { (changed) }
                @if sees { td { (why.unwrap_or_default()) } }
            }
        }
    });
    let rows: Vec<Markup> = rows.collect();
    scroll_region("History", html! {
        table {
            thead { tr {
                th scope="col" { "when" } @if sees { th scope="col" { "who" } } th scope="col" { "what" }
                th scope="col" { "changed" } @if sees { th scope="col" { "reason or note" } }
            } }
            tbody { @for row in &rows { (row) } }
        }
    })
}

/// The fields a correction changed with their new values: `days 7 · cluster (removed)`.
fn changed_fields(changes: &serde_json::Map<String, Value>) -> String {
    let parts = changes.iter().map(|(name, value)| match value {
        Value::Null => format!("{} (removed)", name.replace('_', " ")),
        Value::String(text) => format!("{} {text}", name.replace('_', " ")),
        other => format!("{} {other}", name.replace('_', " ")),
    });
    parts.collect::<Vec<_>>().join(" · ")
}
