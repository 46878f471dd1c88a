//! The programme definition of SPEC §3 — programme, partners, clusters, reporting periods, indicators with
//! their measures and milestones, and the sources the facts come from — with its JSON form and the validation
//! of a whole definition, which lists every fault with its field path (`partners[3].country`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::catalogue::{ActivityKind, FieldType, Scalar};
use crate::faults::{index, join, Fault, Faults};
use crate::reader::{self, Fields};
use crate::values::{parse_date, CountryCode, Currency, Money, Quantity, Slug};

/// A programme: who takes part, how they are grouped, what it must achieve, and where those facts come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Programme {
    pub id: Slug,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acronym: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The fund that pays for it, e.g. "AMIF".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funder: Option<String>,
    /// The partner that coordinates the programme.
    pub coordinator: Slug,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub currency: Currency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<Money>,
    pub require_approval: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub partners: Vec<Partner>,
    pub clusters: Vec<Cluster>,
    pub indicators: Vec<Indicator>,
    pub periods: Vec<ReportingPeriod>,
    pub sources: Vec<Source>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerKind {
    City,
    Region,
    Network,
    Ngo,
    Expert,
    Other,
}

const PARTNER_KINDS: &[(&str, PartnerKind)] = &[
    ("city", PartnerKind::City),
    ("region", PartnerKind::Region),
    ("network", PartnerKind::Network),
    ("ngo", PartnerKind::Ngo),
    ("expert", PartnerKind::Expert),
    ("other", PartnerKind::Other),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerRole {
    Coordinator,
    Expert,
    CoreCity,
    FellowCity,
    RegionalPartner,
    Advisory,
    Other,
}

const PARTNER_ROLES: &[(&str, PartnerRole)] = &[
    ("coordinator", PartnerRole::Coordinator),
    ("expert", PartnerRole::Expert),
    ("core_city", PartnerRole::CoreCity),
    ("fellow_city", PartnerRole::FellowCity),
    ("regional_partner", PartnerRole::RegionalPartner),
    ("advisory", PartnerRole::Advisory),
    ("other", PartnerRole::Other),
];

/// An organisation taking part in a programme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Partner {
    pub id: Slug,
    pub name: String,
    pub kind: PartnerKind,
    /// ISO 3166-1 alpha-2; left out when no source says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryCode>,
    pub role: PartnerRole,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_share: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Files of the programme's `sources` that name this partner.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

/// A cluster (Community of Practice) of partners working on one theme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub id: Slug,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    pub members: Vec<Slug>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

/// A reporting period; once locked it accepts no activity, correction or retraction dated inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportingPeriod {
    pub id: Slug,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

impl ReportingPeriod {
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.starts_on <= date && date <= self.ends_on
    }
}

/// How a measure combines the activities that count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// How many activities.
    Count,
    /// The sum of a numeric field.
    Sum,
    /// How many different values a field takes.
    Distinct,
}

const AGGREGATES: &[(&str, Aggregate)] =
    &[("count", Aggregate::Count), ("sum", Aggregate::Sum), ("distinct", Aggregate::Distinct)];

impl Aggregate {
    pub fn as_str(&self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Distinct => "distinct",
        }
    }
}

/// Which activities an indicator counts and how: `{"aggregate": "sum", "kinds": ["grant_awarded"],
/// "field": "amount", "where": {"cluster": "cop1"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Measure {
    pub aggregate: Aggregate,
    pub kinds: Vec<ActivityKind>,
    /// A dotted path into the activity; required for sum and distinct, absent for count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Conditions on fields that an activity must meet to count.
    #[serde(rename = "where", skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, Scalar>,
}

/// A point on the way to a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Milestone {
    pub by: NaiveDate,
    pub target: Quantity,
}

/// An output target of the programme and the measure that tracks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Indicator {
    pub id: Slug,
    pub label: String,
    /// A display label: "exchanges", "EUR", "days".
    pub unit: String,
    pub target: Quantity,
    pub baseline: Quantity,
    /// When the target is due; the programme's `ends_on` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    pub milestones: Vec<Milestone>,
    pub measure: Measure,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

/// A document the definition's facts come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The document's file name, e.g. `001_a9070aa1f9a691c6.txt`.
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The facts the definition takes from it.
    pub says: Vec<String>,
}

impl Programme {
    /// Reads a definition (the body of `POST /v1/programmes`) and validates it; every fault at once.
    pub fn parse(value: &Value) -> Result<Programme, Faults> {
        let programme = Programme::parse_unchecked(value)?;
        Faults::check(programme.validate())?;
        Ok(programme)
    }

    /// Reads a definition without checking the rules between its parts (for stored events).
    pub fn parse_unchecked(value: &Value) -> Result<Programme, Faults> {
        finish(value, read_programme)
    }

    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.id.as_str() == id)
    }

    pub fn cluster(&self, id: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.id.as_str() == id)
    }

    pub fn indicator(&self, id: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.id.as_str() == id)
    }

    pub fn period(&self, id: &str) -> Option<&ReportingPeriod> {
        self.periods.iter().find(|p| p.id.as_str() == id)
    }

    /// The sum of the partners' budget shares.
    pub fn partner_shares(&self) -> Money {
        self.partners
            .iter()
            .filter_map(|p| p.budget_share)
            .fold(Money::ZERO, |sum, share| sum.checked_add(share).unwrap_or(sum))
    }

    /// Every rule between the parts of the definition; empty when the definition is sound.
    pub fn validate(&self) -> Vec<Fault> {
        let mut faults = Vec::new();
        if self.ends_on < self.starts_on {
            faults.push(Fault::new("ends_on", format!("{} is before starts_on {}", self.ends_on, self.starts_on)));
        }
        if self.partner(self.coordinator.as_str()).is_none() {
            faults.push(Fault::new("coordinator", format!("unknown partner '{}'", self.coordinator)));
        }
        let mut files = BTreeSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            if !files.insert(source.file.as_str()) {
                faults.push(Fault::new(format!("sources[{i}].file"), format!("duplicate source '{}'", source.file)));
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
        for (i, file) in sources.iter().enumerate() {
            if !self.sources.iter().any(|s| &s.file == file) {
                faults.push(Fault::new(index(&join(prefix, "sources"), i), format!("unknown source '{file}'")));
            }
        }
        faults
    }
}

macro_rules! parse_and_serde {
    ($type:ty, $read:ident) => {
        impl $type {
            /// Reads one from JSON, reporting every structural fault with its field.
            pub fn parse(value: &Value) -> Result<$type, Faults> {
                finish(value, $read)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = Value::deserialize(deserializer)?;
                finish(&value, $read).map_err(serde::de::Error::custom)
            }
        }
    };
}

parse_and_serde!(Partner, read_partner);
parse_and_serde!(Cluster, read_cluster);
parse_and_serde!(ReportingPeriod, read_period);
parse_and_serde!(Indicator, read_indicator);
parse_and_serde!(Source, read_source);

impl<'de> Deserialize<'de> for Programme {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Programme::parse_unchecked(&value).map_err(serde::de::Error::custom)
    }
}

fn finish<T>(value: &Value, read: fn(&Value, &str, &mut Vec<Fault>) -> Option<T>) -> Result<T, Faults> {
    let mut faults = Vec::new();
    match read(value, "", &mut faults) {
        Some(parsed) if faults.is_empty() => Ok(parsed),
        _ => Err(Faults::validation(faults)),
    }
}

fn source_files(f: &mut Fields<'_>, faults: &mut Vec<Fault>) -> Vec<String> {
    f.list("sources", faults, reader::text)
}

fn read_programme(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Programme> {
    let mut f = Fields::of(value, path, faults)?;
    let id = f.required("id", faults, reader::slug);
    let name = f.required("name", faults, reader::text);
    let acronym = f.optional("acronym", faults, reader::text);
    let description = f.optional("description", faults, reader::text);
    let funder = f.optional("funder", faults, reader::text);
    let coordinator = f.required("coordinator", faults, reader::slug);
    let starts_on = f.required("starts_on", faults, reader::date);
    let ends_on = f.required("ends_on", faults, reader::date);
    let currency = f.optional("currency", faults, |value, path, faults| {
        let text = reader::text(value, path, faults)?;
        Currency::parse(&text).map_err(|e| faults.push(Fault::new(path, e.0))).ok()
    });
    let currency_given = f.has("currency");
    let budget = f.optional("budget", faults, reader::money);
    let require_approval = f.optional("require_approval", faults, reader::boolean).unwrap_or(false);
    let notes = f.optional("notes", faults, reader::text);
    let partners = f.list("partners", faults, read_partner);
    let clusters = f.list("clusters", faults, read_cluster);
    let indicators = f.list("indicators", faults, read_indicator);
    let periods = f.list("periods", faults, read_period);
    let sources = f.list("sources", faults, read_source);
    f.finish(faults);
    let currency = match currency {
        Some(currency) => currency,
        None if currency_given => return None,
        None => Currency::euro(),
    };
    Some(Programme {
        id: id?,
        name: name?,
        acronym,
        description,
        funder,
        coordinator: coordinator?,
        starts_on: starts_on?,
        ends_on: ends_on?,
        currency,
        budget,
        require_approval,
        notes,
        partners,
        clusters,
        indicators,
        periods,
        sources,
    })
}

fn read_partner(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Partner> {
    let mut f = Fields::of(value, path, faults)?;
    let id = f.required("id", faults, reader::slug);
    let name = f.required("name", faults, reader::text);
    let kind = f.required("kind", faults, reader::one_of(PARTNER_KINDS, "partner kind"));
    let country = f.optional("country", faults, |value, path, faults| {
        let text = reader::text(value, path, faults)?;
        CountryCode::parse(&text).map_err(|e| faults.push(Fault::new(path, e.0))).ok()
    });
    let role = f.required("role", faults, reader::one_of(PARTNER_ROLES, "partner role"));
    let budget_share = f.optional("budget_share", faults, reader::money);
    let notes = f.optional("notes", faults, reader::text);
    let sources = source_files(&mut f, faults);
    f.finish(faults);
    Some(Partner { id: id?, name: name?, kind: kind?, country, role: role?, budget_share, notes, sources })
}

fn read_cluster(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Cluster> {
    let mut f = Fields::of(value, path, faults)?;
    let id = f.required("id", faults, reader::slug);
    let name = f.required("name", faults, reader::text);
    let theme = f.optional("theme", faults, reader::text);
    let members = f.list("members", faults, reader::slug);
    let notes = f.optional("notes", faults, reader::text);
    let sources = source_files(&mut f, faults);
    f.finish(faults);
    Some(Cluster { id: id?, name: name?, theme, members, notes, sources })
}

fn read_period(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<ReportingPeriod> {
    let mut f = Fields::of(value, path, faults)?;
    let id = f.required("id", faults, reader::slug);
    let starts_on = f.required("starts_on", faults, reader::date);
    let ends_on = f.required("ends_on", faults, reader::date);
    f.finish(faults);
    Some(ReportingPeriod { id: id?, starts_on: starts_on?, ends_on: ends_on? })
}

fn read_milestone(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Milestone> {
    let mut f = Fields::of(value, path, faults)?;
    let by = f.required("by", faults, reader::date);
    let target = f.required("target", faults, reader::quantity);
    f.finish(faults);
    Some(Milestone { by: by?, target: target? })
}

fn read_measure(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Measure> {
    let mut f = Fields::of(value, path, faults)?;
    let aggregate = f.required("aggregate", faults, reader::one_of(AGGREGATES, "aggregate"));
    let kinds = f.required("kinds", faults, |value, path, faults| {
        let kinds = reader::list(value, path, faults, |value, path, faults| {
            let text = reader::text(value, path, faults)?;
            let kind = ActivityKind::parse(&text);
            if kind.is_none() {
                faults.push(Fault::new(path, format!("unknown activity kind '{text}'")));
            }
            kind
        })?;
        if kinds.is_empty() {
            faults.push(Fault::new(path, "name at least one activity kind"));
            return None;
        }
        Some(kinds)
    });
    let field = f.optional("field", faults, reader::text);
    let conditions = f
        .optional("where", faults, |value, path, faults| {
            let Value::Object(map) = value else {
                faults.push(Fault::new(path, "expected an object"));
                return None;
            };
            let mut conditions = BTreeMap::new();
            for (key, value) in map {
                let scalar = match value {
                    Value::String(s) => Some(Scalar::Text(s.clone())),
                    Value::Bool(b) => Some(Scalar::Bool(*b)),
                    Value::Number(n) => n.as_i64().map(Scalar::Whole),
                    _ => None,
                };
                match scalar {
                    Some(scalar) => {
                        conditions.insert(key.clone(), scalar);
                    }
                    None => faults.push(Fault::new(join(path, key), "expected a string, a whole number or true/false")),
                }
            }
            Some(conditions)
        })
        .unwrap_or_default();
    f.finish(faults);
    Some(Measure { aggregate: aggregate?, kinds: kinds?, field, conditions })
}

fn read_indicator(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Indicator> {
    let mut f = Fields::of(value, path, faults)?;
    let id = f.required("id", faults, reader::slug);
    let label = f.required("label", faults, reader::text);
    let unit = f.required("unit", faults, reader::text);
    let target = f.required("target", faults, reader::quantity);
    let baseline = f.optional("baseline", faults, reader::quantity);
    let baseline_given = f.has("baseline");
    let due = f.optional("due", faults, reader::date);
    let milestones = f.list("milestones", faults, read_milestone);
    let measure = f.required("measure", faults, read_measure);
    let notes = f.optional("notes", faults, reader::text);
    let sources = source_files(&mut f, faults);
    f.finish(faults);
    let baseline = match baseline {
        Some(baseline) => baseline,
        None if baseline_given => return None,
        None => Quantity::ZERO,
    };
    Some(Indicator {
        id: id?,
        label: label?,
        unit: unit?,
        target: target?,
        baseline,
        due,
        milestones,
        measure: measure?,
        notes,
        sources,
    })
}

fn read_source(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Source> {
    let mut f = Fields::of(value, path, faults)?;
    let file = f.required("file", faults, reader::text);
    let title = f.optional("title", faults, reader::text);
    let url = f.optional("url", faults, reader::url);
    let says = f.list("says", faults, reader::text);
    f.finish(faults);
    Some(Source { file: file?, title, url, says })
}
