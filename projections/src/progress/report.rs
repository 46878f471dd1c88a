//! The progress report (SPEC §6): how far a programme is from each target on a date, as known at a log
//! position. At the head, count and sum indicators and grants are read from the running totals, so a report
//! costs the same at any size of log; a distinct measure or a report at an earlier position looks at the
//! activities themselves. Also the report's types and the arithmetic of expected values and decimals.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use events::{Activity, ActivityDetails, Aggregate, Indicator, Programme, Quantity};
use serde::Serialize;

use super::{bucket, value_of, ProgressProjection, ProgressQuery, NO_CLUSTER};
use crate::index::{Bucket, Totals};
use crate::table::SortedSlots;

impl ProgressProjection {
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
            hash: None,
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
    /// The log's chain hash at `position` (hex), set by the caller, which reads the log; `None` leaves it out.
    /// With `position` it is the head an auditor checks the report against (`GET /v1/audit/verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
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
    // Every partner and cluster of the programme (and `none`) has a row, zero when nothing counted for it, so
    // that a breakdown read at two positions or dates has the same rows.
    let breakdown = |mut m: BTreeMap<String, i128>, keys: &mut dyn Iterator<Item = &str>| {
        for key in keys {
            m.entry(key.to_owned()).or_default();
        }
        m.into_iter().map(|(k, v)| (k, format_hundredths(v, scale))).collect()
    };
    let partners = &mut programme.partners.iter().map(|p| p.id.as_str());
    let clusters = &mut programme.clusters.iter().map(|c| c.id.as_str()).chain([NO_CLUSTER]);
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
        by_partner: breakdown(actual.by_partner, partners),
        by_cluster: breakdown(actual.by_cluster, clusters),
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
