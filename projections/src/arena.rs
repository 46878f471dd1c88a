//! The arena of one programme's activity table (`table/`): every activity recorded or corrected, encoded
//! (`codec.rs`), appended and never changed, and kept LZ4-compressed a block at a time.
//!
//! A reference is a chunk's number above [`OFFSET_BITS`] and an offset in the chunk's bytes below. A chunk is
//! cut into blocks of about [`BLOCK`] bytes, each starting at an activity's start, so an activity is never
//! split between two blocks. A block is packed (LZ4, the unpacked size in front) once it is full; only the last
//! chunk's last block is kept as it is, while activities are added to it. Activities of one programme repeat
//! their slugs, dates and numbers, so the blocks take a fraction of the bytes (BENCHMARKS.md, issue 6); reports,
//! lists and views read an activity back by unpacking its block (about 16 KiB; one activity bigger than that
//! makes a bigger block) into a buffer of the thread, which keeps the last one unpacked (reports read activities
//! mostly in arena order, so they unpack each block about once).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use events::Activity;

use crate::codec::{error, read_activity, write_activity, Reader, Result, Slugs, Writer};

/// Bits of a reference that are the offset in a chunk.
const OFFSET_BITS: u32 = 18;

/// A chunk's bytes: a new chunk is started when an activity would not fit what is left of the last one (an
/// activity bigger than a chunk has one of its own).
pub(crate) const ARENA_CHUNK: usize = 1 << OFFSET_BITS;

/// A block is packed once it holds this many bytes.
pub(crate) const BLOCK: usize = 16 * 1024;

/// Numbers arenas for the threads' buffers of unpacked blocks.
static ARENAS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The block this thread unpacked last: its arena, chunk and block numbers, and its bytes.
    static UNPACKED: RefCell<((u64, u32, u32), Vec<u8>)> = const { RefCell::new(((0, 0, 0), Vec::new())) };
}

/// Encoded activities, appended and never changed.
#[derive(Debug)]
pub(crate) struct Arena {
    chunks: Vec<Chunk>,
    /// This arena's number, which no other arena has (a clone gets its own): a thread's unpacked block is
    /// this arena's only if the numbers agree.
    uid: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Chunk {
    /// Where each block starts in the chunk's bytes, in increasing order; the first is 0 and the last is the
    /// open block's, so there is one more start than packed blocks.
    starts: Vec<u32>,
    /// The blocks packed so far, in order.
    packed: Vec<Box<[u8]>>,
    /// The bytes of the open block: only the last chunk adds to it, and a chunk that is not the last one has
    /// it packed and empty.
    open: Vec<u8>,
    /// The chunk's bytes, unpacked.
    len: u32,
}

impl Chunk {
    fn new(open: Vec<u8>) -> Chunk {
        Chunk { starts: vec![0], packed: Vec::new(), open, len: 0 }
    }

    /// Packs the open block, if it holds anything, and opens the next one where it ended.
    fn pack_open(&mut self) {
        if self.open.is_empty() {
            return;
        }
        self.packed.push(lz4_flex::block::compress_prepend_size(&self.open).into_boxed_slice());
        self.open.clear();
        self.starts.push(self.len);
    }
}

impl Default for Arena {
    fn default() -> Arena {
        Arena { chunks: Vec::new(), uid: ARENAS.fetch_add(1, Ordering::Relaxed) }
    }
}

impl Clone for Arena {
    fn clone(&self) -> Arena {
        // Its own number: the two may pack different blocks under the same chunk and block numbers from now on.
        Arena { chunks: self.chunks.clone(), ..Arena::default() }
    }
}

impl PartialEq for Arena {
    fn eq(&self, other: &Arena) -> bool {
        self.chunks == other.chunks
    }
}

impl Eq for Arena {}

impl Arena {
    /// Encodes an activity (its slugs numbered in `slugs`) and returns where it is.
    pub(crate) fn push(&mut self, activity: &Activity, slugs: &mut Slugs) -> u32 {
        if self.chunks.last().is_none_or(|chunk| chunk.len as usize >= ARENA_CHUNK) {
            self.start_chunk();
        }
        let last = self.chunks.len() - 1;
        let chunk = &mut self.chunks[last];
        let mut w = Writer { out: std::mem::take(&mut chunk.open), slugs: std::mem::take(slugs) };
        let start = w.out.len();
        write_activity(&mut w, activity);
        let Writer { out: mut open, slugs: numbered } = w;
        *slugs = numbered;
        let size = u32::try_from(open.len() - start).expect("an activity is far below 4 GiB");
        let (number, offset) = if chunk.len as usize + size as usize > ARENA_CHUNK && chunk.len > 0 {
            // It does not fit what is left of the chunk: it starts the next one.
            let bytes = open.split_off(start);
            chunk.open = open;
            self.start_chunk();
            let chunk = self.chunks.last_mut().expect("a chunk was just started");
            chunk.open.extend_from_slice(&bytes);
            chunk.len = size;
            (self.chunks.len() - 1, 0)
        } else {
            let offset = chunk.len;
            chunk.len += size;
            chunk.open = open;
            (last, offset)
        };
        let chunk = self.chunks.last_mut().expect("the arena has a chunk");
        if chunk.open.len() >= BLOCK {
            chunk.pack_open();
        }
        u32::try_from(number)
            .ok()
            .filter(|&n| n < 1 << (32 - OFFSET_BITS))
            .map(|n| n << OFFSET_BITS | offset)
            .expect("less than 4 GiB of encoded activities in one programme")
    }

    /// Packs the last chunk's open block and starts a new chunk, which takes over the open block's buffer.
    fn start_chunk(&mut self) {
        let buffer = match self.chunks.last_mut() {
            Some(chunk) => {
                chunk.pack_open();
                std::mem::take(&mut chunk.open)
            }
            None => Vec::with_capacity(2 * BLOCK),
        };
        self.chunks.push(Chunk::new(buffer));
    }

    /// The activity at `reference`.
    pub(crate) fn read(&self, reference: u32, slugs: &Slugs) -> Activity {
        self.with_bytes(reference, |bytes| read_activity(&mut Reader { bytes, slugs: slugs.list() }))
            .expect("a revision's activity is in the arena")
            .expect("the arena reads back what it wrote")
    }

    /// Whether `reference` points into the arena (checked when a snapshot is read).
    pub(crate) fn contains(&self, reference: u32) -> bool {
        self.locate(reference).is_some()
    }

    /// The chunk `reference` points into, its number and the offset in it; `None` past the arena's bytes.
    fn locate(&self, reference: u32) -> Option<(usize, &Chunk, u32)> {
        let (number, offset) = ((reference >> OFFSET_BITS) as usize, reference & ((1 << OFFSET_BITS) - 1));
        self.chunks.get(number).filter(|chunk| offset < chunk.len).map(|chunk| (number, chunk, offset))
    }

    /// `read` of the bytes from `reference` to the end of its block; `None` when the arena has no such bytes.
    fn with_bytes<T>(&self, reference: u32, read: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let (number, chunk, offset) = self.locate(reference)?;
        let block = chunk.starts.partition_point(|&start| start <= offset) - 1;
        let within = (offset - chunk.starts[block]) as usize;
        let Some(packed) = chunk.packed.get(block) else {
            return Some(read(&chunk.open[within..]));
        };
        UNPACKED.with(|unpacked| {
            let (key, bytes) = &mut *unpacked.borrow_mut();
            let wanted = (self.uid, number as u32, block as u32);
            if *key != wanted {
                *key = (0, 0, 0);
                assert!(unpack_into(packed, bytes), "a packed block unpacks (checked when read)");
                *key = wanted;
            }
            Some(read(&bytes[within..]))
        })
    }

    /// The arena in a snapshot (`snapshot.rs`):
    /// `chunk count · (len · packed count · (start · length · bytes)* · open start · open length · bytes)*`.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.varint(self.chunks.len() as u64);
        for chunk in &self.chunks {
            w.varint(u64::from(chunk.len));
            w.varint(chunk.packed.len() as u64);
            for (start, packed) in chunk.starts.iter().zip(&chunk.packed) {
                w.varint(u64::from(*start));
                w.varint(packed.len() as u64);
                w.bytes(packed);
            }
            w.varint(u64::from(*chunk.starts.last().expect("a chunk has its open block's start")));
            w.varint(chunk.open.len() as u64);
            w.bytes(&chunk.open);
        }
    }

    /// An arena written by [`Arena::write`]. Every block is unpacked once, to check that it holds exactly the
    /// bytes up to the next block's start: a damaged snapshot is refused here, not when a report reads it.
    pub(crate) fn read_from(r: &mut Reader<'_>) -> Result<Arena> {
        let mut arena = Arena::default();
        let mut unpacked = Vec::new();
        for _ in 0..r.count()? {
            let len = r.varint()?;
            let mut blocks = Vec::new();
            for _ in 0..r.count()? {
                let start = r.varint()?;
                let size = r.count()?;
                blocks.push((start, r.take(size)?));
            }
            let open_start = r.varint()?;
            let open_len = r.count()?;
            let open = r.take(open_len)?;
            let starts: Vec<u64> = blocks.iter().map(|(start, _)| *start).chain([open_start]).collect();
            let adds_up = open_start.checked_add(open.len() as u64) == Some(len);
            if starts[0] != 0 || starts.windows(2).any(|w| w[0] >= w[1]) || !adds_up {
                return error("an arena chunk's blocks do not add up to its length");
            }
            if arena.chunks.last().is_some_and(|before: &Chunk| !before.open.is_empty()) {
                return error("an arena chunk before the last has an open block");
            }
            let len = u32::try_from(len).or_else(|_| error("an arena chunk is too long"))?;
            for ((start, packed), end) in blocks.iter().zip(&starts[1..]) {
                let claimed = lz4_flex::block::uncompressed_size(packed).ok().map(|(size, _)| size as u64);
                // LZ4 packs at most 255 bytes into one: a larger claim is damage, and is not allocated.
                if claimed != Some(end - start) || end - start > 255 * packed.len() as u64 {
                    return error("an arena block's size is not the distance to the next block");
                }
                if !unpack_into(packed, &mut unpacked) {
                    return error("an arena block does not unpack");
                }
            }
            arena.chunks.push(Chunk {
                // Each start is below `len`, which fits a u32.
                starts: starts.iter().map(|&start| start as u32).collect(),
                packed: blocks.iter().map(|(_, packed)| packed.to_vec().into_boxed_slice()).collect(),
                open: open.to_vec(),
                len,
            });
        }
        Ok(arena)
    }

    /// The chunks' and blocks' counts, and the packed and unpacked bytes (for tests and measurements).
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize, usize, usize) {
        let blocks = self.chunks.iter().map(|c| c.packed.len()).sum();
        let packed = self.chunks.iter().map(|c| c.packed.iter().map(|p| p.len()).sum::<usize>() + c.open.len()).sum();
        let unpacked = self.chunks.iter().map(|c| c.len as usize).sum();
        (self.chunks.len(), blocks, packed, unpacked)
    }
}

/// Unpacks a packed block into `out` (reusing its allocation); `false` unless it unpacks to exactly the size in
/// front of it.
fn unpack_into(packed: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok((size, body)) = lz4_flex::block::uncompressed_size(packed) else { return false };
    out.resize(size, 0);
    lz4_flex::block::decompress_into(body, out).ok() == Some(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Activities that differ from one another; every 300th is bigger than a block.
    #[allow(clippy::manual_is_multiple_of, reason = "is_multiple_of is newer than the workspace's rust-version, 1.85")]
    fn activity(n: usize) -> Activity {
        let mut body = json!({"kind": "staff_exchange", "occurred_on": format!("2021-{:02}-{:02}", 1 + n % 12, 1 + n % 28),
                              "host": format!("city-{}", n % 40), "visitor": "asti", "days": 1 + n % 9, "staff": 1 + n % 3});
        if n % 300 == 299 {
            body["title"] = json!(format!("{n}").repeat(BLOCK));
        } else if n % 7 == 0 {
            body["title"] = json!(format!("Exchange {n}"));
        }
        events::parse_activity(&body, None).expect("a valid activity")
    }

    fn filled(count: usize, first: usize) -> (Arena, Slugs, Vec<(u32, Activity)>) {
        let (mut arena, mut slugs) = (Arena::default(), Slugs::default());
        let kept = (first..first + count)
            .map(|n| {
                let activity = activity(n);
                (arena.push(&activity, &mut slugs), activity)
            })
            .collect();
        (arena, slugs, kept)
    }

    #[test]
    fn every_activity_reads_back_from_packed_blocks_in_any_order_and_on_any_thread() {
        let (arena, slugs, kept) = filled(30_000, 0);
        let (chunks, blocks, packed, unpacked) = arena.sizes();
        assert!(chunks >= 3 && blocks >= 3 * chunks, "{chunks} chunks, {blocks} blocks");
        assert!(packed * 2 < unpacked, "{packed} bytes packed of {unpacked}");
        for (reference, activity) in kept.iter().chain(kept.iter().rev()) {
            assert_eq!(&arena.read(*reference, &slugs), activity, "at {reference:#x}");
        }
        std::thread::scope(|scope| {
            for offset in 0..2 {
                let (arena, slugs, kept) = (&arena, &slugs, &kept);
                scope.spawn(move || {
                    for (reference, activity) in kept.iter().skip(offset).step_by(97) {
                        assert_eq!(&arena.read(*reference, slugs), activity, "at {reference:#x}");
                    }
                });
            }
        });
    }

    #[test]
    fn arenas_and_a_clone_that_went_its_own_way_read_their_own_blocks() {
        // Two arenas of other activities, with blocks of the same numbers, read in turns on one thread.
        let (a, a_slugs, a_kept) = filled(3_000, 0);
        let (b, b_slugs, b_kept) = filled(3_000, 1_000_000);
        assert!(a.sizes().1 >= 2 && b.sizes().1 >= 2);
        for ((ra, activity_a), (rb, activity_b)) in a_kept.iter().zip(&b_kept) {
            assert_eq!(&a.read(*ra, &a_slugs), activity_a);
            assert_eq!(&b.read(*rb, &b_slugs), activity_b);
        }
        // A clone taken while a block is open, and both given other activities until that block is packed.
        let (mut original, mut slugs, _) = filled(100, 0);
        let (mut clone, mut clone_slugs) = (original.clone(), slugs.clone());
        let mut pairs = Vec::new();
        while original.sizes().1 == 0 || clone.sizes().1 == 0 {
            let n = pairs.len();
            let (x, y) = (activity(5_000 + n), activity(9_000 + n));
            pairs.push((original.push(&x, &mut slugs), x, clone.push(&y, &mut clone_slugs), y));
        }
        for (rx, x, ry, y) in &pairs {
            assert_eq!(&original.read(*rx, &slugs), x);
            assert_eq!(&clone.read(*ry, &clone_slugs), y);
        }
    }

    fn written(arena: &Arena) -> Vec<u8> {
        let mut w = Writer::default();
        arena.write(&mut w);
        w.out
    }

    #[test]
    fn a_snapshot_of_the_arena_reads_back_equal_and_damage_to_its_blocks_is_refused() {
        let (arena, slugs, kept) = filled(2_000, 0);
        assert!(arena.sizes().1 >= 2);
        let bytes = written(&arena);
        let back = Arena::read_from(&mut Reader { bytes: &bytes, slugs: &[] }).expect("it reads back");
        assert_eq!(back, arena);
        for (reference, activity) in &kept {
            assert_eq!(&back.read(*reference, &slugs), activity);
        }
        for end in 0..bytes.len() {
            assert!(Arena::read_from(&mut Reader { bytes: &bytes[..end], slugs: &[] }).is_err(), "cut at {end}");
        }
        // Every byte changed in turn: refused, or read back to an arena with the same blocks' bounds (a literal
        // of a block changed); never a panic, never a block that unpacks to other than its length.
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5a;
            if let Ok(read) = Arena::read_from(&mut Reader { bytes: &damaged, slugs: &[] }) {
                let bounds = |arena: &Arena| arena.chunks.iter().map(|c| (c.starts.clone(), c.len)).collect::<Vec<_>>();
                assert_eq!(bounds(&read), bounds(&arena), "byte {at} changed");
            }
        }
    }

    #[test]
    fn an_open_block_anywhere_but_in_the_last_chunk_is_refused() {
        let (arena, _, _) = filled(30_000, 0);
        assert!(arena.sizes().0 >= 2);
        let mut damaged = arena.clone();
        damaged.chunks[0].open = b"x".to_vec();
        damaged.chunks[0].len += 1;
        let bytes = written(&damaged);
        let refused = Arena::read_from(&mut Reader { bytes: &bytes, slugs: &[] }).unwrap_err();
        assert!(refused.0.contains("open block"), "{refused}");
    }

    #[test]
    fn a_block_whose_size_is_not_the_distance_to_the_next_is_refused() {
        let (arena, _, _) = filled(2_000, 0);
        let mut longer = arena.clone();
        let chunk = &mut longer.chunks[0];
        let next = chunk.starts[1];
        chunk.starts[1] = next + 1;
        let bytes = written(&longer);
        let refused = Arena::read_from(&mut Reader { bytes: &bytes, slugs: &[] }).unwrap_err();
        assert!(refused.0.contains("size"), "{refused}");
    }
}
