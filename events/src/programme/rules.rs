//! The rules between the parts of a programme definition — ids unique, references known, dates inside the
//! programme, periods apart, budgets that add up, measures that make sense for their activity kinds — each
//! fault with its field path. `validate` checks a whole definition; the `check_*` methods check one part
//! joining an existing programme, which is how the commands that add a part apply the same rules.

use std::collections::BTreeSet;

use super::{Aggregate, Cluster, Indicator, Measure, Partner, Programme, ReportingPeriod, Source};
use crate::catalogue::{ActivityKind, FieldType, Scalar};
use crate::faults::{index, join, Fault};
use crate::values::{parse_date, Money, Quantity};

impl Programme {
    /// Every rule between the parts of the definition; empty when the definition is sound.
    pub fn validate(&self) -> Vec<Fault> {
        let mut faults = Vec::new();
        if self.ends_on < self.starts_on {
            faults.push(Fault::new("ends_on", format!("{} is before starts_on {}", self.ends_on, self.starts_on)));
        }
        if self.partner(self.coordinator.as_str()).is_none() {
            faults.push(Fault::new("coordinator", format!("unknown partner '{}'", self.coordinator)));
        }
        let mut keys = BTreeSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            if !keys.insert(source.key()) {
                let field = if source.file.is_some() { "file" } else if source.url.is_some() { "url" } else { "title" };
                faults.push(Fault::new(format!("sources[{i}].{field}"), format!("duplicate source '{}'", source.key())));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, partner) in self.partners.iter().enumerate() {
            let path = index("partners", i);
            if !seen.insert(&partner.id) {
                faults.push(Fault::new(join(&path, "id"), format!("duplicate partner '{}'", partner.id)));
            }
            faults.extend(self.check_sources(&partner.sources, &path));
        }
        if let Some(budget) = self.budget {
            let shares = self.partner_shares();
            if shares > budget {
                faults.push(Fault::new(
                    "budget",
                    format!("the partners' budget shares add up to {shares}, more than the budget {budget}"),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, cluster) in self.clusters.iter().enumerate() {
            let path = index("clusters", i);
            if !seen.insert(&cluster.id) {
                faults.push(Fault::new(join(&path, "id"), format!("duplicate cluster '{}'", cluster.id)));
            }
            faults.extend(self.check_cluster(cluster, &path));
        }
        let mut seen = BTreeSet::new();
        for (i, indicator) in self.indicators.iter().enumerate() {
            let path = index("indicators", i);
            if !seen.insert(&indicator.id) {
                faults.push(Fault::new(join(&path, "id"), format!("duplicate indicator '{}'", indicator.id)));
            }
            faults.extend(self.check_indicator(indicator, &path));
        }
        for (i, period) in self.periods.iter().enumerate() {
            let path = index("periods", i);
            if self.periods[..i].iter().any(|p| p.id == period.id) {
                faults.push(Fault::new(join(&path, "id"), format!("duplicate period '{}'", period.id)));
            }
            faults.extend(self.check_period(period, &self.periods[..i], &path));
        }
        faults
    }

    /// The rules for a partner joining this programme (its id must be new); field paths start at `prefix`.
    pub fn check_new_partner(&self, partner: &Partner, prefix: &str) -> Vec<Fault> {
        let mut faults = self.check_sources(&partner.sources, prefix);
        if let (Some(budget), Some(share)) = (self.budget, partner.budget_share) {
            let shares = self.partner_shares().checked_add(share).unwrap_or(Money::from_cents(i64::MAX));
            if shares > budget {
                faults.push(Fault::new(
                    join(prefix, "budget_share"),
                    format!("the partners' budget shares would add up to {shares}, more than the budget {budget}"),
                ));
            }
        }
        faults
    }

    /// The rules for a cluster of this programme: members are partners, each named once.
    pub fn check_cluster(&self, cluster: &Cluster, prefix: &str) -> Vec<Fault> {
        let mut faults = self.check_sources(&cluster.sources, prefix);
        for (i, member) in cluster.members.iter().enumerate() {
            let path = index(&join(prefix, "members"), i);
            if self.partner(member.as_str()).is_none() {
                faults.push(Fault::new(path, format!("unknown partner '{member}'")));
            } else if cluster.members[..i].contains(member) {
                faults.push(Fault::new(path, format!("duplicate member '{member}'")));
            }
        }
        faults
    }

    /// The rules for a reporting period: ordered dates inside the programme, no overlap with `others`.
    pub fn check_period(&self, period: &ReportingPeriod, others: &[ReportingPeriod], prefix: &str) -> Vec<Fault> {
        let mut faults = Vec::new();
        if period.ends_on < period.starts_on {
            faults.push(Fault::new(
                join(prefix, "ends_on"),
                format!("{} is before starts_on {}", period.ends_on, period.starts_on),
            ));
        }
        if period.starts_on < self.starts_on {
            faults.push(Fault::new(
                join(prefix, "starts_on"),
                format!("{} is before the programme starts on {}", period.starts_on, self.starts_on),
            ));
        }
        if period.ends_on > self.ends_on {
            faults.push(Fault::new(
                join(prefix, "ends_on"),
                format!("{} is after the programme ends on {}", period.ends_on, self.ends_on),
            ));
        }
        for other in others.iter().filter(|o| o.id != period.id) {
            if period.starts_on <= other.ends_on && other.starts_on <= period.ends_on {
                faults.push(Fault::new(prefix, format!("overlaps period '{}'", other.id)));
            }
        }
        faults
    }

    /// The rules for an indicator of this programme: a measure that makes sense for its kinds, targets that
    /// fit the aggregate, dates inside the programme and milestones in order.
    pub fn check_indicator(&self, indicator: &Indicator, prefix: &str) -> Vec<Fault> {
        let mut faults = self.check_sources(&indicator.sources, prefix);
        let measure = &indicator.measure;
        let whole_only = measure.aggregate != Aggregate::Sum;
        let at = |field: &str| join(prefix, field);
        let whole_fault = |path: String, q: &Quantity| {
            Fault::new(path, format!("{q} is not a whole number, as a {} needs", measure.aggregate.as_str()))
        };
        if whole_only && !indicator.target.is_whole() {
            faults.push(whole_fault(at("target"), &indicator.target));
        }
        if whole_only && !indicator.baseline.is_whole() {
            faults.push(whole_fault(at("baseline"), &indicator.baseline));
        }
        let due = indicator.due.unwrap_or(self.ends_on);
        if let Some(due) = indicator.due {
            if due < self.starts_on {
                faults
                    .push(Fault::new(at("due"), format!("{due} is before the programme starts on {}", self.starts_on)));
            } else if due > self.ends_on {
                faults.push(Fault::new(at("due"), format!("{due} is after the programme ends on {}", self.ends_on)));
            }
        }
        for (i, milestone) in indicator.milestones.iter().enumerate() {
            let path = index(&at("milestones"), i);
            if milestone.by < self.starts_on || milestone.by > due {
                faults.push(Fault::new(
                    join(&path, "by"),
                    format!("{} is outside {} to {due}", milestone.by, self.starts_on),
                ));
            }
            if let Some(previous) = i.checked_sub(1).map(|p| &indicator.milestones[p]) {
                if milestone.by <= previous.by {
                    faults.push(Fault::new(join(&path, "by"), format!("must come after {}", previous.by)));
                }
            }
            if milestone.target.cmp_value(&indicator.target).is_gt() {
                faults.push(Fault::new(
                    join(&path, "target"),
                    format!("{} exceeds the indicator's target {}", milestone.target, indicator.target),
                ));
            }
            if whole_only && !milestone.target.is_whole() {
                faults.push(whole_fault(join(&path, "target"), &milestone.target));
            }
        }
        faults.extend(self.check_measure(measure, &at("measure")));
        faults
    }

    fn check_measure(&self, measure: &Measure, prefix: &str) -> Vec<Fault> {
        let mut faults = Vec::new();
        let at = |field: &str| join(prefix, field);
        for (i, kind) in measure.kinds.iter().enumerate() {
            if measure.kinds[..i].contains(kind) {
                faults.push(Fault::new(index(&at("kinds"), i), format!("duplicate kind '{kind}'")));
            }
        }
        match (measure.aggregate, &measure.field) {
            (Aggregate::Count, Some(_)) => {
                faults.push(Fault::new(at("field"), "a count takes no field"));
            }
            (Aggregate::Sum | Aggregate::Distinct, None) => {
                faults.push(Fault::new(at("field"), format!("required for {}", measure.aggregate.as_str())));
            }
            (Aggregate::Sum, Some(field)) => {
                let types = self.field_types(measure, field, &at("field"), &mut faults);
                for (kind, field_type) in &types {
                    if !field_type.is_number() {
                        faults.push(Fault::new(at("field"), format!("'{field}' of {kind} is not a number")));
                    }
                }
                let money = types.iter().filter(|(_, t)| *t == FieldType::Money).count();
                if money > 0 && money < types.len() {
                    faults.push(Fault::new(at("field"), "cannot add money to numbers that are not money"));
                }
            }
            (Aggregate::Distinct, Some(field)) => {
                for (kind, field_type) in self.field_types(measure, field, &at("field"), &mut faults) {
                    if field_type == FieldType::Participants {
                        faults.push(Fault::new(
                            at("field"),
                            format!("'{field}' of {kind} is not a single value; use participants.total"),
                        ));
                    }
                }
            }
            (Aggregate::Count, None) => {}
        }
        for (path, expected) in &measure.conditions {
            let condition_path = join(&at("where"), path);
            for (_, field_type) in self.field_types(measure, path, &condition_path, &mut faults) {
                if let Some(message) = self.condition_mismatch(field_type, expected) {
                    faults.push(Fault::new(&condition_path, message));
                    break;
                }
            }
        }
        faults
    }

    /// The type of `path` in each of the measure's kinds; a fault for each kind that lacks it.
    fn field_types(
        &self,
        measure: &Measure,
        path: &str,
        fault_path: &str,
        faults: &mut Vec<Fault>,
    ) -> Vec<(ActivityKind, FieldType)> {
        let mut types = Vec::new();
        for kind in &measure.kinds {
            match kind.field_type(path) {
                Some(field_type) => types.push((*kind, field_type)),
                None => faults.push(Fault::new(fault_path, format!("{kind} has no field '{path}'"))),
            }
        }
        types
    }

    /// Why a `where` value cannot match a field of this type, if it cannot.
    fn condition_mismatch(&self, field_type: FieldType, expected: &Scalar) -> Option<String> {
        let text = match expected {
            Scalar::Text(text) => Some(text.as_str()),
            _ => None,
        };
        match (field_type, expected) {
            (FieldType::Attribute, _) => None,
            (FieldType::Partner | FieldType::Partners, Scalar::Text(id)) => {
                self.partner(id).is_none().then(|| format!("unknown partner '{id}'"))
            }
            (FieldType::Cluster, Scalar::Text(id)) => {
                self.cluster(id).is_none().then(|| format!("unknown cluster '{id}'"))
            }
            (FieldType::Kind | FieldType::Text | FieldType::Languages, Scalar::Text(_)) => None,
            (FieldType::Mode, Scalar::Text(mode)) => (!["online", "in_person", "hybrid"].contains(&mode.as_str()))
                .then(|| format!("unknown mode '{mode}': use one of online, in_person, hybrid")),
            (FieldType::Date, Scalar::Text(date)) => parse_date(date).err().map(|e| e.0),
            (FieldType::Money, Scalar::Text(money)) => Money::parse(money).err().map(|e| e.0),
            (FieldType::Decimal, Scalar::Text(q)) => Quantity::parse(q).err().map(|e| e.0),
            (FieldType::Whole | FieldType::Decimal | FieldType::Money, Scalar::Whole(_)) => None,
            (FieldType::Participants, _) => {
                Some("'participants' is not a single value; use participants.total".to_string())
            }
            _ => Some(format!(
                "{} cannot match a field of this kind",
                text.map(|t| format!("'{t}'")).unwrap_or_else(|| expected.to_string())
            )),
        }
    }

    fn check_sources(&self, sources: &[String], prefix: &str) -> Vec<Fault> {
        let mut faults = Vec::new();
        for (i, citation) in sources.iter().enumerate() {
            if !self.sources.iter().any(|s| s.is_cited_by(citation)) {
                let known: Vec<&str> = self.sources.iter().map(Source::key).collect();
                let message = match known.is_empty() {
                    true => format!("unknown source '{citation}'; the programme lists no sources to cite"),
                    false => format!(
                        "unknown source '{citation}'; cite one of the programme's sources by file, url or title ({})",
                        known.join(", ")
                    ),
                };
                faults.push(Fault::new(index(&join(prefix, "sources"), i), message));
            }
        }
        faults
    }
}
