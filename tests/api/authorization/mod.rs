//! Who may call what (SPEC §6): a matrix of callers × endpoints against the real server. Every caller — none, an
//! unknown or revoked token, recorders of the programme, of another partner and of another programme,
//! coordinators of the programme and of another one, an auditor, an admin — sends the same request to every
//! endpoint, and the status must be the one SPEC §6 gives: 401 without a usable token, 403 for a valid token
//! whose role, programme or partner does not allow it, the success status otherwise; every 401 and 403 is
//! `application/problem+json`. Each event a caller appends must carry the caller's token name as `actor`. The
//! same roles signed in as people, by session cookie (with the CSRF token in `X-CSRF-Token`), are held to the
//! same table; a cookie of an ended session counts as no credentials.
//!
//! Writes get fresh ids and fresh activities per call, so the allowed callers succeed rather than meet a 409 of
//! an earlier caller's doing, and the refused callers are refused for who they are, not for what they sent.
//! Mismatches are collected and reported together, each naming the caller and the endpoint.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{exchange, spawn_app, Answer, TestApp};

mod endpoints;
mod pages;
use endpoints::{Endpoint, Request, Writes};

/// Who a caller is, relative to the programme the matrix is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// No `Authorization` header.
    Anonymous,
    /// A token the server does not know, or no longer knows.
    Unauthenticated,
    /// A recorder of the programme for the partner the activities are attributed to (torino).
    OwnRecorder,
    /// A recorder of the programme for another partner (paris), acting on torino's activities.
    OtherPartnerRecorder,
    /// A recorder of another programme.
    OtherProgrammeRecorder,
    Coordinator,
    OtherProgrammeCoordinator,
    Auditor,
    Admin,
}

/// Who SPEC §6 lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Public,
    Admin,
    /// The programme's coordinator or an admin.
    Coordinator,
    /// A recorder of the activity's partner, the programme's coordinator or an admin.
    Recorder,
    /// An auditor, an admin or the programme's coordinator.
    History,
    /// An auditor or an admin.
    Auditor,
}

impl Who {
    fn admits(self, kind: Kind) -> bool {
        match self {
            Who::Public => true,
            Who::Admin => kind == Kind::Admin,
            Who::Coordinator => matches!(kind, Kind::Coordinator | Kind::Admin),
            Who::Recorder => matches!(kind, Kind::OwnRecorder | Kind::Coordinator | Kind::Admin),
            Who::History => matches!(kind, Kind::Auditor | Kind::Coordinator | Kind::Admin),
            Who::Auditor => matches!(kind, Kind::Auditor | Kind::Admin),
        }
    }

    /// The status SPEC §6 gives this caller when an admitted caller gets `success`.
    fn expected(self, kind: Kind, success: u16) -> u16 {
        match kind {
            // A token that is wrong is refused even where none is needed, so the client learns it is wrong.
            Kind::Unauthenticated => 401,
            _ if self == Who::Public => success,
            Kind::Anonymous => 401,
            _ if self.admits(kind) => success,
            _ => 403,
        }
    }
}

/// One caller of the matrix.
#[derive(Debug)]
struct Caller {
    label: &'static str,
    /// The token's name: the `actor` of every event it appends.
    name: Option<&'static str>,
    token: Option<String>,
    /// A person signed in with a browser: the session cookie and its CSRF token, sent as `X-CSRF-Token`.
    session: Option<(String, String)>,
    kind: Kind,
}

impl Caller {
    fn new(label: &'static str, name: Option<&'static str>, token: Option<String>, kind: Kind) -> Caller {
        Caller { label, name, token, session: None, kind }
    }
}

/// A person invited through the API who chose a password and signed in: a caller by session cookie.
async fn signed_in(app: &TestApp, label: &'static str, name: &'static str, role: &str, scope: (Option<&str>, Option<&str>), kind: Kind) -> Caller {
    let mut browser = crate::accounts::person(app, name, role, scope.0, scope.1).await;
    browser.get("/account").await.expect(200);
    let session = (browser.cookie.clone().expect("a session cookie"), browser.csrf.clone().expect("a CSRF token"));
    Caller { label, name: Some(name), token: None, session: Some(session), kind }
}

/// The callers by session cookie: one per role, and a cookie of a session that ended (anonymous).
async fn session_callers(app: &TestApp) -> Vec<Caller> {
    let mut ended = crate::accounts::person(app, "gone", "admin", None, None).await;
    let cookie = ended.cookie.clone().expect("a session cookie");
    ended.get("/account").await.expect(200);
    ended.post("/sign-out", &[]).await.expect(303);
    vec![
        Caller { label: "a signed-out session's cookie", name: None, token: None, session: Some((cookie, String::new())), kind: Kind::Anonymous },
        signed_in(app, "sara, recorder of connection/torino (cookie)", "sara", "recorder", (Some("connection"), Some("torino")), Kind::OwnRecorder).await,
        signed_in(app, "paul, recorder of connection/paris (cookie)", "paul", "recorder", (Some("connection"), Some("paris")), Kind::OtherPartnerRecorder).await,
        signed_in(app, "cora, coordinator of connection (cookie)", "cora", "coordinator", (Some("connection"), None), Kind::Coordinator).await,
        signed_in(app, "uma, coordinator of unites (cookie)", "uma", "coordinator", (Some("unites"), None), Kind::OtherProgrammeCoordinator).await,
        signed_in(app, "aida, auditor (cookie)", "aida", "auditor", (None, None), Kind::Auditor).await,
        signed_in(app, "adam, admin (cookie)", "adam", "admin", (None, None), Kind::Admin).await,
    ]
}

/// Every caller of the matrix about CONNECTION: no or unusable tokens, every role by token, and every role by
/// session cookie.
async fn connection_callers(app: &TestApp) -> Vec<Caller> {
    let mut callers = unauthenticated_callers(app).await;
    callers.extend([
        Caller::new("rita, recorder of connection/torino", Some("rita"),
            Some(app.token("rita", "recorder", Some("connection"), Some("torino")).await), Kind::OwnRecorder),
        Caller::new("pierre, recorder of connection/paris", Some("pierre"),
            Some(app.token("pierre", "recorder", Some("connection"), Some("paris")).await), Kind::OtherPartnerRecorder),
        Caller::new("zora, recorder of unites/zagreb", Some("zora"),
            Some(app.token("zora", "recorder", Some("unites"), Some("zagreb")).await), Kind::OtherProgrammeRecorder),
        Caller::new("alexandra, coordinator of connection", Some("alexandra"),
            Some(app.token("alexandra", "coordinator", Some("connection"), None).await), Kind::Coordinator),
        Caller::new("ulrike, coordinator of unites", Some("ulrike"),
            Some(app.token("ulrike", "coordinator", Some("unites"), None).await), Kind::OtherProgrammeCoordinator),
        Caller::new("audrey, auditor", Some("audrey"), Some(app.token("audrey", "auditor", None, None).await), Kind::Auditor),
        Caller::new("admin", Some("admin"), Some(app.admin.clone()), Kind::Admin),
    ]);
    callers.extend(session_callers(app).await);
    callers
}

/// The programme under test and an activity of torino's in it that every request may read.
#[derive(Debug)]
struct Fixture {
    programme: &'static str,
    requires_approval: bool,
    activity: String,
}

/// The smallest programme the server registers.
pub(crate) fn small_programme(id: &str, require_approval: bool) -> Value {
    json!({
        "id": id, "name": format!("Programme {id}"), "coordinator": "lead",
        "starts_on": "2020-01-01", "ends_on": "2022-12-31", "require_approval": require_approval,
        "partners": [
            {"id": "lead", "name": "Lead network", "kind": "network", "country": "BE", "role": "coordinator"},
            {"id": "torino", "name": "Torino", "kind": "city", "country": "IT", "role": "core_city"},
            {"id": "paris", "name": "Paris", "kind": "city", "country": "FR", "role": "core_city"}
        ],
        "clusters": [{"id": "cop1", "name": "CoP1", "members": ["torino", "paris"]}],
        "periods": [], "sources": [],
        "indicators": [{"id": "staff-exchanges", "label": "Staff exchanges", "unit": "exchanges", "target": "14",
                        "measure": {"aggregate": "count", "kinds": ["staff_exchange"]}}]
    })
}

/// A one-day reporting period `p{n}` in 2020, before every activity these tests record.
fn period(n: u64) -> Value {
    let day = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(n);
    json!({"id": format!("p{n}"), "starts_on": day, "ends_on": day})
}

/// A fresh staff exchange hosted by torino (so attributed to torino), recorded by the admin and, if asked,
/// approved by the admin.
async fn torino_activity(app: &TestApp, programme: &str, approved: bool) -> String {
    let path = format!("/v1/programmes/{programme}/activities");
    let recorded = app.post(&path, Some(&app.admin), &exchange("torino", "paris", "2022-03-01")).await.expect(201).json();
    assert_eq!(recorded["partner"], "torino", "{recorded}");
    let aid = recorded["id"].as_str().expect("an activity id").to_owned();
    if approved {
        let approval = app.post(&format!("{path}/{aid}/approval"), Some(&app.admin), &json!({})).await.expect(200).json();
        assert_eq!(approval["status"], "approved", "{approval}");
    }
    aid
}

/// Sends `request` with `token`; an event stream is answered without reading its endless body.
async fn send(app: &TestApp, request: &Request, caller: &Caller) -> Answer {
    let mut builder = app.client.request(request.method.clone(), app.url(&request.path));
    if let Some(token) = &caller.token {
        builder = builder.bearer_auth(token);
    }
    if let Some((cookie, csrf)) = &caller.session {
        builder = builder.header("cookie", format!("tracker_session={cookie}")).header("x-csrf-token", csrf);
    }
    if let Some(csv) = &request.csv {
        builder = builder.header("content-type", "text/csv").body(csv.clone());
    } else if let Some(body) = &request.body {
        builder = builder.header("content-type", "application/json").body(body.to_string());
    }
    let response = builder.send().await.expect("the server answers");
    let (status, headers) = (response.status(), response.headers().clone());
    // A refusal is a finite problem document; a subscription is dropped unread, which closes it.
    let text = if request.endless && status.is_success() { String::new() } else { response.text().await.expect("a body") };
    Answer { status, headers, text }
}

/// Whether `answer` has the expected status, and a refusal is a problem document with that status.
fn verdict(answer: &Answer, expected: u16, endless: bool) -> Result<(), String> {
    let status = answer.status.as_u16();
    let body: String = answer.text.chars().take(200).collect();
    if status != expected {
        return Err(format!("expected {expected}, got {status}: {body}"));
    }
    let content_type = answer.header("content-type").unwrap_or("");
    if matches!(answer.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        if content_type != "application/problem+json" {
            return Err(format!("{status} as '{content_type}', not application/problem+json: {body}"));
        }
        let problem: Value = serde_json::from_str(&answer.text).map_err(|e| format!("{status} is not JSON ({e}): {body}"))?;
        if problem["status"] != json!(status) || !problem["type"].is_string() || !problem["title"].is_string() {
            return Err(format!("{status} is not a problem with type, title and status: {body}"));
        }
    }
    if endless && answer.status.is_success() && !content_type.starts_with("text/event-stream") {
        return Err(format!("{status} as '{content_type}', not text/event-stream"));
    }
    Ok(())
}

/// The `actor` of the event a successful `request` appended, read back through the API.
async fn actor_of_write(app: &TestApp, fixture: &Fixture, request: &Request, answer: &Answer) -> Result<Option<String>, String> {
    let actor = |event: &Value| event["actor"].as_str().map(str::to_owned).ok_or(format!("an event without an actor: {event}"));
    let activity = match &request.writes {
        Writes::Nothing => return Ok(None),
        Writes::NewActivity => answer.json()["id"].as_str().ok_or("no id in the answer")?.to_owned(),
        Writes::Imported => answer.json()["outcomes"][0]["id"].as_str().ok_or("no id in the import's answer")?.to_owned(),
        Writes::Activity(aid) => aid.clone(),
        Writes::Stream(stream) => {
            let version = answer.header("etag").ok_or("no ETag in the answer")?.trim_matches('"').to_owned();
            let path = format!("/v1/streams/{stream}?from_version={version}&limit=1");
            let page = app.get(&path, Some(&app.admin)).await.expect(200).json();
            return actor(&page["events"][0]).map(Some);
        }
    };
    let path = format!("/v1/programmes/{}/activities/{activity}", fixture.programme);
    let read = app.get(&path, None).await.expect(200).json();
    let history = read["history"].as_array().ok_or(format!("no history: {read}"))?;
    actor(history.last().ok_or("an empty history")?).map(Some)
}

/// Sends every endpoint's request as every caller and returns each difference from SPEC §6, one line each.
async fn run_matrix(app: &TestApp, fixture: &Fixture, callers: &[Caller], endpoints: &[Endpoint]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut n = 0;
    for &endpoint in endpoints {
        let (who, success) = endpoint.rule(fixture);
        for caller in callers {
            n += 1;
            let request = endpoint.prepare(app, fixture, n).await;
            let case = format!("{:<44} × {endpoint:?} ({} {})", caller.label, request.method, request.path);
            let expected = who.expected(caller.kind, success);
            let answer = send(app, &request, caller).await;
            if let Err(why) = verdict(&answer, expected, request.endless) {
                failures.push(format!("{case}: {why}"));
                continue;
            }
            if !answer.status.is_success() {
                continue;
            }
            match actor_of_write(app, fixture, &request, &answer).await {
                Ok(Some(actor)) if Some(actor.as_str()) != caller.name => {
                    failures.push(format!("{case}: the event's actor is '{actor}', not '{}'", caller.name.unwrap_or("")));
                }
                Ok(_) => {}
                Err(why) => failures.push(format!("{case}: cannot read the actor back: {why}")),
            }
        }
    }
    failures
}

/// No token, an unknown one, a revoked one, which worked until it was revoked, and an expired one, which worked
/// until it expired.
async fn unauthenticated_callers(app: &TestApp) -> Vec<Caller> {
    let revoked = app.token("rex", "admin", None, None).await;
    app.get("/v1/audit/verify", Some(&revoked)).await.expect(200);
    app.send(Method::DELETE, "/v1/tokens/rex", Some(&app.admin), None, &[]).await.expect(204);
    // A token that expires a moment after it is issued; on a slow machine the moment may pass before the server
    // reads the request (422: not in the future), and another name is issued with a new moment.
    let expired = 'issued: {
        for attempt in 0..5 {
            let expires_at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let body = json!({"name": format!("ex{attempt}"), "role": "admin", "expires_at": expires_at});
            let answer = app.post("/v1/tokens", Some(&app.admin), &body).await;
            if answer.status == 201 {
                break 'issued answer.json()["token"].as_str().unwrap().to_owned();
            }
            assert!(answer.text.contains("is not in the future"), "{}", answer.text);
        }
        panic!("no token could be issued to expire two seconds later in five attempts");
    };
    app.refused_once_expired(&expired).await;
    vec![
        Caller::new("no token", None, None, Kind::Anonymous),
        Caller::new("an unknown token", None, Some("trk_nonsense".into()), Kind::Unauthenticated),
        Caller::new("rex, a revoked admin token", None, Some(revoked), Kind::Unauthenticated),
        Caller::new("an expired admin token", None, Some(expired), Kind::Unauthenticated),
    ]
}

fn report(failures: &[String], cases: usize) {
    assert!(
        failures.is_empty(),
        "{} of {cases} caller × endpoint cases differ from SPEC §6:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_caller_gets_the_status_spec_6_gives_it_on_every_endpoint_and_its_writes_name_it_as_actor() {
    let app = spawn_app().await;
    let callers = connection_callers(&app).await;
    let fixture = Fixture { programme: "connection", requires_approval: false, activity: torino_activity(&app, "connection", false).await };
    let endpoints = [
        Endpoint::Dashboard,
        Endpoint::ProgrammePage,
        Endpoint::Healthz,
        Endpoint::Metrics,
        Endpoint::OpenApi,
        Endpoint::ListProgrammes,
        Endpoint::Definition,
        Endpoint::ListActivities,
        Endpoint::ReadActivity,
        Endpoint::Progress,
        Endpoint::Iati,
        Endpoint::IatiSettings,
        Endpoint::SetIatiSettings,
        Endpoint::AuditHead,
        Endpoint::RegisterProgramme,
        Endpoint::AddPartner,
        Endpoint::AddCluster,
        Endpoint::AddPeriod,
        Endpoint::SetIndicator,
        Endpoint::LockPeriod,
        Endpoint::UnlockPeriod,
        Endpoint::RecordActivity,
        Endpoint::ImportActivities,
        Endpoint::Correct,
        Endpoint::Retract,
        Endpoint::Submit,
        Endpoint::Approve,
        Endpoint::Return,
        Endpoint::History,
        Endpoint::Events,
        Endpoint::Stream,
        Endpoint::Subscribe,
        Endpoint::Verify,
        Endpoint::IssueToken,
        Endpoint::RevokeToken,
        Endpoint::ListTokens,
        Endpoint::InvitePerson,
        Endpoint::ListPeople,
        Endpoint::RevokePerson,
    ];
    let failures = run_matrix(&app, &fixture, &callers, &endpoints).await;
    report(&failures, callers.len() * endpoints.len());
}

#[tokio::test]
async fn approval_and_return_are_the_coordinators_and_an_approved_activity_is_out_of_its_recorders_reach() {
    let app = spawn_app().await;
    app.post("/v1/programmes", Some(&app.admin), &small_programme("pilot", true)).await.expect(201);
    let mut callers = unauthenticated_callers(&app).await;
    callers.extend([
        Caller::new("rita, recorder of pilot/torino", Some("rita"),
            Some(app.token("rita", "recorder", Some("pilot"), Some("torino")).await), Kind::OwnRecorder),
        Caller::new("pierre, recorder of pilot/paris", Some("pierre"),
            Some(app.token("pierre", "recorder", Some("pilot"), Some("paris")).await), Kind::OtherPartnerRecorder),
        Caller::new("carla, recorder of connection/torino", Some("carla"),
            Some(app.token("carla", "recorder", Some("connection"), Some("torino")).await), Kind::OtherProgrammeRecorder),
        Caller::new("lena, coordinator of pilot", Some("lena"),
            Some(app.token("lena", "coordinator", Some("pilot"), None).await), Kind::Coordinator),
        Caller::new("alexandra, coordinator of connection", Some("alexandra"),
            Some(app.token("alexandra", "coordinator", Some("connection"), None).await), Kind::OtherProgrammeCoordinator),
        Caller::new("audrey, auditor", Some("audrey"), Some(app.token("audrey", "auditor", None, None).await), Kind::Auditor),
        Caller::new("admin", Some("admin"), Some(app.admin.clone()), Kind::Admin),
    ]);
    let fixture = Fixture { programme: "pilot", requires_approval: true, activity: torino_activity(&app, "pilot", false).await };
    let submitted = app.get(&format!("/v1/programmes/pilot/activities/{}", fixture.activity), None).await.expect(200).json();
    assert_eq!(submitted["status"], "submitted", "a programme that requires approval submits what is recorded");
    let endpoints = [
        Endpoint::RecordActivity,
        Endpoint::Correct,
        Endpoint::Retract,
        Endpoint::Submit,
        Endpoint::Approve,
        Endpoint::Return,
        Endpoint::CorrectApproved,
        Endpoint::RetractApproved,
        Endpoint::History,
    ];
    let failures = run_matrix(&app, &fixture, &callers, &endpoints).await;
    report(&failures, callers.len() * endpoints.len());
}

#[tokio::test]
async fn who_may_write_is_checked_before_the_body_so_outsiders_learn_nothing_about_it() {
    let app = spawn_app().await;
    let auditor = app.token("funder", "auditor", None, None).await;
    let other = app.token("unites-lead", "coordinator", Some("unites"), None).await;
    let nonsense = json!({"colour": "blue"});
    for path in [
        "/v1/programmes/connection/partners",
        "/v1/programmes/connection/periods/p1/lock",
        "/v1/programmes/connection/activities",
        "/v1/programmes/connection/activities/0193a5b0-0000-7000-8000-000000000000/corrections",
    ] {
        app.post(path, None, &nonsense).await.problem(401);
        app.post(path, Some(&auditor), &nonsense).await.problem(403);
        app.post(path, Some(&other), &nonsense).await.problem(403);
    }
    let put = app.send(reqwest::Method::PUT, "/v1/programmes/atlantis/indicators/x", None, Some(&nonsense), &[]).await;
    put.problem(401);
}
