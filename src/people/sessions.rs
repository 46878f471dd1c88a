//! Browser sessions (OWASP ASVS V3): the cookie holds 32 random bytes; only their SHA-256 is stored, with the
//! person's name, the session's CSRF token (synchronizer token) and its times. A session ends after
//! [`IDLE`] without a request, after [`ABSOLUTE`] in any case, when the person signs out (this session or every
//! one of theirs), and when the person is revoked. When a session was last seen is kept in memory on every
//! request and saved at most once a minute ([`Sessions::save_last_seen`]), so a restart may end a session up to a
//! minute early, never late. The person's role is read from their account on every request, so a change of role
//! applies at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::auth::{digest, new_secret, rfc3339};
use crate::store::{ReadError, RecordStore, Table};

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::minutes(30);
/// A session ends this long after sign-in whatever happens.
pub const ABSOLUTE: Duration = Duration::hours(12);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSession {
    person: String,
    csrf: String,
    created_at: String,
    last_seen_at: String,
}

/// A live session in memory.
#[derive(Debug)]
struct Live {
    person: String,
    csrf: String,
    created: i64,
    /// Unix seconds of the last request.
    last_seen: AtomicI64,
    /// Unix seconds last written to the store.
    saved: AtomicI64,
}

/// A session as a request sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub person: String,
    pub csrf: String,
}

/// Every live session by the hash of its cookie.
#[derive(Debug)]
pub struct Sessions {
    store: Arc<dyn RecordStore>,
    live: RwLock<HashMap<[u8; 32], Arc<Live>>>,
    /// Held across writes of the table.
    writing: Mutex<()>,
}

impl Sessions {
    /// Loads the stored sessions, dropping (and deleting) those that ended while the server was down.
    pub fn load(store: Arc<dyn RecordStore>) -> Result<Sessions, ReadError> {
        let now = Utc::now().timestamp();
        let mut live = HashMap::new();
        let mut ended = Vec::new();
        for (key, bytes) in store.list(Table::Sessions)? {
            let stored: Option<StoredSession> = serde_json::from_slice(&bytes).ok();
            let mut hash = [0u8; 32];
            let parsed = stored.filter(|_| hex::decode_to_slice(&key, &mut hash).is_ok()).and_then(|s| {
                let created = DateTime::parse_from_rfc3339(&s.created_at).ok()?.timestamp();
                let seen = DateTime::parse_from_rfc3339(&s.last_seen_at).ok()?.timestamp();
                Some(Live { person: s.person, csrf: s.csrf, created, last_seen: AtomicI64::new(seen), saved: AtomicI64::new(seen) })
            });
            match parsed.filter(|l| !ended_at(l, now)) {
                Some(session) => drop(live.insert(hash, Arc::new(session))),
                None => ended.push(key),
            }
        }
        for key in ended {
            store.remove(Table::Sessions, &key)?;
        }
        Ok(Sessions { store, live: RwLock::new(live), writing: Mutex::new(()) })
    }

    /// Takes over what other servers sharing the store did: sessions started there are known here, and those
    /// ended there (signed out, everywhere, or the person revoked) end here; how many changed. See
    /// `Tokens::refresh`.
    pub fn refresh(&self) -> Result<usize, ReadError> {
        // Listed under the write lock: a session this server starts meanwhile is in the list or not yet started.
        let _writing = self.writing.lock();
        let stored = self.store.list(Table::Sessions)?;
        let mut live = self.live.write();
        let mut kept = std::collections::HashSet::new();
        let mut changed = 0;
        for (key, bytes) in stored {
            let mut hash = [0u8; 32];
            let Some(session) = serde_json::from_slice::<StoredSession>(&bytes).ok().filter(|_| hex::decode_to_slice(&key, &mut hash).is_ok()) else {
                continue;
            };
            kept.insert(hash);
            if live.contains_key(&hash) {
                continue;
            }
            let time = |t: &str| DateTime::parse_from_rfc3339(t).ok().map(|t| t.timestamp());
            let (Some(created), Some(seen)) = (time(&session.created_at), time(&session.last_seen_at)) else { continue };
            let session = Live { person: session.person, csrf: session.csrf, created, last_seen: AtomicI64::new(seen), saved: AtomicI64::new(seen) };
            live.insert(hash, Arc::new(session));
            changed += 1;
        }
        let before = live.len();
        live.retain(|hash, _| kept.contains(hash));
        Ok(changed + before - live.len())
    }

    /// Starts a session for `person`; the cookie's secret, which is not kept. Blocks on the durable write.
    pub fn start(&self, person: &str) -> Result<String, ReadError> {
        let secret = new_secret();
        let hash = digest(&secret);
        let now = Utc::now();
        let csrf = hex::encode(digest(&new_secret()));
        let stored = StoredSession { person: person.to_owned(), csrf: csrf.clone(), created_at: rfc3339(now), last_seen_at: rfc3339(now) };
        let _writing = self.writing.lock();
        self.store.put(Table::Sessions, &hex::encode(hash), &serde_json::to_vec(&stored).expect("a session serialises"))?;
        let at = now.timestamp();
        let session = Live { person: person.to_owned(), csrf, created: at, last_seen: AtomicI64::new(at), saved: AtomicI64::new(at) };
        self.live.write().insert(hash, Arc::new(session));
        Ok(secret)
    }

    /// The live session a cookie's secret stands for, noting that it was seen now; `None` when unknown or ended
    /// (an ended one is forgotten).
    pub fn touch(&self, secret: &str) -> Option<Session> {
        let hash = digest(secret);
        let now = Utc::now().timestamp();
        let live = self.live.read().get(&hash).cloned()?;
        if ended_at(&live, now) {
            let _ = self.end(secret);
            return None;
        }
        live.last_seen.fetch_max(now, Ordering::Relaxed);
        Some(Session { person: live.person.clone(), csrf: live.csrf.clone() })
    }

    /// Ends the session of this cookie. Blocks on the durable write.
    pub fn end(&self, secret: &str) -> Result<(), ReadError> {
        let hash = digest(secret);
        let _writing = self.writing.lock();
        self.store.remove(Table::Sessions, &hex::encode(hash))?;
        self.live.write().remove(&hash);
        Ok(())
    }

    /// Ends every session of `person`; how many there were.
    pub fn end_all(&self, person: &str) -> Result<usize, ReadError> {
        let _writing = self.writing.lock();
        let theirs: Vec<[u8; 32]> = self.live.read().iter().filter(|(_, l)| l.person == person).map(|(h, _)| *h).collect();
        for hash in &theirs {
            self.store.remove(Table::Sessions, &hex::encode(hash))?;
            self.live.write().remove(hash);
        }
        Ok(theirs.len())
    }

    /// How many live sessions `person` has.
    pub fn count(&self, person: &str) -> usize {
        let now = Utc::now().timestamp();
        self.live.read().values().filter(|l| l.person == person && !ended_at(l, now)).count()
    }

    /// Writes the last-seen time of every session seen since it was last saved; how many were written.
    pub fn save_last_seen(&self) -> Result<usize, ReadError> {
        let _writing = self.writing.lock();
        let sessions: Vec<([u8; 32], Arc<Live>)> = self.live.read().iter().map(|(h, l)| (*h, Arc::clone(l))).collect();
        let mut saved = 0;
        for (hash, live) in sessions {
            let seen = live.last_seen.load(Ordering::Relaxed);
            if seen <= live.saved.load(Ordering::Relaxed) {
                continue;
            }
            let at = |s: i64| rfc3339(DateTime::from_timestamp(s, 0).expect("a time in range"));
            let stored = StoredSession { person: live.person.clone(), csrf: live.csrf.clone(), created_at: at(live.created), last_seen_at: at(seen) };
            // Only over the session as stored: one signed out through another server sharing the store is gone
            // from it, and ends here too instead of coming back.
            let key = hex::encode(hash);
            let Some(current) = self.store.get(Table::Sessions, &key)? else {
                self.live.write().remove(&hash);
                continue;
            };
            let bytes = serde_json::to_vec(&stored).expect("a session serialises");
            if self.store.replace(Table::Sessions, &key, &current, &bytes)? {
                live.saved.store(seen, Ordering::Relaxed);
                saved += 1;
            }
        }
        Ok(saved)
    }
}

/// Whether a session has ended by `now` (Unix seconds): idle too long, or too old.
fn ended_at(live: &Live, now: i64) -> bool {
    now - live.last_seen.load(Ordering::Relaxed) >= IDLE.num_seconds() || now - live.created >= ABSOLUTE.num_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SledLog, SledLogOptions};

    #[test]
    fn a_session_survives_a_reopen_and_ends_when_ended_or_signed_out_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn RecordStore> = Arc::new(SledLog::open(dir.path(), SledLogOptions::default()).unwrap());
        let sessions = Sessions::load(Arc::clone(&store)).unwrap();
        let one = sessions.start("anna").unwrap();
        let two = sessions.start("anna").unwrap();
        let other = sessions.start("marco").unwrap();
        let seen = sessions.touch(&one).unwrap();
        assert_eq!(seen.person, "anna");
        assert_ne!(seen.csrf, sessions.touch(&two).unwrap().csrf, "a CSRF token per session");
        assert!(sessions.touch("trk_unknown").is_none());

        let again = Sessions::load(Arc::clone(&store)).unwrap();
        assert_eq!(again.touch(&one), Some(seen));
        again.end(&one).unwrap();
        assert!(again.touch(&one).is_none());
        assert_eq!(again.end_all("anna").unwrap(), 1);
        assert!(again.touch(&two).is_none());
        assert!(again.touch(&other).is_some());
        assert!(Sessions::load(store).unwrap().touch(&two).is_none(), "ended for good");
    }

    #[test]
    fn a_session_signed_out_through_another_server_stays_ended_when_this_one_saves_its_last_use() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn RecordStore> = Arc::new(SledLog::open(dir.path(), SledLogOptions::default()).unwrap());
        let here = Sessions::load(Arc::clone(&store)).unwrap();
        let cookie = here.start("anna").unwrap();
        let kept = here.start("anna").unwrap();
        // A second server on the same store (as on PostgreSQL) signs one session out; both were seen here since.
        let there = Sessions::load(Arc::clone(&store)).unwrap();
        there.end(&cookie).unwrap();
        for secret in [&cookie, &kept] {
            here.live.read()[&digest(secret)].last_seen.fetch_add(5, Ordering::Relaxed);
        }
        assert_eq!(here.save_last_seen().unwrap(), 1, "only the session still stored");
        assert!(here.touch(&cookie).is_none(), "the sign-out reached this server");
        let reloaded = Sessions::load(store).unwrap();
        assert!(reloaded.touch(&cookie).is_none() && reloaded.touch(&kept).is_some());
    }

    #[test]
    fn a_session_ends_when_idle_or_old() {
        let live = |created: i64, seen: i64| Live { person: "p".into(), csrf: String::new(), created, last_seen: AtomicI64::new(seen), saved: AtomicI64::new(seen) };
        let now = 1_000_000;
        assert!(!ended_at(&live(now - 60, now - 60), now));
        assert!(ended_at(&live(now - 3600, now - IDLE.num_seconds()), now));
        assert!(!ended_at(&live(now - ABSOLUTE.num_seconds() + 1, now), now));
        assert!(ended_at(&live(now - ABSOLUTE.num_seconds(), now), now));
    }
}
