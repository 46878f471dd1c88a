//! A programme's activities in the browser: `GET /programmes/{id}/activities`, a list filtered by a GET form
//! (kind, partner, status, dates; `mine=1` for a recorder's own partner) with the recorded values — date, kind,
//! title, partner, host and visitors, amounts, participants, status — each row linking to the activity's page,
//! a page at a time with a "next" link. The filters are read and the page is cut by the API's list
//! (`activities::ListParams`, `known_cursor`, `page_of`), so both show the same activities.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use events::{Activity, ActivityKind, ActivityStatus, FieldValue};
use maud::{html, Markup};
use serde::Deserialize;

use super::context::{self, kind_name};
use super::form::partners_by_name;
use super::SignedIn;
use crate::http::activities::{known_cursor, page_of, ListParams};
use crate::http::dashboard::layout::{error_summary, money, scroll_region};
use crate::http::dashboard::programme::Names;
use crate::http::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/programmes/{id}/activities", get(list))
}

/// How many activities a page shows.
const PAGE: usize = 50;

/// The filter form's fields; an empty field filters nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Filters {
    kind: String,
    partner: String,
    status: String,
    from: String,
    to: String,
    cursor: String,
    /// Page size, as the API takes it (default 50).
    limit: String,
    /// `1`: only the viewer's own partner's activities (for a recorder).
    mine: String,
}

impl Filters {
    /// The query of this list with another cursor (for the "next" link).
    fn query_with_cursor(&self, cursor: &str) -> String {
        let pairs = [("kind", &self.kind), ("partner", &self.partner), ("status", &self.status), ("from", &self.from), ("to", &self.to), ("mine", &self.mine), ("limit", &self.limit)];
        let mut query: Vec<String> = pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", super::percent_encode(value)))
            .collect();
        query.push(format!("cursor={cursor}"));
        query.join("&")
    }
}

fn given(text: &str) -> Option<String> {
    Some(text.trim()).filter(|t| !t.is_empty()).map(str::to_owned)
}

async fn list(State(state): State<AppState>, viewer: SignedIn, Path(id): Path<String>, Query(filters): Query<Filters>) -> Response {
    let programme = match context::programme(&state, &viewer, &id).await {
        Ok(programme) => programme,
        Err(refused) => return refused,
    };
    let own = context::own_partner(&viewer, programme.id.as_str()).cloned();
    let mine = filters.mine == "1" && own.is_some();
    let params = ListParams {
        kind: given(&filters.kind),
        partner: if mine { own.as_ref().map(ToString::to_string) } else { given(&filters.partner) },
        status: given(&filters.status),
        from: given(&filters.from),
        to: given(&filters.to),
        cursor: given(&filters.cursor),
        limit: Some(given(&filters.limit).unwrap_or_else(|| PAGE.to_string())),
        ..ListParams::default()
    };
    let projection = match state.caught_up_progress().await {
        Ok(projection) => projection,
        Err(error) => return error.into_response(),
    };
    let definition = programme.definition();
    let names = Names::of(definition);
    let listed = params.filter().and_then(|filter| {
        let (limit, after) = params.page()?;
        known_cursor(&projection, programme.id.as_str(), after)?;
        Ok(page_of(&projection, programme.id.as_str(), &filter, after, limit, u64::MAX))
    });
    let (rows, next, faults) = match listed {
        Ok((page, next)) => {
            let rows: Vec<Markup> = page
                .iter()
                .filter_map(|(id, revision)| Some(row(&programme.path(&format!("/activities/{id}")), &revision.activity()?, revision.status(), &names, definition)))
                .collect();
            (rows, next, Vec::new())
        }
        Err(refused) => (Vec::new(), None, refused.faults().to_vec()),
    };
    drop(projection);
    let summary: Vec<(Option<&str>, String)> = faults
        .iter()
        .map(|f| {
            let id = match f.field.as_str() {
                "kind" => Some("filter-kind"),
                field @ ("status" | "from" | "to") => Some(field),
                // The cursor and the page size have no field of their own: they come from a link.
                _ => None,
            };
            (id, f.to_string())
        })
        .collect();
    let body = html! {
        h1 { "Activities of " (definition.name) }
        p.meta {
            a href=(programme.path("")) { "Progress" } " · " a href=(programme.path("/record")) { "Record an activity" }
            @if own.is_some() { " · " a href=(programme.path("/activities?mine=1")) { "My activities" } }
        }
        @if !summary.is_empty() { (error_summary(&summary)) }
        (filter_form(&programme.path("/activities"), &filters, definition, own.is_some()))
        @if rows.is_empty() { p { "No activities match." } } @else {
            (scroll_region("Activities", html! {
                table {
                    thead { tr {
                        th scope="col" { "occurred on" } th scope="col" { "kind" } th scope="col" { "title" }
                        th scope="col" { "partner" } th scope="col" { "host / visitors" } th.num scope="col" { "amount" }
                        th.num scope="col" { "participants" } th scope="col" { "status" }
                    } }
                    tbody { @for row in &rows { (row) } }
                }
            }))
        }
        @if let Some(next) = next { p { a rel="next" href={ (programme.path("/activities")) "?" (filters.query_with_cursor(&next.to_string())) } { "Next activities" } } }
    };
    let status = if faults.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    (status, viewer.page(&format!("Activities of {}", definition.name), body)).into_response()
}

/// One activity as a row of the list.
fn row(path: &str, activity: &Activity, status: ActivityStatus, names: &Names<'_>, programme: &events::Programme) -> Markup {
    let partner_names = |value: FieldValue<'_>| match value {
        FieldValue::List(items) => items.iter().filter_map(FieldValue::as_key).map(|id| names.partner(&id).to_owned()).collect::<Vec<_>>().join(", "),
        other => other.as_key().map(|id| names.partner(&id).to_owned()).unwrap_or_default(),
    };
    let host = activity.field("host").or_else(|| activity.field("recipient")).map(partner_names);
    let visitors = activity.field("visitor").or_else(|| activity.field("visitors")).map(partner_names);
    let amount = match activity.field("amount") {
        Some(FieldValue::Money(amount)) => money(&amount.to_string(), &programme.currency.to_string()),
        _ => String::new(),
    };
    let part = |name: &str| activity.field(&format!("participants.{name}")).and_then(|v| v.as_key());
    let participants = part("total").map(|total| {
        let parts: Vec<String> = [("women", part("women")), ("migrants", part("migrants"))]
            .into_iter()
            .filter_map(|(name, n)| Some(format!("{} {name}", n?)))
            .collect();
        if parts.is_empty() { total } else { format!("{total} ({})", parts.join(", ")) }
    });
    html! {
        tr {
            td.num { (activity.occurred_on) }
            td { (kind_name(activity.kind())) }
            th scope="row" { a href=(path) { (activity.title.as_deref().unwrap_or("(untitled)")) } }
            td { (names.partner(activity.partner.as_str())) }
            td { @if let Some(host) = &host { (host) } @if let Some(visitors) = &visitors { " → " (visitors) } }
            td.num { (amount) }
            td.num { (participants.unwrap_or_default()) }
            td { (status.as_str()) }
        }
    }
}

/// The GET form of the list's filters.
fn filter_form(action: &str, filters: &Filters, programme: &events::Programme, recorder: bool) -> Markup {
    // A GET form changes nothing, so it carries no CSRF token (which would end up in the address and history).
    html! {
        form method="get" action=(action) aria-label="Filter the activities" {
            label for="filter-kind" { "Kind"
                select id="filter-kind" name="kind" {
                    option value="" { "any" }
                    @for kind in ActivityKind::ALL { option value=(kind.as_str()) selected[filters.kind == kind.as_str()] { (kind_name(kind)) } }
                }
            }
            label for="partner" { "Partner"
                select id="partner" name="partner" {
                    option value="" { "any" }
                    @for (id, name) in partners_by_name(programme) { option value=(id) selected[filters.partner == id] { (name) } }
                }
            }
            label for="status" { "Status"
                select id="status" name="status" {
                    option value="" { "any" }
                    @for status in ActivityStatus::ALL { option value=(status.as_str()) selected[filters.status == status.as_str()] { (status.as_str()) } }
                }
            }
            label for="from" { "From" input id="from" type="date" name="from" value=(filters.from); }
            label for="to" { "To" input id="to" type="date" name="to" value=(filters.to); }
            @if recorder {
                label.check for="mine" { input id="mine" type="checkbox" name="mine" value="1" checked[filters.mine == "1"]; " My partner's only" }
            }
            button type="submit" { "Filter" }
        }
    }
}
