//! Reading an activity's fields by a dotted path (`partner`, `amount`, `participants.women`,
//! `attributes.budget_line`) as a [`FieldValue`], and comparing such a value with a measure's `where`. This is
//! how measures select and add up activities without code per kind: they name fields, and the catalogue says
//! which kinds have them.

use chrono::NaiveDate;

use super::{Activity, ActivityDetails, AttributeValue, Participants};
use crate::catalogue::Scalar;
use crate::programme::Measure;
use crate::values::{Money, Quantity, Slug};

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

impl Activity {
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
}

impl ActivityDetails {
    /// The participants, for the kinds that have them, if they were given.
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
