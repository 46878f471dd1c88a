//! Events of the programme tracker: the stored envelope and its hash chain, and (from the domain issue) the
//! programme and activity types, commands and rules. Pure: no IO, no HTTP, no storage engine.

pub mod envelope;

pub use envelope::{ChainError, ChainHash, ChainVerifier, Envelope, EnvelopeError, EventData, Timestamp};
