//! Sessions of people signed in with a browser: the cookie, and the CSRF token every form of a signed-in page
//! carries. Authentication (`extract::authenticate`) leaves a [`CsrfToken`] in the request's extensions when the
//! request came with a live session cookie; pages render it into every form with [`csrf_field`].

#![allow(dead_code)] // Until the session middleware and the pages use every item.

use maud::{html, Markup};

/// The name of the hidden form field (and of the `X-CSRF-Token` header's value) that carries the token.
pub(crate) const CSRF_FIELD: &str = "csrf";

/// The signed-in person's CSRF token (synchronizer token, one per session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CsrfToken(pub String);

/// The hidden field every form of a page puts first; nothing when the request has no session (a bearer token
/// or no one: neither sends cookies a forged form could ride on).
pub(crate) fn csrf_field(token: Option<&CsrfToken>) -> Markup {
    html! {
        @if let Some(CsrfToken(token)) = token { input type="hidden" name=(CSRF_FIELD) value=(token); }
    }
}
