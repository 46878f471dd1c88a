//! Faults: everything a command or a definition got wrong, reported all at once, each naming its field.
//!
//! A [`Faults`] value carries one [`FaultKind`] that the HTTP layer maps to a status code (validation → 422,
//! conflict → 409, locked → 423, forbidden → 403, not found → 404) and the list of `{field, message}` pairs
//! that become the `errors` of a problem response. Messages have no trailing period.

use std::fmt;

use serde::Serialize;

/// One thing wrong, at one place of the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// Where the fault is: a dotted path with indices, e.g. `partners[3].country` or `participants.women`.
    /// Empty when the fault concerns the whole input.
    pub field: String,
    pub message: String,
}

impl Fault {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Fault {
        Fault { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Why a command was refused, which decides the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The content is invalid (422).
    Validation,
    /// The command does not fit the current state: already exists, wrong status (409).
    Conflict,
    /// The reporting period the activity falls in is locked (423).
    Locked,
    /// The actor may not do this (403).
    Forbidden,
    /// The programme, activity or period does not exist (404).
    NotFound,
}

impl FaultKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FaultKind::Validation => "validation",
            FaultKind::Conflict => "conflict",
            FaultKind::Locked => "locked",
            FaultKind::Forbidden => "forbidden",
            FaultKind::NotFound => "not_found",
        }
    }
}

/// The error of every command handler and of every parse of an input: one kind and at least one fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Faults {
    kind: FaultKind,
    faults: Vec<Fault>,
}

impl Faults {
    /// Faults of the given kind; `faults` should not be empty.
    pub fn new(kind: FaultKind, faults: Vec<Fault>) -> Faults {
        Faults { kind, faults }
    }

    pub fn one(kind: FaultKind, field: impl Into<String>, message: impl Into<String>) -> Faults {
        Faults { kind, faults: vec![Fault::new(field, message)] }
    }

    pub fn validation(faults: Vec<Fault>) -> Faults {
        Faults::new(FaultKind::Validation, faults)
    }

    pub fn kind(&self) -> FaultKind {
        self.kind
    }

    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    pub fn into_faults(self) -> Vec<Fault> {
        self.faults
    }

    /// The same faults with `prefix.` put before every field, e.g. `changes.` for a correction.
    pub fn prefixed(mut self, prefix: &str) -> Faults {
        for fault in &mut self.faults {
            fault.field = join(prefix, &fault.field);
        }
        self
    }

    /// `Ok(())` when `faults` is empty, otherwise validation faults.
    pub fn check(faults: Vec<Fault>) -> Result<(), Faults> {
        if faults.is_empty() {
            Ok(())
        } else {
            Err(Faults::validation(faults))
        }
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind.as_str())?;
        for (i, fault) in self.faults.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{fault}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Faults {}

/// Joins a path prefix and a field: `join("partners[3]", "country")` is `partners[3].country`.
pub(crate) fn join(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// `items[3]` under `prefix`.
pub(crate) fn index(prefix: &str, i: usize) -> String {
    format!("{prefix}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_as_a_list_of_fields_and_messages() {
        let faults = Faults::validation(vec![
            Fault::new("visitor", "unknown partner 'atlantis'"),
            Fault::new("", "expected an object"),
        ]);
        assert_eq!(faults.to_string(), "validation: visitor: unknown partner 'atlantis'; expected an object");
        assert_eq!(faults.clone().prefixed("changes").faults()[1].field, "changes");
        assert_eq!(faults.prefixed("changes").faults()[0].field, "changes.visitor");
        assert_eq!(FaultKind::NotFound.as_str(), "not_found");
        assert_eq!(serde_json::to_value(FaultKind::Locked).unwrap(), "locked");
        assert_eq!(Faults::check(vec![]), Ok(()));
    }
}
