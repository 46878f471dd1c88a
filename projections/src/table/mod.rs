//! The activities of one programme, kept column by column so that a million of them fit in tens of megabytes:
//! every revision (the state after one event) is a fixed 24-byte record in log order ([`Revisions`]), with the
//! columns that lists, filters and reports look at (kind, date, partner, cluster, status); the activity is kept
//! encoded (`codec.rs`) once per record or correction in an arena of packed blocks (`arena.rs`), read back only
//! when a report or a view needs its fields. Slots number the activities in the order they first appeared; ids map to slots.
//!
//! Everything grows in fixed chunks, so a big programme never doubles (and copies) one large allocation.
//!
//! This file is the table itself ([`Activities`]): applying an event, and relinking the revisions after a
//! snapshot is read. Its parts live beside it, each with its own tests: `revisions.rs` the 24-byte records,
//! `ids.rs` the map from ids to slots, `chunked.rs` the lists grown in fixed chunks (the latest revision of
//! each slot, the slots of each kind), and `views.rs` the public views of a history and of one of its states.

mod chunked;
mod ids;
mod revisions;
#[cfg(test)]
mod tests;
mod views;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use events::event::EVENT_TYPES;
use events::{Activity, ActivityKind, ActivityState, ActivityStatus, Slug};
use uuid::Uuid;

use crate::arena::Arena;
use crate::codec::Slugs;

use chunked::Chunked;
use revisions::{Revisions, EMPTY};

pub(crate) use chunked::SortedSlots;
pub(crate) use ids::Ids;
pub(crate) use revisions::Rev;
pub use views::{ActivityHistory, ActivityRevision};

/// "No revision" / "no activity" in a `u32` reference.
pub(crate) const NONE: u32 = u32::MAX;

/// The revision's activity was recorded (its state has the id).
pub(crate) const RECORDED: u8 = 1;
/// The revision has a return note (in [`Activities::notes`]).
pub(crate) const NOTE: u8 = 2;

/// A partner or cluster column whose slug number does not fit 16 bits: read it from the activity.
const WIDE: u16 = u16::MAX;

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
