//! The payload of a recorded activity written straight from the domain types (`DomainEvent::to_event_data`,
//! `Activity::write_canonical`) is byte for byte the canonical form of `to_data()`: for a valid activity of
//! every kind, for every single change of a field that still makes a valid activity, and for arbitrary text in
//! the free-text fields (escapes, control characters, any Unicode). And a request body read straight into the
//! domain types (`ActivityDraft::read`, `record_activity_draft`) decides exactly what `record_activity_body`
//! decides on the same body, whenever the fast reader takes it.

use events::event::ActivityRecorded;
use events::{
    parse_activity, record_activity_body, record_activity_draft, Activity, ActivityDraft, CommandContext, DomainEvent,
    EventData, ProgrammeState,
};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::stored_decode::{bodies, changed, replacements, single_changes};
use crate::support::{activity_id, auditor, coordinator, demo_registered, recorder};

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
    let valid: usize = single_changes().map(|changed| usize::from(writes_the_same(&changed))).sum();
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

/// Records `body` in the demo programme through both readers as each of several callers; counts the decisions
/// the fast reader made (each the same as the slow reader's).
fn records_the_same(body: &Value) -> usize {
    let text = serde_json::to_vec(body).unwrap();
    let Some(draft) = ActivityDraft::read(&text) else { return 0 };
    let mut taken = 0;
    for require_approval in [false, true] {
        let state = ProgrammeState::from_events(&demo_registered(require_approval));
        let contexts: [CommandContext; 5] =
            [coordinator(), recorder("torino"), recorder("asti"), recorder("eurocities"), auditor()];
        for ctx in &contexts {
            if let Some(fast) = record_activity_draft(&state, activity_id(), &draft, ctx) {
                assert_eq!(fast, record_activity_body(&state, activity_id(), body, ctx), "{body} by {ctx:?}");
                taken += 1;
            }
        }
    }
    taken
}

#[test]
fn every_kind_is_recorded_the_same_through_the_fast_reader() {
    for body in bodies() {
        // The fast reader leaves a custom activity's attributes to the slow one; it takes every other body, for
        // every caller (the coordinator and recorders record or are refused, the auditor is refused).
        let expected = if body.get("attributes").is_some() { 0 } else { 10 };
        assert_eq!(records_the_same(&body), expected, "{body}");
    }
}

#[test]
fn every_single_change_of_a_field_is_recorded_the_same_through_the_fast_reader() {
    let taken: usize = single_changes().map(|changed| records_the_same(&changed)).sum();
    assert!(taken > 10_000, "{taken}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_changed_body_is_recorded_the_same_through_the_fast_reader(
        body in prop::sample::select(bodies()),
        changes in prop::collection::vec((any::<bool>(), any::<prop::sample::Index>(), prop::sample::select(replacements())), 1..4),
    ) {
        records_the_same(&Value::Object(changed(&body, changes)));
    }
}
