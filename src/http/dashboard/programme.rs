//! The body of a programme's page: the Show form, the indicators, the breakdowns by partner and by cluster
//! (every partner and cluster, by name, zeros included), the budget in money, and the latest activities by
//! the date they occurred on, with their titles and recorded values (notes left out: the page is public).

use std::collections::HashMap;

use events::catalogue::FieldType;
use events::Programme;
use maud::{html, Markup};
use projections::{IndicatorReport, ProgressProjection, ProgressReport};

use super::layout::{grouped, indicator_table, money, scroll_region};

/// How many of the latest activities a programme page shows.
const LATEST: usize = 20;

/// The name of the row of activities without a cluster in the breakdowns (`projections::NO_CLUSTER`).
const NO_CLUSTER: &str = "none";

/// Partner and cluster names by id, from the programme's definition; an id it does not name is shown as it is.
pub(in crate::http) struct Names<'a> {
    partners: HashMap<&'a str, &'a str>,
    clusters: HashMap<&'a str, &'a str>,
}

impl<'a> Names<'a> {
    pub(in crate::http) fn of(programme: &'a Programme) -> Names<'a> {
        Names {
            partners: programme.partners.iter().map(|p| (p.id.as_str(), p.name.as_str())).collect(),
            clusters: programme.clusters.iter().map(|c| (c.id.as_str(), c.name.as_str())).collect(),
        }
    }

    pub(in crate::http) fn partner<'b>(&'b self, id: &'b str) -> &'b str {
        self.partners.get(id).copied().unwrap_or(id)
    }

    pub(in crate::http) fn cluster<'b>(&'b self, id: &'b str) -> &'b str {
        match id {
            NO_CLUSTER => "no cluster",
            _ => self.clusters.get(id).copied().unwrap_or(id),
        }
    }
}

/// What the Show form carries: only what the reader asked for, so that a page kept open and submitted later
/// still reads the log as it is then (a `known_at` filled in with the time of loading would hide newer events).
#[derive(Default)]
pub(super) struct FormValues {
    pub as_of: String,
    pub known_at: String,
    /// The field a fault is about, and the fault.
    pub fault: Option<(&'static str, String)>,
}

pub(super) fn show_form(programme: &str, values: &FormValues) -> Markup {
    let fault = |field: &str| values.fault.as_ref().filter(|(f, _)| *f == field).map(|(_, m)| m.as_str());
    let input = |field: &'static str, label: &str, kind: &str, value: &str, hint: &str| {
        let error = fault(field);
        let described = format!("{field}-hint{}", if error.is_some() { format!(" {field}-error") } else { String::new() });
        html! {
            label for=(field) { (label)
                small id={ (field) "-hint" } { (hint) }
                @if let Some(message) = error { span.field-error id={ (field) "-error" } { (message) } }
                input id=(field) type=(kind) name=(field) value=(value) step=[(kind == "datetime-local").then_some("1")]
                    aria-describedby=(described) aria-invalid=[error.map(|_| "true")];
            }
        }
    };
    html! {
        form method="get" action={ "/programmes/" (programme) } aria-label="Show the figures" {
            (input("as_of", "As of", "date", &values.as_of, "empty: today, or the end date of a programme that has ended"))
            (input("known_at", "As known at (UTC)", "datetime-local", &values.known_at, "empty: everything recorded so far"))
            button type="submit" { "Show" }
            a href={ "/programmes/" (programme) } { "Latest figures" }
        }
    }
}

/// One row of the latest activities.
struct LatestActivity {
    id: String,
    occurred_on: chrono::NaiveDate,
    kind: String,
    partner: String,
    title: String,
    /// The other recorded values, `name value` separated by ` · `.
    details: String,
    status: &'static str,
}

/// The `LATEST` activities that occurred last on or before the report's `as_of`, as they stood at its position:
/// by date, the latest first (the latest recorded first among those of one day). Only the dates are read for
/// every activity; the activities shown are decoded.
fn latest(projection: &ProgressProjection, report: &ProgressReport, names: &Names<'_>, currency: &str) -> Vec<LatestActivity> {
    let mut candidates = Vec::new();
    for (id, history) in projection.activities(&report.programme) {
        let Some(revision) = history.at(report.position) else { continue };
        let Some(on) = revision.occurred_on().filter(|on| *on <= report.as_of) else { continue };
        candidates.push((on, id, revision));
        if candidates.len() >= LATEST * 8 {
            candidates.sort_unstable_by_key(|c| std::cmp::Reverse((c.0, c.1)));
            candidates.truncate(LATEST);
        }
    }
    candidates.sort_unstable_by_key(|c| std::cmp::Reverse((c.0, c.1)));
    candidates
        .into_iter()
        .filter_map(|(on, id, revision)| {
            let activity = revision.activity()?;
            Some(LatestActivity {
                id: id.to_string(),
                occurred_on: on,
                kind: activity.kind().as_str().replace('_', " "),
                partner: names.partner(activity.partner.as_str()).to_owned(),
                title: activity.title.clone().unwrap_or_default(),
                details: details(&activity, names, currency),
                status: revision.status().as_str(),
            })
        })
        .take(LATEST)
        .collect()
}

/// An activity's recorded values besides those the row shows in columns of their own, from the same columns as
/// the activities files, with partners and clusters by name and money with its currency; notes are left out.
pub(in crate::http) fn details(activity: &events::Activity, names: &Names<'_>, currency: &str) -> String {
    let shown = ["kind", "occurred_on", "partner", "title", "notes"];
    let parts = recorded_values(activity, names, currency, &shown).into_iter().map(|(name, text)| format!("{} {text}", name.replace('_', " ")));
    parts.collect::<Vec<_>>().join(" · ")
}

/// Every value recorded for an activity but those of the columns named in `leave_out`, as `(column, text)`: the
/// columns of the activities files in their order, with partners and clusters by name and money with its currency.
pub(in crate::http) fn recorded_values(
    activity: &events::Activity,
    names: &Names<'_>,
    currency: &str,
    leave_out: &[&str],
) -> Vec<(&'static str, String)> {
    let types: HashMap<&str, FieldType> = events::ActivityKind::all_fields().into_iter().collect();
    let columns = crate::exports::value_columns().iter().zip(crate::exports::values(activity));
    columns
        .filter(|(column, value)| !leave_out.contains(&column.name.as_str()) && *value != crate::exports::Cell::Empty)
        .map(|(column, value)| {
            let text = match (&value, types.get(column.name.as_str())) {
                (crate::exports::Cell::Money(m), _) => money(&m.to_string(), currency),
                (_, Some(FieldType::Partner)) => names.partner(&value.text()).to_owned(),
                (_, Some(FieldType::Partners)) => {
                    value.text().split("; ").map(|p| names.partner(p)).collect::<Vec<_>>().join("; ")
                }
                (_, Some(FieldType::Cluster)) => names.cluster(&value.text()).to_owned(),
                _ => value.text(),
            };
            (column.name.as_str(), text)
        })
        .collect()
}

type Pick = fn(&IndicatorReport) -> &std::collections::BTreeMap<String, String>;

/// A breakdown: a row per partner (or cluster) of the report, by name, a column per indicator.
fn breakdown(title: &str, anchor: &str, report: &ProgressReport, pick: Pick, name: &dyn Fn(&str) -> String) -> Markup {
    let keys: std::collections::BTreeSet<&String> = report.indicators.iter().flat_map(|i| pick(i).keys()).collect();
    let mut rows: Vec<(String, &String)> = keys.into_iter().map(|k| (name(k), k)).collect();
    rows.sort_by_key(|r| r.0.to_lowercase());
    let heading = if anchor == "by-partner" { "partner" } else { "cluster" };
    html! {
        h2 id=(anchor) { (title) }
        @if rows.is_empty() { p.meta { "No indicators yet." } } @else {
            (scroll_region(title, html! {
                table {
                    thead { tr { th scope="col" { (heading) } @for i in &report.indicators { th.num scope="col" { (i.label) } } } }
                    tbody {
                        @for (name, key) in &rows {
                            tr { th scope="row" { (name) }
                                @for i in &report.indicators { td.num { (pick(i).get(*key).map_or("–".to_owned(), |v| grouped(v))) } } }
                        }
                    }
                }
            }))
        }
    }
}

/// Everything below the heading and the form: indicators, breakdowns, budget and latest activities.
pub(super) fn sections(projection: &ProgressProjection, definition: &Programme, report: &ProgressReport) -> Markup {
    let names = Names::of(definition);
    let ended = report.as_of >= definition.ends_on;
    let b = &report.budget;
    let latest = latest(projection, report, &names, &b.currency);
    let id = &report.programme;
    html! {
        h2 id="indicators" { "Indicators" }
        (indicator_table("Indicators", report, ended))
        (breakdown("By partner", "by-partner", report, |i| &i.by_partner, &|k| names.partner(k).to_owned()))
        (breakdown("By cluster", "by-cluster", report, |i| &i.by_cluster, &|k| names.cluster(k).to_owned()))
        h2 id="budget" { "Budget" }
        (scroll_region("Budget", html! {
            table {
                tbody {
                    tr { th scope="row" { "Programme budget" } td.num { (b.total.as_deref().map_or("not stated".to_owned(), |t| money(t, &b.currency))) } }
                    tr { th scope="row" { "Partner budget shares" } td.num { (money(&b.partner_shares, &b.currency)) } }
                    tr { th scope="row" { "Grants awarded" } td.num { (money(&b.grants_awarded, &b.currency)) } }
                    tr { th scope="row" { "Grants paid" } td.num { (money(&b.grants_paid, &b.currency)) } }
                }
            }
        }))
        h2 id="latest" { "Latest activities" }
        @if latest.is_empty() { p.meta { "None recorded on or before " (report.as_of) "." } } @else {
            p.meta { "The " (latest.len()) " that occurred last on or before " (report.as_of) ", the latest first." }
            (scroll_region("Latest activities", html! {
                table {
                    thead { tr { th scope="col" { "occurred on" } th scope="col" { "title" } th scope="col" { "kind" }
                        th scope="col" { "partner" } th scope="col" { "recorded values" } th scope="col" { "status" } th scope="col" { "data" } } }
                    tbody {
                        @for a in &latest {
                            tr { td.num { (a.occurred_on) } th scope="row" { @if a.title.is_empty() { "(untitled)" } @else { (a.title) } }
                                td { (a.kind) } td { (a.partner) } td { (a.details) } td { (a.status) }
                                td { a href={ "/v1/programmes/" (id) "/activities/" (a.id) } aria-label={ "JSON of activity " (a.id) } { "JSON" } } }
                        }
                    }
                }
            }))
        }
    }
}
