//! The parts of the IATI document that come from the programme's IATI settings or are derived from the
//! definition when a setting is absent: budgets in periods of at most a year (the coordinator's, or the
//! programme's whole budget split pro rata by days into calendar years), recipient countries (the
//! coordinator's, or the partners' countries), and the IATI rules the document cannot meet with the settings
//! it has, each with the setting that would fix it.

use chrono::{Datelike, NaiveDate};
use events::iati::codelists::COUNTRY;
use events::{IatiSettings, Money, Programme, Quantity};

/// One `budget` element: a period of at most a year and its amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BudgetLine {
    pub(super) starts_on: NaiveDate,
    pub(super) ends_on: NaiveDate,
    pub(super) amount: Money,
}

/// Where the budget lines come from, which the document states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Budgets {
    /// Per period, as the IATI settings give them.
    Given(Vec<BudgetLine>),
    /// The programme's whole budget split pro rata by days into the calendar years it spans.
    ProRata { total: Money, lines: Vec<BudgetLine> },
    /// Neither the programme nor its settings state a budget.
    None,
}

pub(super) fn budgets(programme: &Programme, settings: Option<&IatiSettings>) -> Budgets {
    match (settings.map(|s| &s.budgets).filter(|b| !b.is_empty()), programme.budget) {
        (Some(given), _) => Budgets::Given(
            given.iter().map(|b| BudgetLine { starts_on: b.starts_on, ends_on: b.ends_on, amount: b.amount }).collect(),
        ),
        (None, Some(total)) => Budgets::ProRata { total, lines: pro_rata(total, programme.starts_on, programme.ends_on) },
        (None, None) => Budgets::None,
    }
}

/// `total` split over the calendar years from `starts_on` to `ends_on` (the first and last cut to those days) in
/// proportion to each year's days. Each year gets the whole cents of its share; the cents left over go one each to
/// the years with the largest remainders (the earlier first on a tie), so the lines add up to `total` exactly.
pub(super) fn pro_rata(total: Money, starts_on: NaiveDate, ends_on: NaiveDate) -> Vec<BudgetLine> {
    let mut periods = Vec::new();
    let mut start = starts_on;
    while start <= ends_on {
        let year_end = NaiveDate::from_ymd_opt(start.year(), 12, 31).unwrap_or(ends_on);
        let end = year_end.min(ends_on);
        periods.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    let days: Vec<i128> = periods.iter().map(|(s, e)| i128::from((*e - *s).num_days() + 1)).collect();
    let all_days: i128 = days.iter().sum();
    let cents = i128::from(total.cents());
    if all_days == 0 {
        return Vec::new();
    }
    let mut shares: Vec<i128> = days.iter().map(|d| cents * d / all_days).collect();
    let mut left = cents - shares.iter().sum::<i128>();
    let mut by_remainder: Vec<usize> = (0..days.len()).collect();
    by_remainder.sort_by_key(|&i| (std::cmp::Reverse(cents * days[i] % all_days), i));
    for &i in by_remainder.iter().cycle().take(days.len().max(1) * 2) {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    periods
        .into_iter()
        .zip(shares)
        .map(|((starts_on, ends_on), cents)| BudgetLine {
            starts_on,
            ends_on,
            amount: Money::from_cents(i64::try_from(cents).unwrap_or(i64::MAX)),
        })
        .collect()
}

/// Recipient countries with their percentages, and whether they were derived from the partners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Recipients {
    Countries { countries: Vec<(String, Option<Quantity>)>, from_partners: Option<PartnerCountries> },
    Region(String),
    None,
}

/// How the partners' countries were counted, for the document's note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PartnerCountries {
    pub(super) partners: usize,
    /// Partners whose country is unknown or not on IATI's country list.
    pub(super) left_out: usize,
}

pub(super) fn recipients(programme: &Programme, settings: Option<&IatiSettings>) -> Recipients {
    if let Some(settings) = settings {
        if let Some(region) = &settings.recipient_region {
            return Recipients::Region(region.clone());
        }
        if !settings.recipient_countries.is_empty() {
            let countries = settings.recipient_countries.iter().map(|s| (s.code.clone(), s.percentage)).collect();
            return Recipients::Countries { countries, from_partners: None };
        }
    }
    // Each partner with a known country weighs the same.
    let mut counts: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    let mut left_out = 0;
    for partner in &programme.partners {
        match partner.country.as_ref().filter(|c| COUNTRY.is_active(c.as_str())) {
            Some(country) => *counts.entry(country.as_str()).or_default() += 1,
            None => left_out += 1,
        }
    }
    let partners: i64 = counts.values().sum();
    if partners == 0 {
        return Recipients::None;
    }
    let hundredths = largest_remainder(10_000, &counts.values().copied().collect::<Vec<_>>());
    let single = counts.len() == 1;
    let countries = counts
        .keys()
        .zip(hundredths)
        .map(|(code, h)| (code.to_string(), (!single).then(|| Quantity::from_hundredths(h, 2))))
        .collect();
    let partners = usize::try_from(partners).unwrap_or(usize::MAX);
    Recipients::Countries { countries, from_partners: Some(PartnerCountries { partners, left_out }) }
}

/// `total` split in proportion to `weights` in whole units that add up to `total` (largest remainders first).
fn largest_remainder(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i64 = weights.iter().sum();
    let mut shares: Vec<i64> = weights.iter().map(|w| total * w / sum).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(total * weights[i] % sum), i));
    let left = usize::try_from(total - shares.iter().sum::<i64>()).unwrap_or(0);
    for &i in order.iter().take(left) {
        shares[i] += 1;
    }
    shares
}

/// An IATI rule the document does not meet, and the setting that would make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmetRule {
    /// The rule's id in IATI's validator, e.g. `1.1.21`.
    pub rule: &'static str,
    /// What is wrong and how to fix it, in a sentence.
    pub message: &'static str,
    /// The field of `PUT …/iati-settings` that fixes it.
    pub setting: &'static str,
}

/// The rules that the document made from these settings cannot meet.
pub(super) fn unmet_rules(settings: Option<&IatiSettings>, recipients: &Recipients) -> Vec<UnmetRule> {
    let org = settings.and_then(|s| s.reporting_org.as_ref());
    let mut unmet = Vec::new();
    if org.and_then(|o| o.reference.as_ref()).is_none() {
        unmet.push(UnmetRule {
            rule: "1.14.8",
            message: "reporting-org/@ref is empty: it must be the publisher's organisation identifier with a registered \
                      prefix (org-id.guide), such as XM-DAC-41114; set reporting_org.ref",
            setting: "reporting_org.ref",
        });
    }
    if settings.and_then(|s| s.activity_identifier.as_ref()).is_none() {
        unmet.push(UnmetRule {
            rule: "1.1.21",
            message: "iati-identifier is empty: it must be the reporting organisation's identifier, a hyphen and the \
                      activity's own id; set activity_identifier",
            setting: "activity_identifier",
        });
    }
    if org.and_then(|o| o.org_type.as_ref()).is_none() {
        unmet.push(UnmetRule {
            rule: "6.3.1",
            message: "reporting-org/@type is empty: it must be a code of IATI's OrganisationType list; set reporting_org.type",
            setting: "reporting_org.type",
        });
    }
    if settings.is_none_or(|s| s.sectors.is_empty()) {
        unmet.push(UnmetRule {
            rule: "6.2.2",
            message: "the activity has no sector: give its DAC 5-digit purpose codes; set sectors",
            setting: "sectors",
        });
    }
    if *recipients == Recipients::None {
        unmet.push(UnmetRule {
            rule: "3.7.1",
            message: "the activity has no recipient country or region, and no partner has a country; set \
                      recipient_countries or recipient_region",
            setting: "recipient_countries",
        });
    }
    unmet
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_budget_is_split_by_days_into_calendar_years_to_the_cent() {
        let total = Money::parse("1874876.03").unwrap();
        let lines = pro_rata(total, day("2020-01-01"), day("2022-12-31"));
        let spans: Vec<(String, String)> = lines.iter().map(|l| (l.starts_on.to_string(), l.ends_on.to_string())).collect();
        assert_eq!(spans[0], ("2020-01-01".into(), "2020-12-31".into()));
        assert_eq!(spans[2], ("2022-01-01".into(), "2022-12-31".into()));
        // 366 + 365 + 365 days: 187487603 × 366 / 1096 = 62609911 remainder 242, × 365 / 1096 = 62438845
        // remainder 975 (twice); the two cents left go to the two years with the larger remainder.
        let cents: Vec<i64> = lines.iter().map(|l| l.amount.cents()).collect();
        assert_eq!(cents, [62_609_911, 62_438_846, 62_438_846]);
        assert_eq!(cents.iter().sum::<i64>(), total.cents());
        let short = pro_rata(Money::from_cents(100), day("2021-07-01"), day("2022-06-30"));
        assert_eq!(short.iter().map(|l| l.amount.cents()).sum::<i64>(), 100);
        assert_eq!(short.len(), 2);
    }

    #[test]
    fn shares_add_up_to_the_whole() {
        assert_eq!(largest_remainder(10_000, &[1, 1, 1]), [3334, 3333, 3333]);
        assert_eq!(largest_remainder(10_000, &[5, 2]).iter().sum::<i64>(), 10_000);
    }
}
