//! Stored events: every type written and read back, the upcast of ActivityRecorded schema 1, decode errors,
//! and stream names.

use events::event::{
    ActivityApproved, ActivityCorrected, ActivityRecorded, ActivityRetracted, ActivityReturned, ActivitySubmitted,
    ClusterAdded, IatiSettingsChanged, IndicatorRevised, IndicatorSet, PartnerJoined, PeriodAdded, PeriodLocked, PeriodUnlocked,
    ProgrammeRegistered, EVENT_TYPES,
};
use events::{activity_stream, parse_activity, programme_stream, DecodeError, DomainEvent, EventData, StreamName};
use serde_json::json;

use crate::support::*;

fn one_of_each() -> Vec<DomainEvent> {
    let programme = demo();
    let activity = parse_activity(
        &json!({"kind": "cluster_visit", "occurred_on": "2021-03-04", "cluster": "cop1", "host": "torino",
                "partner": "torino", "participants": {"total": 25, "women": 14},
                "evidence": [{"title": "Agenda", "url": "https://example.org/agenda.pdf"}]}),
        None,
    )
    .unwrap();
    let id = activity_id();
    vec![
        DomainEvent::ProgrammeRegistered(ProgrammeRegistered { programme: programme.clone() }),
        DomainEvent::PartnerJoined(PartnerJoined { partner: programme.partners[1].clone() }),
        DomainEvent::ClusterAdded(ClusterAdded { cluster: programme.clusters[0].clone() }),
        DomainEvent::PeriodAdded(PeriodAdded { period: programme.periods[0].clone() }),
        DomainEvent::IndicatorSet(IndicatorSet { indicator: programme.indicators[0].clone() }),
        DomainEvent::IndicatorRevised(IndicatorRevised {
            indicator: programme.indicators[0].clone(),
            reason: "r".into(),
        }),
        DomainEvent::PeriodLocked(PeriodLocked { period: slug("y2020"), reason: "reported".into() }),
        DomainEvent::PeriodUnlocked(PeriodUnlocked { period: slug("y2020"), reason: "audit".into() }),
        DomainEvent::IatiSettingsChanged(IatiSettingsChanged {
            settings: events::IatiSettings::parse(&json!({"reporting_org": {"ref": "XM-DAC-41114", "type": "21"},
                "sectors": [{"code": "15110"}], "recipient_region": "89",
                "budgets": [{"starts_on": "2020-01-01", "ends_on": "2020-12-31", "amount": "10.50"}]}))
            .unwrap(),
        }),
        DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: id, activity: activity.clone() }),
        DomainEvent::ActivitySubmitted(ActivitySubmitted { activity_id: id }),
        DomainEvent::ActivityApproved(ActivityApproved { activity_id: id, note: Some("ok".into()) }),
        DomainEvent::ActivityReturned(ActivityReturned { activity_id: id, note: "fix".into() }),
        DomainEvent::ActivityCorrected(ActivityCorrected {
            activity_id: id,
            reason: "typo".into(),
            changes: json!({"participants": {"total": 25, "women": 14}}).as_object().unwrap().clone(),
            activity,
        }),
        DomainEvent::ActivityRetracted(ActivityRetracted { activity_id: id, reason: "duplicate".into() }),
    ]
}

#[test]
fn every_event_type_reads_back_what_it_wrote() {
    let events = one_of_each();
    let types: Vec<&str> = events.iter().map(DomainEvent::event_type).collect();
    let known: Vec<&str> = EVENT_TYPES.iter().map(|(name, _)| *name).collect();
    assert_eq!(types, known, "one of each type, in the order of EVENT_TYPES");
    for event in events {
        // Through the canonical stored text, as the log keeps it.
        let stored = EventData::from_value(&event.to_data());
        let data = stored.to_value().unwrap();
        let decoded = DomainEvent::decode(event.event_type(), event.schema(), &data).unwrap();
        assert_eq!(decoded, event);
    }
}

#[test]
fn every_payload_is_what_serde_makes_of_the_event() {
    // `to_data` builds some payloads by hand (ActivityRecorded); they must not differ from the derived form.
    for event in one_of_each() {
        let derived = match &event {
            DomainEvent::ActivityRecorded(e) => serde_json::to_value(e).unwrap(),
            other => other.to_data(),
        };
        assert_eq!(event.to_data(), derived, "{}", event.event_type());
    }
}

#[test]
fn activity_recorded_is_at_schema_2() {
    let events = one_of_each();
    let schemas: Vec<(&str, u32)> = events.iter().map(|e| (e.event_type(), e.schema())).collect();
    assert!(schemas.contains(&("ActivityRecorded", 2)));
    assert!(schemas.iter().filter(|(t, _)| *t != "ActivityRecorded").all(|(_, s)| *s == 1));
}

#[test]
fn an_activity_recorded_at_schema_1_with_participants_as_a_number_is_upcast() {
    let v1 = json!({
        "activity_id": "0193a000-0000-7000-8000-000000000009",
        "activity": {"kind": "peer_visit", "occurred_on": "2022-03-01", "partner": "zagreb", "host": "zagreb",
                     "visitors": ["oulu", "prague"], "participants": 17}
    });
    let event = DomainEvent::decode("ActivityRecorded", 1, &v1).unwrap();
    let DomainEvent::ActivityRecorded(recorded) = &event else { panic!("{event:?}") };
    assert_eq!(recorded.activity.field("participants.total"), Some(events::FieldValue::Whole(17)));
    assert_eq!(recorded.activity.field("participants.women"), None);
    assert_eq!(event.schema(), 2);
    assert_eq!(event.to_data()["activity"]["participants"], json!({"total": 17}));
    // The same payload is not valid schema 2: the upcast, not leniency, is what reads it.
    assert!(matches!(DomainEvent::decode("ActivityRecorded", 2, &v1), Err(DecodeError::Malformed { .. })));
}

#[test]
fn a_schema_1_activity_without_participants_reads_as_it_was() {
    let v1 = json!({"activity_id": "0193a000-0000-7000-8000-000000000009",
                    "activity": {"kind": "strategy_adopted", "occurred_on": "2024-03-01", "partner": "oulu", "title": "Oulu strategy"}});
    let event = DomainEvent::decode("ActivityRecorded", 1, &v1).unwrap();
    assert_eq!(event.to_data(), v1);
}

#[test]
fn payloads_that_cannot_be_read_say_why() {
    assert_eq!(
        DomainEvent::decode("ActivityTeleported", 1, &json!({})),
        Err(DecodeError::UnknownType("ActivityTeleported".into()))
    );
    assert_eq!(
        DomainEvent::decode("PeriodLocked", 2, &json!({})).unwrap_err().to_string(),
        "PeriodLocked has no schema 2 (the newest is 1)"
    );
    assert!(matches!(
        DomainEvent::decode("ActivityRecorded", 0, &json!({})),
        Err(DecodeError::UnsupportedSchema { .. })
    ));
    let missing = DomainEvent::decode("PeriodLocked", 1, &json!({"period": "y2020"})).unwrap_err();
    assert!(missing.to_string().starts_with("PeriodLocked schema 1: missing field `reason`"), "{missing}");
    let extra =
        DomainEvent::decode("ActivitySubmitted", 1, &json!({"activity_id": activity_id(), "by": "x"})).unwrap_err();
    assert!(extra.to_string().contains("unknown field `by`"), "{extra}");
    let bad_v1 = DomainEvent::decode("ActivityRecorded", 1, &json!({"activity": 3})).unwrap_err();
    assert_eq!(bad_v1.to_string(), "ActivityRecorded schema 1: activity is missing or not an object");
}

#[test]
fn events_belong_to_programme_and_activity_streams() {
    let demo = slug("demo");
    assert_eq!(programme_stream(&demo), "programme-demo");
    assert_eq!(activity_stream(&activity_id()), "activity-01930000-0000-7000-8000-000000000001");
    for event in one_of_each() {
        let expected = match event.activity_id() {
            Some(id) => format!("activity-{id}"),
            None => "programme-demo".to_string(),
        };
        assert_eq!(event.stream(&demo).to_string(), expected, "{}", event.event_type());
    }
    assert_eq!(StreamName::parse("programme-demo"), Some(StreamName::Programme(demo)));
    assert_eq!(
        StreamName::parse("activity-01930000-0000-7000-8000-000000000001"),
        Some(StreamName::Activity(activity_id()))
    );
    for bad in ["programme-Demo", "activity-xyz", "activity-01930000000070008000000000000001", "other-1"] {
        assert_eq!(StreamName::parse(bad), None, "{bad}");
    }
}

mod properties {
    use super::*;
    use events::{record_activity, ProgrammeState, RecordActivity};
    use proptest::prelude::*;

    proptest! {
        /// Whatever a handler decides reads back from its stored form as the same events.
        #[test]
        fn decided_events_read_back_from_their_stored_form(
            total in 0u32..500, women in 0u32..500, day_of_year in 0i64..900, amount_cents in 1i64..100_000_000,
            approval: bool,
        ) {
            let date = day("2020-01-01") + chrono::Duration::days(day_of_year);
            let state = ProgrammeState::from_events(&demo_registered(approval));
            let amount = events::Money::from_cents(amount_cents).to_string();
            for body in [
                json!({"kind": "training_delivered", "occurred_on": date.to_string(), "title": "Co-design", "mode": "hybrid",
                       "participants": {"total": total.max(women), "women": women}}),
                json!({"kind": "grant_awarded", "occurred_on": date.to_string(), "recipient": "asti", "amount": amount,
                       "purpose": "pilot"}),
            ] {
                let decided = record_activity(&state, RecordActivity { activity_id: activity_id(), body }, &coordinator()).unwrap();
                for event in decided {
                    let data = EventData::from_value(&event.to_data()).to_value().unwrap();
                    prop_assert_eq!(DomainEvent::decode(event.event_type(), event.schema(), &data).unwrap(), event);
                }
            }
        }
    }
}
