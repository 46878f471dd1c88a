//! People's accounts in the browser against the real server: an invitation is used once to choose a password
//! (rules enforced, Argon2id stored), the session cookie is HttpOnly and SameSite=Lax, every state change that
//! rides on the cookie needs the session's CSRF token, sign-in is throttled per account, sign-out ends one
//! session and "everywhere" ends all, a person's events carry their name as `actor`, names are shared with tokens
//! and never given twice, personal tokens work in the person's scope, and revoking a person ends it all.

mod client;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{exchange, spawn_app, spawn_in};
pub(crate) use client::{invite, person, Browser, PASSWORD};

#[tokio::test]
async fn an_invitation_sets_a_password_once_and_signs_the_person_in_with_a_safe_cookie() {
    let app = spawn_app().await;
    let link = invite(&app, "anna", "recorder", Some("connection"), Some("torino")).await;
    let mut browser = Browser::new(&app);
    let page = browser.get(&link).await.expect(200);
    assert!(page.text.contains("anna Rossi") && page.text.contains("anna@example.org"), "{}", page.text);
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"), "the secret in the URL must not leak");

    let short = browser.post(&link, &[("password", "short"), ("confirm", "short")]).await.expect(422);
    assert!(short.text.contains("at least 12 characters"), "{}", short.text);
    let differ = browser.post(&link, &[("password", PASSWORD), ("confirm", "another one entirely")]).await.expect(422);
    assert!(differ.text.contains("the two passwords differ"), "{}", differ.text);

    let post = browser.post(&link, &[("password", PASSWORD), ("confirm", PASSWORD)]).await.expect(303);
    let cookie = post.header("set-cookie").unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    assert!(browser.signed_in().await);
    let account = browser.get("/account").await.expect(200);
    assert!(account.text.contains("recorder of connection for torino"), "{}", account.text);

    // Used once: the link is gone, for this browser and any other.
    Browser::new(&app).get(&link).await.expect(404);
    // Only the Argon2id hash is stored.
    let people = app.get("/v1/people", Some(&app.admin)).await.expect(200).json();
    assert_eq!(people["people"][0]["status"], "active");
    assert!(!people.to_string().contains("argon2"), "{people}");
}

#[tokio::test]
async fn signing_in_is_throttled_and_wrong_names_and_passwords_read_alike() {
    let app = spawn_app().await;
    drop(person(&app, "anna", "auditor", None, None).await);
    let mut browser = Browser::new(&app);
    let unknown = browser.sign_in("nobody", PASSWORD).await.expect(401);
    let wrong = browser.sign_in("anna", "not the password").await.expect(401);
    assert!(unknown.text.contains("The account name or the password is wrong."));
    assert!(wrong.text.contains("The account name or the password is wrong."));
    for _ in 1..5 {
        browser.sign_in("anna", "not the password").await.expect(401);
    }
    // The sixth attempt is refused unchecked, even with the right password, and says until when.
    let refused = browser.sign_in("anna", PASSWORD).await.expect(429);
    assert!(refused.text.contains("Too many failed sign-ins") && refused.text.contains("UTC"), "{}", refused.text);
    assert!(browser.cookie.is_none());
    // Another account is not locked by anna's failures.
    drop(person(&app, "marco", "auditor", None, None).await);
    Browser::new(&app).sign_in("marco", PASSWORD).await.expect(303);
}

#[tokio::test]
async fn a_state_change_riding_on_the_cookie_needs_the_csrf_token() {
    let app = spawn_app().await;
    let mut anna = person(&app, "anna", "recorder", Some("connection"), Some("torino")).await;
    anna.get("/account").await.expect(200);

    // A forged form: no token. Refused, and the session lives on.
    anna.post_without_csrf("/sign-out", &[]).await.expect(403);
    assert!(anna.signed_in().await);
    // The API riding on the cookie: without the header refused, with it the event names the person.
    let body = exchange("torino", "paris", "2021-03-10");
    anna.json(Method::POST, "/v1/programmes/connection/activities", &body, &[]).await.problem(403);
    let csrf = anna.csrf.clone().unwrap();
    anna.json(Method::POST, "/v1/programmes/connection/activities", &body, &[("x-csrf-token", "wrong")]).await.problem(403);
    let recorded = anna.json(Method::POST, "/v1/programmes/connection/activities", &body, &[("x-csrf-token", &csrf)]).await.expect(201);
    let id = recorded.json()["id"].as_str().unwrap().to_owned();
    let events = app.get(&format!("/v1/streams/activity-{id}"), Some(&app.admin)).await.expect(200).json();
    assert_eq!(events["events"][0]["actor"], "anna", "{events}");

    // With the token, sign-out ends the session and clears the cookie.
    let out = anna.post("/sign-out", &[]).await.expect(303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let old = anna.cookie.clone();
    assert!(old.is_none());
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_person_only() {
    let app = spawn_app().await;
    let mut laptop = person(&app, "anna", "auditor", None, None).await;
    let mut phone = Browser::new(&app);
    phone.sign_in("anna", PASSWORD).await.expect(303);
    let mut marco = person(&app, "marco", "auditor", None, None).await;
    assert!(laptop.signed_in().await && phone.signed_in().await);
    laptop.post("/account/sign-out-everywhere", &[]).await.expect(303);
    assert!(!phone.signed_in().await, "the phone's session ended too");
    assert!(marco.signed_in().await, "another person's session lives on");

    // A session survives a restart of the server.
    let cookie = marco.cookie.clone();
    drop((laptop, phone, marco));
    let dir = app.stop().await;
    let app = spawn_in(dir).await;
    let mut again = Browser::new(&app);
    again.cookie = cookie;
    assert!(again.signed_in().await);
}

#[tokio::test]
async fn names_are_shared_with_tokens_and_never_given_twice() {
    let app = spawn_app().await;
    let taken = json!({"name": "admin", "display_name": "A", "email": "a@example.org", "role": "auditor"});
    let problem = app.post("/v1/people", Some(&app.admin), &taken).await.problem(409);
    assert!(problem["detail"].as_str().unwrap().contains("taken by a token or a person"), "{problem}");
    invite(&app, "anna", "auditor", None, None).await;
    let token = json!({"name": "anna", "role": "auditor"});
    app.post("/v1/tokens", Some(&app.admin), &token).await.problem(409);
    let bad = json!({"name": "Bad Name", "display_name": "", "email": "nope", "role": "recorder", "programme": "connection"});
    let problem = app.post("/v1/people", Some(&app.admin), &bad).await.problem(422);
    let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in ["name", "display_name", "email", "partner"] {
        assert!(fields.contains(&field), "{field} in {problem}");
    }
    // Only an admin invites.
    let auditor = app.token("aud", "auditor", None, None).await;
    app.post("/v1/people", Some(&auditor), &json!({"name": "x", "display_name": "X", "email": "x@example.org", "role": "auditor"})).await.problem(403);
}

#[tokio::test]
async fn a_personal_token_works_in_the_persons_scope_and_ends_with_the_person() {
    let app = spawn_app().await;
    let mut anna = person(&app, "anna", "recorder", Some("connection"), Some("torino")).await;
    anna.get("/account").await.expect(200);
    let made = anna.post("/account/tokens", &[("label", "script"), ("expires_on", "")]).await.expect(200);
    assert!(made.text.contains("anna-script"), "{}", made.text);
    let at = made.text.find("<code>").expect("the secret is shown once") + "<code>".len();
    let secret = made.text[at..].split('<').next().unwrap().to_owned();
    let recorded = app.post("/v1/programmes/connection/activities", Some(&secret), &exchange("torino", "paris", "2021-03-11")).await.expect(201);
    assert_eq!(recorded.json()["status"], "recorded");
    // It is the person's role and scope, and theirs.
    let tokens = app.get("/v1/tokens", Some(&app.admin)).await.expect(200).json();
    let token = tokens["tokens"].as_array().unwrap().iter().find(|t| t["name"] == "anna-script").expect("listed").clone();
    assert_eq!((&token["role"], &token["programme"], &token["partner"]), (&json!("recorder"), &json!("connection"), &json!("torino")));
    let other = anna.get("/account").await.expect(200);
    assert!(!other.text.contains(&secret), "never shown again");

    // Revoking the person ends their sessions and their tokens; the name stays taken.
    app.send(Method::DELETE, "/v1/people/anna", Some(&app.admin), None, &[]).await.expect(204);
    assert!(!anna.signed_in().await);
    app.get("/v1/audit/verify", Some(&secret)).await.problem(401);
    Browser::new(&app).sign_in("anna", PASSWORD).await.expect(401);
    app.post("/v1/people", Some(&app.admin), &json!({"name": "anna", "display_name": "A", "email": "a@example.org", "role": "auditor"})).await.problem(409);
}

#[tokio::test]
async fn the_admin_page_invites_changes_roles_and_revokes() {
    let app = spawn_app().await;
    // The first person comes in through the API with the admin token, then works in the browser.
    let mut root = person(&app, "root", "admin", None, None).await;
    let page = root.get("/admin").await.expect(200);
    assert!(page.text.contains("Invite a person"));
    let faulty = root.post("/admin/people", &[("name", "Bad"), ("display_name", "Marco"), ("email", "marco@x.org"), ("role", "recorder"), ("programme", "connection"), ("partner", "")]).await.expect(422);
    assert!(faulty.text.contains("not a slug") && faulty.text.contains("required for a recorder"), "{}", faulty.text);
    assert!(faulty.text.contains("marco@x.org"), "the values are kept");
    let made = root.post("/admin/people", &[("name", "marco"), ("display_name", "Marco"), ("email", "marco@x.org"), ("role", "recorder"), ("programme", "connection"), ("partner", "paris")]).await.expect(201);
    let at = made.text.find("/invitations/").expect("the link is shown");
    let link = made.text[at..].split('<').next().unwrap().to_owned();
    let mut marco = Browser::new(&app);
    marco.get(&link).await.expect(200);
    marco.post(&link, &[("password", PASSWORD), ("confirm", PASSWORD)]).await.expect(303);
    // A role change applies to the live session at once.
    root.get("/admin").await.expect(200);
    root.post("/admin/people/marco/role", &[("role", "coordinator"), ("programme", "connection"), ("partner", "")]).await.expect(303);
    assert!(marco.get("/account").await.expect(200).text.contains("coordinator of connection"));
    // Not for others.
    marco.get("/admin").await.expect(403);
    root.get("/admin").await.expect(200);
    root.post("/admin/people/marco/revoke", &[]).await.expect(303);
    assert!(!marco.signed_in().await);
    // Signed out, the page asks to sign in and comes back.
    let redirect = Browser::new(&app).get("/admin").await.expect(303);
    assert_eq!(redirect.header("location"), Some("/sign-in?next=/admin"));
}
