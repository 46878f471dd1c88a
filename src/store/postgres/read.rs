//! Reading the log from PostgreSQL: the reads of [`EventLog`](crate::store::EventLog), each one statement on a
//! pooled connection, and the decoding of a stored row — the envelope's canonical bytes and its hash — back into
//! an [`Envelope`]. Decoding runs in the reader's task, not on the engine's runtime.
//!
//! Readers see only committed events, and commits are visible in position order: an appending transaction holds
//! the head row locked until its commit is visible, so the next one cannot commit before it. Commits are
//! visible only after their WAL is flushed (`synchronous_commit = on`): nothing a reader saw can be lost.

use events::{ChainHash, Envelope, Timestamp};
use tokio_postgres::Row;

use super::conn::Sql;
use super::{Failure, Inner};
use crate::store::{Head, ReadError};

/// The envelope stored at `position` as `canonical` bytes with `hash`, read by the events crate's reader of
/// stored canonical bytes (the payload kept as stored: the hash chain tells whether it was changed).
pub(super) fn decode(position: i64, canonical: &[u8], hash: &[u8]) -> Result<Envelope, ReadError> {
    let position = position as u64;
    let corrupt = |reason: String| ReadError::Corrupt { position, reason };
    let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt(format!("the stored hash has {} bytes", hash.len())))?;
    let envelope = Envelope::from_stored_canonical(canonical, ChainHash(hash))
        .map_err(|e| corrupt(format!("the stored envelope is not readable: {e}")))?;
    if envelope.position != position {
        return Err(corrupt(format!("the stored envelope names position {}", envelope.position)));
    }
    Ok(envelope)
}

/// A row of (position, canonical, hash) as an envelope.
pub(super) fn decode_row(row: &Row) -> Result<Envelope, ReadError> {
    decode(row.get(0), row.get(1), row.get(2))
}

/// A `LIMIT` for PostgreSQL's `bigint`.
fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A position or version for PostgreSQL's `bigint` (nothing is stored beyond `i64::MAX`).
pub(super) fn bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The head row: position, hash and `recorded_at` in microseconds.
pub(super) fn head_of(row: &Row) -> Result<Head, ReadError> {
    let position: i64 = row.get(0);
    let hash: &[u8] = row.get(1);
    let hash: [u8; 32] =
        hash.try_into().map_err(|_| ReadError::Corrupt { position: position as u64, reason: "the head's hash is not 32 bytes".into() })?;
    let recorded_at: Option<i64> = row.get(2);
    Ok(Head { position: position as u64, hash: ChainHash(hash), recorded_at: recorded_at.map(Timestamp::from_micros) })
}

impl Inner {
    /// Runs one statement of the reads on a pooled connection; once more on another connection when the first
    /// one was lost (a pooled connection the server ended while it was idle).
    async fn rows(&self, sql: Sql, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<Vec<Row>, ReadError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let connection = self.pool.get().await.map_err(Failure::into_read)?;
            match connection.client.query(connection.statement(sql), params).await.map_err(Failure::from) {
                Ok(rows) => return Ok(rows),
                Err(failure) if failure.connection_lost() && tries < 2 => continue,
                Err(failure) => return Err(failure.into_read()),
            }
        }
    }

    pub(super) async fn read_all(&self, from: u64, limit_to: usize) -> Result<Vec<Envelope>, ReadError> {
        if limit_to == 0 {
            return Ok(Vec::new());
        }
        let rows = self.rows(Sql::ReadAll, &[&bigint(from.max(1)), &limit(limit_to)]).await?;
        rows.iter().map(decode_row).collect()
    }

    pub(super) async fn read_stream(&self, stream: &str, from_version: u64, limit_to: usize) -> Result<Vec<Envelope>, ReadError> {
        if limit_to == 0 {
            return Ok(Vec::new());
        }
        let rows = self.rows(Sql::ReadStream, &[&stream, &bigint(from_version), &limit(limit_to)]).await?;
        rows.iter().map(decode_row).collect()
    }

    pub(super) async fn read_programme(&self, programme: &str, from: u64, limit_to: usize) -> Result<Vec<Envelope>, ReadError> {
        if limit_to == 0 {
            return Ok(Vec::new());
        }
        let rows = self.rows(Sql::ReadProgramme, &[&programme, &bigint(from), &limit(limit_to)]).await?;
        rows.iter().map(decode_row).collect()
    }

    pub(super) async fn stream_version(&self, stream: &str) -> Result<Option<u64>, ReadError> {
        let rows = self.rows(Sql::StreamVersion, &[&stream]).await?;
        Ok(rows.first().map(|row| row.get::<_, i64>(0) as u64).filter(|&v| v > 0))
    }

    pub(super) async fn head(&self) -> Result<Head, ReadError> {
        let rows = self.rows(Sql::Head, &[]).await?;
        let row = rows.first().ok_or_else(|| ReadError::Unavailable("the log_head row is missing".into()))?;
        head_of(row)
    }
}
