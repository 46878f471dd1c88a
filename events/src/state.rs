//! Aggregate state rebuilt from events: a programme (from its `programme-{id}` stream) and an activity (from
//! its `activity-{uuid}` stream). `apply` never fails: events are facts, and the rules were checked when they
//! were decided.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::activity::Activity;
use crate::event::DomainEvent;
use crate::iati::IatiSettings;
use crate::programme::{Programme, ReportingPeriod};
use crate::values::Slug;

/// A programme as its stream says it is now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeState {
    programme: Option<Programme>,
    locked: BTreeSet<Slug>,
    /// The IATI settings, once set; absent from states saved before they existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iati: Option<IatiSettings>,
}

impl ProgrammeState {
    pub fn new() -> ProgrammeState {
        ProgrammeState::default()
    }

    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> ProgrammeState {
        let mut state = ProgrammeState::new();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Applies a programme event; activity events are ignored.
    pub fn apply(&mut self, event: &DomainEvent) {
        if let DomainEvent::ProgrammeRegistered(e) = event {
            self.programme = Some(e.programme.clone());
            self.locked.clear();
            self.iati = None;
            return;
        }
        let Some(programme) = self.programme.as_mut() else {
            return;
        };
        match event {
            DomainEvent::PartnerJoined(e) => programme.partners.push(e.partner.clone()),
            DomainEvent::ClusterAdded(e) => programme.clusters.push(e.cluster.clone()),
            DomainEvent::PeriodAdded(e) => programme.periods.push(e.period.clone()),
            DomainEvent::IndicatorSet(e) => programme.indicators.push(e.indicator.clone()),
            DomainEvent::IndicatorRevised(e) => {
                match programme.indicators.iter_mut().find(|i| i.id == e.indicator.id) {
                    Some(indicator) => *indicator = e.indicator.clone(),
                    None => programme.indicators.push(e.indicator.clone()),
                }
            }
            DomainEvent::PeriodLocked(e) => {
                self.locked.insert(e.period.clone());
            }
            DomainEvent::PeriodUnlocked(e) => {
                self.locked.remove(&e.period);
            }
            DomainEvent::IatiSettingsChanged(e) => self.iati = Some(e.settings.clone()),
            _ => {}
        }
    }

    /// The definition with every partner, cluster, period and indicator added since registration.
    pub fn programme(&self) -> Option<&Programme> {
        self.programme.as_ref()
    }

    /// The IATI settings, if the coordinator set them.
    pub fn iati_settings(&self) -> Option<&IatiSettings> {
        self.iati.as_ref()
    }

    pub fn is_locked(&self, period: &str) -> bool {
        self.locked.contains(period)
    }

    /// The ids of the locked periods.
    pub fn locked_periods(&self) -> impl Iterator<Item = &Slug> {
        self.locked.iter()
    }

    /// The locked period that `date` falls in, if any.
    pub fn locked_period_at(&self, date: NaiveDate) -> Option<&ReportingPeriod> {
        self.programme()?.periods.iter().find(|p| p.contains(date) && self.is_locked(p.id.as_str()))
    }
}

/// Where an activity is in its lifecycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    #[default]
    Recorded,
    Submitted,
    Approved,
    Returned,
    Retracted,
}

impl ActivityStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ActivityStatus::Recorded => "recorded",
            ActivityStatus::Submitted => "submitted",
            ActivityStatus::Approved => "approved",
            ActivityStatus::Returned => "returned",
            ActivityStatus::Retracted => "retracted",
        }
    }

    /// Every status. The progress snapshot stores a status as its index here: keep the order.
    pub const ALL: [ActivityStatus; 5] = [
        ActivityStatus::Recorded,
        ActivityStatus::Submitted,
        ActivityStatus::Approved,
        ActivityStatus::Returned,
        ActivityStatus::Retracted,
    ];

    pub fn parse(text: &str) -> Option<ActivityStatus> {
        ActivityStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for ActivityStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One activity as its stream says it is now. The activity itself is shared (`Arc`): a status change copies
/// the state without copying the activity, so keeping every state an activity went through stays cheap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityState {
    id: Option<Uuid>,
    activity: Option<Arc<Activity>>,
    status: ActivityStatus,
    /// The note of the last return, kept until the activity is submitted again.
    note: Option<String>,
}

impl ActivityState {
    pub fn new() -> ActivityState {
        ActivityState::default()
    }

    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> ActivityState {
        let mut state = ActivityState::new();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Applies an event of this activity's stream; programme events are ignored.
    pub fn apply(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::ActivityRecorded(e) => {
                self.id = Some(e.activity_id);
                self.activity = Some(Arc::new(e.activity.clone()));
                self.status = ActivityStatus::Recorded;
                self.note = None;
            }
            DomainEvent::ActivitySubmitted(_) => {
                self.status = ActivityStatus::Submitted;
                self.note = None;
            }
            DomainEvent::ActivityApproved(_) => self.status = ActivityStatus::Approved,
            DomainEvent::ActivityReturned(e) => {
                self.status = ActivityStatus::Returned;
                self.note = Some(e.note.clone());
            }
            DomainEvent::ActivityCorrected(e) => self.activity = Some(Arc::new(e.activity.clone())),
            DomainEvent::ActivityRetracted(_) => self.status = ActivityStatus::Retracted,
            _ => {}
        }
    }

    /// [`ActivityState::apply`] for an event the caller owns: the recorded or corrected activity is moved into
    /// the state instead of copied. The resulting state is the same.
    pub fn apply_owned(&mut self, event: DomainEvent) {
        match event {
            DomainEvent::ActivityRecorded(e) => {
                self.id = Some(e.activity_id);
                self.activity = Some(Arc::new(e.activity));
                self.status = ActivityStatus::Recorded;
                self.note = None;
            }
            DomainEvent::ActivityCorrected(e) => self.activity = Some(Arc::new(e.activity)),
            other => self.apply(&other),
        }
    }

    /// A state from its parts, as [`ActivityState::id`], [`ActivityState::shared_activity`],
    /// [`ActivityState::status`] and [`ActivityState::return_note`] give them (for snapshots of read models).
    pub fn from_parts(
        id: Option<Uuid>,
        activity: Option<Arc<Activity>>,
        status: ActivityStatus,
        note: Option<String>,
    ) -> ActivityState {
        ActivityState { id, activity, status, note }
    }

    /// The activity, shared with the other states that hold it.
    pub fn shared_activity(&self) -> Option<&Arc<Activity>> {
        self.activity.as_ref()
    }

    /// Whether the activity was ever recorded.
    pub fn exists(&self) -> bool {
        self.activity.is_some()
    }

    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The activity with its latest corrected values.
    pub fn activity(&self) -> Option<&Activity> {
        self.activity.as_deref()
    }

    pub fn status(&self) -> ActivityStatus {
        self.status
    }

    /// The note of the last return while the activity is returned.
    pub fn return_note(&self) -> Option<&str> {
        self.note.as_deref()
    }
}
