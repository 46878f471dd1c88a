//! Sign-in throttling (OWASP ASVS 2.2.1): after [`PER_ACCOUNT`] failed attempts for one account name within
//! [`WINDOW`], further attempts for it are refused unchecked until the oldest of them leaves the window; an
//! address that failed [`PER_ADDRESS`] times within the window is refused likewise, whatever names it tries. A
//! success clears the account's failures.
//!
//! The failures are kept in the record store (table `sign_in_failures`), not in one server's memory: every
//! server sharing a PostgreSQL store counts the same failures, so adding servers adds no attempts, and a restart
//! forgets none. One record per account name (`account:NAME`) and per address (`address:IP`) holds the times of
//! its failures still in the window; a failure is added by compare-and-swap, tried again when another server
//! changed the record meanwhile. Records whose failures all left the window are removed, by each server at
//! most once a minute.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

use crate::store::{ReadError, RecordStore, Table};

pub const WINDOW: Duration = Duration::minutes(15);
pub const PER_ACCOUNT: usize = 5;
pub const PER_ADDRESS: usize = 20;
/// How often a server removes records whose failures all left the window.
const PRUNE_EVERY: Duration = Duration::minutes(1);

#[derive(Debug)]
pub struct Throttle {
    store: Arc<dyn RecordStore>,
    /// When this server last removed spent records.
    pruned: Mutex<DateTime<Utc>>,
}

impl Throttle {
    pub fn new(store: Arc<dyn RecordStore>) -> Throttle {
        Throttle { store, pruned: Mutex::new(DateTime::<Utc>::MIN_UTC) }
    }

    /// `None` when an attempt for `account` from `address` may be checked now; otherwise when it may be tried
    /// again.
    pub fn refused_until(&self, account: &str, address: Option<IpAddr>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ReadError> {
        let account_until = until(&self.failures(&account_key(account))?, PER_ACCOUNT, now);
        let address_until = match address {
            Some(address) => until(&self.failures(&address_key(address))?, PER_ADDRESS, now),
            None => None,
        };
        Ok(account_until.max(address_until))
    }

    /// Notes a failed attempt.
    pub fn failed(&self, account: &str, address: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), ReadError> {
        self.add(&account_key(account), now)?;
        if let Some(address) = address {
            self.add(&address_key(address), now)?;
        }
        self.prune(now)
    }

    /// Notes a successful sign-in: the account's failures are forgotten.
    pub fn succeeded(&self, account: &str) -> Result<(), ReadError> {
        self.store.remove(Table::SignInFailures, &account_key(account)).map(drop)
    }

    /// The failures stored under `key`, oldest first.
    fn failures(&self, key: &str) -> Result<Vec<DateTime<Utc>>, ReadError> {
        Ok(self.store.get(Table::SignInFailures, key)?.map(|bytes| decode(&bytes)).unwrap_or_default())
    }

    /// Adds the failure at `now` to the record at `key`, keeping only what the limits need.
    fn add(&self, key: &str, now: DateTime<Utc>) -> Result<(), ReadError> {
        loop {
            let stored = self.store.get(Table::SignInFailures, key)?;
            let mut times = stored.as_deref().map(decode).unwrap_or_default();
            times.retain(|t| *t > now - WINDOW);
            times.push(now);
            times.sort_unstable();
            let keep = times.len().saturating_sub(PER_ACCOUNT.max(PER_ADDRESS));
            times.drain(..keep);
            let value = encode(&times);
            let written = match &stored {
                None => self.store.insert_new(Table::SignInFailures, key, &value)?,
                Some(current) => self.store.replace(Table::SignInFailures, key, current, &value)?,
            };
            // Otherwise another server changed the record meanwhile: add to what it wrote.
            if written {
                return Ok(());
            }
        }
    }

    /// Removes the records whose failures all left the window, at most once a [`PRUNE_EVERY`] per server.
    fn prune(&self, now: DateTime<Utc>) -> Result<(), ReadError> {
        {
            let mut pruned = self.pruned.lock();
            if now - *pruned < PRUNE_EVERY {
                return Ok(());
            }
            *pruned = now;
        }
        for (key, bytes) in self.store.list(Table::SignInFailures)? {
            // Only as read: a failure another server added meanwhile keeps the record.
            if decode(&bytes).iter().all(|t| *t <= now - WINDOW) {
                self.store.remove_if(Table::SignInFailures, &key, &bytes)?;
            }
        }
        Ok(())
    }
}

fn account_key(account: &str) -> String {
    format!("account:{account}")
}

fn address_key(address: IpAddr) -> String {
    format!("address:{address}")
}

/// A record's failures: a JSON array of Unix microseconds. An unreadable record counts as none.
fn decode(bytes: &[u8]) -> Vec<DateTime<Utc>> {
    let micros: Vec<i64> = serde_json::from_slice(bytes).unwrap_or_default();
    micros.into_iter().filter_map(DateTime::from_timestamp_micros).collect()
}

fn encode(times: &[DateTime<Utc>]) -> Vec<u8> {
    serde_json::to_vec(&times.iter().map(DateTime::timestamp_micros).collect::<Vec<_>>()).expect("numbers serialise")
}

/// When the limit over `times` (oldest first) lifts, if it is reached at `now`.
fn until(times: &[DateTime<Utc>], limit: usize, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let recent: Vec<_> = times.iter().filter(|t| **t > now - WINDOW).collect();
    (recent.len() >= limit).then(|| *recent[recent.len() - limit] + WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SledLog, SledLogOptions};

    fn store() -> (tempfile::TempDir, Arc<dyn RecordStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn RecordStore> = Arc::new(SledLog::open(dir.path(), SledLogOptions::default()).unwrap());
        (dir, store)
    }

    #[test]
    fn the_fifth_failure_locks_the_account_for_the_window_and_a_success_clears_it() {
        let (_dir, store) = store();
        let throttle = Throttle::new(store);
        let start = Utc::now();
        let address: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        for i in 0..PER_ACCOUNT as i64 {
            assert_eq!(throttle.refused_until("anna", address, start + Duration::seconds(i)).unwrap(), None);
            throttle.failed("anna", address, start + Duration::seconds(i)).unwrap();
        }
        let later = start + Duration::seconds(10);
        let start = DateTime::from_timestamp_micros(start.timestamp_micros()).unwrap();
        assert_eq!(throttle.refused_until("anna", address, later).unwrap(), Some(start + WINDOW));
        assert_eq!(throttle.refused_until("marco", address, later).unwrap(), None, "another account from the same address");
        assert_eq!(throttle.refused_until("anna", address, start + WINDOW + Duration::seconds(1)).unwrap(), None, "the oldest left");
        throttle.succeeded("anna").unwrap();
        assert_eq!(throttle.refused_until("anna", address, later).unwrap(), None);
    }

    #[test]
    fn an_address_that_fails_for_many_names_is_refused_for_every_name() {
        let (_dir, store) = store();
        let throttle = Throttle::new(store);
        let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        let address: Option<IpAddr> = Some("10.0.0.7".parse().unwrap());
        for i in 0..PER_ADDRESS {
            throttle.failed(&format!("name{i}"), address, now).unwrap();
        }
        assert_eq!(throttle.refused_until("fresh", address, now).unwrap(), Some(now + WINDOW));
        assert_eq!(throttle.refused_until("fresh", Some("10.0.0.8".parse().unwrap()), now).unwrap(), None);
    }

    #[test]
    fn two_throttles_on_one_store_count_the_same_failures_and_spent_records_are_removed() {
        let (_dir, store) = store();
        let (one, two) = (Throttle::new(Arc::clone(&store)), Throttle::new(Arc::clone(&store)));
        let now = Utc::now();
        for i in 0..PER_ACCOUNT as i64 {
            let throttle = if i % 2 == 0 { &one } else { &two };
            throttle.failed("anna", None, now + Duration::seconds(i)).unwrap();
        }
        assert!(one.refused_until("anna", None, now + Duration::seconds(10)).unwrap().is_some());
        assert!(two.refused_until("anna", None, now + Duration::seconds(10)).unwrap().is_some(), "what one counted, the other sees");
        assert_eq!(store.list(Table::SignInFailures).unwrap().len(), 1);
        // Once every failure left the window, the next failure elsewhere removes the spent record.
        let much_later = now + WINDOW + PRUNE_EVERY + Duration::minutes(1);
        one.failed("marco", None, much_later).unwrap();
        let keys: Vec<String> = store.list(Table::SignInFailures).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["account:marco"]);
    }
}
