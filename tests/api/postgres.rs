//! The API on the PostgreSQL engine (`tracker serve --store postgres://…`), on a database of its own on the
//! test binary's throwaway cluster: what one server records survives its restart, and two servers on one
//! database serve one log — an activity recorded through one is read, counted and streamed live by the other —
//! and share what they keep beside it: tokens, people, sessions and the failed sign-ins the throttle counts.

use serde_json::{json, Value};
use tracker::store::StoreLocation;

use crate::helpers::{exchange, indicator, spawn_on, TestApp};
use crate::log::next_events;
use crate::pg_cluster::fresh_database;

async fn node(url: &str, admin: Option<String>) -> TestApp {
    spawn_on(tempfile::tempdir().unwrap(), StoreLocation::Postgres(url.to_owned()), admin).await
}

async fn exchanges(app: &TestApp) -> Value {
    let report = app.get("/v1/programmes/connection/progress?as_of=2022-12-31", None).await.expect(200).json();
    indicator(&report, "staff-exchanges")["actual"].clone()
}

#[tokio::test]
async fn a_server_on_postgres_keeps_what_it_recorded_across_a_restart_and_its_chain_verifies() {
    let url = fresh_database().await;
    let app = node(&url, None).await;
    let recorded = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let id = recorded["id"].as_str().unwrap().to_owned();
    assert_eq!(recorded["position"], 3, "after the two seeded programmes");
    assert_eq!(exchanges(&app).await, "1");
    let admin = app.admin.clone();
    let dir = app.stop().await;

    // The same database, the admin token from the first start's directory.
    let app = spawn_on(dir, StoreLocation::Postgres(url.clone()), None).await;
    assert_eq!(app.admin, admin, "no second admin token");
    let activity = app.get(&format!("/v1/programmes/connection/activities/{id}"), None).await.expect(200).json();
    assert_eq!((activity["host"].as_str(), activity["version"].as_u64()), (Some("torino"), Some(1)));
    assert_eq!(exchanges(&app).await, "1", "the progress projection came back from the database");
    let verified = app.get("/v1/audit/verify", Some(&app.admin)).await.expect(200).json();
    assert_eq!((verified["ok"].as_bool(), verified["events"].as_u64()), (Some(true), Some(3)), "{verified}");
    let head = app.get("/v1/audit/head", None).await.expect(200).json();
    assert_eq!(head["position"], 3);
    assert_eq!(head["hash"], verified["head"]["hash"]);
    app.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_database_share_activities_progress_and_live_events() {
    let url = fresh_database().await;
    let a = node(&url, None).await;
    let recorder = a.token("torino-recorder", "recorder", Some("connection"), Some("torino")).await;
    let auditor = a.token("funder", "auditor", None, None).await;
    // B starts after the tokens were issued: it loads them from the database.
    let b = node(&url, Some(a.admin.clone())).await;

    let head = b.get("/v1/audit/head", None).await.expect(200).json()["position"].as_u64().unwrap();
    let response = b.client.get(b.url(&format!("/v1/subscribe?from={}", head + 1))).bearer_auth(&auditor).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut live = response.bytes_stream();
    let mut buffer = String::new();

    let recorded = a.post("/v1/programmes/connection/activities", Some(&recorder), &exchange("torino", "paris", "2021-10-11")).await;
    let recorded = recorded.expect(201).json();
    let (id, position) = (recorded["id"].as_str().unwrap(), recorded["position"].as_u64().unwrap());
    assert_eq!(next_events(&mut live, &mut buffer, 1).await, [(position, "ActivityRecorded".to_owned())], "B streams A's event");

    let read = b.get(&format!("/v1/programmes/connection/activities/{id}"), None).await.expect(200).json();
    assert_eq!(read["position"], position);
    assert_eq!(exchanges(&b).await, "1", "B's progress counts A's activity");

    // And the other way round, through B's writer: one log, one chain.
    let through_b = b.record_exchange(&recorder, "torino", "asti", "2021-11-02").await;
    assert_eq!(through_b["position"].as_u64(), Some(position + 1));
    assert_eq!(exchanges(&a).await, "2");
    for node in [&a, &b] {
        let verified = node.get("/v1/audit/verify", Some(&auditor)).await.expect(200).json();
        assert_eq!((verified["ok"].as_bool(), verified["events"].as_u64()), (Some(true), Some(position + 1)), "{verified}");
    }
    drop(live);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_started_together_on_an_empty_database_both_serve_one_seeded_log() {
    let url = fresh_database().await;
    let (dirs, urls) = ([tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()], [url.clone(), url]);
    let token_files: Vec<_> = dirs.iter().map(|d| d.path().join("admin.token")).collect();
    // Both find the store empty: both seed it and make the admin token, and one of each wins.
    let [first, second] = dirs;
    let placeholder = || Some(String::new());
    let (mut a, mut b) = tokio::join!(
        spawn_on(first, StoreLocation::Postgres(urls[0].clone()), placeholder()),
        spawn_on(second, StoreLocation::Postgres(urls[1].clone()), placeholder())
    );
    let written: Vec<String> = token_files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
    assert_eq!(written.len(), 1, "one admin token, in one server's directory");
    a.admin = written[0].trim().to_owned();
    b.admin = a.admin.clone();
    let verified = b.get("/v1/audit/verify", Some(&b.admin)).await.expect(200).json();
    assert_eq!((verified["ok"].as_bool(), verified["events"].as_u64()), (Some(true), Some(2)), "each programme seeded once");
    b.record_exchange(&a.admin, "torino", "paris", "2021-10-11").await;
    assert_eq!(exchanges(&a).await, "1");
    b.stop().await;
    a.stop().await;
}

/// Asks `check` until it holds, for at most a second: what one server changed must reach the others by then.
async fn within_a_second(what: &str, check: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>) {
    let check = &check;
    crate::helpers::eventually(what, std::time::Duration::from_secs(1), || async move { check().await.then_some(()) }).await;
}

#[tokio::test]
async fn tokens_people_and_sessions_changed_through_one_server_reach_the_other_within_a_second() {
    let url = fresh_database().await;
    let a = node(&url, None).await;
    let b = node(&url, Some(a.admin.clone())).await;

    // A token issued through A works on B, and once revoked through A, B refuses it.
    let token = a.token("late-auditor", "auditor", None, None).await;
    let (client, verify) = (b.client.clone(), b.url("/v1/audit/verify"));
    let status = |token: String| {
        let (client, verify) = (client.clone(), verify.clone());
        async move { client.get(verify).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    within_a_second("B admits a token issued through A", || Box::pin({ let s = status(token.clone()); async move { s.await == 200 } })).await;
    a.send(reqwest::Method::DELETE, "/v1/tokens/late-auditor", Some(&a.admin), None, &[]).await.expect(204);
    within_a_second("B refuses a token revoked through A", || Box::pin({ let s = status(token.clone()); async move { s.await == 401 } })).await;

    // A person invited through A signs in on B; signing out everywhere on A ends the session on B.
    let link = crate::accounts::invite(&a, "anna", "auditor", None, None).await;
    let mut on_a = crate::accounts::Browser::new(&a);
    on_a.get(&link).await.expect(200);
    on_a.post(&link, &[("password", crate::accounts::PASSWORD), ("confirm", crate::accounts::PASSWORD)]).await.expect(303);
    let cookie = on_a.cookie.clone().expect("signed in on A");
    let account = b.url("/account");
    let signed_in_on_b = |cookie: String| {
        let (client, account) = (reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(), account.clone());
        async move { client.get(account).header("cookie", format!("tracker_session={cookie}")).send().await.unwrap().status().as_u16() == 200 }
    };
    within_a_second("B knows a session started on A", || Box::pin({ let s = signed_in_on_b(cookie.clone()); async move { s.await } })).await;
    on_a.get("/account").await.expect(200);
    on_a.post("/account/sign-out-everywhere", &[]).await.expect(303);
    within_a_second("B ends a session ended on A", || Box::pin({ let s = signed_in_on_b(cookie.clone()); async move { !s.await } })).await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_through_two_servers_count_together_against_one_limit() {
    let url = fresh_database().await;
    let a = node(&url, None).await;
    let b = node(&url, Some(a.admin.clone())).await;
    drop(crate::accounts::person(&a, "anna", "auditor", None, None).await);
    // Five failures, alternating between the servers: the limit is the store's, not each server's.
    for attempt in 0..5 {
        let server = if attempt % 2 == 0 { &a } else { &b };
        crate::accounts::Browser::new(server).sign_in("anna", "not the password").await.expect(401);
    }
    for server in [&a, &b] {
        let refused = crate::accounts::Browser::new(server).sign_in("anna", crate::accounts::PASSWORD).await.expect(429);
        assert!(refused.text.contains("Too many failed sign-ins"), "{}", refused.text);
    }
    // A restart forgets nothing either.
    let admin = a.admin.clone();
    let a = spawn_on(a.stop().await, StoreLocation::Postgres(url.clone()), Some(admin)).await;
    crate::accounts::Browser::new(&a).sign_in("anna", crate::accounts::PASSWORD).await.expect(429);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_token_issued_and_a_sign_in_made_through_one_server_work_at_once_on_the_other() {
    let url = fresh_database().await;
    let a = node(&url, None).await;
    let b = node(&url, Some(a.admin.clone())).await;
    // Used on B straight away, as behind a load balancer: B reads the shared tokens again before refusing.
    for n in 0..5 {
        let token = a.token(&format!("auditor-{n}"), "auditor", None, None).await;
        b.get("/v1/audit/verify", Some(&token)).await.expect(200);
    }
    b.get("/v1/audit/verify", Some("trk_not_a_token")).await.expect(401);
    let signed_in = crate::accounts::person(&a, "anna", "auditor", None, None).await;
    let cookie = signed_in.cookie.clone().expect("signed in on A");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let account = client.get(b.url("/account")).header("cookie", format!("tracker_session={cookie}")).send().await.unwrap();
    assert_eq!(account.status(), 200, "the session started on A is known to B at once");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_programme_changed_through_one_server_rules_the_next_recording_on_the_other() {
    let url = fresh_database().await;
    let a = node(&url, None).await;
    let b = node(&url, Some(a.admin.clone())).await;
    // B records once, so that it holds the programme's state as it was.
    b.record_exchange(&b.admin, "torino", "paris", "2021-10-11").await;

    // A partner added through A: B's next recording for it is accepted, not refused by B's stale state.
    let partner = json!({"id": "lyon", "name": "Lyon", "kind": "city", "country": "FR", "role": "fellow_city"});
    a.post("/v1/programmes/connection/partners", Some(&a.admin), &partner).await.expect(201);
    b.record_exchange(&b.admin, "lyon", "paris", "2021-10-12").await;

    // A period locked through A: B's next recording dated in it is refused, not accepted by B's stale state.
    let period = json!({"id": "2021", "starts_on": "2021-01-01", "ends_on": "2021-12-31"});
    a.post("/v1/programmes/connection/periods", Some(&a.admin), &period).await.expect(201);
    let lock = json!({"reason": "interim report filed"});
    a.post("/v1/programmes/connection/periods/2021/lock", Some(&a.admin), &lock).await.expect(200);
    let refused = b.post("/v1/programmes/connection/activities", Some(&b.admin), &exchange("torino", "paris", "2021-10-13")).await;
    assert_eq!(refused.problem(423)["errors"][0]["field"], "occurred_on");
    assert_eq!(exchanges(&a).await, "2");
    b.stop().await;
    a.stop().await;
}
