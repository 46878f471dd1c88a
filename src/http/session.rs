//! Sessions of people signed in with a browser: the cookie, the CSRF check and the token every form carries.
//! [`authenticate_session`] runs inside the authentication middleware for a request without a bearer token: a
//! live session cookie leaves the person's `Principal`, a [`CsrfToken`] and the [`SessionCookie`] in the
//! request's extensions. A request that changes state (any method but GET, HEAD, OPTIONS) and rides on a cookie
//! must carry the session's CSRF token — in the `X-CSRF-Token` header or as the form field `csrf` (URL-encoded
//! or multipart) — or it is refused with 403 before any handler runs. Bearer-token requests need none: a
//! browser never adds a bearer token to a forged form.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};

use super::error::ApiError;
use super::AppState;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "tracker_session";
/// The name of the hidden form field (and of the `X-CSRF-Token` header's value) that carries the token.
pub(crate) const CSRF_FIELD: &str = "csrf";
/// The most of a multipart body (a bulk upload) read to find its CSRF field.
const MAX_MULTIPART: usize = 8 * 1024 * 1024;

/// The signed-in person's CSRF token (synchronizer token, one per session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CsrfToken(pub String);

/// The secret of the session cookie a request came with, for signing out.
#[derive(Clone, Debug)]
pub(crate) struct SessionCookie(pub String);

/// The hidden field every form of a page puts first; nothing when the request has no session (a bearer token
/// or no one: neither sends cookies a forged form could ride on).
pub(crate) fn csrf_field(token: Option<&CsrfToken>) -> Markup {
    html! {
        @if let Some(CsrfToken(token)) = token { input type="hidden" name=(CSRF_FIELD) value=(token); }
    }
}

/// The value of the session cookie among the request's cookies.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_owned))
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, and Secure when the request came over TLS (directly
/// or, as `X-Forwarded-Proto` says, through a proxy). No expiry: the browser forgets it when closed, and the
/// server ends it after its idle or absolute time.
pub(crate) fn set_cookie(secret: &str, headers: &HeaderMap) -> HeaderValue {
    let secure = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let value = format!("{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax{}", if secure { "; Secure" } else { "" });
    HeaderValue::from_str(&value).expect("a secret is hex")
}

/// `Set-Cookie` that makes the browser forget the session cookie.
pub(crate) fn clear_cookie() -> HeaderValue {
    HeaderValue::from_str(&format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")).expect("ASCII")
}

/// Authenticates a request without a bearer token by its session cookie, if it has a live one, and checks the
/// CSRF token of a request that changes state. The request to go on with, or the refusal.
pub(super) async fn authenticate_session(state: &AppState, request: Request) -> Result<Request, Response> {
    let Some(secret) = cookie(request.headers()) else { return Ok(request) };
    let accounts = state.accounts();
    let arrived = std::time::Instant::now();
    let mut session = accounts.sessions.touch(&secret);
    // Perhaps started through another server a moment ago: asked again once the shared sessions were read anew.
    if session.is_none() && super::account::read_shared_since(state, arrived).await {
        session = accounts.sessions.touch(&secret);
    }
    let Some(session) = session else { return Ok(request) };
    let Some(principal) = accounts.people.get(&session.person).and_then(|p| p.principal()) else {
        return Ok(request);
    };
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let mut request = if safe { request } else { checked(request, &session.csrf).await? };
    request.extensions_mut().insert(Arc::new(principal));
    request.extensions_mut().insert(CsrfToken(session.csrf));
    request.extensions_mut().insert(SessionCookie(secret));
    Ok(request)
}

/// The request, if it carries `csrf` in the header or in its form body (which is read and put back).
async fn checked(request: Request, csrf: &str) -> Result<Request, Response> {
    let html = wants_html(request.headers());
    let header = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(sent) = header {
        return if same(&sent, csrf) { Ok(request) } else { Err(refusal(html)) };
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let limit = match essence.as_str() {
        "application/x-www-form-urlencoded" => super::MAX_BODY_BYTES,
        "multipart/form-data" => MAX_MULTIPART,
        _ => return Err(refusal(html)),
    };
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is too large").into_response()
    })?;
    let sent = if limit == MAX_MULTIPART { multipart_field(&bytes, &content_type) } else { form_field(&bytes) };
    if !sent.is_some_and(|sent| same(&sent, csrf)) {
        return Err(refusal(html));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Compares in time independent of where the texts differ.
fn same(sent: &str, expected: &str) -> bool {
    sent.len() == expected.len() && sent.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The `csrf` field of a URL-encoded form.
fn form_field(body: &[u8]) -> Option<String> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    fields.into_iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v)
}

/// The `csrf` part of a multipart form: the text between its headers and the next boundary.
fn multipart_field(body: &[u8], content_type: &str) -> Option<String> {
    let boundary = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?.trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    // What precedes the first delimiter is the preamble, not a part.
    text.split(delimiter.as_str()).skip(1).find_map(|part| {
        let (headers, value) = part.split_once("\r\n\r\n")?;
        let named = headers.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("content-disposition:") && line.contains(&format!("name=\"{CSRF_FIELD}\""))
        });
        named.then(|| value.trim_end_matches("\r\n").to_owned())
    })
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// 403 for a state change without the session's CSRF token: a page for a browser, a problem otherwise.
fn refusal(html: bool) -> Response {
    let detail = "this form did not carry this session's CSRF token (it may be from another site, or from before you \
                  signed in again): go back, reload the page and send it again";
    if html {
        let body = html! { h1 { "The form could not be accepted" } p { (detail) } p { a href="/" { "All programmes" } } };
        return (StatusCode::FORBIDDEN, Html(super::dashboard::layout::page("Form refused", body))).into_response();
    }
    ApiError::new(StatusCode::FORBIDDEN, "csrf", "missing or wrong CSRF token").detail(detail).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_field_is_found_in_url_encoded_and_multipart_forms() {
        assert_eq!(form_field(b"a=1&csrf=abc%2Bd&b=2").as_deref(), Some("abc+d"));
        assert_eq!(form_field(b"a=1"), None);
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nt0ken\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nkind\r\n--XyZ--\r\n";
        assert_eq!(multipart_field(body, "multipart/form-data; boundary=XyZ").as_deref(), Some("t0ken"));
        assert_eq!(multipart_field(body, "multipart/form-data; boundary=Other"), None);
    }

    #[test]
    fn the_session_cookie_is_read_among_others_and_set_http_only_and_lax() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; tracker_session=trk_abc; b=2"));
        assert_eq!(cookie(&headers).as_deref(), Some("trk_abc"));
        let set = set_cookie("trk_abc", &HeaderMap::new());
        assert_eq!(set.to_str().unwrap(), "tracker_session=trk_abc; Path=/; HttpOnly; SameSite=Lax");
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(set_cookie("trk_abc", &headers).to_str().unwrap().ends_with("; Secure"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
