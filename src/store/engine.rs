//! Which engine holds the log, chosen where the process starts (`tracker --store …`) and nowhere else: a
//! [`StoreLocation`] names it, an [`Engine`] is it opened. Everything the rest of the application needs from an
//! engine goes through the traits an `Engine` hands out — the log, the record store, the snapshots — so
//! nothing above this module knows which one runs.

use std::path::PathBuf;
use std::sync::Arc;

use super::{EventLog, PgLog, RecordStore, SledLog};
use crate::projection_store::SnapshotStore;

/// Where the log is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded sled store in this data directory (`--data DIR`, or `--store sled:DIR`).
    Sled(PathBuf),
    /// A PostgreSQL database, by its connection string (`--store postgres://user@host/database`).
    Postgres(String),
}

impl StoreLocation {
    /// Reads `sled:DIR`, `postgres://…` or `postgresql://…`.
    pub fn parse(text: &str) -> Result<StoreLocation, String> {
        if let Some(dir) = text.strip_prefix("sled:") {
            if dir.is_empty() {
                return Err("sled: needs a directory, e.g. sled:./data".into());
            }
            return Ok(StoreLocation::Sled(PathBuf::from(dir)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(text.to_owned()));
        }
        Err("a store is sled:DIR or a PostgreSQL URL (postgres://user@host/database)".into())
    }
}

/// An open engine.
#[derive(Clone, Debug)]
pub enum Engine {
    Sled(Arc<SledLog>),
    Postgres(Arc<PgLog>),
}

impl Engine {
    pub fn log(&self) -> Arc<dyn EventLog> {
        match self {
            Engine::Sled(log) => log.clone(),
            Engine::Postgres(log) => log.clone(),
        }
    }

    pub fn records(&self) -> Arc<dyn RecordStore> {
        match self {
            Engine::Sled(log) => log.clone(),
            Engine::Postgres(log) => log.clone(),
        }
    }

    pub fn snapshots(&self) -> &dyn SnapshotStore {
        match self {
            Engine::Sled(log) => log.as_ref(),
            Engine::Postgres(log) => log.as_ref(),
        }
    }

    /// Where the log is, for the operator: a data directory, or a database without its password.
    pub fn location(&self) -> String {
        match self {
            Engine::Sled(log) => log.dir().display().to_string(),
            Engine::Postgres(log) => log.location().to_owned(),
        }
    }

    /// Stops the writer once the appends already queued are answered (for sled, after a last checkpoint).
    pub async fn close(&self) {
        match self {
            Engine::Sled(log) => log.close(),
            Engine::Postgres(log) => log.close().await,
        }
    }
}
