//! API tokens: bearer secrets with a role. Only the SHA-256 of a secret is stored (in the record store's
//! `tokens` table, by name, and in memory by hash for lookups); the secret itself is shown once when issued and
//! never logged. Secrets are 32 random bytes from the operating system, so a plain hash suffices: there is
//! nothing to guess that a slow hash would protect.
//!
//! A token may expire (`expires_at`); revoking one keeps its record as a tombstone, so no name is ever issued
//! twice. When a token was last used is kept in memory on every request and saved to the store at most once a
//! minute per token and at shutdown ([`Tokens::save_last_used`]): a crash may lose the last minute of last-used
//! times, never a token, an expiry or a revocation.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use events::{Role, Slug};
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{ReadError, RecordStore, Table};

/// The prefix of every secret, so a leaked one is easy to recognise.
const PREFIX: &str = "trk_";

/// A token as stored: who it is and what it may do, never the secret. A revoked token stays as a tombstone
/// (`revoked_at` set) so that its name is never issued again: the log's `actor` names keep meaning one holder.
/// The fields after `created_at` came later; records without them load as never expiring, never used, live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    pub name: String,
    pub role: RoleName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// As last saved: the time in memory may be later (it is saved at most once a minute, and at shutdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The person whose own token this is (made on their account page, in their scope); `None` for a token an
    /// admin issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The roles of SPEC §6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Admin,
    Coordinator,
    Recorder,
    Auditor,
}

impl RoleName {
    pub fn parse(text: &str) -> Option<RoleName> {
        match text {
            "admin" => Some(RoleName::Admin),
            "coordinator" => Some(RoleName::Coordinator),
            "recorder" => Some(RoleName::Recorder),
            "auditor" => Some(RoleName::Auditor),
            _ => None,
        }
    }
}

/// Who made a request: a token's name and its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Reads the log and the audit endpoints: auditors and admins.
    pub fn is_auditor(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Auditor)
    }

    /// Reads a programme's history: auditors, admins and the programme's coordinator.
    pub fn may_read_history(&self, programme: &str) -> bool {
        self.is_auditor() || matches!(&self.role, Role::Coordinator { programme: p } if p.as_str() == programme)
    }
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("a token named '{0}' already exists")]
    NameTaken(String),
    #[error("the name '{0}' belonged to a revoked token; the log's actor names must keep meaning one holder — choose another name")]
    NameRevoked(String),
    #[error("invalid token request")]
    Invalid(Vec<events::Fault>),
    #[error(transparent)]
    Store(#[from] ReadError),
}

/// What a new token is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub name: String,
    pub role: RoleName,
    pub programme: Option<String>,
    pub partner: Option<String>,
    /// When it stops working; never when `None`.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TokenRequest {
    /// Checks the shape as of `now` (the programme and partner must exist: the caller checks that against the
    /// projection).
    pub fn check(&self, now: DateTime<Utc>) -> Vec<events::Fault> {
        use events::Fault;
        let mut faults = Vec::new();
        if let Some(at) = self.expires_at.filter(|at| *at <= now) {
            faults.push(Fault::new(
                "expires_at",
                format!("{} is not in the future (now is {}): give a later time, or none for a token that never expires", rfc3339(at), rfc3339(now)),
            ));
        }
        if let Err(e) = Slug::parse(&self.name) {
            faults.push(Fault::new("name", e.to_string()));
        }
        let needs_programme = matches!(self.role, RoleName::Coordinator | RoleName::Recorder);
        let needs_partner = self.role == RoleName::Recorder;
        match (&self.programme, needs_programme) {
            (None, true) => faults.push(Fault::new("programme", "required for this role")),
            (Some(_), false) => faults.push(Fault::new("programme", "only a coordinator or recorder has a programme")),
            (Some(p), true) => {
                if let Err(e) = Slug::parse(p) {
                    faults.push(Fault::new("programme", e.to_string()));
                }
            }
            (None, false) => {}
        }
        match (&self.partner, needs_partner) {
            (None, true) => faults.push(Fault::new("partner", "required for a recorder")),
            (Some(_), false) => faults.push(Fault::new("partner", "only a recorder has a partner")),
            (Some(p), true) => {
                if let Err(e) = Slug::parse(p) {
                    faults.push(Fault::new("partner", e.to_string()));
                }
            }
            (None, false) => {}
        }
        faults
    }
}

/// Why a secret was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Never issued, revoked, or standing for no one.
    Unknown,
    /// Issued, but it stopped working at this time.
    Expired(DateTime<Utc>),
}

/// What revoking a name did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// The token is revoked now.
    Now,
    /// No token ever had the name.
    Unknown,
    /// The token was revoked before, at this time.
    Before(String),
}

/// Whether a token works: every token listed has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Live,
    Expired,
    Revoked,
}

/// A token as listed: everything about it but its secret and the secret's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// The `actor` of every event the token appended.
    pub name: String,
    pub role: RoleName,
    /// For a coordinator or recorder.
    #[schema(required = true)]
    pub programme: Option<String>,
    /// For a recorder.
    #[schema(required = true)]
    pub partner: Option<String>,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When a request last authenticated with it (to the second); `null` if never.
    #[schema(required = true, format = DateTime)]
    pub last_used_at: Option<String>,
    /// When it stops working; `null` if never.
    #[schema(required = true, format = DateTime)]
    pub expires_at: Option<String>,
    /// When it was revoked; `null` if it was not.
    #[schema(required = true, format = DateTime)]
    pub revoked_at: Option<String>,
    pub status: TokenStatus,
}

/// The tokens: every record by name (live and revoked), and the live ones by the SHA-256 of their secret, each
/// kept as the principal it stands for, made once when it is loaded or issued. A stored token whose programme or
/// partner is not a valid slug stands for no one (it is kept, so that the name stays taken, but never
/// authenticates).
#[derive(Debug)]
pub struct Tokens {
    store: Arc<dyn RecordStore>,
    /// Every token by name as last written to the store. Locked across every write of the `tokens` table, so
    /// that writes of one name (issue, revoke, saving last-used times) never interleave.
    records: Mutex<BTreeMap<String, StoredToken>>,
    by_hash: RwLock<HashMap<[u8; 32], Arc<Live>>>,
}

/// A live token in memory.
#[derive(Debug)]
struct Live {
    name: String,
    principal: Option<Arc<Principal>>,
    expires_at: Option<DateTime<Utc>>,
    /// Unix seconds of the last authentication, 0 if never; saved by [`Tokens::save_last_used`].
    last_used: AtomicI64,
}

impl Live {
    fn of(token: &StoredToken) -> Result<Live, String> {
        let slug = |s: &Option<String>| s.as_deref().and_then(|s| Slug::parse(s).ok());
        let role = match token.role {
            RoleName::Admin => Some(Role::Admin),
            RoleName::Auditor => Some(Role::Auditor),
            RoleName::Coordinator => slug(&token.programme).map(|programme| Role::Coordinator { programme }),
            RoleName::Recorder => slug(&token.programme)
                .zip(slug(&token.partner))
                .map(|(programme, partner)| Role::Recorder { programme, partner }),
        };
        let principal = role.map(|role| Arc::new(Principal { name: token.name.clone(), role }));
        let expires_at = token.expires_at.as_deref().map(parse_time).transpose()?;
        let last_used = token.last_used_at.as_deref().map(parse_time).transpose()?.map_or(0, |t| t.timestamp());
        Ok(Live { name: token.name.clone(), principal, expires_at, last_used: AtomicI64::new(last_used) })
    }
}

impl Tokens {
    /// Loads every stored token.
    pub fn load(store: Arc<dyn RecordStore>) -> Result<Tokens, ReadError> {
        let mut records = BTreeMap::new();
        let mut by_hash = HashMap::new();
        for (name, bytes) in store.list(Table::Tokens)? {
            let unreadable = |e: &dyn std::fmt::Display| ReadError::Unavailable(format!("stored token '{name}' is unreadable: {e}"));
            let token: StoredToken = serde_json::from_slice(&bytes).map_err(|e| unreadable(&e))?;
            if token.revoked_at.is_none() {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(&token.hash, &mut digest).map_err(|e| unreadable(&e))?;
                by_hash.insert(digest, Arc::new(Live::of(&token).map_err(|e| unreadable(&e))?));
            }
            records.insert(name, token);
        }
        Ok(Tokens { store, records: Mutex::new(records), by_hash: RwLock::new(by_hash) })
    }

    /// Takes over what other servers sharing the store changed: tokens issued, revoked or changed there. A token
    /// still live keeps the last-used time noted here. Called about twice a second on a shared store (PostgreSQL),
    /// so that a token revoked through one server is refused by the others within a second. Answers how many
    /// tokens changed.
    pub fn refresh(&self) -> Result<usize, ReadError> {
        let stored = self.store.list(Table::Tokens)?;
        let mut records = self.records.lock();
        let mut changed = 0;
        for (name, bytes) in stored {
            let unreadable = |e: &dyn std::fmt::Display| ReadError::Unavailable(format!("stored token '{name}' is unreadable: {e}"));
            let token: StoredToken = serde_json::from_slice(&bytes).map_err(|e| unreadable(&e))?;
            let known = records.get(&name);
            let same = known.is_some_and(|k| k.revoked_at == token.revoked_at && k.expires_at == token.expires_at && k.hash == token.hash);
            if same {
                continue;
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&token.hash, &mut digest).map_err(|e| unreadable(&e))?;
            let mut by_hash = self.by_hash.write();
            let used = by_hash.remove(&digest).map_or(0, |live| live.last_used.load(Ordering::Relaxed));
            if token.revoked_at.is_none() {
                let live = Live::of(&token).map_err(|e| unreadable(&e))?;
                live.last_used.fetch_max(used, Ordering::Relaxed);
                by_hash.insert(digest, Arc::new(live));
            }
            records.insert(name, token);
            changed += 1;
        }
        Ok(changed)
    }

    /// Whether no token was ever issued (a revoked one counts: its name is taken).
    pub fn is_empty(&self) -> bool {
        self.records.lock().is_empty()
    }

    /// The principal a secret stands for, if it is a live token now; notes the time it was used.
    pub fn authenticate(&self, secret: &str) -> Result<Arc<Principal>, Refusal> {
        self.authenticate_at(secret, Utc::now())
    }

    /// [`Tokens::authenticate`] as of `now`.
    pub fn authenticate_at(&self, secret: &str, now: DateTime<Utc>) -> Result<Arc<Principal>, Refusal> {
        let by_hash = self.by_hash.read();
        let live = by_hash.get(&digest(secret)).ok_or(Refusal::Unknown)?;
        let principal = live.principal.clone().ok_or(Refusal::Unknown)?;
        if let Some(at) = live.expires_at.filter(|at| *at <= now) {
            return Err(Refusal::Expired(at));
        }
        live.last_used.fetch_max(now.timestamp(), Ordering::Relaxed);
        Ok(principal)
    }

    /// Issues a token and returns its secret, which is not kept. Blocks on the store's durable write.
    pub fn issue(&self, request: &TokenRequest) -> Result<String, IssueError> {
        self.issue_owned(request, None)
    }

    /// [`Tokens::issue`] of a person's own token.
    pub fn issue_owned(&self, request: &TokenRequest, owner: Option<&str>) -> Result<String, IssueError> {
        let now = Utc::now();
        let faults = request.check(now);
        if !faults.is_empty() {
            return Err(IssueError::Invalid(faults));
        }
        let secret = new_secret();
        let digest = digest(&secret);
        let token = StoredToken {
            name: request.name.clone(),
            role: request.role,
            programme: request.programme.clone(),
            partner: request.partner.clone(),
            hash: hex::encode(digest),
            created_at: rfc3339(now),
            expires_at: request.expires_at.map(rfc3339),
            last_used_at: None,
            revoked_at: None,
            owner: owner.map(str::to_owned),
        };
        let live = Live::of(&token).expect("an issued token's times are well-formed");
        let bytes = serde_json::to_vec(&token).expect("a token always serialises");
        let mut records = self.records.lock();
        match records.get(&token.name) {
            Some(old) if old.revoked_at.is_some() => return Err(IssueError::NameRevoked(token.name)),
            Some(_) => return Err(IssueError::NameTaken(token.name)),
            None => {}
        }
        if !self.store.insert_new(Table::Tokens, &token.name, &bytes)? {
            return Err(IssueError::NameTaken(token.name));
        }
        self.by_hash.write().insert(digest, Arc::new(live));
        records.insert(token.name.clone(), token);
        Ok(secret)
    }

    /// Revokes a token by name, keeping its record as a tombstone. Blocks on the store's durable write.
    pub fn revoke(&self, name: &str) -> Result<Revoked, ReadError> {
        let mut records = self.records.lock();
        let Some(old) = records.get(name) else { return Ok(Revoked::Unknown) };
        if let Some(at) = &old.revoked_at {
            return Ok(Revoked::Before(at.clone()));
        }
        let mut tombstone = old.clone();
        tombstone.last_used_at = self.last_used(name).map(rfc3339).or(tombstone.last_used_at);
        tombstone.revoked_at = Some(rfc3339(Utc::now()));
        self.store.put(Table::Tokens, name, &serde_json::to_vec(&tombstone).expect("a token always serialises"))?;
        self.by_hash.write().retain(|_, token| token.name != name);
        records.insert(name.to_owned(), tombstone);
        Ok(Revoked::Now)
    }

    /// Whether a token of this name was ever issued (a revoked one counts).
    pub fn has(&self, name: &str) -> bool {
        self.records.lock().contains_key(name)
    }

    /// The names of the tokens `person` owns, live and revoked.
    pub fn owned_by(&self, person: &str) -> Vec<String> {
        self.records.lock().values().filter(|t| t.owner.as_deref() == Some(person)).map(|t| t.name.clone()).collect()
    }

    /// Every token, live and revoked, by name, as of `now`.
    pub fn list(&self, now: DateTime<Utc>) -> Vec<TokenView> {
        let records = self.records.lock();
        let used: HashMap<String, i64> =
            self.by_hash.read().values().map(|live| (live.name.clone(), live.last_used.load(Ordering::Relaxed))).collect();
        records
            .values()
            .map(|token| {
                let expires_at = token.expires_at.as_deref().and_then(|t| parse_time(t).ok());
                let status = match (&token.revoked_at, expires_at) {
                    (Some(_), _) => TokenStatus::Revoked,
                    (None, Some(at)) if at <= now => TokenStatus::Expired,
                    (None, _) => TokenStatus::Live,
                };
                let last_used_at = match &token.revoked_at {
                    Some(_) => token.last_used_at.clone(),
                    None => used.get(&token.name).and_then(|s| seconds(*s)).map(rfc3339).or_else(|| token.last_used_at.clone()),
                };
                TokenView {
                    name: token.name.clone(),
                    role: token.role,
                    programme: token.programme.clone(),
                    partner: token.partner.clone(),
                    created_at: token.created_at.clone(),
                    last_used_at,
                    expires_at: token.expires_at.clone(),
                    revoked_at: token.revoked_at.clone(),
                    status,
                }
            })
            .collect()
    }

    /// Writes the last-used time of every live token used since it was last saved; answers how many were
    /// written. The server calls it once a minute and at shutdown. Blocks on the store's durable writes.
    pub fn save_last_used(&self) -> Result<usize, ReadError> {
        let mut records = self.records.lock();
        let mut saved = 0;
        let used: Vec<(String, i64)> =
            self.by_hash.read().values().map(|live| (live.name.clone(), live.last_used.load(Ordering::Relaxed))).collect();
        for (name, seconds) in used {
            let Some(token) = records.get_mut(&name) else { continue };
            let stored = token.last_used_at.as_deref().and_then(|t| parse_time(t).ok()).map_or(0, |t| t.timestamp());
            let Some(at) = DateTime::from_timestamp(seconds, 0).filter(|_| seconds > stored && token.revoked_at.is_none()) else {
                continue;
            };
            // Written over what the store holds now, never over this process's copy: another server sharing the
            // store may have revoked the token, and that must not be undone (it is taken over here instead).
            let Some(current) = self.store.get(Table::Tokens, &name)? else { continue };
            let unreadable = |e: serde_json::Error| ReadError::Unavailable(format!("stored token '{name}' is unreadable: {e}"));
            let mut updated: StoredToken = serde_json::from_slice(&current).map_err(unreadable)?;
            if updated.revoked_at.is_some() {
                self.by_hash.write().retain(|_, live| live.name != name);
                *token = updated;
                continue;
            }
            updated.last_used_at = Some(rfc3339(at));
            let bytes = serde_json::to_vec(&updated).expect("a token always serialises");
            // Changed meanwhile: the next save tries again.
            if self.store.replace(Table::Tokens, &name, &current, &bytes)? {
                *token = updated;
                saved += 1;
            }
        }
        Ok(saved)
    }

    /// When the live token `name` was last used, as noted in memory.
    fn last_used(&self, name: &str) -> Option<DateTime<Utc>> {
        let by_hash = self.by_hash.read();
        seconds(by_hash.values().find(|live| live.name == name)?.last_used.load(Ordering::Relaxed))
    }
}

/// A last-used time noted in memory: Unix seconds, 0 for never.
fn seconds(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0).filter(|_| seconds > 0)
}

/// A time as the API writes it: RFC 3339 in UTC, to the second.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("'{text}' is not an RFC 3339 time: {e}"))
}

pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

/// What a token is stored and looked up under: the SHA-256 of its secret (the secret itself is never kept).
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests;
