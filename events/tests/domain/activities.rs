//! Recording activities: the catalogue's fields, the attributed partner, every fault message, who may record,
//! locked periods, and reading fields by path for measures.

use events::activity::{FieldValue, Scalar};
use events::event::{ActivityRecorded, ActivitySubmitted};
use events::{parse_activity, DomainEvent, FaultKind, Measure, Programme};
use serde_json::{json, Value};

use crate::support::*;

fn recorded_activity(events: &[DomainEvent]) -> &events::Activity {
    match &events[0] {
        DomainEvent::ActivityRecorded(recorded) => &recorded.activity,
        other => panic!("expected ActivityRecorded, got {other:?}"),
    }
}

#[test]
fn a_staff_exchange_is_recorded_and_attributed_to_its_host() {
    let events = given(demo_registered(false)).when_recording(exchange()).then_ok();
    let activity = parse_activity(&set(exchange(), "partner", json!("torino")), None).unwrap();
    assert_eq!(events, vec![DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: activity_id(), activity })]);
    assert_eq!(recorded_activity(&events).partner.as_str(), "torino");
}

#[test]
fn in_a_programme_that_requires_approval_a_recorded_activity_is_submitted() {
    let events =
        given(demo_registered(true)).when_recording(exchange()).then_types(&["ActivityRecorded", "ActivitySubmitted"]);
    assert_eq!(events[1], DomainEvent::ActivitySubmitted(ActivitySubmitted { activity_id: activity_id() }));
}

#[test]
fn a_bad_activity_lists_every_fault_at_once() {
    let body = json!({"kind": "cluster_visit", "occurred_on": "2021-03-04", "cluster": "cop9", "host": "atlantis",
                      "participants": {"total": 10, "women": 12, "men": 3}, "colour": "red"});
    given(demo_registered(false)).when_recording(body).then_faults(
        FaultKind::Validation,
        &[
            ("cluster", "unknown cluster 'cop9'"),
            ("host", "unknown partner 'atlantis'"),
            ("participants.men", "unknown field"),
            ("participants.women", "women (12) exceed total (10)"),
            ("colour", "unknown field"),
        ],
    );
}

#[test]
fn an_unknown_visitor_is_named() {
    given(demo_registered(false)).when_recording(set(exchange(), "visitor", json!("atlantis"))).then_fault(
        FaultKind::Validation,
        "visitor",
        "unknown partner 'atlantis'",
    );
}

#[test]
fn migrants_may_not_exceed_the_total() {
    let body = json!({"kind": "training_delivered", "occurred_on": "2021-03-04", "title": "Co-design", "mode": "online",
                      "participants": {"total": 5, "migrants": 6, "women": 5}});
    given(demo_registered(false)).when_recording(body).then_fault(
        FaultKind::Validation,
        "participants.migrants",
        "migrants (6) exceed total (5)",
    );
}

#[test]
fn the_activity_must_lie_within_the_programme_and_not_in_the_future() {
    let at = |date: &str| set(exchange(), "occurred_on", json!(date));
    given(demo_registered(false)).when_recording(at("2019-12-31")).then_fault(
        FaultKind::Validation,
        "occurred_on",
        "2019-12-31 is before the programme starts on 2020-01-01",
    );
    given(demo_registered(false)).when_recording(at("2023-01-01")).then_fault(
        FaultKind::Validation,
        "occurred_on",
        "2023-01-01 is after the programme ends on 2022-12-31",
    );
    given(demo_registered(false)).when_recording(at("2022-07-01")).then_fault(
        FaultKind::Validation,
        "occurred_on",
        "2022-07-01 is in the future",
    );
    given(demo_registered(false)).when_recording(at("2022-06-30")).then_types(&["ActivityRecorded"]);
    given(demo_registered(false)).when_recording(at("1 March 2021")).then_fault(
        FaultKind::Validation,
        "occurred_on",
        "'1 March 2021' is not a date (YYYY-MM-DD)",
    );
}

#[test]
fn an_end_date_follows_the_start_and_lies_within_the_programme() {
    given(demo_registered(false)).when_recording(set(exchange(), "ends_on", json!("2021-10-10"))).then_fault(
        FaultKind::Validation,
        "ends_on",
        "2021-10-10 is before occurred_on 2021-10-11",
    );
    given(demo_registered(false)).when_recording(set(exchange(), "ends_on", json!("2023-01-05"))).then_fault(
        FaultKind::Validation,
        "ends_on",
        "2023-01-05 is after the programme ends on 2022-12-31",
    );
    given(demo_registered(false))
        .when_recording(set(exchange(), "ends_on", json!("2021-10-15")))
        .then_types(&["ActivityRecorded"]);
}

fn grant(amount: Value) -> Value {
    json!({"kind": "grant_awarded", "occurred_on": "2021-02-01", "recipient": "asti", "amount": amount,
           "purpose": "one-stop-shop pilot"})
}

#[test]
fn money_is_a_decimal_string_with_at_most_two_decimals() {
    given(demo_registered(false)).when_recording(grant(json!("12.345"))).then_fault(
        FaultKind::Validation,
        "amount",
        "'12.345' is not an amount of money: use a decimal string with at most 2 decimals, like \"30979.71\"",
    );
    given(demo_registered(false)).when_recording(grant(json!(35714.29))).then_fault(
        FaultKind::Validation,
        "amount",
        "write amounts of money as decimal strings, like \"35714.29\"",
    );
    given(demo_registered(false)).when_recording(grant(json!("0.00"))).then_fault(
        FaultKind::Validation,
        "amount",
        "must be more than 0",
    );
    given(demo_registered(false)).when_recording(grant(json!(true))).then_fault(
        FaultKind::Validation,
        "amount",
        "expected a decimal string",
    );
    let events = given(demo_registered(false)).when_recording(grant(json!("35714.3"))).then_ok();
    let activity = recorded_activity(&events);
    assert_eq!(activity.partner.as_str(), "asti", "a grant is attributed to its recipient");
    assert_eq!(activity.to_value()["amount"], json!("35714.30"));
}

#[test]
fn a_staff_exchange_lasts_1_to_60_days_with_at_least_one_staff_member_and_two_cities() {
    let body = set(set(exchange(), "days", json!(61)), "staff", json!(0));
    given(demo_registered(false)).when_recording(body).then_faults(
        FaultKind::Validation,
        &[("days", "must be between 1 and 60, not 61"), ("staff", "must be at least 1, not 0")],
    );
    given(demo_registered(false)).when_recording(set(exchange(), "days", json!(2.5))).then_fault(
        FaultKind::Validation,
        "days",
        "expected a whole number",
    );
    given(demo_registered(false)).when_recording(set(exchange(), "visitor", json!("torino"))).then_fault(
        FaultKind::Validation,
        "visitor",
        "must differ from the host 'torino'",
    );
}

#[test]
fn required_fields_are_named() {
    given(demo_registered(false)).when_recording(json!({"kind": "staff_exchange"})).then_faults(
        FaultKind::Validation,
        &[
            ("occurred_on", "required"),
            ("host", "required"),
            ("visitor", "required"),
            ("days", "required"),
            ("staff", "required"),
        ],
    );
    given(demo_registered(false)).when_recording(json!({"occurred_on": "2021-01-01"})).then_fault(
        FaultKind::Validation,
        "kind",
        "required",
    );
}

#[test]
fn an_unknown_kind_is_refused() {
    given(demo_registered(false)).when_recording(json!({"kind": "picnic", "occurred_on": "2021-01-01"})).then_fault(
        FaultKind::Validation,
        "kind",
        "unknown activity kind 'picnic': use one of staff_exchange, cluster_visit, workshop_held, grant_awarded, \
         grant_paid, champion_trained, action_plan_endorsed, policy_implemented, guide_published, video_published, \
         conference_held, training_delivered, course_published, peer_visit, consultation_held, strategy_adopted, custom",
    );
}

#[test]
fn the_server_assigns_activity_ids() {
    given(demo_registered(false))
        .when_recording(set(exchange(), "id", json!("0193a000-0000-7000-8000-000000000001")))
        .then_fault(FaultKind::Validation, "id", "activity ids are assigned by the server");
}

#[test]
fn a_body_that_is_not_an_object_is_refused() {
    given(demo_registered(false)).when_recording(json!("staff_exchange")).then_fault(
        FaultKind::Validation,
        "",
        "expected an object",
    );
}

#[test]
fn kinds_with_their_own_partner_need_it() {
    let body = json!({"kind": "policy_implemented", "occurred_on": "2021-05-01", "title": "One-stop-shop"});
    given(demo_registered(false)).when_recording(body.clone()).then_fault(FaultKind::Validation, "partner", "required");
    let events = given(demo_registered(false)).when_recording(set(body, "partner", json!("asti"))).then_ok();
    assert_eq!(recorded_activity(&events).partner.as_str(), "asti");
}

#[test]
fn kinds_that_need_a_title_say_so() {
    given(demo_registered(false))
        .when_recording(json!({"kind": "workshop_held", "occurred_on": "2021-05-01", "title": "  "}))
        .then_fault(FaultKind::Validation, "title", "must not be empty");
    given(demo_registered(false))
        .when_recording(json!({"kind": "strategy_adopted", "occurred_on": "2021-05-01", "partner": "asti"}))
        .then_fault(FaultKind::Validation, "title", "required");
}

#[test]
fn activities_without_a_host_are_attributed_to_the_recorder() {
    let workshop = json!({"kind": "workshop_held", "occurred_on": "2021-05-01", "title": "Peer review"});
    let events = given(demo_registered(false)).by(recorder("paris")).when_recording(workshop.clone()).then_ok();
    assert_eq!(recorded_activity(&events).partner.as_str(), "paris");
    let events = given(demo_registered(false)).by(coordinator()).when_recording(workshop.clone()).then_ok();
    assert_eq!(recorded_activity(&events).partner.as_str(), "eurocities", "a coordinator records for the coordinator");
    let hosted = set(workshop, "host", json!("paris"));
    let events = given(demo_registered(false)).by(coordinator()).when_recording(hosted).then_ok();
    assert_eq!(recorded_activity(&events).partner.as_str(), "paris");
    let video = json!({"kind": "video_published", "occurred_on": "2021-05-01", "title": "CoP1", "cluster": "cop1"});
    let events = given(demo_registered(false)).by(recorder("torino")).when_recording(video).then_ok();
    assert_eq!(recorded_activity(&events).partner.as_str(), "torino");
}

#[test]
fn a_recorder_records_only_for_its_own_partner() {
    given(demo_registered(false)).by(recorder("asti")).when_recording(exchange()).then_fault(
        FaultKind::Forbidden,
        "partner",
        "a recorder for 'asti' may only record activities attributed to 'asti', not 'torino'",
    );
    given(demo_registered(false)).by(recorder("torino")).when_recording(exchange()).then_types(&["ActivityRecorded"]);
    // The visiting city may record the exchange when it attributes it to itself.
    let events = given(demo_registered(false))
        .by(recorder("asti"))
        .when_recording(set(exchange(), "partner", json!("asti")))
        .then_ok();
    assert_eq!(recorded_activity(&events).partner.as_str(), "asti");
}

#[test]
fn only_recorders_and_coordinators_of_the_programme_record() {
    given(demo_registered(false)).by(auditor()).when_recording(exchange()).then_fault(
        FaultKind::Forbidden,
        "",
        "an auditor may not change activities",
    );
    let elsewhere = events::CommandContext {
        today: today(),
        role: events::Role::Recorder { programme: slug("unites"), partner: slug("torino") },
    };
    given(demo_registered(false)).by(elsewhere).when_recording(exchange()).then_fault(
        FaultKind::Forbidden,
        "",
        "not a coordinator or recorder of 'demo'",
    );
    given(demo_registered(false)).by(recorder("oulu")).when_recording(exchange()).then_fault(
        FaultKind::Forbidden,
        "",
        "'oulu' is not a partner of 'demo'",
    );
    given(vec![]).when_recording(exchange()).then_fault(FaultKind::NotFound, "", "unknown programme");
}

#[test]
fn nothing_is_recorded_in_a_locked_period() {
    let mut events = demo_registered(false);
    events.push(DomainEvent::PeriodLocked(events::event::PeriodLocked {
        period: slug("y2021"),
        reason: "reported".into(),
    }));
    given(events.clone()).when_recording(exchange()).then_fault(
        FaultKind::Locked,
        "occurred_on",
        "period 'y2021' is locked",
    );
    given(events).when_recording(set(exchange(), "occurred_on", json!("2022-01-10"))).then_types(&["ActivityRecorded"]);
}

#[test]
fn a_champion_is_a_pseudonymous_reference_never_a_name() {
    let body = |champion: &str| json!({"kind": "champion_trained", "occurred_on": "2021-05-01", "partner": "torino", "champion": champion});
    given(demo_registered(false)).when_recording(body("Maria Rossi")).then_fault(
        FaultKind::Validation,
        "champion",
        "must be a pseudonymous reference like 'champion-3' (lower-case letters, digits, hyphens), never a person's name",
    );
    given(demo_registered(false)).when_recording(body("torino-champion-1")).then_types(&["ActivityRecorded"]);
}

#[test]
fn a_guide_names_its_languages_once_each_in_iso_639_1() {
    let guide = |languages: Value| {
        json!({"kind": "guide_published", "occurred_on": "2022-03-01", "title": "How to guide", "languages": languages,
               "url": "ftp://example.org/guide.pdf"})
    };
    given(demo_registered(false)).when_recording(guide(json!(["en", "english", "en"]))).then_faults(
        FaultKind::Validation,
        &[
            ("languages[1]", "'english' is not an ISO 639-1 language code like \"en\""),
            ("url", "'ftp://example.org/guide.pdf' is not an http or https address"),
        ],
    );
    given(demo_registered(false)).when_recording(set(guide(json!(["en", "fr", "en"])), "url", Value::Null)).then_fault(
        FaultKind::Validation,
        "languages[2]",
        "duplicate language 'en'",
    );
    given(demo_registered(false)).when_recording(set(guide(json!([])), "url", Value::Null)).then_fault(
        FaultKind::Validation,
        "languages",
        "name at least one language",
    );
}

#[test]
fn a_peer_visit_has_visitors_other_than_its_host() {
    let visit = |visitors: Value| json!({"kind": "peer_visit", "occurred_on": "2022-03-01", "host": "torino", "visitors": visitors});
    given(demo_registered(false))
        .when_recording(visit(json!(["asti", "torino", "asti"])))
        .then_faults(FaultKind::Validation, &[("visitors[2]", "duplicate visitor 'asti'")]);
    given(demo_registered(false)).when_recording(visit(json!(["asti", "torino"]))).then_fault(
        FaultKind::Validation,
        "visitors[1]",
        "the host 'torino' cannot be a visitor",
    );
    given(demo_registered(false)).when_recording(visit(json!([]))).then_fault(
        FaultKind::Validation,
        "visitors",
        "name at least one visitor",
    );
    given(demo_registered(false)).when_recording(visit(json!(["atlantis"]))).then_fault(
        FaultKind::Validation,
        "visitors[0]",
        "unknown partner 'atlantis'",
    );
}

#[test]
fn a_training_has_a_known_mode_and_a_course_has_hours() {
    given(demo_registered(false))
        .when_recording(
            json!({"kind": "training_delivered", "occurred_on": "2021-05-01", "title": "T", "mode": "by post"}),
        )
        .then_fault(FaultKind::Validation, "mode", "unknown mode 'by post': use one of online, in_person, hybrid");
    given(demo_registered(false))
        .when_recording(json!({"kind": "course_published", "occurred_on": "2021-05-01", "title": "MOOC", "hours": "0"}))
        .then_fault(FaultKind::Validation, "hours", "must be more than 0");
    let events = given(demo_registered(false))
        .when_recording(json!({"kind": "course_published", "occurred_on": "2021-05-01", "title": "MOOC", "hours": 5}))
        .then_ok();
    assert_eq!(
        recorded_activity(&events).field("hours"),
        Some(FieldValue::Decimal(events::Quantity::parse("5").unwrap()))
    );
}

#[test]
fn custom_attributes_are_texts_whole_numbers_or_booleans() {
    let custom = |attributes: Value| json!({"kind": "custom", "occurred_on": "2021-05-01", "label": "Radio interview", "attributes": attributes});
    given(demo_registered(false))
        .when_recording(custom(json!({"minutes": 2.5, "Station": "x", "tags": ["a"]})))
        .then_faults(
            FaultKind::Validation,
            &[
                ("attributes.minutes", "expected a string, a whole number or true/false"),
                ("attributes.Station", "attribute names use lower-case letters, digits, '-' and '_'"),
                ("attributes.tags", "expected a string, a whole number or true/false"),
            ],
        );
    let events = given(demo_registered(false))
        .by(recorder("paris"))
        .when_recording(custom(json!({"minutes": 25, "live": true, "station": "France Inter"})))
        .then_ok();
    let activity = recorded_activity(&events);
    assert_eq!(activity.partner.as_str(), "paris");
    assert_eq!(activity.field("attributes.minutes"), Some(FieldValue::Whole(25)));
    assert_eq!(activity.field("attributes.live"), Some(FieldValue::Bool(true)));
    assert_eq!(activity.field("label"), Some(FieldValue::Text("Radio interview")));
    given(demo_registered(false)).when_recording(json!({"kind": "custom", "occurred_on": "2021-05-01"})).then_fault(
        FaultKind::Validation,
        "label",
        "required",
    );
}

#[test]
fn evidence_has_a_title_a_web_address_and_a_sha256() {
    let body = set(
        exchange(),
        "evidence",
        json!([{"url": "https://example.org/report.pdf"}, {"title": "Photos", "url": "www.example.org", "sha256": "ABC"}]),
    );
    given(demo_registered(false)).when_recording(body).then_faults(
        FaultKind::Validation,
        &[
            ("evidence[0].title", "required"),
            ("evidence[1].url", "'www.example.org' is not an http or https address"),
            ("evidence[1].sha256", "must be 64 lower-case hex digits"),
        ],
    );
    let good = set(exchange(), "evidence", json!([{"title": "Report", "sha256": "a".repeat(64)}]));
    let events = given(demo_registered(false)).when_recording(good).then_ok();
    assert_eq!(recorded_activity(&events).evidence[0].title, "Report");
}

#[test]
fn fields_are_read_by_dotted_path() {
    let body = json!({"kind": "workshop_held", "occurred_on": "2021-05-01", "title": "Gender lens", "cluster": "cop1",
                      "participants": {"total": 20, "women": 12}});
    let programme = demo();
    let recorder = slug("torino");
    let rules = events::ActivityRules { programme: &programme, today: today(), recorder: &recorder };
    let activity = parse_activity(&body, Some(&rules)).unwrap();
    assert_eq!(activity.field("participants.women"), Some(FieldValue::Whole(12)));
    assert_eq!(activity.field("participants.total"), Some(FieldValue::Whole(20)));
    assert_eq!(activity.field("participants.migrants"), None);
    assert_eq!(activity.field("partner"), Some(FieldValue::Text("torino")));
    assert_eq!(activity.field("kind"), Some(FieldValue::Text("workshop_held")));
    assert_eq!(activity.field("occurred_on"), Some(FieldValue::Date(day("2021-05-01"))));
    assert_eq!(activity.field("host"), None);
    assert_eq!(activity.field("amount"), None);
    assert_eq!(activity.cluster(), Some("cop1"));
    assert_eq!(activity.field("participants.women").unwrap().as_quantity().unwrap().to_string(), "12");
}

fn measure(json: Value) -> Measure {
    let definition =
        set(demo_json(), "indicators", json!([{"id": "x", "label": "X", "unit": "u", "target": "1", "measure": json}]));
    Programme::parse(&definition).unwrap().indicators.remove(0).measure
}

#[test]
fn a_measure_selects_activities_by_kind_and_where() {
    let activity = parse_activity(&set(exchange(), "partner", json!("torino")), None).unwrap();
    assert!(measure(json!({"aggregate": "count", "kinds": ["staff_exchange"]})).selects(&activity));
    assert!(!measure(json!({"aggregate": "count", "kinds": ["cluster_visit"]})).selects(&activity));
    assert!(measure(json!({"aggregate": "count", "kinds": ["staff_exchange"], "where": {"cluster": "cop1"}}))
        .selects(&activity));
    assert!(!measure(json!({"aggregate": "count", "kinds": ["staff_exchange"], "where": {"host": "paris"}}))
        .selects(&activity));
    assert!(
        measure(json!({"aggregate": "count", "kinds": ["staff_exchange"], "where": {"days": 5}})).selects(&activity)
    );
    let grant = parse_activity(
        &grant(json!("250.5")),
        Some(&events::ActivityRules { programme: &demo(), today: today(), recorder: &slug("eurocities") }),
    )
    .unwrap();
    assert!(FieldValue::Money(events::Money::parse("250.50").unwrap()).matches(&Scalar::Text("250.5".into())));
    assert!(grant.field("amount").unwrap().matches(&Scalar::Text("250.50".into())));
    assert_eq!(grant.field("amount").unwrap().as_quantity().unwrap().to_string(), "250.50");
    let video = parse_activity(&json!({"kind": "video_published", "occurred_on": "2022-03-01", "title": "CoP1"}), None);
    assert_eq!(faults_of(video), pairs(&[("partner", "required")]), "without a recorder there is no default");
}

#[test]
fn a_list_field_matches_when_any_item_does() {
    let visit = parse_activity(
        &json!({"kind": "peer_visit", "occurred_on": "2022-03-01", "host": "torino", "partner": "torino",
                "visitors": ["asti", "paris"]}),
        None,
    )
    .unwrap();
    assert!(visit.field("visitors").unwrap().matches(&Scalar::Text("paris".into())));
    assert!(!visit.field("visitors").unwrap().matches(&Scalar::Text("torino".into())));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the numbers, participants are accepted exactly when no part exceeds the total, and every
        /// excess is reported.
        #[test]
        fn participants_are_accepted_exactly_when_parts_fit(total in 0u32..50, women in 0u32..60, migrants in 0u32..60) {
            let body = json!({"kind": "cluster_visit", "occurred_on": "2021-03-04", "cluster": "cop1", "host": "torino",
                              "participants": {"total": total, "women": women, "migrants": migrants}});
            let outcome = given(demo_registered(false)).when_recording(body).0;
            match outcome {
                Ok(events) => prop_assert!(women <= total && migrants <= total, "{events:?}"),
                Err(faults) => {
                    let expected = usize::from(women > total) + usize::from(migrants > total);
                    prop_assert_eq!(faults.faults().len(), expected);
                    prop_assert!(expected > 0);
                }
            }
        }

        /// An activity written out and read back is the same activity.
        #[test]
        fn activities_read_back_as_written(days in 1u32..=60, staff in 1u32..10, day_of_year in 0i64..1000, with_cluster: bool) {
            let date = day("2020-01-01") + chrono::Duration::days(day_of_year);
            let mut body = json!({"kind": "staff_exchange", "occurred_on": date.to_string(), "host": "paris",
                                  "visitor": "torino", "days": days, "staff": staff});
            if with_cluster {
                body = set(body, "cluster", json!("cop1"));
            }
            let programme = demo();
            let recorder = slug("eurocities");
            let rules = events::ActivityRules { programme: &programme, today: day("2022-12-31"), recorder: &recorder };
            let activity = parse_activity(&body, Some(&rules)).unwrap();
            prop_assert_eq!(parse_activity(&activity.to_value(), None).unwrap(), activity);
        }
    }
}
