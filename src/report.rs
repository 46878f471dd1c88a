//! Progress reports read from a log: which log position a query stands at (`at_position`, or `known_at` turned
//! into a position), the report itself from the progress projection, and its renderings as JSON, CSV and a
//! terminal table with a bar per indicator.

use std::sync::Arc;

use chrono::NaiveDate;
use events::{DomainEvent, Envelope, Timestamp};
use projections::{ProgressProjection, ProgressQuery, ProgressReport};

use crate::store::{event_at, EventLog, ReadError};

/// Events read per call while replaying.
const REPLAY_BATCH: usize = 4096;

/// What a report is asked for; absent times mean "now".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportRequest {
    pub as_of: Option<NaiveDate>,
    pub known_at: Option<Timestamp>,
    pub at_position: Option<u64>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("unknown programme '{0}'")]
    UnknownProgramme(String),
    #[error("programme '{programme}' was not yet registered at log position {position}")]
    NotYetRegistered { programme: String, position: u64 },
    #[error(transparent)]
    Query(#[from] crate::query::QueryFault),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// The cores this process may use (1 when unknown): how many threads share decoding, snapshots and restores.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Builds the progress projection from the whole log.
pub async fn replay(log: &dyn EventLog) -> Result<ProgressProjection, ReadError> {
    let mut projection = ProgressProjection::new();
    catch_up(log, &mut projection).await?;
    Ok(projection)
}

/// Applies every event after the projection's position, up to the head. Decoding the payloads costs more than
/// applying them and needs no order, so with more than one core this task reads batch after batch and hands
/// each to a thread that applies them in log order, and both decode: a batch's payloads are taken in chunks by
/// whichever thread is free (this one after reading it, the applier once it has applied the one before), so
/// neither waits while the other has decoding left.
pub async fn catch_up(log: &dyn EventLog, projection: &mut ProgressProjection) -> Result<(), ReadError> {
    let threads = cores();
    if threads <= 1 {
        loop {
            let batch = log.read_all(projection.position() + 1, REPLAY_BATCH).await?;
            if batch.is_empty() {
                return Ok(());
            }
            let events = batch.iter().map(ProgressProjection::decode).collect();
            apply_all(projection, &batch, events);
        }
    }
    // One batch waiting at most, beside the one being applied.
    let (batches, inbox) = std::sync::mpsc::sync_channel::<Arc<Batch>>(1);
    // Applied batches come back to be dropped here, where they were allocated.
    let (spent, returned) = std::sync::mpsc::channel::<Arc<Batch>>();
    let mut owned = std::mem::take(projection);
    let mut next = owned.position() + 1;
    let applier = std::thread::Builder::new()
        .name("progress-apply".into())
        .spawn(move || {
            for batch in inbox {
                batch.decode_chunks();
                let events = batch.decoded();
                apply_all(&mut owned, &batch.envelopes, events);
                let _ = spent.send(batch);
            }
            owned
        })
        .map_err(|e| ReadError::Unavailable(format!("cannot start a thread: {e}")))?;
    let read = async {
        loop {
            let envelopes = log.read_all(next, REPLAY_BATCH).await?;
            let Some(last) = envelopes.last() else { return Ok(()) };
            next = last.position + 1;
            let batch = Arc::new(Batch::new(envelopes));
            returned.try_iter().for_each(drop);
            if batches.send(Arc::clone(&batch)).is_err() {
                // The applier is gone, which only a panic there does; joining below passes it on.
                return Ok(());
            }
            batch.decode_chunks();
        }
    };
    let result: Result<(), ReadError> = read.await;
    drop(batches);
    *projection = applier.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    result
}

/// Envelopes read for a catch-up, decoded chunk by chunk by whichever thread takes the chunk.
struct Batch {
    envelopes: Vec<Envelope>,
    chunks: Vec<parking_lot::Mutex<Vec<Option<DomainEvent>>>>,
    /// The next chunk nobody has taken.
    taken: std::sync::atomic::AtomicUsize,
    /// How many chunks are decoded.
    done: parking_lot::Mutex<usize>,
    all_done: parking_lot::Condvar,
}

impl Batch {
    const CHUNK: usize = 128;

    fn new(envelopes: Vec<Envelope>) -> Batch {
        let chunks = envelopes.len().div_ceil(Batch::CHUNK);
        Batch {
            envelopes,
            chunks: (0..chunks).map(|_| parking_lot::Mutex::new(Vec::new())).collect(),
            taken: std::sync::atomic::AtomicUsize::new(0),
            done: parking_lot::Mutex::new(0),
            all_done: parking_lot::Condvar::new(),
        }
    }

    /// Decodes chunks until none is left to take.
    fn decode_chunks(&self) {
        loop {
            let chunk = self.taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(envelopes) = self.envelopes.chunks(Batch::CHUNK).nth(chunk) else { return };
            *self.chunks[chunk].lock() = envelopes.iter().map(ProgressProjection::decode).collect();
            let mut done = self.done.lock();
            *done += 1;
            if *done == self.chunks.len() {
                self.all_done.notify_all();
            }
        }
    }

    /// Every envelope's event, in order, once every chunk is decoded (waiting for chunks other threads took).
    fn decoded(&self) -> Vec<Option<DomainEvent>> {
        let mut done = self.done.lock();
        while *done < self.chunks.len() {
            self.all_done.wait(&mut done);
        }
        drop(done);
        let mut events = Vec::with_capacity(self.envelopes.len());
        for chunk in &self.chunks {
            events.append(&mut chunk.lock());
        }
        events
    }
}

fn apply_all(projection: &mut ProgressProjection, envelopes: &[Envelope], events: Vec<Option<DomainEvent>>) {
    for (envelope, event) in envelopes.iter().zip(events) {
        projection.apply_decoded(envelope, event);
    }
}

/// The last position recorded at or before `at` (0 when none). `recorded_at` never goes backwards along
/// positions, so this is a binary search.
pub async fn position_known_at(log: &dyn EventLog, at: Timestamp) -> Result<u64, ReadError> {
    let (mut low, mut high) = (0, log.head().await?.position);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        let recorded_at = recorded_at(log, mid).await?;
        if recorded_at <= at {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    Ok(low)
}

pub(crate) async fn recorded_at(log: &dyn EventLog, position: u64) -> Result<Timestamp, ReadError> {
    event_at(log, position)
        .await?
        .map(|e| e.recorded_at)
        .ok_or_else(|| ReadError::Corrupt { position, reason: "the record is missing".into() })
}

/// The report for `programme` as the request asks. The transaction time is the `known_at` asked for, else the
/// time of the last log event reflected; `as_of` defaults to that moment's date when a past position or time is
/// asked for, and to `today` otherwise — so a query with `at_position` gives the same bytes forever.
pub async fn progress_report(
    log: &dyn EventLog,
    projection: &ProgressProjection,
    programme: &str,
    request: &ReportRequest,
    today: NaiveDate,
) -> Result<ProgressReport, ReportError> {
    let head = log.head().await?;
    request.check(head.position, Timestamp::now())?;
    let position = match (request.at_position, request.known_at) {
        (Some(p), _) => p.min(projection.position()),
        (None, Some(at)) => position_known_at(log, at).await?.min(projection.position()),
        (None, None) => projection.position(),
    };
    let moment = match request.known_at {
        Some(at) => Some(at),
        // At the head (the usual question) the time is the published head's; only a past position reads its event.
        None if position > 0 => match head {
            head if head.position == position && head.recorded_at.is_some() => head.recorded_at,
            _ => Some(recorded_at(log, position).await?),
        },
        None => None,
    };
    let as_of = match (request.as_of, request.at_position.or(request.known_at.map(|_| 0))) {
        (Some(day), _) => day,
        (None, Some(_)) => moment.map_or(today, |m| m.to_datetime().date_naive()),
        (None, None) => today,
    };
    let query = ProgressQuery { as_of, at_position: Some(position) };
    let mut report = projection.report(programme, &query).ok_or_else(|| match projection.programme(programme) {
        Some(_) => ReportError::NotYetRegistered { programme: programme.to_owned(), position },
        None => ReportError::UnknownProgramme(programme.to_owned()),
    })?;
    report.known_at = moment.map(|m| m.to_rfc3339());
    // The chain hash at the position the report reflects: with the position, the head an auditor checks it by.
    report.hash = match log.head().await? {
        head if head.position == report.position => Some(head.hash.to_hex()),
        _ => event_at(log, report.position).await?.map(|e| e.hash.to_hex()),
    };
    Ok(report)
}

/// The report as CSV (RFC 4180: CRLF line ends): one row per indicator, each starting with what the report
/// reflects (`crate::exports::REFLECTS_COLUMNS`: programme, as_of, known_at, log_position, log_hash).
pub fn to_csv(report: &ProgressReport) -> String {
    let mut headings = crate::exports::REFLECTS_COLUMNS.to_vec();
    headings.extend(["indicator", "label", "unit", "target", "baseline", "actual", "pending", "percent", "expected", "status"]);
    let mut out = csv_line(headings.into_iter());
    let context = crate::exports::reflects(report);
    for i in &report.indicators {
        let percent = i.percent.map(|p| format!("{p:.1}")).unwrap_or_default();
        let fields = [&i.id, &i.label, &i.unit, &i.target, &i.baseline, &i.actual, &i.pending, &percent, &i.expected]
            .map(String::as_str)
            .into_iter()
            .chain([i.status.as_str()]);
        out.push_str(&csv_line(context.iter().map(String::as_str).chain(fields)));
    }
    out
}

/// One CSV record: the fields, quoted where they need it, separated by commas and ended by CRLF (RFC 4180).
pub(crate) fn csv_line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let mut line = fields.map(csv_field).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The report as a terminal table with a bar per indicator.
pub fn to_table(report: &ProgressReport) -> String {
    const BAR: usize = 24;
    let mut out = format!(
        "{} — progress as of {}, known at {}, log position {}\n\n",
        report.programme,
        report.as_of,
        report.known_at.as_deref().unwrap_or("the start"),
        report.position
    );
    let label_width = report.indicators.iter().map(|i| i.label.chars().count()).max().unwrap_or(9).max(9);
    out.push_str(&format!("{:<label_width$}  {:<BAR$}  {:>7}  {:>24}  {:>12}  status\n", "indicator", "progress", "", "actual / target", "expected"));
    for i in &report.indicators {
        let fraction = i.percent.unwrap_or(100.0).clamp(0.0, 100.0) / 100.0;
        let filled = (fraction * BAR as f64).round() as usize;
        let bar = format!("{}{}", "█".repeat(filled), "░".repeat(BAR - filled));
        let percent = i.percent.map_or("-".to_owned(), |p| format!("{p:.1}%"));
        let status = i.status.as_str().replace('_', " ");
        let amounts = format!("{} / {} {}", i.actual, i.target, i.unit);
        out.push_str(&format!(
            "{:<label_width$}  {bar}  {percent:>7}  {amounts:>24}  {:>12}  {status}\n",
            i.label, i.expected
        ));
    }
    let b = &report.budget;
    out.push_str(&format!(
        "\nbudget {} {}; partner shares {}; grants awarded {}; grants paid {}\n",
        b.currency,
        b.total.as_deref().unwrap_or("not stated"),
        b.partner_shares,
        b.grants_awarded,
        b.grants_paid
    ));
    out
}
