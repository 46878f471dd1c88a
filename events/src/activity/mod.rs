//! Activities of SPEC §3 as values: [`Activity`] with its common fields, and [`ActivityDetails`], each kind's
//! own fields as a struct (`participants`, evidence and `custom` attributes included). What kinds there are
//! and which fields each has is `catalogue.rs`; reading a field by a dotted path is `fields.rs`, the JSON
//! forms are `canonical.rs`, and reading an activity from JSON with every fault reported is `parse.rs`.

mod canonical;
mod fields;
mod parse;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::faults::Fault;
use crate::values::{LanguageCode, Money, Quantity, Slug};

// The catalogue was once part of this module; its names stay reachable here for the crates that import them so.
pub use crate::catalogue::{ActivityKind, Attribution, FieldType, Scalar};
pub use canonical::FieldJson;
pub use fields::FieldValue;
pub use parse::{parse_activity, ActivityRules};
pub(crate) use parse::{attributes, champion, dates_and_partner, evidence, no_duplicates, NamedPartner};

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

/// Every training mode with its name, as bodies write it.
pub const TRAINING_MODES: &[(&str, TrainingMode)] =
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
}
