//! A programme's IATI settings: what an IATI 2.03 activity file needs that the programme definition does not
//! say — the reporting organisation's identifier, name and type, the activity identifier, DAC sectors,
//! recipient countries or a region, and budgets per period of at most a year. Set by the coordinator
//! (`IatiSettingsChanged`); every part may be left unset, and the export then says which IATI rule it cannot
//! meet rather than invent a value. Reading the JSON form is structural only (stored events must always load);
//! [`IatiSettings::check`] holds the rules against the programme and the IATI codelists (`codelists.rs`), and
//! is applied when the settings are decided (`command.rs`).

pub mod codelists;
mod command;

use std::collections::BTreeSet;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::faults::{index, join, Fault, Faults};
use crate::programme::Programme;
use crate::reader::{self, Fields};
use crate::values::{CountryCode, Money, Quantity};

pub use command::set_iati_settings;

/// What an IATI file needs beyond the programme definition. Empty when nothing is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IatiSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_org: Option<ReportingOrg>,
    /// The IATI activity identifier: the reporting organisation's identifier, `-`, and the activity's own id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_identifier: Option<String>,
    /// DAC 5-digit purpose codes (vocabulary 1) with their shares.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<Share>,
    /// ISO 3166-1 alpha-2 countries with their shares; empty when a region is given instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipient_countries: Vec<Share>,
    /// An OECD DAC region code (vocabulary 1), instead of countries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_region: Option<String>,
    /// The budget by period (each at most a year); when empty, the programme's budget is split pro rata.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<PeriodBudget>,
}

/// The organisation that publishes the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReportingOrg {
    /// Its organisation identifier, a registered prefix and the number the registry gave it: `XM-DAC-41114`.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Its name; the coordinator's name when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its IATI organisation type code, e.g. `"21"` (international NGO).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub org_type: Option<String>,
}

/// A code and its share in per cent; the share may be left out when there is only one code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Share {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Quantity>,
}

/// The budget of one period of at most a year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeriodBudget {
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub amount: Money,
}

/// Whether a budget or reporting period from `starts_on` to `ends_on` is at most a year long as IATI counts it
/// (rule 7.5.3: the end is not after the start plus one year).
pub fn within_a_year(starts_on: NaiveDate, ends_on: NaiveDate) -> bool {
    starts_on.checked_add_months(Months::new(12)).is_none_or(|limit| ends_on <= limit)
}

impl IatiSettings {
    /// Reads the body of `PUT …/iati-settings` (or a stored payload): every structural fault at once.
    pub fn parse(value: &Value) -> Result<IatiSettings, Faults> {
        let mut faults = Vec::new();
        match read_settings(value, "", &mut faults) {
            Some(settings) if faults.is_empty() => Ok(settings),
            _ => Err(Faults::validation(faults)),
        }
    }

    /// The rules between the settings, the programme and the IATI codelists; every fault with its field.
    pub fn check(&self, programme: &Programme) -> Vec<Fault> {
        let mut faults = Vec::new();
        let reference = self.reporting_org.as_ref().and_then(|o| o.reference.as_deref());
        if let Some(org) = &self.reporting_org {
            if let Some(reference) = &org.reference {
                check_org_identifier(reference, "reporting_org.ref", &mut faults);
            }
            if let Some(code) = &org.org_type {
                if !codelists::ORGANISATION_TYPE.is_active(code) {
                    faults.push(unknown_code(codelists::ORGANISATION_TYPE, code, "reporting_org.type", "\"21\" (international NGO)"));
                }
            }
        }
        if let Some(identifier) = &self.activity_identifier {
            check_activity_identifier(identifier, reference, &mut faults);
        }
        check_shares(&self.sectors, "sectors", &mut faults, |code, path, faults| {
            if code.len() != 5 || !code.bytes().all(|b| b.is_ascii_digit()) {
                faults.push(Fault::new(path, format!("'{code}' is not a DAC 5-digit purpose code like \"15110\"")));
            } else if !codelists::SECTOR.is_active(code) {
                faults.push(unknown_code(codelists::SECTOR, code, path, "\"15110\""));
            }
        });
        check_shares(&self.recipient_countries, "recipient_countries", &mut faults, |code, path, faults| {
            if let Err(e) = CountryCode::parse(code) {
                faults.push(Fault::new(path, e.0));
            } else if !codelists::COUNTRY.is_active(code) {
                faults.push(unknown_code(codelists::COUNTRY, code, path, "\"IT\""));
            }
        });
        if let Some(region) = &self.recipient_region {
            if !codelists::REGION.is_active(region) {
                faults.push(unknown_code(codelists::REGION, region, "recipient_region", "\"89\" (Europe, regional)"));
            }
            if !self.recipient_countries.is_empty() {
                faults.push(Fault::new(
                    "recipient_region",
                    "give recipient countries or a recipient region, not both: leave one of them out",
                ));
            }
        }
        self.check_budgets(programme, &mut faults);
        faults
    }

    fn check_budgets(&self, programme: &Programme, faults: &mut Vec<Fault>) {
        let mut total = Some(Money::ZERO);
        for (i, budget) in self.budgets.iter().enumerate() {
            let path = index("budgets", i);
            if budget.ends_on < budget.starts_on {
                faults.push(Fault::new(join(&path, "ends_on"), format!("{} is before starts_on {}", budget.ends_on, budget.starts_on)));
            } else if !within_a_year(budget.starts_on, budget.ends_on) {
                faults.push(Fault::new(
                    join(&path, "ends_on"),
                    format!("a budget period may last at most a year (IATI rule 7.5.3): {} to {} is longer; split it", budget.starts_on, budget.ends_on),
                ));
            }
            if budget.starts_on < programme.starts_on || budget.ends_on > programme.ends_on {
                faults.push(Fault::new(
                    path.clone(),
                    format!("the period must lie within the programme, {} to {}", programme.starts_on, programme.ends_on),
                ));
            }
            if let Some((j, other)) = self.budgets[..i]
                .iter()
                .enumerate()
                .find(|(_, o)| o.starts_on <= budget.ends_on && budget.starts_on <= o.ends_on)
            {
                faults.push(Fault::new(
                    join(&path, "starts_on"),
                    format!("overlaps budgets[{j}] ({} to {})", other.starts_on, other.ends_on),
                ));
            }
            total = total.and_then(|t| t.checked_add(budget.amount));
        }
        if let (Some(total), Some(budget)) = (total, programme.budget) {
            if !self.budgets.is_empty() && total != budget {
                faults.push(Fault::new(
                    "budgets",
                    format!("the budgets add up to {total} but the programme's budget is {budget}: they must be equal"),
                ));
            }
        }
    }
}

fn unknown_code(list: codelists::Codelist, code: &str, path: &str, example: &str) -> Fault {
    let message = match list.get(code) {
        Some(entry) => format!("'{code}' ({}) is withdrawn from the {} codelist: use an active code", entry.name, list.name),
        None => format!("'{code}' is not on the {} codelist: use a code such as {example}", list.name),
    };
    Fault::new(path, message)
}

/// Characters IATI refuses in identifiers (rules 1.x.13), and any whitespace.
fn bad_identifier_char(c: char) -> bool {
    matches!(c, '/' | '&' | '|' | '?') || c.is_whitespace()
}

/// An organisation identifier: a registered agency prefix (org-id.guide), `-`, and the registry's number.
fn check_org_identifier(reference: &str, path: &str, faults: &mut Vec<Fault>) {
    if let Some(c) = reference.chars().find(|c| bad_identifier_char(*c)) {
        faults.push(Fault::new(path, format!("an organisation identifier may not contain {c:?} (nor spaces, /, &, | or ?)")));
        return;
    }
    match codelists::REGISTRATION_AGENCY.prefix_of(reference) {
        Some(agency) if reference.len() > agency.code.len() + 1 => {}
        Some(agency) => faults.push(Fault::new(
            path,
            format!("'{reference}' has the prefix {} ({}) but no number after it", agency.code, agency.name),
        )),
        None => faults.push(Fault::new(
            path,
            format!(
                "'{reference}' does not start with a registered organisation-identifier prefix (org-id.guide) and '-': \
                 use the identifier your registry gave, e.g. 'XM-DAC-41114' or 'GB-COH-09506232'"
            ),
        )),
    }
}

/// The activity identifier: the reporting organisation's identifier, `-`, and something of its own (rule 1.1.21).
fn check_activity_identifier(identifier: &str, reference: Option<&str>, faults: &mut Vec<Fault>) {
    const PATH: &str = "activity_identifier";
    if let Some(c) = identifier.chars().find(|c| bad_identifier_char(*c)) {
        faults.push(Fault::new(PATH, format!("an activity identifier may not contain {c:?} (nor spaces, /, &, | or ?)")));
        return;
    }
    match reference {
        None => faults.push(Fault::new(
            PATH,
            "set reporting_org.ref as well: an activity identifier starts with the reporting organisation's identifier",
        )),
        Some(reference) => {
            let own = identifier.strip_prefix(reference).and_then(|rest| rest.strip_prefix('-'));
            if own.is_none_or(str::is_empty) {
                faults.push(Fault::new(
                    PATH,
                    format!("must be the reporting organisation's identifier, '-' and the activity's own id, like '{reference}-connection' (IATI rule 1.1.21)"),
                ));
            }
        }
    }
}

/// Codes with shares: each code valid and given once, and the shares (required when there are several) in
/// (0, 100] adding up to 100.
fn check_shares(shares: &[Share], path: &str, faults: &mut Vec<Fault>, check_code: impl Fn(&str, &str, &mut Vec<Fault>)) {
    let mut seen = BTreeSet::new();
    let mut sum = 0i64;
    // Whether every share is given and valid, so that their sum is worth checking.
    let mut all_given = true;
    for (i, share) in shares.iter().enumerate() {
        let item = index(path, i);
        check_code(&share.code, &join(&item, "code"), faults);
        if !seen.insert(share.code.as_str()) {
            faults.push(Fault::new(join(&item, "code"), format!("'{}' is given twice", share.code)));
        }
        match share.percentage {
            Some(p) if p.is_zero() || p.hundredths() > 10_000 => {
                all_given = false;
                faults.push(Fault::new(join(&item, "percentage"), format!("{p} is not a share above 0 and at most 100")));
            }
            Some(p) => sum += p.hundredths(),
            None if shares.len() > 1 => {
                all_given = false;
                faults.push(Fault::new(join(&item, "percentage"), "required when there is more than one"));
            }
            None => sum += 10_000,
        }
    }
    if !shares.is_empty() && all_given && sum != 10_000 {
        let sum = Quantity::from_hundredths(sum, 2);
        faults.push(Fault::new(path, format!("the percentages add up to {sum}, not 100")));
    }
}

fn read_settings(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<IatiSettings> {
    let mut f = Fields::of(value, path, faults)?;
    let reporting_org = f.optional("reporting_org", faults, read_reporting_org);
    let activity_identifier = f.optional("activity_identifier", faults, reader::text);
    let sectors = f.list("sectors", faults, read_share);
    let recipient_countries = f.list("recipient_countries", faults, read_share);
    let recipient_region = f.optional("recipient_region", faults, reader::text);
    let budgets = f.list("budgets", faults, read_budget);
    f.finish(faults);
    Some(IatiSettings { reporting_org, activity_identifier, sectors, recipient_countries, recipient_region, budgets })
}

fn read_reporting_org(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<ReportingOrg> {
    let mut f = Fields::of(value, path, faults)?;
    let reference = f.optional("ref", faults, reader::text);
    let name = f.optional("name", faults, reader::text);
    let org_type = f.optional("type", faults, reader::text);
    f.finish(faults);
    Some(ReportingOrg { reference, name, org_type })
}

fn read_share(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<Share> {
    let mut f = Fields::of(value, path, faults)?;
    let code = f.required("code", faults, reader::text);
    let percentage = f.optional("percentage", faults, reader::quantity);
    f.finish(faults);
    Some(Share { code: code?, percentage })
}

fn read_budget(value: &Value, path: &str, faults: &mut Vec<Fault>) -> Option<PeriodBudget> {
    let mut f = Fields::of(value, path, faults)?;
    let starts_on = f.required("starts_on", faults, reader::date);
    let ends_on = f.required("ends_on", faults, reader::date);
    let amount = f.required("amount", faults, reader::money);
    f.finish(faults);
    Some(PeriodBudget { starts_on: starts_on?, ends_on: ends_on?, amount: amount? })
}

impl<'de> Deserialize<'de> for IatiSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        IatiSettings::parse(&value).map_err(serde::de::Error::custom)
    }
}
