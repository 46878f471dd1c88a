//! Programme setup, `/programmes/{id}/manage`, for the programme's coordinator or an admin: the definition as it
//! stands (partners, clusters, periods with their locks, indicators) and a form for each change the API allows —
//! lock or unlock a period (with a reason), add a partner, a cluster or a period, revise an indicator's target
//! (with a reason) or set a new indicator. Each form posts to its own route under `/programmes/{id}/manage/`,
//! which turns the fields into the JSON body the API takes and runs the same function as the API's endpoint
//! (`programmes::add_part`, `set_indicator_of`, `change_period_lock`), so the domain reads and decides both the
//! same way. A refusal shows the page again with the API's status (422 for faults of the content), an error
//! summary at the top linking to each field at fault, the fault next to the field and the values as typed; a
//! change made comes back to the page (303) with a confirmation. The choices a select offers (partner kinds and
//! roles, aggregates) come from the domain's JSON schemas, which are made from the tables its readers use.

use std::sync::OnceLock;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use events::{ActivityKind, Programme};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::coordinator::{confirmation, managed, Fields, FormView, Managed, Refusal};
use super::SignedIn;
use crate::http::dashboard::layout::scroll_region;
use crate::http::error::ApiError;
use crate::http::programmes::{add_part, change_period_lock, set_indicator_of, CLUSTER, PARTNER, PERIOD};
use crate::http::AppState;

type Posted = Result<Form<Vec<(String, String)>>, FormRejection>;

pub(super) fn routes() -> Router<AppState> {
    let mut router = Router::new().route("/programmes/{id}/manage", get(setup));
    for change in Change::ALL {
        let make = move |state: State<AppState>, viewer: SignedIn, id: Path<String>, form: Posted| apply(state, viewer, id, form, change);
        router = router.route(&format!("/programmes/{{id}}/manage/{}", change.form()), post(make));
    }
    router
}

/// A change the page's forms make: each is one form and one route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Lock,
    Unlock,
    Partner,
    Cluster,
    Period,
    Target,
    Indicator,
}

impl Change {
    const ALL: [Change; 7] =
        [Change::Lock, Change::Unlock, Change::Partner, Change::Cluster, Change::Period, Change::Target, Change::Indicator];

    /// The form's name: the prefix of its fields' ids, the last part of its route and the confirmation's flag.
    fn form(self) -> &'static str {
        match self {
            Change::Lock => "lock",
            Change::Unlock => "unlock",
            Change::Partner => "partners",
            Change::Cluster => "clusters",
            Change::Period => "periods",
            Change::Target => "targets",
            Change::Indicator => "indicators",
        }
    }

    /// The form's fields; a fault about the request as a whole is shown by the first.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Change::Lock | Change::Unlock => &["period", "reason"],
            Change::Partner => &["id", "name", "kind", "role", "country", "budget_share"],
            Change::Cluster => &["id", "name", "theme", "members"],
            Change::Period => &["id", "starts_on", "ends_on"],
            Change::Target => &["indicator", "target", "reason"],
            Change::Indicator => &["id", "label", "unit", "target", "aggregate", "kinds", "field", "due"],
        }
    }

    fn done(self) -> &'static str {
        match self {
            Change::Lock => "The period is locked: no activity dated in it can be recorded, corrected or retracted.",
            Change::Unlock => "The period is unlocked.",
            Change::Partner => "The partner was added.",
            Change::Cluster => "The cluster was added.",
            Change::Period => "The reporting period was added.",
            Change::Target => "The target was revised.",
            Change::Indicator => "The indicator was set.",
        }
    }
}

/// Which change the page confirms, after the redirect that follows it.
#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
}

async fn setup(State(state): State<AppState>, viewer: SignedIn, Path(id): Path<String>, done: Result<Query<Done>, QueryRejection>) -> Response {
    let managed = match managed(&state, viewer, &id).await {
        Ok(managed) => managed,
        Err(page) => return page,
    };
    // A flag that cannot be read is left out: it only says what the last request did.
    let Query(done) = done.unwrap_or_default();
    let message = done.done.and_then(|flag| Change::ALL.into_iter().find(|c| c.form() == flag)).map(Change::done);
    render(&managed, message, None)
}

/// Makes change `change` with the posted form's fields: back to the page with a confirmation, or the page with
/// the refusal.
async fn apply(State(state): State<AppState>, viewer: SignedIn, Path(id): Path<String>, form: Posted, change: Change) -> Response {
    let managed = match managed(&state, viewer, &id).await {
        Ok(managed) => managed,
        Err(page) => return page,
    };
    let fields = match Fields::posted(&managed.viewer, form) {
        Ok(fields) => fields,
        Err(page) => return *page,
    };
    match run(&state, &managed, change, &fields).await {
        Ok(()) => Redirect::to(&format!("/programmes/{}/manage?done={}", managed.id, change.form())).into_response(),
        Err(error) => {
            let names = change.fields();
            let refusal = Refusal::of(&error, change.form(), names, names.first().copied());
            render(&managed, None, Some((&fields, &refusal)))
        }
    }
}

/// The form's fields as the JSON body of the API's endpoint, and the command that endpoint runs.
async fn run(state: &AppState, managed: &Managed, change: Change, fields: &Fields) -> Result<(), ApiError> {
    let principal = managed.principal.clone();
    let id = managed.id.as_str();
    match change {
        Change::Lock | Change::Unlock => {
            let period = fields.get("period");
            if period.is_empty() {
                return Err(ApiError::invalid("invalid lock", "period", "choose a period"));
            }
            change_period_lock(state, principal, id, period, fields.get("reason").to_owned(), change == Change::Lock).await?;
        }
        Change::Partner => {
            let body = object(fields, &["id", "name", "kind", "role"], &["country", "budget_share"]);
            add_part(state, principal, id, &body, &PARTNER).await?;
        }
        Change::Cluster => {
            let mut body = object(fields, &["id", "name"], &["theme"]);
            body["members"] = json!(fields.all("members").collect::<Vec<_>>());
            add_part(state, principal, id, &body, &CLUSTER).await?;
        }
        Change::Period => {
            let body = object(fields, &["id", "starts_on", "ends_on"], &[]);
            add_part(state, principal, id, &body, &PERIOD).await?;
        }
        Change::Target => {
            // The indicator as it stands with the new target: only the target is revised.
            let chosen = fields.get("indicator");
            let Some(current) = managed.definition().indicator(chosen) else {
                return Err(ApiError::invalid("invalid indicator", "indicator", "choose one of the programme's indicators"));
            };
            let mut body = serde_json::to_value(current).map_err(ApiError::internal)?;
            body["target"] = json!(fields.get("target"));
            if !fields.get("reason").is_empty() {
                body["reason"] = json!(fields.get("reason"));
            }
            set_indicator_of(state, principal, id, chosen, &body, None).await?;
        }
        Change::Indicator => {
            let new = fields.get("id");
            if managed.definition().indicator(new).is_some() {
                let message = format!("indicator '{new}' exists already: revise its target with the form above");
                return Err(ApiError::invalid("invalid indicator", "id", message));
            }
            let mut body = object(fields, &["id", "label", "unit", "target"], &["due"]);
            let mut measure = object(fields, &["aggregate"], &["field"]);
            measure["kinds"] = json!(fields.all("kinds").collect::<Vec<_>>());
            body["measure"] = measure;
            set_indicator_of(state, principal, id, new, &body, None).await?;
        }
    }
    Ok(())
}

/// A JSON object of the form's fields: `required` ones as given (an empty one is the reader's fault to name),
/// `optional` ones only when filled in.
fn object(fields: &Fields, required: &[&str], optional: &[&str]) -> Value {
    let mut map = Map::new();
    for name in required {
        map.insert((*name).to_owned(), json!(fields.get(name)));
    }
    for name in optional.iter().filter(|name| !fields.get(name).is_empty()) {
        map.insert((*name).to_owned(), json!(fields.get(name)));
    }
    Value::Object(map)
}

/// The values the domain's schema allows for `property` of part `schema` (e.g. `Partner`, `kind`).
fn choices(schema: &str, property: &str) -> Vec<(String, String)> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(events::schema::programme_schemas);
    let names = schemas.get(schema).and_then(|s| s["properties"][property]["enum"].as_array());
    names.into_iter().flatten().filter_map(Value::as_str).map(|n| (n.to_owned(), n.replace('_', " "))).collect()
}

/// The page: what changed or what was refused, the definition as it stands, and the forms.
fn render(managed: &Managed, done: Option<&str>, posted: Option<(&Fields, &Refusal)>) -> Response {
    let definition = managed.definition();
    let view = |change: Change| FormView::new(change.form(), posted);
    let body = html! {
        h1 { "Programme setup: " (definition.name) }
        @if let Some((_, refusal)) = posted { (refusal.summary(true)) }
        @if let Some(message) = done { (confirmation(message)) }
        p { a href={ "/programmes/" (managed.id) } { "Progress of " (definition.name) } " · "
            a href={ "/programmes/" (managed.id) "/queue" } { "Approval queue" } " · "
            a href={ "/programmes/" (managed.id) "/upload" } { "Bulk upload" } }
        (periods(managed, &view(Change::Lock), &view(Change::Unlock), &view(Change::Period)))
        (indicators(managed, &view(Change::Target), &view(Change::Indicator)))
        (partners(managed, &view(Change::Partner)))
        (clusters(managed, &view(Change::Cluster)))
    };
    let status = posted.map_or(axum::http::StatusCode::OK, |(_, refusal)| refusal.status);
    (status, managed.viewer.page(&format!("Setup: {}", definition.name), body)).into_response()
}

/// A form posting to `/programmes/{id}/manage/{form}`, the CSRF field first.
fn form(managed: &Managed, view: &FormView<'_>, heading: &str, fields: Markup, button: &str) -> Markup {
    let heading_id = format!("{}-heading", view.form);
    html! {
        h3 id=(heading_id) { (heading) }
        form method="post" action={ "/programmes/" (managed.id) "/manage/" (view.form) } aria-labelledby=(heading_id) {
            (managed.viewer.csrf_field())
            (fields)
            button type="submit" { (button) }
        }
    }
}

fn periods(managed: &Managed, lock: &FormView<'_>, unlock: &FormView<'_>, add: &FormView<'_>) -> Markup {
    let definition = managed.definition();
    let locked = |id: &str| managed.state.is_locked(id);
    let option = |p: &events::ReportingPeriod| (p.id.to_string(), format!("{} ({} to {})", p.id, p.starts_on, p.ends_on));
    let open: Vec<_> = definition.periods.iter().filter(|p| !locked(p.id.as_str())).map(option).collect();
    let shut: Vec<_> = definition.periods.iter().filter(|p| locked(p.id.as_str())).map(option).collect();
    html! {
        h2 { "Reporting periods" }
        @if definition.periods.is_empty() { p { "No reporting periods yet." } } @else {
            (scroll_region("Reporting periods", html! { table {
                thead { tr { th scope="col" { "period" } th scope="col" { "from" } th scope="col" { "to" } th scope="col" { "state" } } }
                tbody { @for p in &definition.periods { tr { th scope="row" { (p.id) } td { (p.starts_on) } td { (p.ends_on) }
                    td { @if locked(p.id.as_str()) { "locked" } @else { "open" } } } } }
            } }))
        }
        (form(managed, lock, "Lock a period", html! {
            (lock.select("period", "Period", &open, true))
            (lock.input("reason", "Reason", "text", true, None))
        }, "Lock"))
        (form(managed, unlock, "Unlock a period", html! {
            (unlock.select("period", "Period", &shut, true))
            (unlock.input("reason", "Reason", "text", true, None))
        }, "Unlock"))
        (form(managed, add, "Add a period", html! {
            (add.input("id", "Id", "text", true, Some("e.g. 2021-h1")))
            (add.input("starts_on", "From", "date", true, None))
            (add.input("ends_on", "To", "date", true, None))
        }, "Add period"))
    }
}

fn indicators(managed: &Managed, target: &FormView<'_>, new: &FormView<'_>) -> Markup {
    let definition: &Programme = managed.definition();
    let options: Vec<(String, String)> = definition.indicators.iter().map(|i| (i.id.to_string(), i.label.clone())).collect();
    let kinds: Vec<(String, String)> = ActivityKind::ALL.iter().map(|k| (k.as_str().to_owned(), k.as_str().replace('_', " "))).collect();
    html! {
        h2 { "Indicators" }
        (scroll_region("Indicators", html! { table {
            thead { tr { th scope="col" { "indicator" } th scope="col" { "id" } th.num scope="col" { "target" } th scope="col" { "unit" } } }
            tbody { @for i in &definition.indicators { tr { th scope="row" { (i.label) } td { (i.id) } td.num { (i.target) } td { (i.unit) } } } }
        } }))
        (form(managed, target, "Revise a target", html! {
            (target.select("indicator", "Indicator", &options, true))
            (target.input("target", "New target", "text", true, Some("a number, at most 2 decimals")))
            (target.input("reason", "Reason", "text", true, None))
        }, "Revise target"))
        (form(managed, new, "Set a new indicator", html! {
            (new.input("id", "Id", "text", true, Some("e.g. staff-exchanges")))
            (new.input("label", "Label", "text", true, None))
            (new.input("unit", "Unit", "text", true, Some("e.g. exchanges")))
            (new.input("target", "Target", "text", true, None))
            (new.input("due", "Due", "date", false, Some("optional; the programme's end")))
            (new.select("aggregate", "Aggregate", &choices("Measure", "aggregate"), true))
            (new.input("field", "Field", "text", false, Some("for sum and distinct, e.g. amount")))
            (checkboxes(new, "kinds", "Activity kinds that count", &kinds))
        }, "Set indicator"))
    }
}

fn partners(managed: &Managed, add: &FormView<'_>) -> Markup {
    let definition = managed.definition();
    html! {
        h2 { "Partners" }
        (scroll_region("Partners", html! { table {
            thead { tr { @for heading in ["partner", "id", "kind", "role", "country"] { th scope="col" { (heading) } } } }
            tbody { @for p in &definition.partners { tr { th scope="row" { (p.name) } td { (p.id) }
                td { (json!(p.kind).as_str().unwrap_or("").replace('_', " ")) } td { (json!(p.role).as_str().unwrap_or("").replace('_', " ")) }
                td { @if let Some(c) = &p.country { (c) } } } } }
        } }))
        (form(managed, add, "Add a partner", html! {
            (add.input("id", "Id", "text", true, Some("e.g. lisbon")))
            (add.input("name", "Name", "text", true, None))
            (add.select("kind", "Kind", &choices("Partner", "kind"), true))
            (add.select("role", "Role", &choices("Partner", "role"), true))
            (add.input("country", "Country", "text", false, Some("ISO 3166-1 alpha-2, e.g. PT")))
            (add.input("budget_share", "Budget share", "text", false, Some("optional, e.g. 30979.71")))
        }, "Add partner"))
    }
}

fn clusters(managed: &Managed, add: &FormView<'_>) -> Markup {
    let definition = managed.definition();
    let members: Vec<(String, String)> = definition.partners.iter().map(|p| (p.id.to_string(), p.name.clone())).collect();
    html! {
        h2 { "Clusters" }
        @if definition.clusters.is_empty() { p { "No clusters yet." } } @else {
            ul { @for c in &definition.clusters { li { (c.name) " (" (c.id) "), " (c.members.len()) " members" } } }
        }
        (form(managed, add, "Add a cluster", html! {
            (add.input("id", "Id", "text", true, Some("e.g. cop5")))
            (add.input("name", "Name", "text", true, None))
            (add.input("theme", "Theme", "text", false, None))
            (checkboxes(add, "members", "Members", &members))
        }, "Add cluster"))
    }
}

/// A group of checkboxes for field `name`, its fault in the legend; the first box has the field's id, for the
/// error summary's link.
fn checkboxes(view: &FormView<'_>, name: &str, legend: &str, options: &[(String, String)]) -> Markup {
    let error = view.error(name);
    html! {
        fieldset.choices aria-describedby=[error.as_ref().map(|_| format!("{}-error", view.id(name)))] {
            legend { (legend) }
            @if let Some(error) = &error { span.field-error id={ (view.id(name)) "-error" } { "Error: " (error) } }
            @for (i, (value, words)) in options.iter().enumerate() {
                label.choice {
                    input type="checkbox" name=(name) value=(value) id=[(i == 0).then(|| view.id(name))] checked[view.has(name, value)];
                    (words)
                }
            }
        }
    }
}
