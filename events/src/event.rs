//! The domain events: their past-tense type names, payload schema versions, JSON payloads, the upcasting of
//! older payload versions on read, and the names of the streams they belong to (`programme-{id}`,
//! `activity-{uuid}`). Stored events are a permanent contract: a payload change adds a schema version and an
//! upcast here, and the stored bytes are never rewritten.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::activity::Activity;
use crate::iati::IatiSettings;
use crate::programme::{Cluster, Indicator, Partner, Programme, ReportingPeriod};
use crate::values::Slug;

/// A programme was registered with its whole definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeRegistered {
    pub programme: Programme,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerJoined {
    pub partner: Partner,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterAdded {
    pub cluster: Cluster,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodAdded {
    pub period: ReportingPeriod,
}

/// A new indicator (output target) was set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorSet {
    pub indicator: Indicator,
}

/// An existing indicator was replaced by a new version, for a stated reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorRevised {
    pub indicator: Indicator,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodLocked {
    pub period: Slug,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodUnlocked {
    pub period: Slug,
    pub reason: String,
}

/// The programme's IATI settings were replaced as a whole (an extension of SPEC §5's event list: what an IATI
/// file needs that the definition does not say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IatiSettingsChanged {
    pub settings: IatiSettings,
}

/// An activity was recorded. Schema 2; schema 1 had `participants` as a plain number (the total).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityRecorded {
    pub activity_id: Uuid,
    pub activity: Activity,
}

/// An activity was submitted for approval (right after recording when the programme requires approval, or
/// again after it was returned).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivitySubmitted {
    pub activity_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityApproved {
    pub activity_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityReturned {
    pub activity_id: Uuid,
    pub note: String,
}

/// An activity was corrected: `changes` holds every top-level field whose value changed (`null` when it was
/// removed) and `activity` the whole activity after the correction, so readers never re-derive it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityCorrected {
    pub activity_id: Uuid,
    pub reason: String,
    pub changes: Map<String, Value>,
    pub activity: Activity,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityRetracted {
    pub activity_id: Uuid,
    pub reason: String,
}

/// Every fact the domain stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    ProgrammeRegistered(ProgrammeRegistered),
    PartnerJoined(PartnerJoined),
    ClusterAdded(ClusterAdded),
    PeriodAdded(PeriodAdded),
    IndicatorSet(IndicatorSet),
    IndicatorRevised(IndicatorRevised),
    PeriodLocked(PeriodLocked),
    PeriodUnlocked(PeriodUnlocked),
    IatiSettingsChanged(IatiSettingsChanged),
    ActivityRecorded(ActivityRecorded),
    ActivitySubmitted(ActivitySubmitted),
    ActivityApproved(ActivityApproved),
    ActivityReturned(ActivityReturned),
    ActivityCorrected(ActivityCorrected),
    ActivityRetracted(ActivityRetracted),
}

/// Every event type with its current schema version.
pub const EVENT_TYPES: &[(&str, u32)] = &[
    ("ProgrammeRegistered", 1),
    ("PartnerJoined", 1),
    ("ClusterAdded", 1),
    ("PeriodAdded", 1),
    ("IndicatorSet", 1),
    ("IndicatorRevised", 1),
    ("PeriodLocked", 1),
    ("PeriodUnlocked", 1),
    ("IatiSettingsChanged", 1),
    ("ActivityRecorded", 2),
    ("ActivitySubmitted", 1),
    ("ActivityApproved", 1),
    ("ActivityReturned", 1),
    ("ActivityCorrected", 1),
    ("ActivityRetracted", 1),
];

/// Why a stored payload could not be read as a domain event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type '{0}'")]
    UnknownType(String),
    #[error("{event_type} has no schema {schema} (the newest is {newest})")]
    UnsupportedSchema { event_type: String, schema: u32, newest: u32 },
    #[error("{event_type} schema {schema}: {message}")]
    Malformed { event_type: String, schema: u32, message: String },
}

impl DomainEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            DomainEvent::ProgrammeRegistered(_) => "ProgrammeRegistered",
            DomainEvent::PartnerJoined(_) => "PartnerJoined",
            DomainEvent::ClusterAdded(_) => "ClusterAdded",
            DomainEvent::PeriodAdded(_) => "PeriodAdded",
            DomainEvent::IndicatorSet(_) => "IndicatorSet",
            DomainEvent::IndicatorRevised(_) => "IndicatorRevised",
            DomainEvent::PeriodLocked(_) => "PeriodLocked",
            DomainEvent::PeriodUnlocked(_) => "PeriodUnlocked",
            DomainEvent::IatiSettingsChanged(_) => "IatiSettingsChanged",
            DomainEvent::ActivityRecorded(_) => "ActivityRecorded",
            DomainEvent::ActivitySubmitted(_) => "ActivitySubmitted",
            DomainEvent::ActivityApproved(_) => "ActivityApproved",
            DomainEvent::ActivityReturned(_) => "ActivityReturned",
            DomainEvent::ActivityCorrected(_) => "ActivityCorrected",
            DomainEvent::ActivityRetracted(_) => "ActivityRetracted",
        }
    }

    /// The schema version of the payload [`DomainEvent::to_data`] writes.
    pub fn schema(&self) -> u32 {
        newest_schema(self.event_type()).unwrap_or(1)
    }

    /// The payload as JSON (the envelope's `data`).
    pub fn to_data(&self) -> Value {
        let value = match self {
            DomainEvent::ProgrammeRegistered(e) => serde_json::to_value(e),
            DomainEvent::PartnerJoined(e) => serde_json::to_value(e),
            DomainEvent::ClusterAdded(e) => serde_json::to_value(e),
            DomainEvent::PeriodAdded(e) => serde_json::to_value(e),
            DomainEvent::IndicatorSet(e) => serde_json::to_value(e),
            DomainEvent::IndicatorRevised(e) => serde_json::to_value(e),
            DomainEvent::PeriodLocked(e) => serde_json::to_value(e),
            DomainEvent::PeriodUnlocked(e) => serde_json::to_value(e),
            DomainEvent::IatiSettingsChanged(e) => serde_json::to_value(e),
            DomainEvent::ActivityRecorded(e) => serde_json::to_value(e),
            DomainEvent::ActivitySubmitted(e) => serde_json::to_value(e),
            DomainEvent::ActivityApproved(e) => serde_json::to_value(e),
            DomainEvent::ActivityReturned(e) => serde_json::to_value(e),
            DomainEvent::ActivityCorrected(e) => serde_json::to_value(e),
            DomainEvent::ActivityRetracted(e) => serde_json::to_value(e),
        };
        // Every payload is plain data with string keys; serialising it cannot fail.
        value.expect("domain event payloads always serialise")
    }

    /// The payload as canonical text: `EventData::from_value(&self.to_data())`. An activity being recorded —
    /// the event every `POST …/activities` appends — is written straight from the domain types, without the
    /// `Value` in between.
    pub fn to_event_data(&self) -> crate::EventData {
        match self {
            DomainEvent::ActivityRecorded(e) => {
                let mut out = String::with_capacity(256);
                out.push_str("{\"activity\":");
                e.activity.write_canonical(&mut out);
                out.push_str(",\"activity_id\":");
                crate::envelope::push_uuid(&mut out, &e.activity_id);
                out.push('}');
                crate::EventData::from_canonical(out)
            }
            _ => crate::EventData::from_value(&self.to_data()),
        }
    }

    /// Reads a stored payload of any schema version this code knows, upcasting older versions first.
    pub fn decode(event_type: &str, schema: u32, data: &Value) -> Result<DomainEvent, DecodeError> {
        DomainEvent::decode_owned(event_type, schema, data.clone())
    }

    /// [`DomainEvent::decode`] of a payload given as its stored JSON text: the same event or the same error, as
    /// if the text had been parsed into a `Value` first. Activity events of the newest schema take a faster
    /// path that reads the text straight into the domain types (`stored.rs`); replays spend most of their time
    /// here.
    pub fn decode_stored(event_type: &str, schema: u32, text: &str) -> Result<DomainEvent, DecodeError> {
        if newest_schema(event_type) == Some(schema) {
            if let Some(event) = crate::stored::decode(event_type, text) {
                return Ok(event);
            }
        }
        // An unknown type is the answer before a payload that is not JSON, as in `decode`; the schema is checked
        // by `decode_owned`.
        newest_schema(event_type).ok_or_else(|| DecodeError::UnknownType(event_type.to_string()))?;
        let data: Value = serde_json::from_str(text).map_err(|e| DecodeError::Malformed {
            event_type: event_type.to_string(),
            schema,
            message: format!("the payload is not JSON: {e}"),
        })?;
        DomainEvent::decode_owned(event_type, schema, data)
    }

    fn decode_owned(event_type: &str, schema: u32, data: Value) -> Result<DomainEvent, DecodeError> {
        let newest = newest_schema(event_type).ok_or_else(|| DecodeError::UnknownType(event_type.to_string()))?;
        if schema == 0 || schema > newest {
            return Err(DecodeError::UnsupportedSchema { event_type: event_type.to_string(), schema, newest });
        }
        let malformed =
            |message: String| DecodeError::Malformed { event_type: event_type.to_string(), schema, message };
        let data = upcast(event_type, schema, data).map_err(malformed)?;
        fn read<T: DeserializeOwned>(data: Value) -> Result<T, String> {
            serde_json::from_value(data).map_err(|e| e.to_string())
        }
        let event = match event_type {
            "ProgrammeRegistered" => read(data).map(DomainEvent::ProgrammeRegistered),
            "PartnerJoined" => read(data).map(DomainEvent::PartnerJoined),
            "ClusterAdded" => read(data).map(DomainEvent::ClusterAdded),
            "PeriodAdded" => read(data).map(DomainEvent::PeriodAdded),
            "IndicatorSet" => read(data).map(DomainEvent::IndicatorSet),
            "IndicatorRevised" => read(data).map(DomainEvent::IndicatorRevised),
            "PeriodLocked" => read(data).map(DomainEvent::PeriodLocked),
            "PeriodUnlocked" => read(data).map(DomainEvent::PeriodUnlocked),
            "IatiSettingsChanged" => read(data).map(DomainEvent::IatiSettingsChanged),
            "ActivityRecorded" => read(data).map(DomainEvent::ActivityRecorded),
            "ActivitySubmitted" => read(data).map(DomainEvent::ActivitySubmitted),
            "ActivityApproved" => read(data).map(DomainEvent::ActivityApproved),
            "ActivityReturned" => read(data).map(DomainEvent::ActivityReturned),
            "ActivityCorrected" => read(data).map(DomainEvent::ActivityCorrected),
            "ActivityRetracted" => read(data).map(DomainEvent::ActivityRetracted),
            _ => return Err(DecodeError::UnknownType(event_type.to_string())),
        };
        event.map_err(malformed)
    }

    /// The activity an activity event is about; `None` for programme events.
    pub fn activity_id(&self) -> Option<Uuid> {
        match self {
            DomainEvent::ActivityRecorded(e) => Some(e.activity_id),
            DomainEvent::ActivitySubmitted(e) => Some(e.activity_id),
            DomainEvent::ActivityApproved(e) => Some(e.activity_id),
            DomainEvent::ActivityReturned(e) => Some(e.activity_id),
            DomainEvent::ActivityCorrected(e) => Some(e.activity_id),
            DomainEvent::ActivityRetracted(e) => Some(e.activity_id),
            _ => None,
        }
    }

    /// The stream the event is appended to: `activity-{uuid}` for activity events, `programme-{id}` otherwise.
    pub fn stream(&self, programme: &Slug) -> StreamName {
        match self.activity_id() {
            Some(activity) => StreamName::Activity(activity),
            None => StreamName::Programme(programme.clone()),
        }
    }
}

fn newest_schema(event_type: &str) -> Option<u32> {
    EVENT_TYPES.iter().find(|(name, _)| *name == event_type).map(|(_, schema)| *schema)
}

/// Brings a payload of an older schema to the newest, one version at a time.
fn upcast(event_type: &str, schema: u32, mut data: Value) -> Result<Value, String> {
    let mut schema = schema;
    while let Some(next) = match (event_type, schema) {
        ("ActivityRecorded", 1) => Some(activity_recorded_v1_to_v2 as fn(Value) -> Result<Value, String>),
        _ => None,
    } {
        data = next(data)?;
        schema += 1;
    }
    Ok(data)
}

/// ActivityRecorded 1 → 2: `participants` was the total as a plain number; it became `{total, women?, migrants?}`.
fn activity_recorded_v1_to_v2(mut data: Value) -> Result<Value, String> {
    let activity = data
        .get_mut("activity")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "activity is missing or not an object".to_string())?;
    if let Some(participants) = activity.get_mut("participants") {
        if let Value::Number(total) = participants {
            let total = Value::Number(total.clone());
            let mut object = Map::new();
            object.insert("total".to_string(), total);
            *participants = Value::Object(object);
        }
    }
    Ok(data)
}

/// The name of a stream of the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StreamName {
    /// `programme-{id}`: the definition, targets and periods.
    Programme(Slug),
    /// `activity-{uuid}`: one activity's lifecycle.
    Activity(Uuid),
}

impl StreamName {
    /// Reads `programme-{slug}` or `activity-{uuid}`.
    pub fn parse(text: &str) -> Option<StreamName> {
        if let Some(id) = text.strip_prefix("programme-") {
            return Slug::parse(id).ok().map(StreamName::Programme);
        }
        let id = text.strip_prefix("activity-")?;
        let uuid = Uuid::try_parse(id).ok()?;
        // Only the hyphenated lower-case form names a stream, so one activity has one stream name.
        (uuid.hyphenated().to_string() == id).then_some(StreamName::Activity(uuid))
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamName::Programme(id) => write!(f, "programme-{id}"),
            StreamName::Activity(id) => write!(f, "activity-{}", id.hyphenated()),
        }
    }
}

/// `programme-{id}`.
pub fn programme_stream(id: &Slug) -> String {
    StreamName::Programme(id.clone()).to_string()
}

/// `activity-{uuid}`.
pub fn activity_stream(id: &Uuid) -> String {
    StreamName::Activity(*id).to_string()
}
