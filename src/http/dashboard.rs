//! The dashboard: server-rendered HTML (maud), usable without JavaScript. `/` lists every programme with a bar
//! per indicator — actual against target, a mark where the programme should be by now, the status in colour and
//! in words — and `/programmes/{id}` shows one programme: the same bars, breakdowns by partner and by cluster,
//! budget figures and the latest activities, as of any date and as known at any moment (a plain GET form).
//! Bars are `role="progressbar"` elements with their numbers in an `aria-label`, so screen readers read them.


use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use projections::{IndicatorReport, ProgressReport};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::programmes::programme_id;
use super::AppState;
use crate::report::{progress_report, ReportRequest};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(index)).routes(routes!(programme_page))
}

/// How many of the latest activities a programme page shows.
const LATEST: usize = 20;

const STYLE: &str = r#"
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem; color: #1c1c1c; }
h1 { font-size: 1.6rem; margin: .2rem 0 1rem; } h2 { font-size: 1.25rem; margin: 1.6rem 0 .6rem; }
a { color: #0b57d0; }
.programme { border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1.2rem 1rem; margin-bottom: 1.2rem; }
.meta { color: #555; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #eee; vertical-align: middle; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { position: relative; height: 1rem; min-width: 12rem; background: #eceff3; border-radius: 4px; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 4px; }
.expected { position: absolute; top: -3px; bottom: -3px; width: 2px; background: #1c1c1c; }
.status { font-weight: 600; white-space: nowrap; }
.achieved .fill { background: #1e8e3e; } .achieved.status { color: #1e7e34; }
.on_track .fill { background: #4285f4; } .on_track.status { color: #1a5fd0; }
.behind .fill { background: #e37400; } .behind.status { color: #b35900; }
.not_started .fill { background: #9aa0a6; } .not_started.status { color: #5f6368; }
form { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; margin: .5rem 0 1rem; }
label { display: flex; flex-direction: column; font-size: .9rem; }
.legend { font-size: .85rem; color: #555; }
"#;

fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " — programme tracker" }
                    style { (PreEscaped(STYLE)) }
                }
                body { (body) }
            }
        }
        .into_string(),
    )
}

fn number(text: &str) -> f64 {
    text.parse().unwrap_or(0.0)
}

fn status_words(status: &str) -> &'static str {
    match status {
        "achieved" => "achieved",
        "on_track" => "on track",
        "behind" => "behind",
        _ => "not started",
    }
}

/// One indicator's bar: filled to actual ÷ target, with a mark at expected ÷ target.
fn bar(indicator: &IndicatorReport) -> Markup {
    let target = number(&indicator.target);
    let share = |value: f64| if target > 0.0 { (value / target * 100.0).clamp(0.0, 100.0) } else { 100.0 };
    let filled = share(number(&indicator.actual));
    let expected = share(number(&indicator.expected));
    let status = indicator.status.as_str();
    let label = format!(
        "{}: {} of {} {}, expected {} by now, {}",
        indicator.label, indicator.actual, indicator.target, indicator.unit, indicator.expected, status_words(status)
    );
    html! {
        div class={ "bar " (status) } role="progressbar" aria-label=(label) aria-valuemin="0"
            aria-valuemax=(indicator.target) aria-valuenow=(indicator.actual) data-indicator=(indicator.id) {
            div class="fill" style={ "width: " (format!("{filled:.1}")) "%" } {}
            div class="expected" style={ "left: " (format!("{expected:.1}")) "%" } title={ "expected by now: " (indicator.expected) } {}
        }
    }
}

fn indicator_rows(report: &ProgressReport) -> Markup {
    html! {
        table {
            thead { tr { th { "indicator" } th { "progress" } th.num { "actual / target" } th.num { "%" } th.num { "expected" } th { "status" } } }
            tbody {
                @for i in &report.indicators {
                    tr {
                        td { (i.label) }
                        td { (bar(i)) }
                        td.num { (i.actual) " / " (i.target) " " (i.unit)
                            @if number(&i.pending) > 0.0 { br; small { "+ " (i.pending) " pending" } } }
                        td.num { @match i.percent { Some(p) => { (format!("{p:.1}")) }, None => { "–" } } }
                        td.num { (i.expected) }
                        td class={ "status " (i.status.as_str()) } { (status_words(i.status.as_str())) }
                    }
                }
            }
        }
        p.legend { "The bar fills to actual ÷ target; the black mark is where the programme should be by now (from its milestones, or linear to the due date). On track means at least 85 % of that." }
    }
}

/// Every programme with a progress bar per indicator, as of today.
#[utoipa::path(get, path = "/", tag = "dashboard",
    responses((status = 200, description = "HTML", content_type = "text/html", body = String)))]
async fn index(State(state): State<AppState>) -> Result<Response, ApiError> {
    let today = state.today();
    let projection = state.caught_up_progress().await?;
    let mut sections = Vec::new();
    for id in projection.programme_ids() {
        let (Some(definition), Some(report)) = (
            projection.programme(id),
            projection.report(id, &projections::ProgressQuery { as_of: today, at_position: None }),
        ) else {
            continue;
        };
        sections.push(html! {
            section.programme aria-labelledby={ "p-" (id) } {
                h2 id={ "p-" (id) } { a href={ "/programmes/" (id) } { (definition.name) } }
                p.meta { (definition.starts_on) " to " (definition.ends_on)
                    @if let Some(funder) = &definition.funder { " · funded by " (funder) }
                    " · as of " (today) " · log position " (report.position) }
                (indicator_rows(&report))
            }
        });
    }
    drop(projection);
    Ok(page(
        "Programmes",
        html! {
            h1 { "Programmes" }
            @for section in sections { (section) }
            p.legend { "JSON: " a href="/v1/programmes" { "/v1/programmes" } " · API: " a href="/openapi.json" { "/openapi.json" } }
        },
    )
    .into_response())
}

/// One row of a programme page's latest activities.
struct LatestActivity {
    id: String,
    occurred_on: String,
    kind: String,
    partner: String,
    title: String,
    /// The other recorded values, `name value` separated by ` · `.
    details: String,
    status: String,
}

/// An activity's recorded values besides those the row shows in columns of their own, from the same columns as
/// the activities files; notes are left out of the public page.
fn details(activity: &events::Activity) -> String {
    let shown = ["kind", "occurred_on", "partner", "title", "notes"];
    let columns = crate::exports::value_columns().iter().zip(crate::exports::values(activity));
    let parts = columns
        .filter(|(column, value)| !shown.contains(&column.name.as_str()) && *value != crate::exports::Cell::Empty)
        .map(|(column, value)| format!("{} {}", column.name.replace('_', " "), value.text()));
    parts.collect::<Vec<_>>().join(" · ")
}

/// The as-of date and known-at moment of a programme page.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageParams {
    /// Count activities that occurred on or before this day.
    pub as_of: Option<String>,
    /// Show what was known at this moment (RFC 3339, or `YYYY-MM-DDTHH:MM` from the form, read as UTC).
    pub known_at: Option<String>,
}

fn parse_moment(text: &str) -> Option<events::Timestamp> {
    events::Timestamp::parse_rfc3339(text).ok().or_else(|| {
        let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").ok()?;
        events::Timestamp::parse_rfc3339(&naive.and_utc().to_rfc3339()).ok()
    })
}

/// One programme: bars, breakdowns by partner and cluster, budget and latest activities, re-rendered for any
/// as-of date and known-at moment.
#[utoipa::path(get, path = "/programmes/{id}", tag = "dashboard", params(("id" = String, Path), PageParams),
    responses((status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, body = super::Problem), (status = 422, body = super::Problem)))]
async fn programme_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let id = programme_id(&id)?;
    let mut request = ReportRequest::default();
    if let Some(text) = params.as_of.as_deref().filter(|t| !t.is_empty()) {
        let day = crate::query::parse_as_of(text).map_err(|f| ApiError::invalid("invalid query", f.field, f.message))?;
        request.as_of = Some(day);
    }
    if let Some(text) = params.known_at.as_deref().filter(|t| !t.is_empty()) {
        let at = parse_moment(text).ok_or_else(|| ApiError::invalid("invalid query", "known_at", format!("'{text}' is not a moment")))?;
        request.known_at = Some(at.min(events::Timestamp::now()));
    }
    let projection = state.caught_up_progress().await?;
    let report = progress_report(state.log(), &projection, id.as_str(), &request, state.today())
        .await
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    let Some(definition) = projection.programme(id.as_str()).cloned() else {
        return Err(ApiError::not_found(format!("unknown programme '{id}'")));
    };
    // The latest activities as the report stands (its position, dated on or before its as_of), with what was
    // recorded for them; notes are not shown on the public page.
    let latest: Vec<LatestActivity> = projection
        .activities_newest_first(id.as_str())
        .filter_map(|(aid, history)| {
            let revision = history.at(report.position)?;
            let occurred_on = revision.occurred_on().filter(|on| *on <= report.as_of)?;
            let activity = revision.activity()?;
            Some(LatestActivity {
                id: aid.to_string(),
                occurred_on: occurred_on.to_string(),
                kind: activity.kind().as_str().replace('_', " "),
                partner: activity.partner.to_string(),
                title: activity.title.clone().unwrap_or_default(),
                details: details(&activity),
                status: revision.status().as_str().to_owned(),
            })
        })
        .take(LATEST)
        .collect();
    drop(projection);

    let partners: std::collections::BTreeSet<&String> = report.indicators.iter().flat_map(|i| i.by_partner.keys()).collect();
    let clusters: std::collections::BTreeSet<&String> = report.indicators.iter().flat_map(|i| i.by_cluster.keys()).collect();
    let known_at_value = report.known_at.as_deref().map(|k| k.get(..16).unwrap_or(k).to_owned()).unwrap_or_default();
    let breakdown = |title: &str, keys: &std::collections::BTreeSet<&String>, pick: fn(&IndicatorReport) -> &std::collections::BTreeMap<String, String>| {
        html! {
            h2 { (title) }
            @if keys.is_empty() { p.meta { "No activity counts yet." } } @else {
                div style="overflow-x: auto" {
                    table {
                        thead { tr { th { "" } @for i in &report.indicators { th.num { (i.label) } } } }
                        tbody {
                            @for key in keys {
                                tr { th scope="row" { (key) }
                                    @for i in &report.indicators { td.num { (pick(i).get(*key).map(String::as_str).unwrap_or("–")) } } }
                            }
                        }
                    }
                }
            }
        }
    };
    let b = &report.budget;
    Ok(page(
        &definition.name,
        html! {
            p { a href="/" { "← all programmes" } }
            h1 { (definition.name) }
            p.meta { (definition.starts_on) " to " (definition.ends_on)
                @if let Some(funder) = &definition.funder { " · funded by " (funder) }
                " · as of " (report.as_of)
                @if let Some(k) = &report.known_at { " · as known at " (k) }
                " · log position " (report.position) }
            form method="get" {
                label { "As of" input type="date" name="as_of" value=(report.as_of); }
                label { "As known at (UTC)" input type="datetime-local" name="known_at" value=(known_at_value); }
                button type="submit" { "Show" }
                a href={ "/programmes/" (id) } { "today" }
            }
            h2 { "Indicators" }
            (indicator_rows(&report))
            (breakdown("By partner", &partners, |i| &i.by_partner))
            (breakdown("By cluster", &clusters, |i| &i.by_cluster))
            h2 { "Budget" }
            table {
                tbody {
                    tr { th scope="row" { "Programme budget" } td.num { (b.total.as_deref().unwrap_or("not stated")) " " (b.currency) } }
                    tr { th scope="row" { "Partner budget shares" } td.num { (b.partner_shares) " " (b.currency) } }
                    tr { th scope="row" { "Grants awarded" } td.num { (b.grants_awarded) " " (b.currency) } }
                    tr { th scope="row" { "Grants paid" } td.num { (b.grants_paid) " " (b.currency) } }
                }
            }
            h2 { "Latest activities" }
            @if latest.is_empty() { p.meta { "None recorded yet." } } @else {
                div style="overflow-x: auto" {
                    table {
                        thead { tr { th { "occurred on" } th { "kind" } th { "partner" } th { "title" } th { "recorded values" }
                            th { "status" } th { "" } } }
                        tbody {
                            @for a in &latest {
                                tr { td { (a.occurred_on) } td { (a.kind) } td { (a.partner) } td { (a.title) } td { (a.details) }
                                    td { (a.status) }
                                    td { a href={ "/v1/programmes/" (id) "/activities/" (a.id) } { "JSON" } } }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}
