//! The progress projection (SPEC §4): per programme, the definition as it stood after each programme event and
//! every activity's lifecycle (latest corrected values and status) with the log position and `recorded_at` of
//! each change. A report answers "how far is a programme from each target" for any valid date (`as_of`, the
//! activity's `occurred_on`) as known at any position of the log (`at_position`): events after that position are
//! ignored, so the same query returns the same report forever.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use events::{
    Activity, ActivityDetails, ActivityKind, ActivityStatus, Aggregate, DomainEvent, Envelope, Indicator, Programme,
    ProgrammeState, Quantity,
};

use crate::index::{Bucket, Contribution, HeadIndex, Totals};
use crate::table::{Activities, ActivityHistory, ActivityRevision, Change, Rev, SortedSlots, NONE};
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
    /// Every activity's revisions (`table.rs`).
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
    pub const VERSION: u32 = 6;

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
        let Some(history) = self.programmes.get(programme) else { return Vec::new() };
        history
            .activities
            .histories_after(after)
            .filter_map(|(id, h)| Some((id, h.current()?)))
            .filter(|(_, revision)| filter.accepts(revision))
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
        let at_head = history.last_position().is_some_and(|last| limit >= last);
        let as_of = query.as_of;
        let activities = &history.activities;
        let states = |slots: &mut dyn Iterator<Item = u32>| -> (Vec<Activity>, Vec<Activity>) {
            let (mut counted, mut pending) = (Vec::new(), Vec::new());
            for rev in activities.revisions_at(slots, limit) {
                if rev.occurred_on().is_none_or(|on| on > as_of) {
                    continue;
                }
                let list = match bucket(definition.require_approval, rev.status()) {
                    Some(Bucket::Counted) => &mut counted,
                    Some(Bucket::Pending) => &mut pending,
                    None => continue,
                };
                list.extend(activities.activity(&rev));
            }
            (counted, pending)
        };
        let scanned = if at_head { None } else { Some(states(&mut activities.slots())) };
        let indicators = definition.indicators.iter().map(|indicator| {
            let (actual, waiting) = match (&scanned, indicator.measure.aggregate) {
                (Some((counted, pending)), _) => (tally(indicator, counted), tally(indicator, pending)),
                (None, Aggregate::Distinct) => {
                    let mut slots = BTreeSet::new();
                    for kind in &indicator.measure.kinds {
                        slots.extend(activities.by_kind.get(kind).into_iter().flat_map(SortedSlots::iter));
                    }
                    let (counted, pending) = states(&mut slots.into_iter());
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

fn tally(indicator: &Indicator, activities: &[Activity]) -> Tally {
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
