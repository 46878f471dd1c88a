//! People who work in the browser: accounts with a name (the `actor` of every event they append, never reused),
//! a role like a token's, an e-mail address and an Argon2id password hash. An admin invites a person; the
//! invitation is a one-time secret (only its SHA-256 is stored) that lets the person choose a password within
//! seven days. Revoking a person keeps the record as a tombstone, as a revoked token's, so the name keeps
//! meaning one holder; it ends the person's sessions. Sessions (`sessions.rs`) and the sign-in throttle
//! (`throttle.rs`) live beside the accounts, and `catch_up.rs`, which reads the shared records again when a
//! request brings a secret another server made a moment ago.

pub mod catch_up;
pub mod password;
pub mod sessions;
pub mod throttle;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use events::{Fault, Role, Slug};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::auth::{digest, new_secret, rfc3339, Principal, RoleName, TokenRequest};
use crate::store::{ReadError, RecordStore, Table};

/// How long an invitation may be used.
pub const INVITATION_DAYS: i64 = 7;

/// A person as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPerson {
    pub name: String,
    pub display_name: String,
    pub email: String,
    pub role: RoleName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// The Argon2id PHC string; `None` until the invitation is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Hex SHA-256 of the open invitation's secret, and when it stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<(String, String)>,
    pub created_at: String,
    pub invited_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl StoredPerson {
    /// What the person may do, as a token of the same role would; `None` for a tombstone.
    pub fn principal(&self) -> Option<Principal> {
        if self.revoked_at.is_some() {
            return None;
        }
        let slug = |s: &Option<String>| s.as_deref().and_then(|s| Slug::parse(s).ok());
        let role = match self.role {
            RoleName::Admin => Role::Admin,
            RoleName::Auditor => Role::Auditor,
            RoleName::Coordinator => Role::Coordinator { programme: slug(&self.programme)? },
            RoleName::Recorder => Role::Recorder { programme: slug(&self.programme)?, partner: slug(&self.partner)? },
        };
        Some(Principal { name: self.name.clone(), role })
    }

    pub fn status(&self) -> &'static str {
        match (&self.revoked_at, &self.password) {
            (Some(_), _) => "revoked",
            (None, None) => "invited",
            (None, Some(_)) => "active",
        }
    }
}

/// Whom to invite: a token request's role and scope (checked by the same rules), a display name and an e-mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub role: TokenRequest,
    pub display_name: String,
    pub email: String,
}

impl Invitation {
    pub fn check(&self, now: DateTime<Utc>) -> Vec<Fault> {
        let mut faults = self.role.check(now);
        faults.retain(|f| f.field != "expires_at");
        if self.display_name.trim().is_empty() {
            faults.push(Fault::new("display_name", "give the person's name as colleagues know it"));
        }
        let email = self.email.trim();
        let plausible = email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace));
        if !plausible {
            faults.push(Fault::new("email", format!("'{email}' is not an e-mail address (name@example.org)")));
        }
        faults
    }
}

/// Why an invitation could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the name '{0}' is taken by a token or a person; the log's actor names must keep meaning one holder — choose another")]
    NameTaken(String),
    #[error("invalid request")]
    Invalid(Vec<Fault>),
    #[error("this invitation link is unknown, was used already, or was withdrawn; ask an admin for a new one")]
    UnknownInvitation,
    #[error("this invitation expired at {0}; ask an admin for a new one")]
    ExpiredInvitation(String),
    #[error("no person is named '{0}'")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] ReadError),
}

/// People, their sessions and the sign-in throttle: what the server keeps about accounts.
#[derive(Debug)]
pub struct Accounts {
    pub people: People,
    pub sessions: sessions::Sessions,
    pub throttle: throttle::Throttle,
    pub catch_up: catch_up::CatchUp,
}

impl Accounts {
    pub fn load(store: Arc<dyn RecordStore>) -> Result<Accounts, ReadError> {
        Ok(Accounts {
            people: People::load(Arc::clone(&store))?,
            sessions: sessions::Sessions::load(Arc::clone(&store))?,
            throttle: throttle::Throttle::new(store),
            catch_up: catch_up::CatchUp::default(),
        })
    }
}

/// Every person by name, as last written to the store; locked across every write of the table.
#[derive(Debug)]
pub struct People {
    store: Arc<dyn RecordStore>,
    records: Mutex<BTreeMap<String, StoredPerson>>,
}

impl People {
    pub fn load(store: Arc<dyn RecordStore>) -> Result<People, ReadError> {
        let mut records = BTreeMap::new();
        for (name, bytes) in store.list(Table::People)? {
            let person: StoredPerson = serde_json::from_slice(&bytes)
                .map_err(|e| ReadError::Unavailable(format!("stored person '{name}' is unreadable: {e}")))?;
            records.insert(name, person);
        }
        Ok(People { store, records: Mutex::new(records) })
    }

    /// Takes over what other servers sharing the store changed (people invited, changed or revoked there);
    /// how many changed. See `Tokens::refresh`.
    pub fn refresh(&self) -> Result<usize, ReadError> {
        let stored = self.store.list(Table::People)?;
        let mut records = self.records.lock();
        let mut changed = 0;
        for (name, bytes) in stored {
            let person: StoredPerson = serde_json::from_slice(&bytes)
                .map_err(|e| ReadError::Unavailable(format!("stored person '{name}' is unreadable: {e}")))?;
            if records.get(&name) != Some(&person) {
                records.insert(name, person);
                changed += 1;
            }
        }
        Ok(changed)
    }

    pub fn get(&self, name: &str) -> Option<StoredPerson> {
        self.records.lock().get(name).cloned()
    }

    pub fn has(&self, name: &str) -> bool {
        self.records.lock().contains_key(name)
    }

    pub fn list(&self) -> Vec<StoredPerson> {
        self.records.lock().values().cloned().collect()
    }

    /// Invites a new person, the name checked free by `name_free` (tokens share the names); the invitation's
    /// secret, shown once. Blocks on the store's durable write.
    pub fn invite(&self, invitation: &Invitation, by: &str, name_free: impl Fn(&str) -> bool) -> Result<String, AccountError> {
        let now = Utc::now();
        let faults = invitation.check(now);
        if !faults.is_empty() {
            return Err(AccountError::Invalid(faults));
        }
        let name = invitation.role.name.clone();
        let mut records = self.records.lock();
        if records.contains_key(&name) || !name_free(&name) {
            return Err(AccountError::NameTaken(name));
        }
        let (secret, open) = invitation_secret(now);
        let person = StoredPerson {
            name: name.clone(),
            display_name: invitation.display_name.trim().to_owned(),
            email: invitation.email.trim().to_owned(),
            role: invitation.role.role,
            programme: invitation.role.programme.clone(),
            partner: invitation.role.partner.clone(),
            password: None,
            invitation: Some(open),
            created_at: rfc3339(now),
            invited_by: by.to_owned(),
            revoked_at: None,
        };
        if !self.store.insert_new(Table::People, &name, &to_bytes(&person))? {
            return Err(AccountError::NameTaken(name));
        }
        records.insert(name, person);
        Ok(secret)
    }

    /// A new invitation for a live person (a forgotten password): the old password stops working when the new
    /// one is set, not before. The secret, shown once.
    pub fn reinvite(&self, name: &str) -> Result<String, AccountError> {
        let (secret, open) = invitation_secret(Utc::now());
        self.change(name, |person| person.invitation = Some(open))?;
        Ok(secret)
    }

    /// The live person an invitation secret belongs to, if it is open.
    pub fn invited(&self, secret: &str) -> Result<StoredPerson, AccountError> {
        let hash = hex::encode(digest(secret));
        let records = self.records.lock();
        let person = records
            .values()
            .find(|p| p.revoked_at.is_none() && p.invitation.as_ref().is_some_and(|(h, _)| *h == hash))
            .ok_or(AccountError::UnknownInvitation)?;
        let (_, until) = person.invitation.as_ref().expect("found by its invitation");
        if DateTime::parse_from_rfc3339(until).map_or(true, |at| at <= Utc::now()) {
            return Err(AccountError::ExpiredInvitation(until.clone()));
        }
        Ok(person.clone())
    }

    /// Sets the password of the person the open invitation belongs to and closes the invitation.
    pub fn accept(&self, secret: &str, password: &str) -> Result<StoredPerson, AccountError> {
        let person = self.invited(secret)?;
        if let Some(why) = password::refusal(password, &person.name, &person.email) {
            return Err(AccountError::Invalid(vec![Fault::new("password", why)]));
        }
        let phc = password::hash(password);
        self.change(&person.name, |p| {
            p.password = Some(phc.clone());
            p.invitation = None;
        })
    }

    /// Changes a live person's role and scope (checked as a token's).
    pub fn change_role(&self, name: &str, role: &TokenRequest) -> Result<StoredPerson, AccountError> {
        let faults: Vec<Fault> = role.check(Utc::now()).into_iter().filter(|f| f.field != "name" && f.field != "expires_at").collect();
        if !faults.is_empty() {
            return Err(AccountError::Invalid(faults));
        }
        self.change(name, |p| {
            p.role = role.role;
            p.programme = role.programme.clone();
            p.partner = role.partner.clone();
        })
    }

    /// Revokes a person, keeping the record as a tombstone; `false` if they were revoked before.
    pub fn revoke(&self, name: &str) -> Result<bool, AccountError> {
        let mut revoked = true;
        self.change_any(name, |p| {
            revoked = p.revoked_at.is_none();
            if revoked {
                p.revoked_at = Some(rfc3339(Utc::now()));
                p.invitation = None;
            }
        })?;
        Ok(revoked)
    }

    fn change(&self, name: &str, edit: impl FnOnce(&mut StoredPerson)) -> Result<StoredPerson, AccountError> {
        if self.get(name).is_none_or(|p| p.revoked_at.is_some()) {
            return Err(AccountError::Unknown(name.to_owned()));
        }
        self.change_any(name, edit)
    }

    fn change_any(&self, name: &str, edit: impl FnOnce(&mut StoredPerson)) -> Result<StoredPerson, AccountError> {
        let mut records = self.records.lock();
        let mut person = records.get(name).cloned().ok_or_else(|| AccountError::Unknown(name.to_owned()))?;
        edit(&mut person);
        self.store.put(Table::People, name, &to_bytes(&person))?;
        records.insert(name.to_owned(), person.clone());
        Ok(person)
    }
}

fn to_bytes(person: &StoredPerson) -> Vec<u8> {
    serde_json::to_vec(person).expect("a person always serialises")
}

/// A new invitation secret, and what is stored of it: its hash and when it stops working.
fn invitation_secret(now: DateTime<Utc>) -> (String, (String, String)) {
    let secret = new_secret();
    let open = (hex::encode(digest(&secret)), rfc3339(now + Duration::days(INVITATION_DAYS)));
    (secret, open)
}
