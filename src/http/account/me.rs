//! The signed-in person's own page, `/account`: who they are and what they may do, their sessions (and the way
//! to end them all), and their personal API tokens for scripts — made in their own role and scope, named
//! `{person}-{label}`, the secret shown once; revocable here. The tokens follow the rules of every token (a name
//! is never issued twice) and are revoked with the person.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

use super::no_store;
use crate::auth::{Revoked, TokenStatus};
use crate::http::dashboard::layout::{error_summary, scroll_region};
use crate::http::error::ApiError;
use crate::http::pages::SignedIn;
use crate::http::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(account))
        .route("/account/tokens", post(create))
        .route("/account/tokens/{name}/revoke", post(revoke))
}

/// The person's role in words.
pub(super) fn role_words(person: &crate::people::StoredPerson) -> String {
    let role = format!("{:?}", person.role).to_lowercase();
    match (&person.programme, &person.partner) {
        (Some(programme), Some(partner)) => format!("{role} of {programme} for {partner}"),
        (Some(programme), None) => format!("{role} of {programme}"),
        _ => role,
    }
}

async fn account(State(state): State<AppState>, viewer: SignedIn) -> Response {
    no_store(Html(render(&state, &viewer, None, None)).into_response())
}

fn render(state: &AppState, viewer: &SignedIn, made: Option<(&str, &str)>, problem: Option<String>) -> String {
    let name = &viewer.principal().name;
    let person = state.accounts().people.get(name);
    let owned = state.tokens().owned_by(name);
    let tokens: Vec<_> = state.tokens().list(chrono::Utc::now()).into_iter().filter(|t| owned.contains(&t.name)).collect();
    let body = html! {
        h1 { "Your account" }
        @if let Some(person) = &person {
            p { strong { (person.display_name) } " — account " (person.name) ", " (person.email) ", " (role_words(person)) "." }
            p { "Signed in on " (state.accounts().sessions.count(name)) " browser(s)." }
            form method="post" action="/account/sign-out-everywhere" {
                (viewer.csrf_field())
                button type="submit" { "Sign out everywhere" }
            }
            @if person.role == crate::auth::RoleName::Admin {
                p { a href="/admin" { "People and tokens" } }
            }
        } @else {
            p { "You are using the API token " strong { (name) } "." }
        }
        h2 { "Personal API tokens" }
        p.legend { "For scripts that work as you: a token gets your role and scope, and every event it records names the token." }
        @if let Some((token_name, secret)) = made {
            div.notice role="status" {
                p { "Token " strong { (token_name) } " made. Copy its secret now: it is not shown again." }
                p { code { (secret) } }
            }
        }
        @if let Some(problem) = &problem { (error_summary(&[(Some("label"), problem.clone())])) }
        @if person.is_some() {
            form method="post" action="/account/tokens" {
                (viewer.csrf_field())
                label for="label" { "Label (the token is named " (name) "-label)" }
                input #label name="label" type="text" required pattern="[a-z0-9-]+" aria-invalid=[problem.as_ref().map(|_| "true")];
                label for="expires_on" { "Expires on (optional)" }
                input #expires_on name="expires_on" type="date";
                button type="submit" { "Make token" }
            }
        }
        (token_table(&tokens, viewer))
    };
    crate::http::dashboard::layout::page_for("Your account", Some(&viewer.0), body)
}

fn token_table(tokens: &[crate::auth::TokenView], viewer: &SignedIn) -> Markup {
    let table = html! {
        table {
            thead { tr { th scope="col" { "Token" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Status" } th scope="col" { "Action" } } }
            tbody {
                @for token in tokens {
                    tr {
                        td { (token.name) } td { (token.created_at) } td { (token.last_used_at.as_deref().unwrap_or("never")) }
                        td { (token.expires_at.as_deref().unwrap_or("never")) } td { (format!("{:?}", token.status).to_lowercase()) }
                        td {
                            @if token.status != TokenStatus::Revoked {
                                form.inline method="post" action={ "/account/tokens/" (token.name) "/revoke" } {
                                    (viewer.csrf_field())
                                    button type="submit" aria-label={ "Revoke " (token.name) } { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html! { @if tokens.is_empty() { p { "No personal tokens." } } @else { (scroll_region("Personal tokens", table)) } }
}

#[derive(Debug, Deserialize)]
struct NewToken {
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires_on: String,
}

async fn create(State(state): State<AppState>, viewer: SignedIn, Form(form): Form<NewToken>) -> Result<Response, ApiError> {
    let name = viewer.principal().name.clone();
    let Some(person) = state.accounts().people.get(&name).filter(|p| p.revoked_at.is_none()) else {
        return Ok(viewer.forbidden("only a person signed in with a password makes personal tokens"));
    };
    let refuse = |message: String| {
        let page = render(&state, &viewer, None, Some(message));
        Ok(no_store((StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response()))
    };
    let expires_at = match form.expires_on.trim() {
        "" => None,
        text => match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(day) => Some(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()),
            Err(_) => return refuse(format!("'{text}' is not a date: write YYYY-MM-DD")),
        },
    };
    let request = crate::auth::TokenRequest {
        name: format!("{name}-{}", form.label.trim()),
        role: person.role,
        programme: person.programme.clone(),
        partner: person.partner.clone(),
        expires_at,
    };
    let faults = request.check(chrono::Utc::now());
    if !faults.is_empty() {
        return refuse(faults.into_iter().map(|f| f.message).collect::<Vec<_>>().join("; "));
    }
    match crate::http::tokens::issue_token(&state, &request, Some(&name), &name).await {
        Ok(secret) => Ok(no_store(Html(render(&state, &viewer, Some((&request.name, &secret)), None)).into_response())),
        Err(error) if error.status() == StatusCode::CONFLICT || error.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            refuse(error.detail_text())
        }
        Err(error) => Err(error),
    }
}

async fn revoke(State(state): State<AppState>, viewer: SignedIn, Path(token): Path<String>) -> Result<Response, ApiError> {
    let name = viewer.principal().name.clone();
    if !state.tokens().owned_by(&name).contains(&token) {
        return Ok(viewer.forbidden("you may revoke only your own tokens here"));
    }
    let tokens = state.clone();
    let revoked = tokio::task::spawn_blocking(move || tokens.tokens().revoke(&token)).await.map_err(ApiError::internal)??;
    debug_assert!(!matches!(revoked, Revoked::Unknown));
    Ok(no_store(Redirect::to("/account").into_response()))
}
