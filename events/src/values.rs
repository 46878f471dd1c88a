//! Parsed value types of the domain: slugs, money in integer cents, decimal quantities, dates, country,
//! currency and language codes. Each is built only by a `parse` that says what is wrong, so a value that exists
//! is valid ("parse, don't validate").

use std::fmt;
use std::sync::Arc;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not a valid value; the message names the text and says what would be valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn fail<T>(message: String) -> Result<T, ValueError> {
    Err(ValueError(message))
}

macro_rules! string_serde {
    ($type:ty) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$type>::parse(&text).map_err(D::Error::custom)
            }
        }

        impl FromStr for $type {
            type Err = ValueError;
            fn from_str(text: &str) -> Result<Self, ValueError> {
                <$type>::parse(text)
            }
        }
    };
}

/// An identifier of a programme, partner, cluster, indicator or period: `^[a-z0-9][a-z0-9-]{0,62}$`. The text is
/// shared (`Arc<str>`): the same few partner and cluster ids appear in every one of a million activities, and a
/// copy of a slug costs no allocation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slug(Arc<str>);

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, ValueError> {
        let bytes = text.as_bytes();
        let first_ok = bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if !first_ok || !rest_ok || bytes.len() > 63 {
            return fail(format!(
                "'{text}' is not a slug: use 1 to 63 lowercase letters, digits or hyphens, starting with a letter or digit"
            ));
        }
        Ok(Slug(Arc::from(text)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the two share their text (one is a copy of the other): a cheaper test than equality, which
    /// it implies.
    pub fn shares_text(&self, other: &Slug) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Slug {
    fn borrow(&self) -> &str {
        &self.0
    }
}

string_serde!(Slug);

/// Splits a non-negative decimal text with at most two decimals into hundredths and the number of decimals
/// written; `None` when it is not such a text or does not fit.
fn parse_hundredths(text: &str) -> Option<(i64, u8)> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if whole.is_empty() || whole.len() > 15 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Leading zeros would give two texts for one amount; allow only "0" itself.
    if whole.len() > 1 && whole.starts_with('0') {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let (fraction_hundredths, scale) = match fraction {
        None => (0, 0),
        Some(f) if f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()) => return None,
        Some(f) if f.len() == 1 => (f.parse::<i64>().ok()? * 10, 1),
        Some(f) => (f.parse::<i64>().ok()?, 2),
    };
    Some((whole.checked_mul(100)?.checked_add(fraction_hundredths)?, scale))
}

fn write_hundredths(f: &mut fmt::Formatter<'_>, hundredths: i64, scale: u8) -> fmt::Result {
    let sign = if hundredths < 0 { "-" } else { "" };
    let magnitude = hundredths.unsigned_abs();
    let (whole, fraction) = (magnitude / 100, magnitude % 100);
    match scale {
        0 if fraction == 0 => write!(f, "{sign}{whole}"),
        1 if fraction % 10 == 0 => write!(f, "{sign}{whole}.{}", fraction / 10),
        _ => write!(f, "{sign}{whole}.{fraction:02}"),
    }
}

/// An amount of money in the programme's currency, held as integer cents. Parsed from a decimal string with at
/// most two decimals (`"30979.71"`, `"250000"`); always written with exactly two decimals (`"250000.00"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Parses a non-negative amount.
    pub fn parse(text: &str) -> Result<Money, ValueError> {
        match parse_hundredths(text) {
            Some((cents, _)) => Ok(Money(cents)),
            None => fail(format!(
                "'{text}' is not an amount of money: use a decimal string with at most 2 decimals, like \"30979.71\""
            )),
        }
    }

    /// Money from cents; results of arithmetic (sums, differences) may be negative, parsed input never is.
    pub fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    pub fn cents(&self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hundredths(f, self.0, 2)
    }
}

string_serde!(Money);

/// A decimal quantity such as an indicator's target or baseline (`"14"`, `"250000.00"`, `"2.5"`): at most two
/// decimals, held as hundredths, written back with the number of decimals it was given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    hundredths: i64,
    scale: u8,
}

impl Quantity {
    pub const ZERO: Quantity = Quantity { hundredths: 0, scale: 0 };

    /// Parses a non-negative decimal with at most two decimals.
    pub fn parse(text: &str) -> Result<Quantity, ValueError> {
        match parse_hundredths(text) {
            Some((hundredths, scale)) => Ok(Quantity { hundredths, scale }),
            None => fail(format!(
                "'{text}' is not a decimal number: use a decimal string with at most 2 decimals, like \"14\" or \"250000.00\""
            )),
        }
    }

    pub fn from_whole(whole: i64) -> Quantity {
        Quantity { hundredths: whole.saturating_mul(100), scale: 0 }
    }

    /// The amount of money as a quantity with two decimals.
    pub fn from_money(money: Money) -> Quantity {
        Quantity { hundredths: money.cents(), scale: 2 }
    }

    /// A quantity of `hundredths` / 100 written with `scale` (0, 1 or 2) decimals.
    pub fn from_hundredths(hundredths: i64, scale: u8) -> Quantity {
        Quantity { hundredths, scale: scale.min(2) }
    }

    pub fn hundredths(&self) -> i64 {
        self.hundredths
    }

    /// How many decimals the quantity is written with.
    pub fn scale(&self) -> u8 {
        self.scale
    }

    pub fn is_whole(&self) -> bool {
        self.hundredths % 100 == 0
    }

    pub fn is_zero(&self) -> bool {
        self.hundredths == 0
    }

    /// The sum, written with the larger number of decimals of the two.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        Some(Quantity {
            hundredths: self.hundredths.checked_add(other.hundredths)?,
            scale: self.scale.max(other.scale),
        })
    }

    /// Compares the values, whatever the number of decimals they are written with.
    pub fn cmp_value(&self, other: &Quantity) -> std::cmp::Ordering {
        self.hundredths.cmp(&other.hundredths)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hundredths(f, self.hundredths, self.scale)
    }
}

string_serde!(Quantity);

/// An ISO 3166-1 alpha-2 country code, upper case (`"IT"`, `"GR"`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(text: &str) -> Result<CountryCode, ValueError> {
        // The EU's own abbreviations differ from ISO 3166-1 for two countries; say so rather than guess.
        match text {
            "EL" => return fail("'EL' is the EU abbreviation for Greece; the ISO 3166-1 code is 'GR'".to_string()),
            "UK" => {
                return fail("'UK' is not an ISO 3166-1 code; the United Kingdom is 'GB'".to_string());
            }
            _ => {}
        }
        if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_uppercase()) {
            return fail(format!("'{text}' is not an ISO 3166-1 alpha-2 country code like \"IT\""));
        }
        Ok(CountryCode(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(CountryCode);

/// An ISO 4217 currency code, three upper-case letters (`"EUR"`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency(String);

impl Currency {
    pub fn parse(text: &str) -> Result<Currency, ValueError> {
        if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_uppercase()) {
            return fail(format!("'{text}' is not an ISO 4217 currency code like \"EUR\""));
        }
        Ok(Currency(text.to_string()))
    }

    pub fn euro() -> Currency {
        Currency("EUR".to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Currency {
    fn default() -> Currency {
        Currency::euro()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(Currency);

/// An ISO 639-1 language code, two lower-case letters (`"en"`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn parse(text: &str) -> Result<LanguageCode, ValueError> {
        if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_lowercase()) {
            return fail(format!("'{text}' is not an ISO 639-1 language code like \"en\""));
        }
        Ok(LanguageCode(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(LanguageCode);

/// Parses a date written exactly as `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, ValueError> {
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    // With the shape checked, `%Y-%m-%d` reads exactly these three numbers; reading them directly is the same
    // date without the format machinery (dates are parsed for every stored activity on replay).
    let number = |range: std::ops::Range<usize>| text[range].bytes().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    let date = if shape_ok {
        i32::try_from(number(0..4)).ok().and_then(|year| NaiveDate::from_ymd_opt(year, number(5..7), number(8..10)))
    } else {
        None
    };
    match date {
        Some(date) => Ok(date),
        None => fail(format!("'{text}' is not a date (YYYY-MM-DD)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_chrono_reads_them_with_the_format() {
        let mut texts: Vec<String> = vec!["0000-01-01".into(), "2024-02-29".into(), "2023-02-29".into(), "2021-13-01".into(),
            "2021-00-10".into(), "2021-01-00".into(), "2021-04-31".into(), "9999-12-31".into(), "2021-1-01".into(),
            "2021/01/01".into(), "20210-1-01".into(), "+202-01-01".into(), " 2021-01-0".into()];
        for year in [1900, 2000, 2021, 2024] {
            for month in 0..=13 {
                for day in 0..=32 {
                    texts.push(format!("{year:04}-{month:02}-{day:02}"));
                }
            }
        }
        for text in texts {
            let shape_ok = text.len() == 10
                && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
            let expected = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok().filter(|_| shape_ok);
            assert_eq!(parse_date(&text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn money_reads_up_to_two_decimals_and_writes_exactly_two() {
        assert_eq!(Money::parse("30979.71").unwrap().cents(), 3_097_971);
        assert_eq!(Money::parse("250000").unwrap().to_string(), "250000.00");
        assert_eq!(Money::parse("0.5").unwrap().to_string(), "0.50");
        for bad in ["", "1.234", "-1", "1,5", "01", ".5", "5.", "1e3", " 1", "99999999999999999"] {
            assert!(Money::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Money::parse("12.345").unwrap_err().to_string(),
            "'12.345' is not an amount of money: use a decimal string with at most 2 decimals, like \"30979.71\""
        );
    }

    #[test]
    fn quantities_keep_the_decimals_they_were_written_with() {
        assert_eq!(Quantity::parse("14").unwrap().to_string(), "14");
        assert_eq!(Quantity::parse("250000.00").unwrap().to_string(), "250000.00");
        assert_eq!(Quantity::parse("2.5").unwrap().to_string(), "2.5");
        assert!(Quantity::parse("14").unwrap().is_whole());
        assert!(!Quantity::parse("2.5").unwrap().is_whole());
        assert!(Quantity::parse("2.555").is_err());
    }

    #[test]
    fn slugs_follow_the_pattern() {
        assert!(Slug::parse("cop1").is_ok());
        assert!(Slug::parse("0-a").is_ok());
        assert!(Slug::parse(&"a".repeat(63)).is_ok());
        for bad in ["", "-a", "A", "a_b", "a b", "é", &"a".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_must_be_written_in_full() {
        assert!(parse_date("2020-01-01").is_ok());
        for bad in ["2020-1-1", "2020-02-30", "20200101", "2020-01-01T00:00:00Z"] {
            assert_eq!(parse_date(bad).unwrap_err().to_string(), format!("'{bad}' is not a date (YYYY-MM-DD)"));
        }
    }

    #[test]
    fn greece_is_gr_not_el() {
        assert!(CountryCode::parse("GR").is_ok());
        assert!(CountryCode::parse("EL").unwrap_err().to_string().contains("'GR'"));
        assert!(CountryCode::parse("it").is_err());
    }

    proptest::proptest! {
        #[test]
        fn money_written_then_read_is_the_same(cents in 0i64..1_000_000_000_000) {
            let money = Money::from_cents(cents);
            proptest::prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money);
        }

        #[test]
        fn quantities_written_then_read_are_the_same(hundredths in 0i64..1_000_000_000, scale in 0u8..3) {
            let hundredths = match scale { 0 => hundredths / 100 * 100, 1 => hundredths / 10 * 10, _ => hundredths };
            let quantity = Quantity::from_hundredths(hundredths, scale);
            proptest::prop_assert_eq!(Quantity::parse(&quantity.to_string()).unwrap(), quantity);
        }

        #[test]
        fn every_text_matching_the_slug_pattern_is_a_slug(text in "[a-z0-9][a-z0-9-]{0,62}") {
            let slug = Slug::parse(&text).unwrap();
            proptest::prop_assert_eq!(slug.as_str(), text.as_str());
        }

        #[test]
        fn no_text_with_another_character_is_a_slug(prefix in "[a-z0-9]{0,5}", bad in "[A-Z_ .é/]", suffix in "[a-z0-9]{0,5}") {
            let text = format!("{prefix}{bad}{suffix}");
            proptest::prop_assert!(Slug::parse(&text).is_err());
        }
    }
}
