//! The approval queue: a recorder's submitted activity waits there with its values; the coordinator approves it
//! or returns it with a note (mandatory); a refused decision shows the fault and changes nothing; only the
//! coordinator or an admin may use it.

use serde_json::{json, Value};

use super::pilot;
use crate::helpers::{spawn_app, TestApp};

/// Records `body` in PILOT as `recorder` (submitted at once: the programme requires approval); its id.
async fn submitted(app: &TestApp, recorder: &str, body: Value) -> String {
    let recorded = app.post("/v1/programmes/pilot/activities", Some(recorder), &body).await.expect(201).json();
    assert_eq!(recorded["status"], "submitted", "{recorded}");
    recorded["id"].as_str().expect("an id").to_owned()
}

async fn exchange(app: &TestApp, recorder: &str) -> String {
    let body = json!({"kind": "staff_exchange", "occurred_on": "2024-03-01", "host": "gent", "visitor": "lille", "days": 3, "staff": 1,
                      "title": "Gent hosts Lille"});
    submitted(app, recorder, body).await
}

async fn activity(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/programmes/pilot/activities/{id}"), None).await.expect(200).json()
}

#[tokio::test]
async fn a_submitted_activity_waits_in_the_coordinators_queue_with_its_values() {
    let app = spawn_app().await;
    let (coordinator, recorder) = pilot(&app).await;
    let exchange = exchange(&app, &recorder).await;
    let grant = json!({"kind": "grant_awarded", "occurred_on": "2024-04-02", "recipient": "gent", "amount": "12345.50",
                       "purpose": "one-stop shop", "title": "Grant to Gent"});
    let grant = submitted(&app, &recorder, grant).await;
    let workshop = json!({"kind": "workshop_held", "occurred_on": "2024-05-03", "title": "Welcome desk workshop", "host": "gent",
                          "participants": {"total": 25, "women": 14}});
    submitted(&app, &recorder, workshop).await;

    let page = app.page("/programmes/pilot/queue", Some(&coordinator)).await.expect(200);
    let text = &page.text;
    assert!(text.contains("3 activities wait"), "{text}");
    for value in ["2024-03-01", "staff exchange", "Gent hosts Lille", "Gent", "Lille", "days 3", "2024-04-02", "grant awarded",
                  "12,345.50 EUR", "one-stop shop", "Welcome desk workshop", "participants.total 25", "participants.women 14"] {
        assert!(text.contains(value), "the queue shows {value:?}: {text}");
    }
    for id in [&exchange, &grant] {
        assert!(text.contains(&format!("action=\"/programmes/pilot/queue/{id}/approve\"")), "{text}");
        assert!(text.contains(&format!("action=\"/programmes/pilot/queue/{id}/return\"")), "{text}");
        assert!(text.contains(&format!("href=\"/programmes/pilot/activities/{id}\"")), "a link to the activity page: {text}");
    }
    // An approved activity no longer waits.
    app.post(&format!("/v1/programmes/pilot/activities/{grant}/approval"), Some(&coordinator), &json!({})).await.expect(200);
    let page = app.page("/programmes/pilot/queue", Some(&coordinator)).await.expect(200);
    assert!(page.text.contains("2 activities wait") && !page.text.contains("Grant to Gent"), "{}", page.text);
}

#[tokio::test]
async fn approving_from_the_queue_moves_the_activity_to_approved() {
    let app = spawn_app().await;
    let (coordinator, recorder) = pilot(&app).await;
    let id = exchange(&app, &recorder).await;
    let answer = app.post_form(&format!("/programmes/pilot/queue/{id}/approve"), Some(&coordinator), &[]).await.expect(303);
    assert_eq!(answer.header("location"), Some(format!("/programmes/pilot/queue?approved={id}").as_str()));
    assert_eq!(activity(&app, &id).await["status"], "approved");
    let page = app.page(&format!("/programmes/pilot/queue?approved={id}"), Some(&coordinator)).await.expect(200);
    assert!(page.text.contains("was approved") && page.text.contains("0 activities wait"), "{}", page.text);
    let progress = app.get("/v1/programmes/pilot/progress?as_of=2024-12-31", None).await.json();
    assert_eq!(progress["indicators"][0]["actual"], "1");

    // Approving it again is refused, as the API refuses it: the queue says why, 409, nothing changed.
    let again = app.post_form(&format!("/programmes/pilot/queue/{id}/approve"), Some(&coordinator), &[]).await.expect(409);
    assert!(again.text.contains("There is a problem") && again.text.contains("cannot approve an activity that is approved"), "{}", again.text);
    assert_eq!(activity(&app, &id).await["version"], 3);
}

#[tokio::test]
async fn returning_without_a_note_shows_the_fault_and_changes_nothing() {
    let app = spawn_app().await;
    let (coordinator, recorder) = pilot(&app).await;
    let id = exchange(&app, &recorder).await;
    let before = activity(&app, &id).await;
    let answer = app.post_form(&format!("/programmes/pilot/queue/{id}/return"), Some(&coordinator), &[("note", "   ")]).await.expect(422);
    let text = &answer.text;
    assert!(text.contains("There is a problem"), "{text}");
    assert!(text.contains(&format!("href=\"#return-{id}-note\"")), "the summary links to the note: {text}");
    assert!(text.contains(&format!("id=\"return-{id}-note-error\"")) && text.contains("aria-invalid=\"true\""), "{text}");
    assert_eq!(activity(&app, &id).await, before, "nothing changed");
}

#[tokio::test]
async fn returning_with_a_note_sends_the_activity_back_to_its_recorder() {
    let app = spawn_app().await;
    let (coordinator, recorder) = pilot(&app).await;
    let id = exchange(&app, &recorder).await;
    let note = "add the evidence";
    let answer = app.post_form(&format!("/programmes/pilot/queue/{id}/return"), Some(&coordinator), &[("note", note)]).await.expect(303);
    assert_eq!(answer.header("location"), Some(format!("/programmes/pilot/queue?returned={id}").as_str()));
    let returned = activity(&app, &id).await;
    assert_eq!((returned["status"].clone(), returned["return_note"].clone()), (json!("returned"), json!(note)), "{returned}");
    let page = app.page(&format!("/programmes/pilot/queue?returned={id}"), Some(&coordinator)).await.expect(200);
    assert!(page.text.contains("was returned") && page.text.contains("0 activities wait"), "{}", page.text);
}

#[tokio::test]
async fn only_the_coordinator_or_an_admin_may_use_the_coordinators_pages() {
    let app = spawn_app().await;
    let (_, recorder) = pilot(&app).await;
    let id = exchange(&app, &recorder).await;
    let elsewhere = app.token("connection-coordinator", "coordinator", Some("connection"), None).await;
    for path in ["/programmes/pilot/queue", "/programmes/pilot/manage", "/programmes/pilot/upload"] {
        for token in [&recorder, &elsewhere] {
            let page = app.page(path, Some(token)).await.expect(403);
            assert!(page.text.contains("Not allowed") && page.text.contains("coordinator of 'pilot'"), "{path}: {}", page.text);
        }
        app.page(path, Some(&app.admin)).await.expect(200);
        let signed_out = app.page(path, None).await.expect(303);
        assert!(signed_out.header("location").is_some_and(|l| l.starts_with("/sign-in?next=")), "{:?}", signed_out.headers);
    }
    app.post_form(&format!("/programmes/pilot/queue/{id}/approve"), Some(&recorder), &[]).await.expect(403);
    app.post_form("/programmes/pilot/manage/periods", Some(&recorder), &[("id", "p1"), ("starts_on", "2024-01-01"), ("ends_on", "2024-06-30")])
        .await
        .expect(403);
    assert_eq!(activity(&app, &id).await["status"], "submitted");
    let definition = app.get("/v1/programmes/pilot", None).await.json();
    assert_eq!(definition["periods"], json!([]));
    // An unknown programme is a page saying so.
    app.page("/programmes/atlantis/queue", Some(&app.admin)).await.expect(404);
}
