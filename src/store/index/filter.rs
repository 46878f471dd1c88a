//! The filter in front of both array tiers: one bit per tag, so that a lookup of an id the log does not
//! hold (nearly every lookup the writer makes) ends without a search of the arrays.

use super::tiers::Tag;

/// One bit per tag value modulo its size, set for every tag in the arrays (both tiers, ids and activity
/// streams alike): a lookup whose bit is clear skips the arrays. Nearly every lookup of the writer is of an id
/// the log does not hold (a new event's id, a new activity's stream), and most of them end here instead of in
/// two searches that each touch a cache line of an array of megabytes. Sized for at most one tag in three bits
/// (about a quarter of the bits set, so three lookups of four end here: 1 MiB at a million events), and made
/// again twice the size when the arrays outgrow it (a walk over every entry under the writer's lock: a few
/// milliseconds at a few million events, once per doubling).
#[derive(Debug, Default)]
pub(super) struct Filter {
    pub(super) words: Vec<u64>,
    tags: usize,
}

impl Filter {
    /// Fewest bits.
    const MIN_BITS: usize = 1 << 16;

    /// An empty filter with room for `tags`.
    pub(super) fn with_room(tags: usize) -> Filter {
        let bits = (3 * tags).next_power_of_two().max(Filter::MIN_BITS);
        Filter { words: vec![0; bits / 64], tags: 0 }
    }

    pub(super) fn has_room(&self, more: usize) -> bool {
        3 * (self.tags + more) <= 64 * self.words.len()
    }

    fn bit(&self, tag: Tag) -> (usize, u64) {
        let bit = tag as usize & (64 * self.words.len() - 1);
        (bit / 64, 1 << (bit % 64))
    }

    pub(super) fn insert(&mut self, tags: impl Iterator<Item = Tag>) {
        for tag in tags {
            let (word, mask) = self.bit(tag);
            self.words[word] |= mask;
            self.tags += 1;
        }
    }

    /// False only when no tag in the arrays is `tag`.
    pub(super) fn may_hold(&self, tag: Tag) -> bool {
        !self.words.is_empty() && {
            let (word, mask) = self.bit(tag);
            self.words[word] & mask != 0
        }
    }
}
