//! Files funders accept, made from a progress report: the XLSX workbook (`xlsx`), the IATI 2.03 document
//! (`iati`) and activities as CSV (here). The rows of an activities file are `ActivityRow`s.

mod iati;
mod xlsx;

pub use iati::{iati, IatiDocument, UnmetRule};
pub use xlsx::progress_xlsx;

/// One activity as a row of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRow {
    pub id: String,
    pub occurred_on: String,
    pub kind: String,
    pub partner: String,
    pub cluster: String,
    pub status: String,
    pub version: u64,
    pub position: u64,
}

pub(crate) const ACTIVITY_COLUMNS: [&str; 8] = ["id", "occurred_on", "kind", "partner", "cluster", "status", "version", "position"];

/// Activities as CSV, one row each.
pub fn activities_csv(activities: &[ActivityRow]) -> String {
    let mut out = ACTIVITY_COLUMNS.join(",");
    out.push('\n');
    for a in activities {
        let fields = [
            a.id.clone(), a.occurred_on.clone(), a.kind.clone(), a.partner.clone(), a.cluster.clone(), a.status.clone(),
            a.version.to_string(), a.position.to_string(),
        ];
        let row: Vec<String> = fields.iter().map(|f| crate::report::csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}
