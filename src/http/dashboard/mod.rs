//! The dashboard: server-rendered HTML (maud), usable without JavaScript, at phone width and with a keyboard.
//! `/` lists every programme with a bar per indicator — actual against target, a mark where the programme
//! should be by then, the status in colour and in words — and `/programmes/{id}` shows one programme: the same
//! bars, breakdowns by partner and by cluster, budget figures and the latest activities, as of any date and as
//! known at any moment (a plain GET form). A programme that has ended is shown as of its end date unless another
//! date is asked for, and says so. Bars are `role="progressbar"` elements with their numbers in an `aria-label`.
//! A browser (`Accept: text/html`) that asks for an unknown programme or gives a date that cannot be read gets
//! an HTML page with an error summary; other clients get the API's problem+json.

pub(super) mod layout;
pub(super) mod programme;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use maud::html;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::programmes::programme_id;
use super::AppState;
use crate::report::{progress_report, ReportError, ReportRequest};
use layout::{error_summary, indicator_table, page};
use programme::{sections, show_form, FormValues};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(index)).routes(routes!(programme_page))
}

/// The day a programme is shown as of when no date is asked for: today, or its end date once it has ended.
fn default_as_of(definition: &events::Programme, today: NaiveDate) -> NaiveDate {
    today.min(definition.ends_on)
}

/// The dates line under a programme's name: its span, funder and what the figures are as of.
fn dates_line(definition: &events::Programme, as_of: NaiveDate, asked: bool, today: NaiveDate) -> maud::Markup {
    let ended = definition.ends_on < today;
    html! {
        p.meta { (definition.starts_on) " to " (definition.ends_on)
            @if let Some(funder) = &definition.funder { " · funded by " (funder) }
            " · "
            @if ended && !asked { span.ended { "ended on " (definition.ends_on) "; final figures" } }
            @else { @if ended { span.ended { "ended on " (definition.ends_on) } " · " } "as of " (as_of) } }
    }
}

/// Every programme with a progress bar per indicator, as of today (a programme that has ended: its end date).
#[utoipa::path(get, path = "/", tag = "dashboard",
    responses((status = 200, description = "HTML", content_type = "text/html", body = String)))]
async fn index(State(state): State<AppState>) -> Result<Response, ApiError> {
    let today = state.today();
    let projection = state.caught_up_progress().await?;
    let mut sections = Vec::new();
    for id in projection.programme_ids() {
        let Some(definition) = projection.programme(id) else { continue };
        let as_of = default_as_of(definition, today);
        let Some(report) = projection.report(id, &projections::ProgressQuery { as_of, at_position: None }) else {
            continue;
        };
        sections.push(html! {
            section.programme aria-labelledby={ "p-" (id) } {
                h2 id={ "p-" (id) } { a href={ "/programmes/" (id) } { (definition.name) } }
                (dates_line(definition, as_of, false, today))
                (indicator_table(&format!("Indicators of {}", definition.name), &report, as_of >= definition.ends_on))
            }
        });
    }
    drop(projection);
    let body = html! {
        h1 { "Programmes" }
        @for section in sections { (section) }
    };
    Ok(Html(page("Programmes", body)).into_response())
}

/// The as-of date and known-at moment of a programme page.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageParams {
    /// Count activities that occurred on or before this day (default: today, or the programme's end date once
    /// it has ended).
    pub as_of: Option<String>,
    /// Show what was known at this moment (RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` from the form, read as UTC).
    pub known_at: Option<String>,
}

fn parse_moment(text: &str) -> Option<events::Timestamp> {
    events::Timestamp::parse_rfc3339(text).ok().or_else(|| {
        let naive = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|form| chrono::NaiveDateTime::parse_from_str(text, form).ok())?;
        events::Timestamp::parse_rfc3339(&naive.and_utc().to_rfc3339()).ok()
    })
}

/// Why a programme page cannot be shown: a query field that cannot be used (422), a programme that is not
/// there (404), or a failure of the server (as the API answers it).
enum Failure {
    Field { field: &'static str, message: String },
    NotFound { message: String, field: Option<&'static str> },
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure::Api(error)
    }
}

/// Whether the client reads HTML (a browser), rather than the API's problem+json.
fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"))
}

/// One programme: bars, breakdowns by partner and cluster, budget and latest activities, re-rendered for any
/// as-of date and known-at moment.
#[utoipa::path(get, path = "/programmes/{id}", tag = "dashboard", params(("id" = String, Path), PageParams),
    responses((status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "no such programme (an HTML page for a browser)",
            content((super::Problem = "application/problem+json"), (String = "text/html"))),
        (status = 422, description = "a date or moment that cannot be used (an HTML page for a browser)",
            content((super::Problem = "application/problem+json"), (String = "text/html")))))]
async fn programme_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<PageParams>,
    headers: HeaderMap,
) -> Response {
    let mut form = FormValues {
        as_of: params.as_of.clone().unwrap_or_default(),
        known_at: params.known_at.clone().unwrap_or_default(),
        fault: None,
    };
    let failure = match render(&state, &id, &params, &mut form).await {
        Ok(html) => return Html(html).into_response(),
        Err(failure) => failure,
    };
    let (status, field, message) = match failure {
        Failure::Api(error) => return error.into_response(),
        Failure::Field { field, message } if !wants_html(&headers) => {
            return ApiError::invalid("invalid query", field, message).into_response()
        }
        Failure::NotFound { message, .. } if !wants_html(&headers) => return ApiError::not_found(message).into_response(),
        Failure::Field { field, message } => (StatusCode::UNPROCESSABLE_ENTITY, Some(field), message),
        Failure::NotFound { message, field } => (StatusCode::NOT_FOUND, field, message),
    };
    // The programme's name and the form again when the programme is there; the fault at the top.
    let definition = match state.caught_up_progress().await {
        Ok(projection) => programme_id(&id).ok().and_then(|id| projection.programme(id.as_str()).cloned()),
        Err(error) => return error.into_response(),
    };
    form.fault = field.map(|f| (f, message.clone()));
    let title = match &definition {
        Some(d) => format!("Error: {}", d.name),
        None => "Error: programme not found".to_owned(),
    };
    let body = html! {
        @match &definition {
            Some(d) => { h1 { (d.name) } }
            None => { h1 { "Programme not found" } }
        }
        (error_summary(&[(field, message)]))
        @if definition.is_some() { (show_form(&id, &form)) }
    };
    (status, Html(page(&title, body))).into_response()
}

async fn render(state: &AppState, id: &str, params: &PageParams, form: &mut FormValues) -> Result<String, Failure> {
    let id = programme_id(id).map_err(|_| Failure::NotFound { message: format!("unknown programme '{id}'"), field: None })?;
    let mut request = ReportRequest::default();
    let today = state.today();
    if let Some(text) = params.as_of.as_deref().filter(|t| !t.is_empty()) {
        let day = crate::query::parse_as_of(text).map_err(|f| Failure::Field { field: f.field, message: f.message })?;
        request.as_of = Some(day);
    }
    if let Some(text) = params.known_at.as_deref().filter(|t| !t.is_empty()) {
        let at = parse_moment(text).ok_or_else(|| Failure::Field {
            field: "known_at",
            message: format!("'{text}' is not a moment; write it YYYY-MM-DDTHH:MM, e.g. 2022-06-30T18:00"),
        })?;
        request.known_at = Some(at.min(events::Timestamp::now()));
        form.known_at = at.to_datetime().format("%Y-%m-%dT%H:%M:%S").to_string();
    }
    let projection = state.caught_up_progress().await?;
    let Some(definition) = projection.programme(id.as_str()).cloned() else {
        return Err(Failure::NotFound { message: format!("unknown programme '{id}'"), field: None });
    };
    let asked = request.as_of.is_some();
    if !asked && definition.ends_on < today {
        request.as_of = Some(definition.ends_on);
    }
    let report = match progress_report(state.log(), &projection, id.as_str(), &request, today).await {
        Ok(report) => report,
        Err(ReportError::Query(f)) => return Err(Failure::Field { field: f.field, message: f.message }),
        Err(e @ ReportError::NotYetRegistered { .. }) => {
            return Err(Failure::NotFound { message: e.to_string(), field: Some("known_at") })
        }
        Err(e @ ReportError::UnknownProgramme(_)) => return Err(Failure::NotFound { message: e.to_string(), field: None }),
        Err(ReportError::Read(e)) => return Err(ApiError::from(e).into()),
    };
    if asked {
        form.as_of = report.as_of.to_string();
    }
    let body = html! {
        h1 { (definition.name) }
        (dates_line(&definition, report.as_of, asked || request.known_at.is_some(), today))
        p.meta {
            @match (&request.known_at, &report.known_at) {
                (Some(_), Some(k)) => { "As known at " (k) }
                (None, Some(k)) => { "Everything recorded up to " (k) }
                _ => { "Nothing recorded yet" }
            }
            " · log position " (report.position)
        }
        (show_form(id.as_str(), form))
        (sections(&projection, &definition, &report))
    };
    drop(projection);
    Ok(page(&definition.name, body))
}
