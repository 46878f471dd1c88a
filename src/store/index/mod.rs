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
//!
//! This file holds the index's API, which `sled_log.rs` calls: [`Index`] (lookups and appends),
//! [`IndexBuilder`] (the open) and [`Candidates`]. `tiers.rs` holds the sorted arrays of 8-byte entries, their
//! fences, and the merges from the maps into the middle tier and from there into the big arrays; `filter.rs`
//! the one-bit-per-tag filter in front of both tiers; `positions.rs` the position lists of one stream and of
//! one programme that the maps hold; `tests.rs` the unit tests.

mod filter;
mod positions;
mod tiers;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use uuid::Uuid;

use filter::Filter;
use positions::{Positions, StreamPositions};
use tiers::{sort_by_tag, tag_of, tier_positions, Entry, Sorted, Tag};

/// Keys come from clients (stream and programme names), so the hasher is randomised (ahash), and it is fast.
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// Fewest appended entries worth a merge into the arrays.
const MIN_MERGE: usize = 4096;

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
