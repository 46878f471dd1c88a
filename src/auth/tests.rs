//! Tests of the tokens: issuing, expiry, revocation, tombstones, last-used times, and two servers over one store.

use super::*;
use crate::store::{SledLog, SledLogOptions};

fn request(name: &str, expires_at: Option<DateTime<Utc>>) -> TokenRequest {
    TokenRequest { name: name.into(), role: RoleName::Auditor, programme: None, partner: None, expires_at }
}

fn open(dir: &std::path::Path) -> (Arc<SledLog>, Tokens) {
    let log = Arc::new(SledLog::open(dir, SledLogOptions::default()).expect("a store opens"));
    let tokens = Tokens::load(log.clone()).expect("the tokens load");
    (log, tokens)
}

#[test]
fn an_expiry_must_be_in_the_future() {
    let now = Utc::now();
    let faults = request("funder", Some(now)).check(now);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].field, "expires_at");
    assert!(faults[0].message.contains("is not in the future"), "{}", faults[0].message);
    assert!(request("funder", Some(now + chrono::Duration::seconds(1))).check(now).is_empty());
    assert!(request("funder", None).check(now).is_empty());
}

#[test]
fn a_token_works_until_it_expires_and_then_says_when_it_expired() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, tokens) = open(dir.path());
    let at = Utc::now() + chrono::Duration::hours(1);
    let secret = tokens.issue(&request("funder", Some(at))).unwrap();
    let principal = tokens.authenticate_at(&secret, at - chrono::Duration::seconds(1)).expect("live until then");
    assert_eq!(principal.name, "funder");
    let at = parse_time(&rfc3339(at)).unwrap();
    assert_eq!(tokens.authenticate_at(&secret, at), Err(Refusal::Expired(at)));
    assert_eq!(tokens.authenticate_at("trk_nonsense", at), Err(Refusal::Unknown));
    let listed = tokens.list(at);
    assert_eq!(listed[0].status, TokenStatus::Expired);
}

#[test]
fn a_revoked_name_is_never_issued_again_and_is_listed_as_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, tokens) = open(dir.path());
    let secret = tokens.issue(&request("funder", None)).unwrap();
    tokens.authenticate(&secret).unwrap();
    assert!(matches!(tokens.issue(&request("funder", None)), Err(IssueError::NameTaken(_))));
    assert_eq!(tokens.revoke("funder").unwrap(), Revoked::Now);
    assert!(matches!(tokens.revoke("funder").unwrap(), Revoked::Before(_)));
    assert_eq!(tokens.revoke("nobody").unwrap(), Revoked::Unknown);
    assert_eq!(tokens.authenticate(&secret), Err(Refusal::Unknown));
    let error = tokens.issue(&request("funder", None)).unwrap_err();
    assert!(matches!(error, IssueError::NameRevoked(_)), "{error:?}");
    assert!(error.to_string().contains("choose another name"), "{error}");
    assert!(!tokens.is_empty(), "a revoked token keeps the store from looking new");
    let listed = tokens.list(Utc::now());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, TokenStatus::Revoked);
    assert!(listed[0].revoked_at.is_some() && listed[0].last_used_at.is_some(), "{listed:?}");
}

#[test]
fn a_token_revoked_through_another_server_stays_revoked_when_this_one_saves_its_last_use() {
    let dir = tempfile::tempdir().unwrap();
    let (log, here) = open(dir.path());
    let secret = here.issue(&request("funder", None)).unwrap();
    // A second server on the same store (as on PostgreSQL) revokes the token that this one goes on seeing.
    let there = Tokens::load(log.clone()).unwrap();
    let used = Utc::now() + chrono::Duration::seconds(5);
    here.authenticate_at(&secret, used).unwrap();
    assert_eq!(there.revoke("funder").unwrap(), Revoked::Now);
    assert_eq!(here.save_last_used().unwrap(), 0, "nothing written over the tombstone");
    assert_eq!(here.authenticate(&secret), Err(Refusal::Unknown), "the revocation reached this server");
    let reloaded = Tokens::load(log).unwrap();
    assert_eq!(reloaded.list(used)[0].status, TokenStatus::Revoked);
}

#[test]
fn last_used_times_are_saved_only_when_they_changed_and_survive_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (log, tokens) = open(dir.path());
    let secret = tokens.issue(&request("funder", None)).unwrap();
    tokens.issue(&request("idle", None)).unwrap();
    assert_eq!(tokens.save_last_used().unwrap(), 0, "nothing was used");
    let used = Utc::now() + chrono::Duration::seconds(5);
    tokens.authenticate_at(&secret, used).unwrap();
    tokens.authenticate_at(&secret, used - chrono::Duration::seconds(3)).unwrap();
    assert_eq!(tokens.list(used)[0].last_used_at.as_deref(), Some(rfc3339(used).as_str()), "the latest use counts");
    assert_eq!(tokens.save_last_used().unwrap(), 1);
    assert_eq!(tokens.save_last_used().unwrap(), 0, "saved already");
    let reloaded = Tokens::load(log.clone()).unwrap();
    let listed = reloaded.list(used);
    assert_eq!(listed[0].name, "funder");
    assert_eq!(listed[0].last_used_at.as_deref(), Some(rfc3339(used).as_str()));
    assert_eq!(listed[1].last_used_at, None);
}

#[test]
fn a_token_stored_before_expiry_and_tombstones_loads_as_live_and_never_expiring() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path());
    let secret = "trk_old";
    let old = serde_json::json!({"name": "legacy", "role": "admin", "hash": hex::encode(digest(secret)), "created_at": "2024-01-01T00:00:00Z"});
    log.put(Table::Tokens, "legacy", &serde_json::to_vec(&old).unwrap()).unwrap();
    let tokens = Tokens::load(log.clone()).unwrap();
    let far = Utc::now() + chrono::Duration::days(365 * 100);
    assert_eq!(tokens.authenticate_at(secret, far).unwrap().name, "legacy");
    let listed = tokens.list(far);
    assert_eq!((listed[0].status, listed[0].expires_at.as_deref()), (TokenStatus::Live, None));
}

