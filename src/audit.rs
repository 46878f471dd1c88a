//! Audit operations on any [`EventLog`]: verify the hash chain, export the log as NDJSON, and check an
//! exported file completely before anything of it is imported.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use events::{ChainError, ChainHash, ChainVerifier, Envelope};

use crate::store::{EventLog, ReadError};

/// Events read per call while walking the whole log.
const READ_BATCH: usize = 4096;

/// The result of recomputing the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events that were checked and found good.
    pub events: u64,
    /// The last good position and its hash.
    pub head: (u64, ChainHash),
    /// The first thing found wrong, if any.
    pub first_bad: Option<ChainError>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Recomputes the whole chain from position 1 to the head.
pub async fn verify_log(log: &dyn EventLog, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport, ReadError> {
    let head = log.head().await?;
    let mut verifier = ChainVerifier::new();
    let mut from = 1;
    let first_bad = loop {
        if from > head.position {
            break None;
        }
        let batch = match log.read_all(from, READ_BATCH).await {
            Ok(batch) => batch,
            Err(ReadError::Corrupt { position, reason }) => {
                // Check what precedes the unreadable record, so the count and head stay exact.
                let before = log.read_all(from, (position - from) as usize).await?;
                if let Some(error) = before.iter().find_map(|e| verifier.check(e).err()) {
                    break Some(error);
                }
                break Some(ChainError { position, reason });
            }
            Err(other) => return Err(other),
        };
        if batch.is_empty() {
            break Some(ChainError { position: from, reason: "the record is missing".into() });
        }
        if let Some(error) = batch.iter().find_map(|e| verifier.check(e).err()) {
            break Some(error);
        }
        from = verifier.checked() + 1;
        progress(verifier.checked(), head.position);
    };
    // The head the log publishes must be the one the chain arrives at: anything else is a truncated or
    // rewritten log.
    let first_bad = first_bad.or_else(|| {
        let (position, hash) = verifier.head();
        (position != head.position || hash != head.hash).then(|| ChainError {
            position: position + 1,
            reason: format!("the published head {} / {} is not where the chain ends", head.position, head.hash),
        })
    });
    Ok(VerifyReport { events: verifier.checked(), head: verifier.head(), first_bad })
}

/// Writes every event as one NDJSON line; returns how many.
pub async fn export_log(
    log: &dyn EventLog,
    out: &mut impl Write,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    let head = log.head().await?.position;
    let mut from = 1;
    while from <= head {
        let batch = log.read_all(from, READ_BATCH).await?;
        let Some(last) = batch.last() else { anyhow::bail!("position {from} is missing from the log") };
        from = last.position + 1;
        for envelope in &batch {
            out.write_all(envelope.to_json_line().as_bytes())?;
            out.write_all(b"\n")?;
        }
        progress(from - 1, head);
    }
    out.flush()?;
    Ok(head)
}

/// A head the server published (`GET /v1/audit/head`, `tracker verify`) and an auditor kept: position and
/// chain hash, written `POS:HASH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishedHead {
    pub position: u64,
    pub hash: ChainHash,
}

impl std::str::FromStr for PublishedHead {
    type Err = String;

    fn from_str(text: &str) -> Result<PublishedHead, String> {
        let (position, hash) = text.split_once(':').ok_or("expected POSITION:HASH, e.g. 42:9f86d0…")?;
        let position = position.parse().map_err(|_| format!("'{position}' is not a position"))?;
        let hash = ChainHash::parse_hex(hash).map_err(|e| format!("'{hash}' is not a chain hash: {e}"))?;
        Ok(PublishedHead { position, hash })
    }
}

/// Reads an NDJSON export and checks all of it — canonical form of each line and the whole chain — writing the
/// lines to `spool` as it goes. Nothing reaches the store unless this returns `Ok`.
///
/// The chain alone cannot show that events were cut off the end: a prefix of a log is a valid log. With a
/// `published` head the export must also reach that position and carry that hash there; an export made later
/// may go on beyond it.
pub fn check_export(
    input: impl BufRead,
    spool: &mut impl Write,
    published: Option<PublishedHead>,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<(u64, ChainHash)> {
    let mut verifier = ChainVerifier::new();
    for (number, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", number + 1))?;
        let position = verifier.checked() + 1;
        let envelope = Envelope::from_json_line(&line)
            .map_err(|e| anyhow::anyhow!("position {position} (line {}): {e}", number + 1))?;
        verifier.check(&envelope).map_err(|e| anyhow::anyhow!("{e} (line {})", number + 1))?;
        if let Some(head) = published.filter(|head| head.position == position && head.hash != envelope.hash) {
            anyhow::bail!(
                "position {position} (line {}): hash {} differs from the published head's {}; the log was rewritten",
                number + 1,
                envelope.hash,
                head.hash
            );
        }
        spool.write_all(line.as_bytes())?;
        spool.write_all(b"\n")?;
        if position % 4096 == 0 {
            progress(position);
        }
    }
    spool.flush()?;
    progress(verifier.checked());
    if let Some(head) = published.filter(|head| head.position > verifier.checked()) {
        anyhow::bail!(
            "the export ends at position {} but the published head is position {}: it is truncated",
            verifier.checked(),
            head.position
        );
    }
    Ok(verifier.head())
}
