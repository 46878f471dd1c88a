//! The activities of one programme, kept column by column so that a million of them fit in tens of megabytes:
//! every revision (the state after one event) is a fixed 24-byte record in log order ([`Revisions`]), with the
//! columns that lists, filters and reports look at (kind, date, partner, cluster, status); the activity is kept
//! encoded (`codec.rs`) once per record or correction in an arena of packed blocks (`arena.rs`), read back only
//! when a report or a view needs its fields. Slots number the activities in the order they first appeared; ids map to slots.
//!
//! Everything grows in fixed chunks, so a big programme never doubles (and copies) one large allocation.

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::NaiveDate;
use events::event::EVENT_TYPES;
use events::{Activity, ActivityKind, ActivityState, ActivityStatus, Slug};
use uuid::Uuid;

use crate::arena::Arena;
use crate::codec::Slugs;

/// "No revision" / "no activity" in a `u32` reference.
pub(crate) const NONE: u32 = u32::MAX;

/// The revision's activity was recorded (its state has the id).
pub(crate) const RECORDED: u8 = 1;
/// The revision has a return note (in [`Activities::notes`]).
pub(crate) const NOTE: u8 = 2;

/// A partner or cluster column whose slug number does not fit 16 bits: read it from the activity.
const WIDE: u16 = u16::MAX;

/// Items per chunk of a [`Chunked`] list.
const CHUNK_ITEMS: usize = 4096;

/// A list grown in chunks of [`CHUNK_ITEMS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Chunked<T> {
        Chunked { chunks: Vec::new(), len: 0 }
    }
}

impl<T: Copy> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds an item; returns its index.
    pub(crate) fn push(&mut self, item: T) -> u32 {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_ITEMS => chunk.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_ITEMS);
                chunk.push(item);
                self.chunks.push(chunk);
            }
        }
        let index = u32::try_from(self.len).ok().filter(|&i| i != NONE).expect("fewer than 2^32 - 1 items in a column");
        self.len += 1;
        index
    }

    pub(crate) fn get(&self, index: u32) -> T {
        let index = index as usize;
        self.chunks[index / CHUNK_ITEMS][index % CHUNK_ITEMS]
    }

    fn set(&mut self, index: u32, item: T) {
        let index = index as usize;
        self.chunks[index / CHUNK_ITEMS][index % CHUNK_ITEMS] = item;
    }
}

/// Slots in increasing order, in chunks of at most [`CHUNK_ITEMS`]: slots added at the end fill the last chunk
/// (which grows up to that size and no further), one added in the middle splits a full chunk in two, so the list
/// takes about 4 bytes a slot and never doubles (and copies) one large allocation.
#[derive(Clone, Debug, Default)]
pub(crate) struct SortedSlots {
    chunks: Vec<Vec<u32>>,
}

impl PartialEq for SortedSlots {
    fn eq(&self, other: &SortedSlots) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SortedSlots {}

impl SortedSlots {
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks.iter().flatten().copied()
    }

    /// The chunk `slot` is in or belongs in: the first whose last slot is not below it.
    fn chunk_of(&self, slot: u32) -> usize {
        self.chunks.partition_point(|chunk| chunk.last().is_some_and(|&last| last < slot))
    }

    /// Adds a slot (nothing when it is there already).
    pub(crate) fn insert(&mut self, slot: u32) {
        // Nearly every slot is the highest yet (a new activity, or the lists rebuilt in slot order).
        if let Some(last) = self.chunks.last_mut().filter(|last| last.len() < CHUNK_ITEMS && last.last() < Some(&slot)) {
            last.push(slot);
            return;
        }
        let n = self.chunk_of(slot);
        // Past every chunk (the fast path above took the case of room in the last one; no chunk is empty).
        let Some(chunk) = self.chunks.get_mut(n) else {
            self.chunks.push(vec![slot]);
            return;
        };
        let Err(at) = chunk.binary_search(&slot) else { return };
        if chunk.len() < CHUNK_ITEMS {
            chunk.insert(at, slot);
            return;
        }
        let mut tail = chunk.split_off(CHUNK_ITEMS / 2);
        match at.checked_sub(CHUNK_ITEMS / 2) {
            Some(at) => tail.insert(at, slot),
            None => chunk.insert(at, slot),
        }
        self.chunks.insert(n + 1, tail);
    }

    /// Takes a slot out (nothing when it is not there).
    pub(crate) fn remove(&mut self, slot: u32) {
        let n = self.chunk_of(slot);
        let Some(chunk) = self.chunks.get_mut(n) else { return };
        let Ok(at) = chunk.binary_search(&slot) else { return };
        chunk.remove(at);
        if chunk.is_empty() {
            self.chunks.remove(n);
        } else if chunk.capacity() > 4 * chunk.len() {
            chunk.shrink_to(2 * chunk.len());
        }
    }
}

/// One revision: the state of an activity after the event at `position`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rev {
    pub(crate) position: u64,
    /// The same activity's revision before this one ([`NONE`] for its first).
    pub(crate) prev: u32,
    /// The activity in the arena ([`NONE`] while it has none: an event before its record).
    pub(crate) data: u32,
    /// The activity's `occurred_on` as days from the common era.
    pub(crate) occurred_on: i32,
    /// The partner's slug number + 1 ([`WIDE`] when it does not fit).
    pub(crate) partner: u16,
    /// The cluster's slug number + 1, 0 for none ([`WIDE`] when it does not fit).
    pub(crate) cluster: u16,
    /// Index in `ActivityStatus::ALL`.
    pub(crate) status: u8,
    /// Index in `EVENT_TYPES`.
    pub(crate) event: u8,
    /// Index in `ActivityKind::ALL`.
    pub(crate) kind: u8,
    pub(crate) flags: u8,
}

impl Rev {
    pub(crate) fn status(&self) -> ActivityStatus {
        ActivityStatus::ALL[usize::from(self.status)]
    }

    pub(crate) fn kind(&self) -> Option<ActivityKind> {
        (self.data != NONE).then(|| ActivityKind::ALL[usize::from(self.kind)])
    }

    pub(crate) fn occurred_on(&self) -> Option<NaiveDate> {
        (self.data != NONE).then(|| NaiveDate::from_num_days_from_ce_opt(self.occurred_on).expect("a stored date"))
    }
}

/// Every revision in log order: 24-byte [`Kept`] records in a [`Chunked`] list, a position kept as a `u32`
/// offset from a base of its chunk (the chunk's first position; positions increase within a chunk). Where an
/// offset would not fit 32 bits, a new base starts at that record, so every `u64` position is kept exactly.
#[derive(Clone, Debug, Default)]
pub(crate) struct Revisions {
    records: Chunked<Kept>,
    /// The base of each chunk of `records`.
    bases: Vec<ChunkBase>,
}

#[derive(Clone, Debug)]
struct ChunkBase {
    base: u64,
    /// (index in the chunk, base) from which later records count instead: empty unless the positions of one
    /// chunk span more than `u32::MAX`.
    rebased: Vec<(u32, u64)>,
}

impl ChunkBase {
    fn base_of(&self, within: usize) -> u64 {
        match self.rebased.partition_point(|&(from, _)| from as usize <= within) {
            0 => self.base,
            n => self.rebased[n - 1].1,
        }
    }
}

/// A [`Rev`] as the table keeps it: the position as an offset from its chunk's base.
#[derive(Clone, Copy, Debug)]
struct Kept {
    offset: u32,
    prev: u32,
    data: u32,
    occurred_on: i32,
    partner: u16,
    cluster: u16,
    status: u8,
    event: u8,
    kind: u8,
    flags: u8,
}

impl PartialEq for Revisions {
    fn eq(&self, other: &Revisions) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Revisions {}

impl Revisions {
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Adds a revision; returns its index.
    pub(crate) fn push(&mut self, rev: Rev) -> u32 {
        let within = self.records.len() % CHUNK_ITEMS;
        if within == 0 {
            self.bases.push(ChunkBase { base: rev.position, rebased: Vec::new() });
        }
        let chunk = self.bases.last_mut().expect("a base for the last chunk");
        let base = chunk.rebased.last().map_or(chunk.base, |&(_, base)| base);
        let offset = match rev.position.checked_sub(base).and_then(|offset| u32::try_from(offset).ok()) {
            Some(offset) => offset,
            None => {
                chunk.rebased.push((within as u32, rev.position));
                0
            }
        };
        let Rev { position: _, prev, data, occurred_on, partner, cluster, status, event, kind, flags } = rev;
        self.records.push(Kept { offset, prev, data, occurred_on, partner, cluster, status, event, kind, flags })
    }

    pub(crate) fn get(&self, index: u32) -> Rev {
        let Kept { offset, prev, data, occurred_on, partner, cluster, status, event, kind, flags } = self.records.get(index);
        let base = self.bases[index as usize / CHUNK_ITEMS].base_of(index as usize % CHUNK_ITEMS);
        Rev { position: base + u64::from(offset), prev, data, occurred_on, partner, cluster, status, event, kind, flags }
    }

    fn set_prev(&mut self, index: u32, prev: u32) {
        let kept = self.records.get(index);
        self.records.set(index, Kept { prev, ..kept });
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Rev> + '_ {
        (0..self.len() as u32).map(|index| self.get(index))
    }

    /// How many revisions are at or before `position` (positions increase in log order).
    fn count_at_or_before(&self, position: u64) -> usize {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            if self.get(middle as u32).position <= position {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }
}

/// Activity ids → slots: sorted chunks, and ids that came out of order in a map beside them (merged into the
/// chunks when they reach an eighth of the whole). Ids are UUID v7, so nearly every new id goes at the end, and
/// slots are handed out in the order activities first appear: a chunk keeps its slots as runs of consecutive
/// ones ([`ChunkSlots`]), usually a single run, rather than one per id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ids {
    sorted: Vec<IdChunk>,
    recent: BTreeMap<Uuid, u32>,
    len: usize,
}

#[derive(Clone, Debug)]
struct IdChunk {
    ids: Vec<Uuid>,
    slots: ChunkSlots,
}

/// The slots of a chunk's ids: where consecutive ids have consecutive slots, a run keeps only the first (the
/// id at index `i` has slot `first + i - start` of the last run that starts at or before `i`); where runs
/// would take more room than the slots themselves (8 bytes a run, 4 a slot), the slots.
#[derive(Clone, Debug)]
enum ChunkSlots {
    Runs(Vec<(u32, u32)>),
    Each(Vec<u32>),
}

impl IdChunk {
    fn last(&self) -> Option<&Uuid> {
        self.ids.last()
    }

    fn slot(&self, index: usize) -> u32 {
        match &self.slots {
            ChunkSlots::Each(slots) => slots[index],
            ChunkSlots::Runs(runs) => {
                let (start, first) = runs[runs.partition_point(|&(start, _)| start as usize <= index) - 1];
                first + (index as u32 - start)
            }
        }
    }

    fn pair(&self, index: usize) -> (Uuid, u32) {
        (self.ids[index], self.slot(index))
    }

    /// Adds an id after the others (the chunk has room).
    fn push(&mut self, id: Uuid, slot: u32) {
        let index = self.ids.len() as u32;
        if self.ids.len() == self.ids.capacity() {
            // A chunk read from a snapshot has no room to spare: it grows to a full chunk, not to twice its size.
            self.ids.reserve_exact(CHUNK_ITEMS - self.ids.len());
        }
        self.ids.push(id);
        match &mut self.slots {
            ChunkSlots::Each(slots) => slots.push(slot),
            ChunkSlots::Runs(runs) => match runs.last() {
                Some(&(start, first)) if first.checked_add(index - start) == Some(slot) => {}
                _ => runs.push((index, slot)),
            },
        }
        if self.ids.len() == CHUNK_ITEMS {
            self.compact();
        }
    }

    /// Keeps the slots one per id when runs take more room.
    fn compact(&mut self) {
        match &mut self.slots {
            ChunkSlots::Runs(runs) if 2 * runs.len() > self.ids.len() => {
                self.slots = ChunkSlots::Each((0..self.ids.len()).map(|index| self.slot(index)).collect());
            }
            ChunkSlots::Runs(runs) => runs.shrink_to_fit(),
            ChunkSlots::Each(_) => {}
        }
    }

    /// A chunk of pairs in id order.
    fn from_pairs(pairs: &[(Uuid, u32)]) -> IdChunk {
        let mut chunk = IdChunk { ids: Vec::with_capacity(pairs.len()), slots: ChunkSlots::Runs(Vec::new()) };
        for &(id, slot) in pairs {
            chunk.push(id, slot);
        }
        chunk.compact();
        chunk
    }

    /// The pairs from index `from` on, in id order.
    fn pairs_from(&self, from: usize) -> impl DoubleEndedIterator<Item = (Uuid, u32)> + '_ {
        (from..self.ids.len()).map(|index| self.pair(index))
    }
}

impl PartialEq for Ids {
    fn eq(&self, other: &Ids) -> bool {
        self.len == other.len && self.iter_after(None).eq(other.iter_after(None))
    }
}

impl Eq for Ids {}

impl Ids {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, id: &Uuid) -> Option<u32> {
        if let Some(&slot) = self.recent.get(id) {
            return Some(slot);
        }
        let chunk = self.sorted.get(self.sorted.partition_point(|c| c.last().is_some_and(|last| last < id)))?;
        chunk.ids.binary_search(id).ok().map(|index| chunk.slot(index))
    }

    /// Adds an id that is not there yet.
    pub(crate) fn insert(&mut self, id: Uuid, slot: u32) {
        let last = self.sorted.last().and_then(IdChunk::last).copied();
        if last.is_none_or(|last| last < id) {
            match self.sorted.last_mut() {
                Some(chunk) if chunk.ids.len() < CHUNK_ITEMS => chunk.push(id, slot),
                _ => {
                    let mut chunk = IdChunk { ids: Vec::with_capacity(CHUNK_ITEMS), slots: ChunkSlots::Runs(Vec::new()) };
                    chunk.push(id, slot);
                    self.sorted.push(chunk);
                }
            }
        } else {
            self.recent.insert(id, slot);
            if self.recent.len() >= 1024 && self.recent.len() * 8 >= self.len {
                self.merge();
            }
        }
        self.len += 1;
    }

    fn merge(&mut self) {
        let all: Vec<(Uuid, u32)> = self.iter_after(None).collect();
        self.recent.clear();
        self.sorted = all.chunks(CHUNK_ITEMS).map(IdChunk::from_pairs).collect();
    }

    /// Every (id, slot) after `after` (from the first when `None`), in id order.
    pub(crate) fn iter_after(&self, after: Option<Uuid>) -> impl Iterator<Item = (Uuid, u32)> + '_ {
        let (chunk, within) = match after {
            None => (0, 0),
            Some(id) => {
                let chunk = self.sorted.partition_point(|c| c.last().is_some_and(|last| *last <= id));
                (chunk, self.sorted.get(chunk).map_or(0, |c| c.ids.partition_point(|key| *key <= id)))
            }
        };
        let sorted = self.sorted.get(chunk..).unwrap_or_default().iter().enumerate().flat_map(move |(n, c)| {
            c.pairs_from(if n == 0 { within } else { 0 })
        });
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let recent = self.recent.range((start, Bound::Unbounded)).map(|(id, slot)| (*id, *slot));
        Merged { a: sorted.peekable(), b: recent.peekable(), descending: false }
    }

    /// Every (id, slot), the highest id first.
    pub(crate) fn iter_rev(&self) -> impl Iterator<Item = (Uuid, u32)> + '_ {
        let sorted = self.sorted.iter().rev().flat_map(|chunk| chunk.pairs_from(0).rev());
        let recent = self.recent.iter().rev().map(|(id, slot)| (*id, *slot));
        Merged { a: sorted.peekable(), b: recent.peekable(), descending: true }
    }

    /// From pairs in id order (a snapshot); `None` when they are not.
    pub(crate) fn from_sorted(pairs: Vec<(Uuid, u32)>) -> Option<Ids> {
        if pairs.windows(2).any(|w| w[0].0 >= w[1].0) {
            return None;
        }
        let len = pairs.len();
        Some(Ids { sorted: pairs.chunks(CHUNK_ITEMS).map(IdChunk::from_pairs).collect(), recent: BTreeMap::new(), len })
    }
}

/// Two iterators in id order (or both in descending order), merged.
struct Merged<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
    descending: bool,
}

impl<A: Iterator<Item = (Uuid, u32)>, B: Iterator<Item = (Uuid, u32)>> Iterator for Merged<A, B> {
    type Item = (Uuid, u32);

    fn next(&mut self) -> Option<(Uuid, u32)> {
        match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) if (b.0 < a.0) != self.descending => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// The activities of one programme.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Activities {
    pub(crate) ids: Ids,
    /// By slot: its latest revision.
    pub(crate) latest: Chunked<u32>,
    /// Every revision, in log order.
    pub(crate) revisions: Revisions,
    pub(crate) arena: Arena,
    pub(crate) slugs: Slugs,
    /// Return notes, by revision.
    pub(crate) notes: BTreeMap<u32, String>,
    /// The slots whose current activity is of each kind, increasing.
    pub(crate) by_kind: BTreeMap<ActivityKind, SortedSlots>,
}

/// What an event did to an activity, for the running totals: the states before and after, and the activity
/// the event recorded or corrected (in hand, so the totals need not read it back from the arena).
pub(crate) struct Change {
    pub(crate) before: Option<Rev>,
    pub(crate) after: Rev,
    pub(crate) activity: Option<std::sync::Arc<Activity>>,
}

impl Activities {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The activity with this id.
    pub(crate) fn history(&self, id: &Uuid) -> Option<ActivityHistory<'_>> {
        Some(ActivityHistory { table: self, slot: self.ids.get(id)? })
    }

    /// Every activity after `after`, in id order.
    pub(crate) fn histories_after(&self, after: Option<Uuid>) -> impl Iterator<Item = (Uuid, ActivityHistory<'_>)> + '_ {
        self.ids.iter_after(after).map(move |(id, slot)| (id, ActivityHistory { table: self, slot }))
    }

    /// Every activity, the highest id (the most recently recorded) first.
    pub(crate) fn histories_newest_first(&self) -> impl Iterator<Item = (Uuid, ActivityHistory<'_>)> + '_ {
        self.ids.iter_rev().map(move |(id, slot)| (id, ActivityHistory { table: self, slot }))
    }

    /// Each slot's latest revision at or before `position` (none for a slot with no revision then).
    pub(crate) fn revisions_at<'a>(&'a self, slots: impl Iterator<Item = u32> + 'a, position: u64) -> impl Iterator<Item = Rev> + 'a {
        slots.filter_map(move |slot| self.rev_at(slot, position).map(|(_, rev)| rev))
    }

    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> {
        0..self.latest.len() as u32
    }

    fn rev_at(&self, slot: u32, position: u64) -> Option<(u32, Rev)> {
        let mut index = self.latest.get(slot);
        while index != NONE {
            let rev = self.revisions.get(index);
            if rev.position <= position {
                return Some((index, rev));
            }
            index = rev.prev;
        }
        None
    }

    /// The activity a revision holds.
    pub(crate) fn activity(&self, rev: &Rev) -> Option<Activity> {
        (rev.data != NONE).then(|| self.arena.read(rev.data, &self.slugs))
    }

    /// How many revisions at or before `position`.
    pub(crate) fn position_at(&self, position: u64) -> Option<u64> {
        let applied = self.revisions.count_at_or_before(position);
        applied.checked_sub(1).map(|i| self.revisions.get(i as u32).position)
    }

    /// Applies an activity event; returns the states before and after for the running totals.
    pub(crate) fn apply(&mut self, id: Uuid, position: u64, event: events::DomainEvent) -> Change {
        let event_index = EVENT_TYPES.iter().position(|(name, _)| *name == event.event_type()).expect("a known event") as u8;
        let (slot, before) = match self.ids.get(&id) {
            Some(slot) => {
                let index = self.latest.get(slot);
                (slot, Some((index, self.revisions.get(index))))
            }
            None => {
                let slot = self.latest.push(NONE);
                self.ids.insert(id, slot);
                (slot, None)
            }
        };
        let mut state = match before {
            Some((index, rev)) => ActivityState::from_parts(
                (rev.flags & RECORDED != 0).then_some(id),
                None,
                rev.status(),
                self.notes.get(&index).cloned(),
            ),
            None => ActivityState::default(),
        };
        state.apply_owned(event);
        let mut after = match (state.activity(), before) {
            (Some(activity), _) => self.columns(activity),
            (None, Some((_, rev))) => rev,
            (None, None) => Rev { data: NONE, occurred_on: 0, partner: 0, cluster: 0, kind: 0, ..EMPTY },
        };
        after.position = position;
        after.prev = before.map_or(NONE, |(index, _)| index);
        after.status = ActivityStatus::ALL.iter().position(|s| *s == state.status()).expect("every status is listed") as u8;
        after.event = event_index;
        after.flags = if state.id().is_some() { RECORDED } else { 0 } | if state.return_note().is_some() { NOTE } else { 0 };
        let index = self.revisions.push(after);
        if let Some(note) = state.return_note() {
            self.notes.insert(index, note.to_owned());
        }
        self.latest.set(slot, index);
        let (old_kind, new_kind) = (before.and_then(|(_, rev)| rev.kind()), after.kind());
        if old_kind != new_kind {
            if let Some(kind) = old_kind {
                if let Some(slots) = self.by_kind.get_mut(&kind) {
                    slots.remove(slot);
                    if slots.is_empty() {
                        self.by_kind.remove(&kind);
                    }
                }
            }
            if let Some(kind) = new_kind {
                self.by_kind.entry(kind).or_default().insert(slot);
            }
        }
        Change { before: before.map(|(_, rev)| rev), after, activity: state.shared_activity().cloned() }
    }

    /// A new revision's columns for this activity, which is encoded into the arena.
    fn columns(&mut self, activity: &Activity) -> Rev {
        let data = self.arena.push(activity, &mut self.slugs);
        let narrow = |slugs: &mut Slugs, slug: &Slug| u16::try_from(slugs.number(slug) + 1).ok().filter(|&n| n != WIDE).unwrap_or(WIDE);
        let partner = narrow(&mut self.slugs, &activity.partner);
        let cluster = activity.cluster_slug().map_or(0, |slug| narrow(&mut self.slugs, slug));
        let kind = activity.kind();
        Rev {
            data,
            occurred_on: chrono::Datelike::num_days_from_ce(&activity.occurred_on),
            partner,
            cluster,
            kind: ActivityKind::ALL.iter().position(|k| *k == kind).expect("every kind is listed") as u8,
            ..EMPTY
        }
    }

    /// Each revision's slot, in log order (revisions do not keep it: the snapshot writes it, and [`Activities::link`]
    /// rebuilds the links from it).
    pub(crate) fn revision_slots(&self) -> Vec<u32> {
        let mut slots = vec![NONE; self.revisions.len()];
        for slot in self.slots() {
            let mut index = self.latest.get(slot);
            while index != NONE {
                slots[index as usize] = slot;
                index = self.revisions.get(index).prev;
            }
        }
        slots
    }

    /// Rebuilds the links between revisions, the latest of each slot and the kinds from the revisions and the
    /// slot of each (after reading a snapshot). `false` when a revision names a slot that does not exist.
    pub(crate) fn link(&mut self, slots: usize, revision_slots: &[u32]) -> bool {
        if revision_slots.len() != self.revisions.len() {
            return false;
        }
        self.latest = Chunked::default();
        for _ in 0..slots {
            self.latest.push(NONE);
        }
        for (index, &slot) in (0..).zip(revision_slots) {
            if slot as usize >= slots {
                return false;
            }
            self.revisions.set_prev(index, self.latest.get(slot));
            self.latest.set(slot, index);
        }
        self.by_kind.clear();
        for slot in 0..slots as u32 {
            let index = self.latest.get(slot);
            if index == NONE {
                return false;
            }
            if let Some(kind) = self.revisions.get(index).kind() {
                self.by_kind.entry(kind).or_default().insert(slot);
            }
        }
        true
    }

    /// Whether a revision read from a snapshot points into the arena and at known slugs and a real date.
    pub(crate) fn column_fits(&self, rev: &Rev) -> bool {
        let known = |column: u16| column == WIDE || usize::from(column) <= self.slugs.list().len();
        self.arena.contains(rev.data)
            && NaiveDate::from_num_days_from_ce_opt(rev.occurred_on).is_some()
            && rev.partner != 0
            && known(rev.partner)
            && known(rev.cluster)
    }

    pub(crate) fn push_revision(&mut self, rev: Rev) -> u32 {
        self.revisions.push(rev)
    }
}

const EMPTY: Rev =
    Rev { position: 0, prev: NONE, data: NONE, occurred_on: 0, partner: 0, cluster: 0, status: 0, event: 0, kind: 0, flags: 0 };

/// Every state an activity went through, in log order.
#[derive(Clone, Copy, Debug)]
pub struct ActivityHistory<'a> {
    table: &'a Activities,
    slot: u32,
}

impl<'a> ActivityHistory<'a> {
    /// Every revision, oldest first.
    pub fn revisions(&self) -> Vec<ActivityRevision<'a>> {
        let mut revisions = Vec::new();
        let mut index = self.table.latest.get(self.slot);
        while index != NONE {
            let rev = self.table.revisions.get(index);
            revisions.push(ActivityRevision { table: self.table, index, rev });
            index = rev.prev;
        }
        revisions.reverse();
        revisions
    }

    /// The latest state.
    pub fn current(&self) -> Option<ActivityRevision<'a>> {
        self.at(u64::MAX)
    }

    /// The state as known at `position` (after every event at or before it).
    pub fn at(&self, position: u64) -> Option<ActivityRevision<'a>> {
        self.table.rev_at(self.slot, position).map(|(index, rev)| ActivityRevision { table: self.table, index, rev })
    }

    /// How many events of the activity are at or before `position`: its stream's version then.
    pub fn version_at(&self, position: u64) -> u64 {
        let mut count = 0;
        let mut index = self.table.latest.get(self.slot);
        while index != NONE {
            let rev = self.table.revisions.get(index);
            if rev.position <= position {
                count += 1;
            }
            index = rev.prev;
        }
        count
    }
}

/// One state of an activity: the state after the event at `position`.
#[derive(Clone, Copy, Debug)]
pub struct ActivityRevision<'a> {
    table: &'a Activities,
    index: u32,
    rev: Rev,
}

impl<'a> ActivityRevision<'a> {
    pub fn position(&self) -> u64 {
        self.rev.position
    }

    /// The stored name of the event (`ActivityRecorded`, `ActivityApproved`, …).
    pub fn event_type(&self) -> &'static str {
        EVENT_TYPES[usize::from(self.rev.event)].0
    }

    pub fn status(&self) -> ActivityStatus {
        self.rev.status()
    }

    /// Whether the activity was recorded (not only corrected or changed before its record).
    pub fn recorded(&self) -> bool {
        self.rev.flags & RECORDED != 0
    }

    /// The note of the last return, kept until the activity is submitted again.
    pub fn return_note(&self) -> Option<&'a str> {
        if self.rev.flags & NOTE == 0 {
            return None;
        }
        self.table.notes.get(&self.index).map(String::as_str)
    }

    /// The activity's kind; `None` before it was recorded.
    pub fn kind(&self) -> Option<ActivityKind> {
        self.rev.kind()
    }

    pub fn occurred_on(&self) -> Option<NaiveDate> {
        self.rev.occurred_on()
    }

    /// The partner the activity is attributed to.
    pub fn partner(&self) -> Option<&'a Slug> {
        self.slug(self.rev.partner, |activity| Some(activity.partner.clone()))
    }

    /// The activity's cluster, if it has one.
    pub fn cluster(&self) -> Option<&'a Slug> {
        self.slug(self.rev.cluster, |activity| activity.cluster_slug().cloned())
    }

    fn slug(&self, column: u16, wide: impl Fn(&Activity) -> Option<Slug>) -> Option<&'a Slug> {
        let slugs = &self.table.slugs;
        match column {
            _ if self.rev.data == NONE => None,
            0 => None,
            WIDE => slugs.find(&wide(&self.activity()?)?),
            n => slugs.get(u32::from(n) - 1),
        }
    }

    /// The activity's fields, read back from the arena; `None` before it was recorded.
    pub fn activity(&self) -> Option<Activity> {
        self.table.activity(&self.rev)
    }

    /// The full state of the activity `id` that this is a state of.
    pub fn to_state(&self, id: Uuid) -> ActivityState {
        ActivityState::from_parts(
            self.recorded().then_some(id),
            self.activity().map(std::sync::Arc::new),
            self.status(),
            self.return_note().map(str::to_owned),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::ARENA_CHUNK;
    use events::event::{ActivityCorrected, ActivityRecorded, ActivityRetracted};
    use events::DomainEvent;
    use serde_json::json;

    fn exchange(partner: &str, cluster: Option<&str>, title: Option<String>) -> Activity {
        let mut body = json!({"kind": "staff_exchange", "occurred_on": "2021-03-04", "host": partner, "visitor": "asti",
                              "days": 2, "staff": 1});
        if let Some(cluster) = cluster {
            body["cluster"] = json!(cluster);
        }
        if let Some(title) = title {
            body["title"] = json!(title);
        }
        events::parse_activity(&body, None).expect("a valid activity")
    }

    fn recorded(id: Uuid, activity: Activity) -> DomainEvent {
        DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: id, activity })
    }

    #[test]
    fn ids_out_of_order_are_found_and_listed_in_order() {
        let mut ids = Ids::default();
        // A pseudo-random order with long increasing runs, as v7 ids from several clients give.
        let keys: Vec<u128> = (0..20_000u128).map(|n| if n % 7 == 3 { n * 7919 % 20_000 + 1_000_000 } else { n }).collect();
        for (slot, key) in keys.iter().enumerate() {
            ids.insert(Uuid::from_u128(*key), slot as u32);
        }
        assert!(ids.recent.len() < ids.len(), "out-of-order ids were merged into the sorted chunks");
        for (slot, key) in keys.iter().enumerate() {
            assert_eq!(ids.get(&Uuid::from_u128(*key)), Some(slot as u32), "id {key}");
        }
        assert_eq!(ids.get(&Uuid::from_u128(999_999)), None);
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        let listed: Vec<u128> = ids.iter_after(None).map(|(id, _)| id.as_u128()).collect();
        assert_eq!(listed, sorted);
        let after: Vec<u128> = ids.iter_after(Some(Uuid::from_u128(sorted[12_345]))).map(|(id, _)| id.as_u128()).collect();
        assert_eq!(after, sorted[12_346..]);
        let newest_first: Vec<u128> = ids.iter_rev().map(|(id, _)| id.as_u128()).collect();
        assert_eq!(newest_first, sorted.iter().rev().copied().collect::<Vec<_>>());
        let pairs: Vec<(Uuid, u32)> = ids.iter_after(None).collect();
        assert_eq!(Ids::from_sorted(pairs), Some(ids));
    }

    #[test]
    fn ids_keep_consecutive_slots_as_runs_and_scattered_ones_one_by_one() {
        let count = 3 * CHUNK_ITEMS as u32 + 5;
        type SlotOf = fn(u32) -> u32;
        let cases: [(&str, SlotOf); 3] = [
            ("consecutive", |n| n),
            ("a jump every 100", |n| n + 1000 * (n / 100)),
            ("scattered", |n| n * 7919 % (3 * CHUNK_ITEMS as u32 + 5)),
        ];
        for (case, slot_of) in cases {
            let mut ids = Ids::default();
            for n in 0..count {
                ids.insert(Uuid::from_u128(u128::from(n) * 3), slot_of(n));
            }
            let kinds: Vec<usize> = ids
                .sorted
                .iter()
                .map(|chunk| match &chunk.slots {
                    ChunkSlots::Runs(runs) => runs.len(),
                    ChunkSlots::Each(_) => usize::MAX,
                })
                .collect();
            match case {
                "consecutive" => assert_eq!(kinds, [1, 1, 1, 1], "{case}"),
                "a jump every 100" => assert!(kinds.iter().all(|&runs| runs <= CHUNK_ITEMS / 100 + 2), "{case}: {kinds:?}"),
                _ => assert!(kinds[..3].iter().all(|&runs| runs == usize::MAX), "{case}: {kinds:?}"),
            }
            for n in 0..count {
                assert_eq!(ids.get(&Uuid::from_u128(u128::from(n) * 3)), Some(slot_of(n)), "{case}: id {n}");
                assert_eq!(ids.get(&Uuid::from_u128(u128::from(n) * 3 + 1)), None, "{case}");
            }
            let expected: Vec<(Uuid, u32)> = (0..count).map(|n| (Uuid::from_u128(u128::from(n) * 3), slot_of(n))).collect();
            assert_eq!(ids.iter_after(None).collect::<Vec<_>>(), expected, "{case}");
            let from = CHUNK_ITEMS + 17;
            assert_eq!(ids.iter_after(Some(expected[from].0)).collect::<Vec<_>>(), expected[from + 1..], "{case}");
            assert!(ids.iter_rev().eq(expected.iter().rev().copied()), "{case}");
            assert_eq!(Ids::from_sorted(expected.clone()), Some(ids.clone()), "{case}");
            // An id out of order, then more at the end: the end of a chunk read back from pairs grows again.
            let mut restored = Ids::from_sorted(expected).unwrap();
            restored.insert(Uuid::from_u128(1), NONE - 1);
            restored.insert(Uuid::from_u128(u128::from(count) * 3), count + 1);
            assert_eq!(restored.get(&Uuid::from_u128(1)), Some(NONE - 1), "{case}");
            assert_eq!(restored.get(&Uuid::from_u128(u128::from(count) * 3)), Some(count + 1), "{case}");
            assert_eq!(restored.get(&Uuid::from_u128(u128::from(count - 1) * 3)), Some(slot_of(count - 1)), "{case}");
        }
        // The last chunk read back from pairs, more than half full, grows to a full chunk and no further.
        let mut grown = Ids::from_sorted((0..CHUNK_ITEMS as u128 + 3000).map(|n| (Uuid::from_u128(n), n as u32)).collect()).unwrap();
        grown.insert(Uuid::from_u128(1 << 100), 0);
        assert!(grown.sorted.iter().all(|chunk| chunk.ids.capacity() <= CHUNK_ITEMS));
    }

    #[test]
    fn sorted_slots_stay_in_order_across_chunk_splits_and_removals() {
        let mut slots = SortedSlots::default();
        let mut expected = std::collections::BTreeSet::new();
        // Even slots at the end fill three chunks; odd ones then go into full chunks and split them.
        let evens = (0..3 * CHUNK_ITEMS as u32).map(|n| 2 * n);
        let odds = (0..3 * CHUNK_ITEMS as u32).map(|n| (n * 7919 % (3 * CHUNK_ITEMS as u32)) * 2 + 1).take(5_000);
        for slot in evens.chain(odds) {
            slots.insert(slot);
            expected.insert(slot);
        }
        slots.insert(4);
        assert_eq!(slots.iter().collect::<Vec<_>>(), expected.iter().copied().collect::<Vec<_>>());
        assert!(slots.chunks.len() > 4, "inserts in the middle split chunks");
        for slot in (0..6 * CHUNK_ITEMS as u32).filter(|n| n % 8 != 0) {
            slots.remove(slot);
            expected.remove(&slot);
        }
        slots.remove(1);
        assert_eq!(slots.iter().collect::<Vec<_>>(), expected.iter().copied().collect::<Vec<_>>());
        let kept = expected.len();
        for chunk in &slots.chunks {
            assert!(!chunk.is_empty() && chunk.len() <= CHUNK_ITEMS && chunk.capacity() <= CHUNK_ITEMS);
        }
        let capacity: usize = slots.chunks.iter().map(Vec::capacity).sum();
        assert!(capacity <= 4 * kept + CHUNK_ITEMS, "{capacity} places for {kept} slots");
        for slot in expected {
            slots.remove(slot);
        }
        assert!(slots.is_empty());
    }

    #[test]
    fn kinds_list_each_slot_under_its_current_kind_after_corrections_and_a_relink() {
        let mut table = Activities::default();
        let visit = |n: u128| {
            events::parse_activity(&json!({"kind": "cluster_visit", "occurred_on": "2021-05-01", "cluster": "cop1", "host": format!("h{n}")}), None)
                .unwrap()
        };
        let count = 3 * CHUNK_ITEMS as u128;
        for n in 0..count {
            table.apply(Uuid::from_u128(n), n as u64 + 1, recorded(Uuid::from_u128(n), exchange("torino", None, None)));
        }
        // Every fifth becomes a cluster visit, and every tenth back again.
        let mut position = count as u64;
        for (n, activity) in (0..count).step_by(5).map(|n| (n, visit(n))).chain((0..count).step_by(10).map(|n| (n, exchange("paris", None, None)))) {
            position += 1;
            let id = Uuid::from_u128(n);
            table.apply(id, position, DomainEvent::ActivityCorrected(ActivityCorrected { activity_id: id, activity, reason: "kind".into(), changes: Default::default() }));
        }
        let scanned = |table: &Activities, kind: ActivityKind| -> Vec<u32> {
            table.slots().filter(|&slot| table.revisions.get(table.latest.get(slot)).kind() == Some(kind)).collect()
        };
        for kind in [ActivityKind::StaffExchange, ActivityKind::ClusterVisit] {
            let listed: Vec<u32> = table.by_kind[&kind].iter().collect();
            assert_eq!(listed, scanned(&table, kind), "{kind:?}");
        }
        assert_eq!(table.by_kind[&ActivityKind::ClusterVisit].iter().count(), (0..count).filter(|n| n % 5 == 0 && n % 10 != 0).count());
        let live = table.by_kind.clone();
        let slots = table.revision_slots();
        assert!(table.link(table.len(), &slots));
        assert_eq!(table.by_kind, live);
    }

    #[test]
    fn a_kept_revision_takes_24_bytes() {
        assert_eq!(std::mem::size_of::<Kept>(), 24);
    }

    #[test]
    fn positions_beyond_32_bits_are_kept_exactly_across_chunks() {
        let mut positions = Vec::new();
        let mut position = 0u64;
        for n in 0..3 * CHUNK_ITEMS + 10 {
            // Small steps, and leaps of 32 bits or more: inside a chunk, into a chunk's last record and its first.
            position += match n {
                100 | 101 => 1 << 32,
                n if n == CHUNK_ITEMS - 1 || n == CHUNK_ITEMS => 5 << 33,
                n if n == 2 * CHUNK_ITEMS + 7 => u64::from(u32::MAX),
                n => 1 + n as u64 % 3,
            };
            positions.push(position);
        }
        positions.push(u64::MAX);
        let mut revisions = Revisions::default();
        for (n, &position) in positions.iter().enumerate() {
            assert_eq!(revisions.push(Rev { position, prev: n as u32, ..EMPTY }), n as u32);
        }
        // A new base at each leap within a chunk (three in the first, one in the third and the last); the second
        // chunk starts at its leap.
        let rebased: Vec<usize> = revisions.bases.iter().map(|chunk| chunk.rebased.len()).collect();
        assert_eq!(rebased, [3, 0, 1, 1]);
        for (n, &position) in positions.iter().enumerate() {
            let rev = revisions.get(n as u32);
            assert_eq!((rev.position, rev.prev), (position, n as u32), "revision {n}");
            assert_eq!(revisions.count_at_or_before(position), n + 1, "at {position}");
            assert_eq!(revisions.count_at_or_before(position - 1), n, "before {position}");
        }
    }

    #[test]
    fn activities_at_positions_beyond_32_bits_keep_their_histories_through_a_relink() {
        let mut table = Activities::default();
        let count = CHUNK_ITEMS as u128 + 10;
        let position = |n: u128| (n as u64 + 1) * (1 << 31);
        for n in 0..count {
            table.apply(Uuid::from_u128(n % 1000), position(n), recorded(Uuid::from_u128(n % 1000), exchange("torino", None, None)));
        }
        let history = table.history(&Uuid::from_u128(7)).unwrap();
        let expected: Vec<u64> = (0..count).filter(|n| n % 1000 == 7).map(position).collect();
        assert_eq!(history.revisions().iter().map(ActivityRevision::position).collect::<Vec<_>>(), expected);
        assert_eq!(history.at(position(4007) - 1).map(|r| r.position()), Some(position(3007)));
        assert_eq!(history.version_at(position(2500)), 3);
        assert_eq!(table.position_at(position(count - 1) + 5), Some(position(count - 1)));
        assert_eq!(table.position_at(position(0) - 1), None);
        let mut relinked = table.clone();
        let slots = table.revision_slots();
        assert_eq!(slots[4007], table.ids.get(&Uuid::from_u128(7)).unwrap());
        assert!(relinked.link(table.len(), &slots));
        assert_eq!(relinked, table);
    }

    #[test]
    fn the_arena_gives_back_every_activity_across_chunks_and_oversized_ones() {
        let mut table = Activities::default();
        let mut expected = Vec::new();
        for n in 0..3_000u128 {
            // Every 1000th has a title bigger than a chunk; the others fill chunks unevenly.
            let title = match n % 1000 {
                999 => Some("x".repeat(ARENA_CHUNK + 5)),
                k => Some("t".repeat(1 + k as usize % 300)),
            };
            let activity = exchange(&format!("partner-{}", n % 50), (n % 3 == 0).then_some("cop1"), title);
            table.apply(Uuid::from_u128(n), n as u64 + 1, recorded(Uuid::from_u128(n), activity.clone()));
            expected.push(activity);
        }
        assert!(table.arena.sizes().0 > 3);
        for (n, activity) in expected.iter().enumerate() {
            let current = table.history(&Uuid::from_u128(n as u128)).unwrap().current().unwrap();
            assert_eq!(current.activity().as_ref(), Some(activity), "activity {n}");
            assert_eq!(current.partner(), Some(&activity.partner));
            assert_eq!(current.cluster().map(Slug::as_str), activity.cluster());
        }
    }

    #[test]
    fn partners_beyond_sixteen_bits_are_read_from_the_activity() {
        let mut table = Activities::default();
        let count = u128::from(u16::MAX) + 10;
        for n in 0..count {
            let activity = exchange(&format!("p{n}"), Some(&format!("c{n}")), None);
            table.apply(Uuid::from_u128(n), n as u64 + 1, recorded(Uuid::from_u128(n), activity));
        }
        let last = table.history(&Uuid::from_u128(count - 1)).unwrap().current().unwrap();
        assert_eq!(last.rev.partner, WIDE);
        assert_eq!(last.partner().map(Slug::as_str), Some(format!("p{}", count - 1).as_str()));
        assert_eq!(last.cluster().map(Slug::as_str), Some(format!("c{}", count - 1).as_str()));
    }

    #[test]
    fn histories_link_revisions_and_kinds_follow_corrections() {
        let mut table = Activities::default();
        let id = Uuid::from_u128(7);
        table.apply(id, 3, recorded(id, exchange("torino", None, None)));
        let visit = events::parse_activity(
            &json!({"kind": "cluster_visit", "occurred_on": "2021-05-01", "cluster": "cop1", "host": "torino"}),
            None,
        )
        .unwrap();
        table.apply(id, 9, DomainEvent::ActivityCorrected(ActivityCorrected { activity_id: id, activity: visit, reason: "kind".into(), changes: Default::default() }));
        table.apply(id, 12, DomainEvent::ActivityRetracted(ActivityRetracted { activity_id: id, reason: "gone".into() }));
        let history = table.history(&id).unwrap();
        let positions: Vec<u64> = history.revisions().iter().map(ActivityRevision::position).collect();
        assert_eq!(positions, [3, 9, 12]);
        assert_eq!(history.at(8).unwrap().kind(), Some(ActivityKind::StaffExchange));
        assert_eq!(history.at(11).unwrap().kind(), Some(ActivityKind::ClusterVisit));
        assert_eq!(history.current().unwrap().status(), ActivityStatus::Retracted);
        assert_eq!(history.version_at(10), 2);
        assert!(history.at(2).is_none());
        assert_eq!(table.by_kind.keys().collect::<Vec<_>>(), [&ActivityKind::ClusterVisit]);
        assert_eq!(table.position_at(11), Some(9));
    }
}
