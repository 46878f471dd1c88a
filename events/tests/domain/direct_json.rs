//! The payload of a recorded activity written straight from the domain types (`DomainEvent::to_event_data`,
//! `Activity::write_canonical`) is byte for byte the canonical form of `to_data()`: for a valid activity of
//! every kind, for every single change of a field that still makes a valid activity, and for arbitrary text in
//! the free-text fields (escapes, control characters, any Unicode).

use events::event::ActivityRecorded;
use events::{parse_activity, Activity, DomainEvent, EventData};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::stored_decode::{bodies, replacements, FIELDS};
use crate::support::activity_id;

/// Checks both writers on the activity `body` reads as (without a programme's rules); `false` when it is not
/// a valid activity.
fn writes_the_same(body: &Value) -> bool {
    let Ok(activity) = parse_activity(body, None) else { return false };
    let mut written = String::new();
    activity.write_canonical(&mut written);
    assert_eq!(written, EventData::from_value(&activity.to_value()).as_str(), "{body}");
    let event = DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: activity_id(), activity });
    assert_eq!(event.to_event_data(), EventData::from_value(&event.to_data()), "{body}");
    true
}

#[test]
fn every_kind_is_written_directly_as_its_canonical_payload() {
    for body in bodies() {
        assert!(writes_the_same(&body), "{body} is valid");
    }
}

#[test]
fn every_single_change_of_a_field_is_written_directly_as_its_canonical_payload() {
    let mut valid = 0;
    for body in bodies() {
        let fields: Vec<String> =
            body.as_object().unwrap().keys().cloned().chain(FIELDS.iter().map(|f| f.to_string())).collect();
        for field in fields {
            for value in replacements() {
                let mut changed = body.as_object().unwrap().clone();
                match value {
                    None => changed.remove(&field),
                    Some(value) => changed.insert(field.clone(), value),
                };
                valid += usize::from(writes_the_same(&Value::Object(changed)));
            }
        }
    }
    assert!(valid > 1_000, "{valid}");
}

/// Events other than a recorded activity take the general writer; it is the same function for them.
#[test]
fn other_events_are_written_as_their_canonical_payload() {
    let activity: Activity = parse_activity(&bodies()[0], None).unwrap();
    let corrected = DomainEvent::ActivityCorrected(events::event::ActivityCorrected {
        activity_id: activity_id(),
        reason: "typo \"x\"".into(),
        changes: json!({"days": 5}).as_object().unwrap().clone(),
        activity,
    });
    assert_eq!(corrected.to_event_data(), EventData::from_value(&corrected.to_data()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_text_in_the_free_text_fields_is_written_as_its_canonical_payload(
        title in any::<String>(),
        notes in any::<String>(),
        evidence in any::<String>(),
        label in any::<String>(),
        attribute in any::<String>(),
        whole in any::<i64>(),
        year in 1000i32..=9999,
    ) {
        // Text of nothing but whitespace is refused; a dot keeps each text valid, escapes and all.
        let (title, notes, evidence, label) = (title + ".", notes + ".", evidence + ".", label + ".");
        let occurred_on = format!("{year}-02-03");
        let exchange = json!({"kind": "staff_exchange", "occurred_on": occurred_on, "host": "torino", "visitor": "asti",
            "days": 5, "staff": 2, "title": title, "notes": notes, "evidence": [{"title": evidence}]});
        let custom = json!({"kind": "custom", "occurred_on": occurred_on, "partner": "asti", "label": label,
            "attributes": {"text": attribute, "whole": whole, "flag": false}});
        for body in [exchange, custom] {
            prop_assert!(writes_the_same(&body), "{} is valid", body);
        }
    }
}
