//! The browser's pages in the role matrix: every caller — no credentials, unusable tokens, every role by token
//! and by session cookie — opens every page and sends every form. A signed-out visitor is sent to sign in (303
//! to `/sign-in?next=…`), an unusable token is 401 as on the API, a signed-in caller whose role does not allow
//! the page gets the 403 page (HTML), and the others the page's success. A form sent by cookie carries the
//! session's CSRF token.

use reqwest::{Method, StatusCode};

use super::{connection_callers, report, torino_activity, Caller, Kind};
use crate::helpers::{Answer, TestApp};

/// Who may open a page or send its form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum May {
    /// Anyone signed in.
    SignedIn,
    Admin,
    /// The programme's recorders (of any partner), its coordinator, an admin: who may record in it.
    Records,
    /// The recorder of the activity's partner, the programme's coordinator, an admin.
    OwnRecorder,
    /// The programme's coordinator, an admin.
    Coordinator,
}

impl May {
    fn admits(self, kind: Kind) -> bool {
        match self {
            May::SignedIn => true,
            May::Admin => kind == Kind::Admin,
            May::Records => matches!(kind, Kind::OwnRecorder | Kind::OtherPartnerRecorder | Kind::Coordinator | Kind::Admin),
            May::OwnRecorder => matches!(kind, Kind::OwnRecorder | Kind::Coordinator | Kind::Admin),
            May::Coordinator => matches!(kind, Kind::Coordinator | Kind::Admin),
        }
    }
}

/// One page or form: the request every caller sends, who may, and the status they get.
struct Page {
    method: Method,
    path: String,
    form: Vec<(&'static str, String)>,
    may: May,
    success: u16,
}

impl Page {
    fn get(path: String, may: May) -> Page {
        Page { method: Method::GET, path, form: Vec::new(), may, success: 200 }
    }

    fn post(path: String, form: Vec<(&'static str, String)>, may: May, success: u16) -> Page {
        Page { method: Method::POST, path, form, may, success }
    }
}

/// Every page and form, made fresh for call number `n` (an activity of torino's to retract, a new name).
async fn pages(app: &TestApp, n: usize) -> Vec<Page> {
    let base = "/programmes/connection";
    let activity = torino_activity(app, "connection", false).await;
    let exchange = [
        ("occurred_on", "2022-03-02"), ("title", "Shadowing"), ("host", "torino"), ("visitor", "paris"), ("cluster", "cop1"),
        ("days", "2"), ("staff", "1"),
    ];
    vec![
        Page::get("/account".into(), May::SignedIn),
        Page::get("/admin".into(), May::Admin),
        Page::post("/admin/people".into(), vec![("name", format!("page-invitee-{n}")), ("display_name", "Invitee".into()),
            ("email", "invitee@example.org".into()), ("role", "auditor".into()), ("programme", String::new()), ("partner", String::new())],
            May::Admin, 201),
        Page::get(format!("{base}/record"), May::Records),
        Page::get(format!("{base}/record/staff_exchange"), May::Records),
        Page::post(format!("{base}/record/staff_exchange"), exchange.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(), May::OwnRecorder, 303),
        Page::get(format!("{base}/activities"), May::SignedIn),
        Page::get(format!("{base}/activities/{activity}"), May::SignedIn),
        Page::post(format!("{base}/activities/{activity}/retract"), vec![("reason", "recorded twice".into())], May::OwnRecorder, 303),
        Page::get(format!("{base}/queue"), May::Coordinator),
        Page::get(format!("{base}/manage"), May::Coordinator),
        Page::post(format!("{base}/manage/clusters"), vec![("id", format!("page-cluster-{n}")), ("name", "A cluster".into()), ("theme", "housing".into()), ("members", "torino".into())], May::Coordinator, 303),
        Page::get(format!("{base}/upload"), May::Coordinator),
    ]
}

async fn send(app: &TestApp, page: &Page, caller: &Caller) -> Answer {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.request(page.method.clone(), app.url(&page.path)).header("accept", "text/html");
    if let Some(token) = &caller.token {
        request = request.bearer_auth(token);
    }
    let mut form = page.form.clone();
    if let Some((cookie, csrf)) = &caller.session {
        request = request.header("cookie", format!("tracker_session={cookie}"));
        form.insert(0, ("csrf", csrf.clone()));
    }
    if page.method == Method::POST {
        let body = serde_urlencoded::to_string(&form).unwrap();
        request = request.header("content-type", "application/x-www-form-urlencoded").body(body);
    }
    let response = request.send().await.expect("the server answers");
    let (status, headers) = (response.status(), response.headers().clone());
    Answer { status, headers, text: response.text().await.unwrap() }
}

/// What is wrong with `answer` for this caller, if anything.
fn verdict(answer: &Answer, page: &Page, kind: Kind) -> Option<String> {
    let status = answer.status.as_u16();
    let content_type = answer.header("content-type").unwrap_or("");
    let body: String = answer.text.chars().take(160).collect();
    match kind {
        Kind::Unauthenticated if status != 401 || content_type != "application/problem+json" => {
            Some(format!("expected a 401 problem, got {status} {content_type}: {body}"))
        }
        Kind::Unauthenticated => None,
        Kind::Anonymous => {
            let location = answer.header("location").unwrap_or("");
            let expected = format!("/sign-in?next={}", page.path);
            (status != 303 || location != expected).then(|| format!("expected 303 to {expected}, got {status} to '{location}'"))
        }
        _ if page.may.admits(kind) => (status != page.success).then(|| format!("expected {}, got {status}: {body}", page.success)),
        _ if status != 403 || !content_type.starts_with("text/html") => {
            Some(format!("expected the 403 page, got {status} {content_type}: {body}"))
        }
        _ => None,
    }
}

#[tokio::test]
async fn every_caller_gets_the_page_its_role_allows_sign_in_or_the_forbidden_page() {
    let app = crate::helpers::spawn_app().await;
    let callers = connection_callers(&app).await;
    let count = pages(&app, 0).await.len();
    let mut failures = Vec::new();
    for (n, caller) in callers.iter().enumerate() {
        for page in pages(&app, n + 1).await {
            let answer = send(&app, &page, caller).await;
            if answer.status == StatusCode::INTERNAL_SERVER_ERROR {
                failures.push(format!("{:<44} × {} {}: 500 {}", caller.label, page.method, page.path, answer.text));
            } else if let Some(why) = verdict(&answer, &page, caller.kind) {
                failures.push(format!("{:<44} × {} {}: {why}", caller.label, page.method, page.path));
            }
        }
    }
    report(&failures, callers.len() * count);
}
