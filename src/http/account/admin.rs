//! The admin's page of people and tokens, `/admin`: invite a person (the one-time link is shown once), change a
//! person's role, give a new invitation link (a forgotten password), revoke a person (their sessions and
//! personal tokens end), and list and revoke tokens. The forms run the same functions as `POST /v1/people`,
//! `DELETE /v1/people/{name}` and `DELETE /v1/tokens/{name}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

use super::me::role_words;
use super::no_store;
use crate::auth::TokenStatus;
use crate::http::dashboard::layout::{error_summary, page_for, scroll_region};
use crate::http::error::ApiError;
use crate::http::pages::SignedIn;
use crate::http::people::{account_error, invitation, invite_person, revoke_person, InviteBody};
use crate::http::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/people", post(invite))
        .route("/admin/people/{name}/role", post(change_role))
        .route("/admin/people/{name}/reinvite", post(reinvite))
        .route("/admin/people/{name}/revoke", post(revoke))
        .route("/admin/tokens/{name}/revoke", post(revoke_token))
}

/// What the page shows above its lists: a new invitation link, or the faults of the last form with its values.
#[derive(Debug, Default)]
struct Outcome {
    link: Option<(String, String)>,
    faults: Vec<(Option<String>, String)>,
    values: Option<InviteForm>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct InviteForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    programme: String,
    #[serde(default)]
    partner: String,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The role, programme and partner controls; `whose` follows each label ("" in the invitation, " of marco"
/// in a person's row) so that every label on the page names one control.
fn role_fields(values: &InviteForm, faults: &[(Option<String>, String)], prefix: &str, whose: &str) -> Markup {
    let invalid = |field: &str| faults.iter().any(|(f, _)| f.as_deref() == Some(field)).then_some("true");
    html! {
        label for={ (prefix) "role" } { "Role" (whose) }
        select id={ (prefix) "role" } name="role" aria-invalid=[invalid("role")] {
            @for role in ["recorder", "coordinator", "auditor", "admin"] {
                option value=(role) selected[values.role == role] { (role) }
            }
        }
        label for={ (prefix) "programme" } { "Programme" (whose) " (coordinator, recorder)" }
        input id={ (prefix) "programme" } name="programme" type="text" value=(values.programme) aria-invalid=[invalid("programme")];
        label for={ (prefix) "partner" } { "Partner" (whose) " (recorder)" }
        input id={ (prefix) "partner" } name="partner" type="text" value=(values.partner) aria-invalid=[invalid("partner")];
    }
}

fn render(state: &AppState, viewer: &SignedIn, outcome: Outcome) -> String {
    let values = outcome.values.clone().unwrap_or_else(|| InviteForm { role: "recorder".into(), ..InviteForm::default() });
    let invalid = |field: &str| outcome.faults.iter().any(|(f, _)| f.as_deref() == Some(field)).then_some("true");
    let people = state.accounts().people.list();
    let tokens = state.tokens().list(chrono::Utc::now());
    let summary: Vec<(Option<&str>, String)> = outcome.faults.iter().map(|(f, m)| (f.as_deref(), m.clone())).collect();
    let body = html! {
        h1 { "People and tokens" }
        @if let Some((name, link)) = &outcome.link {
            div.notice role="status" {
                p { "Send this link to " strong { (name) } ". It works once, for seven days, and is not shown again:" }
                p { code { (link) } }
            }
        }
        @if !summary.is_empty() { (error_summary(&summary)) }
        h2 { "Invite a person" }
        form.stacked method="post" action="/admin/people" {
            (viewer.csrf_field())
            label for="name" { "Account name (lowercase letters, digits, hyphens)" }
            input #name name="name" type="text" required value=(values.name) aria-invalid=[invalid("name")];
            label for="display_name" { "Name" }
            input #display_name name="display_name" type="text" required value=(values.display_name) aria-invalid=[invalid("display_name")];
            label for="email" { "E-mail" }
            input #email name="email" type="email" required value=(values.email) aria-invalid=[invalid("email")];
            (role_fields(&values, &outcome.faults, "", ""))
            button type="submit" { "Invite" }
        }
        h2 { "People" }
        (scroll_region("People", html! {
            table {
                thead { tr { th scope="col" { "Account" } th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Status" } th scope="col" { "Actions" } } }
                tbody {
                    @for person in &people {
                        tr {
                            td { (person.name) } td { (person.display_name) br; (person.email) } td { (role_words(person)) } td { (person.status()) }
                            td {
                                @if person.revoked_at.is_none() {
                                    details {
                                        summary { "Change role of " (person.name) }
                                        form.stacked method="post" action={ "/admin/people/" (person.name) "/role" } {
                                            (viewer.csrf_field())
                                            (role_fields(&InviteForm { role: format!("{:?}", person.role).to_lowercase(), programme: person.programme.clone().unwrap_or_default(), partner: person.partner.clone().unwrap_or_default(), ..InviteForm::default() }, &[], &format!("{}-", person.name), &format!(" of {}", person.name)))
                                            button type="submit" { "Change role" }
                                        }
                                    }
                                    form.inline method="post" action={ "/admin/people/" (person.name) "/reinvite" } {
                                        (viewer.csrf_field()) button type="submit" aria-label={ "New link for " (person.name) } { "New link" }
                                    }
                                    " "
                                    form.inline method="post" action={ "/admin/people/" (person.name) "/revoke" } {
                                        (viewer.csrf_field()) button type="submit" aria-label={ "Revoke " (person.name) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }))
        h2 { "Tokens" }
        (scroll_region("Tokens", html! {
            table {
                thead { tr { th scope="col" { "Token" } th scope="col" { "Role" } th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Status" } th scope="col" { "Action" } } }
                tbody {
                    @for token in &tokens {
                        tr {
                            td { (token.name) } td { (format!("{:?}", token.role).to_lowercase()) " " (token.programme.as_deref().unwrap_or("")) " " (token.partner.as_deref().unwrap_or("")) }
                            td { (token.last_used_at.as_deref().unwrap_or("never")) } td { (token.expires_at.as_deref().unwrap_or("never")) }
                            td { (format!("{:?}", token.status).to_lowercase()) }
                            td {
                                @if token.status != TokenStatus::Revoked {
                                    form.inline method="post" action={ "/admin/tokens/" (token.name) "/revoke" } {
                                        (viewer.csrf_field()) button type="submit" aria-label={ "Revoke token " (token.name) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }))
    };
    page_for("People and tokens", Some(&viewer.0), body)
}

/// The forbidden page unless the viewer is an admin.
fn admin_only(viewer: &SignedIn) -> Option<Response> {
    (!viewer.principal().is_admin()).then(|| viewer.forbidden("only an admin manages people and tokens"))
}

async fn admin(State(state): State<AppState>, viewer: SignedIn) -> Response {
    if let Some(refused) = admin_only(&viewer) {
        return refused;
    }
    no_store(Html(render(&state, &viewer, Outcome::default())).into_response())
}

fn faulty(state: &AppState, viewer: &SignedIn, status: StatusCode, faults: Vec<(Option<String>, String)>, values: Option<InviteForm>) -> Response {
    no_store((status, Html(render(state, viewer, Outcome { faults, values, ..Outcome::default() }))).into_response())
}

fn from_error(error: &ApiError) -> Vec<(Option<String>, String)> {
    vec![(None, error.detail_text())]
}

async fn invite(State(state): State<AppState>, viewer: SignedIn, Form(form): Form<InviteForm>) -> Result<Response, ApiError> {
    if let Some(refused) = admin_only(&viewer) {
        return Ok(refused);
    }
    let body = InviteBody {
        name: form.name.trim().to_owned(),
        display_name: form.display_name.clone(),
        email: form.email.clone(),
        role: form.role.clone(),
        programme: some(&form.programme),
        partner: some(&form.partner),
    };
    let invitation = match invitation(body) {
        Ok(invitation) => invitation,
        Err(faults) => {
            let faults = faults.into_iter().map(|f| (Some(f.field), f.message)).collect();
            return Ok(faulty(&state, &viewer, StatusCode::UNPROCESSABLE_ENTITY, faults, Some(form)));
        }
    };
    match invite_person(&state, invitation, &viewer.principal().name).await {
        Ok(invited) => {
            let outcome = Outcome { link: Some((invited.name, invited.invitation)), ..Outcome::default() };
            Ok(no_store((StatusCode::CREATED, Html(render(&state, &viewer, outcome))).into_response()))
        }
        Err(error) if error.status().is_client_error() => Ok(faulty(&state, &viewer, error.status(), from_error(&error), Some(form))),
        Err(error) => Err(error),
    }
}

async fn change_role(State(state): State<AppState>, viewer: SignedIn, Path(name): Path<String>, Form(form): Form<InviteForm>) -> Result<Response, ApiError> {
    if let Some(refused) = admin_only(&viewer) {
        return Ok(refused);
    }
    let mut faults = Vec::new();
    let role = crate::http::tokens::token_request(
        crate::http::tokens::IssueBody { name: name.clone(), role: form.role, programme: some(&form.programme), partner: some(&form.partner), expires_at: None },
        &mut faults,
    );
    if !faults.is_empty() {
        let faults = faults.into_iter().map(|f| (None, format!("{name}: {}: {}", f.field, f.message))).collect();
        return Ok(faulty(&state, &viewer, StatusCode::UNPROCESSABLE_ENTITY, faults, None));
    }
    if let Err(error) = crate::http::tokens::check_scope(&state, &role).await {
        return Ok(faulty(&state, &viewer, error.status(), from_error(&error), None));
    }
    let accounts = state.clone();
    let changed = tokio::task::spawn_blocking(move || accounts.accounts().people.change_role(&name, &role)).await.map_err(ApiError::internal)?;
    match changed.map_err(account_error) {
        Ok(_) => Ok(no_store(Redirect::to("/admin").into_response())),
        Err(error) if error.status().is_client_error() => Ok(faulty(&state, &viewer, error.status(), from_error(&error), None)),
        Err(error) => Err(error),
    }
}

async fn reinvite(State(state): State<AppState>, viewer: SignedIn, Path(name): Path<String>) -> Result<Response, ApiError> {
    if let Some(refused) = admin_only(&viewer) {
        return Ok(refused);
    }
    let accounts = state.clone();
    let person = name.clone();
    let secret = tokio::task::spawn_blocking(move || accounts.accounts().people.reinvite(&person)).await.map_err(ApiError::internal)?;
    match secret.map_err(account_error) {
        Ok(secret) => {
            let outcome = Outcome { link: Some((name, format!("/invitations/{secret}"))), ..Outcome::default() };
            Ok(no_store(Html(render(&state, &viewer, outcome)).into_response()))
        }
        Err(error) if error.status().is_client_error() => Ok(faulty(&state, &viewer, error.status(), from_error(&error), None)),
        Err(error) => Err(error),
    }
}

async fn revoke(State(state): State<AppState>, viewer: SignedIn, Path(name): Path<String>) -> Result<Response, ApiError> {
    if let Some(refused) = admin_only(&viewer) {
        return Ok(refused);
    }
    match revoke_person(&state, &name, &viewer.principal().name).await {
        Ok(_) => Ok(no_store(Redirect::to("/admin").into_response())),
        Err(error) if error.status().is_client_error() => Ok(faulty(&state, &viewer, error.status(), from_error(&error), None)),
        Err(error) => Err(error),
    }
}

async fn revoke_token(State(state): State<AppState>, viewer: SignedIn, Path(name): Path<String>) -> Result<Response, ApiError> {
    if let Some(refused) = admin_only(&viewer) {
        return Ok(refused);
    }
    let tokens = state.clone();
    tokio::task::spawn_blocking(move || tokens.tokens().revoke(&name)).await.map_err(ApiError::internal)??;
    Ok(no_store(Redirect::to("/admin").into_response()))
}
