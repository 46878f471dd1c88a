//! The record store (tokens, idempotency keys, people, sessions) and the snapshots of derived state, in tables
//! `records` and `snapshots`. Each write is one statement in its own transaction, committed with
//! `synchronous_commit = on` before it returns; insert-if-absent is `INSERT … ON CONFLICT DO NOTHING` and
//! replace-if-unchanged an `UPDATE … WHERE value = expected`, so nodes writing one key agree on which of them did.
//!
//! These traits are synchronous, and they are called from threads of `spawn_blocking`, from async code at
//! start-up, and from runtimes of either flavour. Each call runs its statement as a task on the engine's own
//! runtime and blocks the calling thread on a channel until the task answers: that needs no runtime on the
//! calling thread and never nests one runtime in another (which `Handle::block_on` would, and
//! `block_in_place` cannot do on a current-thread runtime). Like sled's writes, a call blocks the thread it is
//! made on for as long as the database takes.

use std::future::Future;

use super::conn::Sql;
use super::{Failure, PgLog};
use crate::projection_store::SnapshotStore;
use crate::store::{ReadError, RecordStore, Table};

impl PgLog {
    /// Runs `work` on the engine's runtime and waits for its answer on this thread.
    fn blocking<T: Send + 'static>(&self, work: impl Future<Output = Result<T, ReadError>> + Send + 'static) -> Result<T, ReadError> {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        self.inner.handle.spawn(async move {
            let _ = answer.send(work.await);
        });
        answered.recv().map_err(|_| ReadError::Unavailable("the log is closed".into()))?
    }

    /// One statement on a pooled connection, its rows.
    fn rows(&self, sql: Sql, params: Vec<Param>) -> Result<Vec<tokio_postgres::Row>, ReadError> {
        let inner = std::sync::Arc::clone(&self.inner);
        self.blocking(async move {
            let connection = inner.pool.get().await.map_err(Failure::into_read)?;
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
            connection.client.query(connection.statement(sql), &params).await.map_err(write_error)
        })
    }

    /// One statement on a pooled connection, the number of rows it changed.
    fn change(&self, sql: Sql, params: Vec<Param>) -> Result<u64, ReadError> {
        let inner = std::sync::Arc::clone(&self.inner);
        self.blocking(async move {
            let connection = inner.pool.get().await.map_err(Failure::into_read)?;
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
            connection.client.execute(connection.statement(sql), &params).await.map_err(write_error)
        })
    }
}

/// A statement's parameter, owned so that it can go to the engine's runtime.
enum Param {
    Text(String),
    Bytes(Vec<u8>),
}

impl Param {
    fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Text(text) => text,
            Param::Bytes(bytes) => bytes,
        }
    }
}

fn text(value: &str) -> Param {
    Param::Text(value.to_owned())
}

/// A full disk refuses the write as the sled store does (`WritesRefused`, 507); anything else is unavailable.
fn write_error(error: tokio_postgres::Error) -> ReadError {
    let failure = Failure::from(error);
    match failure.storage_full() {
        Some(full) => ReadError::WritesRefused(full),
        None => failure.into_read(),
    }
}

impl RecordStore for PgLog {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let rows = self.rows(Sql::RecordGet, vec![text(table.name()), text(key)])?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, ReadError> {
        let rows = self.rows(Sql::RecordList, vec![text(table.name())])?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn insert_new(&self, table: Table, key: &str, value: &[u8]) -> Result<bool, ReadError> {
        Ok(self.change(Sql::RecordInsertNew, vec![text(table.name()), text(key), Param::Bytes(value.to_vec())])? == 1)
    }

    fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<(), ReadError> {
        self.change(Sql::RecordPut, vec![text(table.name()), text(key), Param::Bytes(value.to_vec())]).map(drop)
    }

    fn replace(&self, table: Table, key: &str, expected: &[u8], value: &[u8]) -> Result<bool, ReadError> {
        let params = vec![text(table.name()), text(key), Param::Bytes(expected.to_vec()), Param::Bytes(value.to_vec())];
        Ok(self.change(Sql::RecordReplace, params)? == 1)
    }

    fn remove(&self, table: Table, key: &str) -> Result<bool, ReadError> {
        Ok(self.change(Sql::RecordRemove, vec![text(table.name()), text(key)])? > 0)
    }

    fn remove_if(&self, table: Table, key: &str, expected: &[u8]) -> Result<bool, ReadError> {
        Ok(self.change(Sql::RecordRemoveIf, vec![text(table.name()), text(key), Param::Bytes(expected.to_vec())])? == 1)
    }
}

/// Snapshots are shared by the nodes: each names the log position and chain hash it belongs to, so whichever
/// node saved last, any node can catch up from it.
impl SnapshotStore for PgLog {
    fn load_snapshot(&self, name: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let rows = self.rows(Sql::SnapshotGet, vec![text(name)])?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn save_snapshot(&self, name: &str, bytes: &[u8]) -> Result<(), ReadError> {
        self.change(Sql::SnapshotPut, vec![text(name), Param::Bytes(bytes.to_vec())]).map(drop)
    }
}
