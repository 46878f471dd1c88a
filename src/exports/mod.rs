//! Files funders accept, made from a progress report: the XLSX workbook (`xlsx`), the IATI 2.03 document
//! (`iati`) and the activities as rows and as CSV (`activities`). Every file states what it reflects — the
//! programme, `as_of`, `known_at`, the log position and the chain hash there — and holds no date but those
//! derived from the log, so the same query with `at_position` gives the same bytes forever.

mod activities;
mod iati;
mod xlsx;

pub use activities::{
    activities_csv, activity_headings, activity_rows, reflects, report_rows, value_columns, values, ActivityRow, Cell,
    REFLECTS_COLUMNS,
};
pub use iati::{iati, IatiDocument, UnmetRule};
pub use xlsx::progress_xlsx;
