//! The log's in-memory indexes: event id → position, stream → positions (one per version), programme →
//! positions. They are derived from the log at open and never the only copy of anything.
//!
//! Memory is what shapes them (BENCHMARKS.md, issue 6): a million events in hash maps cost about 120 MB, most
//! of it empty buckets. What the open reads goes into sorted arrays instead — 8 bytes an event for the ids
//! and 8 for the activity streams, no buckets. What is appended afterwards goes through three tiers, which
//! every lookup consults in position order (each tier's positions follow the tier before):
//!
//! - the big arrays, built at open;
//! - a middle tier of the same 8-byte entries (same tags, same seed), merged into the big arrays when it
//!   reaches an eighth of them (a linear merge into new arrays, on the writer thread under the index's
//!   write lock);
//! - small hash maps of what was appended since the last merge into the middle tier, moved into it every
//!   `MIN_MERGE` events (a merge in place, costing what the middle tier holds).
//!
//! So a long-running server keeps the compact form too: a map entry costs about 130 bytes an event (the
//! id, the stream's id and positions, the buckets), and at most `MIN_MERGE` events are in the maps; before
//! the middle tier they held up to an eighth of the log (21 MiB after 400 000 appends onto a million).
//!
//! The arrays keep a 32-bit tag of each id (a hash, seeded afresh at every open) instead of the id: a tag
//! names the positions where an event with that id, or of that activity stream, *may* be, and the event at
//! each is read to tell (`at` below). An event-id lookup — the writer recognising an append it already
//! stored — reads the events anyway to compare their content. An activity stream's lookup reads the record
//! header of its last event in the arrays (its version), and a stream read reads the events it returns: an
//! activity stream that is not in the log meets another's tag about once in four thousand lookups at a
//! million streams, which costs one read. The middle tier is read the same way, after the big arrays' run.
//! A stream appended to since the last merge into the middle tier is known exactly (its id and first version
//! are in the maps), without a read; once its events are in the middle tier, its version costs a read of its
//! last candidate's header, as for a stream in the big arrays.
//!
//! In front of both tiers, a filter of one bit per tag (modulo its size) answers most lookups of ids that
//! are not there, which is nearly every lookup the writer makes (a new event's id, a new activity's stream),
//! without a search of the arrays: 1 MiB at a million events ([`Filter`]).
//!
//! Positions in the arrays are `u32`; an event past position `u32::MAX` stays in the maps, which hold `u64`.
//! Activity streams (`activity-{uuid}`, nearly every stream) are kept by their 16-byte id; any other stream,
//! a handful per programme, by its name in a map.

use std::collections::HashMap;

use uuid::Uuid;

/// Keys come from clients (stream and programme names), so the hasher is randomised (ahash), and it is fast.
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// Fewest appended entries worth a merge into the arrays.
const MIN_MERGE: usize = 4096;

/// One entry of a sorted array: a key (an event id's or an activity stream's tag) and a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry<K> {
    key: K,
    position: u32,
}

/// An event id's or activity stream id's tag: 32 bits of a seeded hash of the id.
type Tag = u32;

/// Entries between two fences.
const FENCE: usize = 32;

/// A sorted array of entries, with every `FENCE`-th key copied into a small array of its own (half a MB at a
/// million entries): a search goes through that one, which stays in the processor's cache, and then through
/// one stretch of `FENCE` entries, instead of taking twenty steps across the whole array.
#[derive(Debug)]
struct Sorted<K> {
    entries: Vec<Entry<K>>,
    fences: Vec<K>,
}

impl<K> Default for Sorted<K> {
    fn default() -> Self {
        Sorted { entries: Vec::new(), fences: Vec::new() }
    }
}

impl<K: Copy + Ord> Sorted<K> {
    fn new(mut entries: Vec<Entry<K>>) -> Sorted<K> {
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

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Merges sorted `new` entries in, in place: the array grows by exactly their number, and from the last new
    /// entry to the first, the old entries above it move up in one copy and it takes its slot below them. A
    /// merge of the maps into the middle tier brings a few thousand entries into up to an eighth of the log:
    /// a search and a short copy each costs less than stepping through every entry (callgrind, BENCHMARKS.md).
    /// The fences are made again.
    fn absorb(&mut self, new: &[Entry<K>]) {
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
    fn run(&self, key: &K) -> &[Entry<K>] {
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

/// One bit per tag value modulo its size, set for every tag in the arrays (both tiers, ids and activity
/// streams alike): a lookup whose bit is clear skips the arrays. Nearly every lookup of the writer is of an id
/// the log does not hold (a new event's id, a new activity's stream), and most of them end here instead of in
/// two searches that each touch a cache line of an array of megabytes. Sized for at most one tag in three bits
/// (about a quarter of the bits set, so three lookups of four end here: 1 MiB at a million events), and made
/// again twice the size when the arrays outgrow it (a walk over every entry under the writer's lock: a few
/// milliseconds at a few million events, once per doubling).
#[derive(Debug, Default)]
struct Filter {
    words: Vec<u64>,
    tags: usize,
}

impl Filter {
    /// Fewest bits.
    const MIN_BITS: usize = 1 << 16;

    /// An empty filter with room for `tags`.
    fn with_room(tags: usize) -> Filter {
        let bits = (3 * tags).next_power_of_two().max(Filter::MIN_BITS);
        Filter { words: vec![0; bits / 64], tags: 0 }
    }

    fn has_room(&self, more: usize) -> bool {
        3 * (self.tags + more) <= 64 * self.words.len()
    }

    fn bit(&self, tag: Tag) -> (usize, u64) {
        let bit = tag as usize & (64 * self.words.len() - 1);
        (bit / 64, 1 << (bit % 64))
    }

    fn insert(&mut self, tags: impl Iterator<Item = Tag>) {
        for tag in tags {
            let (word, mask) = self.bit(tag);
            self.words[word] |= mask;
            self.tags += 1;
        }
    }

    /// False only when no tag in the arrays is `tag`.
    fn may_hold(&self, tag: Tag) -> bool {
        !self.words.is_empty() && {
            let (word, mask) = self.bit(tag);
            self.words[word] & mask != 0
        }
    }
}

/// The id of an activity stream's name, when it is one: `activity-` and the hyphenated lower-case UUID (the
/// only spelling that names an activity's stream). Such names are nearly every stream of a log, and are kept
/// by their 16-byte id instead of a copy of the name.
pub(super) fn activity_stream_id(stream: &str) -> Option<u128> {
    let id = stream.strip_prefix("activity-")?;
    if id.len() != 36 || id.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Uuid::try_parse(id).ok().map(|uuid| uuid.as_u128())
}

/// Positions of one stream's events in order; the first is kept inline, the rest behind one pointer: 16
/// bytes a stream in a map, where most streams hold one or two events.
#[derive(Debug)]
struct StreamPositions {
    first: u64,
    // Boxed on purpose: 8 bytes in every stream's entry instead of 24, for the few streams with more events.
    #[allow(clippy::box_collection)]
    rest: Option<Box<Vec<u64>>>,
}

impl StreamPositions {
    fn new(first: u64) -> StreamPositions {
        StreamPositions { first, rest: None }
    }

    fn push(&mut self, position: u64) {
        self.rest.get_or_insert_with(Box::default).push(position);
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.first).chain(self.rest.iter().flat_map(|rest| rest.iter().copied()))
    }

    fn len(&self) -> u64 {
        1 + self.rest.as_ref().map_or(0, |rest| rest.len() as u64)
    }

    fn into_positions(self) -> impl Iterator<Item = u64> {
        std::iter::once(self.first).chain(self.rest.into_iter().flat_map(|rest| *rest))
    }
}

/// A stream's events as the index knows them ([`Index::stream_candidates`]).
#[derive(Debug)]
pub(super) enum Candidates {
    /// A stream kept by name: exactly its positions, in version order.
    Named(Vec<u64>),
    /// An activity stream: the arrays' candidates (the events of every stream of the same tag, in position
    /// order: the big arrays' run, then the middle tier's), then the positions in the maps with the version of
    /// the first of them.
    Activity { run: Vec<u64>, new: Option<(u64, Vec<u64>)> },
}

/// The version of the last candidate that belongs to the stream (`at` tells), walking `newest_first`; 0 when
/// none does.
fn last_version<E>(newest_first: impl Iterator<Item = u64>, at: &mut impl FnMut(u64) -> Result<Option<u64>, E>) -> Result<u64, E> {
    for position in newest_first {
        if let Some(version) = at(position)? {
            return Ok(version);
        }
    }
    Ok(0)
}

/// The positions of a tag's run in the big arrays, then in the middle tier: in position order. None without
/// a search when the filter says neither tier holds the tag.
fn tier_positions<'a>(
    filter: &Filter,
    big: &'a Sorted<Tag>,
    middle: &'a Sorted<Tag>,
    tag: Tag,
) -> impl DoubleEndedIterator<Item = u64> + 'a {
    let (big, middle) = if filter.may_hold(tag) { (big.run(&tag), middle.run(&tag)) } else { (&[][..], &[][..]) };
    big.iter().chain(middle).map(|e| u64::from(e.position))
}

/// An id's tag: 32 bits of its hash under the index's seed.
fn tag_of(tags: &ahash::RandomState, id: u128) -> Tag {
    tags.hash_one(id) as Tag
}

impl Candidates {
    /// See [`Index::stream_version`].
    pub(super) fn version<E>(&self, mut at: impl FnMut(u64) -> Result<Option<u64>, E>) -> Result<u64, E> {
        match self {
            Candidates::Named(positions) => Ok(positions.len() as u64),
            Candidates::Activity { new: Some((first, positions)), .. } => Ok(first + positions.len() as u64 - 1),
            Candidates::Activity { run, new: None } => last_version(run.iter().rev().copied(), &mut at),
        }
    }

    /// See [`Index::stream_positions`].
    pub(super) fn positions<E>(
        &self,
        from_version: u64,
        limit: usize,
        mut at: impl FnMut(u64) -> Result<Option<u64>, E>,
    ) -> Result<Vec<u64>, E> {
        let from_version = from_version.max(1);
        let skip = |first_version: u64| usize::try_from(from_version.saturating_sub(first_version)).unwrap_or(usize::MAX);
        let (run, new) = match self {
            Candidates::Named(positions) => return Ok(positions.iter().copied().skip(skip(1)).take(limit).collect()),
            Candidates::Activity { run, new } => (run, new),
        };
        let mut out = Vec::new();
        // The arrays hold the versions before the first new one (all of them when there is none).
        if new.as_ref().is_none_or(|(first, _)| from_version < *first) {
            for &position in run {
                if out.len() == limit {
                    return Ok(out);
                }
                if at(position)?.is_some_and(|version| version >= from_version) {
                    out.push(position);
                }
            }
        }
        if let Some((first, positions)) = new {
            out.extend(positions.iter().copied().skip(skip(*first)).take(limit - out.len()));
        }
        Ok(out)
    }
}

/// Increasing positions of one programme's events. A log holds a few programmes, each with a large share of
/// its events: such a programme keeps them as one bit per position of the log from its first one (a million
/// events of two programmes: 250 KB instead of 4 MB); a programme with few events keeps a list, 4 bytes a
/// position while they fit in a `u32`. Whichever is smaller: the choice is made again when the form in use
/// grows to twice the size of the other.
#[derive(Debug)]
enum Positions {
    List { small: Vec<u32>, large: Vec<u64> },
    /// Bit `i` of the words (bit `i % 64` of word `i / 64`) is position `first + i`.
    Bits { first: u64, words: Vec<u64>, count: usize },
}

impl Default for Positions {
    fn default() -> Self {
        Positions::List { small: Vec::new(), large: Vec::new() }
    }
}

/// Fewest positions worth a choice of form.
const MIN_BITS: usize = 64;

impl Positions {
    fn push(&mut self, position: u64) {
        self.insert(position);
        let (count, list, bits) = self.sizes(position);
        let other = match self {
            Positions::List { .. } if count >= MIN_BITS && list > 2 * bits => {
                let first = self.iter_from(0).next().unwrap_or(position);
                Positions::Bits { first, words: Vec::new(), count: 0 }
            }
            Positions::Bits { .. } if count >= MIN_BITS && bits > 2 * list => Positions::default(),
            _ => return,
        };
        *self = self.iter_from(0).fold(other, |mut other, p| {
            other.insert(p);
            other
        });
        self.shrink();
    }

    /// Adds a position after the others, in the form in use.
    fn insert(&mut self, position: u64) {
        match self {
            Positions::List { small, large } => match u32::try_from(position) {
                Ok(p) if large.is_empty() => small.push(p),
                _ => large.push(position),
            },
            Positions::Bits { first, words, count } => {
                let bit = position - *first;
                let word = usize::try_from(bit / 64).expect("a position within memory");
                if word >= words.len() {
                    words.resize(word + 1, 0);
                }
                words[word] |= 1 << (bit % 64);
                *count += 1;
            }
        }
    }

    /// How many positions, and the bytes they take as a list and as bits up to `last`.
    fn sizes(&self, last: u64) -> (usize, u64, u64) {
        let (count, first) = match self {
            Positions::List { small, large } => {
                (small.len() + large.len(), small.first().map(|&p| u64::from(p)).or(large.first().copied()))
            }
            Positions::Bits { first, count, .. } => (*count, Some(*first)),
        };
        let first = first.unwrap_or(last);
        (count, 4 * count as u64, (last - first) / 8 + 8)
    }

    fn shrink(&mut self) {
        match self {
            Positions::List { small, large } => {
                small.shrink_to_fit();
                large.shrink_to_fit();
            }
            Positions::Bits { words, .. } => words.shrink_to_fit(),
        }
    }

    /// The positions at or after `from`, in order.
    fn iter_from(&self, from: u64) -> Box<dyn Iterator<Item = u64> + '_> {
        match self {
            Positions::List { small, large } => {
                let small_start = small.partition_point(|&p| u64::from(p) < from);
                let large_start = large.partition_point(|&p| p < from);
                let small = small[small_start..].iter().map(|&p| u64::from(p));
                Box::new(small.chain(large[large_start..].iter().copied()))
            }
            Positions::Bits { first, words, .. } => {
                let first = *first;
                let start = from.saturating_sub(first);
                let start_word = usize::try_from(start / 64).unwrap_or(usize::MAX).min(words.len());
                let words = words[start_word..].iter().enumerate().map(move |(i, &word)| {
                    let word = if i == 0 { word & (u64::MAX << (start % 64)) } else { word };
                    (first + (start_word + i) as u64 * 64, word)
                });
                Box::new(words.flat_map(|(base, mut word)| {
                    std::iter::from_fn(move || {
                        (word != 0).then(|| {
                            let bit = word.trailing_zeros();
                            word &= word - 1;
                            base + u64::from(bit)
                        })
                    })
                }))
            }
        }
    }

    /// Up to `limit` positions at or after `from`.
    fn at_or_after(&self, from: u64, limit: usize) -> Vec<u64> {
        self.iter_from(from).take(limit).collect()
    }
}

/// The indexes of one log.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// Tags of the arrays' event ids, by tag then position.
    ids: Sorted<Tag>,
    /// The middle tier: tags of event ids appended since `ids` was built and moved out of `new_ids`, by tag
    /// then position; every position here follows every position in `ids`.
    middle_ids: Sorted<Tag>,
    /// The seed of the tags.
    tags: ahash::RandomState,
    /// Tags of the arrays' activity streams, by tag then position: a stream's events are in one run, in
    /// version order (with those of any stream of the same tag).
    activities: Sorted<Tag>,
    /// The middle tier of `activities`, as `middle_ids` is of `ids`.
    middle_activities: Sorted<Tag>,
    /// Event ids appended since the last merge into the middle tier.
    new_ids: FastMap<Uuid, u64>,
    /// Activity streams' events appended since the last merge into the middle tier, with the version of the
    /// first of them; they follow the stream's events in `activities` and `middle_activities`, if it has any.
    new_activities: FastMap<u128, (u64, StreamPositions)>,
    /// Every other stream, by name.
    named: FastMap<Box<str>, StreamPositions>,
    programmes: FastMap<Box<str>, Positions>,
    /// Set once a position past `u32::MAX` is in the maps: they are not merged any more.
    past_u32: bool,
    /// Every tag of `ids`, `middle_ids`, `activities` and `middle_activities`.
    filter: Filter,
}

impl Index {
    /// Builds the indexes of events read in log order, which `add` is called with.
    pub(super) fn builder(expected_events: usize) -> IndexBuilder {
        IndexBuilder {
            index: Index::default(),
            ids: Vec::with_capacity(expected_events),
            activities: Vec::with_capacity(expected_events),
        }
    }

    /// Adds an event appended after the positions already indexed.
    pub(super) fn add(&mut self, position: u64, stream: &str, version: u64, id: Uuid, programme: &str) {
        match activity_stream_id(stream) {
            Some(stream) => {
                self.new_activities
                    .entry(stream)
                    .and_modify(|(_, positions)| positions.push(position))
                    .or_insert_with(|| (version, StreamPositions::new(position)));
            }
            None => add_named(&mut self.named, position, stream, version),
        }
        self.new_ids.insert(id, position);
        add_programme(&mut self.programmes, position, programme);
        self.past_u32 |= u32::try_from(position).is_err();
        if !self.past_u32 && self.new_ids.len() >= MIN_MERGE {
            self.merge_maps();
            if self.middle_ids.len() >= MIN_MERGE.max(self.ids.len() / 8) {
                self.merge_middle();
            }
        }
    }

    /// The positions where the event with this id may be, in order: the event at each must be read to tell
    /// whether it has the id. Empty when the log does not hold the id.
    pub(super) fn candidates_for_id(&self, id: Uuid) -> Vec<u64> {
        let mut positions: Vec<u64> = tier_positions(&self.filter, &self.ids, &self.middle_ids, self.tag(id.as_u128())).collect();
        positions.extend(self.new_ids.get(&id));
        positions
    }

    fn tag(&self, id: u128) -> Tag {
        tag_of(&self.tags, id)
    }

    /// The stream's last version; 0 when it has no event. `at(position)` tells whether the event at a
    /// candidate position belongs to the stream, and its version (the module's comment). The writer asks this
    /// under the lock for every append: nothing is copied out ([`Index::stream_candidates`] is for readers).
    pub(super) fn stream_version<E>(&self, stream: &str, mut at: impl FnMut(u64) -> Result<Option<u64>, E>) -> Result<u64, E> {
        match activity_stream_id(stream) {
            None => Ok(self.named.get(stream).map_or(0, StreamPositions::len)),
            Some(id) => match self.new_activities.get(&id) {
                Some((first, positions)) => Ok(first + positions.len() - 1),
                None => {
                    last_version(tier_positions(&self.filter, &self.activities, &self.middle_activities, self.tag(id)).rev(), &mut at)
                }
            },
        }
    }

    /// Positions of up to `limit` of the stream's events from version `from_version` (1 is the first); `at` as
    /// for [`Index::stream_version`]. (The log reads through [`Index::stream_candidates`], outside the lock.)
    #[cfg(test)]
    pub(super) fn stream_positions<E>(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
        at: impl FnMut(u64) -> Result<Option<u64>, E>,
    ) -> Result<Vec<u64>, E> {
        self.stream_candidates(stream).positions(from_version, limit, at)
    }

    /// Where the stream's events may be, copied out of the index, so that the records at the candidates are
    /// read without holding the index's lock (the writer takes it after every commit).
    pub(super) fn stream_candidates(&self, stream: &str) -> Candidates {
        match activity_stream_id(stream) {
            None => Candidates::Named(self.named.get(stream).map_or_else(Vec::new, |positions| positions.iter().collect())),
            Some(id) => Candidates::Activity {
                run: tier_positions(&self.filter, &self.activities, &self.middle_activities, self.tag(id)).collect(),
                new: self.new_activities.get(&id).map(|(first, positions)| (*first, positions.iter().collect())),
            },
        }
    }

    /// Positions of up to `limit` of the programme's events at or after position `from`.
    pub(super) fn programme_positions(&self, programme: &str, from: u64, limit: usize) -> Vec<u64> {
        self.programmes.get(programme).map_or_else(Vec::new, |positions| positions.at_or_after(from, limit))
    }

    /// Moves what the maps hold into the middle tier; every position fits in a `u32`. The maps keep their
    /// buckets for the next `MIN_MERGE` appends.
    fn merge_maps(&mut self) {
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
    fn refilter(&mut self, room: usize) {
        let tiers = [&self.ids, &self.middle_ids, &self.activities, &self.middle_activities];
        let mut filter = Filter::with_room(room * tiers.iter().map(|tier| tier.len()).sum::<usize>());
        filter.insert(tiers.iter().flat_map(|tier| tier.entries.iter().map(|e| e.key)));
        self.filter = filter;
    }

    /// Moves the middle tier into the big arrays (a linear merge into new arrays).
    fn merge_middle(&mut self) {
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

/// Adds the event at `position` to a named stream. `version` 1 starts a stream, so the map is not searched
/// first.
fn add_named(named: &mut FastMap<Box<str>, StreamPositions>, position: u64, stream: &str, version: u64) {
    if version != 1 {
        if let Some(positions) = named.get_mut(stream) {
            positions.push(position);
            return;
        }
    }
    named.insert(stream.into(), StreamPositions::new(position));
}

fn add_programme(programmes: &mut FastMap<Box<str>, Positions>, position: u64, programme: &str) {
    match programmes.get_mut(programme) {
        Some(positions) => positions.push(position),
        None => programmes.entry(programme.into()).or_default().push(position),
    }
}

/// Sorts entries added in position order by tag and then position: a stable radix sort of the 32-bit tags,
/// four passes of 8 bits. Tags are hashes, in no order at all, which a comparison sort needs about twenty steps
/// an entry to put in order at a million entries (callgrind, two arrays of a million: 0.49 G instructions for
/// `sort_unstable`, 0.16 G for this).
fn sort_by_tag(entries: &mut Vec<Entry<Tag>>) {
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

/// The indexes being built from events read in log order.
#[derive(Debug)]
pub(super) struct IndexBuilder {
    index: Index,
    ids: Vec<Entry<Tag>>,
    activities: Vec<Entry<Tag>>,
}

impl IndexBuilder {
    /// Adds the event at `position`, which follows the positions added before.
    pub(super) fn add(&mut self, position: u64, stream: &str, version: u64, id: Uuid, programme: &str) {
        let Ok(small) = u32::try_from(position) else {
            self.index.add(position, stream, version, id, programme);
            return;
        };
        match activity_stream_id(stream) {
            Some(stream) => self.activities.push(Entry { key: self.index.tag(stream), position: small }),
            None => add_named(&mut self.index.named, position, stream, version),
        }
        self.ids.push(Entry { key: self.index.tag(id.as_u128()), position: small });
        add_programme(&mut self.index.programmes, position, programme);
    }

    /// Sorts the arrays (big ones on two threads) and returns the indexes.
    pub(super) fn finish(self) -> Index {
        let IndexBuilder { mut index, mut ids, mut activities } = self;
        if ids.len() < 65_536 {
            sort_by_tag(&mut ids);
            sort_by_tag(&mut activities);
        } else {
            std::thread::scope(|scope| {
                let sorting = scope.spawn(|| sort_by_tag(&mut activities));
                sort_by_tag(&mut ids);
                sorting.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            });
        }
        index.ids = Sorted::new(ids);
        index.activities = Sorted::new(activities);
        index.refilter(1);
        for positions in index.programmes.values_mut() {
            positions.shrink();
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "activity-0190c6a2-7c4e-7a1b-9f00-123456789abc";
    const B: &str = "activity-0190c6a2-7c4e-7a1b-9f00-000000000001";

    fn id(n: u128) -> Uuid {
        // Spread over the whole range, so that sorted order is not insertion order.
        Uuid::from_u128(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
    }

    /// The log beside an index: each position's stream and version, which the index's `at` callbacks read, and
    /// how many of them it read.
    #[derive(Default)]
    struct Log {
        index: Index,
        events: HashMap<u64, (String, u64)>,
        reads: std::cell::Cell<usize>,
    }

    impl Log {
        fn add(&mut self, position: u64, stream: &str, version: u64, id: Uuid, programme: &str) {
            self.index.add(position, stream, version, id, programme);
            self.events.insert(position, (stream.to_owned(), version));
        }

        fn at<'a>(&'a self, stream: &'a str) -> impl FnMut(u64) -> Result<Option<u64>, ()> + 'a {
            move |position| {
                self.reads.set(self.reads.get() + 1);
                let (s, version) = self.events.get(&position).expect("a candidate is a stored position");
                Ok((s == stream).then_some(*version))
            }
        }

        fn version(&self, stream: &str) -> u64 {
            self.index.stream_version(stream, self.at(stream)).unwrap()
        }

        fn positions(&self, stream: &str, from_version: u64, limit: usize) -> Vec<u64> {
            self.index.stream_positions(stream, from_version, limit, self.at(stream)).unwrap()
        }
    }

    /// Builds the index of `events` (stream, version, id, programme) at positions from `first` on, as the open
    /// reads them.
    fn build(tags: ahash::RandomState, first: u64, events: &[(&str, u64, Uuid, &str)]) -> Log {
        let mut builder = IndexBuilder { index: Index { tags, ..Index::default() }, ids: Vec::new(), activities: Vec::new() };
        let mut log = Log::default();
        for (i, &(stream, version, id, programme)) in events.iter().enumerate() {
            builder.add(first + i as u64, stream, version, id, programme);
            log.events.insert(first + i as u64, (stream.to_owned(), version));
        }
        log.index = builder.finish();
        log
    }

    /// Events 1..=6 read at open: A, B, programme stream, A, programme stream, A.
    fn opened() -> Log {
        build(
            ahash::RandomState::new(),
            1,
            &[
                (A, 1, id(1), "connection"),
                (B, 1, id(2), "unites"),
                ("programme-connection", 1, id(3), "connection"),
                (A, 2, id(4), "connection"),
                ("programme-connection", 2, id(5), "connection"),
                (A, 3, id(6), "connection"),
            ],
        )
    }

    #[test]
    fn only_the_canonical_spelling_of_an_activity_stream_is_kept_by_id() {
        let id = "0190c6a2-7c4e-7a1b-9f00-123456789abc";
        assert_eq!(activity_stream_id(&format!("activity-{id}")), Some(Uuid::parse_str(id).unwrap().as_u128()));
        for other in [
            format!("activity-{}", id.to_uppercase()),
            format!("activity-{}", id.replace('-', "")),
            format!("activity-{{{id}}}"),
            "activity-1".to_owned(),
            format!("programme-{id}"),
        ] {
            assert_eq!(activity_stream_id(&other), None, "{other}");
        }
    }

    #[test]
    fn events_read_at_open_are_found_by_id_stream_and_programme() {
        let log = opened();
        for n in 1..=6 {
            assert!(log.index.candidates_for_id(id(n)).contains(&(n as u64)), "event {n}");
        }
        assert!(log.index.candidates_for_id(id(7)).is_empty());
        assert_eq!(log.version(A), 3);
        assert_eq!(log.version(B), 1);
        assert_eq!(log.version("programme-connection"), 2);
        assert_eq!(log.version("activity-0190c6a2-7c4e-7a1b-9f00-999999999999"), 0);
        assert_eq!(log.positions(A, 1, 10), vec![1, 4, 6]);
        assert_eq!(log.positions(A, 2, 1), vec![4]);
        assert_eq!(log.positions(A, 3, 0), Vec::<u64>::new());
        assert_eq!(log.positions("programme-connection", 1, 10), vec![3, 5]);
        assert_eq!(log.positions("programme-connection", 2, 10), vec![5]);
        assert_eq!(log.index.programme_positions("connection", 4, 10), vec![4, 5, 6]);
        assert_eq!(log.index.programme_positions("unites", 1, 10), vec![2]);
        assert_eq!(log.index.programme_positions("other", 1, 10), Vec::<u64>::new());
    }

    #[test]
    fn an_activity_stream_spelt_otherwise_is_a_stream_of_its_own() {
        let upper = "activity-0190C6A2-7C4E-7A1B-9F00-123456789ABC";
        let mut log = opened();
        log.add(7, upper, 1, id(7), "connection");
        assert_eq!(log.positions(upper, 1, 10), vec![7]);
        assert_eq!(log.positions(A, 1, 10), vec![1, 4, 6]);
    }

    #[test]
    fn appended_events_follow_the_ones_read_at_open() {
        let mut log = opened();
        log.add(7, A, 4, id(7), "connection");
        log.add(8, "programme-connection", 3, id(8), "connection");
        log.add(9, "activity-0190c6a2-7c4e-7a1b-9f00-000000000009", 1, id(9), "unites");
        assert!(log.index.candidates_for_id(id(7)).contains(&7));
        assert!(log.index.candidates_for_id(id(2)).contains(&2), "an id read at open is still found");
        let reads = log.reads.get();
        assert_eq!(log.version(A), 4);
        assert_eq!(log.positions(A, 4, 10), vec![7]);
        assert_eq!(log.reads.get(), reads, "a stream appended to since the open is known without reading the log");
        assert_eq!(log.positions(A, 1, 10), vec![1, 4, 6, 7]);
        assert_eq!(log.positions(A, 3, 10), vec![6, 7]);
        assert_eq!(log.positions(A, 2, 2), vec![4, 6]);
        assert_eq!(log.positions("programme-connection", 1, 10), vec![3, 5, 8]);
        assert_eq!(log.index.programme_positions("unites", 1, 10), vec![2, 9]);
        assert_eq!(log.index.programme_positions("connection", 5, 2), vec![5, 6]);
    }

    #[test]
    fn appends_merged_into_the_arrays_are_found_as_before() {
        let mut log = opened();
        let streams: Vec<String> =
            (0..100).map(|s| format!("activity-{}", Uuid::from_u128(0x7000_0000_0000_0000_0000 + s))).collect();
        let mut versions = vec![0u64; streams.len()];
        let mut expected: Vec<Vec<u64>> = vec![Vec::new(); streams.len()];
        let appended = 3 * MIN_MERGE as u64;
        for position in 7..7 + appended {
            let s = (position * 31 % streams.len() as u64) as usize;
            versions[s] += 1;
            expected[s].push(position);
            log.add(position, &streams[s], versions[s], id(u128::from(position)), "connection");
        }
        assert!(log.index.new_ids.len() < MIN_MERGE, "the appends were merged");
        assert!(log.index.ids.len() > 2 * MIN_MERGE);
        for position in 1..7 + appended {
            assert!(log.index.candidates_for_id(id(u128::from(position))).contains(&position), "event {position}");
        }
        for (s, stream) in streams.iter().enumerate() {
            assert_eq!(log.version(stream), versions[s], "{stream}");
            assert_eq!(log.positions(stream, 1, usize::MAX), expected[s], "{stream}");
            assert_eq!(log.positions(stream, versions[s], 1), vec![*expected[s].last().unwrap()], "{stream}");
        }
        assert_eq!(log.positions(A, 1, 10), vec![1, 4, 6]);
        assert!(log.index.ids.entries.windows(2).all(|w| w[0] < w[1]));
        assert!(log.index.activities.entries.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn positions_past_u32_stay_in_the_maps() {
        let big = u64::from(u32::MAX) + 1;
        let mut log = build(ahash::RandomState::new(), big - 1, &[(A, 1, id(1), "connection"), (A, 2, id(2), "connection")]);
        log.add(big + 1, A, 3, id(3), "connection");
        assert!(log.index.candidates_for_id(id(1)).contains(&(big - 1)));
        assert!(log.index.candidates_for_id(id(2)).contains(&big));
        assert!(log.index.candidates_for_id(id(3)).contains(&(big + 1)));
        assert_eq!(log.positions(A, 1, 10), vec![big - 1, big, big + 1]);
        assert_eq!(log.index.programme_positions("connection", big, 10), vec![big, big + 1]);
        for n in 4..4 + MIN_MERGE as u64 {
            log.add(big + n, B, n - 3, id(u128::from(n)), "unites");
        }
        assert!(log.index.candidates_for_id(id(3)).contains(&(big + 1)), "nothing past u32 is merged");
        assert_eq!(log.version(B), MIN_MERGE as u64);
    }

    /// Two values among the first 200 000 whose tags collide under these seeds (two among 200 000 share a
    /// 32-bit tag with a probability of 99 %).
    fn colliding(index: &Index, value: impl Fn(u128) -> u128) -> (u128, u128) {
        let mut by_tag = HashMap::new();
        (1..=200_000u128)
            .find_map(|n| by_tag.insert(index.tag(value(n)), n).map(|earlier| (earlier, n)))
            .expect("a collision among 200 000 tags")
    }

    #[test]
    fn ids_whose_tags_collide_are_both_candidates_in_position_order() {
        let seeds = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let (first, second) = colliding(&Index { tags: seeds.clone(), ..Index::default() }, |n| id(n).as_u128());
        let mut log = build(
            seeds,
            1,
            &[(A, 1, id(first), "connection"), (A, 2, id(7_000_000), "connection"), (A, 3, id(second), "connection")],
        );
        assert_eq!(log.index.candidates_for_id(id(first)), vec![1, 3]);
        assert_eq!(log.index.candidates_for_id(id(second)), vec![1, 3]);
        assert_eq!(log.index.candidates_for_id(id(7_000_000)), vec![2]);
        log.add(4, B, 1, id(second), "unites");
        assert_eq!(log.index.candidates_for_id(id(second)), vec![1, 3, 4], "appended ids follow the arrays' candidates");
    }

    #[test]
    fn activity_streams_whose_tags_collide_are_told_apart_by_reading_the_log() {
        let seeds = ahash::RandomState::with_seeds(5, 6, 7, 8);
        let (x, y) = colliding(&Index { tags: seeds.clone(), ..Index::default() }, |n| n << 64 | 0x7000);
        let (x, y) = (format!("activity-{}", Uuid::from_u128(x << 64 | 0x7000)), format!("activity-{}", Uuid::from_u128(y << 64 | 0x7000)));
        let mut log = build(
            seeds,
            1,
            &[(&x, 1, id(1), "c"), (&y, 1, id(2), "c"), (&x, 2, id(3), "c"), (&y, 2, id(4), "c"), (&y, 3, id(5), "c")],
        );
        assert_eq!(log.version(&x), 2);
        assert_eq!(log.version(&y), 3);
        assert_eq!(log.positions(&x, 1, 10), vec![1, 3]);
        assert_eq!(log.positions(&y, 1, 10), vec![2, 4, 5]);
        assert_eq!(log.positions(&y, 2, 1), vec![4]);
        assert_eq!(log.positions(&x, 3, 10), Vec::<u64>::new());
        log.add(6, &x, 3, id(6), "c");
        assert_eq!(log.version(&x), 3);
        assert_eq!(log.version(&y), 3);
        assert_eq!(log.positions(&x, 1, 10), vec![1, 3, 6]);
        assert_eq!(log.positions(&x, 2, 10), vec![3, 6]);
        assert_eq!(log.positions(&y, 1, 10), vec![2, 4, 5]);
    }

    /// A one-event activity stream and its event's id, numbered by the event's position: what fills the tiers
    /// around the events a test looks at.
    fn filler(position: u64) -> (String, Uuid) {
        let n = u128::from(position);
        (format!("activity-{}", Uuid::from_u128(0x6000_0000_0000_0000_0000 + n)), id(0x6000_0000_0000 + n))
    }

    impl Log {
        /// Appends a filler event at each of `positions`.
        fn fill(&mut self, positions: std::ops::Range<u64>) {
            for position in positions {
                let (stream, id) = filler(position);
                self.add(position, &stream, 1, id, "connection");
            }
        }
    }

    /// Builds the index of `events` read at open from position `first` on, followed by filler events up to
    /// `opened` events in all.
    fn build_filled(tags: ahash::RandomState, first: u64, events: &[(&str, u64, Uuid, &str)], opened: u64) -> Log {
        let fillers: Vec<(String, Uuid)> = (first + events.len() as u64..first + opened).map(filler).collect();
        let mut all = events.to_vec();
        all.extend(fillers.iter().map(|(stream, id)| (stream.as_str(), 1, *id, "connection")));
        build(tags, first, &all)
    }

    /// Events read at open in the tier tests: an eighth of them is more than two merges of the maps, so that
    /// what is appended stays in the middle tier for two of them.
    const OPENED: u64 = 17 * MIN_MERGE as u64;

    const C: &str = "activity-0190c6a2-7c4e-7a1b-9f00-00000000000c";
    const D: &str = "activity-0190c6a2-7c4e-7a1b-9f00-00000000000d";

    #[test]
    fn the_filter_passes_every_tag_in_the_tiers_as_they_outgrow_it_and_turns_away_most_others() {
        let mut log = build_filled(ahash::RandomState::with_seeds(5, 6, 7, 8), 1, &[], OPENED);
        let bits_at_open = 64 * log.index.filter.words.len();
        // Enough appends for the filter to be made again, twice its size, from the tiers and the maps' events.
        let last = OPENED + 24 * MIN_MERGE as u64;
        log.fill(OPENED + 1..last + 1);
        assert!(64 * log.index.filter.words.len() > bits_at_open, "the filter kept {bits_at_open} bits");
        for position in 1..=last {
            let (stream, id) = filler(position);
            assert!(log.index.candidates_for_id(id).contains(&position), "id at {position}");
            assert_eq!(log.version(&stream), 1, "stream at {position}");
        }
        let absent = (0..20_000u128).filter(|&n| log.index.filter.may_hold(log.index.tag(id(0x7000_0000_0000 + n).as_u128()))).count();
        assert!(absent < 7_000, "{absent} of 20 000 absent ids pass the filter");
    }

    #[test]
    fn events_in_all_three_tiers_are_found_by_id_and_stream() {
        let m = MIN_MERGE as u64;
        let seeds = ahash::RandomState::with_seeds(13, 14, 15, 16);
        let mut log = build_filled(seeds, 1, &[(A, 1, id(1), "connection"), (B, 1, id(2), "unites")], OPENED);
        // The first appends reach the middle tier in the maps' first merge, C's second in their second merge;
        // the last two stay in the maps.
        let p = OPENED + 1;
        log.add(p, A, 2, id(3), "connection");
        log.add(p + 1, C, 1, id(4), "connection");
        log.add(p + 2, B, 2, id(5), "unites");
        log.fill(p + 3..p + m);
        log.add(p + m, C, 2, id(6), "connection");
        log.fill(p + m + 1..p + 2 * m);
        let q = p + 2 * m;
        log.add(q, A, 3, id(7), "connection");
        log.add(q + 1, D, 1, id(8), "connection");
        assert_eq!(log.index.ids.len() as u64, OPENED, "nothing appended is in the big arrays");
        assert_eq!(log.index.middle_ids.len() as u64, 2 * m, "two merges of the maps are in the middle tier");
        assert_eq!(log.index.middle_activities.len() as u64, 2 * m);
        assert_eq!(log.index.new_ids.len(), 2);

        for (n, position) in [(1, 1), (2, 2), (3, p), (4, p + 1), (5, p + 2), (6, p + m), (7, q), (8, q + 1)] {
            assert!(log.index.candidates_for_id(id(n)).contains(&position), "event {n} at {position}");
        }
        for position in [3, OPENED, p + 3, p + m - 1, p + m + 1, q - 1] {
            let (stream, filler_id) = filler(position);
            assert_eq!(log.index.candidates_for_id(filler_id), vec![position], "{position}");
            assert_eq!(log.version(&stream), 1, "{stream}");
            assert_eq!(log.positions(&stream, 1, 10), vec![position], "{stream}");
        }
        assert!(log.index.candidates_for_id(id(9)).is_empty());

        // A: one event in each tier.
        assert_eq!(log.version(A), 3);
        assert_eq!(log.positions(A, 1, 10), vec![1, p, q]);
        assert_eq!(log.positions(A, 2, 10), vec![p, q]);
        assert_eq!(log.positions(A, 2, 1), vec![p]);
        assert_eq!(log.positions(A, 3, 10), vec![q]);
        assert_eq!(log.positions(A, 4, 10), Vec::<u64>::new());
        // B: the big arrays and the middle tier.
        assert_eq!(log.version(B), 2);
        assert_eq!(log.positions(B, 1, 10), vec![2, p + 2]);
        assert_eq!(log.positions(B, 2, 10), vec![p + 2]);
        assert_eq!(log.index.programme_positions("unites", 1, 10), vec![2, p + 2]);
        // C: two merges into the middle tier; its version is read from the log, as in the big arrays.
        let reads = log.reads.get();
        assert_eq!(log.version(C), 2);
        assert!(log.reads.get() > reads, "a stream in the middle tier is told by reading its candidates");
        assert_eq!(log.positions(C, 1, 10), vec![p + 1, p + m]);
        assert_eq!(log.positions(C, 2, 10), vec![p + m]);
        // D: only in the maps, known without a read.
        let reads = log.reads.get();
        assert_eq!(log.version(D), 1);
        assert_eq!(log.positions(D, 1, 10), vec![q + 1]);
        assert_eq!(log.reads.get(), reads, "a stream only in the maps is known without reading the log");
        assert_eq!(log.version("activity-0190c6a2-7c4e-7a1b-9f00-999999999999"), 0);

        // One more merge of the maps fills the middle tier past an eighth of the big arrays: all of it moves there.
        log.fill(q + 2..p + 3 * m);
        assert_eq!(log.index.ids.len() as u64, OPENED + 3 * m);
        assert!(log.index.middle_ids.len() == 0 && log.index.middle_activities.len() == 0);
        assert!(log.index.ids.entries.windows(2).all(|w| w[0] < w[1]));
        assert!(log.index.activities.entries.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(log.version(A), 3);
        assert_eq!(log.positions(A, 1, 10), vec![1, p, q]);
        assert_eq!(log.positions(C, 1, 10), vec![p + 1, p + m]);
        assert_eq!(log.positions(D, 1, 10), vec![q + 1]);
        assert!(log.index.candidates_for_id(id(8)).contains(&(q + 1)));
    }

    /// The tiers `tests/log/index_tiers.rs` counts on: a log appended from empty keeps its first 36 864
    /// events in the big arrays and the next 4 096 in the middle tier.
    #[test]
    fn a_log_appended_from_empty_fills_the_tiers_in_steps_of_min_merge() {
        let mut log = Log::default();
        log.fill(1..40_963);
        assert_eq!(log.index.ids.len(), 36_864);
        assert_eq!(log.index.middle_ids.len(), 4_096);
        assert_eq!(log.index.new_ids.len(), 2);
        assert_eq!(log.index.middle_ids.entries.iter().map(|e| e.position).min(), Some(36_865));
        assert_eq!(log.index.middle_activities.entries.iter().map(|e| e.position).max(), Some(40_960));
    }

    #[test]
    fn ids_whose_tags_collide_across_tiers_are_candidates_in_position_order() {
        let m = MIN_MERGE as u64;
        let seeds = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let (first, second) = colliding(&Index { tags: seeds.clone(), ..Index::default() }, |n| id(n).as_u128());
        let mut log = build_filled(seeds, 1, &[(A, 1, id(first), "connection")], OPENED);
        let p = OPENED + 1;
        log.add(p, B, 1, id(second), "unites");
        log.fill(p + 1..p + m);
        assert_eq!(log.index.middle_ids.len() as u64, m, "the second id is in the middle tier");
        assert_eq!(log.index.candidates_for_id(id(first)), vec![1, p]);
        assert_eq!(log.index.candidates_for_id(id(second)), vec![1, p]);
        log.add(p + m, C, 1, id(second), "unites");
        assert_eq!(log.index.candidates_for_id(id(second)), vec![1, p, p + m], "the maps' candidate comes last");
        assert_eq!(log.index.candidates_for_id(id(first)), vec![1, p]);
    }

    #[test]
    fn activity_streams_whose_tags_collide_across_tiers_are_told_apart_by_reading_the_log() {
        let m = MIN_MERGE as u64;
        let seeds = ahash::RandomState::with_seeds(5, 6, 7, 8);
        let (x, y) = colliding(&Index { tags: seeds.clone(), ..Index::default() }, |n| n << 64 | 0x7000);
        let (x, y) = (format!("activity-{}", Uuid::from_u128(x << 64 | 0x7000)), format!("activity-{}", Uuid::from_u128(y << 64 | 0x7000)));
        let mut log = build_filled(seeds, 1, &[(&x, 1, id(1), "c"), (&y, 1, id(2), "c")], OPENED);
        let p = OPENED + 1;
        log.add(p, &x, 2, id(3), "c");
        log.add(p + 1, &y, 2, id(4), "c");
        log.fill(p + 2..p + m);
        assert_eq!(log.index.middle_activities.len() as u64, m, "x's and y's second events are in the middle tier");
        assert_eq!(log.version(&x), 2);
        assert_eq!(log.version(&y), 2);
        assert_eq!(log.positions(&x, 1, 10), vec![1, p]);
        assert_eq!(log.positions(&y, 1, 10), vec![2, p + 1]);
        assert_eq!(log.positions(&y, 2, 10), vec![p + 1]);
        assert_eq!(log.positions(&x, 3, 10), Vec::<u64>::new());
        let q = p + m;
        log.add(q, &y, 3, id(5), "c");
        assert_eq!(log.version(&x), 2, "y's event in the maps is not x's");
        assert_eq!(log.version(&y), 3);
        assert_eq!(log.positions(&y, 1, 10), vec![2, p + 1, q]);
        assert_eq!(log.positions(&y, 2, 10), vec![p + 1, q]);
        assert_eq!(log.positions(&y, 3, 10), vec![q]);
        assert_eq!(log.positions(&x, 1, 10), vec![1, p]);
        log.add(q + 1, &x, 3, id(6), "c");
        assert_eq!(log.version(&x), 3);
        assert_eq!(log.positions(&x, 1, 10), vec![1, p, q + 1]);
        assert_eq!(log.positions(&x, 2, 1), vec![p]);
        assert_eq!(log.positions(&y, 1, 10), vec![2, p + 1, q]);
    }

    #[test]
    fn the_middle_tier_takes_nothing_past_u32() {
        let m = MIN_MERGE as u64;
        let max = u64::from(u32::MAX);
        // Open so that the maps' first merge into the middle tier ends three positions before u32::MAX + 1.
        let s = max + 1 - OPENED - m - 3;
        let mut log = build_filled(ahash::RandomState::new(), s, &[(A, 1, id(1), "connection")], OPENED);
        log.add(s + OPENED, A, 2, id(2), "connection");
        log.fill(s + OPENED + 1..s + OPENED + m);
        assert_eq!(log.index.middle_ids.len() as u64, m);
        let t = s + OPENED + m;
        assert_eq!(t, max - 2);
        log.add(t, A, 3, id(3), "connection");
        log.fill(t + 1..max + 2 + m);
        let last = max + 2 + m;
        log.add(last, A, 4, id(4), "connection");
        assert_eq!(log.index.middle_ids.len() as u64, m, "nothing is merged once a position is past u32");
        assert!(log.index.new_ids.len() as u64 > m);
        assert!(log.index.middle_ids.entries.iter().all(|e| u64::from(e.position) < t));
        for (n, position) in [(1, s), (2, s + OPENED), (3, t), (4, last)] {
            assert!(log.index.candidates_for_id(id(n)).contains(&position), "event {n} at {position}");
        }
        for position in [max - 1, max, max + 1, max + 2] {
            let (stream, filler_id) = filler(position);
            assert!(log.index.candidates_for_id(filler_id).contains(&position), "{position}");
            assert_eq!(log.positions(&stream, 1, 10), vec![position], "{stream}");
        }
        assert_eq!(log.version(A), 4);
        assert_eq!(log.positions(A, 1, 10), vec![s, s + OPENED, t, last]);
        assert_eq!(log.positions(A, 2, 10), vec![s + OPENED, t, last]);
        assert_eq!(log.positions(A, 4, 10), vec![last]);
    }

    #[test]
    fn a_merge_in_place_keeps_the_entries_sorted_and_fenced() {
        let tags = ahash::RandomState::with_seeds(17, 18, 19, 20);
        let entry = |p: u32| Entry { key: (tags.hash_one(p) as Tag) % 500, position: p };
        let mut sorted = Sorted::default();
        let mut model = Vec::new();
        let mut next = 1;
        // Batches of 0 to 300 entries, later positions each time, on keys that repeat.
        for batch in [0, 1, 300, 2, 33, 0, 250, 64, 31, 32] {
            let mut new: Vec<Entry<Tag>> = (next..next + batch).map(entry).collect();
            next += batch;
            new.sort_unstable();
            sorted.absorb(&new);
            model.extend(new);
            model.sort_unstable();
            assert_eq!(sorted.entries, model);
            assert_eq!(sorted.fences, model.iter().step_by(FENCE).map(|e| e.key).collect::<Vec<_>>());
            for key in 0..501 {
                let expected: Vec<Entry<Tag>> = model.iter().filter(|e| e.key == key).copied().collect();
                assert_eq!(sorted.run(&key), expected.as_slice(), "key {key}");
            }
        }
        assert_eq!(sorted.entries.capacity(), sorted.entries.len(), "the array grows by what it takes");
    }

    #[test]
    fn a_search_through_the_fences_finds_every_run_and_nothing_else() {
        // Runs of 1 to 70 entries (longer than a fence's stretch) on even keys; odd keys are absent.
        let mut entries = Vec::new();
        for k in 0..200u32 {
            for p in 0..(k * 7 % 70 + 1) {
                entries.push(Entry { key: 2 * k, position: 1000 * k + p });
            }
        }
        let sorted = Sorted::new(entries.clone());
        for k in 0..200u32 {
            let expected: Vec<Entry<Tag>> = entries.iter().filter(|e| e.key == 2 * k).copied().collect();
            assert_eq!(sorted.run(&(2 * k)), expected.as_slice(), "key {}", 2 * k);
            assert!(sorted.run(&(2 * k + 1)).is_empty(), "key {}", 2 * k + 1);
        }
        assert!(sorted.run(&u32::MAX).is_empty());
        assert!(Sorted::<Tag>::default().run(&0).is_empty());
    }

    #[test]
    fn a_programme_with_many_of_the_events_keeps_bits_and_one_with_few_a_list() {
        // Three programmes over a million positions: every 2nd, every 500th, and every 3rd of the first 30 000
        // then every 1000th (bits at first, a list once its stretch is mostly other programmes' events).
        let mut programmes: Vec<(Positions, Vec<u64>)> = (0..3).map(|_| (Positions::default(), Vec::new())).collect();
        for position in 1..=1_000_000u64 {
            let wants = [position % 2 == 0, position % 500 == 7, if position <= 30_000 { position % 3 == 1 } else { position % 1000 == 1 }];
            for ((positions, model), wanted) in programmes.iter_mut().zip(wants) {
                if wanted {
                    positions.push(position);
                    model.push(position);
                }
            }
            if position == 30_000 {
                assert!(matches!(programmes[2].0, Positions::Bits { .. }), "a third of the events is kept as bits");
            }
        }
        assert!(matches!(programmes[0].0, Positions::Bits { .. }), "half of the events is kept as bits");
        assert!(matches!(programmes[1].0, Positions::List { .. }));
        assert!(matches!(programmes[2].0, Positions::List { .. }), "back to a list once sparse");
        for (positions, model) in &programmes {
            for from in [0, 1, 2, 63, 64, 65, 129, 29_999, 30_000, 30_001, 77_777, 999_999, 1_000_000, 1_000_001] {
                let expected: Vec<u64> = model.iter().copied().filter(|&p| p >= from).take(100).collect();
                assert_eq!(positions.at_or_after(from, 100), expected, "from {from}");
            }
            assert_eq!(positions.at_or_after(0, usize::MAX), *model);
        }
    }

    #[test]
    fn positions_past_u32_are_kept_in_either_form() {
        let start = u64::from(u32::MAX) - 100;
        let mut dense = Positions::default();
        let mut sparse = Positions::default();
        for position in start..start + 1000 {
            dense.push(position);
            if position % 97 == 0 {
                sparse.push(position);
            }
        }
        assert!(matches!(dense, Positions::Bits { .. }));
        assert_eq!(dense.at_or_after(u64::from(u32::MAX) + 1, 2), vec![u64::from(u32::MAX) + 1, u64::from(u32::MAX) + 2]);
        assert_eq!(dense.at_or_after(0, usize::MAX), (start..start + 1000).collect::<Vec<_>>());
        assert_eq!(sparse.at_or_after(0, usize::MAX), (start..start + 1000).filter(|p| p % 97 == 0).collect::<Vec<_>>());
    }

    #[test]
    fn the_radix_sort_orders_by_tag_then_position() {
        let tags = ahash::RandomState::with_seeds(9, 10, 11, 12);
        // Tags from a small range too, so that many entries share one.
        for spread in [u32::MAX, 1000] {
            let mut entries: Vec<Entry<Tag>> =
                (1..=50_000u32).map(|p| Entry { key: (tags.hash_one(p) as Tag) % spread, position: p }).collect();
            let mut expected = entries.clone();
            expected.sort_unstable();
            sort_by_tag(&mut entries);
            assert_eq!(entries, expected, "tags below {spread}");
        }
    }

    #[test]
    fn an_entry_is_eight_bytes() {
        assert_eq!(std::mem::size_of::<Entry<Tag>>(), 8);
    }
}
