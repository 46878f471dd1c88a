//! The progress projection (SPEC §4): per programme, the definition as it stood after each programme event and
//! every activity's lifecycle (latest corrected values and status) with the log position and `recorded_at` of
//! each change. A report answers "how far is a programme from each target" for any valid date (`as_of`, the
//! activity's `occurred_on`) as known at any position of the log (`at_position`): events after that position are
//! ignored, so the same query returns the same report forever.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;
use events::{
    Activity, ActivityDetails, ActivityKind, ActivityState, ActivityStatus, Aggregate, DomainEvent, Envelope,
    Indicator, Programme, ProgrammeState, Quantity, Timestamp,
};

use crate::index::{Bucket, Contribution, HeadIndex, Totals};
use events::event::EVENT_TYPES;
use serde::Serialize;
use uuid::Uuid;

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
    /// Whether an activity state passes the filter; `cluster` `"none"` selects activities without a cluster.
    pub fn accepts(&self, state: &RevisionState) -> bool {
        let Some(activity) = state.activity() else { return false };
        self.kind.is_none_or(|k| activity.kind() == k)
            && self.partner.as_deref().is_none_or(|p| activity.partner.as_str() == p)
            && self.cluster.as_deref().is_none_or(|c| activity.cluster().unwrap_or(NO_CLUSTER) == c)
            && self.status.is_none_or(|s| state.status() == s)
            && self.from.is_none_or(|from| activity.occurred_on >= from)
            && self.to.is_none_or(|to| activity.occurred_on <= to)
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

/// One state of an activity: the state after the event at `position`. States share the activity with the
/// revision before them unless the event recorded or corrected it. 48 bytes, a million of them at a million
/// activities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRevision {
    pub position: u64,
    pub recorded_at: Timestamp,
    pub state: RevisionState,
    /// The event's index in `EVENT_TYPES`.
    pub(crate) event: u8,
}

impl ActivityRevision {
    pub(crate) fn new(position: u64, recorded_at: Timestamp, event_type: &str, state: RevisionState) -> ActivityRevision {
        let event = EVENT_TYPES.iter().rposition(|(name, _)| *name == event_type).expect("revisions come from known events");
        ActivityRevision { position, recorded_at, state, event: event as u8 }
    }

    /// The stored name of the event (`ActivityRecorded`, `ActivityApproved`, …).
    pub fn event_type(&self) -> &'static str {
        EVENT_TYPES[usize::from(self.event)].0
    }
}

/// An [`ActivityState`] as a revision keeps it: without the id, which is the key the history is kept under, and
/// with the rare return note boxed, in 24 bytes instead of 56.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevisionState {
    activity: Option<Arc<Activity>>,
    #[allow(clippy::box_collection)] // a thin pointer: 8 bytes where `Option<String>` takes 24
    note: Option<Box<String>>,
    status: ActivityStatus,
    /// Whether the activity was recorded (its `ActivityState` has an id).
    recorded: bool,
}

impl RevisionState {
    pub(crate) fn from_parts(recorded: bool, activity: Option<Arc<Activity>>, status: ActivityStatus, note: Option<String>) -> RevisionState {
        RevisionState { activity, note: note.map(Box::new), status, recorded }
    }

    fn from_state(state: &ActivityState) -> RevisionState {
        let note = state.return_note().map(str::to_owned);
        RevisionState::from_parts(state.id().is_some(), state.shared_activity().cloned(), state.status(), note)
    }

    /// The full state of the activity `id` that this is a state of.
    pub fn to_state(&self, id: Uuid) -> ActivityState {
        let note = self.note.as_deref().cloned();
        ActivityState::from_parts(self.recorded.then_some(id), self.activity.clone(), self.status, note)
    }

    pub fn activity(&self) -> Option<&Activity> {
        self.activity.as_deref()
    }

    /// The activity, shared with the other states that hold it.
    pub fn shared_activity(&self) -> Option<&Arc<Activity>> {
        self.activity.as_ref()
    }

    pub fn status(&self) -> ActivityStatus {
        self.status
    }

    /// The note of the last return, kept until the activity is submitted again.
    pub fn return_note(&self) -> Option<&str> {
        self.note.as_deref().map(String::as_str)
    }

    /// Whether the activity was recorded (not only corrected or changed before its record).
    pub fn recorded(&self) -> bool {
        self.recorded
    }
}

/// Every state an activity went through, in log order.
#[derive(Clone, Debug, Default, Eq)]
pub struct ActivityHistory {
    revisions: Revisions,
}

/// Most activities have one state: it is kept inline, without a list (an allocation) of its own.
#[derive(Clone, Debug, Eq, PartialEq)]
enum Revisions {
    One(ActivityRevision),
    Many(Vec<ActivityRevision>),
}

impl Default for Revisions {
    fn default() -> Revisions {
        Revisions::Many(Vec::new())
    }
}

impl PartialEq for ActivityHistory {
    fn eq(&self, other: &ActivityHistory) -> bool {
        self.revisions() == other.revisions()
    }
}

impl ActivityHistory {
    pub fn revisions(&self) -> &[ActivityRevision] {
        match &self.revisions {
            Revisions::One(revision) => std::slice::from_ref(revision),
            Revisions::Many(revisions) => revisions,
        }
    }

    /// Adds the state after the next event.
    pub(crate) fn push(&mut self, revision: ActivityRevision) {
        match &mut self.revisions {
            Revisions::Many(revisions) if revisions.is_empty() => self.revisions = Revisions::One(revision),
            Revisions::Many(revisions) => revisions.push(revision),
            Revisions::One(_) => {
                let Revisions::One(first) = std::mem::take(&mut self.revisions) else { unreachable!() };
                self.revisions = Revisions::Many(vec![first, revision]);
            }
        }
    }

    /// The latest state.
    pub fn current(&self) -> Option<&ActivityRevision> {
        self.revisions().last()
    }

    /// The state as known at `position` (after every event at or before it).
    pub fn at(&self, position: u64) -> Option<&ActivityRevision> {
        let revisions = self.revisions();
        let applied = revisions.partition_point(|r| r.position <= position);
        applied.checked_sub(1).map(|i| &revisions[i])
    }
}

/// One programme's part of the projection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProgrammeHistory {
    /// The programme state after each programme event, with that event's position.
    pub(crate) definitions: Vec<(u64, ProgrammeState)>,
    pub(crate) activities: BTreeMap<Uuid, ActivityHistory>,
    /// The position of every event applied for this programme, increasing.
    pub(crate) positions: Vec<u64>,
    /// Running totals at the head, for reports that cost the same at any size of log.
    pub(crate) index: HeadIndex,
    /// The activities of each kind, so a distinct measure looks only at the kinds it counts (no empty sets).
    pub(crate) by_kind: BTreeMap<ActivityKind, BTreeSet<Uuid>>,
}

impl ProgrammeHistory {
    /// Recomputes the running totals from every activity's current state, after the definition changed.
    fn reindex(&mut self) {
        self.index = HeadIndex::default();
        let Some(definition) = self.definitions.last().and_then(|(_, s)| s.programme()) else { return };
        for history in self.activities.values() {
            if let Some(current) = history.current() {
                contribute(&mut self.index, definition, &current.state, 1);
            }
        }
    }

    fn definition_at(&self, position: u64) -> Option<&Programme> {
        let applied = self.definitions.partition_point(|(p, _)| *p <= position);
        self.definitions[..applied].last()?.1.programme()
    }

    fn position_at(&self, position: u64) -> Option<u64> {
        if self.positions.last().is_some_and(|&last| last <= position) {
            return self.positions.last().copied();
        }
        let applied = self.positions.partition_point(|p| *p <= position);
        self.positions[..applied].last().copied()
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
    pub const VERSION: u32 = 4;

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
                let event_type = event.event_type();
                let activity = history.activities.entry(id).or_default();
                let mut state = activity.current().map(|r| r.state.to_state(id)).unwrap_or_default();
                state.apply_owned(event);
                debug_assert!(state.id().is_none_or(|state_id| state_id == id));
                let state = RevisionState::from_state(&state);
                let old = activity.current().map(|r| &r.state);
                if let Some(definition) = history.definitions.last().and_then(|(_, s)| s.programme()) {
                    if let Some(old) = old {
                        contribute(&mut history.index, definition, old, -1);
                    }
                    contribute(&mut history.index, definition, &state, 1);
                }
                let old_kind = old.and_then(|s| s.activity()).map(Activity::kind);
                let new_kind = state.activity().map(Activity::kind);
                if old_kind != new_kind {
                    if let Some(kind) = old_kind {
                        if let Some(ids) = history.by_kind.get_mut(&kind) {
                            ids.remove(&id);
                            if ids.is_empty() {
                                history.by_kind.remove(&kind);
                            }
                        }
                    }
                    if let Some(kind) = new_kind {
                        history.by_kind.entry(kind).or_default().insert(id);
                    }
                }
                activity.push(ActivityRevision::new(envelope.position, envelope.recorded_at, event_type, state));
            }
            None => {
                let mut state = history.definitions.last().map(|(_, s)| s.clone()).unwrap_or_default();
                state.apply(&event);
                history.definitions.push((envelope.position, state));
                history.reindex();
            }
        }
        history.positions.push(envelope.position);
    }

    /// The ids of every programme, in order.
    pub fn programme_ids(&self) -> impl Iterator<Item = &str> {
        self.programmes.keys().map(String::as_str)
    }

    /// The programme definition as it stands now.
    pub fn programme(&self, programme: &str) -> Option<&Programme> {
        self.programmes.get(programme)?.definition_at(u64::MAX)
    }

    /// One activity's history.
    pub fn activity(&self, programme: &str, id: &Uuid) -> Option<&ActivityHistory> {
        self.programmes.get(programme)?.activities.get(id)
    }

    /// Every activity of a programme with its history, by id.
    pub fn activities<'a>(&'a self, programme: &str) -> impl Iterator<Item = (&'a Uuid, &'a ActivityHistory)> + 'a {
        self.programmes.get(programme).into_iter().flat_map(|p| p.activities.iter())
    }

    /// Up to `limit` activities of a programme that pass `filter`, in their current state, ordered by id (ids
    /// are UUID v7, so this is the order they were recorded in); `after` continues a previous page.
    pub fn list_activities<'a>(
        &'a self,
        programme: &str,
        filter: &ActivityFilter,
        after: Option<Uuid>,
        limit: usize,
    ) -> Vec<(Uuid, &'a ActivityRevision)> {
        let Some(history) = self.programmes.get(programme) else { return Vec::new() };
        let start = match after {
            Some(id) => std::ops::Bound::Excluded(id),
            None => std::ops::Bound::Unbounded,
        };
        history
            .activities
            .range((start, std::ops::Bound::Unbounded))
            .filter_map(|(id, h)| Some((*id, h.current()?)))
            .filter(|(_, revision)| filter.accepts(&revision.state))
            .take(limit)
            .collect()
    }

    /// The progress report; `None` when the programme was not registered at the queried position.
    pub fn report(&self, programme: &str, query: &ProgressQuery) -> Option<ProgressReport> {
        let history = self.programmes.get(programme)?;
        let limit = query.at_position.unwrap_or(u64::MAX);
        let definition = history.definition_at(limit)?;
        let position = history.position_at(limit)?;

        // At the head, count and sum indicators and grants come from the running totals; a distinct measure, or
        // a report at an earlier position, looks at the activities themselves.
        let at_head = history.positions.last().is_some_and(|&last| limit >= last);
        let as_of = query.as_of;
        let states = |ids: Option<&BTreeSet<Uuid>>| -> (Vec<&Activity>, Vec<&Activity>) {
            let revisions: Box<dyn Iterator<Item = &ActivityRevision>> = match ids {
                Some(ids) => Box::new(ids.iter().filter_map(|id| history.activities.get(id)?.at(limit))),
                None => Box::new(history.activities.values().filter_map(|a| a.at(limit))),
            };
            let (mut counted, mut pending) = (Vec::new(), Vec::new());
            for revision in revisions {
                let Some(activity) = revision.state.activity().filter(|a| a.occurred_on <= as_of) else { continue };
                match bucket(definition.require_approval, revision.state.status()) {
                    Some(Bucket::Counted) => counted.push(activity),
                    Some(Bucket::Pending) => pending.push(activity),
                    None => {}
                }
            }
            (counted, pending)
        };
        let scanned = if at_head { None } else { Some(states(None)) };
        let indicators = definition.indicators.iter().map(|indicator| {
            let (actual, waiting) = match (&scanned, indicator.measure.aggregate) {
                (Some((counted, pending)), _) => (tally(indicator, counted), tally(indicator, pending)),
                (None, Aggregate::Distinct) => {
                    let mut ids = BTreeSet::new();
                    for kind in &indicator.measure.kinds {
                        ids.extend(history.by_kind.get(kind).into_iter().flatten().copied());
                    }
                    let (counted, pending) = states(Some(&ids));
                    (tally(indicator, &counted), tally(indicator, &pending))
                }
                (None, _) => match history.index.indicators.get(indicator.id.as_str()) {
                    Some(totals) => (Tally::from(totals.counted.as_of(as_of)), Tally::from(totals.pending.as_of(as_of))),
                    None => (Tally::default(), Tally::default()),
                },
            };
            indicator_report(definition, indicator, as_of, actual, waiting)
        });
        let (awarded, paid) = match &scanned {
            Some((counted, _)) => {
                let mut sums = (0i128, 0i128);
                for activity in counted {
                    match &activity.details {
                        ActivityDetails::GrantAwarded(g) => sums.0 += i128::from(g.amount.cents()),
                        ActivityDetails::GrantPaid(g) => sums.1 += i128::from(g.amount.cents()),
                        _ => {}
                    }
                }
                sums
            }
            None => (
                history.index.grants_awarded.as_of(as_of).summary().0,
                history.index.grants_paid.as_of(as_of).summary().0,
            ),
        };
        Some(ProgressReport {
            programme: definition.id.to_string(),
            as_of: query.as_of,
            known_at: None,
            position,
            indicators: indicators.collect(),
            budget: BudgetReport {
                currency: definition.currency.to_string(),
                total: definition.budget.map(|m| m.to_string()),
                partner_shares: definition.partner_shares().to_string(),
                grants_awarded: format_hundredths(awarded, 2),
                grants_paid: format_hundredths(paid, 2),
            },
        })
    }
}

/// Progress of one programme (SPEC §6, GET …/progress).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgressReport {
    pub programme: String,
    pub as_of: NaiveDate,
    /// The transaction time the report stands at, set by the caller (`known_at` asked for, or the time of the
    /// last log event reflected); `None` leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    /// The position of the last event of this programme the report reflects.
    pub position: u64,
    pub indicators: Vec<IndicatorReport>,
    pub budget: BudgetReport,
}

/// Progress towards one indicator. Quantities are decimal strings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndicatorReport {
    pub id: String,
    pub label: String,
    pub unit: String,
    pub target: String,
    pub baseline: String,
    pub actual: String,
    pub pending: String,
    /// actual ÷ target × 100 to one decimal; `None` (null) when the target is 0.
    pub percent: Option<f64>,
    pub expected: String,
    pub status: IndicatorStatus,
    pub by_partner: BTreeMap<String, String>,
    pub by_cluster: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorStatus {
    /// `as_of` is before the programme starts.
    NotStarted,
    /// actual ≥ target.
    Achieved,
    /// actual ≥ 85 % of expected.
    OnTrack,
    Behind,
}

impl IndicatorStatus {
    /// The name used in reports: `not_started`, `achieved`, `on_track`, `behind`.
    pub fn as_str(&self) -> &'static str {
        match self {
            IndicatorStatus::NotStarted => "not_started",
            IndicatorStatus::Achieved => "achieved",
            IndicatorStatus::OnTrack => "on_track",
            IndicatorStatus::Behind => "behind",
        }
    }
}

/// The programme's money, in its currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BudgetReport {
    pub currency: String,
    pub total: Option<String>,
    pub partner_shares: String,
    pub grants_awarded: String,
    pub grants_paid: String,
}

/// A measure's value over a set of activities: hundredths, the decimals to write, and the breakdowns.
#[derive(Default)]
struct Tally {
    hundredths: i128,
    scale: u8,
    by_partner: BTreeMap<String, i128>,
    by_cluster: BTreeMap<String, i128>,
}

impl From<Totals> for Tally {
    fn from(totals: Totals) -> Tally {
        let (hundredths, scale, by_partner, by_cluster) = totals.summary();
        Tally { hundredths, scale, by_partner, by_cluster }
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

/// Adds (`sign` 1) or takes away (`sign` -1) an activity state's contributions to the running totals.
fn contribute(index: &mut HeadIndex, programme: &Programme, state: &RevisionState, sign: i64) {
    let Some(activity) = state.activity() else { return };
    let Some(bucket) = bucket(programme.require_approval, state.status()) else { return };
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

fn tally(indicator: &Indicator, activities: &[&Activity]) -> Tally {
    let measure = &indicator.measure;
    let mut tally = Tally::default();
    let selected = activities.iter().filter(|a| measure.selects(a));
    match measure.aggregate {
        Aggregate::Count | Aggregate::Sum => {
            for activity in selected {
                let Some(value) = value_of(indicator, activity) else {
                    continue;
                };
                let h = i128::from(value.hundredths());
                tally.hundredths += h;
                tally.scale = tally.scale.max(value.scale());
                *tally.by_partner.entry(activity.partner.to_string()).or_default() += h;
                *tally.by_cluster.entry(activity.cluster().unwrap_or(NO_CLUSTER).to_string()).or_default() += h;
            }
        }
        Aggregate::Distinct => {
            let mut all = BTreeSet::new();
            let mut by_partner: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let mut by_cluster: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for activity in selected {
                let Some(value) = measure.field.as_deref().and_then(|f| activity.field(f)) else {
                    continue;
                };
                let keys: Vec<String> = match &value {
                    events::FieldValue::List(items) => items.iter().filter_map(|i| i.as_key()).collect(),
                    other => other.as_key().into_iter().collect(),
                };
                let partner = by_partner.entry(activity.partner.to_string()).or_default();
                let cluster = by_cluster.entry(activity.cluster().unwrap_or(NO_CLUSTER).to_string()).or_default();
                for key in keys {
                    partner.insert(key.clone());
                    cluster.insert(key.clone());
                    all.insert(key);
                }
            }
            let size = |s: &BTreeSet<String>| i128::try_from(s.len()).unwrap_or(i128::MAX) * 100;
            tally.hundredths = size(&all);
            tally.by_partner = by_partner.into_iter().map(|(k, v)| (k, size(&v))).collect();
            tally.by_cluster = by_cluster.into_iter().map(|(k, v)| (k, size(&v))).collect();
        }
    }
    tally
}

fn indicator_report(
    programme: &Programme,
    indicator: &Indicator,
    as_of: NaiveDate,
    actual: Tally,
    waiting: Tally,
) -> IndicatorReport {
    let target = i128::from(indicator.target.hundredths());
    let expected = expected(programme, indicator, as_of);
    let expected_h = i128::from(expected.hundredths());
    let status = if as_of < programme.starts_on {
        IndicatorStatus::NotStarted
    } else if actual.hundredths >= target {
        IndicatorStatus::Achieved
    } else if actual.hundredths * 100 >= expected_h * 85 {
        IndicatorStatus::OnTrack
    } else {
        IndicatorStatus::Behind
    };
    let percent = (target != 0).then(|| div_round(actual.hundredths * 1000, target) as f64 / 10.0);
    let scale = actual.scale;
    let breakdown = |m: BTreeMap<String, i128>| m.into_iter().map(|(k, v)| (k, format_hundredths(v, scale))).collect();
    IndicatorReport {
        id: indicator.id.to_string(),
        label: indicator.label.clone(),
        unit: indicator.unit.clone(),
        target: indicator.target.to_string(),
        baseline: indicator.baseline.to_string(),
        actual: format_hundredths(actual.hundredths, scale),
        pending: format_hundredths(waiting.hundredths, waiting.scale),
        percent,
        expected: expected.to_string(),
        status,
        by_partner: breakdown(actual.by_partner),
        by_cluster: breakdown(actual.by_cluster),
    }
}

/// What the indicator should stand at on `as_of`. With milestones: the target of the last milestone reached
/// (the baseline before the first, the target from `due` on). Without: linear from the baseline at the
/// programme's start to the target at `due` (default the programme's end), written with the target's decimals.
fn expected(programme: &Programme, indicator: &Indicator, as_of: NaiveDate) -> Quantity {
    let due = indicator.due.unwrap_or(programme.ends_on);
    if as_of >= due {
        return indicator.target;
    }
    if !indicator.milestones.is_empty() {
        let mut milestones: Vec<_> = indicator.milestones.iter().collect();
        milestones.sort_by_key(|m| m.by);
        return milestones.iter().rev().find(|m| m.by <= as_of).map_or(indicator.baseline, |m| m.target);
    }
    if as_of <= programme.starts_on {
        return indicator.baseline;
    }
    let total = i128::from((due - programme.starts_on).num_days());
    let elapsed = i128::from((as_of - programme.starts_on).num_days());
    if total <= 0 {
        return indicator.target;
    }
    let baseline = i128::from(indicator.baseline.hundredths());
    let target = i128::from(indicator.target.hundredths());
    let scale = indicator.target.scale().max(indicator.baseline.scale()).min(2);
    let unit = 10i128.pow(u32::from(2 - scale));
    let value = baseline + div_round((target - baseline) * elapsed, total);
    let value = div_round(value, unit) * unit;
    Quantity::from_hundredths(i64::try_from(value).unwrap_or(i64::MAX), scale)
}

/// `numerator / denominator` rounded half away from zero; `denominator` must not be 0.
fn div_round(numerator: i128, denominator: i128) -> i128 {
    let (n, d) = if denominator < 0 { (-numerator, -denominator) } else { (numerator, denominator) };
    if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        -((-2 * n + d) / (2 * d))
    }
}

/// Writes hundredths as a decimal with `scale` decimals (more when the value needs them).
fn format_hundredths(hundredths: i128, scale: u8) -> String {
    let scale = if hundredths % 10 != 0 {
        2
    } else if hundredths % 100 != 0 {
        scale.max(1)
    } else {
        scale.min(2)
    };
    let sign = if hundredths < 0 { "-" } else { "" };
    let abs = hundredths.unsigned_abs();
    let whole = abs / 100;
    let fraction = abs % 100;
    match scale {
        0 => format!("{sign}{whole}"),
        1 => format!("{sign}{whole}.{}", fraction / 10),
        _ => format!("{sign}{whole}.{fraction:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_hundredths() {
        assert_eq!(format_hundredths(1400, 0), "14");
        assert_eq!(format_hundredths(3097971, 2), "30979.71");
        assert_eq!(format_hundredths(250, 0), "2.5");
        assert_eq!(format_hundredths(0, 2), "0.00");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(643, 10), 64);
    }
}
