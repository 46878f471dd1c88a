//! Activities of SPEC §3 as values: each kind's own fields as a struct, `participants`, evidence and `custom`
//! activities; parsing an activity from a request body (reporting every fault at once) and reading any of its
//! fields by a dotted path, which is how measures select and add up activities without code per kind. What
//! kinds there are and which fields each has is `catalogue.rs`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::faults::{Fault, Faults};
use crate::programme::{Measure, Programme};
use crate::reader::{self, Fields};
use crate::values::{LanguageCode, Money, Quantity, Slug};

// The catalogue was once part of this module; its names stay reachable here for the crates that import them so.
pub use crate::catalogue::{ActivityKind, Attribution, FieldType, Scalar};

/// Who took part: `women ≤ total` and `migrants ≤ total` always hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Participants {
    total: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    women: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    migrants: Option<u32>,
}

impl Participants {
    /// Participants, or the faults (with fields `women` / `migrants`) when a part exceeds the total.
    pub fn new(total: u32, women: Option<u32>, migrants: Option<u32>) -> Result<Participants, Vec<Fault>> {
        let mut faults = Vec::new();
        for (name, part) in [("women", women), ("migrants", migrants)] {
            if let Some(part) = part.filter(|part| *part > total) {
                faults.push(Fault::new(name, format!("{name} ({part}) exceed total ({total})")));
            }
        }
        if faults.is_empty() {
            Ok(Participants { total, women, migrants })
        } else {
            Err(faults)
        }
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    pub fn women(&self) -> Option<u32> {
        self.women
    }

    pub fn migrants(&self) -> Option<u32> {
        self.migrants
    }
}

/// A document, photo list or link that shows the activity happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Evidence {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-256 of the evidence file, 64 lower-case hex digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// How a training was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingMode {
    Online,
    InPerson,
    Hybrid,
}

impl TrainingMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            TrainingMode::Online => "online",
            TrainingMode::InPerson => "in_person",
            TrainingMode::Hybrid => "hybrid",
        }
    }
}

pub(crate) const TRAINING_MODES: &[(&str, TrainingMode)] =
    &[("online", TrainingMode::Online), ("in_person", TrainingMode::InPerson), ("hybrid", TrainingMode::Hybrid)];

/// The value of one attribute of a `custom` activity. Numbers are whole: decimals go in strings, so that no
/// value passes through a float.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Text(String),
    Whole(i64),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaffExchange {
    pub host: Slug,
    pub visitor: Slug,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Slug>,
    /// 1 to 60.
    pub days: u32,
    /// At least 1.
    pub staff: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterVisit {
    pub cluster: Slug,
    pub host: Slug,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Participants>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkshopHeld {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Slug>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Slug>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Participants>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrantAwarded {
    pub recipient: Slug,
    pub amount: Money,
    pub purpose: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrantPaid {
    pub recipient: Slug,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChampionTrained {
    /// A pseudonymous reference such as `champion-3`, never a person's name.
    pub champion: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyImplemented {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Slug>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuidePublished {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Slug>,
    pub languages: Vec<LanguageCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VideoPublished {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Slug>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConferenceHeld {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Slug>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Participants>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrainingDelivered {
    pub mode: TrainingMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Participants>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CoursePublished {
    /// More than 0.
    pub hours: Quantity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerVisit {
    pub host: Slug,
    /// At least one, none of them the host.
    pub visitors: Vec<Slug>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Participants>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsultationHeld {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Participants>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomActivity {
    pub label: String,
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// The kind of an activity with the kind's own fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActivityDetails {
    StaffExchange(StaffExchange),
    ClusterVisit(ClusterVisit),
    WorkshopHeld(WorkshopHeld),
    GrantAwarded(GrantAwarded),
    GrantPaid(GrantPaid),
    ChampionTrained(ChampionTrained),
    ActionPlanEndorsed,
    PolicyImplemented(PolicyImplemented),
    GuidePublished(GuidePublished),
    VideoPublished(VideoPublished),
    ConferenceHeld(ConferenceHeld),
    TrainingDelivered(TrainingDelivered),
    CoursePublished(CoursePublished),
    PeerVisit(PeerVisit),
    ConsultationHeld(ConsultationHeld),
    StrategyAdopted,
    Custom(CustomActivity),
}

impl ActivityDetails {
    pub fn kind(&self) -> ActivityKind {
        match self {
            ActivityDetails::StaffExchange(_) => ActivityKind::StaffExchange,
            ActivityDetails::ClusterVisit(_) => ActivityKind::ClusterVisit,
            ActivityDetails::WorkshopHeld(_) => ActivityKind::WorkshopHeld,
            ActivityDetails::GrantAwarded(_) => ActivityKind::GrantAwarded,
            ActivityDetails::GrantPaid(_) => ActivityKind::GrantPaid,
            ActivityDetails::ChampionTrained(_) => ActivityKind::ChampionTrained,
            ActivityDetails::ActionPlanEndorsed => ActivityKind::ActionPlanEndorsed,
            ActivityDetails::PolicyImplemented(_) => ActivityKind::PolicyImplemented,
            ActivityDetails::GuidePublished(_) => ActivityKind::GuidePublished,
            ActivityDetails::VideoPublished(_) => ActivityKind::VideoPublished,
            ActivityDetails::ConferenceHeld(_) => ActivityKind::ConferenceHeld,
            ActivityDetails::TrainingDelivered(_) => ActivityKind::TrainingDelivered,
            ActivityDetails::CoursePublished(_) => ActivityKind::CoursePublished,
            ActivityDetails::PeerVisit(_) => ActivityKind::PeerVisit,
            ActivityDetails::ConsultationHeld(_) => ActivityKind::ConsultationHeld,
            ActivityDetails::StrategyAdopted => ActivityKind::StrategyAdopted,
            ActivityDetails::Custom(_) => ActivityKind::Custom,
        }
    }

    fn participants(&self) -> Option<&Participants> {
        match self {
            ActivityDetails::ClusterVisit(d) => d.participants.as_ref(),
            ActivityDetails::WorkshopHeld(d) => d.participants.as_ref(),
            ActivityDetails::ConferenceHeld(d) => d.participants.as_ref(),
            ActivityDetails::TrainingDelivered(d) => d.participants.as_ref(),
            ActivityDetails::PeerVisit(d) => d.participants.as_ref(),
            ActivityDetails::ConsultationHeld(d) => d.participants.as_ref(),
            _ => None,
        }
    }

    /// The value of one of the kind's own fields (no dots except into `participants` and `attributes`).
    pub(crate) fn field(&self, path: &str) -> Option<FieldValue<'_>> {
        use FieldValue as V;
        fn slug(s: &Slug) -> FieldValue<'_> {
            FieldValue::Text(s.as_str())
        }
        if let Some(part) = path.strip_prefix("participants.") {
            let participants = self.participants()?;
            let n = match part {
                "total" => Some(participants.total),
                "women" => participants.women,
                "migrants" => participants.migrants,
                _ => None,
            }?;
            return Some(V::Whole(i64::from(n)));
        }
        match (self, path) {
            (_, "cluster") => self.cluster().map(slug),
            (ActivityDetails::StaffExchange(d), "host") => Some(slug(&d.host)),
            (ActivityDetails::StaffExchange(d), "visitor") => Some(slug(&d.visitor)),
            (ActivityDetails::StaffExchange(d), "days") => Some(V::Whole(i64::from(d.days))),
            (ActivityDetails::StaffExchange(d), "staff") => Some(V::Whole(i64::from(d.staff))),
            (ActivityDetails::ClusterVisit(d), "host") => Some(slug(&d.host)),
            (ActivityDetails::WorkshopHeld(d), "host") => d.host.as_ref().map(slug),
            (ActivityDetails::GrantAwarded(d), "recipient") => Some(slug(&d.recipient)),
            (ActivityDetails::GrantAwarded(d), "amount") => Some(V::Money(d.amount)),
            (ActivityDetails::GrantAwarded(d), "purpose") => Some(V::Text(&d.purpose)),
            (ActivityDetails::GrantPaid(d), "recipient") => Some(slug(&d.recipient)),
            (ActivityDetails::GrantPaid(d), "amount") => Some(V::Money(d.amount)),
            (ActivityDetails::ChampionTrained(d), "champion") => Some(V::Text(&d.champion)),
            (ActivityDetails::GuidePublished(d), "languages") => {
                Some(V::List(d.languages.iter().map(|l| V::Text(l.as_str())).collect()))
            }
            (ActivityDetails::GuidePublished(d), "url") => d.url.as_deref().map(V::Text),
            (ActivityDetails::VideoPublished(d), "url") => d.url.as_deref().map(V::Text),
            (ActivityDetails::ConferenceHeld(d), "host") => d.host.as_ref().map(slug),
            (ActivityDetails::TrainingDelivered(d), "mode") => Some(V::Text(d.mode.as_str())),
            (ActivityDetails::CoursePublished(d), "hours") => Some(V::Decimal(d.hours)),
            (ActivityDetails::CoursePublished(d), "url") => d.url.as_deref().map(V::Text),
            (ActivityDetails::PeerVisit(d), "host") => Some(slug(&d.host)),
            (ActivityDetails::PeerVisit(d), "visitors") => Some(V::List(d.visitors.iter().map(slug).collect())),
            (ActivityDetails::Custom(d), "label") => Some(V::Text(&d.label)),
            (ActivityDetails::Custom(d), _) => match d.attributes.get(path.strip_prefix("attributes.")?)? {
                AttributeValue::Text(s) => Some(V::Text(s)),
                AttributeValue::Whole(n) => Some(V::Whole(*n)),
                AttributeValue::Bool(b) => Some(V::Bool(*b)),
            },
            _ => None,
        }
    }

    /// The cluster, for the kinds that have one, if it was given.
    fn cluster(&self) -> Option<&Slug> {
        match self {
            ActivityDetails::StaffExchange(StaffExchange { cluster, .. })
            | ActivityDetails::WorkshopHeld(WorkshopHeld { cluster, .. })
            | ActivityDetails::PolicyImplemented(PolicyImplemented { cluster })
            | ActivityDetails::GuidePublished(GuidePublished { cluster, .. })
            | ActivityDetails::VideoPublished(VideoPublished { cluster, .. }) => cluster.as_ref(),
            ActivityDetails::ClusterVisit(ClusterVisit { cluster, .. }) => Some(cluster),
            _ => None,
        }
    }

    /// The partner the kind attributes the activity to from its own fields, if any.
    pub(crate) fn default_partner(&self) -> Option<&Slug> {
        match self {
            ActivityDetails::StaffExchange(d) => Some(&d.host),
            ActivityDetails::ClusterVisit(d) => Some(&d.host),
            ActivityDetails::PeerVisit(d) => Some(&d.host),
            ActivityDetails::WorkshopHeld(d) => d.host.as_ref(),
            ActivityDetails::ConferenceHeld(d) => d.host.as_ref(),
            ActivityDetails::GrantAwarded(d) => Some(&d.recipient),
            ActivityDetails::GrantPaid(d) => Some(&d.recipient),
            _ => None,
        }
    }
}

/// The value of an activity's field, read by a dotted path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Text(&'a str),
    Date(NaiveDate),
    Whole(i64),
    Money(Money),
    Decimal(Quantity),
    Bool(bool),
    List(Vec<FieldValue<'a>>),
}

impl FieldValue<'_> {
    /// The value as a quantity to add up: whole numbers, money (two decimals) and decimals.
    pub fn as_quantity(&self) -> Option<Quantity> {
        match self {
            FieldValue::Whole(n) => Some(Quantity::from_whole(*n)),
            FieldValue::Money(m) => Some(Quantity::from_money(*m)),
            FieldValue::Decimal(q) => Some(*q),
            _ => None,
        }
    }

    /// The value as a text key for `distinct` and breakdowns (`None` for lists).
    pub fn as_key(&self) -> Option<String> {
        match self {
            FieldValue::Text(s) => Some((*s).to_string()),
            FieldValue::Date(d) => Some(d.to_string()),
            FieldValue::Whole(n) => Some(n.to_string()),
            FieldValue::Money(m) => Some(m.to_string()),
            FieldValue::Decimal(q) => Some(q.to_string()),
            FieldValue::Bool(b) => Some(b.to_string()),
            FieldValue::List(_) => None,
        }
    }

    /// Whether the value equals a `where` condition; a list matches when any of its items does.
    pub fn matches(&self, expected: &Scalar) -> bool {
        match (self, expected) {
            (FieldValue::List(items), _) => items.iter().any(|item| item.matches(expected)),
            (FieldValue::Text(s), Scalar::Text(e)) => s == e,
            (FieldValue::Date(d), Scalar::Text(e)) => d.to_string() == *e,
            (FieldValue::Money(m), Scalar::Text(e)) => Money::parse(e).is_ok_and(|e| e == *m),
            (FieldValue::Money(m), Scalar::Whole(e)) => e.checked_mul(100) == Some(m.cents()),
            (FieldValue::Decimal(q), Scalar::Text(e)) => Quantity::parse(e).is_ok_and(|e| e.cmp_value(q).is_eq()),
            (FieldValue::Decimal(q), Scalar::Whole(e)) => e.checked_mul(100) == Some(q.hundredths()),
            (FieldValue::Whole(n), Scalar::Whole(e)) => n == e,
            (FieldValue::Bool(b), Scalar::Bool(e)) => b == e,
            _ => false,
        }
    }
}


// `Measure` is defined with the programme, but how it selects activities is a matter of reading their fields,
// so it is implemented here: that keeps `programme` from depending on `activity`, which depends on it.
impl Measure {
    /// Whether the activity is of one of the kinds and meets every condition.
    pub fn selects(&self, activity: &Activity) -> bool {
        self.kinds.contains(&activity.kind())
            && self
                .conditions
                .iter()
                .all(|(path, expected)| activity.field(path).is_some_and(|value| value.matches(expected)))
    }
}

/// One activity as recorded (or as last corrected). Build it with [`parse_activity`], which checks every rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    pub occurred_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    /// The partner the activity is attributed to.
    pub partner: Slug,
    pub title: Option<String>,
    pub notes: Option<String>,
    pub evidence: Vec<Evidence>,
    pub details: ActivityDetails,
}

impl Activity {
    pub fn kind(&self) -> ActivityKind {
        self.details.kind()
    }

    /// The cluster the activity belongs to, if its kind has one and it was given.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster_slug().map(Slug::as_str)
    }

    /// [`Activity::cluster`] as the slug itself.
    pub fn cluster_slug(&self) -> Option<&Slug> {
        self.details.cluster()
    }

    /// The value at a dotted path such as `partner`, `amount`, `participants.women` or `attributes.budget_line`;
    /// `None` when the kind has no such field or it was not given.
    pub fn field(&self, path: &str) -> Option<FieldValue<'_>> {
        match path {
            "kind" => Some(FieldValue::Text(self.kind().as_str())),
            "occurred_on" => Some(FieldValue::Date(self.occurred_on)),
            "ends_on" => self.ends_on.map(FieldValue::Date),
            "partner" => Some(FieldValue::Text(self.partner.as_str())),
            "title" => self.title.as_deref().map(FieldValue::Text),
            "notes" => self.notes.as_deref().map(FieldValue::Text),
            _ => self.details.field(path),
        }
    }

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

/// Stored activities are read with the same parser as request bodies, without the programme's rules.
impl<'de> Deserialize<'de> for Activity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_activity(&value, None).map_err(serde::de::Error::custom)
    }
}

/// What an activity is checked against when it is recorded or corrected.
#[derive(Clone, Copy, Debug)]
pub struct ActivityRules<'a> {
    pub programme: &'a Programme,
    /// No activity may have occurred after this day.
    pub today: NaiveDate,
    /// The partner an activity is attributed to when its kind defaults to the recorder.
    pub recorder: &'a Slug,
}

/// Parses an activity from a JSON body. With `rules`, also checks it against the programme (known partners and
/// clusters, dates within the programme and not in the future) and fills in the attributed partner. Every fault
/// is reported, each with its field.
pub fn parse_activity(body: &Value, rules: Option<&ActivityRules<'_>>) -> Result<Activity, Faults> {
    let mut faults = Vec::new();
    let activity = read_activity(body, rules, &mut faults);
    match activity {
        Some(activity) if faults.is_empty() => Ok(activity),
        _ => Err(Faults::validation(faults)),
    }
}

fn partner_ref<'r>(
    rules: Option<&'r ActivityRules<'r>>,
) -> impl Fn(&Value, &str, &mut Vec<Fault>) -> Option<Slug> + 'r {
    move |value, path, faults| {
        let slug = reader::slug(value, path, faults)?;
        if let Some(rules) = rules {
            if rules.programme.partner(slug.as_str()).is_none() {
                faults.push(Fault::new(path, format!("unknown partner '{slug}'")));
                return None;
            }
        }
        Some(slug)
    }
}

fn cluster_ref<'r>(
    rules: Option<&'r ActivityRules<'r>>,
) -> impl Fn(&Value, &str, &mut Vec<Fault>) -> Option<Slug> + 'r {
    move |value, path, faults| {
        let slug = reader::slug(value, path, faults)?;
        if let Some(rules) = rules {
            if rules.programme.cluster(slug.as_str()).is_none() {
                faults.push(Fault::new(path, format!("unknown cluster '{slug}'")));
                return None;
            }
        }
        Some(slug)
    }
}

fn participants(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Participants> {
    let mut f = Fields::of(value, path, faults)?;
    let total = f.required("total", faults, reader::whole(0, u32::MAX));
    let women = f.optional("women", faults, reader::whole(0, u32::MAX));
    let migrants = f.optional("migrants", faults, reader::whole(0, u32::MAX));
    f.finish(faults);
    match Participants::new(total?, women, migrants) {
        Ok(participants) => Some(participants),
        Err(part_faults) => {
            faults.extend(part_faults.into_iter().map(|fault| Fault::new(f_path(path, &fault.field), fault.message)));
            None
        }
    }
}

fn f_path(prefix: &str, field: &str) -> String {
    crate::faults::join(prefix, field)
}

pub(crate) fn evidence(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Evidence> {
    let mut f = Fields::of(value, path, faults)?;
    let title = f.required("title", faults, reader::text);
    let url = f.optional("url", faults, reader::url);
    let sha256 = f.optional("sha256", faults, |value, path, faults| {
        let text = reader::text(value, path, faults)?;
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Some(text)
        } else {
            faults.push(Fault::new(path, "must be 64 lower-case hex digits"));
            None
        }
    });
    f.finish(faults);
    Some(Evidence { title: title?, url, sha256 })
}

pub(crate) fn champion(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<String> {
    let text = reader::text(value, path, faults)?;
    // A slug cannot hold "Maria Rossi": no spaces, no capitals. That keeps names out of the permanent log.
    if Slug::parse(&text).is_err() {
        faults.push(Fault::new(
            path,
            "must be a pseudonymous reference like 'champion-3' (lower-case letters, digits, hyphens), never a person's name",
        ));
        return None;
    }
    Some(text)
}

pub(crate) fn attributes(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<BTreeMap<String, AttributeValue>> {
    let Value::Object(map) = value else {
        faults.push(Fault::new(path, "expected an object"));
        return None;
    };
    let mut attributes = BTreeMap::new();
    let mut ok = true;
    for (name, value) in map {
        let field = f_path(path, name);
        let name_ok = Slug::parse(&name.replace('_', "-")).is_ok();
        if !name_ok {
            faults.push(Fault::new(&field, "attribute names use lower-case letters, digits, '-' and '_'"));
            ok = false;
            continue;
        }
        let parsed = match value {
            Value::String(s) => Some(AttributeValue::Text(s.clone())),
            Value::Bool(b) => Some(AttributeValue::Bool(*b)),
            Value::Number(n) => n.as_i64().map(AttributeValue::Whole),
            _ => None,
        };
        match parsed {
            Some(parsed) => {
                attributes.insert(name.clone(), parsed);
            }
            None => {
                faults.push(Fault::new(&field, "expected a string, a whole number or true/false"));
                ok = false;
            }
        }
    }
    ok.then_some(attributes)
}

fn read_activity(body: &Value, rules: Option<&ActivityRules<'_>>, faults: &mut Vec<Fault>) -> Option<Activity> {
    let mut f = Fields::of(body, "", faults)?;
    if f.has("id") {
        f.skip("id");
        faults.push(Fault::new("id", "activity ids are assigned by the server"));
    }
    let kind = f.required("kind", faults, |value, path, faults| {
        let text = reader::text(value, path, faults)?;
        let kind = ActivityKind::parse(&text);
        if kind.is_none() {
            faults.push(Fault::new(path, format!("unknown activity kind '{text}'")));
        }
        kind
    });
    let occurred_on = f.required("occurred_on", faults, reader::date);
    let ends_on = f.optional("ends_on", faults, reader::date);
    let title = match kind {
        Some(kind) if kind.title_required() => f.required("title", faults, reader::text),
        _ => f.optional("title", faults, reader::text),
    };
    let notes = f.optional("notes", faults, reader::text);
    let evidence = f.list("evidence", faults, evidence);
    let partner_given = f.has("partner");
    let partner = f.optional("partner", faults, partner_ref(rules));

    let Some(kind) = kind else {
        // Without a kind the remaining fields cannot be told apart from unknown ones.
        return None;
    };
    let details = read_details(kind, &mut f, rules, faults);
    f.finish(faults);

    if let (Some(rules), Some(occurred_on)) = (rules, occurred_on) {
        date_faults(occurred_on, ends_on, rules, faults);
    }
    if let (Some(occurred_on), Some(ends_on)) = (occurred_on, ends_on) {
        if ends_on < occurred_on {
            faults.push(Fault::new("ends_on", format!("{ends_on} is before occurred_on {occurred_on}")));
        }
    }

    let details = details?;
    let partner = match partner {
        Some(partner) => Some(partner),
        None if partner_given => None,
        None => {
            let default = default_partner(&details, rules);
            if default.is_none() {
                faults.push(Fault::new("partner", "required"));
            }
            default
        }
    };
    Some(Activity { occurred_on: occurred_on?, ends_on, partner: partner?, title, notes, evidence, details })
}

/// The faults of an activity's dates against the programme it is recorded in: before its start, after its end
/// or in the future, and an end after the programme's. (Both readers of an activity use this: `read_activity`
/// and the fast reader of `stored.rs`.)
pub(crate) fn date_faults(occurred_on: NaiveDate, ends_on: Option<NaiveDate>, rules: &ActivityRules<'_>, faults: &mut Vec<Fault>) {
    let programme = rules.programme;
    if occurred_on < programme.starts_on {
        faults.push(Fault::new("occurred_on", format!("{occurred_on} is before the programme starts on {}", programme.starts_on)));
    } else if occurred_on > programme.ends_on {
        faults.push(Fault::new("occurred_on", format!("{occurred_on} is after the programme ends on {}", programme.ends_on)));
    } else if occurred_on > rules.today {
        faults.push(Fault::new("occurred_on", format!("{occurred_on} is in the future")));
    }
    if let Some(ends_on) = ends_on.filter(|ends_on| *ends_on > programme.ends_on) {
        faults.push(Fault::new("ends_on", format!("{ends_on} is after the programme ends on {}", programme.ends_on)));
    }
}

/// The partner an activity that names none is attributed to, by its kind: from its own fields (the host, the
/// recipient), or the recorder's partner; `None` when there is none to take (then `partner` is required).
pub(crate) fn default_partner(details: &ActivityDetails, rules: Option<&ActivityRules<'_>>) -> Option<Slug> {
    let recorder = || rules.map(|r| r.recorder.clone());
    match details.kind().attribution() {
        Attribution::Host | Attribution::Recipient => details.default_partner().cloned(),
        Attribution::HostOrRecorder => details.default_partner().cloned().or_else(recorder),
        Attribution::Recorder | Attribution::PartnerOrRecorder => recorder(),
        Attribution::OwnPartner => None,
    }
}

fn read_details(
    kind: ActivityKind,
    f: &mut Fields<'_>,
    rules: Option<&ActivityRules<'_>>,
    faults: &mut Vec<Fault>,
) -> Option<ActivityDetails> {
    let partner = partner_ref(rules);
    let cluster = cluster_ref(rules);
    let details = match kind {
        ActivityKind::StaffExchange => {
            let host = f.required("host", faults, &partner);
            let visitor = f.required("visitor", faults, &partner);
            let cluster = f.optional("cluster", faults, &cluster);
            let days = f.required("days", faults, reader::whole(1, 60));
            let staff = f.required("staff", faults, reader::whole(1, u32::MAX));
            if let (Some(host), Some(visitor)) = (&host, &visitor) {
                if host == visitor {
                    faults.push(Fault::new("visitor", format!("must differ from the host '{host}'")));
                }
            }
            ActivityDetails::StaffExchange(StaffExchange {
                host: host?,
                visitor: visitor?,
                cluster,
                days: days?,
                staff: staff?,
            })
        }
        ActivityKind::ClusterVisit => {
            let cluster = f.required("cluster", faults, &cluster);
            let host = f.required("host", faults, &partner);
            let participants = f.optional("participants", faults, participants);
            ActivityDetails::ClusterVisit(ClusterVisit { cluster: cluster?, host: host?, participants })
        }
        ActivityKind::WorkshopHeld => {
            let host = f.optional("host", faults, &partner);
            let cluster = f.optional("cluster", faults, &cluster);
            let participants = f.optional("participants", faults, participants);
            ActivityDetails::WorkshopHeld(WorkshopHeld { host, cluster, participants })
        }
        ActivityKind::GrantAwarded => {
            let recipient = f.required("recipient", faults, &partner);
            let amount = f.required("amount", faults, positive_money);
            let purpose = f.required("purpose", faults, reader::text);
            ActivityDetails::GrantAwarded(GrantAwarded { recipient: recipient?, amount: amount?, purpose: purpose? })
        }
        ActivityKind::GrantPaid => {
            let recipient = f.required("recipient", faults, &partner);
            let amount = f.required("amount", faults, positive_money);
            ActivityDetails::GrantPaid(GrantPaid { recipient: recipient?, amount: amount? })
        }
        ActivityKind::ChampionTrained => {
            let champion = f.required("champion", faults, champion);
            ActivityDetails::ChampionTrained(ChampionTrained { champion: champion? })
        }
        ActivityKind::ActionPlanEndorsed => ActivityDetails::ActionPlanEndorsed,
        ActivityKind::PolicyImplemented => {
            let cluster = f.optional("cluster", faults, &cluster);
            ActivityDetails::PolicyImplemented(PolicyImplemented { cluster })
        }
        ActivityKind::GuidePublished => {
            let cluster = f.optional("cluster", faults, &cluster);
            let languages = f.required("languages", faults, |value, path, faults| {
                let languages = reader::list(value, path, faults, |value, path, faults| {
                    let text = value.as_str();
                    let parsed = text.map(LanguageCode::parse);
                    match parsed {
                        Some(Ok(code)) => Some(code),
                        Some(Err(e)) => {
                            faults.push(Fault::new(path, e.0));
                            None
                        }
                        None => {
                            faults.push(Fault::new(path, "expected a string"));
                            None
                        }
                    }
                })?;
                if languages.is_empty() {
                    faults.push(Fault::new(path, "name at least one language"));
                    return None;
                }
                no_duplicates(&languages, path, "language", faults).then_some(languages)
            });
            let url = f.optional("url", faults, reader::url);
            ActivityDetails::GuidePublished(GuidePublished { cluster, languages: languages?, url })
        }
        ActivityKind::VideoPublished => {
            let cluster = f.optional("cluster", faults, &cluster);
            let url = f.optional("url", faults, reader::url);
            ActivityDetails::VideoPublished(VideoPublished { cluster, url })
        }
        ActivityKind::ConferenceHeld => {
            let host = f.optional("host", faults, &partner);
            let participants = f.optional("participants", faults, participants);
            ActivityDetails::ConferenceHeld(ConferenceHeld { host, participants })
        }
        ActivityKind::TrainingDelivered => {
            let mode = f.required("mode", faults, reader::one_of(TRAINING_MODES, "mode"));
            let participants = f.optional("participants", faults, participants);
            ActivityDetails::TrainingDelivered(TrainingDelivered { mode: mode?, participants })
        }
        ActivityKind::CoursePublished => {
            let hours = f.required("hours", faults, |value, path, faults| {
                let hours = reader::quantity(value, path, faults)?;
                if hours.is_zero() {
                    faults.push(Fault::new(path, "must be more than 0"));
                    return None;
                }
                Some(hours)
            });
            let url = f.optional("url", faults, reader::url);
            ActivityDetails::CoursePublished(CoursePublished { hours: hours?, url })
        }
        ActivityKind::PeerVisit => {
            let host = f.required("host", faults, &partner);
            let visitors = f.required("visitors", faults, |value, path, faults| {
                let visitors = reader::list(value, path, faults, &partner)?;
                if visitors.is_empty() {
                    faults.push(Fault::new(path, "name at least one visitor"));
                    return None;
                }
                no_duplicates(&visitors, path, "visitor", faults).then_some(visitors)
            });
            if let (Some(host), Some(visitors)) = (&host, &visitors) {
                if let Some(i) = visitors.iter().position(|visitor| visitor == host) {
                    faults.push(Fault::new(format!("visitors[{i}]"), format!("the host '{host}' cannot be a visitor")));
                }
            }
            let participants = f.optional("participants", faults, participants);
            ActivityDetails::PeerVisit(PeerVisit { host: host?, visitors: visitors?, participants })
        }
        ActivityKind::ConsultationHeld => {
            let participants = f.optional("participants", faults, participants);
            ActivityDetails::ConsultationHeld(ConsultationHeld { participants })
        }
        ActivityKind::StrategyAdopted => ActivityDetails::StrategyAdopted,
        ActivityKind::Custom => {
            let label = f.required("label", faults, reader::text);
            let attributes = f.optional("attributes", faults, attributes).unwrap_or_default();
            ActivityDetails::Custom(CustomActivity { label: label?, attributes })
        }
    };
    Some(details)
}

fn positive_money(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Money> {
    let money = reader::money(value, path, faults)?;
    if money.is_zero() {
        faults.push(Fault::new(path, "must be more than 0"));
        return None;
    }
    Some(money)
}

/// Reports the second and later occurrences of a value in a list; `true` when there are none.
pub(crate) fn no_duplicates<T: PartialEq + fmt::Display>(items: &[T], path: &str, what: &str, faults: &mut Vec<Fault>) -> bool {
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            faults.push(Fault::new(format!("{path}[{i}]"), format!("duplicate {what} '{item}'")));
            ok = false;
        }
    }
    ok
}
