//! Tests of the envelope's canonical bytes and exported line, of the canonical JSON writers against serde_json
//! and chrono, and of the chain verifier.

use super::*;
use serde_json::json;

/// The envelope fields in canonical order, before `data`; `data` follows, then `hash` in the exported form.
/// [`Envelope::canonical_bytes`] writes them by hand; the tests check it against this serialisation.
#[derive(Serialize)]
struct CanonicalFields<'a> {
    position: u64,
    stream: &'a str,
    version: u64,
    id: &'a Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    schema: u32,
    programme: &'a str,
    recorded_at: String,
    actor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    causation_id: Option<&'a Uuid>,
}

fn sample(position: u64, previous: &ChainHash) -> Envelope {
    let mut envelope = Envelope {
        position,
        stream: "activity-1".into(),
        version: position,
        id: Uuid::from_u128(position as u128),
        event_type: "ActivityRecorded".into(),
        schema: 1,
        programme: "connection".into(),
        recorded_at: Timestamp::from_micros(1_700_000_000_000_000 + position as i64),
        actor: "seed".into(),
        correlation_id: None,
        causation_id: Some(Uuid::from_u128(7)),
        data: EventData::from_value(&json!({"z": 1, "a": {"y": [1, "é\n"], "b": null}})),
        hash: ChainHash::GENESIS,
    };
    envelope.hash = envelope.expected_hash(previous);
    envelope
}

/// The serialisation `canonical_bytes` writes by hand.
fn serialised(e: &Envelope) -> Vec<u8> {
    let fields = CanonicalFields {
        position: e.position,
        stream: &e.stream,
        version: e.version,
        id: &e.id,
        event_type: &e.event_type,
        schema: e.schema,
        programme: &e.programme,
        recorded_at: e.recorded_at.to_rfc3339(),
        actor: &e.actor,
        correlation_id: e.correlation_id.as_ref(),
        causation_id: e.causation_id.as_ref(),
    };
    let mut out = serde_json::to_vec(&fields).unwrap();
    out.pop();
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(e.data.as_str().as_bytes());
    out.push(b'}');
    out
}

proptest::proptest! {
    /// Any text in the envelope's string fields (escapes, control characters, any Unicode), any numbers and
    /// ids, with and without the optional ids.
    #[test]
    fn the_canonical_bytes_written_by_hand_are_the_serialised_fields(
        stream in proptest::prelude::any::<String>(),
        event_type in proptest::prelude::any::<String>(),
        programme in proptest::prelude::any::<String>(),
        actor in proptest::prelude::any::<String>(),
        numbers in proptest::prelude::any::<(u64, u64, u32, u128, u128, u128)>(),
        micros in -10_000_000_000_000_000i64..300_000_000_000_000_000,
        ids in proptest::prelude::any::<(bool, bool)>(),
    ) {
        let (position, version, schema, id, correlation, causation) = numbers;
        let mut envelope = sample(1, &ChainHash::GENESIS);
        envelope.position = position;
        envelope.version = version;
        envelope.schema = schema;
        envelope.id = Uuid::from_u128(id);
        envelope.stream = stream;
        envelope.event_type = event_type;
        envelope.programme = programme;
        envelope.actor = actor;
        envelope.recorded_at = Timestamp::from_micros(micros);
        envelope.correlation_id = ids.0.then(|| Uuid::from_u128(correlation));
        envelope.causation_id = ids.1.then(|| Uuid::from_u128(causation));
        proptest::prop_assert_eq!(
            String::from_utf8(envelope.canonical_bytes()).unwrap(),
            String::from_utf8(serialised(&envelope)).unwrap()
        );
    }
}

#[test]
fn canonical_data_sorts_keys_and_drops_whitespace() {
    let data = EventData::from_value(&json!({"b": 1, "a": {"d": true, "c": [2.5, "x"]}}));
    assert_eq!(data.as_str(), r#"{"a":{"c":[2.5,"x"],"d":true},"b":1}"#);
    assert!(EventData::parse_canonical(r#"{"b":1,"a":2}"#).is_err());
    assert!(EventData::parse_canonical(r#"{"a":2,"b":1}"#).is_ok());
}

#[test]
fn an_exported_line_parses_back_to_the_same_envelope_and_bytes() {
    let envelope = sample(1, &ChainHash::GENESIS);
    let line = envelope.to_json_line();
    assert!(line.starts_with(r#"{"position":1,"stream":"activity-1","version":1,"#), "{line}");
    assert!(line.contains(r#""recorded_at":"2023-11-14T22:13:20.000001Z""#), "{line}");
    assert!(!line.contains("correlation_id"), "absent ids are left out: {line}");
    let parsed = Envelope::from_json_line(&line).unwrap();
    assert_eq!(parsed, envelope);
    assert_eq!(parsed.to_json_line(), line);
}

#[test]
fn timestamps_and_strings_are_written_as_chrono_and_serde_json_write_them() {
    for micros in [0, 1, 999_999, 1_700_000_000_000_001, 253_402_300_799_999_999, -1, -62_135_596_800_000_000] {
        let t = Timestamp::from_micros(micros);
        assert_eq!(t.to_rfc3339(), t.to_datetime().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(), "{micros}");
    }
    for text in ["", "plain", "é ü", "quote\"", "back\\slash", "tab\t", "\u{1}", "\u{7f}"] {
        let mut written = String::new();
        write_json_string(text, &mut written);
        assert_eq!(written, serde_json::to_string(text).unwrap());
    }
}

#[test]
fn a_line_with_extra_whitespace_is_not_canonical() {
    let line = sample(1, &ChainHash::GENESIS).to_json_line().replacen(",", ", ", 1);
    assert_eq!(Envelope::from_json_line(&line), Err(EnvelopeError::NotCanonical("line")));
}

#[test]
fn the_verifier_names_the_first_position_whose_hash_does_not_follow() {
    let first = sample(1, &ChainHash::GENESIS);
    let mut second = sample(2, &first.hash);
    let mut verifier = ChainVerifier::new();
    verifier.check(&first).unwrap();
    second.actor = "mallory".into();
    let error = verifier.check(&second).unwrap_err();
    assert_eq!(error.position, 2);
    assert!(error.reason.starts_with("hash mismatch"), "{error}");
    assert_eq!(verifier.head(), (1, first.hash));
}

#[test]
fn the_verifier_refuses_gaps_in_positions_and_versions() {
    let first = sample(1, &ChainHash::GENESIS);
    let third = sample(3, &first.hash);
    let mut verifier = ChainVerifier::new();
    verifier.check(&first).unwrap();
    assert_eq!(verifier.check(&third).unwrap_err().position, 2);
}
