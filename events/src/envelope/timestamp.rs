//! [`Timestamp`], the server's clock reading held in an envelope (`recorded_at`): microseconds, so that its
//! RFC 3339 text with exactly six fractional digits is exact and reads back to the same value.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::json::push_digits;
use super::EnvelopeError;

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
