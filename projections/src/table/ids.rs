//! The map from activity ids to slots. Ids are UUID v7, so nearly every new one is the highest yet: they are
//! kept in sorted chunks that grow at the end, with the few that come out of order in a small map beside them.
//! Slots are handed out in the order activities first appear, so a chunk's slots are mostly consecutive: they
//! are kept as runs (usually one a chunk) rather than 4 bytes an id, and the map takes little more than the ids.

use std::collections::BTreeMap;
use std::ops::Bound;

use uuid::Uuid;

use super::chunked::CHUNK_ITEMS;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::NONE;

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
}
