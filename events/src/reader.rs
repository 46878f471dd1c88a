//! Reading JSON input field by field so that every fault is found in one pass, each with its path.
//!
//! serde stops at the first error and does not say where it was; request bodies must instead report every
//! problem at once (`partners[3].country`, `participants.women`, unknown fields), so inputs are read from a
//! `serde_json::Value` with these helpers. Each helper records a [`Fault`] and returns `None` on a bad value;
//! the caller builds its type only when all parts are present and returns faults otherwise.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::faults::{index, join, Fault};
use crate::values::{parse_date, Money, Quantity, Slug, ValueError};

/// The fields of one JSON object under a path; remembers which keys were read so the rest can be reported.
pub(crate) struct Fields<'v> {
    path: String,
    map: &'v Map<String, Value>,
    read: BTreeSet<&'v str>,
}

impl<'v> Fields<'v> {
    /// The object at `path`, or a fault when `value` is not an object.
    pub(crate) fn of(value: &'v Value, path: &str, faults: &mut Vec<Fault>) -> Option<Fields<'v>> {
        match value {
            Value::Object(map) => Some(Fields { path: path.to_string(), map, read: BTreeSet::new() }),
            _ => {
                faults.push(Fault::new(path, "expected an object"));
                None
            }
        }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Whether `key` is present and not null.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    /// The raw value of `key` (marked as read); `None` when absent or null.
    pub(crate) fn raw(&mut self, key: &str) -> Option<&'v Value> {
        let (stored_key, value) = self.map.get_key_value(key)?;
        self.read.insert(stored_key.as_str());
        if value.is_null() {
            None
        } else {
            Some(value)
        }
    }

    /// A required field: a fault `required` when absent or null.
    pub(crate) fn required<T>(
        &mut self,
        key: &str,
        faults: &mut Vec<Fault>,
        parse: impl FnOnce(&'v Value, &str, &mut Vec<Fault>) -> Option<T>,
    ) -> Option<T> {
        let path = self.path(key);
        match self.raw(key) {
            Some(value) => parse(value, &path, faults),
            None => {
                faults.push(Fault::new(path, "required"));
                None
            }
        }
    }

    /// An optional field: `None` when absent or null, and also (with a fault) when invalid.
    pub(crate) fn optional<T>(
        &mut self,
        key: &str,
        faults: &mut Vec<Fault>,
        parse: impl FnOnce(&'v Value, &str, &mut Vec<Fault>) -> Option<T>,
    ) -> Option<T> {
        let path = self.path(key);
        self.raw(key).and_then(|value| parse(value, &path, faults))
    }

    /// A list that may be absent (then empty).
    pub(crate) fn list<T>(
        &mut self,
        key: &str,
        faults: &mut Vec<Fault>,
        parse_item: impl FnMut(&'v Value, &str, &mut Vec<Fault>) -> Option<T>,
    ) -> Vec<T> {
        let path = self.path(key);
        match self.raw(key) {
            Some(value) => list(value, &path, faults, parse_item).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Reports every key that was not read as an unknown field.
    pub(crate) fn finish(self, faults: &mut Vec<Fault>) {
        for key in self.map.keys() {
            if !self.read.contains(key.as_str()) {
                faults.push(Fault::new(join(&self.path, key), "unknown field"));
            }
        }
    }

    /// Marks `key` as read without reading it (for keys handled elsewhere).
    pub(crate) fn skip(&mut self, key: &str) {
        if let Some((stored_key, _)) = self.map.get_key_value(key) {
            self.read.insert(stored_key.as_str());
        }
    }
}

fn from_parse<T>(result: Result<T, ValueError>, path: &str, faults: &mut Vec<Fault>) -> Option<T> {
    result.map_err(|e| faults.push(Fault::new(path, e.0))).ok()
}

fn as_str<'v>(value: &'v Value, path: &str, faults: &mut Vec<Fault>) -> Option<&'v str> {
    match value {
        Value::String(s) => Some(s),
        _ => {
            faults.push(Fault::new(path, "expected a string"));
            None
        }
    }
}

/// A non-empty text (surrounding whitespace is kept as given but does not count as content).
pub(crate) fn text(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<String> {
    let s = as_str(value, path, faults)?;
    if s.trim().is_empty() {
        faults.push(Fault::new(path, "must not be empty"));
        return None;
    }
    Some(s.to_string())
}

pub(crate) fn slug(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Slug> {
    let s = as_str(value, path, faults)?;
    from_parse(Slug::parse(s), path, faults)
}

pub(crate) fn date(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<NaiveDate> {
    let s = as_str(value, path, faults)?;
    from_parse(parse_date(s), path, faults)
}

/// Money is a decimal string; a JSON number is refused so that no amount ever passes through a float.
pub(crate) fn money(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Money> {
    match value {
        Value::String(s) => from_parse(Money::parse(s), path, faults),
        Value::Number(n) => {
            faults.push(Fault::new(path, format!("write amounts of money as decimal strings, like \"{n}\"")));
            None
        }
        _ => {
            faults.push(Fault::new(path, "expected a decimal string"));
            None
        }
    }
}

/// A decimal quantity: a decimal string, or a whole JSON number.
pub(crate) fn quantity(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Quantity> {
    match value {
        Value::String(s) => from_parse(Quantity::parse(s), path, faults),
        Value::Number(n) => match n.as_u64().and_then(|n| i64::try_from(n).ok()) {
            Some(whole) if whole <= i64::MAX / 100 => Some(Quantity::from_whole(whole)),
            _ => {
                faults.push(Fault::new(path, format!("write {n} as a decimal string with at most 2 decimals")));
                None
            }
        },
        _ => {
            faults.push(Fault::new(path, "expected a decimal string"));
            None
        }
    }
}

/// A whole number within `min..=max`.
pub(crate) fn whole(min: u32, max: u32) -> impl Fn(&Value, &str, &mut Vec<Fault>) -> Option<u32> {
    move |value, path, faults| {
        let Some(n) = value.as_u64() else {
            faults.push(Fault::new(path, "expected a whole number"));
            return None;
        };
        if n < u64::from(min) || n > u64::from(max) {
            let message = if max == u32::MAX {
                format!("must be at least {min}, not {n}")
            } else {
                format!("must be between {min} and {max}, not {n}")
            };
            faults.push(Fault::new(path, message));
            return None;
        }
        u32::try_from(n).ok()
    }
}

pub(crate) fn boolean(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        _ => {
            faults.push(Fault::new(path, "expected true or false"));
            None
        }
    }
}

/// A list whose items are all parsed (so every bad item is reported); `None` when any item is bad.
pub(crate) fn list<'v, T>(
    value: &'v Value,
    path: &str,
    faults: &mut Vec<Fault>,
    mut parse_item: impl FnMut(&'v Value, &str, &mut Vec<Fault>) -> Option<T>,
) -> Option<Vec<T>> {
    let Value::Array(items) = value else {
        faults.push(Fault::new(path, "expected a list"));
        return None;
    };
    let mut parsed = Vec::with_capacity(items.len());
    let mut all_ok = true;
    for (i, item) in items.iter().enumerate() {
        match parse_item(item, &index(path, i), faults) {
            Some(item) => parsed.push(item),
            None => all_ok = false,
        }
    }
    all_ok.then_some(parsed)
}

/// An `http://` or `https://` address.
pub(crate) fn url(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<String> {
    let s = as_str(value, path, faults)?;
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !s.chars().any(char::is_whitespace) => Some(s.to_string()),
        _ => {
            faults.push(Fault::new(path, format!("'{s}' is not an http or https address")));
            None
        }
    }
}

/// Parses one of a fixed set of names.
pub(crate) fn one_of<T: Copy>(
    choices: &'static [(&'static str, T)],
    what: &'static str,
) -> impl Fn(&Value, &str, &mut Vec<Fault>) -> Option<T> {
    move |value, path, faults| {
        let s = as_str(value, path, faults)?;
        match choices.iter().find(|(name, _)| *name == s) {
            Some((_, choice)) => Some(*choice),
            None => {
                let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                faults.push(Fault::new(path, format!("unknown {what} '{s}': use one of {}", names.join(", "))));
                None
            }
        }
    }
}
