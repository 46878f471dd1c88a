//! A progress report's query as people write it — `as_of`, `known_at`, `at_position` — parsed and checked
//! against the log once, for the HTTP API, the dashboard and `tracker report` alike, with faults that name the
//! field and the expected form.

use chrono::NaiveDate;
use events::Timestamp;

use crate::report::ReportRequest;

/// A query value that cannot be used: the field it came from and why, in words a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct QueryFault {
    /// The field as the API names it (`as_of`, `known_at`, `at_position`).
    pub field: &'static str,
    pub message: String,
}

impl QueryFault {
    fn new(field: &'static str, message: String) -> QueryFault {
        QueryFault { field, message }
    }
}

/// A calendar day written `YYYY-MM-DD`.
pub fn parse_as_of(text: &str) -> Result<NaiveDate, QueryFault> {
    events::values::parse_date(text)
        .map_err(|_| QueryFault::new("as_of", format!("'{text}' is not a date; write it YYYY-MM-DD, e.g. 2022-06-30")))
}

/// A moment written in RFC 3339, with its offset.
pub fn parse_known_at(text: &str) -> Result<Timestamp, QueryFault> {
    Timestamp::parse_rfc3339(text.trim()).map_err(|_| {
        QueryFault::new("known_at", format!("'{text}' is not an RFC 3339 time; write it e.g. 2022-06-30T23:59:59Z"))
    })
}

/// A log position: a whole number, 0 meaning "before the first event".
pub fn parse_at_position(text: &str) -> Result<u64, QueryFault> {
    text.trim().parse().map_err(|_| {
        QueryFault::new("at_position", format!("'{text}' is not a log position; write a whole number such as 42"))
    })
}

impl ReportRequest {
    /// Whether the log can answer the request: one of `at_position` and `known_at` at most, a position the log
    /// has reached (`head`), a moment that is not in the future (`now`).
    pub fn check(&self, head: u64, now: Timestamp) -> Result<(), QueryFault> {
        if self.at_position.is_some() && self.known_at.is_some() {
            return Err(QueryFault::new("at_position", "give at_position or known_at, not both".to_owned()));
        }
        if let Some(position) = self.at_position.filter(|&p| p > head) {
            return Err(QueryFault::new(
                "at_position",
                format!("position {position} is beyond the head of the log ({head}); ask for {head} or less"),
            ));
        }
        if let Some(at) = self.known_at.filter(|&at| at > now) {
            return Err(QueryFault::new("known_at", format!("{} is in the future", at.to_rfc3339())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_name_the_field_and_the_form_expected() {
        assert_eq!(parse_as_of("2022-06-30"), Ok(NaiveDate::from_ymd_opt(2022, 6, 30).unwrap()));
        assert_eq!(parse_as_of("2022-6-30").unwrap_err().field, "as_of");
        let fault = parse_as_of("2022-13-01").unwrap_err();
        assert_eq!(fault.field, "as_of");
        assert!(fault.message.contains("YYYY-MM-DD"), "{fault}");
        let fault = parse_known_at("yesterday").unwrap_err();
        assert_eq!(fault.field, "known_at");
        assert!(fault.message.contains("RFC 3339") && !fault.message.contains("envelope"), "{fault}");
        assert_eq!(parse_at_position(" 7 "), Ok(7));
        assert_eq!(parse_at_position("-1").unwrap_err().field, "at_position");
    }

    #[test]
    fn a_request_beyond_the_head_or_in_the_future_is_refused() {
        let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let at = |position| ReportRequest { at_position: Some(position), ..ReportRequest::default() };
        assert_eq!(at(10).check(10, now), Ok(()));
        let fault = at(11).check(10, now).unwrap_err();
        assert_eq!(fault.field, "at_position");
        assert!(fault.message.contains("beyond the head of the log (10)"), "{fault}");
        let later = ReportRequest { known_at: Some(Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap()), ..ReportRequest::default() };
        assert_eq!(later.check(10, now).unwrap_err().field, "known_at");
        let both = ReportRequest { known_at: Some(now), ..at(1) };
        assert!(both.check(10, now).unwrap_err().message.contains("not both"));
    }
}
