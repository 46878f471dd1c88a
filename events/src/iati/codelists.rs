//! The IATI codelists the IATI settings are checked against, shipped as data (`codelists/*.tsv`, one
//! `code<TAB>status<TAB>name` a line; their source is in `codelists/README.md`): DAC 5-digit sectors, OECD DAC
//! regions, countries, organisation types and the org-id.guide prefixes of organisation identifiers.

/// One codelist: its name (for messages) and its lines.
#[derive(Clone, Copy, Debug)]
pub struct Codelist {
    pub name: &'static str,
    text: &'static str,
}

/// A code of a codelist and whether IATI still accepts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub active: bool,
    pub name: &'static str,
}

impl Codelist {
    fn codes(self) -> impl Iterator<Item = Code> {
        self.text.lines().filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            let code = parts.next()?;
            let active = parts.next()? == "active";
            Some(Code { code, active, name: parts.next().unwrap_or("") })
        })
    }

    /// The entry of `code`, active or withdrawn.
    pub fn get(self, code: &str) -> Option<Code> {
        self.codes().find(|c| c.code == code)
    }

    /// Whether `code` is on the list and not withdrawn.
    pub fn is_active(self, code: &str) -> bool {
        self.get(code).is_some_and(|c| c.active)
    }

    /// The active code that `text` starts with, followed by `-` (organisation identifier prefixes: the longest
    /// one, since `XM-DAC` and `XM-DAC-…`-like prefixes could both match).
    pub fn prefix_of(self, text: &str) -> Option<Code> {
        self.codes()
            .filter(|c| c.active && text.strip_prefix(c.code).is_some_and(|rest| rest.starts_with('-')))
            .max_by_key(|c| c.code.len())
    }
}

/// DAC 5-digit purpose codes (sector vocabulary 1).
pub const SECTOR: Codelist = Codelist { name: "DAC 5-digit sector", text: include_str!("codelists/sector.tsv") };
/// OECD DAC regions (region vocabulary 1).
pub const REGION: Codelist = Codelist { name: "OECD DAC region", text: include_str!("codelists/region.tsv") };
/// Countries, ISO 3166-1 alpha-2.
pub const COUNTRY: Codelist = Codelist { name: "IATI country", text: include_str!("codelists/country.tsv") };
/// Types of organisation (`reporting-org/@type`).
pub const ORGANISATION_TYPE: Codelist =
    Codelist { name: "IATI organisation type", text: include_str!("codelists/organisation-type.tsv") };
/// The registration agencies whose codes prefix organisation identifiers (org-id.guide).
pub const REGISTRATION_AGENCY: Codelist = Codelist {
    name: "organisation registration agency",
    text: include_str!("codelists/organisation-registration-agency.tsv"),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_hold_the_codes_iati_publishes() {
        assert!(SECTOR.is_active("15110"));
        assert!(!SECTOR.is_active("99999"));
        assert!(REGION.is_active("89"));
        assert!(COUNTRY.is_active("BE"));
        assert!(ORGANISATION_TYPE.is_active("21"));
        assert_eq!(REGISTRATION_AGENCY.prefix_of("XM-DAC-41114").map(|c| c.code), Some("XM-DAC"));
        assert_eq!(REGISTRATION_AGENCY.prefix_of("GB-COH-09506232").map(|c| c.code), Some("GB-COH"));
        assert_eq!(REGISTRATION_AGENCY.prefix_of("TRACKER-connection"), None);
        assert!(SECTOR.codes().count() > 300, "the whole DAC list");
    }
}
