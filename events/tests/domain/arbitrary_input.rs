//! The pure decoders on arbitrary input: programme definitions, activity bodies, indicator bodies, stored
//! payloads (fast and slow reader), NDJSON envelope lines and the value parsers never panic; for any payload in
//! its stored (canonical) form the fast reader gives what the slow one gives. `TRACKER_FUZZ_CASES` sets the
//! number of cases (default 256); by hand: `TRACKER_FUZZ_CASES=100000 cargo test --release -p events arbitrary_input`.

use events::commands::SetIndicator;
use events::{parse_activity, DomainEvent, Envelope, EventData, Money, Programme, Quantity, Slug};
use proptest::prelude::*;
use serde_json::{json, Value};

fn fuzz_cases() -> u32 {
    std::env::var("TRACKER_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// Keys and strings the decoders look for, so that arbitrary values often reach deep into them.
const WORDS: &[&str] = &[
    "kind", "occurred_on", "host", "visitor", "cluster", "days", "staff", "participants", "total", "women",
    "amount", "recipient", "activity", "activity_id", "changes", "reason", "id", "name", "partners", "clusters",
    "periods", "indicators", "measure", "target", "staff_exchange", "grant_awarded", "conference_held", "2021-10-11",
    "torino", "cop1", "EUR", "1.5", "",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,10}".prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(prop_oneof![prop::sample::select(WORDS).prop_map(str::to_owned), ".{0,6}"], inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An activity payload of a stored event whose `activity` is arbitrary, or an arbitrary payload.
fn payload() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_json().prop_map(|activity| json!({"activity_id": "0190a0b0-0000-7000-8000-000000000001", "activity": activity})),
        any_json().prop_map(|activity| json!({"activity_id": "0190a0b0-0000-7000-8000-000000000001", "reason": "r",
                                                "changes": {}, "activity": activity})),
        any_json(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn request_decoders_take_any_json_without_panicking(value in any_json()) {
        let _ = Programme::parse(&value);
        let _ = parse_activity(&value, None);
        let _ = SetIndicator::parse(&Slug::parse("ind").unwrap(), &value);
    }

    #[test]
    fn the_fast_stored_reader_agrees_with_the_slow_one_on_any_payload(
        event_type in prop::sample::select(events::event::EVENT_TYPES.iter().map(|(name, _)| *name).collect::<Vec<_>>()),
        schema in 0u32..4,
        payload in payload(),
    ) {
        let text = EventData::from_value(&payload);
        let slow = DomainEvent::decode(event_type, schema, &text.to_value().unwrap());
        let fast = DomainEvent::decode_stored(event_type, schema, text.as_str());
        prop_assert_eq!(fast, slow);
    }

    #[test]
    fn text_decoders_take_any_text_without_panicking(text in ".{0,64}", bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let lossy = String::from_utf8_lossy(&bytes);
        for text in [text.as_str(), &lossy] {
            let _ = Envelope::from_json_line(text);
            let _ = DomainEvent::decode_stored("ActivityRecorded", 1, text);
            let _ = Money::parse(text);
            let _ = Quantity::parse(text);
            let _ = Slug::parse(text);
            let _ = events::values::parse_date(text);
        }
    }
}
