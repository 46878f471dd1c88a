//! Sign-in throttling (OWASP ASVS 2.2.1): after [`PER_ACCOUNT`] failed attempts for one account name within
//! [`WINDOW`], further attempts for it are refused unchecked until the oldest of them leaves the window; an
//! address that failed [`PER_ADDRESS`] times within the window is refused likewise, whatever names it tries. A
//! success clears the account's failures. Kept in memory: a restart forgets them, and the window is short.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

pub const WINDOW: Duration = Duration::minutes(15);
pub const PER_ACCOUNT: usize = 5;
pub const PER_ADDRESS: usize = 20;

#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    by_account: HashMap<String, VecDeque<DateTime<Utc>>>,
    by_address: HashMap<IpAddr, VecDeque<DateTime<Utc>>>,
}

impl Throttle {
    /// `None` when an attempt for `account` from `address` may be checked now; otherwise when it may be tried
    /// again.
    pub fn refused_until(&self, account: &str, address: Option<IpAddr>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut failures = self.failures.lock();
        let account_until = until(failures.by_account.get_mut(account), PER_ACCOUNT, now);
        let address_until = address.and_then(|a| until(failures.by_address.get_mut(&a), PER_ADDRESS, now));
        account_until.max(address_until)
    }

    /// Notes a failed attempt.
    pub fn failed(&self, account: &str, address: Option<IpAddr>, now: DateTime<Utc>) {
        let mut failures = self.failures.lock();
        // Bounded: a name is kept only while it has failures in the window, trimmed here.
        failures.by_account.retain(|_, times| times.back().is_some_and(|t| *t > now - WINDOW));
        failures.by_address.retain(|_, times| times.back().is_some_and(|t| *t > now - WINDOW));
        failures.by_account.entry(account.to_owned()).or_default().push_back(now);
        if let Some(address) = address {
            failures.by_address.entry(address).or_default().push_back(now);
        }
    }

    /// Notes a successful sign-in: the account's failures are forgotten.
    pub fn succeeded(&self, account: &str) {
        self.failures.lock().by_account.remove(account);
    }
}

/// When the limit over `times` lifts, if it is reached at `now` (dropping times that left the window).
fn until(times: Option<&mut VecDeque<DateTime<Utc>>>, limit: usize, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let times = times?;
    while times.front().is_some_and(|t| *t <= now - WINDOW) {
        times.pop_front();
    }
    (times.len() >= limit).then(|| times[times.len() - limit] + WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_locks_the_account_for_the_window_and_a_success_clears_it() {
        let throttle = Throttle::default();
        let start = Utc::now();
        let address: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        for i in 0..PER_ACCOUNT as i64 {
            assert_eq!(throttle.refused_until("anna", address, start + Duration::seconds(i)), None);
            throttle.failed("anna", address, start + Duration::seconds(i));
        }
        let later = start + Duration::seconds(10);
        assert_eq!(throttle.refused_until("anna", address, later), Some(start + WINDOW));
        assert_eq!(throttle.refused_until("marco", address, later), None, "another account from the same address");
        assert_eq!(throttle.refused_until("anna", address, start + WINDOW + Duration::seconds(1)), None, "the oldest left");
        throttle.succeeded("anna");
        assert_eq!(throttle.refused_until("anna", address, later), None);
    }

    #[test]
    fn an_address_that_fails_for_many_names_is_refused_for_every_name() {
        let throttle = Throttle::default();
        let now = Utc::now();
        let address: Option<IpAddr> = Some("10.0.0.7".parse().unwrap());
        for i in 0..PER_ADDRESS {
            throttle.failed(&format!("name{i}"), address, now);
        }
        assert_eq!(throttle.refused_until("fresh", address, now), Some(now + WINDOW));
        assert_eq!(throttle.refused_until("fresh", Some("10.0.0.8".parse().unwrap()), now), None);
    }
}
