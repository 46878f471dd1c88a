//! Signing in and out with a browser, and accepting an invitation: `GET/POST /sign-in` (name and password,
//! throttled per account and per address), `POST /sign-out` (this session), `POST /account/sign-out-everywhere`
//! (every session of the person), `GET/POST /invitations/{secret}` (choose a password, then signed in). A new
//! session gets a new cookie; one the request came with is ended first, so no session id chosen before sign-in
//! survives it. The account page and personal tokens are in `me.rs`, the admin's people and tokens in
//! `admin.rs`.

mod admin;
mod me;
mod shared;

pub(super) use shared::{follow_shared_records, read_shared_since};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

use super::dashboard::layout::{error_summary, page};
use super::error::ApiError;
use super::pages::SignedIn;
use super::session::{clear_cookie, set_cookie, SessionCookie};
use super::AppState;
use crate::people::{password, AccountError};
use crate::store::ReadError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/account/sign-out-everywhere", post(sign_out_everywhere))
        .route("/invitations/{secret}", get(invitation_page).post(accept_invitation))
        .merge(me::routes())
        .merge(admin::routes())
}

#[derive(Debug, Default, Deserialize)]
struct SignInQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Where to go after signing in: a path of this site only (never another site: `//host` or a scheme).
fn local(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_owned(),
        _ => "/".to_owned(),
    }
}

fn sign_in_form(name: &str, next: &str, problem: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(problem) = problem { (error_summary(&[(Some("name"), problem.to_owned())])) }
        form.stacked method="post" action="/sign-in" {
            input type="hidden" name="next" value=(next);
            label for="name" { "Account name" }
            input #name name="name" type="text" autocomplete="username" required value=(name)
                aria-invalid=[problem.map(|_| "true")];
            label for="password" { "Password" }
            input #password name="password" type="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
        p.legend { "No account? An admin of the tracker invites people; the invitation e-mail holds a link to choose a password." }
    }
}

async fn sign_in_page(Query(query): Query<SignInQuery>) -> Response {
    let next = local(query.next.as_deref());
    no_store(Html(page("Sign in", sign_in_form("", &next, None))).into_response())
}

/// Runs `work` on the sign-in throttle (which reads and writes the record store) off the async threads.
async fn throttled<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&crate::people::throttle::Throttle, String) -> Result<T, ReadError> + Send + 'static,
    name: &str,
) -> Result<T, ApiError> {
    let (state, name) = (state.clone(), name.to_owned());
    Ok(tokio::task::spawn_blocking(move || work(&state.accounts().throttle, name)).await.map_err(ApiError::internal)??)
}

async fn sign_in(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    old: Option<Extension<SessionCookie>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ApiError> {
    let next = local(form.next.as_deref());
    let address = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let now = chrono::Utc::now();
    let name = form.name.trim().to_owned();
    let refused = throttled(&state, move |throttle, name| throttle.refused_until(&name, address, now), &name).await?;
    if let Some(until) = refused {
        let message = format!(
            "Too many failed sign-ins for this account or from this address: try again after {} UTC.",
            until.format("%H:%M")
        );
        let page = page("Sign in", sign_in_form(&name, &next, Some(&message)));
        return Ok(no_store((StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response()));
    }
    let stored = state.accounts().people.get(&name).filter(|p| p.revoked_at.is_none()).and_then(|p| p.password);
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref())).await.map_err(ApiError::internal)?;
    if !matches {
        throttled(&state, move |throttle, name| throttle.failed(&name, address, now), &name).await?;
        let page = page("Sign in", sign_in_form(&name, &next, Some("The account name or the password is wrong.")));
        return Ok(no_store((StatusCode::UNAUTHORIZED, Html(page)).into_response()));
    }
    throttled(&state, |throttle, name| throttle.succeeded(&name), &name).await?;
    let secret = start_session(&state, &name, old.map(|Extension(c)| c)).await?;
    tracing::info!(%name, "signed in");
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(header::SET_COOKIE, set_cookie(&secret, &headers));
    Ok(no_store(response))
}

/// Ends the session the request came with (if any) and starts a new one for `person`; the new cookie's secret.
async fn start_session(state: &AppState, person: &str, old: Option<SessionCookie>) -> Result<String, ApiError> {
    let sessions = state.clone();
    let person = person.to_owned();
    tokio::task::spawn_blocking(move || {
        if let Some(SessionCookie(old)) = old {
            sessions.accounts().sessions.end(&old)?;
        }
        sessions.accounts().sessions.start(&person)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::from)
}

async fn sign_out(State(state): State<AppState>, cookie: Option<Extension<SessionCookie>>) -> Result<Response, ApiError> {
    if let Some(Extension(SessionCookie(secret))) = cookie {
        let sessions = state.clone();
        tokio::task::spawn_blocking(move || sessions.accounts().sessions.end(&secret)).await.map_err(ApiError::internal)??;
    }
    Ok(signed_out(Redirect::to("/").into_response()))
}

async fn sign_out_everywhere(State(state): State<AppState>, viewer: SignedIn) -> Result<Response, ApiError> {
    let sessions = state.clone();
    let person = viewer.principal().name.clone();
    let ended = tokio::task::spawn_blocking(move || sessions.accounts().sessions.end_all(&person)).await.map_err(ApiError::internal)??;
    tracing::info!(person = %viewer.principal().name, ended, "signed out everywhere");
    Ok(signed_out(Redirect::to("/sign-in").into_response()))
}

fn signed_out(mut response: Response) -> Response {
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    no_store(response)
}

/// Pages about accounts are never cached (they show who is signed in, or one-time links).
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

fn invitation_form(secret: &str, person: &crate::people::StoredPerson, problem: Option<(&str, String)>) -> Markup {
    let field = problem.as_ref().map(|(f, _)| *f);
    html! {
        h1 { "Welcome, " (person.display_name) }
        p { "Choose a password for your account " strong { (person.name) } " (" (person.email) "). Use at least "
            (password::MIN_CHARS) " characters; a few unrelated words make a good password." }
        @if let Some((field, message)) = &problem { (error_summary(&[(Some(field), message.clone())])) }
        form.stacked method="post" action={ "/invitations/" (secret) } {
            label for="password" { "New password" }
            input #password name="password" type="password" autocomplete="new-password" required
                aria-invalid=[(field == Some("password")).then_some("true")];
            label for="confirm" { "The same password again" }
            input #confirm name="confirm" type="password" autocomplete="new-password" required
                aria-invalid=[(field == Some("confirm")).then_some("true")];
            button type="submit" { "Set password and sign in" }
        }
    }
}

fn invitation_refused(error: &AccountError) -> Response {
    let status = if matches!(error, AccountError::ExpiredInvitation(_)) { StatusCode::GONE } else { StatusCode::NOT_FOUND };
    let body = html! { h1 { "This invitation cannot be used" } p { (error.to_string()) } };
    no_store((status, Html(page("Invitation", body))).into_response())
}

async fn invitation_page(State(state): State<AppState>, Path(secret): Path<String>) -> Response {
    match state.accounts().people.invited(&secret) {
        Ok(person) => no_store(Html(page("Choose a password", invitation_form(&secret, &person, None))).into_response()),
        Err(error) => invitation_refused(&error),
    }
}

async fn accept_invitation(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    old: Option<Extension<SessionCookie>>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, ApiError> {
    let person = match state.accounts().people.invited(&secret) {
        Ok(person) => person,
        Err(error) => return Ok(invitation_refused(&error)),
    };
    let refuse = |field: &str, message: String| {
        let page = page("Choose a password", invitation_form(&secret, &person, Some((field, message))));
        Ok(no_store((StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response()))
    };
    if form.password != form.confirm {
        return refuse("confirm", "the two passwords differ: type the same password twice".into());
    }
    let accounts = state.clone();
    let (link, password) = (secret.clone(), form.password);
    let accepted = tokio::task::spawn_blocking(move || accounts.accounts().people.accept(&link, &password)).await.map_err(ApiError::internal)?;
    let person = match accepted {
        Ok(person) => person,
        Err(AccountError::Invalid(faults)) => return refuse("password", faults.into_iter().map(|f| f.message).collect::<Vec<_>>().join("; ")),
        Err(AccountError::Store(e)) => return Err(e.into()),
        Err(error) => return Ok(invitation_refused(&error)),
    };
    // A new password ends every session the person had (a reset after a lost password must lock others out).
    let sessions = state.clone();
    let name = person.name.clone();
    tokio::task::spawn_blocking(move || sessions.accounts().sessions.end_all(&name)).await.map_err(ApiError::internal)??;
    let secret = start_session(&state, &person.name, old.map(|Extension(c)| c)).await?;
    tracing::info!(person = %person.name, "invitation accepted");
    let mut response = Redirect::to("/account").into_response();
    response.headers_mut().insert(header::SET_COOKIE, set_cookie(&secret, &headers));
    Ok(no_store(response))
}
