//! The stored form of an event: the envelope of SPEC §5, its canonical bytes and the SHA-256 hash chain.
//!
//! The canonical bytes of an envelope are its JSON form without `hash`: the fields in the fixed order of
//! [`Envelope`], no whitespace, `data` with object keys sorted, optional ids left out when absent and
//! `recorded_at` with exactly six fractional digits. An exported NDJSON line is the canonical bytes with
//! `,"hash":"<hex>"` added before the closing brace, so `export` → `import` → `export` is byte-identical and
//! any changed byte in a line either breaks the chain or the canonical form.
//!
//! This file holds the [`Envelope`] with its canonical bytes and exported line; the hash chain and its
//! verifier are `chain.rs`, canonical JSON and the payload type [`EventData`] are `json.rs`, and the clock
//! reading [`Timestamp`] is `timestamp.rs`.

mod chain;
mod json;
mod timestamp;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

pub use chain::{ChainError, ChainHash, ChainVerifier};
pub use json::EventData;
pub(crate) use json::{push_digits, push_uuid, push_whole, write_json_string, write_list};
pub use timestamp::Timestamp;

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

impl Envelope {
    /// The bytes the hash chain covers: the envelope's JSON without `hash`. The payload is appended as the
    /// stored text, unparsed: it was canonical when written, and a payload altered since simply hashes
    /// differently.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Written field by field (the serialisation of `CanonicalFields`, which `tests.rs` keeps as the reference):
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
        let hash = ChainHash::parse_hex(parsed.hash.as_deref().ok_or_else(|| EnvelopeError::Malformed("missing field `hash`".into()))?)?;
        let data = EventData::parse_canonical(parsed.data.get())?;
        let envelope = parsed.into_envelope(data, hash)?;
        if envelope.to_json_line() != line {
            return Err(EnvelopeError::NotCanonical("line"));
        }
        Ok(envelope)
    }

    /// An envelope from the canonical bytes it was stored as (what its hash covers, so no `hash` field) and its
    /// hash. The payload is kept as stored: the hash chain, not this reader, tells whether it was changed.
    pub fn from_stored_canonical(canonical: &[u8], hash: ChainHash) -> Result<Envelope, EnvelopeError> {
        let parsed: ExportedEnvelope<'_> =
            serde_json::from_slice(canonical).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if parsed.hash.is_some() {
            return Err(EnvelopeError::Malformed("unknown field `hash`: canonical bytes carry no hash".into()));
        }
        let data = EventData::from_stored(parsed.data.get().to_owned());
        parsed.into_envelope(data, hash)
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

/// The fields of an exported line, or of stored canonical bytes (which have no `hash`).
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
    #[serde(borrow)]
    recorded_at: std::borrow::Cow<'a, str>,
    actor: String,
    #[serde(default)]
    correlation_id: Option<Uuid>,
    #[serde(default)]
    causation_id: Option<Uuid>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
    #[serde(default)]
    hash: Option<String>,
}

impl ExportedEnvelope<'_> {
    fn into_envelope(self, data: EventData, hash: ChainHash) -> Result<Envelope, EnvelopeError> {
        Ok(Envelope {
            position: self.position,
            stream: self.stream,
            version: self.version,
            id: self.id,
            event_type: self.event_type,
            schema: self.schema,
            programme: self.programme,
            recorded_at: Timestamp::parse_rfc3339(&self.recorded_at)?,
            actor: self.actor,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            data,
            hash,
        })
    }
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("malformed envelope: {0}")]
    Malformed(String),
    #[error("{0} is not in canonical form")]
    NotCanonical(&'static str),
}
