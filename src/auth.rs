//! API tokens: bearer secrets with a role. Only the SHA-256 of a secret is stored (in the record store's
//! `tokens` table, by name, and in memory by hash for lookups); the secret itself is shown once when issued and
//! never logged. Secrets are 32 random bytes from the operating system, so a plain hash suffices: there is
//! nothing to guess that a slow hash would protect.

use std::collections::HashMap;
use std::sync::Arc;

use events::{Role, Slug};
use parking_lot::RwLock;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{ReadError, RecordStore, Table};

/// The prefix of every secret, so a leaked one is easy to recognise.
const PREFIX: &str = "trk_";

/// A token as stored: who it is and what it may do, never the secret.
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
}

impl TokenRequest {
    /// Checks the shape (the programme and partner must exist: the caller checks that against the projection).
    pub fn check(&self) -> Vec<events::Fault> {
        use events::Fault;
        let mut faults = Vec::new();
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

/// The tokens, looked up by the SHA-256 of their secret. Each is kept as the principal it stands for, made
/// once when it is loaded or issued; a stored token whose programme or partner is not a valid slug stands for no
/// one (it is kept, so that the name stays taken, but never authenticates).
#[derive(Debug)]
pub struct Tokens {
    store: Arc<dyn RecordStore>,
    by_hash: RwLock<HashMap<[u8; 32], Live>>,
}

/// A token in memory: its name, and the principal it stands for if its role is complete.
#[derive(Debug)]
struct Live {
    name: String,
    principal: Option<Arc<Principal>>,
}

impl Live {
    fn of(token: &StoredToken) -> Live {
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
        Live { name: token.name.clone(), principal }
    }
}

impl Tokens {
    /// Loads every stored token.
    pub fn load(store: Arc<dyn RecordStore>) -> Result<Tokens, ReadError> {
        let mut by_hash = HashMap::new();
        for (name, bytes) in store.list(Table::Tokens)? {
            let unreadable = |e: &dyn std::fmt::Display| ReadError::Unavailable(format!("stored token '{name}' is unreadable: {e}"));
            let token: StoredToken = serde_json::from_slice(&bytes).map_err(|e| unreadable(&e))?;
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&token.hash, &mut digest).map_err(|e| unreadable(&e))?;
            by_hash.insert(digest, Live::of(&token));
        }
        Ok(Tokens { store, by_hash: RwLock::new(by_hash) })
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.read().is_empty()
    }

    /// The principal a secret stands for, if it is a live token.
    pub fn authenticate(&self, secret: &str) -> Option<Arc<Principal>> {
        let digest = digest(secret);
        self.by_hash.read().get(&digest)?.principal.clone()
    }

    /// Issues a token and returns its secret, which is not kept. Blocks on the store's durable write.
    pub fn issue(&self, request: &TokenRequest) -> Result<String, IssueError> {
        let faults = request.check();
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
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let bytes = serde_json::to_vec(&token).expect("a token always serialises");
        // The map stays locked across the store's write, so an issue and a revocation of one name cannot
        // interleave and leave memory and store disagreeing.
        let mut by_hash = self.by_hash.write();
        if !self.store.insert_new(Table::Tokens, &token.name, &bytes)? {
            return Err(IssueError::NameTaken(token.name));
        }
        by_hash.insert(digest, Live::of(&token));
        Ok(secret)
    }

    /// Revokes a token by name; `false` when there is none. Blocks on the store's durable write.
    pub fn revoke(&self, name: &str) -> Result<bool, ReadError> {
        let mut by_hash = self.by_hash.write();
        if !self.store.remove(Table::Tokens, name)? {
            return Ok(false);
        }
        by_hash.retain(|_, token| token.name != name);
        Ok(true)
    }
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

/// What a token is stored and looked up under: the SHA-256 of its secret (the secret itself is never kept).
fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}
