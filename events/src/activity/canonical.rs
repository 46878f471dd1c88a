//! The JSON forms of an activity: [`Activity::to_value`] (a `serde_json::Value`, also its `Serialize`), and
//! the same fields written straight from the domain types as canonical JSON ([`Activity::json_fields`],
//! [`Activity::write_canonical`]): the stored payload and the API's view are written this way for every event,
//! without building a `Value` first. `tests/domain/direct_json.rs` checks that they write exactly
//! `EventData::from_value(&activity.to_value())`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::{Activity, ActivityDetails, AttributeValue, Evidence, Participants};
use crate::values::{LanguageCode, Money, Quantity, Slug};

impl Activity {
    /// The activity as a JSON object: common fields, `kind` and the kind's own fields.
    pub fn to_value(&self) -> Value {
        let mut map = match serde_json::to_value(&self.details) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        map.insert("occurred_on".into(), Value::String(self.occurred_on.to_string()));
        if let Some(ends_on) = self.ends_on {
            map.insert("ends_on".into(), Value::String(ends_on.to_string()));
        }
        map.insert("partner".into(), Value::String(self.partner.to_string()));
        if let Some(title) = &self.title {
            map.insert("title".into(), Value::String(title.clone()));
        }
        if let Some(notes) = &self.notes {
            map.insert("notes".into(), Value::String(notes.clone()));
        }
        if !self.evidence.is_empty() {
            map.insert("evidence".into(), serde_json::to_value(&self.evidence).unwrap_or(Value::Null));
        }
        Value::Object(map)
    }
}

/// One top-level field of an activity, ready to be written as JSON: what [`Activity::to_value`] holds under its
/// key, borrowed from the activity. Writers that put fields in key order themselves (the canonical payload, the
/// API's view of an activity) take these instead of building a `Value` first.
#[derive(Clone, Copy, Debug)]
pub enum FieldJson<'a> {
    Text(&'a str),
    Date(NaiveDate),
    Whole(u32),
    Money(Money),
    Decimal(Quantity),
    Participants(&'a Participants),
    Evidence(&'a [Evidence]),
    Languages(&'a [LanguageCode]),
    Slugs(&'a [Slug]),
    Attributes(&'a BTreeMap<String, AttributeValue>),
}

impl FieldJson<'_> {
    /// Appends the value as canonical JSON: object keys sorted, no whitespace, strings escaped as serde_json
    /// escapes them — the bytes `EventData::from_value` writes for the same value.
    pub fn write(&self, out: &mut String) {
        use crate::envelope::{push_whole, write_json_string as string, write_list};
        match *self {
            FieldJson::Text(text) => string(text, out),
            FieldJson::Date(date) => write_date(date, out),
            FieldJson::Whole(n) => push_whole(out, u64::from(n)),
            FieldJson::Money(money) => write_shown(&money, out),
            FieldJson::Decimal(quantity) => write_shown(&quantity, out),
            FieldJson::Participants(p) => {
                out.push('{');
                if let Some(migrants) = p.migrants {
                    out.push_str("\"migrants\":");
                    push_whole(out, u64::from(migrants));
                    out.push(',');
                }
                out.push_str("\"total\":");
                push_whole(out, u64::from(p.total));
                if let Some(women) = p.women {
                    out.push_str(",\"women\":");
                    push_whole(out, u64::from(women));
                }
                out.push('}');
            }
            FieldJson::Evidence(items) => write_list(items, out, |item, out| {
                out.push('{');
                if let Some(sha256) = &item.sha256 {
                    out.push_str("\"sha256\":");
                    string(sha256, out);
                    out.push(',');
                }
                out.push_str("\"title\":");
                string(&item.title, out);
                if let Some(url) = &item.url {
                    out.push_str(",\"url\":");
                    string(url, out);
                }
                out.push('}');
            }),
            FieldJson::Languages(codes) => write_list(codes, out, |code, out| string(code.as_str(), out)),
            FieldJson::Slugs(slugs) => write_list(slugs, out, |slug, out| string(slug.as_str(), out)),
            FieldJson::Attributes(attributes) => {
                out.push('{');
                for (i, (name, value)) in attributes.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(name, out);
                    out.push(':');
                    match value {
                        AttributeValue::Text(text) => string(text, out),
                        AttributeValue::Whole(n) => {
                            if *n < 0 {
                                out.push('-');
                            }
                            push_whole(out, n.unsigned_abs());
                        }
                        AttributeValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                    }
                }
                out.push('}');
            }
        }
    }
}

fn write_date(date: NaiveDate, out: &mut String) {
    use chrono::Datelike as _;
    if (0..=9999).contains(&date.year()) {
        out.push('"');
        crate::envelope::push_digits(out, date.year() as u32, 4);
        out.push('-');
        crate::envelope::push_digits(out, date.month(), 2);
        out.push('-');
        crate::envelope::push_digits(out, date.day(), 2);
        out.push('"');
    } else {
        write_shown(&date, out);
    }
}

/// A value whose text form needs no escaping (dates, money, quantities), as a JSON string.
fn write_shown(value: &dyn fmt::Display, out: &mut String) {
    use fmt::Write as _;
    let _ = write!(out, "\"{value}\"");
}

impl Activity {
    /// The entries of [`Activity::to_value`] sorted by key, borrowed: the common fields, `kind` and the kind's
    /// own fields, optional ones only when given.
    pub fn json_fields<'a>(&'a self) -> Vec<(&'static str, FieldJson<'a>)> {
        use FieldJson as J;
        let mut fields: Vec<(&'static str, FieldJson<'a>)> = Vec::with_capacity(12);
        fields.push(("kind", J::Text(self.kind().as_str())));
        fields.push(("occurred_on", J::Date(self.occurred_on)));
        if let Some(ends_on) = self.ends_on {
            fields.push(("ends_on", J::Date(ends_on)));
        }
        fields.push(("partner", J::Text(self.partner.as_str())));
        if let Some(title) = &self.title {
            fields.push(("title", J::Text(title)));
        }
        if let Some(notes) = &self.notes {
            fields.push(("notes", J::Text(notes)));
        }
        if !self.evidence.is_empty() {
            fields.push(("evidence", J::Evidence(&self.evidence)));
        }
        fn text(slug: &Slug) -> FieldJson<'_> {
            FieldJson::Text(slug.as_str())
        }
        let mut put = |name: &'static str, value: Option<FieldJson<'a>>| fields.extend(value.map(|v| (name, v)));
        match &self.details {
            ActivityDetails::StaffExchange(d) => {
                put("host", Some(text(&d.host)));
                put("visitor", Some(text(&d.visitor)));
                put("cluster", d.cluster.as_ref().map(text));
                put("days", Some(J::Whole(d.days)));
                put("staff", Some(J::Whole(d.staff)));
            }
            ActivityDetails::ClusterVisit(d) => {
                put("cluster", Some(text(&d.cluster)));
                put("host", Some(text(&d.host)));
                put("participants", d.participants.as_ref().map(J::Participants));
            }
            ActivityDetails::WorkshopHeld(d) => {
                put("host", d.host.as_ref().map(text));
                put("cluster", d.cluster.as_ref().map(text));
                put("participants", d.participants.as_ref().map(J::Participants));
            }
            ActivityDetails::GrantAwarded(d) => {
                put("recipient", Some(text(&d.recipient)));
                put("amount", Some(J::Money(d.amount)));
                put("purpose", Some(J::Text(&d.purpose)));
            }
            ActivityDetails::GrantPaid(d) => {
                put("recipient", Some(text(&d.recipient)));
                put("amount", Some(J::Money(d.amount)));
            }
            ActivityDetails::ChampionTrained(d) => put("champion", Some(J::Text(&d.champion))),
            ActivityDetails::ActionPlanEndorsed | ActivityDetails::StrategyAdopted => {}
            ActivityDetails::PolicyImplemented(d) => put("cluster", d.cluster.as_ref().map(text)),
            ActivityDetails::GuidePublished(d) => {
                put("cluster", d.cluster.as_ref().map(text));
                put("languages", Some(J::Languages(&d.languages)));
                put("url", d.url.as_deref().map(J::Text));
            }
            ActivityDetails::VideoPublished(d) => {
                put("cluster", d.cluster.as_ref().map(text));
                put("url", d.url.as_deref().map(J::Text));
            }
            ActivityDetails::ConferenceHeld(d) => {
                put("host", d.host.as_ref().map(text));
                put("participants", d.participants.as_ref().map(J::Participants));
            }
            ActivityDetails::TrainingDelivered(d) => {
                put("mode", Some(J::Text(d.mode.as_str())));
                put("participants", d.participants.as_ref().map(J::Participants));
            }
            ActivityDetails::CoursePublished(d) => {
                put("hours", Some(J::Decimal(d.hours)));
                put("url", d.url.as_deref().map(J::Text));
            }
            ActivityDetails::PeerVisit(d) => {
                put("host", Some(text(&d.host)));
                put("visitors", Some(J::Slugs(&d.visitors)));
                put("participants", d.participants.as_ref().map(J::Participants));
            }
            ActivityDetails::ConsultationHeld(d) => put("participants", d.participants.as_ref().map(J::Participants)),
            ActivityDetails::Custom(d) => {
                put("label", Some(J::Text(&d.label)));
                put("attributes", Some(J::Attributes(&d.attributes)));
            }
        }
        // No kind has an own field named like a common one, so every name appears once.
        fields.sort_unstable_by_key(|(name, _)| *name);
        fields
    }

    /// The activity as canonical JSON, the bytes `EventData::from_value(&activity.to_value())` makes.
    pub fn write_canonical(&self, out: &mut String) {
        out.push('{');
        for (i, (name, value)) in self.json_fields().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Field names need no escaping.
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            value.write(out);
        }
        out.push('}');
    }
}

impl Serialize for Activity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}
