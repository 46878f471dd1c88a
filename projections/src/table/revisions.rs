//! The revisions of the activity table: every state an activity went through, one fixed 24-byte record per
//! event in log order. A record keeps the columns that lists, filters and reports look at, so they need not
//! read the activity back from the arena, and its position as a 32-bit offset from a base, so that a
//! million records take 24 MB while any 64-bit position is kept exactly.

use chrono::NaiveDate;
use events::{ActivityKind, ActivityStatus};

use super::chunked::{Chunked, CHUNK_ITEMS};
use super::NONE;

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
    /// The partner's slug number + 1 ([`WIDE`](super::WIDE) when it does not fit).
    pub(crate) partner: u16,
    /// The cluster's slug number + 1, 0 for none ([`WIDE`](super::WIDE) when it does not fit).
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

/// A revision with every column empty, for building one field by field.
pub(super) const EMPTY: Rev =
    Rev { position: 0, prev: NONE, data: NONE, occurred_on: 0, partner: 0, cluster: 0, status: 0, event: 0, kind: 0, flags: 0 };

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

    pub(super) fn set_prev(&mut self, index: u32, prev: u32) {
        let kept = self.records.get(index);
        self.records.set(index, Kept { prev, ..kept });
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Rev> + '_ {
        (0..self.len() as u32).map(|index| self.get(index))
    }

    /// How many revisions are at or before `position` (positions increase in log order).
    pub(super) fn count_at_or_before(&self, position: u64) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
