//! Bulk import of activities from a spreadsheet (`POST …/imports`): the sheets of an uploaded CSV or XLSX file
//! turned into one activity body per row, in the shape `POST …/activities` takes, so that every row is decided
//! by the same reader and command as an activity sent alone and gets the same fault messages. Columns are the
//! fields of the catalogue (`ActivityKind::all_fields`, `participants` as its three parts, `evidence` and
//! `attributes` as the activities export writes them), so an exported activities file reads back; the columns an
//! export adds to describe itself (what it reflects, `id`, `status`, `version`, `position`) are not activity
//! fields and are passed over, except `programme`, which must name the programme imported into. An empty cell
//! is an absent field. The kind comes from a `kind` column, or else from the name of the sheet.

pub mod read;

use events::activity::FieldType;
use events::{ActivityKind, Fault};
use serde_json::{json, Map, Value};

pub use read::{CellValue, Sheet, Unreadable};

/// Columns of an activities export that describe the file or the activity's place in the log, not its fields.
const EXPORT_COLUMNS: [&str; 7] = ["as_of", "known_at", "log_position", "log_hash", "status", "version", "position"];

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Kind,
    /// The programme an export was made for: must be the one imported into.
    Programme,
    Field(&'static str, FieldType),
    /// `participants.total`, `.women` or `.migrants`.
    Participants(&'static str),
    Evidence,
    Attributes,
    /// A column of an export that is not an activity field.
    Ignored,
    /// An export's `id`: the activity the row was exported from.
    Id,
    /// A column without a heading: it must stay empty.
    Unnamed,
}

/// Where a fault is: a sheet (none in a CSV file), a row and, when it concerns one cell, its column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub sheet: Option<String>,
    pub row: u32,
    pub column: Option<u32>,
}

impl Place {
    /// The place as a spreadsheet reference: `staff_exchange!D4` for a cell, `staff_exchange!4:4` for a whole
    /// row; without the sheet for a CSV file.
    pub fn reference(&self) -> String {
        let sheet = self.sheet.as_ref().map(|s| format!("{}!", quoted_sheet(s))).unwrap_or_default();
        match self.column {
            Some(column) => format!("{sheet}{}{}", read::column_letters(column), self.row),
            None => format!("{sheet}{row}:{row}", row = self.row),
        }
    }
}

/// A sheet name as a reference writes it: quoted when it is not one plain word.
fn quoted_sheet(name: &str) -> String {
    if name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        name.to_owned()
    } else {
        format!("'{}'", name.replace('\'', "''"))
    }
}

/// A fault of the file's layout (its headings), found before any row is read.
#[derive(Clone, Debug)]
pub struct LayoutFault {
    pub place: Place,
    pub message: String,
}

/// A row read into an activity body.
#[derive(Clone, Debug)]
pub struct RowBody {
    pub sheet: Option<String>,
    pub row: u32,
    /// The body, as `POST …/activities` takes it.
    pub body: Value,
    /// Faults of the cells themselves, found before the body is decided (a list the reader cannot split,
    /// a value under a column without heading, another programme).
    pub faults: Vec<Fault>,
    /// The column of each field heading, to place the faults the decision names.
    columns: Vec<(String, u32)>,
    /// The activity the row was exported from (an export's `id` column): a row of an activity already in the
    /// programme is not recorded again.
    pub exported: Option<uuid::Uuid>,
}

impl RowBody {
    /// Where a fault named by its field (`participants.women`, `evidence[0].url`, `kind`) lies in this row.
    pub fn place(&self, field: &str) -> Place {
        if field.is_empty() {
            // A fault of the whole row (a column without a heading is named "" too, and must not take it).
            return Place { sheet: self.sheet.clone(), row: self.row, column: None };
        }
        let column = self.column_of(field).map(|(_, c)| *c);
        Place { sheet: self.sheet.clone(), row: self.row, column }
    }

    /// The heading of the column a fault named by its field lies in (a form names its fields as the columns
    /// are named, so this is also the field of a form a fault belongs to); `None` for a fault of the whole row.
    pub fn heading_of(&self, field: &str) -> Option<&str> {
        self.column_of(field).map(|(heading, _)| heading.as_str())
    }

    /// The field itself, else the list or object it is an item of (`evidence[0].url` → `evidence`,
    /// `participants.women` → itself, `visitors[1]` → `visitors`).
    fn column_of(&self, field: &str) -> Option<&(String, u32)> {
        if field.is_empty() {
            return None;
        }
        let head = field.split('[').next().unwrap_or(field);
        [field, head, head.split('.').next().unwrap_or(head)]
            .iter()
            .find_map(|name| self.columns.iter().find(|(heading, _)| heading == name))
    }
}

fn column_of(heading: &str) -> Option<Column> {
    if heading == "kind" {
        return Some(Column::Kind);
    }
    if heading == "programme" {
        return Some(Column::Programme);
    }
    if heading.is_empty() {
        return Some(Column::Unnamed);
    }
    if EXPORT_COLUMNS.contains(&heading) {
        return Some(Column::Ignored);
    }
    if heading == "id" {
        return Some(Column::Id);
    }
    match heading {
        "evidence" => return Some(Column::Evidence),
        "attributes" => return Some(Column::Attributes),
        "participants.total" => return Some(Column::Participants("total")),
        "participants.women" => return Some(Column::Participants("women")),
        "participants.migrants" => return Some(Column::Participants("migrants")),
        _ => {}
    }
    ActivityKind::all_fields()
        .into_iter()
        .find(|(name, field_type)| *name == heading && *field_type != FieldType::Participants)
        .map(|(name, field_type)| Column::Field(name, field_type))
}

/// The columns every heading may name, for a message about one that names none.
fn known_headings() -> String {
    let mut names: Vec<String> = vec!["kind".into()];
    for (name, field_type) in ActivityKind::all_fields().into_iter().skip(1) {
        match field_type {
            FieldType::Participants => {
                names.extend(["participants.total", "participants.women", "participants.migrants"].map(String::from))
            }
            _ => names.push(name.into()),
        }
        if name == "notes" {
            names.push("evidence".into());
        }
    }
    names.push("attributes".into());
    names.join(", ")
}

/// Reads the rows of the sheets into activity bodies for `programme`, or every fault of their headings. Rows
/// whose cells are all empty are passed over.
pub fn row_bodies(sheets: &[Sheet], programme: &str) -> Result<Vec<RowBody>, Vec<LayoutFault>> {
    let mut faults = Vec::new();
    let mut bodies = Vec::new();
    for sheet in sheets {
        let place = |column: Option<u32>| Place { sheet: sheet.name.clone(), row: sheet.heading_row, column };
        let mut columns = Vec::new();
        for (i, heading) in sheet.headings.iter().enumerate() {
            let at = Some(i as u32);
            match column_of(heading) {
                Some(column) if column != Column::Unnamed && sheet.headings[..i].contains(heading) => faults
                    .push(LayoutFault { place: place(at), message: format!("the column '{heading}' appears twice; keep one") }),
                Some(column) => columns.push((heading.clone(), i as u32, column)),
                None => faults.push(LayoutFault {
                    place: place(at),
                    message: format!("unknown column '{heading}': use the field names of the activity kinds ({})", known_headings()),
                }),
            }
        }
        let has_kind = columns.iter().any(|(_, _, c)| *c == Column::Kind);
        if !has_kind && sheet.name.is_none() {
            faults.push(LayoutFault {
                place: place(None),
                message: "the file has no 'kind' column: add one naming each row's activity kind".into(),
            });
        }
        if !faults.is_empty() {
            continue;
        }
        for row in sheet.rows.iter().filter(|row| row.cells.iter().any(|c| !c.is_empty())) {
            bodies.push(row_body(sheet, row, &columns, has_kind, programme));
        }
    }
    if faults.is_empty() {
        Ok(bodies)
    } else {
        Err(faults)
    }
}

/// One activity body of `kind` from values named as the columns are (the fields of a form in the browser), read
/// as a row under those headings: the same conversion by the catalogue's field types as a file's, so a form and
/// a file give the same body and the same faults. An empty value is an absent field.
pub fn named_body(kind: ActivityKind, values: &[(&str, String)], programme: &str) -> Result<RowBody, Vec<LayoutFault>> {
    let mut headings = vec!["kind".to_owned()];
    let mut cells = vec![CellValue::Text(kind.as_str().to_owned())];
    for (name, value) in values {
        headings.push((*name).to_owned());
        cells.push(CellValue::Text(value.clone()));
    }
    let sheet = Sheet { name: None, headings, heading_row: 1, rows: vec![read::Row { number: 2, cells }] };
    // The kind is never empty, so the row is read.
    Ok(row_bodies(&[sheet], programme)?.remove(0))
}

fn row_body(sheet: &Sheet, row: &read::Row, columns: &[(String, u32, Column)], has_kind: bool, programme: &str) -> RowBody {
    let mut body = Map::new();
    let mut faults = Vec::new();
    let mut exported = None;
    if !has_kind {
        body.insert("kind".into(), json!(sheet.name.clone().unwrap_or_default()));
    }
    for (heading, column, what) in columns {
        let Some(cell) = row.cells.get(*column as usize).filter(|c| !c.is_empty()) else {
            continue;
        };
        match *what {
            Column::Kind => {
                body.insert("kind".into(), json!(cell.text()));
            }
            Column::Programme if cell.text() != programme => faults.push(Fault::new(
                "programme",
                format!("this row is of programme '{}', not '{programme}': import it into its own programme", cell.text()),
            )),
            Column::Programme | Column::Ignored => {}
            Column::Id => match uuid::Uuid::parse_str(&cell.text()) {
                Ok(id) => exported = Some(id),
                Err(_) => faults.push(Fault::new(
                    heading.clone(),
                    format!("'{}' is not an activity id: keep the id an export wrote, or clear the cell", cell.text()),
                )),
            },
            Column::Unnamed => {
                let letters = read::column_letters(*column);
                faults.push(Fault::new("", format!("a value in column {letters}, which has no heading: name the column or clear it")))
            }
            Column::Field(name, field_type) => {
                body.insert(name.into(), value(cell, field_type));
            }
            Column::Participants(part) => {
                let participants = body.entry("participants").or_insert_with(|| json!({}));
                participants[part] = whole(cell);
            }
            Column::Evidence => match evidence(&cell.text()) {
                Ok(items) => {
                    body.insert("evidence".into(), items);
                }
                Err(message) => faults.push(Fault::new(heading.clone(), message)),
            },
            Column::Attributes => match attributes(&cell.text()) {
                Ok(map) => {
                    body.insert("attributes".into(), map);
                }
                Err(message) => faults.push(Fault::new(heading.clone(), message)),
            },
        }
    }
    for (column, _) in row.cells.iter().enumerate().skip(sheet.headings.len()).filter(|(_, cell)| !cell.is_empty()) {
        let letters = read::column_letters(column as u32);
        faults.push(Fault::new("", format!("a value in column {letters}, which has no heading: name the column or clear it")));
    }
    let columns = columns.iter().map(|(heading, column, _)| (heading.clone(), *column)).collect();
    RowBody { sheet: sheet.name.clone(), row: row.number, body: Value::Object(body), faults, columns, exported }
}

/// A cell as the JSON value the field takes; a value of the wrong type is passed on as it is, for the reader
/// to name the fault as it does for any body.
fn value(cell: &CellValue, field_type: FieldType) -> Value {
    match field_type {
        FieldType::Whole => whole(cell),
        FieldType::Partners | FieldType::Languages => {
            let text = cell.text();
            json!(text.split([';', ',']).map(str::trim).filter(|item| !item.is_empty()).collect::<Vec<_>>())
        }
        _ => json!(cell.text()),
    }
}

fn whole(cell: &CellValue) -> Value {
    let text = cell.text();
    match text.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(text),
    }
}

/// Evidence as the export writes it: items separated by `;`, each `title <url> sha256:…` with the link and the
/// digest optional.
fn evidence(text: &str) -> Result<Value, String> {
    let mut items = Vec::new();
    for item in text.split(';').map(str::trim).filter(|item| !item.is_empty()) {
        let mut rest = item;
        let mut entry = Map::new();
        if let Some((before, sha)) = rest.rsplit_once(" sha256:").or_else(|| rest.strip_prefix("sha256:").map(|s| ("", s))) {
            entry.insert("sha256".into(), json!(sha.trim()));
            rest = before.trim_end();
        }
        if let Some(open) = rest.rfind('<').filter(|_| rest.ends_with('>')) {
            entry.insert("url".into(), json!(rest[open + 1..rest.len() - 1].trim()));
            rest = rest[..open].trim_end();
        }
        if rest.is_empty() {
            return Err(format!("the evidence '{item}' has no title: write each item as 'title <url> sha256:…', items separated by ';'"));
        }
        entry.insert("title".into(), json!(rest));
        items.push(Value::Object(entry));
    }
    Ok(Value::Array(items))
}

/// A custom activity's attributes as the export writes them: `name=value` separated by `;`; `true` and `false`
/// are booleans and whole numbers are numbers, anything else is text.
fn attributes(text: &str) -> Result<Value, String> {
    let mut map = Map::new();
    for item in text.split(';').map(str::trim).filter(|item| !item.is_empty()) {
        let Some((name, value)) = item.split_once('=') else {
            return Err(format!("the attribute '{item}' has no value: write each as name=value, separated by ';'"));
        };
        let value = value.trim();
        let value = match value {
            "true" => json!(true),
            "false" => json!(false),
            _ => value.parse::<i64>().map_or_else(|_| json!(value), |n| json!(n)),
        };
        map.insert(name.trim().to_owned(), value);
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(text: &str) -> Sheet {
        read::csv(text.as_bytes()).unwrap()
    }

    #[test]
    fn rows_become_the_bodies_the_api_takes() {
        let rows = row_bodies(
            &[sheet("kind,occurred_on,host,visitors,participants.total,participants.women,evidence,id\r\n\
                peer_visit,2021-03-04,torino,asti; paris,9,4,Minutes <https://x.eu/m> sha256:ab,0193\r\n,,,,,,,\r\n")],
            "connection",
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        let beyond = row_bodies(&[sheet("kind,,occurred_on\nstrategy_adopted,x,2021-01-01,y\n")], "connection").unwrap();
        let messages: Vec<&str> = beyond[0].faults.iter().map(|f| f.message.as_str()).collect();
        assert!(messages[0].contains("column B") && messages[1].contains("column D"), "{messages:?}");
        assert_eq!(rows[0].row, 2);
        assert_eq!(
            rows[0].body,
            json!({"kind": "peer_visit", "occurred_on": "2021-03-04", "host": "torino", "visitors": ["asti", "paris"],
                "participants": {"total": 9, "women": 4}, "evidence": [{"title": "Minutes", "url": "https://x.eu/m", "sha256": "ab"}]})
        );
        assert_eq!(rows[0].place("participants.women").reference(), "F2");
        assert_eq!(rows[0].place("evidence[0].url").reference(), "G2");
        assert_eq!(rows[0].place("").reference(), "2:2");
    }

    #[test]
    fn unknown_and_doubled_headings_and_a_missing_kind_are_named_by_their_cell() {
        let faults = row_bodies(&[sheet("occurred_on,colour,host,host\r\n2021-01-01,red,torino,asti\r\n")], "connection").unwrap_err();
        let found: Vec<(String, bool)> = faults.iter().map(|f| (f.place.reference(), f.message.contains("'kind'"))).collect();
        assert_eq!(found, [("B1".into(), false), ("D1".into(), false), ("1:1".into(), true)]);
    }

    #[test]
    fn a_column_without_heading_does_not_take_the_faults_of_its_row() {
        // A header line ending in a comma, as spreadsheets often save it.
        let rows = row_bodies(&[sheet("kind,occurred_on,\r\ncustom,2021-01-01,\r\n")], "connection").unwrap();
        assert_eq!(rows[0].place("").reference(), "2:2", "the whole row");
        assert_eq!(rows[0].place("occurred_on").reference(), "B2");
    }

    #[test]
    fn attributes_keep_their_types() {
        assert_eq!(attributes("live=true; episodes=3; station=Radio Asti").unwrap(), json!({"live": true, "episodes": 3, "station": "Radio Asti"}));
        assert!(attributes("live").is_err());
    }

    #[test]
    fn a_sheet_reference_quotes_names_with_spaces() {
        let place = Place { sheet: Some("Staff exchanges".into()), row: 4, column: Some(3) };
        assert_eq!(place.reference(), "'Staff exchanges'!D4");
    }
}
