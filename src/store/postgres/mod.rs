//! The event log on PostgreSQL: [`PgLog`], the engine for deployments that outgrow one machine. Any number of
//! `tracker serve` processes ("nodes") open the same database and share one log, with every promise of the
//! sled log (SPEC §5): positions 1, 2, 3… gapless and visible in order, versions gapless per stream, one hash
//! chain, expected versions and guards checked atomically with the append, permanent idempotency by event id,
//! and an append acknowledged only after its `COMMIT` returned with `synchronous_commit = on`.
//!
//! The parts: `schema.rs` the tables and their versioned migrations (made or brought up to date on open; a newer
//! schema is refused); `conn.rs` connections, the prepared statements and a small pool; `writer.rs` the one
//! writer task per node, which takes every waiting append into one transaction ordered by a lock on the single
//! head row; `read.rs` the reads and the decoding of stored canonical bytes; `notify.rs` `LISTEN`/`NOTIFY` for
//! `wait_beyond`; `records.rs` the [`RecordStore`](crate::store::RecordStore) and the snapshots; `import.rs`
//! filling an empty database from an export; `tls.rs` TLS to the database, with libpq's `sslmode` meanings.
//!
//! The engine runs on a runtime of its own (two worker threads), created when the log opens and shut down when
//! it is dropped: the connections' driver tasks, the writer and the listener live there, so the log works the
//! same whichever runtime — multi-threaded, current-thread, or one per test — its callers use, and the
//! synchronous record store can block its caller on an answer from that runtime without nesting runtimes.
//! Reads run their statements from the caller's task (a client only talks to its driver over a channel) and
//! decode there; appends go to the writer over a channel.
//!
//! The envelopes are stored as the exact canonical bytes that were hashed, built and hashed in Rust by the same
//! code as the sled writer's (`staging.rs`), so both engines hold the same chain for the same events. Time comes
//! from the database's clock, read after the head row is locked, and never goes back before the head's
//! `recorded_at`. The database is trusted with durability: a failed write is that request's failure (a full disk
//! refuses it as sled's does, 507) and the next write is tried again; it does not stop the log.

/// The channel every appending transaction notifies with its new head position (a macro, for the SQL text).
macro_rules! channel {
    () => {
        "tracker_log"
    };
}

mod conn;
mod import;
mod notify;
mod read;
mod records;
mod schema;
mod tls;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use events::Envelope;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};
use tokio_postgres::error::SqlState;
use tokio_postgres::Config;

use super::{AppendError, AppendRequest, Appended, EventLog, Head, LogStats, ReadError, WriteFailure};

pub use schema::SchemaError;

const CHANNEL: &str = channel!();

/// Tuning of the PostgreSQL engine.
#[derive(Clone, Debug)]
pub struct PgLogOptions {
    /// Most events written in one transaction.
    pub max_batch_events: usize,
    /// Most connections open at once for reads and records (the writer and the listener have their own).
    pub pool_size: usize,
    /// How often the head is read while the listening connection is lost.
    pub poll_every: Duration,
}

impl Default for PgLogOptions {
    fn default() -> Self {
        PgLogOptions { max_batch_events: 2048, pool_size: 8, poll_every: Duration::from_millis(250) }
    }
}

/// Why a PostgreSQL log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PgOpenError {
    #[error("the store is not a PostgreSQL connection string ({0}); write e.g. postgres://tracker@db.example/tracker")]
    BadUrl(String),
    #[error("TLS to PostgreSQL: {0}")]
    Tls(String),
    #[error("connecting to PostgreSQL at {at}: {cause}")]
    Connect { at: String, cause: String },
    #[error("PostgreSQL at {at}: {error}")]
    Schema { at: String, error: SchemaError },
    #[error("starting the PostgreSQL engine's runtime: {0}")]
    Runtime(std::io::Error),
}

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{}", describe(.0))]
    Pg(#[from] tokio_postgres::Error),
    #[error("the log is closed")]
    Closed,
    #[error("the database's log tables are damaged: {0}")]
    Schema(String),
}

/// A database error as its code and message; any other error with its causes.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

/// Whether the database answered `error` by refusing a statement, the connection going on: not when the
/// connection failed, nor when the server ended the session (SQLSTATE classes 08 and 57, such as 57P01 for
/// `pg_terminate_backend` or a shutdown), after which a transaction's outcome is not known from its answers.
fn refused(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| !matches!(&db.code().code()[..2], "08" | "57"))
}

impl Failure {
    /// Whether the connection failed (and a statement may work on another one).
    fn connection_lost(&self) -> bool {
        match self {
            Failure::Pg(error) => !refused(error),
            Failure::Closed | Failure::Schema(_) => false,
        }
    }

    fn code(&self) -> Option<&SqlState> {
        match self {
            Failure::Pg(error) => error.code(),
            _ => None,
        }
    }

    /// The refusal of a database whose disk is full.
    fn storage_full(&self) -> Option<WriteFailure> {
        (self.code() == Some(&SqlState::DISK_FULL)).then(|| WriteFailure { storage_full: true, cause: self.to_string() })
    }

    fn into_read(self) -> ReadError {
        ReadError::Unavailable(self.to_string())
    }

    fn to_append(&self) -> AppendError {
        if let Some(full) = self.storage_full() {
            return AppendError::WritesRefused(full);
        }
        match self.code() {
            // Text PostgreSQL cannot hold (a NUL character): the request's fault, whatever the log holds.
            Some(code) if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *code == SqlState::UNTRANSLATABLE_CHARACTER => {
                AppendError::Invalid(self.to_string())
            }
            _ => AppendError::Unavailable(self.to_string()),
        }
    }
}

/// What the writer, the listener, the readers and the log's face share.
#[derive(Debug)]
struct Inner {
    /// The database and how to reach it (`tls.rs`).
    endpoint: tls::Endpoint,
    /// The engine's runtime.
    handle: Handle,
    pool: conn::Pool,
    /// The highest head position this node knows to be committed.
    heads: watch::Sender<u64>,
    stats: parking_lot::Mutex<LogStats>,
    options: PgLogOptions,
}

impl Inner {
    /// Makes `position` the known head if it is beyond it, waking `wait_beyond`.
    fn publish(&self, position: u64) {
        self.heads.send_if_modified(|head| {
            let beyond = position > *head;
            if beyond {
                *head = position;
            }
            beyond
        });
    }
}

/// The event log in a PostgreSQL database.
#[derive(Debug)]
pub struct PgLog {
    inner: Arc<Inner>,
    writer: parking_lot::Mutex<Option<writer::Writer>>,
    runtime: parking_lot::Mutex<Option<tokio::runtime::Runtime>>,
    at: String,
}

impl PgLog {
    /// Connects to the database at `url` (`postgres://user@host:port/database`, or any form
    /// `tokio_postgres::Config` reads, such as `host=/run/postgresql dbname=tracker`), creates or migrates the
    /// schema, and starts the writer and the listener.
    pub async fn open(url: &str, options: PgLogOptions) -> Result<PgLog, PgOpenError> {
        let endpoint = tls::endpoint(url)?;
        let at = location(&endpoint.config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tracker-pg")
            .enable_all()
            .build()
            .map_err(PgOpenError::Runtime)?;
        let handle = runtime.handle().clone();
        let (heads, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            pool: conn::Pool::new(endpoint.clone(), handle.clone(), options.pool_size),
            endpoint,
            handle,
            heads,
            stats: parking_lot::Mutex::new(LogStats::default()),
            options,
        });
        // From here on the runtime is shut down (never dropped in place, which async code may not do) on failure.
        let log = PgLog { inner, writer: parking_lot::Mutex::new(None), runtime: parking_lot::Mutex::new(Some(runtime)), at };
        log.prepare().await?;
        let head = log.inner.head().await.map_err(|e| PgOpenError::Connect { at: log.at.clone(), cause: e.to_string() })?;
        log.inner.publish(head.position);
        *log.writer.lock() = Some(writer::start(&log.inner, log.inner.options.max_batch_events));
        log.inner.handle.spawn(notify::listen(Arc::clone(&log.inner)));
        Ok(log)
    }

    /// Creates or migrates the schema, and warns when the server does not make commits durable.
    async fn prepare(&self) -> Result<(), PgOpenError> {
        let connect = |cause: String| PgOpenError::Connect { at: self.at.clone(), cause };
        let mut client =
            conn::open_client(&self.inner.endpoint, conn::Role::Schema, &self.inner.handle).await.map_err(|e| connect(e.to_string()))?;
        let found = schema::migrate(&mut client).await.map_err(|error| PgOpenError::Schema { at: self.at.clone(), error })?;
        if found < schema::latest() {
            tracing::info!(at = %self.at, from = found, to = schema::latest(), "migrated the database's schema");
        }
        let fsync = client.query_one("SHOW fsync", &[]).await.map_err(|e| connect(Failure::from(e).to_string()))?;
        if fsync.get::<_, &str>(0) != "on" {
            tracing::warn!(at = %self.at, "the PostgreSQL server runs with fsync off: a crash of its machine can lose acknowledged events");
        }
        Ok(())
    }

    /// Where the log is, without any password: `postgres://user@host:port/database`.
    pub fn location(&self) -> &str {
        &self.at
    }

    /// Stops the writer once the appends already queued are answered. Also done (without waiting) on drop.
    pub async fn close(&self) {
        let writer = self.writer.lock().take();
        if let Some(writer) = writer {
            drop(writer.requests);
            let _ = writer.task.await;
        }
    }
}

/// `postgres://user@host:port/database` of a configuration, leaving out the password.
fn location(config: &Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    format!("postgres://{user}@{host}:{port}/{}", config.get_dbname().unwrap_or(user))
}

impl Drop for PgLog {
    fn drop(&mut self) {
        drop(self.writer.lock().take());
        if let Some(runtime) = self.runtime.lock().take() {
            runtime.shutdown_background();
        }
    }
}

#[async_trait]
impl EventLog for PgLog {
    async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let (reply, answer) = oneshot::channel();
        {
            let writer = self.writer.lock();
            let writer = writer.as_ref().ok_or_else(|| AppendError::Unavailable("the log is closed".into()))?;
            writer.requests.send((request, reply)).map_err(|_| AppendError::Unavailable("the log writer has stopped".into()))?;
        }
        let started = std::time::Instant::now();
        let outcome = answer.await.map_err(|_| AppendError::Unavailable("the log writer has stopped".into()))?;
        if outcome.is_ok() {
            self.inner.stats.lock().observe_append(started.elapsed());
        }
        outcome
    }

    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        self.inner.read_all(from, limit).await
    }

    async fn read_stream(&self, stream: &str, from_version: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        self.inner.read_stream(stream, from_version, limit).await
    }

    async fn read_programme(&self, programme: &str, from: u64, limit: usize) -> Result<Vec<Envelope>, ReadError> {
        self.inner.read_programme(programme, from, limit).await
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, ReadError> {
        self.inner.stream_version(stream).await
    }

    async fn head(&self) -> Result<Head, ReadError> {
        self.inner.head().await
    }

    async fn known_head_position(&self) -> Result<u64, ReadError> {
        Ok(*self.inner.heads.borrow())
    }

    async fn wait_beyond(&self, position: u64) -> Result<u64, ReadError> {
        let mut heads = self.inner.heads.subscribe();
        let head = heads.wait_for(|&head| head > position).await.map_err(|_| ReadError::Unavailable("the log is closed".into()))?;
        Ok(*head)
    }

    fn stats(&self) -> LogStats {
        *self.inner.stats.lock()
    }
}
