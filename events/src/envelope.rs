//! The stored form of an event: the envelope of SPEC §5, its canonical bytes and the SHA-256 hash chain.
//!
//! The canonical bytes of an envelope are its JSON form without `hash`: the fields in the fixed order of
//! [`Envelope`], no whitespace, `data` with object keys sorted, optional ids left out when absent and
//! `recorded_at` with exactly six fractional digits. An exported NDJSON line is the canonical bytes with
//! `,"hash":"<hex>"` added before the closing brace, so `export` → `import` → `export` is byte-identical and
//! any changed byte in a line either breaks the chain or the canonical form.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A SHA-256 digest in the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// `hash_0`: the hash before the first event.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// `hash_n = SHA-256(hash_{n-1} ‖ canonical bytes of envelope n)`.
    pub fn next(&self, canonical: &[u8]) -> ChainHash {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(canonical);
        ChainHash(hasher.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn parse_hex(text: &str) -> Result<ChainHash, EnvelopeError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| EnvelopeError::Malformed(format!("hash '{text}' is not 64 hex digits")))?;
        Ok(ChainHash(bytes))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ChainHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// An event's payload as canonical JSON text (sorted keys, no whitespace).
///
/// Only [`EventData::from_value`] and [`EventData::parse_canonical`] build one, so the text is always canonical.
#[derive(Clone, PartialEq, Eq)]
pub struct EventData(String);

impl EventData {
    /// Canonicalises a JSON value.
    pub fn from_value(value: &Value) -> EventData {
        let mut out = String::with_capacity(128);
        write_canonical(value, &mut out);
        EventData(out)
    }

    /// Wraps text that a writer of this crate made canonical by construction (sorted keys, no whitespace, the
    /// same number and string forms as [`EventData::from_value`]); tests check each such writer against it.
    pub(crate) fn from_canonical(text: String) -> EventData {
        EventData(text)
    }

    /// Accepts `text` only if it already is the canonical form of a JSON value.
    pub fn parse_canonical(text: &str) -> Result<EventData, EnvelopeError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| EnvelopeError::Malformed(format!("data is not JSON: {e}")))?;
        let data = EventData::from_value(&value);
        if data.0 != text {
            return Err(EnvelopeError::NotCanonical("data"));
        }
        Ok(data)
    }

    /// Wraps text read back from the store, which was canonical when it was written. The hash chain, not this
    /// constructor, is what detects a stored payload that was changed since.
    pub fn from_stored(text: String) -> EventData {
        EventData(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object's entries, in the order given, as canonical JSON.
fn write_entries<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut String) {
    out.push('{');
    for (i, (key, value)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(key, out);
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            // serde_json's map keeps its keys sorted unless a dependency turns on `preserve_order`; sort only then,
            // and otherwise write the entries without collecting them.
            if map.keys().is_sorted() {
                write_entries(map.iter(), out);
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                write_entries(entries.into_iter(), out);
            }
        }
        Value::Array(items) => write_list(items, out, write_canonical),
        Value::String(s) => write_json_string(s, out),
        Value::Number(n) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

pub(crate) fn write_json_string(s: &str, out: &mut String) {
    // A string with nothing to escape (names, slugs, ids: nearly all of them) is copied between quotes; any
    // other goes through serde_json, whose escaping is the canonical one. (A fold rather than `any`: it has no
    // early exit, so it is compiled to a few wide comparisons.)
    let plain = s.bytes().fold(true, |plain, b| plain & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    out.push_str(&serde_json::to_string(s).expect("a str always serialises"));
}

/// A JSON array of `items`, each written by `write`.
pub(crate) fn write_list<T>(items: &[T], out: &mut String, write: impl Fn(&T, &mut String)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(item, out);
    }
    out.push(']');
}

/// A whole number in decimal, as serde_json writes it.
pub(crate) fn push_whole(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// A UUID as a JSON string, hyphenated and lower case, as it serialises.
pub(crate) fn push_uuid(out: &mut String, id: &Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push('"');
    out.push_str(id.hyphenated().encode_lower(&mut text));
    out.push('"');
}

/// `value` in `width` decimal digits, zero-padded (`value` has no more digits than that).
pub(crate) fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        text.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
    }
}

/// A point on the server clock, held to the microsecond so that its text form is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_micros())
    }

    pub fn as_micros(&self) -> i64 {
        self.0
    }

    pub fn to_datetime(&self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// RFC 3339, UTC, exactly six fractional digits: `2026-11-23T18:00:00.000000Z`.
    pub fn to_rfc3339(&self) -> String {
        use chrono::{Datelike as _, Timelike as _};
        let t = self.to_datetime();
        if !(0..=9999).contains(&t.year()) {
            return t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        }
        // The same text as the format above, without interpreting a format string for every event written.
        let mut text = String::with_capacity(27);
        push_digits(&mut text, t.year() as u32, 4);
        for (separator, value) in [('-', t.month()), ('-', t.day()), ('T', t.hour()), (':', t.minute()), (':', t.second())] {
            text.push(separator);
            push_digits(&mut text, value, 2);
        }
        text.push('.');
        push_digits(&mut text, t.timestamp_subsec_micros(), 6);
        text.push('Z');
        text
    }

    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, EnvelopeError> {
        let parsed = DateTime::parse_from_rfc3339(text)
            .map_err(|e| EnvelopeError::Malformed(format!("recorded_at '{text}': {e}")))?;
        Ok(Timestamp(parsed.with_timezone(&Utc).timestamp_micros()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// One stored event with its place in the log (SPEC §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub position: u64,
    pub stream: String,
    pub version: u64,
    pub id: Uuid,
    pub event_type: String,
    pub schema: u32,
    pub programme: String,
    pub recorded_at: Timestamp,
    pub actor: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub data: EventData,
    pub hash: ChainHash,
}

/// The envelope fields in canonical order, before `data`; `data` follows, then `hash` in the exported form.
/// [`Envelope::canonical_bytes`] writes them by hand; the tests check it against this serialisation.
#[cfg(test)]
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

impl Envelope {
    /// The bytes the hash chain covers: the envelope's JSON without `hash`. The payload is appended as the
    /// stored text, unparsed: it was canonical when written, and a payload altered since simply hashes
    /// differently.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Written field by field (the serialisation of `CanonicalFields`, which the tests keep as the reference):
        // the writer thread makes these bytes for every event it hashes.
        let strings = self.stream.len() + self.event_type.len() + self.programme.len() + self.actor.len();
        let mut out = String::with_capacity(256 + strings + self.data.len());
        out.push_str("{\"position\":");
        push_whole(&mut out, self.position);
        out.push_str(",\"stream\":");
        write_json_string(&self.stream, &mut out);
        out.push_str(",\"version\":");
        push_whole(&mut out, self.version);
        out.push_str(",\"id\":");
        push_uuid(&mut out, &self.id);
        out.push_str(",\"type\":");
        write_json_string(&self.event_type, &mut out);
        out.push_str(",\"schema\":");
        push_whole(&mut out, u64::from(self.schema));
        out.push_str(",\"programme\":");
        write_json_string(&self.programme, &mut out);
        out.push_str(",\"recorded_at\":\"");
        out.push_str(&self.recorded_at.to_rfc3339());
        out.push_str("\",\"actor\":");
        write_json_string(&self.actor, &mut out);
        if let Some(id) = &self.correlation_id {
            out.push_str(",\"correlation_id\":");
            push_uuid(&mut out, id);
        }
        if let Some(id) = &self.causation_id {
            out.push_str(",\"causation_id\":");
            push_uuid(&mut out, id);
        }
        out.push_str(",\"data\":");
        out.push_str(self.data.as_str());
        out.push('}');
        out.into_bytes()
    }

    /// The hash this envelope must carry when `previous` is the hash of the envelope before it.
    pub fn expected_hash(&self, previous: &ChainHash) -> ChainHash {
        previous.next(&self.canonical_bytes())
    }

    /// One NDJSON line of `tracker export` (without the newline).
    pub fn to_json_line(&self) -> String {
        let mut line = String::from_utf8(self.canonical_bytes()).expect("JSON is UTF-8");
        line.pop(); // the closing brace
        line.push_str(",\"hash\":\"");
        line.push_str(&self.hash.to_hex());
        line.push_str("\"}");
        line
    }

    /// Parses one exported line and insists that it is exactly what [`Envelope::to_json_line`] would write.
    /// The chain itself is checked by [`ChainVerifier`].
    pub fn from_json_line(line: &str) -> Result<Envelope, EnvelopeError> {
        let parsed: ExportedEnvelope<'_> =
            serde_json::from_str(line).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        let envelope = Envelope {
            position: parsed.position,
            stream: parsed.stream,
            version: parsed.version,
            id: parsed.id,
            event_type: parsed.event_type,
            schema: parsed.schema,
            programme: parsed.programme,
            recorded_at: Timestamp::parse_rfc3339(&parsed.recorded_at)?,
            actor: parsed.actor,
            correlation_id: parsed.correlation_id,
            causation_id: parsed.causation_id,
            data: EventData::parse_canonical(parsed.data.get())?,
            hash: ChainHash::parse_hex(&parsed.hash)?,
        };
        if envelope.to_json_line() != line {
            return Err(EnvelopeError::NotCanonical("line"));
        }
        Ok(envelope)
    }
}

/// Envelopes serialise to the same JSON as their exported line, with `data` as a JSON value.
impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let line = self.to_json_line();
        let raw = serde_json::value::RawValue::from_string(line).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportedEnvelope<'a> {
    position: u64,
    stream: String,
    version: u64,
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    schema: u32,
    programme: String,
    recorded_at: String,
    actor: String,
    #[serde(default)]
    correlation_id: Option<Uuid>,
    #[serde(default)]
    causation_id: Option<Uuid>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
    hash: String,
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("malformed envelope: {0}")]
    Malformed(String),
    #[error("{0} is not in canonical form")]
    NotCanonical(&'static str),
}

/// The first thing wrong with a log, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {position}: {reason}")]
pub struct ChainError {
    pub position: u64,
    pub reason: String,
}

/// Checks a log read in position order: gapless positions from 1, per-stream versions from 1 without gaps,
/// unique event ids, `recorded_at` never going backwards, and every hash in the chain.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    checked: u64,
    previous_hash: Option<ChainHash>,
    previous_recorded_at: Option<Timestamp>,
    stream_versions: HashMap<String, u64>,
    ids: std::collections::HashSet<Uuid>,
}

impl ChainVerifier {
    pub fn new() -> ChainVerifier {
        ChainVerifier::default()
    }

    /// Checks the next envelope; on failure the verifier is left as it was.
    pub fn check(&mut self, envelope: &Envelope) -> Result<(), ChainError> {
        let position = self.checked + 1;
        let fail = |reason: String| ChainError { position, reason };
        if envelope.position != position {
            return Err(fail(format!("expected position {position}, found {}", envelope.position)));
        }
        let current = self.stream_versions.get(&envelope.stream).copied().unwrap_or(0);
        if envelope.version != current + 1 {
            return Err(fail(format!(
                "stream '{}' expected version {}, found {}",
                envelope.stream,
                current + 1,
                envelope.version
            )));
        }
        if self.ids.contains(&envelope.id) {
            return Err(fail(format!("event id {} appears twice", envelope.id)));
        }
        if let Some(previous) = self.previous_recorded_at {
            if envelope.recorded_at < previous {
                return Err(fail("recorded_at goes backwards".to_string()));
            }
        }
        let previous_hash = self.previous_hash.unwrap_or(ChainHash::GENESIS);
        let expected = envelope.expected_hash(&previous_hash);
        if expected != envelope.hash {
            return Err(fail(format!("hash mismatch: stored {}, computed {}", envelope.hash, expected)));
        }
        self.checked = position;
        self.previous_hash = Some(envelope.hash);
        self.previous_recorded_at = Some(envelope.recorded_at);
        self.stream_versions.insert(envelope.stream.clone(), envelope.version);
        self.ids.insert(envelope.id);
        Ok(())
    }

    /// Events checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The head of the verified chain: the last position and its hash (`0` and 32 zero bytes when empty).
    pub fn head(&self) -> (u64, ChainHash) {
        (self.checked, self.previous_hash.unwrap_or(ChainHash::GENESIS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
