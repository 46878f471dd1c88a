//! Following activities in the browser: the list with its recorded values, filters and pages, an activity's page
//! with its history (who and why only for the programme's people), and correcting and retracting through forms,
//! which change the activity as the API's commands do — or show the fault, or the forbidden page.

use serde_json::json;

use super::{activity, element, summary, tag};
use crate::helpers::{spawn_app, TestApp};

/// Records a CONNECTION cluster visit and a grant through the API, besides an exchange; their ids.
async fn three_activities(app: &TestApp) -> [String; 3] {
    let exchange = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let visit = json!({"kind": "cluster_visit", "occurred_on": "2021-03-04", "cluster": "cop1", "host": "paris",
        "participants": {"total": 25, "women": 14}, "title": "CoP1 in Paris"});
    let visit = app.post("/v1/programmes/connection/activities", Some(&app.admin), &visit).await.expect(201).json();
    let grant = json!({"kind": "grant_awarded", "occurred_on": "2021-02-01", "recipient": "asti", "amount": "20000.00",
        "purpose": "one-stop-shop pilot", "title": "Grant to Asti"});
    let grant = app.post("/v1/programmes/connection/activities", Some(&app.admin), &grant).await.expect(201).json();
    [exchange, visit, grant].map(|a| a["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_list_shows_the_recorded_values_filters_by_kind_and_pages_on() {
    let app = spawn_app().await;
    let [exchange, visit, grant] = three_activities(&app).await;
    let recorder = app.token("paris-staff", "recorder", Some("connection"), Some("paris")).await;
    let page = app.browse("/programmes/connection/activities", Some(&recorder)).await.expect(200).text;
    for id in [&exchange, &visit, &grant] {
        assert!(page.contains(&format!("href=\"/programmes/connection/activities/{id}\"")), "a link to {id}");
    }
    for shown in ["2021-10-11", "Staff exchange", "Torino → Paris", "20,000.00 EUR", "25 (14 women)", "CoP1 in Paris", "Asti", "recorded"] {
        assert!(page.contains(shown), "{shown} is not shown");
    }

    let grants = app.browse("/programmes/connection/activities?kind=grant_awarded", Some(&recorder)).await.expect(200).text;
    assert!(grants.contains(&grant) && !grants.contains(&exchange) && !grants.contains(&visit));
    assert!(tag(&grants, "filter-kind").starts_with("<select"));
    assert!(grants.contains("<option value=\"grant_awarded\" selected>"), "the filter stays set");

    let mine = app.browse("/programmes/connection/activities?mine=1", Some(&recorder)).await.expect(200).text;
    assert!(mine.contains(&visit) && !mine.contains(&exchange) && !mine.contains(&grant), "only Paris's: the visit it hosted");

    let first = app.browse("/programmes/connection/activities?limit=2", Some(&recorder)).await.expect(200).text;
    assert!(first.contains(&exchange) && first.contains(&visit) && !first.contains(&grant));
    let next = first.split("rel=\"next\" href=\"").nth(1).expect("a link to the next page");
    let next = next[..next.find('"').unwrap()].replace("&amp;", "&");
    let second = app.browse(&next, Some(&recorder)).await.expect(200).text;
    assert!(second.contains(&grant) && !second.contains(&exchange), "{next}");

    let bad = app.browse("/programmes/connection/activities?from=someday", Some(&recorder)).await.expect(422).text;
    assert!(summary(&bad).contains("href=\"#from\""));
}

#[tokio::test]
async fn the_activity_page_shows_its_values_and_history_with_actor_names_only_to_the_programmes_people() {
    let app = spawn_app().await;
    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let id = app.record_exchange(&recorder, "torino", "paris", "2021-10-11").await["id"].as_str().unwrap().to_owned();
    let correction = json!({"reason": "five days, not four", "changes": {"days": 4}});
    app.post(&format!("/v1/programmes/connection/activities/{id}/corrections"), Some(&recorder), &correction).await.expect(200);

    let coordinator = app.token("eurocities-coordinator", "coordinator", Some("connection"), None).await;
    let path = format!("/programmes/connection/activities/{id}");
    let page = app.browse(&path, Some(&coordinator)).await.expect(200).text;
    let history = element(&page, "history", "table");
    for shown in ["recorded", "corrected", "torino-staff", "five days, not four", "days 4"] {
        assert!(history.contains(shown), "{shown} is not in the history");
    }
    for shown in ["Torino", "Paris", "CoP1 – Strategic approach to integration", "Days", "Staff"] {
        assert!(page.contains(shown), "{shown} is not among the values");
    }

    let outsider = app.token("zagreb-unites", "recorder", Some("unites"), Some("zagreb")).await;
    let page = app.browse(&path, Some(&outsider)).await.expect(200).text;
    assert!(page.contains("corrected") && page.contains("days 4"), "what happened is public");
    assert!(!page.contains("torino-staff") && !page.contains("five days, not four"), "who and why are not");
    assert!(!page.contains(&format!("{path}/correct")), "no action for someone who may not take it");
}

#[tokio::test]
async fn correcting_with_a_reason_changes_only_the_fields_changed_and_without_one_shows_the_fault() {
    let app = spawn_app().await;
    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let id = app.record_exchange(&recorder, "torino", "paris", "2021-10-11").await["id"].as_str().unwrap().to_owned();
    let path = format!("/programmes/connection/activities/{id}");
    let page = app.browse(&path, Some(&recorder)).await.expect(200).text;
    assert!(tag(&page, "correct-days").contains("value=\"5\""), "the form starts from the current values");
    assert!(tag(&page, "correct-cluster").starts_with("<select"));

    // What a browser sends: every field of the form, as it was filled in, with the days changed.
    let mut fields = vec![
        ("occurred_on", "2021-10-11"), ("ends_on", ""), ("title", ""), ("host", "torino"), ("visitor", "paris"),
        ("cluster", "cop1"), ("days", "7"), ("staff", "2"), ("partner", "torino"), ("notes", ""), ("evidence", ""),
    ];
    let without_reason = app.post_form(&format!("{path}/correct"), Some(&recorder), &fields).await.expect(422).text;
    assert!(summary(&without_reason).contains("href=\"#correct-reason\""), "{}", summary(&without_reason));
    assert!(tag(&without_reason, "correct-reason").contains("aria-invalid=\"true\""));
    assert!(tag(&without_reason, "correct-days").contains("value=\"7\""), "the values entered are kept");
    assert_eq!(activity(&app, &id).await["days"], 5, "nothing changed");

    fields.push(("reason", "seven days in the end"));
    let answer = app.post_form(&format!("{path}/correct"), Some(&recorder), &fields).await.expect(303);
    assert_eq!(answer.header("location"), Some(path.as_str()));
    let corrected = activity(&app, &id).await;
    assert_eq!(corrected["days"], 7);
    let event = &corrected["history"][1];
    assert_eq!(event["type"], "ActivityCorrected");
    assert_eq!(event["data"]["changes"], json!({"days": 7}), "only the field changed");
    assert_eq!(event["data"]["reason"], "seven days in the end");
}

#[tokio::test]
async fn retracting_with_a_reason_retracts_the_activity() {
    let app = spawn_app().await;
    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let id = app.record_exchange(&recorder, "torino", "paris", "2021-10-11").await["id"].as_str().unwrap().to_owned();
    let path = format!("/programmes/connection/activities/{id}");
    let blank = app.post_form(&format!("{path}/retract"), Some(&recorder), &[("reason", " ")]).await.expect(422).text;
    assert!(summary(&blank).contains("href=\"#retract-reason\""));
    app.post_form(&format!("{path}/retract"), Some(&recorder), &[("reason", "recorded twice")]).await.expect(303);
    let retracted = activity(&app, &id).await;
    assert_eq!(retracted["status"], "retracted");
    assert_eq!(retracted["history"][1]["data"]["reason"], "recorded twice");
    let page = app.browse(&path, Some(&recorder)).await.expect(200).text;
    assert!(!page.contains(&format!("{path}/retract")), "a retracted activity offers no retraction");
}

#[tokio::test]
async fn a_recorder_of_another_partner_gets_the_forbidden_page_for_correcting() {
    let app = spawn_app().await;
    let torino = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let paris = app.token("paris-staff", "recorder", Some("connection"), Some("paris")).await;
    let id = app.record_exchange(&torino, "torino", "paris", "2021-10-11").await["id"].as_str().unwrap().to_owned();
    let path = format!("/programmes/connection/activities/{id}");
    let page = app.browse(&path, Some(&paris)).await.expect(200).text;
    assert!(!page.contains(&format!("{path}/correct")), "no correction offered to another partner's recorder");
    let fields = [("occurred_on", "2021-10-11"), ("host", "torino"), ("visitor", "paris"), ("days", "9"), ("staff", "2"), ("reason", "mine now")];
    let refused = app.post_form(&format!("{path}/correct"), Some(&paris), &fields).await.expect(403);
    assert!(refused.text.contains("Not allowed") && refused.text.contains("torino"), "{}", refused.text);
    assert_eq!(activity(&app, &id).await["days"], 5);
}
