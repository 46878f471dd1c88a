//! What the coordinator's pages (the approval queue, programme setup, bulk upload) share: who may use them — the
//! programme's coordinator or an admin, by the rule the API applies (`Caller::manager_of`) — and the programme
//! they are about; the fields of a posted form; how a refused command is shown (the status of the API's answer,
//! an error summary at the top linking each fault to its field, the fault again next to the field, the values
//! kept); and the confirmation a page shows after the redirect that follows a success.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use events::{Programme, ProgrammeState, Slug};
use maud::{html, Markup};

use super::SignedIn;
use crate::auth::Principal;
use crate::http::dashboard::layout::error_summary;
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::http::programmes::{existing, programme_id};
use crate::http::AppState;

/// A programme page's viewer, once they are known to manage the programme, and the programme as it stands.
#[derive(Debug)]
pub(super) struct Managed {
    pub viewer: SignedIn,
    pub principal: Arc<Principal>,
    pub id: Slug,
    pub state: Arc<ProgrammeState>,
}

impl Managed {
    /// The programme's definition (a programme that exists has one).
    pub(super) fn definition(&self) -> &Programme {
        self.state.programme().expect("`managed` admits only programmes that exist")
    }
}

/// The viewer of programme `id`'s coordinator pages: its coordinator or an admin (else the forbidden page), and
/// the programme, which must exist (else a page saying so, 404).
pub(super) async fn managed(state: &AppState, viewer: SignedIn, id: &str) -> Result<Managed, Response> {
    let principal = match Caller(Some(Arc::clone(viewer.principal()))).manager_of(id) {
        Ok(principal) => principal,
        Err(error) => return Err(viewer.forbidden(error.detail_opt().unwrap_or("only the coordinator or an admin may do this"))),
    };
    let slug = programme_id(id).map_err(|error| failure_page(&viewer, &error))?;
    let (programme, _) = existing(state, &slug).await.map_err(|error| failure_page(&viewer, &error))?;
    Ok(Managed { viewer, principal, id: slug, state: programme })
}

/// A page for a request that cannot be answered (an unknown programme or activity, a form that cannot be read,
/// a failure of the server), with the API's status and its words.
pub(super) fn failure_page(viewer: &SignedIn, error: &ApiError) -> Response {
    let body = html! {
        h1 { (capitalised(error.title())) }
        @if let Some(detail) = error.detail_opt() { p { (detail) } }
        p { a href="/" { "Back to all programmes" } }
    };
    (error.status(), viewer.page(error.title(), body)).into_response()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The fields of a posted form (`application/x-www-form-urlencoded`), in order; a name may come more than once
/// (checkboxes). The CSRF field is among them and is no business of the page's.
#[derive(Debug, Default)]
pub(super) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The fields of a form as posted, or the page for a body that is not such a form.
    pub(super) fn posted(viewer: &SignedIn, form: Result<Form<Vec<(String, String)>>, FormRejection>) -> Result<Fields, Box<Response>> {
        match form {
            Ok(Form(fields)) => Ok(Fields(fields)),
            Err(rejection) => {
                let error = ApiError::new(rejection.status(), "bad_request", "the form could not be read").detail(rejection.body_text());
                Err(Box::new(failure_page(viewer, &error)))
            }
        }
    }

    /// The first value of field `name`, trimmed of surrounding whitespace; empty when it is not there.
    pub(super) fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.trim())
    }

    /// Every value of field `name`, in order.
    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why a command posted by a form changed nothing, as its page shows it: the API's status and its faults,
/// each with the form field it is about when it is one of the form's.
#[derive(Debug)]
pub(super) struct Refusal {
    pub status: StatusCode,
    /// The form: the prefix of its fields' ids.
    form: String,
    faults: Vec<FormFault>,
}

/// A fault as a form shows it.
#[derive(Debug)]
struct FormFault {
    /// The form's field it is shown by, if any.
    field: Option<&'static str>,
    /// The message by the field.
    message: String,
    /// The message in the error summary, which names the field.
    summary: String,
}

impl Refusal {
    /// `error` as a refusal of form `form` with fields `names`. A fault whose field (or the last part of its dotted
    /// path: `measure.kinds`) is one of `names` is put next to that field, and one about the whole request next to
    /// `whole` if the form names such a place (its button); any other says what it is about.
    pub(super) fn of(error: &ApiError, form: &str, names: &[&'static str], whole: Option<&'static str>) -> Refusal {
        let about_all = |message: String| FormFault { field: whole, summary: message.clone(), message };
        let mut faults: Vec<FormFault> = error
            .faults()
            .iter()
            .map(|fault| {
                let last = fault.field.rsplit('.').next().unwrap_or("");
                match names.iter().find(|n| **n == fault.field || **n == last) {
                    Some(name) => FormFault {
                        field: Some(*name),
                        message: fault.message.clone(),
                        summary: format!("{}: {}", capitalised(&name.replace('_', " ")), fault.message),
                    },
                    None if fault.field.is_empty() => about_all(fault.message.clone()),
                    None => about_all(format!("{}: {}", fault.field, fault.message)),
                }
            })
            .collect();
        if faults.is_empty() {
            faults.push(about_all(error.message().to_owned()));
        }
        Refusal { status: error.status(), form: form.to_owned(), faults }
    }

    /// Whether this refusal is of form `form`.
    pub(super) fn is_of(&self, form: &str) -> bool {
        self.form == form
    }

    /// The error summary for the top of the page, each fault linking to its field when `linked` (not for a form
    /// the page no longer shows).
    pub(super) fn summary(&self, linked: bool) -> Markup {
        let ids: Vec<(Option<String>, String)> = self
            .faults
            .iter()
            .map(|fault| (fault.field.filter(|_| linked).map(|n| field_id(&self.form, n)), fault.summary.clone()))
            .collect();
        let faults: Vec<(Option<&str>, String)> = ids.iter().map(|(id, message)| (id.as_deref(), message.clone())).collect();
        error_summary(&faults)
    }

    /// The faults of field `name`, joined.
    fn of_field(&self, name: &str) -> Option<String> {
        let messages: Vec<&str> =
            self.faults.iter().filter(|f| f.field == Some(name)).map(|f| f.message.as_str()).collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }
}

/// The id of field `name` of form `form`: what an error summary links to.
pub(super) fn field_id(form: &str, name: &str) -> String {
    format!("{form}-{name}")
}

/// One form of a page as it is shown: empty, or — when the command it posted was refused — with the values
/// posted and each fault next to its field.
#[derive(Clone, Debug)]
pub(super) struct FormView<'a> {
    pub form: String,
    values: Option<&'a Fields>,
    refusal: Option<&'a Refusal>,
}

impl<'a> FormView<'a> {
    /// Form `form`, filled in with `posted` if it is the form that was refused.
    pub(super) fn new(form: impl Into<String>, posted: Option<(&'a Fields, &'a Refusal)>) -> FormView<'a> {
        let form = form.into();
        match posted {
            Some((values, refusal)) if refusal.is_of(&form) => FormView { form, values: Some(values), refusal: Some(refusal) },
            _ => FormView { form, values: None, refusal: None },
        }
    }

    /// The id of this form's field `name`.
    pub(super) fn id(&self, name: &str) -> String {
        field_id(&self.form, name)
    }

    /// The value posted for field `name`, or empty.
    pub(super) fn value(&self, name: &str) -> &'a str {
        self.values.map_or("", |values| values.get(name))
    }

    /// Whether `value` was among the values posted for field `name` (a checkbox or an option).
    pub(super) fn has(&self, name: &str, value: &str) -> bool {
        self.values.is_some_and(|values| values.all(name).any(|v| v == value))
    }

    /// The faults of field `name`, if the form was refused for it.
    pub(super) fn error(&self, name: &str) -> Option<String> {
        self.refusal.and_then(|r| r.of_field(name))
    }

    /// A labelled field: the label, the fault when there is one, then the control `control` makes from the field's
    /// id, whether it is invalid and the id of its fault's text (for `aria-describedby`).
    pub(super) fn field(&self, name: &str, label: &str, hint: Option<&str>, control: impl Fn(&str, bool, Option<&str>) -> Markup) -> Markup {
        let id = self.id(name);
        let error = self.error(name);
        let described = match (&error, hint) {
            (Some(_), _) => Some(format!("{id}-error")),
            (None, Some(_)) => Some(format!("{id}-hint")),
            (None, None) => None,
        };
        html! {
            label for=(id) {
                (label)
                @if let Some(hint) = hint { span.legend id={ (id) "-hint" } { (hint) } }
                @if let Some(error) = &error { span.field-error id={ (id) "-error" } { "Error: " (error) } }
                (control(&id, error.is_some(), described.as_deref()))
            }
        }
    }

    /// A text input (or `kind`: date, number…) holding the posted value.
    pub(super) fn input(&self, name: &str, label: &str, kind: &str, required: bool, hint: Option<&str>) -> Markup {
        let value = self.value(name);
        self.field(name, label, hint, |id, invalid, described| {
            html! {
                input type=(kind) id=(id) name=(name) value=(value) required[required]
                    aria-invalid=[invalid.then_some("true")] aria-describedby=[described];
            }
        })
    }

    /// A choice among `options` (value, words), with an empty first option when none is chosen yet.
    pub(super) fn select(&self, name: &str, label: &str, options: &[(String, String)], required: bool) -> Markup {
        let chosen = self.value(name);
        self.field(name, label, None, |id, invalid, described| {
            html! {
                select id=(id) name=(name) required[required] aria-invalid=[invalid.then_some("true")] aria-describedby=[described] {
                    option value="" { "Choose…" }
                    @for (value, words) in options {
                        option value=(value) selected[value == chosen] { (words) }
                    }
                }
            }
        })
    }
}

/// A confirmation that something was done, announced politely to screen readers.
pub(super) fn confirmation(message: &str) -> Markup {
    html! { div.confirmation role="status" { p { (message) } } }
}
