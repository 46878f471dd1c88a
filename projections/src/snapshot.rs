//! The progress projection's snapshot: a compact binary form of the whole projection, written by hand so that
//! start-up reads a million activities in a fraction of a second (JSON of every revision took seconds).
//!
//! Layout (integers are LEB128 varints unless said otherwise; `zigzag` for signed ones; strings are a varint
//! length and UTF-8 bytes):
//! ```text
//! snapshot  = position · programme count · (name · u64 section length · section)*
//! section   = definitions · positions · activities · head index
//! definitions = count · (position · ProgrammeState as JSON)*          (few: one per programme event)
//! positions = count · (delta from the previous position)*
//! activities = count · (uuid[16] · revision count · revision*)*      (by id)
//! revision  = position · zigzag recorded_at delta · u8 event type · u8 status · u8 flags · [uuid] · [activity] · [note]
//! ```
//! An activity is written once and shared again by the revisions that kept it (flag `SAME_ACTIVITY`). The
//! activities of each kind are derived from the current states on reading. Programme sections carry their
//! length, so they are read on several threads. The format is named by `ProgressProjection::VERSION`: change
//! it and bump that.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use events::activity::{
    AttributeValue, ChampionTrained, ClusterVisit, ConferenceHeld, ConsultationHeld, CoursePublished, CustomActivity,
    Evidence, GrantAwarded, GrantPaid, GuidePublished, PeerVisit, PolicyImplemented, StaffExchange, TrainingDelivered,
    TrainingMode, VideoPublished, WorkshopHeld,
};
use events::event::EVENT_TYPES;
use events::values::LanguageCode;
use events::{
    Activity, ActivityDetails, ActivityKind, ActivityStatus, Money, Participants, ProgrammeState, Quantity,
    Slug, Timestamp,
};
use uuid::Uuid;

use crate::progress::{ActivityHistory, ActivityRevision, ProgrammeHistory, ProgressProjection, RevisionState};

/// Why a snapshot could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the snapshot is unreadable: {0}")]
pub struct SnapshotError(String);

type Result<T> = std::result::Result<T, SnapshotError>;

fn error<T>(message: impl Into<String>) -> Result<T> {
    Err(SnapshotError(message.into()))
}

const HAS_ID: u8 = 1;
const HAS_NOTE: u8 = 2;
const NEW_ACTIVITY: u8 = 4;
const SAME_ACTIVITY: u8 = 8;
/// The state's id is the activity's key (always, once it was recorded): not written again.
const ID_IS_KEY: u8 = 16;

/// A status is stored as its index in this list (changing its order means a new `ProgressProjection::VERSION`).
const STATUSES: [ActivityStatus; 5] = ActivityStatus::ALL;

const MODES: [TrainingMode; 3] = [TrainingMode::Online, TrainingMode::InPerson, TrainingMode::Hybrid];

/// Bytes being written.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
    /// The slugs written so far in this section, by their number (see [`Writer::slug`]): a list while it is
    /// short (searched in order), and a map beside it once it is long.
    slug_list: Vec<Slug>,
    slugs: std::collections::HashMap<Slug, u64>,
}

impl Writer {
    /// A slug: its number when this section already wrote it, else 0 and the text (which gets the next number).
    /// Partners and clusters repeat in nearly every activity.
    fn slug(&mut self, slug: &Slug) {
        const SHORT: usize = 32;
        let known = if self.slug_list.len() <= SHORT {
            self.slug_list.iter().position(|s| s == slug).map(|i| i as u64 + 1)
        } else {
            self.slugs.get(slug).copied()
        };
        match known {
            Some(n) => self.varint(n),
            None => {
                self.slug_list.push(slug.clone());
                let n = self.slug_list.len() as u64;
                if n as usize > SHORT {
                    if self.slugs.is_empty() {
                        self.slugs.extend(self.slug_list.iter().cloned().zip(1..));
                    } else {
                        self.slugs.insert(slug.clone(), n);
                    }
                }
                self.varint(0);
                self.str(slug.as_str());
            }
        }
    }

    fn opt_slug(&mut self, slug: Option<&Slug>) {
        match slug {
            None => self.u8(0),
            Some(slug) => {
                self.u8(1);
                self.slug(slug);
            }
        }
    }

    pub(crate) fn u8(&mut self, byte: u8) {
        self.out.push(byte);
    }

    pub(crate) fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    pub(crate) fn zigzag(&mut self, n: i64) {
        self.varint(((n << 1) ^ (n >> 63)) as u64);
    }

    pub(crate) fn i128(&mut self, n: i128) {
        self.out.extend_from_slice(&n.to_le_bytes());
    }

    pub(crate) fn str(&mut self, text: &str) {
        self.varint(text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
    }

    fn opt_str(&mut self, text: Option<&str>) {
        match text {
            None => self.u8(0),
            Some(text) => {
                self.u8(1);
                self.str(text);
            }
        }
    }

    pub(crate) fn date(&mut self, date: NaiveDate) {
        self.zigzag(i64::from(date.num_days_from_ce()));
    }

    fn opt_date(&mut self, date: Option<NaiveDate>) {
        match date {
            None => self.u8(0),
            Some(date) => {
                self.u8(1);
                self.date(date);
            }
        }
    }

    fn opt_u32(&mut self, n: Option<u32>) {
        match n {
            None => self.u8(0),
            Some(n) => {
                self.u8(1);
                self.varint(u64::from(n));
            }
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
}

/// Bytes being read.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    /// The slugs read so far in this section, by number less one.
    slugs: Vec<Slug>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return error("it ends early");
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        error("a number is too long")
    }

    /// A count of things that each take at least one byte, so a corrupt count cannot ask for a huge allocation.
    pub(crate) fn count(&mut self) -> Result<usize> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.bytes.len() => Ok(n),
            _ => error(format!("a count of {n} is more than the bytes left")),
        }
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64> {
        let n = self.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    pub(crate) fn i128(&mut self) -> Result<i128> {
        Ok(i128::from_le_bytes(self.take(16)?.try_into().expect("16 bytes")))
    }

    pub(crate) fn str(&mut self) -> Result<&'a str> {
        let len = self.count()?;
        std::str::from_utf8(self.take(len)?).or_else(|_| error("a text is not UTF-8"))
    }

    fn string(&mut self) -> Result<String> {
        self.str().map(str::to_owned)
    }

    fn opt_string(&mut self) -> Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.string().map(Some),
        }
    }

    fn slug(&mut self) -> Result<Slug> {
        match self.varint()? {
            0 => {
                let slug = Slug::parse(self.str()?).or_else(|e| error(e.0))?;
                self.slugs.push(slug.clone());
                Ok(slug)
            }
            n => self.slugs.get(n as usize - 1).cloned().map_or_else(|| error("an unknown slug number"), Ok),
        }
    }

    fn opt_slug(&mut self) -> Result<Option<Slug>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.slug().map(Some),
        }
    }

    pub(crate) fn date(&mut self) -> Result<NaiveDate> {
        let days = self.zigzag()?;
        i32::try_from(days).ok().and_then(NaiveDate::from_num_days_from_ce_opt).map_or_else(|| error("a date is out of range"), Ok)
    }

    fn opt_date(&mut self) -> Result<Option<NaiveDate>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.date().map(Some),
        }
    }

    fn u32(&mut self) -> Result<u32> {
        u32::try_from(self.varint()?).or_else(|_| error("a number is out of range"))
    }

    fn opt_u32(&mut self) -> Result<Option<u32>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.u32().map(Some),
        }
    }

    fn uuid(&mut self) -> Result<Uuid> {
        Ok(Uuid::from_bytes(self.take(16)?.try_into().expect("16 bytes")))
    }

    fn finished(&self) -> Result<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            error("bytes are left over")
        }
    }
}

impl ProgressProjection {
    /// The projection as snapshot bytes, the programmes written on up to `threads` threads;
    /// [`ProgressProjection::from_snapshot`] reads them back.
    pub fn to_snapshot(&self, threads: usize) -> Vec<u8> {
        let programmes: Vec<(&String, &ProgrammeHistory)> = self.programmes.iter().collect();
        let shares = shares(&programmes.iter().map(|(_, h)| h.activities.len()).collect::<Vec<_>>(), threads);
        let write_share = |share: &[usize]| {
            let activities: usize = share.iter().map(|&i| programmes[i].1.activities.len()).sum();
            let mut w = Writer { out: Vec::with_capacity(48 * activities + 1024), ..Writer::default() };
            for &i in share {
                let (name, history) = programmes[i];
                w.str(name);
                w.slugs.clear();
                w.slug_list.clear();
                // The section's length, filled in once it is written: a fixed 8 bytes, so nothing moves.
                let at = w.out.len();
                w.bytes(&[0; 8]);
                write_programme(&mut w, history);
                let len = (w.out.len() - at - 8) as u64;
                w.out[at..at + 8].copy_from_slice(&len.to_le_bytes());
            }
            w.out
        };
        let parts: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let (mine, others) = shares.split_first().expect("at least one share");
            let handles: Vec<_> = others.iter().map(|share| scope.spawn(|| write_share(share))).collect();
            let mut parts = vec![write_share(mine)];
            parts.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))));
            parts
        });
        let mut w = Writer { out: Vec::with_capacity(20 + parts.iter().map(Vec::len).sum::<usize>()), ..Writer::default() };
        w.varint(self.position);
        w.varint(self.programmes.len() as u64);
        for part in parts {
            w.bytes(&part);
        }
        w.out
    }

    /// Reads snapshot bytes, the programmes on up to `threads` threads.
    pub fn from_snapshot(bytes: &[u8], threads: usize) -> std::result::Result<ProgressProjection, SnapshotError> {
        let mut r = Reader { bytes, slugs: Vec::new() };
        let position = r.varint()?;
        let count = r.count()?;
        let mut sections = Vec::with_capacity(count);
        for _ in 0..count {
            let name = r.string()?;
            let len = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
            let len = usize::try_from(len).or_else(|_| error("a section is too long"))?;
            sections.push((name, r.take(len)?));
        }
        r.finished()?;
        let shares = shares(&sections.iter().map(|(_, bytes)| bytes.len()).collect::<Vec<_>>(), threads);
        let read_share = |share: &[usize]| -> Result<Vec<(usize, ProgrammeHistory)>> {
            share.iter().map(|&i| Ok((i, read_programme(sections[i].1)?))).collect()
        };
        let mut histories: Vec<Option<ProgrammeHistory>> = vec![None; sections.len()];
        let results: Vec<Result<Vec<(usize, ProgrammeHistory)>>> = std::thread::scope(|scope| {
            let (mine, others) = shares.split_first().expect("at least one share");
            let handles: Vec<_> = others.iter().map(|share| scope.spawn(|| read_share(share))).collect();
            let mut results = vec![read_share(mine)];
            results.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|_| error("a reader thread failed"))));
            results
        });
        for result in results {
            for (i, history) in result? {
                histories[i] = Some(history);
            }
        }
        let programmes = sections
            .into_iter()
            .zip(histories)
            .map(|((name, _), history)| (name, history.expect("every section was read")))
            .collect();
        Ok(ProgressProjection { programmes, position })
    }
}

/// Splits items of these sizes into at most `threads` shares of similar total size (at least one share), each
/// a list of item indexes: the biggest first, each to the share with the least so far.
fn shares(sizes: &[usize], threads: usize) -> Vec<Vec<usize>> {
    let threads = threads.clamp(1, sizes.len().max(1));
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let mut shares: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); threads];
    for i in order {
        let least = shares.iter_mut().min_by_key(|(total, _)| *total).expect("at least one share");
        least.0 += sizes[i];
        least.1.push(i);
    }
    shares.into_iter().map(|(_, share)| share).collect()
}

fn write_programme(w: &mut Writer, history: &ProgrammeHistory) {
    w.varint(history.definitions.len() as u64);
    for (position, state) in &history.definitions {
        w.varint(*position);
        w.str(&serde_json::to_string(state).expect("programme state always serialises"));
    }
    w.varint(history.positions.len() as u64);
    let mut previous = 0;
    for &position in &history.positions {
        w.varint(position - previous);
        previous = position;
    }
    w.varint(history.activities.len() as u64);
    let mut recorded_at = 0i64;
    for (id, activity) in &history.activities {
        w.bytes(id.as_bytes());
        w.varint(activity.revisions().len() as u64);
        let mut shared: Option<&Arc<Activity>> = None;
        for revision in activity.revisions() {
            w.varint(revision.position);
            w.zigzag(revision.recorded_at.as_micros().wrapping_sub(recorded_at));
            recorded_at = revision.recorded_at.as_micros();
            w.u8(revision.event);
            let state = &revision.state;
            w.u8(STATUSES.iter().position(|s| *s == state.status()).expect("every status is listed") as u8);
            let current = state.shared_activity();
            let same = matches!((current, shared), (Some(a), Some(b)) if Arc::ptr_eq(a, b) || a == b);
            let flags = if state.recorded() { ID_IS_KEY } else { 0 }
                | state.return_note().map_or(0, |_| HAS_NOTE)
                | match (current, same) {
                    (None, _) => 0,
                    (Some(_), true) => SAME_ACTIVITY,
                    (Some(_), false) => NEW_ACTIVITY,
                };
            w.u8(flags);
            if let (Some(activity), false) = (current, same) {
                write_activity(w, activity);
            }
            if let Some(note) = state.return_note() {
                w.str(note);
            }
            if current.is_some() {
                shared = current;
            }
        }
    }
    history.index.write(w);
}

fn read_programme(bytes: &[u8]) -> Result<ProgrammeHistory> {
    let mut r = Reader { bytes, slugs: Vec::new() };
    let mut history = ProgrammeHistory::default();
    let definitions = r.count()?;
    for _ in 0..definitions {
        let position = r.varint()?;
        let state: ProgrammeState =
            serde_json::from_str(r.str()?).or_else(|e| error(format!("a programme definition: {e}")))?;
        history.definitions.push((position, state));
    }
    let positions = r.count()?;
    history.positions.reserve_exact(positions);
    let mut position = 0u64;
    for _ in 0..positions {
        position = position.checked_add(r.varint()?).map_or_else(|| error("a position is out of range"), Ok)?;
        history.positions.push(position);
    }
    let count = r.count()?;
    let mut activities = Vec::with_capacity(count);
    let mut by_kind: BTreeMap<ActivityKind, Vec<Uuid>> = BTreeMap::new();
    let mut recorded_at = 0i64;
    for _ in 0..count {
        let id = r.uuid()?;
        let revisions = r.count()?;
        let mut history = ActivityHistory::default();
        let mut shared: Option<Arc<Activity>> = None;
        for _ in 0..revisions {
            let position = r.varint()?;
            recorded_at = recorded_at.wrapping_add(r.zigzag()?);
            let event = r.u8()?;
            if usize::from(event) >= EVENT_TYPES.len() {
                return error("unknown event type");
            }
            let status = *STATUSES.get(usize::from(r.u8()?)).map_or_else(|| error("unknown status"), Ok)?;
            let flags = r.u8()?;
            // Revisions keep no id of their own: the one they are kept under is the only one applying gives.
            if flags & HAS_ID != 0 {
                return error("a revision's id is not its activity's");
            }
            let recorded = flags & ID_IS_KEY != 0;
            let activity = if flags & NEW_ACTIVITY != 0 {
                let activity = Arc::new(read_activity(&mut r)?);
                shared = Some(Arc::clone(&activity));
                Some(activity)
            } else if flags & SAME_ACTIVITY != 0 {
                Some(shared.clone().map_or_else(|| error("a shared activity is missing"), Ok)?)
            } else {
                None
            };
            let note = if flags & HAS_NOTE != 0 { Some(r.string()?) } else { None };
            let state = RevisionState::from_parts(recorded, activity, status, note);
            history.push(ActivityRevision { position, recorded_at: Timestamp::from_micros(recorded_at), state, event });
        }
        if let Some(activity) = history.current().and_then(|r| r.state.activity()) {
            by_kind.entry(activity.kind()).or_default().push(id);
        }
        activities.push((id, history));
    }
    if activities.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
        return error("activities are not in order");
    }
    // Sorted input: both collections are built in one pass.
    history.activities = activities.into_iter().collect();
    history.by_kind = by_kind.into_iter().map(|(kind, ids)| (kind, ids.into_iter().collect::<BTreeSet<_>>())).collect();
    history.index = crate::index::HeadIndex::read(&mut r)?;
    r.finished()?;
    Ok(history)
}

fn write_activity(w: &mut Writer, activity: &Activity) {
    w.date(activity.occurred_on);
    w.opt_date(activity.ends_on);
    w.slug(&activity.partner);
    w.opt_str(activity.title.as_deref());
    w.opt_str(activity.notes.as_deref());
    w.varint(activity.evidence.len() as u64);
    for evidence in &activity.evidence {
        w.str(&evidence.title);
        w.opt_str(evidence.url.as_deref());
        w.opt_str(evidence.sha256.as_deref());
    }
    let kind = activity.kind();
    w.u8(ActivityKind::ALL.iter().position(|k| *k == kind).expect("every kind is listed") as u8);
    let participants = |w: &mut Writer, p: &Option<Participants>| match p {
        None => w.u8(0),
        Some(p) => {
            w.u8(1);
            w.varint(u64::from(p.total()));
            w.opt_u32(p.women());
            w.opt_u32(p.migrants());
        }
    };
    let opt_slug = |w: &mut Writer, s: &Option<Slug>| w.opt_slug(s.as_ref());
    match &activity.details {
        ActivityDetails::StaffExchange(d) => {
            w.slug(&d.host);
            w.slug(&d.visitor);
            opt_slug(w, &d.cluster);
            w.varint(u64::from(d.days));
            w.varint(u64::from(d.staff));
        }
        ActivityDetails::ClusterVisit(d) => {
            w.slug(&d.cluster);
            w.slug(&d.host);
            participants(w, &d.participants);
        }
        ActivityDetails::WorkshopHeld(d) => {
            opt_slug(w, &d.host);
            opt_slug(w, &d.cluster);
            participants(w, &d.participants);
        }
        ActivityDetails::GrantAwarded(d) => {
            w.slug(&d.recipient);
            w.zigzag(d.amount.cents());
            w.str(&d.purpose);
        }
        ActivityDetails::GrantPaid(d) => {
            w.slug(&d.recipient);
            w.zigzag(d.amount.cents());
        }
        ActivityDetails::ChampionTrained(d) => w.str(&d.champion),
        ActivityDetails::ActionPlanEndorsed | ActivityDetails::StrategyAdopted => {}
        ActivityDetails::PolicyImplemented(d) => opt_slug(w, &d.cluster),
        ActivityDetails::GuidePublished(d) => {
            opt_slug(w, &d.cluster);
            w.varint(d.languages.len() as u64);
            for language in &d.languages {
                w.str(language.as_str());
            }
            w.opt_str(d.url.as_deref());
        }
        ActivityDetails::VideoPublished(d) => {
            opt_slug(w, &d.cluster);
            w.opt_str(d.url.as_deref());
        }
        ActivityDetails::ConferenceHeld(d) => {
            opt_slug(w, &d.host);
            participants(w, &d.participants);
        }
        ActivityDetails::TrainingDelivered(d) => {
            w.u8(MODES.iter().position(|m| *m == d.mode).expect("every mode is listed") as u8);
            participants(w, &d.participants);
        }
        ActivityDetails::CoursePublished(d) => {
            w.zigzag(d.hours.hundredths());
            w.u8(d.hours.scale());
            w.opt_str(d.url.as_deref());
        }
        ActivityDetails::PeerVisit(d) => {
            w.slug(&d.host);
            w.varint(d.visitors.len() as u64);
            for visitor in &d.visitors {
                w.slug(visitor);
            }
            participants(w, &d.participants);
        }
        ActivityDetails::ConsultationHeld(d) => participants(w, &d.participants),
        ActivityDetails::Custom(d) => {
            w.str(&d.label);
            w.varint(d.attributes.len() as u64);
            for (name, value) in &d.attributes {
                w.str(name);
                match value {
                    AttributeValue::Text(text) => {
                        w.u8(0);
                        w.str(text);
                    }
                    AttributeValue::Whole(n) => {
                        w.u8(1);
                        w.zigzag(*n);
                    }
                    AttributeValue::Bool(b) => w.u8(2 + u8::from(*b)),
                }
            }
        }
    }
}

fn read_activity(r: &mut Reader<'_>) -> Result<Activity> {
    let occurred_on = r.date()?;
    let ends_on = r.opt_date()?;
    let partner = r.slug()?;
    let title = r.opt_string()?;
    let notes = r.opt_string()?;
    let evidence = (0..r.count()?)
        .map(|_| Ok(Evidence { title: r.string()?, url: r.opt_string()?, sha256: r.opt_string()? }))
        .collect::<Result<Vec<_>>>()?;
    let kind = *ActivityKind::ALL.get(usize::from(r.u8()?)).map_or_else(|| error("unknown activity kind"), Ok)?;
    let participants = |r: &mut Reader<'_>| -> Result<Option<Participants>> {
        match r.u8()? {
            0 => Ok(None),
            _ => {
                let (total, women, migrants) = (r.u32()?, r.opt_u32()?, r.opt_u32()?);
                Participants::new(total, women, migrants).map(Some).or_else(|_| error("participants do not add up"))
            }
        }
    };
    let details = match kind {
        ActivityKind::StaffExchange => ActivityDetails::StaffExchange(StaffExchange {
            host: r.slug()?,
            visitor: r.slug()?,
            cluster: r.opt_slug()?,
            days: r.u32()?,
            staff: r.u32()?,
        }),
        ActivityKind::ClusterVisit => ActivityDetails::ClusterVisit(ClusterVisit {
            cluster: r.slug()?,
            host: r.slug()?,
            participants: participants(r)?,
        }),
        ActivityKind::WorkshopHeld => ActivityDetails::WorkshopHeld(WorkshopHeld {
            host: r.opt_slug()?,
            cluster: r.opt_slug()?,
            participants: participants(r)?,
        }),
        ActivityKind::GrantAwarded => ActivityDetails::GrantAwarded(GrantAwarded {
            recipient: r.slug()?,
            amount: Money::from_cents(r.zigzag()?),
            purpose: r.string()?,
        }),
        ActivityKind::GrantPaid => {
            ActivityDetails::GrantPaid(GrantPaid { recipient: r.slug()?, amount: Money::from_cents(r.zigzag()?) })
        }
        ActivityKind::ChampionTrained => ActivityDetails::ChampionTrained(ChampionTrained { champion: r.string()? }),
        ActivityKind::ActionPlanEndorsed => ActivityDetails::ActionPlanEndorsed,
        ActivityKind::StrategyAdopted => ActivityDetails::StrategyAdopted,
        ActivityKind::PolicyImplemented => ActivityDetails::PolicyImplemented(PolicyImplemented { cluster: r.opt_slug()? }),
        ActivityKind::GuidePublished => {
            let cluster = r.opt_slug()?;
            let languages = (0..r.count()?)
                .map(|_| LanguageCode::parse(r.str()?).or_else(|e| error(e.0)))
                .collect::<Result<Vec<_>>>()?;
            ActivityDetails::GuidePublished(GuidePublished { cluster, languages, url: r.opt_string()? })
        }
        ActivityKind::VideoPublished => {
            ActivityDetails::VideoPublished(VideoPublished { cluster: r.opt_slug()?, url: r.opt_string()? })
        }
        ActivityKind::ConferenceHeld => {
            ActivityDetails::ConferenceHeld(ConferenceHeld { host: r.opt_slug()?, participants: participants(r)? })
        }
        ActivityKind::TrainingDelivered => {
            let mode = *MODES.get(usize::from(r.u8()?)).map_or_else(|| error("unknown training mode"), Ok)?;
            ActivityDetails::TrainingDelivered(TrainingDelivered { mode, participants: participants(r)? })
        }
        ActivityKind::CoursePublished => {
            let (hundredths, scale) = (r.zigzag()?, r.u8()?);
            ActivityDetails::CoursePublished(CoursePublished {
                hours: Quantity::from_hundredths(hundredths, scale),
                url: r.opt_string()?,
            })
        }
        ActivityKind::PeerVisit => {
            let host = r.slug()?;
            let visitors = (0..r.count()?).map(|_| r.slug()).collect::<Result<Vec<_>>>()?;
            ActivityDetails::PeerVisit(PeerVisit { host, visitors, participants: participants(r)? })
        }
        ActivityKind::ConsultationHeld => ActivityDetails::ConsultationHeld(ConsultationHeld { participants: participants(r)? }),
        ActivityKind::Custom => {
            let label = r.string()?;
            let mut attributes = BTreeMap::new();
            for _ in 0..r.count()? {
                let name = r.string()?;
                let value = match r.u8()? {
                    0 => AttributeValue::Text(r.string()?),
                    1 => AttributeValue::Whole(r.zigzag()?),
                    2 => AttributeValue::Bool(false),
                    3 => AttributeValue::Bool(true),
                    _ => return error("unknown attribute value"),
                };
                attributes.insert(name, value);
            }
            ActivityDetails::Custom(CustomActivity { label, attributes })
        }
    };
    Ok(Activity { occurred_on, ends_on, partner, title, notes, evidence, details })
}
