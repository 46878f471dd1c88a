//! The activities of a programme as rows of a file people hand in: one row per activity as it stood at the
//! report's position, dated on or before its `as_of`, with every value recorded for it. The columns are made
//! from the field catalogue (`ActivityKind::all_fields`: the common fields, then every kind's own fields in
//! catalogue order; `participants` as its three parts), so a new field of a kind is a new column without a second
//! list to keep in step. `evidence` and a custom activity's `attributes` are lists of their own, written as one
//! text each. Also the activities CSV, whose rows start, like the progress CSV's, with what the file reflects.

use std::sync::OnceLock;

use events::activity::{AttributeValue, Evidence, FieldType};
use events::{Activity, ActivityKind, FieldValue, Money, Quantity};
use projections::{ActivityFilter, ProgressProjection, ProgressReport};

/// Where a column's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A field read by its dotted path (`Activity::field`).
    Field(&'static str),
    /// The evidence list.
    Evidence,
    /// A custom activity's attributes.
    Attributes,
}

/// A column of an activities file: its heading and where its values come from.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    source: Source,
}

/// The columns of the recorded values, in order (without `id`, `status`, `version` and `position`, which every
/// row has besides).
pub fn value_columns() -> &'static [Column] {
    static COLUMNS: OnceLock<Vec<Column>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut columns = Vec::new();
        let field = |name: &'static str| Column { name: name.to_owned(), source: Source::Field(name) };
        for (name, kind) in ActivityKind::all_fields() {
            match kind {
                FieldType::Participants => {
                    for part in ["participants.total", "participants.women", "participants.migrants"] {
                        columns.push(field(part));
                    }
                }
                _ => columns.push(field(name)),
            }
            // The common fields end with `notes`; the evidence list is the last common one.
            if name == "notes" {
                columns.push(Column { name: "evidence".into(), source: Source::Evidence });
            }
        }
        columns.push(Column { name: "attributes".into(), source: Source::Attributes });
        columns
    })
}

/// A recorded value as a cell: numbers stay numbers (money with its two decimals), anything else is text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Empty,
    Text(String),
    Whole(i64),
    Money(Money),
    Decimal(Quantity),
    Bool(bool),
}

impl Cell {
    /// The cell as text, as a CSV or a table shows it.
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) => text.clone(),
            Cell::Whole(n) => n.to_string(),
            Cell::Money(m) => m.to_string(),
            Cell::Decimal(q) => q.to_string(),
            Cell::Bool(b) => b.to_string(),
        }
    }
}

fn cell(value: FieldValue<'_>) -> Cell {
    match value {
        FieldValue::Text(text) => Cell::Text(text.to_owned()),
        FieldValue::Date(day) => Cell::Text(day.to_string()),
        FieldValue::Whole(n) => Cell::Whole(n),
        FieldValue::Money(m) => Cell::Money(m),
        FieldValue::Decimal(q) => Cell::Decimal(q),
        FieldValue::Bool(b) => Cell::Bool(b),
        FieldValue::List(items) => Cell::Text(items.into_iter().map(|item| cell(item).text()).collect::<Vec<_>>().join("; ")),
    }
}

/// Evidence as one text: `title <url> sha256:…` per item, items separated by `; `.
fn evidence_text(evidence: &[Evidence]) -> String {
    let items = evidence.iter().map(|e| {
        let mut item = e.title.clone();
        if let Some(url) = &e.url {
            item.push_str(&format!(" <{url}>"));
        }
        if let Some(sha) = &e.sha256 {
            item.push_str(&format!(" sha256:{sha}"));
        }
        item
    });
    items.collect::<Vec<_>>().join("; ")
}

/// A custom activity's attributes as one text: `name=value` in name order, separated by `; `.
fn attributes_text(activity: &Activity) -> String {
    let events::ActivityDetails::Custom(custom) = &activity.details else { return String::new() };
    let items = custom.attributes.iter().map(|(name, value)| match value {
        AttributeValue::Text(text) => format!("{name}={text}"),
        AttributeValue::Whole(n) => format!("{name}={n}"),
        AttributeValue::Bool(b) => format!("{name}={b}"),
    });
    items.collect::<Vec<_>>().join("; ")
}

/// Every recorded value of an activity, one per [`value_columns`].
pub fn values(activity: &Activity) -> Vec<Cell> {
    let text_or_empty = |text: String| if text.is_empty() { Cell::Empty } else { Cell::Text(text) };
    value_columns()
        .iter()
        .map(|column| match column.source {
            Source::Field(path) => activity.field(path).map_or(Cell::Empty, cell),
            Source::Evidence => text_or_empty(evidence_text(&activity.evidence)),
            Source::Attributes => text_or_empty(attributes_text(activity)),
        })
        .collect()
}

/// One activity as a row of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRow {
    pub id: String,
    /// One per [`value_columns`].
    pub values: Vec<Cell>,
    pub status: String,
    pub version: u64,
    /// The position of the activity's last event the row reflects.
    pub position: u64,
}

/// The rows of an export: every activity of the programme that passes `filter`, as it stood at `position`, in
/// the order they were recorded.
pub fn activity_rows(projection: &ProgressProjection, programme: &str, position: u64, filter: &ActivityFilter) -> Vec<ActivityRow> {
    projection
        .activities(programme)
        .filter_map(|(id, history)| {
            let revision = history.at(position)?;
            if !filter.accepts(&revision) {
                return None;
            }
            Some(ActivityRow {
                id: id.to_string(),
                values: values(&revision.activity()?),
                status: revision.status().as_str().to_owned(),
                version: history.version_at(position),
                position: revision.position(),
            })
        })
        .collect()
}

/// The rows a report reflects: the activities as they stood at its position, dated on or before its `as_of`,
/// that pass `filter`.
pub fn report_rows(projection: &ProgressProjection, report: &ProgressReport, filter: &ActivityFilter) -> Vec<ActivityRow> {
    let mut filter = filter.clone();
    filter.to = Some(filter.to.map_or(report.as_of, |to| to.min(report.as_of)));
    activity_rows(projection, &report.programme, report.position, &filter)
}

/// The headings of what a file reflects, the first columns of every CSV row: the report's programme, `as_of`,
/// `known_at`, the log position it reflects and the chain hash there. A comment line would break many RFC 4180
/// readers; five columns of the same values on every row survive any reader, a spreadsheet and a copy of one
/// row.
pub const REFLECTS_COLUMNS: [&str; 5] = ["programme", "as_of", "known_at", "log_position", "log_hash"];

/// What a file reflects, in the order of [`REFLECTS_COLUMNS`].
pub fn reflects(report: &ProgressReport) -> [String; 5] {
    [
        report.programme.clone(),
        report.as_of.to_string(),
        report.known_at.clone().unwrap_or_default(),
        report.position.to_string(),
        report.hash.clone().unwrap_or_default(),
    ]
}

/// Every heading of an activities file, in order.
pub fn activity_headings() -> Vec<&'static str> {
    let mut headings = vec!["id"];
    headings.extend(value_columns().iter().map(|c| c.name.as_str()));
    headings.extend(["status", "version", "position"]);
    headings
}

/// Activities as CSV (RFC 4180: CRLF line ends), one row each, every row starting with what the file reflects.
pub fn activities_csv(report: &ProgressReport, activities: &[ActivityRow]) -> String {
    let mut headings = REFLECTS_COLUMNS.to_vec();
    headings.extend(activity_headings());
    let mut out = crate::report::csv_line(headings.iter().copied());
    let context = reflects(report);
    for a in activities {
        let mut fields = context.to_vec();
        fields.push(a.id.clone());
        fields.extend(a.values.iter().map(Cell::text));
        fields.extend([a.status.clone(), a.version.to_string(), a.position.to_string()]);
        out.push_str(&crate::report::csv_line(fields.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of every kind has a column, once, with the participants' parts and the two lists.
    #[test]
    fn the_columns_cover_every_field_of_every_kind_once() {
        let names: Vec<&str> = value_columns().iter().map(|c| c.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for kind in ActivityKind::ALL {
            for (field, field_type) in kind.own_fields() {
                let present = match field_type {
                    FieldType::Participants => names.contains(&"participants.women"),
                    _ => names.contains(field),
                };
                assert!(present, "{kind}: {field}");
            }
        }
        assert_eq!(names[..7], ["kind", "occurred_on", "ends_on", "partner", "title", "notes", "evidence"]);
        assert_eq!(names.last(), Some(&"attributes"));
    }

    /// The values of one activity by column name, the empty ones left out.
    fn written(body: serde_json::Value) -> Vec<(String, Cell)> {
        let activity = events::parse_activity(&body, None).expect("a valid activity");
        let columns = value_columns().iter().map(|c| c.name.clone());
        columns.zip(values(&activity)).filter(|(_, cell)| *cell != Cell::Empty).collect()
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    /// Lists, decimals, money, booleans and a custom activity's attributes keep their values and types.
    #[test]
    fn every_kind_of_value_is_written_with_its_type() {
        let peer = written(serde_json::json!({"kind": "peer_visit", "occurred_on": "2021-03-04", "host": "torino",
            "visitors": ["asti", "paris"], "participants": {"total": 9}}));
        assert!(peer.contains(&("visitors".into(), text("asti; paris"))), "{peer:?}");
        assert!(peer.contains(&("participants.total".into(), Cell::Whole(9))), "{peer:?}");
        assert!(!peer.iter().any(|(name, _)| name == "participants.women"), "{peer:?}");
        let course = written(serde_json::json!({"kind": "course_published", "occurred_on": "2021-03-04",
            "partner": "torino", "title": "MOOC", "hours": "12.5"}));
        assert!(course.contains(&("hours".into(), Cell::Decimal(Quantity::parse("12.5").unwrap()))), "{course:?}");
        let grant = written(serde_json::json!({"kind": "grant_paid", "occurred_on": "2021-03-04", "recipient": "asti",
            "amount": "20000"}));
        assert!(grant.contains(&("amount".into(), Cell::Money(Money::parse("20000").unwrap()))), "{grant:?}");
        assert_eq!(Cell::Money(Money::parse("20000").unwrap()).text(), "20000.00");
        let custom = written(serde_json::json!({"kind": "custom", "occurred_on": "2021-03-04", "partner": "asti",
            "label": "Radio show", "attributes": {"live": true, "episodes": 3, "station": "Radio Asti"},
            "evidence": [{"title": "Recording", "sha256": "ab".repeat(32)}]}));
        assert!(custom.contains(&("attributes".into(), text("episodes=3; live=true; station=Radio Asti"))), "{custom:?}");
        assert!(custom.contains(&("evidence".into(), text(&format!("Recording sha256:{}", "ab".repeat(32))))), "{custom:?}");
        assert!(custom.contains(&("label".into(), text("Radio show"))), "{custom:?}");
    }
}
