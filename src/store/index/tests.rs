//! The index's unit tests: lookups by id, stream and programme over what the open read and what was
//! appended since, through all three tiers (the big arrays, the middle tier, the maps), with colliding tags,
//! past `u32` positions, and the parts on their own (the fences, the merge in place, the filter, the radix
//! sort, a programme's positions).

use super::*;
use super::tiers::FENCE;

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
