//! Canonical JSON, the form every stored payload takes: [`EventData`] (a payload's text, canonical by
//! construction) and the small writers that produce the same bytes serde_json would, which the envelope's
//! canonical bytes, the activity payload (`activity/canonical.rs`) and the events (`event.rs`) are written with.

use std::fmt;

use serde_json::Value;
use uuid::Uuid;

use super::EnvelopeError;

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
