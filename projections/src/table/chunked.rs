//! The two lists of the activity table that grow in fixed chunks of [`CHUNK_ITEMS`]: [`Chunked`], a list
//! indexed by number (the records of `revisions.rs`, the latest revision of each slot), and [`SortedSlots`],
//! the increasing slots of the activities of one kind. A list of a million items grown by doubling would copy
//! itself at every doubling and could hold twice the room it needs; fixed chunks do neither.

use super::NONE;

/// Items per chunk of a [`Chunked`] list.
pub(super) const CHUNK_ITEMS: usize = 4096;

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

    pub(super) fn set(&mut self, index: u32, item: T) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
