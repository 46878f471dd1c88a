//! The index's two tiers of sorted arrays: entries of 8 bytes (a 32-bit tag and a 32-bit position) in tag
//! then position order, with fences for the search ([`Sorted`]); the big arrays built at open (sorted by
//! [`sort_by_tag`]) and the middle tier; and the merges that move entries along: the maps into the middle tier
//! every `MIN_MERGE` appends (in place), the middle tier into the big arrays when it reaches an eighth of them
//! (into new arrays). The module comment of `mod.rs` says why the index takes this shape.

use super::filter::Filter;
use super::Index;

/// One entry of a sorted array: a key (an event id's or an activity stream's tag) and a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry<K> {
    pub(super) key: K,
    pub(super) position: u32,
}

/// An event id's or activity stream id's tag: 32 bits of a seeded hash of the id.
pub(super) type Tag = u32;

/// Entries between two fences.
pub(super) const FENCE: usize = 32;

/// A sorted array of entries, with every `FENCE`-th key copied into a small array of its own (half a MB at a
/// million entries): a search goes through that one, which stays in the processor's cache, and then through
/// one stretch of `FENCE` entries, instead of taking twenty steps across the whole array.
#[derive(Debug)]
pub(super) struct Sorted<K> {
    pub(super) entries: Vec<Entry<K>>,
    pub(super) fences: Vec<K>,
}

impl<K> Default for Sorted<K> {
    fn default() -> Self {
        Sorted { entries: Vec::new(), fences: Vec::new() }
    }
}

impl<K: Copy + Ord> Sorted<K> {
    pub(super) fn new(mut entries: Vec<Entry<K>>) -> Sorted<K> {
        entries.shrink_to_fit();
        let mut sorted = Sorted { entries, fences: Vec::new() };
        sorted.refence();
        sorted
    }

    /// Copies every `FENCE`-th key into the fences, after the entries changed.
    fn refence(&mut self) {
        self.fences.clear();
        self.fences.extend(self.entries.iter().step_by(FENCE).map(|e| e.key));
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Merges sorted `new` entries in, in place: the array grows by exactly their number, and from the last new
    /// entry to the first, the old entries above it move up in one copy and it takes its slot below them. A
    /// merge of the maps into the middle tier brings a few thousand entries into up to an eighth of the log:
    /// a search and a short copy each costs less than stepping through every entry (callgrind, BENCHMARKS.md).
    /// The fences are made again.
    pub(super) fn absorb(&mut self, new: &[Entry<K>]) {
        // `end`: the old entries below it have not moved yet.
        let mut end = self.entries.len();
        self.entries.reserve_exact(new.len());
        self.entries.extend_from_slice(new);
        for (j, entry) in new.iter().enumerate().rev() {
            let slot = self.entries[..end].partition_point(|e| e < entry);
            self.entries.copy_within(slot..end, slot + j + 1);
            self.entries[slot + j] = *entry;
            end = slot;
        }
        self.refence();
    }

    /// The index of the first entry whose key is not below `key`.
    fn lower_bound(&self, key: &K) -> usize {
        let fence = self.fences.partition_point(|k| k < key);
        let low = if fence == 0 { 0 } else { (fence - 1) * FENCE + 1 };
        let high = (fence * FENCE).min(self.entries.len());
        low + self.entries[low..high].partition_point(|e| &e.key < key)
    }

    /// The entries with this key, in position order.
    pub(super) fn run(&self, key: &K) -> &[Entry<K>] {
        let start = self.lower_bound(key);
        let rest = &self.entries[start..];
        if rest.first().is_none_or(|e| e.key != *key) {
            return &[];
        }
        // Runs are short (the events of one activity): double the stretch known to match until it does not,
        // then search the last step.
        let mut known = 1;
        loop {
            let probe = (known * 2).min(rest.len());
            if probe == known || rest[probe - 1].key != *key {
                return &rest[..known + rest[known..probe].partition_point(|e| e.key == *key)];
            }
            known = probe;
        }
    }
}

/// The positions of a tag's run in the big arrays, then in the middle tier: in position order. None without
/// a search when the filter says neither tier holds the tag.
pub(super) fn tier_positions<'a>(
    filter: &Filter,
    big: &'a Sorted<Tag>,
    middle: &'a Sorted<Tag>,
    tag: Tag,
) -> impl DoubleEndedIterator<Item = u64> + 'a {
    let (big, middle) = if filter.may_hold(tag) { (big.run(&tag), middle.run(&tag)) } else { (&[][..], &[][..]) };
    big.iter().chain(middle).map(|e| u64::from(e.position))
}

/// An id's tag: 32 bits of its hash under the index's seed.
pub(super) fn tag_of(tags: &ahash::RandomState, id: u128) -> Tag {
    tags.hash_one(id) as Tag
}

// The merges change the index's fields, but what they do is move entries from one tier into the next, so they
// are kept beside the tiers they move them into.
impl Index {
    /// Moves what the maps hold into the middle tier; every position fits in a `u32`. The maps keep their
    /// buckets for the next `MIN_MERGE` appends.
    pub(super) fn merge_maps(&mut self) {
        let tags = &self.tags;
        let tag = |id: u128| tag_of(tags, id);
        let mut ids: Vec<Entry<Tag>> = self
            .new_ids
            .drain()
            .map(|(id, position)| Entry { key: tag(id.as_u128()), position: position as u32 })
            .collect();
        ids.sort_unstable();
        let mut activities: Vec<Entry<Tag>> = self
            .new_activities
            .drain()
            .flat_map(|(id, (_, positions))| {
                let key = tag(id);
                positions.into_positions().map(move |position| Entry { key, position: position as u32 })
            })
            .collect();
        activities.sort_unstable();
        self.middle_ids.absorb(&ids);
        self.middle_activities.absorb(&activities);
        if self.filter.has_room(ids.len() + activities.len()) {
            self.filter.insert(ids.iter().chain(&activities).map(|e| e.key));
        } else {
            self.refilter(2);
        }
    }

    /// Makes the filter again from every tag of the arrays, with room for `room` times their number.
    pub(super) fn refilter(&mut self, room: usize) {
        let tiers = [&self.ids, &self.middle_ids, &self.activities, &self.middle_activities];
        let mut filter = Filter::with_room(room * tiers.iter().map(|tier| tier.len()).sum::<usize>());
        filter.insert(tiers.iter().flat_map(|tier| tier.entries.iter().map(|e| e.key)));
        self.filter = filter;
    }

    /// Moves the middle tier into the big arrays (a linear merge into new arrays).
    pub(super) fn merge_middle(&mut self) {
        self.ids = Sorted::new(merge_sorted(&self.ids.entries, &self.middle_ids.entries));
        self.middle_ids = Sorted::default();
        self.activities = Sorted::new(merge_sorted(&self.activities.entries, &self.middle_activities.entries));
        self.middle_activities = Sorted::default();
    }
}

/// Two sorted arrays as one.
fn merge_sorted<K: Copy + Ord>(old: &[Entry<K>], new: &[Entry<K>]) -> Vec<Entry<K>> {
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < new.len() {
        if old[i] <= new[j] {
            out.push(old[i]);
            i += 1;
        } else {
            out.push(new[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&old[i..]);
    out.extend_from_slice(&new[j..]);
    out
}

/// Sorts entries added in position order by tag and then position: a stable radix sort of the 32-bit tags,
/// four passes of 8 bits. Tags are hashes, in no order at all, which a comparison sort needs about twenty steps
/// an entry to put in order at a million entries (callgrind, two arrays of a million: 0.49 G instructions for
/// `sort_unstable`, 0.16 G for this).
pub(super) fn sort_by_tag(entries: &mut Vec<Entry<Tag>>) {
    let mut sorted = vec![Entry { key: 0, position: 0 }; entries.len()];
    for shift in [0, 8, 16, 24] {
        let digit = |e: &Entry<Tag>| (e.key >> shift) as usize & 0xff;
        let mut next = [0usize; 256];
        for entry in entries.iter() {
            next[digit(entry)] += 1;
        }
        let mut sum = 0;
        for slot in &mut next {
            (*slot, sum) = (sum, sum + *slot);
        }
        for entry in entries.iter() {
            let slot = &mut next[digit(entry)];
            sorted[*slot] = *entry;
            *slot += 1;
        }
        std::mem::swap(entries, &mut sorted);
    }
}
