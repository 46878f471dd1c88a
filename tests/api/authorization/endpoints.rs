//! The endpoints of the role matrix: every route the server serves, who may call it, and the one request every
//! caller sends to it.

use reqwest::Method;
use serde_json::{json, Value};

use super::*;

/// Every endpoint served (SPEC §6 and the few it does not list), and a few states of an activity that change who
/// may touch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Dashboard,
    ProgrammePage,
    Healthz,
    Metrics,
    OpenApi,
    ListProgrammes,
    Definition,
    ListActivities,
    ReadActivity,
    Progress,
    /// Not in the table of SPEC §6: the progress as an IATI 2.03 file.
    Iati,
    /// Not in SPEC §6: the programme's IATI settings, read by anyone and set by the coordinator.
    IatiSettings,
    SetIatiSettings,
    AuditHead,
    RegisterProgramme,
    AddPartner,
    AddCluster,
    /// Not in the table of SPEC §6 but served, and a change of the definition like partners and clusters.
    AddPeriod,
    SetIndicator,
    LockPeriod,
    UnlockPeriod,
    RecordActivity,
    /// Not in the table of SPEC §6: activities in bulk from a CSV or XLSX file (§10), the coordinator's work.
    ImportActivities,
    Correct,
    Retract,
    /// Not in the table of SPEC §6: a returned activity submitted again.
    Submit,
    Approve,
    Return,
    /// Corrections and retraction of an approved activity: no longer the recorder's to make.
    CorrectApproved,
    RetractApproved,
    History,
    Events,
    Stream,
    Subscribe,
    Verify,
    IssueToken,
    RevokeToken,
    ListTokens,
    InvitePerson,
    ListPeople,
    RevokePerson,
}

/// What a successful request appended, to find its `actor`.
#[derive(Debug)]
pub(super) enum Writes {
    Nothing,
    /// The activity in the answer's `id`.
    NewActivity,
    /// The activity of an import's first row.
    Imported,
    Activity(String),
    /// The programme stream, at the version in the answer's `ETag`.
    Stream(String),
}

/// One request, the same for every caller.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) body: Option<Value>,
    /// A CSV file as the body instead of JSON.
    pub(super) csv: Option<String>,
    /// An event stream: its body never ends, so only the status and headers are read.
    pub(super) endless: bool,
    pub(super) writes: Writes,
}

impl Request {
    pub(super) fn get(path: String) -> Request {
        Request { method: Method::GET, path, body: None, csv: None, endless: false, writes: Writes::Nothing }
    }

    pub(super) fn post(path: String, body: Value, writes: Writes) -> Request {
        Request { method: Method::POST, path, body: Some(body), csv: None, endless: false, writes }
    }
}

impl Endpoint {
    /// Who may call it and the status an admitted caller gets.
    pub(super) fn rule(self, fixture: &Fixture) -> (Who, u16) {
        match self {
            Endpoint::Dashboard
            | Endpoint::ProgrammePage
            | Endpoint::Healthz
            | Endpoint::Metrics
            | Endpoint::OpenApi
            | Endpoint::ListProgrammes
            | Endpoint::Definition
            | Endpoint::ListActivities
            | Endpoint::ReadActivity
            | Endpoint::Progress
            | Endpoint::Iati
            | Endpoint::IatiSettings
            | Endpoint::AuditHead => (Who::Public, 200),
            Endpoint::SetIatiSettings => (Who::Coordinator, 200),
            Endpoint::RegisterProgramme => (Who::Admin, 201),
            Endpoint::AddPartner | Endpoint::AddCluster | Endpoint::AddPeriod | Endpoint::SetIndicator => (Who::Coordinator, 201),
            Endpoint::LockPeriod | Endpoint::UnlockPeriod => (Who::Coordinator, 200),
            Endpoint::RecordActivity => (Who::Recorder, 201),
            Endpoint::ImportActivities => (Who::Coordinator, 200),
            Endpoint::Correct | Endpoint::Retract => (Who::Recorder, 200),
            // Only a returned activity can be submitted again, and only where approval is required.
            Endpoint::Submit => (Who::Recorder, if fixture.requires_approval { 200 } else { 409 }),
            // Without approval an activity is never submitted: the admitted caller gets past the role check to
            // the 409 of the activity's status, where everyone else stops at 403.
            Endpoint::Approve | Endpoint::Return => (Who::Coordinator, if fixture.requires_approval { 200 } else { 409 }),
            Endpoint::CorrectApproved | Endpoint::RetractApproved => (Who::Coordinator, 200),
            Endpoint::History => (Who::History, 200),
            Endpoint::Events | Endpoint::Stream | Endpoint::Subscribe | Endpoint::Verify => (Who::Auditor, 200),
            Endpoint::IssueToken => (Who::Admin, 201),
            Endpoint::RevokeToken => (Who::Admin, 204),
            Endpoint::ListTokens => (Who::Admin, 200),
            Endpoint::InvitePerson => (Who::Admin, 201),
            Endpoint::ListPeople => (Who::Admin, 200),
            Endpoint::RevokePerson => (Who::Admin, 204),
        }
    }

    /// The request, with whatever it acts on made fresh (by the admin) for call number `n`.
    pub(super) async fn prepare(self, app: &TestApp, fixture: &Fixture, n: u64) -> Request {
        let p = fixture.programme;
        let base = format!("/v1/programmes/{p}");
        match self {
            Endpoint::Dashboard => Request::get("/".into()),
            Endpoint::ProgrammePage => Request::get(format!("/programmes/{p}")),
            Endpoint::Healthz => Request::get("/healthz".into()),
            Endpoint::Metrics => Request::get("/metrics".into()),
            Endpoint::OpenApi => Request::get("/openapi.json".into()),
            Endpoint::ListProgrammes => Request::get("/v1/programmes".into()),
            Endpoint::Definition => Request::get(base),
            Endpoint::ListActivities => Request::get(format!("{base}/activities?partner=torino")),
            Endpoint::ReadActivity => Request::get(format!("{base}/activities/{}", fixture.activity)),
            Endpoint::Progress => Request::get(format!("{base}/progress")),
            Endpoint::Iati => Request::get(format!("{base}/iati")),
            Endpoint::IatiSettings => Request::get(format!("{base}/iati-settings")),
            Endpoint::SetIatiSettings => {
                // Other settings on every call, so that each admitted call appends an event.
                let settings = json!({"reporting_org": {"name": format!("Eurocities {n}")}, "sectors": [{"code": "15190"}]});
                let writes = Writes::Stream(format!("programme-{p}"));
                Request { method: Method::PUT, ..Request::post(format!("{base}/iati-settings"), settings, writes) }
            }
            Endpoint::AuditHead => Request::get("/v1/audit/head".into()),
            Endpoint::RegisterProgramme => {
                let id = format!("pilot-{n}");
                let definition = small_programme(&id, false);
                Request::post("/v1/programmes".into(), definition, Writes::Stream(format!("programme-{id}")))
            }
            Endpoint::AddPartner => {
                let partner = json!({"id": format!("city-{n}"), "name": format!("City {n}"), "kind": "city",
                                     "country": "FR", "role": "fellow_city"});
                Request::post(format!("{base}/partners"), partner, Writes::Stream(format!("programme-{p}")))
            }
            Endpoint::AddCluster => {
                let cluster = json!({"id": format!("cop-{n}"), "name": format!("CoP {n}"), "members": ["torino", "paris"]});
                Request::post(format!("{base}/clusters"), cluster, Writes::Stream(format!("programme-{p}")))
            }
            Endpoint::AddPeriod => Request::post(format!("{base}/periods"), period(n), Writes::Stream(format!("programme-{p}"))),
            Endpoint::SetIndicator => {
                let indicator = json!({"label": format!("Mentoring sessions {n}"), "unit": "sessions", "target": "4",
                                       "measure": {"aggregate": "count", "kinds": ["training_delivered"]}});
                let writes = Writes::Stream(format!("programme-{p}"));
                Request { method: Method::PUT, ..Request::post(format!("{base}/indicators/mentoring-{n}"), indicator, writes) }
            }
            Endpoint::LockPeriod => {
                app.post(&format!("{base}/periods"), Some(&app.admin), &period(n)).await.expect(201);
                let reason = json!({"reason": "interim report filed"});
                Request::post(format!("{base}/periods/p{n}/lock"), reason, Writes::Stream(format!("programme-{p}")))
            }
            Endpoint::UnlockPeriod => {
                app.post(&format!("{base}/periods"), Some(&app.admin), &period(n)).await.expect(201);
                let reason = json!({"reason": "interim report filed"});
                app.post(&format!("{base}/periods/p{n}/lock"), Some(&app.admin), &reason).await.expect(200);
                let reason = json!({"reason": "late evidence"});
                Request::post(format!("{base}/periods/p{n}/unlock"), reason, Writes::Stream(format!("programme-{p}")))
            }
            Endpoint::RecordActivity => {
                Request::post(format!("{base}/activities"), exchange("torino", "paris", "2022-03-01"), Writes::NewActivity)
            }
            Endpoint::ImportActivities => Request {
                // A new row per call, so that each admitted caller records an activity of its own.
                csv: Some(format!("kind,occurred_on,host,visitor,days,staff,notes\nstaff_exchange,2022-03-01,torino,paris,5,2,{n}\n")),
                ..Request::post(format!("{base}/imports?commit=true"), json!({}), Writes::Imported)
            },
            Endpoint::Correct | Endpoint::CorrectApproved => {
                let aid = torino_activity(app, p, self == Endpoint::CorrectApproved).await;
                let correction = json!({"reason": "the exchange lasted a day longer", "changes": {"days": 6}});
                Request::post(format!("{base}/activities/{aid}/corrections"), correction, Writes::Activity(aid))
            }
            Endpoint::Retract | Endpoint::RetractApproved => {
                let aid = torino_activity(app, p, self == Endpoint::RetractApproved).await;
                let reason = json!({"reason": "recorded twice"});
                Request::post(format!("{base}/activities/{aid}/retraction"), reason, Writes::Activity(aid))
            }
            Endpoint::Submit => {
                let aid = torino_activity(app, p, false).await;
                if fixture.requires_approval {
                    let note = json!({"note": "add the list of participants"});
                    app.post(&format!("{base}/activities/{aid}/return"), Some(&app.admin), &note).await.expect(200);
                }
                Request::post(format!("{base}/activities/{aid}/submission"), json!({}), Writes::Activity(aid))
            }
            Endpoint::Approve => {
                let aid = torino_activity(app, p, false).await;
                Request::post(format!("{base}/activities/{aid}/approval"), json!({"note": "evidence checked"}), Writes::Activity(aid))
            }
            Endpoint::Return => {
                let aid = torino_activity(app, p, false).await;
                let note = json!({"note": "add the list of participants"});
                Request::post(format!("{base}/activities/{aid}/return"), note, Writes::Activity(aid))
            }
            Endpoint::History => Request::get(format!("{base}/history?limit=5")),
            Endpoint::Events => Request::get("/v1/events?limit=5".into()),
            Endpoint::Stream => Request::get(format!("/v1/streams/activity-{}", fixture.activity)),
            Endpoint::Subscribe => Request { endless: true, ..Request::get("/v1/subscribe".into()) },
            Endpoint::Verify => Request::get("/v1/audit/verify".into()),
            Endpoint::IssueToken => {
                Request::post("/v1/tokens".into(), json!({"name": format!("minted-{n}"), "role": "auditor"}), Writes::Nothing)
            }
            Endpoint::RevokeToken => {
                let victim = format!("victim-{n}");
                app.token(&victim, "auditor", None, None).await;
                Request { method: Method::DELETE, ..Request::get(format!("/v1/tokens/{victim}")) }
            }
            Endpoint::ListTokens => Request::get("/v1/tokens".into()),
            Endpoint::InvitePerson => {
                let body = json!({"name": format!("invitee-{n}"), "display_name": "Invitee", "email": "invitee@example.org", "role": "auditor"});
                Request::post("/v1/people".into(), body, Writes::Nothing)
            }
            Endpoint::ListPeople => Request::get("/v1/people".into()),
            Endpoint::RevokePerson => {
                let victim = format!("leaver-{n}");
                crate::accounts::invite(app, &victim, "auditor", None, None).await;
                Request { method: Method::DELETE, ..Request::get(format!("/v1/people/{victim}")) }
            }
        }
    }
}
