//! The browser's pages in the role matrix: every caller — no credentials, unusable tokens, every role by token
//! and by session cookie — opens every page and sends every form. A signed-out visitor is sent to sign in (303
//! to `/sign-in?next=…`), an unusable token is 401 as on the API, a signed-in caller whose role does not allow
//! the page gets the 403 page (HTML), and the others the page's success. A form sent by cookie carries the
//! session's CSRF token. Sign-in, sign-out and invitations are everyone's; personal tokens are a person's (a
//! session, not a token).

use reqwest::{Method, StatusCode};

use super::{connection_callers, period, report, torino_activity, Caller, Kind};
use crate::helpers::{Answer, TestApp};

/// Who may open a page or send its form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum May {
    /// Everyone, signed in or not (sign-in, sign-out, invitations); only an unusable token is refused.
    Public,
    /// Anyone signed in.
    SignedIn,
    /// A person signed in with a password (a session), not a token.
    Person,
    Admin,
    /// The programme's recorders (of any partner), its coordinator, an admin: who may record in it.
    Records,
    /// The recorder of the activity's partner, the programme's coordinator, an admin.
    OwnRecorder,
    /// The programme's coordinator, an admin.
    Coordinator,
}

impl May {
    fn admits(self, kind: Kind, session: bool) -> bool {
        match self {
            May::Public | May::SignedIn => true,
            May::Person => session,
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
    /// A CSV file sent as the multipart form's `file` part (after the CSRF field) instead of `form`.
    file: Option<&'static str>,
    may: May,
    success: u16,
}

impl Page {
    fn get(path: String, may: May) -> Page {
        Page { method: Method::GET, path, form: Vec::new(), file: None, may, success: 200 }
    }

    fn post(path: String, form: Vec<(&'static str, String)>, may: May, success: u16) -> Page {
        Page { method: Method::POST, path, form, file: None, may, success }
    }
}

/// A staff exchange's form as the activity page fills it for torino's activity, with the days changed.
fn correction(days: &str) -> Vec<(&'static str, String)> {
    [("occurred_on", "2022-03-01"), ("ends_on", ""), ("title", ""), ("host", "torino"), ("visitor", "paris"), ("cluster", "cop1"),
     ("days", days), ("staff", "2"), ("partner", "torino"), ("notes", ""), ("evidence", ""), ("reason", "a day longer")]
    .iter()
    .map(|(k, v)| (*k, (*v).to_owned()))
    .collect()
}

fn owned(fields: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// Every page and form, made fresh for call number `n` (activities of torino's, periods, people and tokens to act
/// on, new names). The session-ending forms come last: each caller's session ends with them.
async fn pages(app: &TestApp, n: u64) -> Vec<Page> {
    let base = "/programmes/connection";
    let api = "/v1/programmes/connection";
    let activity = torino_activity(app, "connection", false).await;
    let other = torino_activity(app, "connection", false).await;
    let (locking, unlocking) = (period(3 * n), period(3 * n + 1));
    app.post(&format!("{api}/periods"), Some(&app.admin), &locking).await.expect(201);
    app.post(&format!("{api}/periods"), Some(&app.admin), &unlocking).await.expect(201);
    let reason = serde_json::json!({"reason": "interim report filed"});
    app.post(&format!("{api}/periods/p{}/lock", 3 * n + 1), Some(&app.admin), &reason).await.expect(200);
    let person = format!("page-person-{n}");
    crate::accounts::invite(app, &person, "auditor", None, None).await;
    let token = format!("page-token-{n}");
    app.token(&token, "auditor", None, None).await;
    let exchange = owned(&[("occurred_on", "2022-03-02"), ("title", "Shadowing"), ("host", "torino"), ("visitor", "paris"),
        ("cluster", "cop1"), ("days", "2"), ("staff", "1")]);
    let invitee = vec![("name", format!("page-invitee-{n}")), ("display_name", "Invitee".into()),
        ("email", "invitee@example.org".into()), ("role", "auditor".into()), ("programme", String::new()), ("partner", String::new())];
    vec![
        Page::get("/sign-in".into(), May::Public),
        Page::get("/invitations/trk_unknown".into(), May::Public).answering(404),
        // A wrong password reads the same for everyone (one failure per caller: far from the address's limit).
        Page::post("/sign-in".into(), owned(&[("name", &format!("nobody-{n}")), ("password", "not a password of anyone")]), May::Public, 401),
        Page::post("/invitations/trk_unknown".into(), owned(&[("password", "x"), ("confirm", "x")]), May::Public, 404),
        Page::get("/account".into(), May::SignedIn),
        Page::post("/account/tokens".into(), owned(&[("label", &format!("page-{n}")), ("expires_on", "")]), May::Person, 200),
        Page::get("/admin".into(), May::Admin),
        Page::post("/admin/people".into(), invitee, May::Admin, 201),
        Page::post(format!("/admin/people/{person}/role"), owned(&[("role", "auditor"), ("programme", ""), ("partner", "")]), May::Admin, 303),
        Page::post(format!("/admin/people/{person}/reinvite"), Vec::new(), May::Admin, 200),
        Page::post(format!("/admin/people/{person}/revoke"), Vec::new(), May::Admin, 303),
        Page::post(format!("/admin/tokens/{token}/revoke"), Vec::new(), May::Admin, 303),
        Page::get(format!("{base}/record"), May::Records),
        Page::get(format!("{base}/record/staff_exchange"), May::Records),
        Page::post(format!("{base}/record/staff_exchange"), exchange, May::OwnRecorder, 303),
        Page::get(format!("{base}/activities"), May::SignedIn),
        Page::get(format!("{base}/activities/{activity}"), May::SignedIn),
        Page::post(format!("{base}/activities/{activity}/correct"), correction("6"), May::OwnRecorder, 303),
        // CONNECTION does not ask for approval: an activity is never submitted, so who may gets the 409 page.
        Page::post(format!("{base}/activities/{activity}/submit"), Vec::new(), May::OwnRecorder, 409),
        Page::post(format!("{base}/activities/{other}/retract"), owned(&[("reason", "recorded twice")]), May::OwnRecorder, 303),
        Page::get(format!("{base}/queue"), May::Coordinator),
        Page::post(format!("{base}/queue/{activity}/approve"), Vec::new(), May::Coordinator, 409),
        Page::post(format!("{base}/queue/{activity}/return"), owned(&[("note", "add the agenda")]), May::Coordinator, 409),
        Page::get(format!("{base}/manage"), May::Coordinator),
        Page::post(format!("{base}/manage/clusters"), owned(&[("id", &format!("page-cluster-{n}")), ("name", "A cluster"), ("theme", "housing"), ("members", "torino")]), May::Coordinator, 303),
        Page::post(format!("{base}/manage/partners"), owned(&[("id", &format!("page-city-{n}")), ("name", "A city"), ("kind", "city"), ("role", "fellow_city"), ("country", "PT"), ("budget_share", "")]), May::Coordinator, 303),
        Page::post(format!("{base}/manage/periods"), {
            let day = period(3 * n + 2)["starts_on"].as_str().unwrap().to_owned();
            vec![("id", format!("q{n}")), ("starts_on", day.clone()), ("ends_on", day)]
        }, May::Coordinator, 303),
        Page::post(format!("{base}/manage/lock"), owned(&[("period", &format!("p{}", 3 * n)), ("reason", "reported")]), May::Coordinator, 303),
        Page::post(format!("{base}/manage/unlock"), owned(&[("period", &format!("p{}", 3 * n + 1)), ("reason", "late evidence")]), May::Coordinator, 303),
        Page::post(format!("{base}/manage/targets"), owned(&[("indicator", "staff-exchanges"), ("target", "14"), ("reason", "as agreed")]), May::Coordinator, 303),
        Page::post(format!("{base}/manage/indicators"), owned(&[("id", &format!("page-visits-{n}")), ("label", "Peer visits"), ("unit", "visits"),
            ("target", "3"), ("aggregate", "count"), ("kinds", "peer_visit"), ("field", ""), ("due", "")]), May::Coordinator, 303),
        Page::get(format!("{base}/upload"), May::Coordinator),
        Page { file: Some("kind,occurred_on,host,visitor,cluster,days,staff\r\nstaff_exchange,2021-10-11,torino,asti,cop1,5,2\r\n"),
            ..Page::post(format!("{base}/upload"), Vec::new(), May::Coordinator, 200) },
        Page::post("/account/sign-out-everywhere".into(), Vec::new(), May::SignedIn, 303),
        Page::post("/sign-out".into(), Vec::new(), May::Public, 303),
    ]
}

impl Page {
    fn answering(self, success: u16) -> Page {
        Page { success, ..self }
    }
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
    if let Some(csv) = page.file {
        const BOUNDARY: &str = "matrix-boundary-7d2e";
        let mut body = String::new();
        for (name, value) in &form {
            body.push_str(&format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
        }
        body.push_str(&format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{BOUNDARY}--\r\n"));
        request = request.header("content-type", format!("multipart/form-data; boundary={BOUNDARY}")).body(body);
    } else if page.method == Method::POST {
        let body = serde_urlencoded::to_string(&form).unwrap();
        request = request.header("content-type", "application/x-www-form-urlencoded").body(body);
    }
    let response = request.send().await.expect("the server answers");
    let (status, headers) = (response.status(), response.headers().clone());
    Answer { status, headers, text: response.text().await.unwrap() }
}

/// What is wrong with `answer` for this caller, if anything.
fn verdict(answer: &Answer, page: &Page, kind: Kind, session: bool) -> Option<String> {
    let status = answer.status.as_u16();
    let content_type = answer.header("content-type").unwrap_or("");
    let body: String = answer.text.chars().take(160).collect();
    match kind {
        Kind::Unauthenticated if status != 401 || content_type != "application/problem+json" => {
            Some(format!("expected a 401 problem, got {status} {content_type}: {body}"))
        }
        Kind::Unauthenticated => None,
        _ if page.may == May::Public => (status != page.success).then(|| format!("expected {}, got {status}: {body}", page.success)),
        Kind::Anonymous => {
            let location = answer.header("location").unwrap_or("");
            let expected = format!("/sign-in?next={}", page.path);
            (status != 303 || location != expected).then(|| format!("expected 303 to {expected}, got {status} to '{location}'"))
        }
        _ if page.may.admits(kind, session) => (status != page.success).then(|| format!("expected {}, got {status}: {body}", page.success)),
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
        for page in pages(&app, n as u64 + 1).await {
            let answer = send(&app, &page, caller).await;
            if answer.status == StatusCode::INTERNAL_SERVER_ERROR {
                failures.push(format!("{:<44} × {} {}: 500 {}", caller.label, page.method, page.path, answer.text));
            } else if let Some(why) = verdict(&answer, &page, caller.kind, caller.session.is_some()) {
                failures.push(format!("{:<44} × {} {}: {why}", caller.label, page.method, page.path));
            }
        }
    }
    report(&failures, callers.len() * count);
}
