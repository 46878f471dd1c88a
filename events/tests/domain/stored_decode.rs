//! `DomainEvent::decode_stored` (the fast reader of stored payloads used by replays) gives exactly what
//! `DomainEvent::decode` gives for the same text: for a valid activity of every kind, and for payloads changed
//! in the ways a fast reader could get wrong (a field dropped, `null`, of another type, out of range, unknown).

use events::event::{ActivityApproved, ActivityCorrected, ActivityRecorded, ActivityRetracted, ActivityReturned, ActivitySubmitted};
use events::{parse_activity, DomainEvent, EventData};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::support::activity_id;

/// A valid body of every kind, most with every optional field given.
pub(crate) fn bodies() -> Vec<Value> {
    vec![
        json!({"kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino", "visitor": "asti",
               "cluster": "cop1", "days": 5, "staff": 2}),
        json!({"kind": "staff_exchange", "occurred_on": "2021-10-11", "ends_on": "2021-10-15", "partner": "paris",
               "host": "torino", "visitor": "asti", "days": 60, "staff": 1, "title": "Visit \"quoted\"\n",
               "notes": "é", "evidence": [{"title": "Agenda", "url": "https://example.org/a.pdf",
               "sha256": "a".repeat(64)}, {"title": "Photos"}]}),
        json!({"kind": "cluster_visit", "occurred_on": "2021-03-04", "cluster": "cop1", "host": "torino",
               "participants": {"total": 25, "women": 14, "migrants": 3}}),
        json!({"kind": "workshop_held", "occurred_on": "2021-05-01", "title": "Peer review", "host": "asti",
               "cluster": "cop1", "participants": {"total": 10}}),
        json!({"kind": "workshop_held", "occurred_on": "2021-05-01", "title": "Peer review", "partner": "asti"}),
        json!({"kind": "grant_awarded", "occurred_on": "2021-02-01", "recipient": "asti", "amount": "30979.71",
               "purpose": "pilot"}),
        json!({"kind": "grant_paid", "occurred_on": "2021-02-01", "recipient": "asti", "amount": "5"}),
        json!({"kind": "champion_trained", "occurred_on": "2021-05-01", "partner": "torino", "champion": "champion-3"}),
        json!({"kind": "action_plan_endorsed", "occurred_on": "2021-05-01", "partner": "torino", "title": "Plan"}),
        json!({"kind": "policy_implemented", "occurred_on": "2021-05-01", "partner": "torino", "title": "One-stop",
               "cluster": "cop1"}),
        json!({"kind": "guide_published", "occurred_on": "2022-03-01", "partner": "torino", "title": "Guide",
               "languages": ["en", "it"], "url": "http://example.org/g", "cluster": "cop1"}),
        json!({"kind": "video_published", "occurred_on": "2022-03-01", "partner": "torino", "title": "CoP1",
               "url": "https://example.org/v"}),
        json!({"kind": "conference_held", "occurred_on": "2022-03-01", "title": "Final", "host": "paris",
               "participants": {"total": 200, "women": 120}}),
        json!({"kind": "training_delivered", "occurred_on": "2021-03-04", "partner": "torino", "title": "Co-design",
               "mode": "in_person", "participants": {"total": 12}}),
        json!({"kind": "course_published", "occurred_on": "2021-05-01", "partner": "torino", "title": "MOOC",
               "hours": "2.5", "url": "https://example.org/c"}),
        json!({"kind": "course_published", "occurred_on": "2021-05-01", "partner": "torino", "title": "MOOC", "hours": 5}),
        json!({"kind": "peer_visit", "occurred_on": "2022-03-01", "host": "torino", "visitors": ["asti", "paris"],
               "participants": {"total": 8, "migrants": 2}}),
        json!({"kind": "consultation_held", "occurred_on": "2022-03-01", "partner": "paris", "title": "Hearing",
               "participants": {"total": 40}}),
        json!({"kind": "strategy_adopted", "occurred_on": "2022-03-01", "partner": "paris", "title": "Strategy"}),
        json!({"kind": "custom", "occurred_on": "2021-05-01", "partner": "asti", "label": "Radio interview",
               "attributes": {"minutes": 12, "station": "RAI", "live": true}}),
    ]
}

/// What both readers make of `payload` stored as `event_type` at its newest schema.
fn both(event_type: &str, payload: &Value) -> (Result<DomainEvent, events::DecodeError>, Result<DomainEvent, events::DecodeError>) {
    let text = EventData::from_value(payload);
    let schema = events::event::EVENT_TYPES.iter().find(|(name, _)| *name == event_type).unwrap().1;
    let slow = DomainEvent::decode(event_type, schema, &text.to_value().unwrap());
    let fast = DomainEvent::decode_stored(event_type, schema, text.as_str());
    (fast, slow)
}

#[test]
fn every_kind_reads_the_same_through_the_fast_reader() {
    for body in bodies() {
        let activity = parse_activity(&body, None).unwrap_or_else(|f| panic!("{body}: {f:?}"));
        let recorded = DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: activity_id(), activity: activity.clone() });
        let corrected = DomainEvent::ActivityCorrected(ActivityCorrected {
            activity_id: activity_id(),
            reason: "typo".into(),
            changes: json!({"days": 5, "cluster": null}).as_object().unwrap().clone(),
            activity,
        });
        for event in [recorded, corrected] {
            let (fast, slow) = both(event.event_type(), &event.to_data());
            assert_eq!(fast, slow);
            assert_eq!(fast.unwrap(), event);
        }
    }
    let id = activity_id();
    for event in [
        DomainEvent::ActivitySubmitted(ActivitySubmitted { activity_id: id }),
        DomainEvent::ActivityApproved(ActivityApproved { activity_id: id, note: Some("ok".into()) }),
        DomainEvent::ActivityApproved(ActivityApproved { activity_id: id, note: None }),
        DomainEvent::ActivityReturned(ActivityReturned { activity_id: id, note: "fix".into() }),
        DomainEvent::ActivityRetracted(ActivityRetracted { activity_id: id, reason: "duplicate".into() }),
    ] {
        let (fast, slow) = both(event.event_type(), &event.to_data());
        assert_eq!(fast, slow);
        assert_eq!(fast.unwrap(), event);
    }
}

/// Values a field could wrongly be accepted with (`None`: the field is removed).
pub(crate) fn replacements() -> Vec<Option<Value>> {
    vec![
        None,
        Some(Value::Null),
        Some(json!("")),
        Some(json!("  ")),
        Some(json!("Not A Slug")),
        Some(json!("torino")),
        Some(json!("asti")),
        Some(json!("cop1")),
        Some(json!("2021-02-30")),
        Some(json!("2020-01-01")),
        Some(json!("2023-01-01")),
        Some(json!("0")),
        Some(json!("0.00")),
        Some(json!("12.345")),
        Some(json!("en")),
        Some(json!("online")),
        Some(json!("tor\u{0069}no")),
        Some(json!(0)),
        Some(json!(1)),
        Some(json!(60)),
        Some(json!(61)),
        Some(json!(-1)),
        Some(json!(1.5)),
        Some(json!(5_000_000_000u64)),
        Some(json!(true)),
        Some(json!([])),
        Some(json!(["en", "en"])),
        Some(json!(["torino"])),
        Some(json!({})),
        Some(json!({"total": 3, "women": 4})),
        Some(json!({"total": 3, "extra": 1})),
        Some(json!([{"title": " "}])),
        Some(json!({"bad name": 1})),
        Some(json!("https://")),
        Some(json!("https://example.org/x y")),
        Some(json!(59)),
        Some(json!(4_294_967_295u64)),
        Some(json!(4_294_967_296u64)),
    ]
}

fn replacement() -> impl Strategy<Value = Option<Value>> {
    prop::sample::select(replacements())
}

pub(crate) const FIELDS: &[&str] = &[
    "kind", "occurred_on", "ends_on", "partner", "title", "notes", "evidence", "host", "visitor", "cluster", "days",
    "staff", "participants", "recipient", "amount", "purpose", "champion", "languages", "url", "mode", "hours",
    "visitors", "label", "attributes", "id", "unknown",
];

/// Every body with one field (its own or another kind's) removed or replaced by each of the replacements.
pub(crate) fn single_changes() -> impl Iterator<Item = Value> {
    bodies().into_iter().flat_map(|body| {
        let object = body.as_object().unwrap().clone();
        let fields: Vec<String> = object.keys().cloned().chain(FIELDS.iter().map(|f| f.to_string())).collect();
        fields.into_iter().flat_map(move |field| {
            let object = object.clone();
            replacements().into_iter().map(move |value| {
                let mut changed = object.clone();
                match value {
                    None => changed.remove(&field),
                    Some(value) => changed.insert(field.clone(), value),
                };
                Value::Object(changed)
            })
        })
    })
}

/// `body` with each change made in turn: a field the body has (when `own`) or any field of [`FIELDS`], picked by
/// the index, removed (`None`) or replaced.
pub(crate) fn changed(body: &Value, changes: Vec<(bool, prop::sample::Index, Option<Value>)>) -> Map<String, Value> {
    let mut activity = body.as_object().unwrap().clone();
    for (own, index, value) in changes {
        let keys: Vec<String> = activity.keys().cloned().collect();
        let field = if own && !keys.is_empty() { index.get(&keys).clone() } else { index.get(FIELDS).to_string() };
        match value {
            None => activity.remove(&field),
            Some(value) => activity.insert(field, value),
        };
    }
    activity
}

#[test]
fn every_single_change_of_a_field_reads_the_same_through_the_fast_reader() {
    let mut checked = 0;
    for activity in single_changes() {
        let payload = json!({"activity_id": activity_id(), "activity": activity});
        let (fast, slow) = both("ActivityRecorded", &payload);
        assert_eq!(fast, slow, "{payload}");
        checked += 1;
    }
    assert!(checked > 10_000, "{checked}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn a_changed_payload_reads_the_same_through_the_fast_reader(
        body in prop::sample::select(bodies()),
        changes in prop::collection::vec((any::<bool>(), any::<prop::sample::Index>(), replacement()), 1..3),
        corrected in any::<bool>(),
    ) {
        let activity = changed(&body, changes);
        let (event_type, payload) = if corrected {
            ("ActivityCorrected", json!({"activity_id": activity_id(), "reason": "r", "changes": Map::new(), "activity": activity}))
        } else {
            ("ActivityRecorded", json!({"activity_id": activity_id(), "activity": activity}))
        };
        let (fast, slow) = both(event_type, &payload);
        prop_assert_eq!(fast, slow);
    }
}
