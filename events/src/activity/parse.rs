//! Reading an activity from JSON with every fault reported, each with its field: [`parse_activity`] for
//! request bodies (with the programme's rules) and stored payloads (without them), and the value readers the
//! fast reader of `stored.rs` borrows for the rarer nested values (evidence, champions, custom attributes).

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{
    Activity, ActivityDetails, AttributeValue, ChampionTrained, ClusterVisit, ConferenceHeld, ConsultationHeld,
    CoursePublished, CustomActivity, Evidence, GrantAwarded, GrantPaid, GuidePublished, Participants, PeerVisit,
    PolicyImplemented, StaffExchange, TrainingDelivered, VideoPublished, WorkshopHeld, TRAINING_MODES,
};
use crate::catalogue::{ActivityKind, Attribution};
use crate::faults::{Fault, Faults};
use crate::programme::Programme;
use crate::reader::{self, Fields};
use crate::values::{LanguageCode, Money, Slug};

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

/// Stored activities are read with the same parser as request bodies, without the programme's rules.
impl<'de> Deserialize<'de> for Activity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_activity(&value, None).map_err(serde::de::Error::custom)
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
            faults.push(Fault::new(path, ActivityKind::unknown(&text)));
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
    let partner = match f.optional("partner", faults, partner_ref(rules)) {
        Some(partner) => NamedPartner::Valid(partner),
        None if f.has("partner") => NamedPartner::Refused,
        None => NamedPartner::Absent,
    };

    let Some(kind) = kind else {
        // Without a kind the remaining fields cannot be told apart from unknown ones.
        return None;
    };
    let details = read_details(kind, &mut f, rules, faults);
    f.finish(faults);

    let partner = dates_and_partner(occurred_on, ends_on, partner, details.as_ref(), rules, faults);
    Some(Activity { occurred_on: occurred_on?, ends_on, partner: partner?, title, notes, evidence, details: details? })
}

/// What an activity's body says of `partner`, which always wins over the partner its kind would attribute it to.
#[derive(Debug)]
pub(crate) enum NamedPartner {
    /// No `partner`: the kind's attribution decides.
    Absent,
    /// A partner read without fault (and, under rules, one of the programme's).
    Valid(Slug),
    /// A `partner` the reader refused; its fault is already reported.
    Refused,
}

/// The checks that close the reading of an activity once all its fields are read, in the order their faults
/// are reported: its dates against the programme (under `rules`) and against each other, then the partner it
/// is attributed to — the named one, else the one its kind gives, else the fault "required". Both readers of
/// an activity take this one path, `read_activity` here and `ActivityDraft::activity` in `stored.rs`, so that
/// the fast reader can never accept what this one refuses. `None` (with no partner fault) when the kind's own
/// fields could not be read, as an activity without them cannot be attributed.
pub(crate) fn dates_and_partner(
    occurred_on: Option<NaiveDate>,
    ends_on: Option<NaiveDate>,
    partner: NamedPartner,
    details: Option<&ActivityDetails>,
    rules: Option<&ActivityRules<'_>>,
    faults: &mut Vec<Fault>,
) -> Option<Slug> {
    if let (Some(rules), Some(occurred_on)) = (rules, occurred_on) {
        date_faults(occurred_on, ends_on, rules, faults);
    }
    if let (Some(occurred_on), Some(ends_on)) = (occurred_on, ends_on) {
        if ends_on < occurred_on {
            faults.push(Fault::new("ends_on", format!("{ends_on} is before occurred_on {occurred_on}")));
        }
    }

    let details = details?;
    match partner {
        NamedPartner::Valid(partner) => Some(partner),
        NamedPartner::Refused => None,
        NamedPartner::Absent => {
            let default = default_partner(details, rules);
            if default.is_none() {
                faults.push(Fault::new("partner", "required"));
            }
            default
        }
    }
}

/// The faults of an activity's dates against the programme it is recorded in: before its start, after its end
/// or in the future, and an end after the programme's.
fn date_faults(occurred_on: NaiveDate, ends_on: Option<NaiveDate>, rules: &ActivityRules<'_>, faults: &mut Vec<Fault>) {
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
fn default_partner(details: &ActivityDetails, rules: Option<&ActivityRules<'_>>) -> Option<Slug> {
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
            let (days, staff) = (kind.whole_range("days"), kind.whole_range("staff"));
            let days = f.required("days", faults, reader::whole(days.0, days.1));
            let staff = f.required("staff", faults, reader::whole(staff.0, staff.1));
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
