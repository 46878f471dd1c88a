//! The progress projection (SPEC §4): per programme, the definition as it stood after each programme event and
//! every activity's lifecycle (latest corrected values and status) with the log position and `recorded_at` of
//! each change. A report answers "how far is a programme from each target" for any valid date (`as_of`, the
//! activity's `occurred_on`) as known at any position of the log (`at_position`): events after that position are
//! ignored, so the same query returns the same report forever.
//!
//! This file holds the projection and its apply path: the definitions, the activity table (`table/`) and the
//! running totals (`index.rs`) that each event updates, and the lists and histories read straight from them.
//! `report.rs` holds the report: its types and how it is computed from the totals or from the activities.

mod report;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use events::{
    Activity, ActivityDetails, ActivityKind, ActivityStatus, Aggregate, DomainEvent, Envelope, Indicator, Programme,
    ProgrammeState, Quantity,
};

use crate::index::{Bucket, Contribution, HeadIndex};
use crate::table::{Activities, ActivityHistory, ActivityRevision, Change, Rev, NONE};
use uuid::Uuid;

pub use report::{BudgetReport, IndicatorReport, IndicatorStatus, ProgressReport};

/// The cluster key of activities that belong to no cluster.
pub const NO_CLUSTER: &str = "none";

/// Which activities a list shows; every condition given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityFilter {
    pub kind: Option<ActivityKind>,
    pub partner: Option<String>,
    pub cluster: Option<String>,
    pub status: Option<ActivityStatus>,
    /// Occurred on or after this day.
    pub from: Option<NaiveDate>,
    /// Occurred on or before this day.
    pub to: Option<NaiveDate>,
}

impl ActivityFilter {
    /// Whether an activity's state passes the filter; `cluster` `"none"` selects activities without a cluster.
    /// Looks only at the revision's columns, never at the encoded activity.
    pub fn accepts(&self, state: &ActivityRevision<'_>) -> bool {
        let (Some(kind), Some(occurred_on)) = (state.kind(), state.occurred_on()) else { return false };
        self.kind.is_none_or(|k| kind == k)
            && self.partner.as_deref().is_none_or(|p| state.partner().is_some_and(|partner| partner.as_str() == p))
            && self.cluster.as_deref().is_none_or(|c| state.cluster().map_or(NO_CLUSTER, |cluster| cluster.as_str()) == c)
            && self.status.is_none_or(|s| state.status() == s)
            && self.from.is_none_or(|from| occurred_on >= from)
            && self.to.is_none_or(|to| occurred_on <= to)
    }
}

/// What a progress report is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressQuery {
    /// Only activities that occurred on or before this day count.
    pub as_of: NaiveDate,
    /// Only events at or before this log position are reflected; `None` for everything applied.
    pub at_position: Option<u64>,
}

/// One programme's part of the projection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProgrammeHistory {
    /// The programme state after each programme event, with that event's position.
    pub(crate) definitions: Vec<(u64, ProgrammeState)>,
    /// Every activity's revisions (`table/`).
    pub(crate) activities: Activities,
    /// Running totals at the head, for reports that cost the same at any size of log.
    pub(crate) index: HeadIndex,
}

impl ProgrammeHistory {
    /// Recomputes the running totals from every activity's current state, after the definition changed.
    fn reindex(&mut self) {
        self.index = HeadIndex::default();
        let Some(definition) = self.definitions.last().and_then(|(_, s)| s.programme()) else { return };
        let activities = &self.activities;
        for rev in activities.revisions_at(activities.slots(), u64::MAX) {
            if let Some(activity) = activities.activity(&rev) {
                contribute(&mut self.index, definition, &activity, rev.status(), 1);
            }
        }
    }

    fn definition_at(&self, position: u64) -> Option<&Programme> {
        let applied = self.definitions.partition_point(|(p, _)| *p <= position);
        self.definitions[..applied].last()?.1.programme()
    }

    /// The position of the last event of this programme at or before `position`.
    fn position_at(&self, position: u64) -> Option<u64> {
        let applied = self.definitions.partition_point(|(p, _)| *p <= position);
        let definition = self.definitions[..applied].last().map(|(p, _)| *p);
        definition.max(self.activities.position_at(position))
    }

    fn last_position(&self) -> Option<u64> {
        self.position_at(u64::MAX)
    }

    /// Takes an activity's old state out of the running totals and puts its new one in.
    fn update_totals(&mut self, change: Change) {
        let Some(definition) = self.definitions.last().and_then(|(_, s)| s.programme()) else { return };
        let counted = |rev: &Rev| rev.data != NONE && bucket(definition.require_approval, rev.status()).is_some();
        let before = change.before.filter(counted);
        let after = Some(change.after).filter(counted);
        if let (Some(b), Some(a)) = (before, after) {
            // The same activity in the same bucket: nothing changes (a submission where no approval is needed).
            if b.data == a.data && bucket(definition.require_approval, b.status()) == bucket(definition.require_approval, a.status()) {
                return;
            }
        }
        let (activities, index) = (&self.activities, &mut self.index);
        let old = before.and_then(|rev| Some((activities.activity(&rev)?, rev)));
        if let Some((activity, rev)) = &old {
            contribute(index, definition, activity, rev.status(), -1);
        }
        let Some(after) = after else { return };
        match (&change.activity, &old) {
            (Some(activity), _) => contribute(index, definition, activity, after.status(), 1),
            (None, Some((activity, rev))) if rev.data == after.data => contribute(index, definition, activity, after.status(), 1),
            (None, _) => {
                if let Some(activity) = activities.activity(&after) {
                    contribute(index, definition, &activity, after.status(), 1);
                }
            }
        }
    }
}

/// Progress of every programme, built from envelopes in log order. Snapshots are a binary form of the whole
/// (`snapshot.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgressProjection {
    pub(crate) programmes: BTreeMap<String, ProgrammeHistory>,
    pub(crate) position: u64,
}

impl ProgressProjection {
    /// The version of this projection's code and snapshot format: bump it whenever `apply` or the state
    /// changes, and stored snapshots are rebuilt from the log.
    pub const VERSION: u32 = 7;

    pub fn new() -> ProgressProjection {
        ProgressProjection::default()
    }

    /// Replays envelopes into a fresh projection.
    pub fn from_envelopes<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>) -> ProgressProjection {
        let mut projection = ProgressProjection::new();
        for envelope in envelopes {
            projection.apply(envelope);
        }
        projection
    }

    /// The position of the last envelope applied (0 before any).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Applies one envelope. Never fails: envelopes at or before the applied position are skipped (re-delivery),
    /// and unknown event types or unreadable payloads are ignored (the position still advances).
    pub fn apply(&mut self, envelope: &Envelope) {
        if envelope.position <= self.position {
            return;
        }
        self.apply_decoded(envelope, ProgressProjection::decode(envelope));
    }

    /// The domain event of an envelope as `apply` reads it; `None` when it is ignored. Pure and the costly part
    /// of applying, so a replay can decode on several threads and apply in order with
    /// [`ProgressProjection::apply_decoded`].
    pub fn decode(envelope: &Envelope) -> Option<DomainEvent> {
        DomainEvent::decode_stored(&envelope.event_type, envelope.schema, envelope.data.as_str()).ok()
    }

    /// Applies one envelope whose event [`ProgressProjection::decode`] already read.
    pub fn apply_decoded(&mut self, envelope: &Envelope, event: Option<DomainEvent>) {
        if envelope.position <= self.position {
            return;
        }
        self.position = envelope.position;
        let Some(event) = event else {
            return;
        };
        let history = match self.programmes.get_mut(envelope.programme.as_str()) {
            Some(history) => history,
            None => self.programmes.entry(envelope.programme.clone()).or_default(),
        };
        match event.activity_id() {
            Some(id) => {
                let change = history.activities.apply(id, envelope.position, event);
                history.update_totals(change);
            }
            None => {
                let mut state = history.definitions.last().map(|(_, s)| s.clone()).unwrap_or_default();
                state.apply(&event);
                history.definitions.push((envelope.position, state));
                history.reindex();
            }
        }
    }

    /// The ids of every programme, in order.
    pub fn programme_ids(&self) -> impl Iterator<Item = &str> {
        self.programmes.keys().map(String::as_str)
    }

    /// The programme definition as it stands now.
    pub fn programme(&self, programme: &str) -> Option<&Programme> {
        self.programmes.get(programme)?.definition_at(u64::MAX)
    }

    /// The programme's state — definition, locked periods, IATI settings — as it stood at log position
    /// `position` (what a report at that position reflects).
    pub fn programme_state_at(&self, programme: &str, position: u64) -> Option<&ProgrammeState> {
        let definitions = &self.programmes.get(programme)?.definitions;
        let applied = definitions.partition_point(|(p, _)| *p <= position);
        definitions[..applied].last().map(|(_, state)| state)
    }

    /// One activity's history.
    pub fn activity(&self, programme: &str, id: &Uuid) -> Option<ActivityHistory<'_>> {
        self.programmes.get(programme)?.activities.history(id)
    }

    /// Every activity of a programme with its history, by id.
    pub fn activities<'a>(&'a self, programme: &str) -> impl Iterator<Item = (Uuid, ActivityHistory<'a>)> + 'a {
        self.programmes.get(programme).into_iter().flat_map(|p| p.activities.histories_after(None))
    }

    /// Every activity of a programme with its history, the highest id (the latest recorded) first.
    pub fn activities_newest_first<'a>(&'a self, programme: &str) -> impl Iterator<Item = (Uuid, ActivityHistory<'a>)> + 'a {
        self.programmes.get(programme).into_iter().flat_map(|p| p.activities.histories_newest_first())
    }

    /// Up to `limit` activities of a programme that pass `filter`, in their current state, ordered by id (ids
    /// are UUID v7, so this is the order they were recorded in); `after` continues a previous page.
    pub fn list_activities<'a>(
        &'a self,
        programme: &str,
        filter: &ActivityFilter,
        after: Option<Uuid>,
        limit: usize,
    ) -> Vec<(Uuid, ActivityRevision<'a>)> {
        self.list_activities_at(programme, filter, after, limit, u64::MAX)
    }

    /// [`ProgressProjection::list_activities`] as the activities stood at log position `at`.
    pub fn list_activities_at<'a>(
        &'a self,
        programme: &str,
        filter: &ActivityFilter,
        after: Option<Uuid>,
        limit: usize,
        at: u64,
    ) -> Vec<(Uuid, ActivityRevision<'a>)> {
        let Some(history) = self.programmes.get(programme) else { return Vec::new() };
        history
            .activities
            .histories_after(after)
            .filter_map(|(id, h)| Some((id, h.at(at)?)))
            .filter(|(_, revision)| filter.accepts(revision))
            .take(limit)
            .collect()
    }
}

/// Where an activity in this status counts: in `actual`, in `pending`, or nowhere.
fn bucket(require_approval: bool, status: ActivityStatus) -> Option<Bucket> {
    match (require_approval, status) {
        (_, ActivityStatus::Retracted) => None,
        (true, ActivityStatus::Approved) | (false, _) => Some(Bucket::Counted),
        (true, ActivityStatus::Submitted) => Some(Bucket::Pending),
        (true, _) => None,
    }
}

/// What one activity adds to a count or sum indicator, if it counts for it.
fn value_of(indicator: &Indicator, activity: &Activity) -> Option<Quantity> {
    let measure = &indicator.measure;
    if !measure.selects(activity) {
        return None;
    }
    match measure.aggregate {
        Aggregate::Count => Some(Quantity::from_whole(1)),
        Aggregate::Sum => measure.field.as_deref().and_then(|f| activity.field(f)).and_then(|v| v.as_quantity()),
        Aggregate::Distinct => None,
    }
}

/// Adds (`sign` 1) or takes away (`sign` -1) an activity's contributions to the running totals.
fn contribute(index: &mut HeadIndex, programme: &Programme, activity: &Activity, status: ActivityStatus, sign: i64) {
    let Some(bucket) = bucket(programme.require_approval, status) else { return };
    let cluster = activity.cluster().unwrap_or(NO_CLUSTER);
    let at = |hundredths: i128, scale: u8| Contribution {
        date: activity.occurred_on,
        hundredths,
        scale,
        partner: activity.partner.as_str(),
        cluster,
    };
    for indicator in &programme.indicators {
        if let Some(value) = value_of(indicator, activity) {
            let totals = match index.indicators.get_mut(indicator.id.as_str()) {
                Some(totals) => totals,
                None => index.indicators.entry(indicator.id.to_string()).or_default(),
            };
            totals.bucket(bucket).add(&at(i128::from(value.hundredths()), value.scale()), sign);
        }
    }
    if bucket == Bucket::Counted {
        match &activity.details {
            ActivityDetails::GrantAwarded(g) => index.grants_awarded.add(&at(i128::from(g.amount.cents()), 2), sign),
            ActivityDetails::GrantPaid(g) => index.grants_paid.add(&at(i128::from(g.amount.cents()), 2), sign),
            _ => {}
        }
    }
}
