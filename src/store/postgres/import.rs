//! Filling an empty PostgreSQL log from an export (`tracker import --store postgres://…`), which moves a
//! deployment from a data directory to a database: the envelopes — verified whole beforehand by the caller —
//! keep their positions, times and hashes, and go in as one transaction holding the head row, so an
//! interrupted import leaves the database as empty as it was and no node appends in between.

use std::collections::HashMap;

use events::Envelope;
use tokio_postgres::types::ToSql;

use super::conn::{self, Sql};
use super::read::{bigint, head_of};
use super::writer::EventColumns;
use super::{Failure, PgLog};
use crate::store::Head;

/// Events inserted per statement.
const IMPORT_BATCH: usize = 4096;

impl PgLog {
    /// Imports `envelopes`, which must continue one another from position 1 (the caller verified the chain),
    /// into this log, which must be empty; `progress` hears the count written so far. Answers the new head.
    pub async fn import(
        &self,
        envelopes: impl IntoIterator<Item = anyhow::Result<Envelope>>,
        mut progress: impl FnMut(u64),
    ) -> anyhow::Result<Head> {
        let failed = |error: tokio_postgres::Error| anyhow::anyhow!("{}", Failure::from(error));
        let open = conn::open(&self.inner.endpoint, conn::Role::Writer, &self.inner.handle).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let client = &open.client;
        client.batch_execute("BEGIN").await.map_err(failed)?;
        let locked = client.query_one(open.statement(Sql::LockHead), &[]).await.map_err(failed)?;
        let head = head_of(&locked)?;
        anyhow::ensure!(head.position == 0, "the database already holds {} events; import needs an empty log", head.position);

        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut last: Option<Envelope> = None;
        let mut pending = Vec::with_capacity(IMPORT_BATCH);
        let mut count = 0;
        let mut envelopes = envelopes.into_iter().peekable();
        while envelopes.peek().is_some() {
            pending.clear();
            for envelope in envelopes.by_ref().take(IMPORT_BATCH) {
                pending.push(envelope?);
            }
            for envelope in &pending {
                anyhow::ensure!(envelope.position == count + 1, "the import skips from position {count} to {}", envelope.position);
                versions.insert(envelope.stream.clone(), envelope.version);
                count += 1;
            }
            let canonical: Vec<Vec<u8>> = pending.iter().map(Envelope::canonical_bytes).collect();
            let columns = EventColumns::of(&pending);
            client.execute(open.statement(Sql::InsertEvents), &columns.params(&canonical)).await.map_err(failed)?;
            last = pending.last().cloned();
            progress(count);
        }
        let Some(last) = last else {
            client.batch_execute("ROLLBACK").await.map_err(failed)?;
            return Ok(Head::EMPTY);
        };
        let streams: Vec<(&String, i64)> = versions.iter().map(|(stream, &version)| (stream, bigint(version))).collect();
        for chunk in streams.chunks(IMPORT_BATCH) {
            let (names, numbers): (Vec<&str>, Vec<i64>) = chunk.iter().map(|(s, v)| (s.as_str(), *v)).unzip();
            let rows: [&(dyn ToSql + Sync); 2] = [&names, &numbers];
            client.execute(open.statement(Sql::UpsertStreams), &rows).await.map_err(failed)?;
        }
        let head: [&(dyn ToSql + Sync); 3] = [&bigint(last.position), &&last.hash.0[..], &last.recorded_at.as_micros()];
        client.query(open.statement(Sql::MoveHead), &head).await.map_err(failed)?;
        client.batch_execute("COMMIT").await.map_err(failed)?;
        self.inner.publish(last.position);
        Ok(Head { position: last.position, hash: last.hash, recorded_at: Some(last.recorded_at) })
    }
}
