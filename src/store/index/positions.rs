//! The position lists the index's maps hold: one stream's positions ([`StreamPositions`], for named streams
//! and for activity streams appended since the last merge) and one programme's ([`Positions`], a list or one
//! bit per position, whichever is smaller). Both are shaped by memory, as the rest of the index.

/// Positions of one stream's events in order; the first is kept inline, the rest behind one pointer: 16
/// bytes a stream in a map, where most streams hold one or two events.
#[derive(Debug)]
pub(super) struct StreamPositions {
    first: u64,
    // Boxed on purpose: 8 bytes in every stream's entry instead of 24, for the few streams with more events.
    #[allow(clippy::box_collection)]
    rest: Option<Box<Vec<u64>>>,
}

impl StreamPositions {
    pub(super) fn new(first: u64) -> StreamPositions {
        StreamPositions { first, rest: None }
    }

    pub(super) fn push(&mut self, position: u64) {
        self.rest.get_or_insert_with(Box::default).push(position);
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.first).chain(self.rest.iter().flat_map(|rest| rest.iter().copied()))
    }

    pub(super) fn len(&self) -> u64 {
        1 + self.rest.as_ref().map_or(0, |rest| rest.len() as u64)
    }

    pub(super) fn into_positions(self) -> impl Iterator<Item = u64> {
        std::iter::once(self.first).chain(self.rest.into_iter().flat_map(|rest| *rest))
    }
}

/// Increasing positions of one programme's events. A log holds a few programmes, each with a large share of
/// its events: such a programme keeps them as one bit per position of the log from its first one (a million
/// events of two programmes: 250 KB instead of 4 MB); a programme with few events keeps a list, 4 bytes a
/// position while they fit in a `u32`. Whichever is smaller: the choice is made again when the form in use
/// grows to twice the size of the other.
#[derive(Debug)]
pub(super) enum Positions {
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
    pub(super) fn push(&mut self, position: u64) {
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

    pub(super) fn shrink(&mut self) {
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
    pub(super) fn at_or_after(&self, from: u64, limit: usize) -> Vec<u64> {
        self.iter_from(from).take(limit).collect()
    }
}
