//! Connections to PostgreSQL: opening one (its driver task on the engine's runtime, the session settings every
//! connection of the log has, the statements prepared once), the statements themselves, and the small pool the
//! readers and the record store borrow connections from.
//!
//! Every connection sets `synchronous_commit = on` for its session, whatever the server's default: a commit
//! returns only once its WAL is flushed, which is the durability an append promises. A connection left idle
//! inside a transaction for a minute (a client that vanished without closing its socket) is ended by the
//! server, so the head row it may hold locked is freed for the other writers.

use std::sync::Arc;

use futures_util::future::try_join_all;
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config, Statement};

use super::tls::Endpoint;
use super::Failure;

/// The session settings of every connection of the log.
const SESSION: &str = "SET synchronous_commit = on; SET idle_in_transaction_session_timeout = '60s'";

/// The statements every connection prepares when it opens, by name; their text is [`Sql::text`].
#[derive(Clone, Copy, Debug)]
pub(super) enum Sql {
    /// The head row, locked until the transaction ends, with the database's clock read after the lock.
    LockHead,
    Head,
    InsertEvents,
    UpsertStreams,
    MoveHead,
    ReadAll,
    ReadStream,
    ReadProgramme,
    StreamVersion,
    EventPosition,
    RecordGet,
    RecordList,
    RecordInsertNew,
    RecordPut,
    RecordReplace,
    RecordRemove,
    RecordRemoveIf,
    SnapshotGet,
    SnapshotPut,
}

/// Microseconds since the Unix epoch of a `timestamptz` expression (exact: `extract` gives a numeric).
macro_rules! micros {
    ($e:literal) => {
        concat!("(extract(epoch from ", $e, ") * 1000000)::bigint")
    };
}

/// A `timestamptz` from microseconds since the Unix epoch, exactly.
macro_rules! from_micros {
    ($e:literal) => {
        concat!("(timestamptz 'epoch' + ", $e, " * interval '1 microsecond')")
    };
}

impl Sql {
    const ALL: [Sql; 19] = [
        Sql::LockHead,
        Sql::Head,
        Sql::InsertEvents,
        Sql::UpsertStreams,
        Sql::MoveHead,
        Sql::ReadAll,
        Sql::ReadStream,
        Sql::ReadProgramme,
        Sql::StreamVersion,
        Sql::EventPosition,
        Sql::RecordGet,
        Sql::RecordList,
        Sql::RecordInsertNew,
        Sql::RecordPut,
        Sql::RecordReplace,
        Sql::RecordRemove,
        Sql::RecordRemoveIf,
        Sql::SnapshotGet,
        Sql::SnapshotPut,
    ];

    fn text(self) -> &'static str {
        match self {
            Sql::LockHead => concat!(
                "SELECT position, hash, ",
                micros!("recorded_at"),
                ", ",
                micros!("clock_timestamp()"),
                " FROM log_head FOR UPDATE"
            ),
            Sql::Head => concat!("SELECT position, hash, ", micros!("recorded_at"), " FROM log_head"),
            Sql::InsertEvents => concat!(
                "INSERT INTO events (position, stream, version, event_id, programme, recorded_at, canonical, hash) ",
                "SELECT p, s, v, i, g, ",
                from_micros!("r"),
                ", c, h FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::bigint[], ",
                "$7::bytea[], $8::bytea[]) AS t(p, s, v, i, g, r, c, h)"
            ),
            Sql::UpsertStreams => concat!(
                "INSERT INTO streams (stream, version) SELECT * FROM unnest($1::text[], $2::bigint[]) ",
                "ON CONFLICT (stream) DO UPDATE SET version = excluded.version"
            ),
            Sql::MoveHead => concat!(
                "WITH moved AS (UPDATE log_head SET position = $1::bigint, hash = $2::bytea, recorded_at = ",
                from_micros!("$3::bigint"),
                " RETURNING position) SELECT pg_notify('",
                channel!(),
                "', position::text) FROM moved"
            ),
            Sql::ReadAll => "SELECT position, canonical, hash FROM events WHERE position >= $1::bigint ORDER BY position LIMIT $2::bigint",
            Sql::ReadStream => concat!(
                "SELECT position, canonical, hash FROM events WHERE stream = $1::text AND version >= $2::bigint ",
                "ORDER BY version LIMIT $3::bigint"
            ),
            Sql::ReadProgramme => concat!(
                "SELECT position, canonical, hash FROM events WHERE programme = $1::text AND position >= $2::bigint ",
                "ORDER BY position LIMIT $3::bigint"
            ),
            Sql::StreamVersion => "SELECT version FROM streams WHERE stream = $1::text",
            Sql::EventPosition => "SELECT position FROM events WHERE event_id = $1::uuid",
            Sql::RecordGet => "SELECT value FROM records WHERE tbl = $1::text AND key = $2::text",
            Sql::RecordList => "SELECT key, value FROM records WHERE tbl = $1::text ORDER BY key",
            Sql::RecordInsertNew => {
                "INSERT INTO records (tbl, key, value) VALUES ($1::text, $2::text, $3::bytea) ON CONFLICT DO NOTHING"
            }
            Sql::RecordPut => concat!(
                "INSERT INTO records (tbl, key, value) VALUES ($1::text, $2::text, $3::bytea) ",
                "ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value"
            ),
            Sql::RecordReplace => {
                "UPDATE records SET value = $4::bytea WHERE tbl = $1::text AND key = $2::text AND value = $3::bytea"
            }
            Sql::RecordRemove => "DELETE FROM records WHERE tbl = $1::text AND key = $2::text",
            Sql::RecordRemoveIf => "DELETE FROM records WHERE tbl = $1::text AND key = $2::text AND value = $3::bytea",
            Sql::SnapshotGet => "SELECT bytes FROM snapshots WHERE name = $1::text",
            Sql::SnapshotPut => concat!(
                "INSERT INTO snapshots (name, bytes) VALUES ($1::text, $2::bytea) ",
                "ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes"
            ),
        }
    }
}

/// An open connection with its statements prepared.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) client: Client,
    statements: Vec<Statement>,
}

impl Connection {
    pub(super) fn statement(&self, sql: Sql) -> &Statement {
        &self.statements[sql as usize]
    }
}

/// What a connection is for, shown as its `application_name` (`tracker-writer`…) in `pg_stat_activity`
/// unless the connection string names one.
#[derive(Clone, Copy, Debug)]
pub(super) enum Role {
    Schema,
    Writer,
    Listener,
    Reader,
}

/// The configuration of a connection for `role`.
pub(super) fn for_role(config: &Config, role: Role) -> Config {
    let mut config = config.clone();
    if config.get_application_name().is_none() {
        let name = match role {
            Role::Schema => "tracker-schema",
            Role::Writer => "tracker-writer",
            Role::Listener => "tracker-listener",
            Role::Reader => "tracker-reader",
        };
        config.application_name(name);
    }
    config
}

/// Opens a connection for `role` on the engine's runtime (`handle`), where its driver task runs, and sets the
/// session; nothing prepared (the schema's migration runs before the tables exist).
pub(super) async fn open_client(endpoint: &Endpoint, role: Role, handle: &Handle) -> Result<Client, Failure> {
    let (config, tls) = (for_role(&endpoint.config, role), endpoint.tls.clone());
    let opened = handle.spawn(async move {
        let (client, connection) = config.connect(tls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a PostgreSQL connection ended with an error");
            }
        });
        client.batch_execute(SESSION).await?;
        Ok::<_, tokio_postgres::Error>(client)
    });
    match opened.await {
        Ok(outcome) => Ok(outcome?),
        // The runtime is shutting down: the log is closed.
        Err(_) => Err(Failure::Closed),
    }
}

/// A connection with the log's statements prepared (the schema must exist).
pub(super) async fn open(endpoint: &Endpoint, role: Role, handle: &Handle) -> Result<Connection, Failure> {
    let client = open_client(endpoint, role, handle).await?;
    // Prepared together: one round trip's wait for all of them.
    let statements = try_join_all(Sql::ALL.iter().map(|sql| client.prepare(sql.text()))).await?;
    Ok(Connection { client, statements })
}

/// Connections for readers and the record store: at most `size` open at once, kept open between uses.
#[derive(Debug)]
pub(super) struct Pool {
    endpoint: Endpoint,
    handle: Handle,
    idle: parking_lot::Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// A connection borrowed from the pool; it goes back when dropped, unless it was closed.
#[derive(Debug)]
pub(super) struct Lease<'a> {
    pool: &'a Pool,
    connection: Option<Connection>,
    _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection.as_ref().expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take().filter(|c| !c.client.is_closed()) {
            self.pool.idle.lock().push(connection);
        }
    }
}

impl Pool {
    pub(super) fn new(endpoint: Endpoint, handle: Handle, size: usize) -> Pool {
        Pool { endpoint, handle, idle: parking_lot::Mutex::new(Vec::new()), permits: Arc::new(Semaphore::new(size.max(1))) }
    }

    /// A connection: an idle one that is still open, or a new one.
    pub(super) async fn get(&self) -> Result<Lease<'_>, Failure> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(|_| Failure::Closed)?;
        let idle = loop {
            let Some(connection) = self.idle.lock().pop() else { break None };
            if !connection.client.is_closed() {
                break Some(connection);
            }
        };
        let connection = match idle {
            Some(connection) => connection,
            None => open(&self.endpoint, Role::Reader, &self.handle).await?,
        };
        Ok(Lease { pool: self, connection: Some(connection), _permit: permit })
    }
}
