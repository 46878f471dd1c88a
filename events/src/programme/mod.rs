//! The programme definition of SPEC §3 — programme, partners, clusters, reporting periods, indicators with
//! their measures and milestones, and the sources the facts come from — as types, with the lookups by id the
//! rest of the domain uses. Reading a definition from JSON is `parse.rs`; the rules between its parts, which
//! list every fault with its field path (`partners[3].country`), are `rules.rs`.

pub(crate) mod parse;
mod rules;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalogue::{ActivityKind, Scalar};
use crate::values::{CountryCode, Currency, Money, Quantity, Slug};

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

/// A document the definition's facts come from, named by at least one of its file name, its address and its
/// title; partners, clusters and indicators cite it by the first of these it has (`Source::key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The document's file name among the seed documents, e.g. `001_a9070aa1f9a691c6.txt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The facts the definition takes from it.
    pub says: Vec<String>,
}

impl Source {
    /// The name the definition's parts cite the source by: its file, else its address, else its title.
    pub fn key(&self) -> &str {
        self.file.as_deref().or(self.url.as_deref()).or(self.title.as_deref()).unwrap_or_default()
    }

    /// Whether `citation` names this source (by file, address or title).
    pub fn is_cited_by(&self, citation: &str) -> bool {
        [&self.file, &self.url, &self.title].into_iter().flatten().any(|name| name == citation)
    }
}

impl Programme {
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
}
