//! Events of the programme tracker: the stored envelope and its hash chain, and the domain — programme
//! definitions, the activity catalogue, domain events with their schema versions, aggregate state and the
//! command handlers that decide which events to append. Pure: no IO, no HTTP, no storage engine.

pub mod envelope;

pub mod activity;
pub mod catalogue;
pub mod commands;
pub mod event;
pub mod faults;
pub mod iati;
pub mod programme;
pub mod schema;
mod reader;
pub mod state;
mod stored;
pub mod values;

pub use envelope::{ChainError, ChainHash, ChainVerifier, Envelope, EnvelopeError, EventData, Timestamp};

pub use activity::{parse_activity, Activity, ActivityDetails, ActivityKind, ActivityRules, FieldValue, Participants};
pub use commands::{
    add_cluster, add_partner, add_period, approve_activity, correct_activity, lock_period, record_activity,
    record_activity_body, record_activity_draft, register_programme, retract_activity, return_activity, set_indicator, submit_activity,
    unlock_period,
    ApproveActivity, ChangePeriodLock, CommandContext, CorrectActivity, RecordActivity, RetractActivity,
    ReturnActivity, Role, SetIndicator,
};
pub use event::{activity_stream, programme_stream, DecodeError, DomainEvent, StreamName};
pub use faults::{Fault, FaultKind, Faults};
pub use iati::{set_iati_settings, IatiSettings};
pub use programme::{Aggregate, Cluster, Indicator, Measure, Milestone, Partner, Programme, ReportingPeriod, Source};
pub use state::{ActivityState, ActivityStatus, ProgrammeState};
pub use stored::ActivityDraft;
pub use values::{Money, Quantity, Slug, ValueError};
