//! The progress projection's snapshot: a compact binary form of the whole projection, written by hand so that
//! start-up reads a million activities in a fraction of a second (JSON of every revision took seconds).
//!
//! Layout (integers are LEB128 varints unless said otherwise; `zigzag` for signed ones; strings are a varint
//! length and UTF-8 bytes):
//! ```text
//! snapshot    = position · programme count · (name · u64 section length · section)*
//! section     = definitions · slugs · ids · revisions · notes · arena · head index
//! definitions = count · (position · ProgrammeState as JSON)*          (few: one per programme event)
//! slugs       = count · slug*                                         (numbered from 0)
//! ids         = count · (uuid[16] · slot)*                            (in id order)
//! revisions   = count · (position delta · slot · data + 1 (0: none) · zigzag occurred_on · partner · cluster ·
//!               u8 status · u8 event type · u8 kind · u8 flags)*     (in log order)
//! notes       = count · (revision number · text)*
//! arena       = chunk count · (length · block count · (start · packed length · LZ4 block)* · open start
//!               · open length · bytes)*                               (the encoded activities, as kept in memory)
//! ```
//! The columns are the table's own (`table/revisions.rs`): reading them back is mostly copying, and the links between
//! an activity's revisions, the latest of each and the activities of each kind are derived on reading (from
//! each revision's slot, which the table does not keep: writing derives it from the links).
//! Programme sections carry their length, so they are read on several threads. The format is named by
//! `ProgressProjection::VERSION`: change it and bump that.

use events::event::EVENT_TYPES;
use events::{ActivityKind, ActivityStatus, ProgrammeState, Slug};

use crate::codec::{error, Reader, Result, SnapshotError, Slugs, Writer};
use crate::progress::{ProgrammeHistory, ProgressProjection};
use crate::arena::Arena;
use crate::table::{Ids, Rev, NONE, NOTE, RECORDED};

impl ProgressProjection {
    /// The projection as snapshot bytes, the programmes written on up to `threads` threads;
    /// [`ProgressProjection::from_snapshot`] reads them back.
    pub fn to_snapshot(&self, threads: usize) -> Vec<u8> {
        self.to_snapshot_after(0, threads)
    }

    /// [`ProgressProjection::to_snapshot`] after `room` zero bytes, for a header the caller fills in (the bytes
    /// are not copied again to put one in front).
    pub fn to_snapshot_after(&self, room: usize, threads: usize) -> Vec<u8> {
        let programmes: Vec<(&String, &ProgrammeHistory)> = self.programmes.iter().collect();
        let shares = shares(&programmes.iter().map(|(_, h)| h.activities.len()).collect::<Vec<_>>(), threads);
        let write_share = |share: &[usize]| {
            let activities: usize = share.iter().map(|&i| programmes[i].1.activities.len()).sum();
            let mut w = Writer { out: Vec::with_capacity(48 * activities + 1024), ..Writer::default() };
            for &i in share {
                let (name, history) = programmes[i];
                w.str(name);
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
        let mut w = Writer { out: Vec::with_capacity(room + 20 + parts.iter().map(Vec::len).sum::<usize>()), ..Writer::default() };
        w.out.resize(room, 0);
        w.varint(self.position);
        w.varint(self.programmes.len() as u64);
        for part in parts {
            w.bytes(&part);
        }
        w.out
    }

    /// Reads snapshot bytes, the programmes on up to `threads` threads.
    pub fn from_snapshot(bytes: &[u8], threads: usize) -> std::result::Result<ProgressProjection, SnapshotError> {
        let mut r = Reader { bytes, slugs: &[] };
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
    let table = &history.activities;
    w.varint(table.slugs.list().len() as u64);
    for slug in table.slugs.list() {
        w.str(slug.as_str());
    }
    w.varint(table.ids.len() as u64);
    for (id, slot) in table.ids.iter_after(None) {
        w.bytes(id.as_bytes());
        w.varint(u64::from(slot));
    }
    w.varint(table.revisions.len() as u64);
    let mut previous = 0;
    for (rev, slot) in table.revisions.iter().zip(table.revision_slots()) {
        w.varint(rev.position - previous);
        previous = rev.position;
        w.varint(u64::from(slot));
        w.varint(if rev.data == NONE { 0 } else { u64::from(rev.data) + 1 });
        w.zigzag(i64::from(rev.occurred_on));
        w.varint(u64::from(rev.partner));
        w.varint(u64::from(rev.cluster));
        w.bytes(&[rev.status, rev.event, rev.kind, rev.flags]);
    }
    w.varint(table.notes.len() as u64);
    for (revision, note) in &table.notes {
        w.varint(u64::from(*revision));
        w.str(note);
    }
    table.arena.write(w);
    history.index.write(w);
}

fn read_programme(bytes: &[u8]) -> Result<ProgrammeHistory> {
    let mut r = Reader { bytes, slugs: &[] };
    let mut history = ProgrammeHistory::default();
    let definitions = r.count()?;
    for _ in 0..definitions {
        let position = r.varint()?;
        let state: ProgrammeState =
            serde_json::from_str(r.str()?).or_else(|e| error(format!("a programme definition: {e}")))?;
        history.definitions.push((position, state));
    }
    let slugs = (0..r.count()?).map(|_| Slug::parse(r.str()?).or_else(|e| error(e.0))).collect::<Result<Vec<_>>>()?;
    let slugs = Slugs::from_list(slugs)?;
    let ids = (0..r.count()?).map(|_| Ok((r.uuid()?, r.u32()?))).collect::<Result<Vec<_>>>()?;
    let slots = ids.len();
    let mut taken = vec![false; slots];
    for (_, slot) in &ids {
        match taken.get_mut(*slot as usize) {
            Some(taken) if !*taken => *taken = true,
            _ => return error("an activity's slot is out of range or taken twice"),
        }
    }
    let table = &mut history.activities;
    table.ids = Ids::from_sorted(ids).map_or_else(|| error("activities are not in order"), Ok)?;
    let count = r.count()?;
    let mut position = 0u64;
    let mut pending = Vec::with_capacity(count);
    let mut revision_slots = Vec::with_capacity(count);
    let mut with_notes = 0usize;
    for _ in 0..count {
        position = position.checked_add(r.varint()?).map_or_else(|| error("a position is out of range"), Ok)?;
        let slot = r.u32()?;
        let data = match r.varint()? {
            0 => NONE,
            n => u32::try_from(n - 1).ok().filter(|&d| d != NONE).map_or_else(|| error("an activity reference is out of range"), Ok)?,
        };
        let occurred_on = i32::try_from(r.zigzag()?).or_else(|_| error("a date is out of range"))?;
        let partner = u16::try_from(r.varint()?).or_else(|_| error("a partner is out of range"))?;
        let cluster = u16::try_from(r.varint()?).or_else(|_| error("a cluster is out of range"))?;
        let [status, event, kind, flags] = <[u8; 4]>::try_from(r.take(4)?).expect("4 bytes");
        if usize::from(status) >= ActivityStatus::ALL.len()
            || usize::from(event) >= EVENT_TYPES.len()
            || usize::from(kind) >= ActivityKind::ALL.len()
            || flags & !(RECORDED | NOTE) != 0
        {
            return error("a revision's status, event type, kind or flags are unknown");
        }
        with_notes += usize::from(flags & NOTE != 0);
        revision_slots.push(slot);
        pending.push(Rev { position, prev: NONE, data, occurred_on, partner, cluster, status, event, kind, flags });
    }
    for _ in 0..r.count()? {
        let revision = r.u32()?;
        let note = r.string()?;
        if pending.get(revision as usize).is_none_or(|rev| rev.flags & NOTE == 0) {
            return error("a note belongs to no revision that has one");
        }
        table.notes.insert(revision, note);
    }
    if table.notes.len() != with_notes {
        return error("a revision's note is missing");
    }
    table.arena = Arena::read_from(&mut r)?;
    table.slugs = slugs;
    for rev in pending {
        if rev.data != NONE && !table.column_fits(&rev) {
            return error("a revision's activity or columns are out of range");
        }
        table.push_revision(rev);
    }
    if !table.link(slots, &revision_slots) {
        return error("a revision names no activity, or an activity has no revision");
    }
    history.index = crate::index::HeadIndex::read(&mut r)?;
    r.finished()?;
    Ok(history)
}
