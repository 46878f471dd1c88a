//! A fast reader of stored activity payloads, for replays, and of request bodies that record an activity. [`DomainEvent::decode`] reads a payload through a
//! `serde_json::Value` and the fault-collecting reader of `activity/parse.rs`, which is right for request bodies but
//! costs dozens of allocations per event. Here the payload text is read straight into a borrowed form and
//! turned into the domain types by the same value parsers and rules.
//!
//! The contract: [`decode`] either returns exactly the event the slow path would return, or `None`, and the
//! caller then takes the slow path (which also produces the error, if there is one). It is strict on purpose —
//! any `null`, any field its kind does not have, any value the rules refuse gives `None` — so that it can only
//! accept payloads the slow path accepts. Stored payloads are canonical JSON written from valid events, so in
//! practice every one takes the fast path. A request body is read the same way into an [`ActivityDraft`], which
//! is then checked against the programme's rules (`ActivityDraft::activity`); anything either step does not take
//! goes to `parse_activity`, which names the faults.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::activity::{
    self, Activity, ActivityDetails, ActivityRules, ChampionTrained, ClusterVisit, ConferenceHeld, ConsultationHeld,
    CoursePublished, CustomActivity, FieldValue, GrantAwarded, GrantPaid, GuidePublished, NamedPartner, Participants,
    PeerVisit, PolicyImplemented, StaffExchange, TrainingDelivered, VideoPublished, WorkshopHeld,
};
use crate::catalogue::{ActivityKind, FieldType};
use crate::event::{
    ActivityApproved, ActivityCorrected, ActivityRecorded, ActivityRetracted, ActivityReturned, ActivitySubmitted,
    DomainEvent,
};
use crate::reader;
use crate::values::{parse_date, LanguageCode, Money, Slug};

/// The event of a payload of the newest schema, when the fast path can read it; `None` means "use the slow
/// path". Only activity events have a fast path: programme events are few.
pub(crate) fn decode(event_type: &str, text: &str) -> Option<DomainEvent> {
    match event_type {
        "ActivityRecorded" => {
            let wire: WireRecorded<'_> = serde_json::from_str(text).ok()?;
            let activity = wire.activity.into_activity()?;
            Some(DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: wire.activity_id, activity }))
        }
        "ActivityCorrected" => {
            let wire: WireCorrected<'_> = serde_json::from_str(text).ok()?;
            let activity = wire.activity.into_activity()?;
            Some(DomainEvent::ActivityCorrected(ActivityCorrected {
                activity_id: wire.activity_id,
                reason: wire.reason,
                changes: wire.changes,
                activity,
            }))
        }
        // Plain derived structs read the same from text as from a `Value` of that text (stored payloads are
        // canonical: no repeated keys, the one case where the two differ, and the derive refuses those).
        "ActivitySubmitted" => serde_json::from_str::<ActivitySubmitted>(text).ok().map(DomainEvent::ActivitySubmitted),
        "ActivityApproved" => serde_json::from_str::<ActivityApproved>(text).ok().map(DomainEvent::ActivityApproved),
        "ActivityReturned" => serde_json::from_str::<ActivityReturned>(text).ok().map(DomainEvent::ActivityReturned),
        "ActivityRetracted" => serde_json::from_str::<ActivityRetracted>(text).ok().map(DomainEvent::ActivityRetracted),
        _ => None,
    }
}

/// A field that must not be `null` when present (the slow path reads `null` as absent; here it means "slow path").
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRecorded<'a> {
    activity_id: Uuid,
    #[serde(borrow)]
    activity: WireActivity<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireCorrected<'a> {
    activity_id: Uuid,
    reason: String,
    changes: Map<String, Value>,
    #[serde(borrow)]
    activity: WireActivity<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireParticipants {
    total: u64,
    #[serde(default, deserialize_with = "present")]
    women: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    migrants: Option<u64>,
}

/// Every field any kind has. Names and short codes are borrowed: a string with escapes fails to borrow, which
/// sends the payload to the slow path (no slug, date or code contains one).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireActivity<'a> {
    #[serde(default, deserialize_with = "present")]
    kind: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    occurred_on: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    ends_on: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    partner: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    notes: Option<String>,
    #[serde(default, deserialize_with = "present")]
    evidence: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    host: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    visitor: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    cluster: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    days: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    staff: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    participants: Option<WireParticipants>,
    #[serde(default, deserialize_with = "present")]
    recipient: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    amount: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    purpose: Option<String>,
    #[serde(default, deserialize_with = "present")]
    champion: Option<String>,
    #[serde(default, deserialize_with = "present")]
    languages: Option<Vec<&'a str>>,
    #[serde(default, deserialize_with = "present")]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    mode: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    hours: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    visitors: Option<Vec<&'a str>>,
    #[serde(default, deserialize_with = "present")]
    label: Option<String>,
    #[serde(default, deserialize_with = "present")]
    attributes: Option<Value>,
}

fn slug(text: Option<&str>) -> Option<Slug> {
    parse_slug(text?)
}

/// `Slug::parse`, sharing the text of the slugs this thread read recently: partner and cluster ids repeat in
/// nearly every activity, and a shared slug costs no allocation.
fn parse_slug(text: &str) -> Option<Slug> {
    const KEPT: usize = 64;
    thread_local! {
        static RECENT: std::cell::RefCell<Vec<Slug>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some(slug) = recent.iter().find(|slug| slug.as_str() == text) {
            return Some(slug.clone());
        }
        let slug = Slug::parse(text).ok()?;
        if recent.len() == KEPT {
            recent.clear();
        }
        recent.push(slug.clone());
        Some(slug)
    })
}

/// `reader::text`: a string with some content besides whitespace.
fn text(text: String) -> Option<String> {
    (!text.trim().is_empty()).then_some(text)
}

/// An optional field: absent is fine, present must be valid.
fn optional<T, U>(value: Option<T>, parse: impl FnOnce(T) -> Option<U>) -> Option<Option<U>> {
    match value {
        None => Some(None),
        Some(value) => parse(value).map(Some),
    }
}

/// `reader::whole(min, max)`.
fn whole(n: u64, min: u32, max: u32) -> Option<u32> {
    (n >= u64::from(min) && n <= u64::from(max)).then(|| u32::try_from(n).ok()).flatten()
}

/// [`whole`] within the catalogue's `(min, max)` of a field.
fn whole_in(n: u64, (min, max): (u32, u32)) -> Option<u32> {
    whole(n, min, max)
}

/// Runs one of the fault-collecting readers on a (rare, nested) value; any fault means "slow path".
fn with_reader<T>(value: &Value, path: &str, read: impl FnOnce(&Value, &str, &mut Vec<crate::faults::Fault>) -> Option<T>) -> Option<T> {
    let mut faults = Vec::new();
    let parsed = read(value, path, &mut faults);
    if faults.is_empty() {
        parsed
    } else {
        None
    }
}

fn participants(wire: Option<WireParticipants>) -> Option<Option<Participants>> {
    optional(wire, |p| {
        let total = whole(p.total, 0, u32::MAX)?;
        let women = optional(p.women, |n| whole(n, 0, u32::MAX))?;
        let migrants = optional(p.migrants, |n| whole(n, 0, u32::MAX))?;
        Participants::new(total, women, migrants).ok()
    })
}

fn url(value: Option<String>) -> Option<Option<String>> {
    optional(value, |url| with_reader(&Value::String(url), "url", reader::url))
}

impl WireActivity<'_> {
    /// The names of the kind-specific fields that are present.
    fn own_fields_present(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("host", self.host.is_some()),
            ("visitor", self.visitor.is_some()),
            ("cluster", self.cluster.is_some()),
            ("days", self.days.is_some()),
            ("staff", self.staff.is_some()),
            ("participants", self.participants.is_some()),
            ("recipient", self.recipient.is_some()),
            ("amount", self.amount.is_some()),
            ("purpose", self.purpose.is_some()),
            ("champion", self.champion.is_some()),
            ("languages", self.languages.is_some()),
            ("url", self.url.is_some()),
            ("mode", self.mode.is_some()),
            ("hours", self.hours.is_some()),
            ("visitors", self.visitors.is_some()),
            ("label", self.label.is_some()),
            ("attributes", self.attributes.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| name)
    }

    /// The activity, by the rules of `activity::read_activity` without a programme; `None` for anything the
    /// fast path does not take.
    fn into_activity(self) -> Option<Activity> {
        self.into_draft()?.activity(None)
    }

    /// Everything `activity::read_activity` checks that does not depend on a programme; `None` for anything the
    /// fast path does not take.
    fn into_draft(self) -> Option<ActivityDraft> {
        let kind = ActivityKind::parse(self.kind?)?;
        let own = kind.own_fields();
        if !self.own_fields_present().all(|name| own.iter().any(|(n, _)| *n == name)) {
            return None;
        }
        let occurred_on = parse_date(self.occurred_on?).ok()?;
        let ends_on = optional(self.ends_on, |d| parse_date(d).ok())?;
        if ends_on.is_some_and(|ends_on| ends_on < occurred_on) {
            return None;
        }
        if kind.title_required() && self.title.is_none() {
            return None;
        }
        let title = optional(self.title, text)?;
        let notes = optional(self.notes, text)?;
        let evidence = match &self.evidence {
            None => Vec::new(),
            Some(value) => with_reader(value, "evidence", |value, path, faults| {
                reader::list(value, path, faults, activity::evidence)
            })?,
        };
        let partner = optional(self.partner, parse_slug)?;
        let details = match kind {
            ActivityKind::StaffExchange => {
                let host = slug(self.host)?;
                let visitor = slug(self.visitor)?;
                if host == visitor {
                    return None;
                }
                ActivityDetails::StaffExchange(StaffExchange {
                    host,
                    visitor,
                    cluster: optional(self.cluster, parse_slug)?,
                    days: whole_in(self.days?, kind.whole_range("days"))?,
                    staff: whole_in(self.staff?, kind.whole_range("staff"))?,
                })
            }
            ActivityKind::ClusterVisit => ActivityDetails::ClusterVisit(ClusterVisit {
                cluster: slug(self.cluster)?,
                host: slug(self.host)?,
                participants: participants(self.participants)?,
            }),
            ActivityKind::WorkshopHeld => ActivityDetails::WorkshopHeld(WorkshopHeld {
                host: optional(self.host, parse_slug)?,
                cluster: optional(self.cluster, parse_slug)?,
                participants: participants(self.participants)?,
            }),
            ActivityKind::GrantAwarded => ActivityDetails::GrantAwarded(GrantAwarded {
                recipient: slug(self.recipient)?,
                amount: Money::parse(self.amount?).ok().filter(|m| !m.is_zero())?,
                purpose: text(self.purpose?)?,
            }),
            ActivityKind::GrantPaid => ActivityDetails::GrantPaid(GrantPaid {
                recipient: slug(self.recipient)?,
                amount: Money::parse(self.amount?).ok().filter(|m| !m.is_zero())?,
            }),
            ActivityKind::ChampionTrained => ActivityDetails::ChampionTrained(ChampionTrained {
                champion: with_reader(&Value::String(self.champion?), "champion", activity::champion)?,
            }),
            ActivityKind::ActionPlanEndorsed => ActivityDetails::ActionPlanEndorsed,
            ActivityKind::PolicyImplemented => ActivityDetails::PolicyImplemented(PolicyImplemented {
                cluster: optional(self.cluster, parse_slug)?,
            }),
            ActivityKind::GuidePublished => {
                let languages: Vec<LanguageCode> =
                    self.languages?.into_iter().map(|l| LanguageCode::parse(l).ok()).collect::<Option<_>>()?;
                if languages.is_empty() || !activity::no_duplicates(&languages, "languages", "language", &mut Vec::new()) {
                    return None;
                }
                ActivityDetails::GuidePublished(GuidePublished {
                    cluster: optional(self.cluster, parse_slug)?,
                    languages,
                    url: url(self.url)?,
                })
            }
            ActivityKind::VideoPublished => ActivityDetails::VideoPublished(VideoPublished {
                cluster: optional(self.cluster, parse_slug)?,
                url: url(self.url)?,
            }),
            ActivityKind::ConferenceHeld => ActivityDetails::ConferenceHeld(ConferenceHeld {
                host: optional(self.host, parse_slug)?,
                participants: participants(self.participants)?,
            }),
            ActivityKind::TrainingDelivered => {
                let mode = self.mode?;
                let mode = activity::TRAINING_MODES.iter().find(|(name, _)| *name == mode).map(|(_, m)| *m)?;
                ActivityDetails::TrainingDelivered(TrainingDelivered { mode, participants: participants(self.participants)? })
            }
            ActivityKind::CoursePublished => {
                let hours = with_reader(self.hours.as_ref()?, "hours", reader::quantity).filter(|h| !h.is_zero())?;
                ActivityDetails::CoursePublished(CoursePublished { hours, url: url(self.url)? })
            }
            ActivityKind::PeerVisit => {
                let host = slug(self.host)?;
                let visitors: Vec<Slug> =
                    self.visitors?.into_iter().map(parse_slug).collect::<Option<_>>()?;
                if visitors.is_empty()
                    || !activity::no_duplicates(&visitors, "visitors", "visitor", &mut Vec::new())
                    || visitors.contains(&host)
                {
                    return None;
                }
                ActivityDetails::PeerVisit(PeerVisit { host, visitors, participants: participants(self.participants)? })
            }
            ActivityKind::ConsultationHeld => {
                ActivityDetails::ConsultationHeld(ConsultationHeld { participants: participants(self.participants)? })
            }
            ActivityKind::StrategyAdopted => ActivityDetails::StrategyAdopted,
            ActivityKind::Custom => {
                let label = text(self.label?)?;
                let attributes = match &self.attributes {
                    None => Default::default(),
                    Some(value) => with_reader(value, "attributes", activity::attributes)?,
                };
                ActivityDetails::Custom(CustomActivity { label, attributes })
            }
        };
        Some(ActivityDraft { occurred_on, ends_on, partner, title, notes, evidence, details })
    }
}

/// An activity read from JSON text by the fast reader, before a programme's rules are applied: every value
/// parsed and checked on its own, the attributed partner not yet defaulted. Request bodies are read this way
/// once, then checked against the programme as it stands at each attempt of the command.
#[derive(Clone, Debug)]
pub struct ActivityDraft {
    occurred_on: chrono::NaiveDate,
    ends_on: Option<chrono::NaiveDate>,
    partner: Option<Slug>,
    title: Option<String>,
    notes: Option<String>,
    evidence: Vec<activity::Evidence>,
    details: ActivityDetails,
}

impl ActivityDraft {
    /// Reads an activity from a request body's text; `None` when the fast reader does not take it (the body may
    /// still be valid, or not JSON at all): the caller then parses it as a `Value` and takes
    /// [`crate::parse_activity`], which also names every fault.
    pub fn read(text: &[u8]) -> Option<ActivityDraft> {
        serde_json::from_slice::<WireActivity<'_>>(text).ok()?.into_draft()
    }

    /// The activity under `rules`: exactly what `parse_activity` of the same text with these rules gives, or
    /// `None` when the rules refuse it (an unknown partner or cluster, a date outside the programme, no partner
    /// to attribute it to) and `parse_activity` must say why.
    pub fn activity(&self, rules: Option<&ActivityRules<'_>>) -> Option<Activity> {
        if let Some(rules) = rules {
            let programme = rules.programme;
            if self.partner.as_ref().is_some_and(|p| programme.partner(p.as_str()).is_none())
                || !references_are_known(&self.details, programme)
            {
                return None;
            }
        }
        // The dates and the attributed partner are settled by the slow reader's own code; any fault it names
        // means "let `parse_activity` report it".
        let named = self.partner.clone().map_or(NamedPartner::Absent, NamedPartner::Valid);
        let mut faults = Vec::new();
        let partner =
            activity::dates_and_partner(Some(self.occurred_on), self.ends_on, named, Some(&self.details), rules, &mut faults);
        if !faults.is_empty() {
            return None;
        }
        Some(Activity {
            occurred_on: self.occurred_on,
            ends_on: self.ends_on,
            partner: partner?,
            title: self.title.clone(),
            notes: self.notes.clone(),
            evidence: self.evidence.clone(),
            details: self.details.clone(),
        })
    }
}

/// Whether every partner and cluster the activity's own fields name is the programme's (the fields the kind
/// lists as partners or clusters, which `activity::read_details` reads with `partner_ref` and `cluster_ref`).
fn references_are_known(details: &ActivityDetails, programme: &crate::Programme) -> bool {
    details.kind().own_fields().iter().all(|(name, field_type)| {
        let known = |id: &str| match field_type {
            FieldType::Partner | FieldType::Partners => programme.partner(id).is_some(),
            FieldType::Cluster => programme.cluster(id).is_some(),
            _ => true,
        };
        match details.field(name) {
            Some(FieldValue::Text(id)) => known(id),
            Some(FieldValue::List(items)) => items.iter().all(|item| !matches!(item, FieldValue::Text(id) if !known(id))),
            _ => true,
        }
    })
}
