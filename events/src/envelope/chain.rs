//! The SHA-256 hash chain over the log (SPEC §5): [`ChainHash`], `hash_n = SHA-256(hash_{n-1} ‖ canonical
//! bytes of envelope n)`, and [`ChainVerifier`], which walks a log in position order and names the first
//! thing wrong with it — a gap in positions or stream versions, a repeated id, time going backwards, or a hash
//! that does not follow.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Envelope, EnvelopeError, Timestamp};

/// A SHA-256 digest in the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// `hash_0`: the hash before the first event.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// `hash_n = SHA-256(hash_{n-1} ‖ canonical bytes of envelope n)`.
    pub fn next(&self, canonical: &[u8]) -> ChainHash {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(canonical);
        ChainHash(hasher.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn parse_hex(text: &str) -> Result<ChainHash, EnvelopeError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| EnvelopeError::Malformed(format!("hash '{text}' is not 64 hex digits")))?;
        Ok(ChainHash(bytes))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ChainHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// The first thing wrong with a log, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {position}: {reason}")]
pub struct ChainError {
    pub position: u64,
    pub reason: String,
}

/// Checks a log read in position order: gapless positions from 1, per-stream versions from 1 without gaps,
/// unique event ids, `recorded_at` never going backwards, and every hash in the chain.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    checked: u64,
    previous_hash: Option<ChainHash>,
    previous_recorded_at: Option<Timestamp>,
    stream_versions: HashMap<String, u64>,
    ids: HashSet<Uuid>,
}

impl ChainVerifier {
    pub fn new() -> ChainVerifier {
        ChainVerifier::default()
    }

    /// Checks the next envelope; on failure the verifier is left as it was.
    pub fn check(&mut self, envelope: &Envelope) -> Result<(), ChainError> {
        let position = self.checked + 1;
        let fail = |reason: String| ChainError { position, reason };
        if envelope.position != position {
            return Err(fail(format!("expected position {position}, found {}", envelope.position)));
        }
        let current = self.stream_versions.get(&envelope.stream).copied().unwrap_or(0);
        if envelope.version != current + 1 {
            return Err(fail(format!(
                "stream '{}' expected version {}, found {}",
                envelope.stream,
                current + 1,
                envelope.version
            )));
        }
        if self.ids.contains(&envelope.id) {
            return Err(fail(format!("event id {} appears twice", envelope.id)));
        }
        if let Some(previous) = self.previous_recorded_at {
            if envelope.recorded_at < previous {
                return Err(fail("recorded_at goes backwards".to_string()));
            }
        }
        let previous_hash = self.previous_hash.unwrap_or(ChainHash::GENESIS);
        let expected = envelope.expected_hash(&previous_hash);
        if expected != envelope.hash {
            return Err(fail(format!("hash mismatch: stored {}, computed {}", envelope.hash, expected)));
        }
        self.checked = position;
        self.previous_hash = Some(envelope.hash);
        self.previous_recorded_at = Some(envelope.recorded_at);
        self.stream_versions.insert(envelope.stream.clone(), envelope.version);
        self.ids.insert(envelope.id);
        Ok(())
    }

    /// Events checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The head of the verified chain: the last position and its hash (`0` and 32 zero bytes when empty).
    pub fn head(&self) -> (u64, ChainHash) {
        (self.checked, self.previous_hash.unwrap_or(ChainHash::GENESIS))
    }
}
