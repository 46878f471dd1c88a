//! The programme and its progress as an IATI 2.03 document, over HTTP, and the programme's IATI settings that
//! the document takes what the definition does not say from.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use events::{set_iati_settings, IatiSettings};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{query_rejection, Caller, IfMatch, JsonBody};
use super::programmes::{change, existing, programme_id, report_for, ProgressParams};
use super::{with_etag, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(iati)).routes(routes!(settings, put_settings))
}

/// The name of the header that lists the IATI rules the document does not meet.
const UNMET_RULES: &str = "iati-unmet-rules";

/// The programme and its progress as an IATI 2.03 `iati-activities` document: one `iati-activity` with a
/// `result/indicator/period/target/actual` per indicator and the partner breakdown as `dimension`s. Its dates
/// are the `recorded_at` of the last event it reflects, so the same `at_position` query gives the same bytes
/// forever. `IATI-Unmet-Rules` lists the IATI rules it does not meet yet and the IATI setting that fixes each.
#[utoipa::path(get, path = "/v1/programmes/{id}/iati", tag = "progress", operation_id = "get_iati", params(("id" = String, Path), ProgressParams),
    responses((status = 200, description = "IATI 2.03 XML", content_type = "application/xml", body = String,
            headers(("IATI-Unmet-Rules" = String, description = "the IATI rules not met, each with the setting that fixes it, e.g. `6.2.2 (set sectors)`; absent when every rule checked is met"))),
        (status = 404, body = super::Problem), (status = 422, body = super::Problem)))]
async fn iati(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ProgressParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query.map_err(query_rejection)?;
    let programme = programme_id(&id)?;
    let report = report_for(&state, &programme, &params).await?;
    // The definition and settings as they stood at the report's position, not as they stand now.
    let projection = state.progress().read().await;
    let at = projection.programme_state_at(programme.as_str(), report.position).cloned();
    drop(projection);
    let (Some(at), Some(definition)) = (at.as_ref(), at.as_ref().and_then(|s| s.programme())) else {
        return Err(ApiError::not_found(format!("unknown programme '{programme}'")));
    };
    let updated = crate::report::recorded_at(state.log(), report.position).await?.to_rfc3339();
    let document = crate::exports::iati(definition, at.iati_settings(), &report, &updated);
    let mut response = ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], document.xml).into_response();
    if !document.unmet.is_empty() {
        let rules: Vec<String> = document.unmet.iter().map(|r| format!("{} (set {})", r.rule, r.setting)).collect();
        if let Ok(value) = HeaderValue::from_str(&rules.join(", ")) {
            response.headers_mut().insert(UNMET_RULES, value);
        }
    }
    Ok(response)
}

/// The programme's IATI settings (`{}` when none are set); `ETag` is the programme's version.
#[utoipa::path(get, path = "/v1/programmes/{id}/iati-settings", tag = "programmes", operation_id = "get_iati_settings", params(("id" = String, Path)),
    responses((status = 200, description = "`{reporting_org?: {ref?, name?, type?}, activity_identifier?, sectors?, recipient_countries?, recipient_region?, budgets?}`", body = Object),
        (status = 404, body = super::Problem)))]
async fn settings(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = programme_id(&id)?;
    let (programme, version) = existing(&state, &id).await?;
    Ok(with_etag(StatusCode::OK, version, programme.iati_settings().cloned().unwrap_or_default()))
}

/// Replace the programme's IATI settings as a whole (coordinator): the reporting organisation's identifier
/// (`XM-DAC-…`, `GB-COH-…`: a registered org-id.guide prefix), name and type, the activity identifier (the
/// organisation's identifier, `-`, the activity's own id), DAC 5-digit sectors, recipient countries (ISO 3166-1
/// alpha-2, percentages adding up to 100) or an OECD DAC region, and budgets per period of at most a year.
/// Anything left out is unset. `If-Match` is checked against the programme's version.
#[utoipa::path(put, path = "/v1/programmes/{id}/iati-settings", tag = "programmes", operation_id = "put_iati_settings", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "the programme version, e.g. \"3\"")),
    request_body(content = Object, description = "`{reporting_org?: {ref?, name?, type?}, activity_identifier?, sectors?: [{code, percentage?}], recipient_countries?: [{code, percentage?}], recipient_region?, budgets?: [{starts_on, ends_on, amount}]}`"),
    responses((status = 200, description = "set, or unchanged", body = Object),
        (status = 401, body = super::Problem), (status = 403, body = super::Problem), (status = 404, body = super::Problem),
        (status = 412, body = super::Problem), (status = 422, body = super::Problem)))]
async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    if_match: Result<IfMatch, ApiError>,
    Path(id): Path<String>,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    const TITLE: &str = "invalid IATI settings";
    let principal = caller.manager_of(&id)?;
    let IfMatch(if_match) = if_match?;
    let JsonBody(body) = body?;
    let settings = IatiSettings::parse(&body).map_err(|f| ApiError::from_faults(f, TITLE))?;
    let executed = change(&state, principal, &id, if_match, TITLE, |s, ctx| set_iati_settings(s, settings.clone(), ctx)).await?;
    Ok(with_etag(StatusCode::OK, executed.version, executed.state.iati_settings().cloned().unwrap_or_default()))
}
