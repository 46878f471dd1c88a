//! Bulk upload, `/programmes/{id}/upload`, for the programme's coordinator or an admin: a CSV or XLSX file of
//! activities is checked first — every row's faults at once (row, column, message) and how many rows are valid,
//! nothing recorded — and then, when every row is valid, recorded by a "Record N activities" button. Both steps
//! run `imports::import_file`, the code of `POST /v1/programmes/{id}/imports`, so a row has the faults the API
//! gives it and is recorded the way the API records it.
//!
//! The commit form carries the file itself, base64 in a hidden field, rather than asking for it again or keeping
//! it on the server. Keeping it would be state that outlives the request; asking again lets a person commit
//! another file (or another version of it) than the one they checked. The hidden copy is what was checked, byte
//! for byte. Nothing in it is trusted: the commit reads and decides every row again as any upload of those bytes
//! by this person would be, and records nothing if one row has a fault. An upload sent twice still records
//! nothing twice, because that is the import's own rule whichever way the bytes come: each row is recorded under
//! ids reserved in the record store for its identity (the activity's content and its rank among equal rows of
//! the file), so committing the same file again — the button pressed twice, the page reloaded, the file chosen
//! anew — finds every row recorded already. The cost is a page as large as the file in base64 (at most 4/3 of
//! the import's 4 MiB limit), which is why these routes take bodies of that size, like the import endpoint.

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use maud::{html, Markup};
use serde::Deserialize;

use super::coordinator::{confirmation, failure_page, managed, Managed};
use super::SignedIn;
use crate::http::dashboard::layout::{error_summary, scroll_region};
use crate::http::error::ApiError;
use crate::http::imports::{import_file, FileKind, Imported, MAX_IMPORT_BYTES};
use crate::http::AppState;
use crate::imports::read::column_letters;

/// The largest body the upload routes take: the largest file in base64 and room for the other fields.
const MAX_UPLOAD_BODY: usize = MAX_IMPORT_BYTES / 3 * 4 + 4 + 64 * 1024;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/programmes/{id}/upload", get(upload_page).post(upload)).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY))
}

/// What the page says was recorded, after the redirect that follows a commit.
#[derive(Debug, Default, Deserialize)]
struct Done {
    recorded: Option<usize>,
    already: Option<usize>,
    refused: Option<usize>,
}

async fn upload_page(State(state): State<AppState>, viewer: SignedIn, Path(id): Path<String>, done: Result<Query<Done>, QueryRejection>) -> Response {
    let managed = match managed(&state, viewer, &id).await {
        Ok(managed) => managed,
        Err(page) => return page,
    };
    // Counts that cannot be read are left out: they only say what the last request did.
    let Query(done) = done.unwrap_or_default();
    let message = done.recorded.map(|recorded| {
        let mut message = format!("Recorded {recorded} {}.", activities(recorded));
        if let Some(already) = done.already.filter(|n| *n > 0) {
            message.push_str(&format!(" {already} {} recorded before.", if already == 1 { "row was" } else { "rows were" }));
        }
        if let Some(refused) = done.refused.filter(|n| *n > 0) {
            message.push_str(&format!(" {refused} {} refused: the programme changed since the check; check the file again.", rows(refused)));
        }
        message
    });
    let body = html! {
        (heading(&managed))
        @if let Some(message) = &message { (confirmation(message)) }
        (choose_form(&managed, None))
    };
    (StatusCode::OK, managed.viewer.page(&title(&managed), body)).into_response()
}

/// The file of an upload as posted: chosen in the file input, or carried back by the commit form.
#[derive(Debug, Default)]
struct Upload {
    name: String,
    media_type: String,
    bytes: Vec<u8>,
    commit: bool,
}

async fn upload(State(state): State<AppState>, viewer: SignedIn, Path(id): Path<String>, form: Result<Multipart, MultipartRejection>) -> Response {
    let managed = match managed(&state, viewer, &id).await {
        Ok(managed) => managed,
        Err(page) => return page,
    };
    let upload = match read_form(form).await {
        Ok(upload) => upload,
        Err(error) if error.status() == StatusCode::BAD_REQUEST => return failure_page(&managed.viewer, &error),
        Err(error) => return refused(&managed, &error),
    };
    if upload.bytes.is_empty() {
        return refused(&managed, &ApiError::invalid("no file", "file", "choose a CSV or XLSX file"));
    }
    if upload.bytes.len() > MAX_IMPORT_BYTES {
        return refused(&managed, &too_large());
    }
    // Browsers name a CSV file's type in several ways (text/csv, application/vnd.ms-excel…): its name says more.
    let lower = upload.name.to_ascii_lowercase();
    let kind = if lower.ends_with(".csv") {
        Some(FileKind::Csv)
    } else if lower.ends_with(".xlsx") {
        Some(FileKind::Xlsx)
    } else {
        FileKind::of_media_type(&upload.media_type)
    };
    let Some(kind) = kind else {
        let message = "the file must be a CSV (.csv) or XLSX (.xlsx) file";
        return refused(&managed, &file_fault(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message.to_owned()));
    };
    let bytes = axum::body::Bytes::from(upload.bytes);
    match import_file(&state, managed.principal.clone(), managed.id.clone(), kind, bytes.clone(), upload.commit).await {
        Err(error) => refused(&managed, &error),
        Ok(imported) if imported.committed => {
            let (recorded, already, refused) = (imported.count("recorded"), imported.count("already_recorded"), imported.count("faulty"));
            let target = format!("/programmes/{}/upload?recorded={recorded}&already={already}&refused={refused}", managed.id);
            Redirect::to(&target).into_response()
        }
        Ok(imported) => preview(&managed, &upload.name, &upload.media_type, &bytes, &imported),
    }
}

/// The fields of the form, in the order they come: the CSRF field (not the page's business), then the file — a
/// file part, or the commit form's `content` (base64), `file_name` and `media_type` — and `commit`.
async fn read_form(form: Result<Multipart, MultipartRejection>) -> Result<Upload, ApiError> {
    let unread = |status, detail| ApiError::new(status, "bad_request", "the form could not be read").detail(detail);
    let mut form = form.map_err(|rejection| unread(rejection.status(), rejection.body_text()))?;
    let unreadable = |error: axum::extract::multipart::MultipartError| {
        let status = error.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            unread(status, error.body_text())
        }
    };
    let mut upload = Upload::default();
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name().unwrap_or("") {
            "file" => {
                upload.name = field.file_name().unwrap_or("").to_owned();
                upload.media_type = field.content_type().unwrap_or("").to_owned();
                upload.bytes = field.bytes().await.map_err(unreadable)?.to_vec();
            }
            "content" => {
                let text = field.text().await.map_err(unreadable)?;
                upload.bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| ApiError::invalid("unreadable file", "file", "the file sent back is damaged; choose it again"))?;
            }
            "file_name" => upload.name = field.text().await.map_err(unreadable)?,
            "media_type" => upload.media_type = field.text().await.map_err(unreadable)?,
            "commit" => upload.commit = field.text().await.map_err(unreadable)? == "true",
            // The CSRF field, and anything else a form may carry.
            _ => drop(field.bytes().await.map_err(unreadable)?),
        }
    }
    Ok(upload)
}

/// A fault of the file as a whole, with its status.
fn file_fault(status: StatusCode, kind: &'static str, message: String) -> ApiError {
    ApiError::new(status, kind, "the file cannot be imported").errors(vec![events::Fault::new("file", message)])
}

fn too_large() -> ApiError {
    let message = format!("the file is larger than {} MiB; split it", MAX_IMPORT_BYTES / (1024 * 1024));
    file_fault(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
}

fn title(managed: &Managed) -> String {
    format!("Bulk upload: {}", managed.definition().name)
}

fn heading(managed: &Managed) -> Markup {
    let id = &managed.id;
    html! {
        h1 { (title(managed)) }
        p { a href={ "/programmes/" (id) } { "Progress of " (managed.definition().name) } " · "
            a href={ "/programmes/" (id) "/queue" } { "Approval queue" } " · "
            a href={ "/programmes/" (id) "/manage" } { "Programme setup" } }
    }
}

fn activities(n: usize) -> &'static str {
    if n == 1 { "activity" } else { "activities" }
}

fn rows(n: usize) -> &'static str {
    if n == 1 { "row was" } else { "rows were" }
}

/// The form to choose a file, with the fault of the last one next to it.
fn choose_form(managed: &Managed, fault: Option<&str>) -> Markup {
    html! {
        h2 id="choose" { "Check a file" }
        p { "A CSV file with a " code { "kind" } " column, or an XLSX workbook with one sheet per kind, its columns named
            as the activities export names them (an export reads back). At most 4 MiB and 10,000 rows. Nothing is
            recorded until you have seen the result of the check." }
        form method="post" enctype="multipart/form-data" action={ "/programmes/" (managed.id) "/upload" } aria-labelledby="choose" {
            (managed.viewer.csrf_field())
            label for="upload-file" {
                "File (.csv or .xlsx)"
                @if let Some(fault) = fault { span.field-error id="upload-file-error" { "Error: " (fault) } }
                input type="file" id="upload-file" name="file" accept=".csv,.xlsx" required
                    aria-invalid=[fault.map(|_| "true")] aria-describedby=[fault.map(|_| "upload-file-error")];
            }
            button type="submit" { "Check the file" }
        }
    }
}

/// The page for an upload that could not be checked or recorded: the API's status, every fault in the summary
/// (a fault of a cell names it: `D3: visitor: unknown partner`), the first one by the file input.
fn refused(managed: &Managed, error: &ApiError) -> Response {
    let mut faults: Vec<(Option<&str>, String)> = error
        .faults()
        .iter()
        .map(|f| {
            let message = match f.field.as_str() {
                "" | "file" => f.message.clone(),
                place => format!("{place}: {}", f.message),
            };
            (Some("upload-file"), message)
        })
        .collect();
    let detail = error.message().to_owned();
    if faults.is_empty() {
        faults.push((Some("upload-file"), detail.clone()));
    }
    let first = faults[0].1.clone();
    let body = html! {
        (heading(managed))
        (error_summary(&faults))
        @if !error.faults().is_empty() && error.faults()[0].field != "file" { p { (detail) } }
        (choose_form(managed, Some(&first)))
    };
    (error.status(), managed.viewer.page(&format!("Error: {}", title(managed)), body)).into_response()
}

/// The result of a check: how many rows are valid and every fault of every row; when every row is valid, the
/// form that records them, carrying the file.
fn preview(managed: &Managed, name: &str, media_type: &str, bytes: &[u8], imported: &Imported) -> Response {
    let (valid, faulty, already) = (imported.count("valid"), imported.count("faulty"), imported.count("already_recorded"));
    let total = imported.outcomes.len();
    let faults: Vec<Markup> = imported
        .outcomes
        .iter()
        .flat_map(|outcome| {
            outcome.faults.iter().map(move |fault| {
                let place = outcome.row.place(&fault.field);
                html! { tr {
                    td.num { @if let Some(sheet) = &place.sheet { (sheet) " " } (place.row) }
                    td { @match place.column { Some(c) => { (column_letters(c)) } None => { "whole row" } }
                        @if !fault.field.is_empty() { " (" (fault.field) ")" } }
                    td { (fault.message) }
                } }
            })
        })
        .collect();
    let rows_have = if total == 1 { "row has" } else { "rows have" };
    let summary = format!("{faulty} of {total} {rows_have} faults; nothing was recorded. Fix them and check the file again.");
    let body = html! {
        (heading(managed))
        @if faulty > 0 { (error_summary(&[(Some("faults"), summary)])) }
        h2 { "Check of " (name) }
        p { (total) " " @if total == 1 { "row" } @else { "rows" } ": " (valid) " valid, " (faulty) " with faults"
            @if already > 0 { ", " (already) " recorded already" } ". Nothing was recorded." }
        @if faulty > 0 {
            h3 id="faults" tabindex="-1" { "Faults" }
            (scroll_region("Faults of the file", html! { table {
                thead { tr { th.num scope="col" { "row" } th scope="col" { "column" } th scope="col" { "fault" } } }
                tbody { @for row in &faults { (row) } }
            } }))
        } @else if valid == 0 {
            p { "Every activity in this file is recorded already: there is nothing to record." }
        } @else {
            form method="post" enctype="multipart/form-data" action={ "/programmes/" (managed.id) "/upload" } {
                (managed.viewer.csrf_field())
                input type="hidden" name="file_name" value=(name);
                input type="hidden" name="media_type" value=(media_type);
                input type="hidden" name="content" value=(base64::engine::general_purpose::STANDARD.encode(bytes));
                input type="hidden" name="commit" value="true";
                button type="submit" { "Record " (valid) " " (activities(valid)) }
            }
        }
        (choose_form(managed, None))
    };
    let status = if faulty > 0 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    (status, managed.viewer.page(&title(managed), body)).into_response()
}
