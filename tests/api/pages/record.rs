//! Recording in the browser: every kind to pick from, a form with a labelled control for every field of the
//! catalogue, a recorder's pickers limited to their partner, a valid form recorded as the API records a body,
//! faults shown at the top and next to their fields with the values kept, and who may not record.

use events::ActivityKind;
use serde_json::json;

use super::{activity, label_text, options, recorded_id, summary, tag};
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_kind_picker_lists_every_kind_of_the_catalogue() {
    let app = spawn_app().await;
    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let page = app.browse("/programmes/connection/record", Some(&recorder)).await.expect(200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    for kind in ActivityKind::ALL {
        assert!(page.text.contains(&format!("href=\"/programmes/connection/record/{kind}\"")), "no link to {kind}");
    }
    assert!(page.text.contains(">Staff exchange<") && page.text.contains(">Grant awarded<"), "kinds by readable names");
}

#[tokio::test]
async fn the_staff_exchange_form_has_a_labelled_control_for_every_catalogue_field_with_required_marks() {
    let app = spawn_app().await;
    let page = app.browse("/programmes/connection/record/staff_exchange", Some(&app.admin)).await.expect(200).text;
    let kind = ActivityKind::StaffExchange;
    let common = ["occurred_on", "ends_on", "title", "partner", "notes", "evidence"];
    let own = kind.own_fields().iter().map(|(name, _)| *name);
    for name in common.into_iter().chain(own) {
        let control = tag(&page, name);
        assert!(control.contains(&format!("name=\"{name}\"")), "{control}");
        let label = label_text(&page, name);
        let required = name == "occurred_on" || kind.required_fields().contains(&name);
        assert_eq!(label.contains("(required)"), required, "{name}: {label}");
        assert_eq!(control.contains(" required"), required, "{name}: {control}");
    }
    assert!(tag(&page, "occurred_on").contains("type=\"date\""));
    let days = tag(&page, "days");
    assert!(days.contains("type=\"number\"") && days.contains("min=\"1\"") && days.contains("max=\"60\""), "{days}");
    assert!(tag(&page, "staff").contains("min=\"1\""));
    assert!(page.contains(">Torino<") && page.contains(">CoP1 – Strategic approach to integration<"), "partners and clusters by name");
    assert_eq!(options(&page, "cluster"), ["cop1", "cop2", "cop3", "cop4"]);

    let grant = app.browse("/programmes/connection/record/grant_awarded", Some(&app.admin)).await.expect(200).text;
    let amount = tag(&grant, "amount");
    assert!(amount.contains("inputmode=\"decimal\"") && amount.contains("pattern="), "{amount}");
    assert!(label_text(&grant, "amount").contains("EUR"));
    let peer_visit = app.browse("/programmes/connection/record/peer_visit", Some(&app.admin)).await.expect(200).text;
    assert_eq!(peer_visit.matches("type=\"checkbox\" name=\"visitors\"").count(), 21, "a checkbox per partner");
    assert!(tag(&peer_visit, "participants-women").contains("name=\"participants.women\""));
}

#[tokio::test]
async fn a_recorders_attributing_pickers_offer_only_their_own_partner() {
    let app = spawn_app().await;
    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let page = app.browse("/programmes/connection/record/staff_exchange", Some(&recorder)).await.expect(200).text;
    assert_eq!(options(&page, "host"), ["torino"], "the host attributes an exchange");
    assert_eq!(options(&page, "partner"), ["torino"]);
    assert!(options(&page, "visitor").len() > 10, "any partner may visit");
    let coordinator = app.token("coordinator", "coordinator", Some("connection"), None).await;
    let page = app.browse("/programmes/connection/record/staff_exchange", Some(&coordinator)).await.expect(200).text;
    assert_eq!(options(&page, "host").len(), 21, "the coordinator picks any partner");
}

#[tokio::test]
async fn posting_a_valid_form_records_the_activity_and_redirects_to_its_page() {
    let app = spawn_app().await;
    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let fields = [
        ("occurred_on", "2021-10-11"), ("ends_on", ""), ("title", "Job centre shadowing"), ("host", "torino"),
        ("visitor", "paris"), ("cluster", "cop1"), ("days", "5"), ("staff", "2"), ("partner", ""),
        ("notes", "Two case workers"), ("evidence", "Agenda <https://example.org/agenda.pdf>"),
    ];
    let answer = app.post_form("/programmes/connection/record/staff_exchange", Some(&recorder), &fields).await;
    let id = recorded_id(&answer);
    let recorded = activity(&app, &id).await;
    for (field, value) in [
        ("kind", json!("staff_exchange")), ("occurred_on", json!("2021-10-11")), ("host", json!("torino")),
        ("visitor", json!("paris")), ("cluster", json!("cop1")), ("days", json!(5)), ("staff", json!(2)),
        ("partner", json!("torino")), ("title", json!("Job centre shadowing")), ("notes", json!("Two case workers")),
        ("evidence", json!([{"title": "Agenda", "url": "https://example.org/agenda.pdf"}])), ("status", json!("recorded")),
    ] {
        assert_eq!(recorded[field], value, "{field} in {recorded}");
    }
    assert!(recorded.get("ends_on").is_none(), "an empty optional field is left out: {recorded}");
    assert_eq!(recorded["history"][0]["actor"], "torino-staff");
    let page = app.browse(answer.header("location").unwrap(), Some(&recorder)).await.expect(200).text;
    assert!(page.contains("Job centre shadowing"));
}

#[tokio::test]
async fn a_form_sends_money_lists_and_participants_as_the_api_takes_them() {
    let app = spawn_app().await;
    let grant = [("occurred_on", "2021-02-01"), ("recipient", "asti"), ("amount", "20000.50"), ("purpose", "one-stop-shop pilot")];
    let answer = app.post_form("/programmes/connection/record/grant_awarded", Some(&app.admin), &grant).await;
    let recorded = activity(&app, &recorded_id(&answer)).await;
    assert_eq!((&recorded["amount"], &recorded["partner"]), (&json!("20000.50"), &json!("asti")));

    let visit = [
        ("occurred_on", "2021-03-04"), ("host", "torino"), ("visitors", "paris"), ("visitors", "asti"),
        ("participants.total", "9"), ("participants.women", "4"), ("participants.migrants", ""),
    ];
    let answer = app.post_form("/programmes/connection/record/peer_visit", Some(&app.admin), &visit).await;
    let recorded = activity(&app, &recorded_id(&answer)).await;
    assert_eq!(recorded["visitors"], json!(["paris", "asti"]));
    assert_eq!(recorded["participants"], json!({"total": 9, "women": 4}));
}

#[tokio::test]
async fn a_form_with_a_missing_required_field_and_a_bad_date_answers_422_with_both_faults_and_keeps_the_values() {
    let app = spawn_app().await;
    let fields = [("occurred_on", "2021-13-45"), ("title", "Kept <title>"), ("host", "torino"), ("visitor", ""), ("days", "5"), ("staff", "2")];
    let answer = app.post_form("/programmes/connection/record/staff_exchange", Some(&app.admin), &fields).await.expect(422);
    let page = &answer.text;
    let top = summary(page);
    assert!(top.contains("href=\"#occurred_on\"") && top.contains("href=\"#visitor\""), "{top}");
    for (id, message) in [("occurred_on", "2021-13-45"), ("visitor", "required")] {
        let control = tag(page, id);
        assert!(control.contains("aria-invalid=\"true\""), "{control}");
        assert!(control.contains(&format!("{id}-error")), "described by its fault: {control}");
        assert!(tag(page, &format!("{id}-error")).contains("field-error"));
        let error = &page[page.find(&format!("id=\"{id}-error\"")).unwrap()..];
        assert!(error[..error.find("</span>").unwrap()].contains(message), "{id}: {}", &error[..200]);
    }
    assert!(tag(page, "occurred_on").contains("value=\"2021-13-45\""));
    assert!(tag(page, "title").contains("value=\"Kept &lt;title&gt;\""));
    assert!(tag(page, "days").contains("value=\"5\""));
    assert!(page.contains("<option value=\"torino\" selected>"), "the host picked stays picked");
    let listed = app.get("/v1/programmes/connection/activities", None).await.expect(200).json();
    assert_eq!(listed["activities"], json!([]), "nothing recorded");
}

#[tokio::test]
async fn a_signed_out_visitor_of_the_record_form_is_sent_to_sign_in_and_back() {
    let app = spawn_app().await;
    let answer = app.browse("/programmes/connection/record/staff_exchange", None).await.expect(303);
    assert_eq!(answer.header("location"), Some("/sign-in?next=/programmes/connection/record/staff_exchange"));
    let posted = app.post_form("/programmes/connection/record/staff_exchange", None, &[("occurred_on", "2021-10-11")]).await;
    assert_eq!(posted.status.as_u16(), 303);
}

#[tokio::test]
async fn a_caller_who_may_not_record_in_the_programme_gets_the_forbidden_page() {
    let app = spawn_app().await;
    let auditor = app.token("auditor", "auditor", None, None).await;
    let other = app.token("zagreb-unites", "recorder", Some("unites"), Some("zagreb")).await;
    for token in [&auditor, &other] {
        let page = app.browse("/programmes/connection/record/staff_exchange", Some(token)).await.expect(403);
        assert!(page.text.contains("Not allowed"), "{}", page.text);
        let fields = [("occurred_on", "2021-10-11"), ("host", "zagreb"), ("visitor", "paris"), ("days", "5"), ("staff", "2")];
        app.post_form("/programmes/connection/record/staff_exchange", Some(token), &fields).await.expect(403);
    }
    let listed = app.get("/v1/programmes/connection/activities", None).await.expect(200).json();
    assert_eq!(listed["activities"], json!([]), "nothing recorded");
}

#[tokio::test]
async fn a_form_sent_twice_records_once_and_both_answers_lead_to_the_activity() {
    let app = spawn_app().await;
    let recorder = app.token("torino-staff", "recorder", Some("connection"), Some("torino")).await;
    let form = app.browse("/programmes/connection/record/staff_exchange", Some(&recorder)).await.expect(200).text;
    let at = form.find("name=\"submission\" value=\"").expect("the form names its submission") + "name=\"submission\" value=\"".len();
    let submission = form[at..].split('"').next().unwrap().to_owned();
    let fields = [("submission", submission.as_str()), ("occurred_on", "2021-10-11"), ("host", "torino"), ("visitor", "paris"),
        ("days", "5"), ("staff", "2")];
    let first = app.post_form("/programmes/connection/record/staff_exchange", Some(&recorder), &fields).await.expect(303);
    let again = app.post_form("/programmes/connection/record/staff_exchange", Some(&recorder), &fields).await.expect(303);
    assert_eq!(first.header("location"), again.header("location"), "the second press answers the first's activity");
    let list = app.get("/v1/programmes/connection/activities", None).await.expect(200).json();
    assert_eq!(list["activities"].as_array().unwrap().len(), 1, "recorded once: {list}");
    // A new filling-in of the form is a new activity.
    let other = [("occurred_on", "2021-10-11"), ("host", "torino"), ("visitor", "paris"), ("days", "5"), ("staff", "2")];
    let new = app.post_form("/programmes/connection/record/staff_exchange", Some(&recorder), &other).await.expect(303);
    assert_ne!(new.header("location"), first.header("location"));
}
