//! The log's tables and their versioned migrations. Opening a database brings its schema to [`MIGRATIONS`]'
//! length in one transaction, under a transaction-scoped advisory lock so that nodes starting together
//! migrate once; a database whose schema is newer than this code knows is refused, never written.
//!
//! Version 1:
//! - `log_head`: one row — the last position, its chain hash and `recorded_at`. Every append locks it first
//!   (`FOR UPDATE`), which orders the writers of every node and makes positions gapless without a sequence.
//! - `events`: one row per event: its position (the key), stream and version (unique together), event id
//!   (unique), programme, `recorded_at`, and the envelope as the exact canonical bytes that were hashed, with
//!   the hash. The other columns index the bytes; the bytes are what is read. A trigger refuses every `UPDATE`,
//!   `DELETE` and `TRUNCATE`: stored events are never rewritten.
//! - `streams`: each stream's current version, upserted by the appending transaction.
//! - `records`: the record store's tables (tokens, idempotency keys, people, sessions) as (table, key, value),
//!   keys ordered bytewise (`COLLATE "C"`) as sled orders them.
//! - `snapshots`: derived state by name (the progress projection's snapshot).

use tokio_postgres::Client;

use super::Failure;

/// The advisory lock held while the schema is checked and migrated (an arbitrary key: "tracker" in ASCII).
const MIGRATION_LOCK: i64 = 0x0074_7261_636b_6572;

/// Each migration's SQL; the schema's version is the number applied.
pub(super) const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position bigint NOT NULL,
    hash bytea NOT NULL,
    recorded_at timestamptz
);
INSERT INTO log_head (position, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

CREATE TABLE events (
    position bigint PRIMARY KEY,
    stream text NOT NULL,
    version bigint NOT NULL,
    event_id uuid NOT NULL UNIQUE,
    programme text NOT NULL,
    recorded_at timestamptz NOT NULL,
    canonical bytea NOT NULL,
    hash bytea NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX events_by_programme ON events (programme, position);

CREATE FUNCTION events_are_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored events are never changed or removed';
END
$$;
CREATE TRIGGER events_are_permanent BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_permanent();

CREATE TABLE streams (
    stream text PRIMARY KEY,
    version bigint NOT NULL
);

CREATE TABLE records (
    tbl text NOT NULL,
    key text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tbl, key)
);

CREATE TABLE snapshots (
    name text PRIMARY KEY,
    bytes bytea NOT NULL
);
"#];

/// Why a database's schema could not be brought to this code's version.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the database's schema has version {found}, newer than the {known} this tracker knows; run a newer tracker")]
    Newer { found: i32, known: i32 },
    #[error("migrating the schema to version {version}: {error}")]
    Migration { version: i32, error: String },
    #[error("reading the schema's version: {0}")]
    Unreadable(String),
}

/// The schema version this code writes.
pub(super) fn latest() -> i32 {
    MIGRATIONS.len() as i32
}

/// Brings the database's schema to [`latest`]; returns the version it had.
pub(super) async fn migrate(client: &mut Client) -> Result<i32, SchemaError> {
    let unreadable = |error: tokio_postgres::Error| SchemaError::Unreadable(Failure::from(error).to_string());
    let transaction = client.transaction().await.map_err(unreadable)?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(unreadable)?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS tracker_schema (version integer NOT NULL)")
        .await
        .map_err(unreadable)?;
    let found: Option<i32> =
        transaction.query_opt("SELECT version FROM tracker_schema", &[]).await.map_err(unreadable)?.map(|row| row.get(0));
    let found = match found {
        Some(version) => version,
        None => {
            transaction.execute("INSERT INTO tracker_schema (version) VALUES (0)", &[]).await.map_err(unreadable)?;
            0
        }
    };
    if found > latest() {
        return Err(SchemaError::Newer { found, known: latest() });
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(found as usize) {
        let failed = |error: tokio_postgres::Error| SchemaError::Migration { version, error: Failure::from(error).to_string() };
        transaction.batch_execute(sql).await.map_err(failed)?;
        transaction.execute("UPDATE tracker_schema SET version = $1", &[&version]).await.map_err(failed)?;
    }
    transaction.commit().await.map_err(unreadable)?;
    Ok(found)
}
