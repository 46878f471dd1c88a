//! The pages people work in with a browser, server-rendered (maud) and usable without JavaScript: recording
//! activities through forms generated from the catalogue, lists and histories, the coordinator's queue and
//! corrections. Every form posts to the page's own route, which runs the same commands as the API
//! (`crate::service`), so there is one decision path; faults are shown next to their fields with the values
//! kept.

// A page that cannot be shown answers with another page (sign-in, forbidden, faults): the refusal is a whole
// `Response`, built once per request, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use maud::html;

use super::dashboard::layout::{page_for, Viewer};
use super::session::CsrfToken;
use super::AppState;
use crate::auth::Principal;

mod activity;
mod context;
mod form;
mod list;
mod record;

mod coordinator;
mod queue;
mod setup;
mod upload;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .merge(record::routes())
        .merge(list::routes())
        .merge(activity::routes())
        .merge(queue::routes())
        .merge(setup::routes())
        .merge(upload::routes())}

/// The signed-in viewer of a page that needs one. Without a session (or token) the page answers with a redirect
/// to the sign-in page, which comes back here afterwards.
#[derive(Clone, Debug)]
pub(super) struct SignedIn(pub Viewer);

impl SignedIn {
    pub(super) fn principal(&self) -> &Arc<Principal> {
        &self.0.principal
    }

    /// A whole page for this viewer.
    pub(super) fn page(&self, title: &str, body: maud::Markup) -> Html<String> {
        Html(page_for(title, Some(&self.0), body))
    }

    /// The hidden CSRF field for this viewer's forms.
    pub(super) fn csrf_field(&self) -> maud::Markup {
        super::session::csrf_field(self.0.csrf.as_ref())
    }

    /// A 403 page saying what the viewer may not do and why.
    pub(super) fn forbidden(&self, message: &str) -> Response {
        let body = html! { h1 { "Not allowed" } p { (message) } p { a href="/" { "Back to all programmes" } } };
        (StatusCode::FORBIDDEN, self.page("Not allowed", body)).into_response()
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<SignedIn, Response> {
        let Some(principal) = parts.extensions.get::<Arc<Principal>>().cloned() else {
            let here = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.to_string(), |uri| uri.0.to_string());
            let target = format!("/sign-in?next={}", percent_encode(&here));
            let mut response = Redirect::to(&target).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            return Err(response);
        };
        let csrf = parts.extensions.get::<CsrfToken>().cloned();
        Ok(SignedIn(Viewer { principal, csrf }))
    }
}

/// The ways into a programme's work for a signed-in person, by what their role lets them do there.
pub(super) fn work_links(programme: &str, principal: &Principal) -> maud::Markup {
    use events::Role;
    let (records, manages) = match &principal.role {
        Role::Admin => (true, true),
        Role::Coordinator { programme: p } => (p.as_str() == programme, p.as_str() == programme),
        Role::Recorder { programme: p, .. } => (p.as_str() == programme, false),
        Role::Auditor => (false, false),
    };
    let links: Vec<(&str, String)> = [
        (records, "Record an activity", format!("/programmes/{programme}/record")),
        (true, "Activities", format!("/programmes/{programme}/activities")),
        (manages, "Approval queue", format!("/programmes/{programme}/queue")),
        (manages, "Manage the programme", format!("/programmes/{programme}/manage")),
        (manages, "Upload a spreadsheet", format!("/programmes/{programme}/upload")),
    ]
    .into_iter()
    .filter(|(shown, _, _)| *shown)
    .map(|(_, text, href)| (text, href))
    .collect();
    html! { nav aria-label="work" { ul.work { @for (text, href) in links { li { a href=(href) { (text) } } } } } }
}

/// `Option<SignedIn>`: the viewer when signed in, else none (public pages show the way in).
impl axum::extract::OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Option<SignedIn>, Self::Rejection> {
        let principal = parts.extensions.get::<Arc<Principal>>().cloned();
        let csrf = parts.extensions.get::<CsrfToken>().cloned();
        Ok(principal.map(|principal| SignedIn(Viewer { principal, csrf })))
    }
}

/// `text` with everything but unreserved characters percent-encoded, for a query value.
pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
