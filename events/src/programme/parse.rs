//! Reading a programme definition and its parts from JSON (`POST /v1/programmes`, the requests that add a
//! partner, cluster, period or indicator, and stored events) with the field-by-field reader, so that every
//! structural fault is reported at once with its path. The rules between the parts are `rules.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{
    Aggregate, Cluster, Indicator, Measure, Milestone, Partner, PartnerKind, PartnerRole, Programme, ReportingPeriod,
    Source,
};
use crate::catalogue::{ActivityKind, Scalar};
use crate::faults::{join, Fault, Faults};
use crate::reader::{self, Fields};
use crate::values::{CountryCode, Currency, Quantity};

// The JSON names of the enums, for reading; serde's `rename_all` gives the same names when writing.
pub(crate) const PARTNER_KINDS: &[(&str, PartnerKind)] = &[
    ("city", PartnerKind::City),
    ("region", PartnerKind::Region),
    ("network", PartnerKind::Network),
    ("ngo", PartnerKind::Ngo),
    ("expert", PartnerKind::Expert),
    ("other", PartnerKind::Other),
];

pub(crate) const PARTNER_ROLES: &[(&str, PartnerRole)] = &[
    ("coordinator", PartnerRole::Coordinator),
    ("expert", PartnerRole::Expert),
    ("core_city", PartnerRole::CoreCity),
    ("fellow_city", PartnerRole::FellowCity),
    ("regional_partner", PartnerRole::RegionalPartner),
    ("advisory", PartnerRole::Advisory),
    ("other", PartnerRole::Other),
];

pub(crate) const AGGREGATES: &[(&str, Aggregate)] =
    &[("count", Aggregate::Count), ("sum", Aggregate::Sum), ("distinct", Aggregate::Distinct)];

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
    let file = f.optional("file", faults, reader::text);
    let title = f.optional("title", faults, reader::text);
    let url = f.optional("url", faults, reader::url);
    let says = f.list("says", faults, reader::text);
    f.finish(faults);
    let given = |field: &str| value.get(field).is_some_and(|v| !v.is_null());
    if !["file", "title", "url"].into_iter().any(given) {
        faults.push(Fault::new(path, "a source needs a file, a url or a title (at least one) to be cited by"));
        return None;
    }
    Some(Source { file, title, url, says })
}
