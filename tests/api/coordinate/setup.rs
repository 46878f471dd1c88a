//! Programme setup: periods added, locked and unlocked (with a reason) through the page, and the API then
//! refusing activities dated in a locked period; partners, clusters and indicators added and targets revised,
//! each appearing in the definition the API gives; faults shown at the top and next to their fields with the
//! values kept, and nothing changed.

use serde_json::{json, Value};

use super::input_value;
use crate::helpers::{exchange, spawn_app, Answer, TestApp};

async fn coordinator(app: &TestApp) -> String {
    app.token("connection-coordinator", "coordinator", Some("connection"), None).await
}

async fn definition(app: &TestApp) -> Value {
    app.get("/v1/programmes/connection", None).await.expect(200).json()
}

/// Posts form `form` of the setup page of CONNECTION.
async fn post(app: &TestApp, token: &str, form: &str, fields: &[(&str, &str)]) -> Answer {
    app.post_form(&format!("/programmes/connection/manage/{form}"), Some(token), fields).await
}

#[track_caller]
fn done(answer: Answer, flag: &str) {
    let answer = answer.expect(303);
    assert_eq!(answer.header("location"), Some(format!("/programmes/connection/manage?done={flag}").as_str()));
}

#[tokio::test]
async fn a_period_locked_on_the_setup_page_refuses_activities_dated_in_it_until_unlocked() {
    let app = spawn_app().await;
    let token = coordinator(&app).await;
    done(post(&app, &token, "periods", &[("id", "2021-h2"), ("starts_on", "2021-07-01"), ("ends_on", "2021-12-31")]).await, "periods");
    done(post(&app, &token, "lock", &[("period", "2021-h2"), ("reason", "reported to the funder")]).await, "lock");
    assert_eq!(definition(&app).await["locked_periods"], json!(["2021-h2"]));
    let refused = app.post("/v1/programmes/connection/activities", Some(&token), &exchange("torino", "asti", "2021-10-11")).await;
    refused.problem(423);

    let page = app.page("/programmes/connection/manage?done=lock", Some(&token)).await.expect(200);
    assert!(page.text.contains("The period is locked"), "{}", page.text);

    // Unlocking needs a reason: the fault is shown by the field, the period stays locked.
    let answer = post(&app, &token, "unlock", &[("period", "2021-h2"), ("reason", "")]).await.expect(422);
    assert!(answer.text.contains("href=\"#unlock-reason\"") && answer.text.contains("id=\"unlock-reason-error\""), "{}", answer.text);
    assert_eq!(definition(&app).await["locked_periods"], json!(["2021-h2"]));
    done(post(&app, &token, "unlock", &[("period", "2021-h2"), ("reason", "a late exchange came in")]).await, "unlock");
    assert_eq!(definition(&app).await["locked_periods"], json!([]));
    app.post("/v1/programmes/connection/activities", Some(&token), &exchange("torino", "asti", "2021-10-11")).await.expect(201);

    // A period that is not locked cannot be unlocked: the API's conflict, on the page.
    let answer = post(&app, &token, "unlock", &[("period", "2021-h2"), ("reason", "again")]).await.expect(409);
    assert!(answer.text.contains("is not locked"), "{}", answer.text);
}

#[tokio::test]
async fn a_partner_added_through_the_form_is_in_the_definition() {
    let app = spawn_app().await;
    let token = coordinator(&app).await;
    let partner = [("id", "lisbon"), ("name", "Lisbon"), ("kind", "city"), ("role", "fellow_city"), ("country", "PT"), ("budget_share", "")];
    done(post(&app, &token, "partners", &partner).await, "partners");
    let partners = definition(&app).await["partners"].clone();
    let lisbon = partners.as_array().unwrap().iter().find(|p| p["id"] == "lisbon").cloned();
    assert_eq!(lisbon, Some(json!({"id": "lisbon", "name": "Lisbon", "kind": "city", "role": "fellow_city", "country": "PT"})));
    let page = app.page("/programmes/connection/manage?done=partners", Some(&token)).await.expect(200);
    assert!(page.text.contains("The partner was added") && page.text.contains("Lisbon"), "{}", page.text);
    // The same id again is the API's conflict.
    let again = post(&app, &token, "partners", &partner).await.expect(409);
    assert!(again.text.contains("partner 'lisbon' already exists"), "{}", again.text);
}

#[tokio::test]
async fn a_partner_with_faults_shows_every_fault_with_the_values_kept() {
    let app = spawn_app().await;
    let token = coordinator(&app).await;
    let before = definition(&app).await;
    let partner = [("id", "lisbon"), ("name", " "), ("kind", "village"), ("role", "fellow_city"), ("country", "Portugal")];
    let answer = post(&app, &token, "partners", &partner).await.expect(422);
    let text = &answer.text;
    assert!(text.contains("There is a problem"), "{text}");
    for field in ["name", "kind", "country"] {
        assert!(text.contains(&format!("href=\"#partners-{field}\"")), "the summary links to {field}: {text}");
        assert!(text.contains(&format!("id=\"partners-{field}-error\"")), "a fault next to {field}: {text}");
    }
    assert_eq!(input_value(text, "id=\"partners-id\"").as_deref(), Some("lisbon"), "values are kept");
    assert_eq!(input_value(text, "id=\"partners-country\"").as_deref(), Some("Portugal"), "{text}");
    assert!(text.contains("<option value=\"fellow_city\" selected>"), "the role chosen is kept: {text}");
    assert_eq!(definition(&app).await, before, "nothing changed");
}

#[tokio::test]
async fn revising_a_target_needs_a_reason() {
    let app = spawn_app().await;
    let token = coordinator(&app).await;
    let target = |d: &Value| d["indicators"].as_array().unwrap().iter().find(|i| i["id"] == "staff-exchanges").unwrap()["target"].clone();
    let answer = post(&app, &token, "targets", &[("indicator", "staff-exchanges"), ("target", "20"), ("reason", "")]).await.expect(422);
    assert!(answer.text.contains("href=\"#targets-reason\"") && answer.text.contains("id=\"targets-reason-error\""), "{}", answer.text);
    assert_eq!(input_value(&answer.text, "id=\"targets-target\"").as_deref(), Some("20"), "{}", answer.text);
    assert_eq!(target(&definition(&app).await), json!("14"));

    done(post(&app, &token, "targets", &[("indicator", "staff-exchanges"), ("target", "20"), ("reason", "amended grant")]).await, "targets");
    let revised = definition(&app).await;
    assert_eq!(target(&revised), json!("20"));
    let label = revised["indicators"].as_array().unwrap().iter().find(|i| i["id"] == "staff-exchanges").unwrap()["label"].clone();
    assert_eq!(label, json!("Staff exchanges"), "only the target is revised");
}

#[tokio::test]
async fn a_cluster_and_an_indicator_added_through_the_forms_are_in_the_definition() {
    let app = spawn_app().await;
    let token = coordinator(&app).await;
    let cluster = [("id", "cop5"), ("name", "CoP5"), ("theme", "housing"), ("members", "torino"), ("members", "asti")];
    done(post(&app, &token, "clusters", &cluster).await, "clusters");
    let clusters = definition(&app).await["clusters"].clone();
    let cop5 = clusters.as_array().unwrap().iter().find(|c| c["id"] == "cop5").cloned().expect("the cluster");
    assert_eq!(cop5["members"], json!(["torino", "asti"]));

    let indicator = [("id", "peer-visits"), ("label", "Peer visits"), ("unit", "visits"), ("target", "3"),
                     ("aggregate", "count"), ("kinds", "peer_visit"), ("field", ""), ("due", "")];
    done(post(&app, &token, "indicators", &indicator).await, "indicators");
    let progress = app.get("/v1/programmes/connection/progress", None).await.expect(200).json();
    assert!(progress["indicators"].as_array().unwrap().iter().any(|i| i["id"] == "peer-visits"), "{progress}");

    // No kind chosen: the measure's fault, by the kinds.
    let faulty = [("id", "trainings"), ("label", "Trainings"), ("unit", "trainings"), ("target", "3"), ("aggregate", "count")];
    let answer = post(&app, &token, "indicators", &faulty).await.expect(422);
    assert!(answer.text.contains("href=\"#indicators-kinds\"") && answer.text.contains("id=\"indicators-kinds-error\""), "{}", answer.text);
}
