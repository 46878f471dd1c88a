//! The activity catalogue of SPEC §3 as data: every activity kind with its name, its own fields and their
//! types, whether it requires a title, and which partner it is attributed to; and the values (`Scalar`) a
//! measure's `where` compares those fields with. It sits below both `programme` (which checks measures against
//! it) and `activity` (which reads and writes activities by it), so neither has to import the other for it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What kind of activity took place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActivityKind {
    StaffExchange,
    ClusterVisit,
    WorkshopHeld,
    GrantAwarded,
    GrantPaid,
    ChampionTrained,
    ActionPlanEndorsed,
    PolicyImplemented,
    GuidePublished,
    VideoPublished,
    ConferenceHeld,
    TrainingDelivered,
    CoursePublished,
    PeerVisit,
    ConsultationHeld,
    StrategyAdopted,
    Custom,
}

/// Which partner an activity is attributed to when the body does not name one (`partner` always wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribution {
    /// The `host` field.
    Host,
    /// The `host` field when given, otherwise the recorder's partner.
    HostOrRecorder,
    /// The `recipient` field.
    Recipient,
    /// The kind's own `partner` field, which is required.
    OwnPartner,
    /// The recorder's partner.
    Recorder,
    /// The `partner` field when given, otherwise the recorder's partner.
    PartnerOrRecorder,
}

/// The type of a field that a measure can select (`field`) or filter on (`where`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// The activity kind itself.
    Kind,
    /// A partner id of the programme.
    Partner,
    /// A list of partner ids.
    Partners,
    /// A cluster id of the programme.
    Cluster,
    Text,
    Date,
    /// A whole number (days, staff, participants.total…).
    Whole,
    Money,
    /// A decimal number (course hours).
    Decimal,
    /// A list of ISO 639-1 codes.
    Languages,
    /// `online`, `in_person` or `hybrid`.
    Mode,
    /// The `participants` object itself; its parts are `participants.total`, `.women`, `.migrants`.
    Participants,
    /// A `custom` activity's attribute: a text, a whole number or a boolean.
    Attribute,
}

impl FieldType {
    /// Whether values of this type can be summed.
    pub fn is_number(&self) -> bool {
        matches!(self, FieldType::Whole | FieldType::Money | FieldType::Decimal | FieldType::Attribute)
    }
}

const COMMON_FIELDS: &[(&str, FieldType)] = &[
    ("kind", FieldType::Kind),
    ("occurred_on", FieldType::Date),
    ("ends_on", FieldType::Date),
    ("partner", FieldType::Partner),
    ("title", FieldType::Text),
    ("notes", FieldType::Text),
];

impl ActivityKind {
    pub const ALL: [ActivityKind; 17] = [
        ActivityKind::StaffExchange,
        ActivityKind::ClusterVisit,
        ActivityKind::WorkshopHeld,
        ActivityKind::GrantAwarded,
        ActivityKind::GrantPaid,
        ActivityKind::ChampionTrained,
        ActivityKind::ActionPlanEndorsed,
        ActivityKind::PolicyImplemented,
        ActivityKind::GuidePublished,
        ActivityKind::VideoPublished,
        ActivityKind::ConferenceHeld,
        ActivityKind::TrainingDelivered,
        ActivityKind::CoursePublished,
        ActivityKind::PeerVisit,
        ActivityKind::ConsultationHeld,
        ActivityKind::StrategyAdopted,
        ActivityKind::Custom,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ActivityKind::StaffExchange => "staff_exchange",
            ActivityKind::ClusterVisit => "cluster_visit",
            ActivityKind::WorkshopHeld => "workshop_held",
            ActivityKind::GrantAwarded => "grant_awarded",
            ActivityKind::GrantPaid => "grant_paid",
            ActivityKind::ChampionTrained => "champion_trained",
            ActivityKind::ActionPlanEndorsed => "action_plan_endorsed",
            ActivityKind::PolicyImplemented => "policy_implemented",
            ActivityKind::GuidePublished => "guide_published",
            ActivityKind::VideoPublished => "video_published",
            ActivityKind::ConferenceHeld => "conference_held",
            ActivityKind::TrainingDelivered => "training_delivered",
            ActivityKind::CoursePublished => "course_published",
            ActivityKind::PeerVisit => "peer_visit",
            ActivityKind::ConsultationHeld => "consultation_held",
            ActivityKind::StrategyAdopted => "strategy_adopted",
            ActivityKind::Custom => "custom",
        }
    }

    pub fn parse(text: &str) -> Option<ActivityKind> {
        ActivityKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn attribution(&self) -> Attribution {
        match self {
            ActivityKind::StaffExchange | ActivityKind::ClusterVisit | ActivityKind::PeerVisit => Attribution::Host,
            ActivityKind::WorkshopHeld | ActivityKind::ConferenceHeld => Attribution::HostOrRecorder,
            ActivityKind::GrantAwarded | ActivityKind::GrantPaid => Attribution::Recipient,
            ActivityKind::ChampionTrained
            | ActivityKind::ActionPlanEndorsed
            | ActivityKind::PolicyImplemented
            | ActivityKind::ConsultationHeld
            | ActivityKind::StrategyAdopted => Attribution::OwnPartner,
            ActivityKind::GuidePublished
            | ActivityKind::VideoPublished
            | ActivityKind::TrainingDelivered
            | ActivityKind::CoursePublished => Attribution::Recorder,
            ActivityKind::Custom => Attribution::PartnerOrRecorder,
        }
    }

    /// Whether the common `title` is required for this kind.
    pub fn title_required(&self) -> bool {
        matches!(
            self,
            ActivityKind::WorkshopHeld
                | ActivityKind::ActionPlanEndorsed
                | ActivityKind::PolicyImplemented
                | ActivityKind::GuidePublished
                | ActivityKind::VideoPublished
                | ActivityKind::ConferenceHeld
                | ActivityKind::TrainingDelivered
                | ActivityKind::CoursePublished
                | ActivityKind::ConsultationHeld
                | ActivityKind::StrategyAdopted
        )
    }

    /// The kind's own fields (besides the common `kind, occurred_on, ends_on, partner, title, notes, evidence`).
    pub fn own_fields(&self) -> &'static [(&'static str, FieldType)] {
        use FieldType as T;
        match self {
            ActivityKind::StaffExchange => &[
                ("host", T::Partner),
                ("visitor", T::Partner),
                ("cluster", T::Cluster),
                ("days", T::Whole),
                ("staff", T::Whole),
            ],
            ActivityKind::ClusterVisit => {
                &[("cluster", T::Cluster), ("host", T::Partner), ("participants", T::Participants)]
            }
            ActivityKind::WorkshopHeld => {
                &[("host", T::Partner), ("cluster", T::Cluster), ("participants", T::Participants)]
            }
            ActivityKind::GrantAwarded => &[("recipient", T::Partner), ("amount", T::Money), ("purpose", T::Text)],
            ActivityKind::GrantPaid => &[("recipient", T::Partner), ("amount", T::Money)],
            ActivityKind::ChampionTrained => &[("champion", T::Text)],
            ActivityKind::ActionPlanEndorsed | ActivityKind::StrategyAdopted => &[],
            ActivityKind::PolicyImplemented => &[("cluster", T::Cluster)],
            ActivityKind::GuidePublished => &[("cluster", T::Cluster), ("languages", T::Languages), ("url", T::Text)],
            ActivityKind::VideoPublished => &[("cluster", T::Cluster), ("url", T::Text)],
            ActivityKind::ConferenceHeld => &[("host", T::Partner), ("participants", T::Participants)],
            ActivityKind::TrainingDelivered => &[("mode", T::Mode), ("participants", T::Participants)],
            ActivityKind::CoursePublished => &[("hours", T::Decimal), ("url", T::Text)],
            ActivityKind::PeerVisit => {
                &[("host", T::Partner), ("visitors", T::Partners), ("participants", T::Participants)]
            }
            ActivityKind::ConsultationHeld => &[("participants", T::Participants)],
            ActivityKind::Custom => &[("label", T::Text)],
        }
    }

    /// Every field some kind has, once, in catalogue order: the common fields (`kind, occurred_on, ends_on,
    /// partner, title, notes`), then each kind's own fields in the order of [`ActivityKind::ALL`], a field shared
    /// by several kinds where it first appears. The columns of an activities file are made from this.
    pub fn all_fields() -> Vec<(&'static str, FieldType)> {
        let mut fields: Vec<(&'static str, FieldType)> = COMMON_FIELDS.to_vec();
        for kind in ActivityKind::ALL {
            for field in kind.own_fields() {
                if !fields.iter().any(|(name, _)| *name == field.0) {
                    fields.push(*field);
                }
            }
        }
        fields
    }

    /// The kind's own fields a body must give (the common `occurred_on` always, `title` when
    /// [`title_required`](Self::title_required), and `partner` when attributed to [`Attribution::OwnPartner`]).
    /// The readers of `activity/parse.rs` and `stored.rs` ask for exactly these (checked by the test
    /// `the_catalogue_names_the_fields_the_reader_requires`), and the API's description marks them required.
    pub fn required_fields(&self) -> &'static [&'static str] {
        match self {
            ActivityKind::StaffExchange => &["host", "visitor", "days", "staff"],
            ActivityKind::ClusterVisit => &["cluster", "host"],
            ActivityKind::GrantAwarded => &["recipient", "amount", "purpose"],
            ActivityKind::GrantPaid => &["recipient", "amount"],
            ActivityKind::ChampionTrained => &["champion"],
            ActivityKind::GuidePublished => &["languages"],
            ActivityKind::TrainingDelivered => &["mode"],
            ActivityKind::CoursePublished => &["hours"],
            ActivityKind::PeerVisit => &["host", "visitors"],
            ActivityKind::Custom => &["label"],
            _ => &[],
        }
    }

    /// The smallest and largest value of a whole-number field of this kind (`days` of a staff exchange, `staff`,
    /// the parts of `participants`), as the readers check them.
    pub fn whole_range(&self, field: &str) -> (u32, u32) {
        match (self, field) {
            (ActivityKind::StaffExchange, "days") => (1, 60),
            (ActivityKind::StaffExchange, "staff") => (1, u32::MAX),
            _ => (0, u32::MAX),
        }
    }

    /// The message for a kind that is not in the catalogue: it names every kind there is.
    pub fn unknown(text: &str) -> String {
        let kinds: Vec<&str> = ActivityKind::ALL.iter().map(ActivityKind::as_str).collect();
        format!("unknown activity kind '{text}': use one of {}", kinds.join(", "))
    }

    /// The type of the field at a dotted `path` for this kind, `None` when the kind has no such field.
    pub fn field_type(&self, path: &str) -> Option<FieldType> {
        if let Some((head, rest)) = path.split_once('.') {
            return match head {
                "participants" if self.own_fields().iter().any(|(_, t)| *t == FieldType::Participants) => {
                    matches!(rest, "total" | "women" | "migrants").then_some(FieldType::Whole)
                }
                "attributes" if *self == ActivityKind::Custom && !rest.is_empty() && !rest.contains('.') => {
                    Some(FieldType::Attribute)
                }
                _ => None,
            };
        }
        COMMON_FIELDS.iter().chain(self.own_fields()).find(|(name, _)| *name == path).map(|(_, t)| *t)
    }
}

impl fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ActivityKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActivityKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ActivityKind::parse(&text).ok_or_else(|| serde::de::Error::custom(ActivityKind::unknown(&text)))
    }
}

/// A value in a measure's `where`: a text, a whole number or a boolean.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Whole(i64),
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Whole(n) => write!(f, "{n}"),
            Scalar::Text(s) => write!(f, "'{s}'"),
        }
    }
}
