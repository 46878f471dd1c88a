//! The programme and its progress as an IATI 2.03 document, over HTTP.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::query_rejection;
use super::programmes::{programme_id, report_for, ProgressParams};
use super::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(iati))
}

/// The programme and its progress as an IATI 2.03 `iati-activities` document: one `iati-activity` with a
/// `result/indicator/period/target/actual` per indicator and the partner breakdown as `dimension`s.
#[utoipa::path(get, path = "/v1/programmes/{id}/iati", tag = "progress", params(("id" = String, Path), ProgressParams),
    responses((status = 200, description = "IATI 2.03 XML", content_type = "application/xml", body = String),
        (status = 404, body = super::Problem), (status = 422, body = super::Problem)))]
async fn iati(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ProgressParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query.map_err(query_rejection)?;
    let programme = programme_id(&id)?;
    let report = report_for(&state, &programme, &params).await?;
    let projection = state.progress().read().await;
    let definition = projection.programme(programme.as_str()).cloned().ok_or_else(|| ApiError::not_found(format!("unknown programme '{programme}'")))?;
    drop(projection);
    let generated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let document = crate::exports::iati(&definition, &report, &generated);
    Ok(([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], document).into_response())
}
