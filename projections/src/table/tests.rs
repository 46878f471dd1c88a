//! Tests of the activity table as a whole: applying events to it, following histories and kinds through
//! corrections, and rebuilding its links as a snapshot read does. The tests of one room (the records, the id
//! map, the chunked lists) sit in that room's file.

use super::chunked::CHUNK_ITEMS;
use super::*;
use crate::arena::ARENA_CHUNK;
use events::event::{ActivityCorrected, ActivityRecorded, ActivityRetracted};
use events::DomainEvent;
use serde_json::json;

fn exchange(partner: &str, cluster: Option<&str>, title: Option<String>) -> Activity {
    let mut body = json!({"kind": "staff_exchange", "occurred_on": "2021-03-04", "host": partner, "visitor": "asti",
                          "days": 2, "staff": 1});
    if let Some(cluster) = cluster {
        body["cluster"] = json!(cluster);
    }
    if let Some(title) = title {
        body["title"] = json!(title);
    }
    events::parse_activity(&body, None).expect("a valid activity")
}

fn recorded(id: Uuid, activity: Activity) -> DomainEvent {
    DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: id, activity })
}

#[test]
fn kinds_list_each_slot_under_its_current_kind_after_corrections_and_a_relink() {
    let mut table = Activities::default();
    let visit = |n: u128| {
        events::parse_activity(&json!({"kind": "cluster_visit", "occurred_on": "2021-05-01", "cluster": "cop1", "host": format!("h{n}")}), None)
            .unwrap()
    };
    let count = 3 * CHUNK_ITEMS as u128;
    for n in 0..count {
        table.apply(Uuid::from_u128(n), n as u64 + 1, recorded(Uuid::from_u128(n), exchange("torino", None, None)));
    }
    // Every fifth becomes a cluster visit, and every tenth back again.
    let mut position = count as u64;
    for (n, activity) in (0..count).step_by(5).map(|n| (n, visit(n))).chain((0..count).step_by(10).map(|n| (n, exchange("paris", None, None)))) {
        position += 1;
        let id = Uuid::from_u128(n);
        table.apply(id, position, DomainEvent::ActivityCorrected(ActivityCorrected { activity_id: id, activity, reason: "kind".into(), changes: Default::default() }));
    }
    let scanned = |table: &Activities, kind: ActivityKind| -> Vec<u32> {
        table.slots().filter(|&slot| table.revisions.get(table.latest.get(slot)).kind() == Some(kind)).collect()
    };
    for kind in [ActivityKind::StaffExchange, ActivityKind::ClusterVisit] {
        let listed: Vec<u32> = table.by_kind[&kind].iter().collect();
        assert_eq!(listed, scanned(&table, kind), "{kind:?}");
    }
    assert_eq!(table.by_kind[&ActivityKind::ClusterVisit].iter().count(), (0..count).filter(|n| n % 5 == 0 && n % 10 != 0).count());
    let live = table.by_kind.clone();
    let slots = table.revision_slots();
    assert!(table.link(table.len(), &slots));
    assert_eq!(table.by_kind, live);
}
#[test]
fn activities_at_positions_beyond_32_bits_keep_their_histories_through_a_relink() {
    let mut table = Activities::default();
    let count = CHUNK_ITEMS as u128 + 10;
    let position = |n: u128| (n as u64 + 1) * (1 << 31);
    for n in 0..count {
        table.apply(Uuid::from_u128(n % 1000), position(n), recorded(Uuid::from_u128(n % 1000), exchange("torino", None, None)));
    }
    let history = table.history(&Uuid::from_u128(7)).unwrap();
    let expected: Vec<u64> = (0..count).filter(|n| n % 1000 == 7).map(position).collect();
    assert_eq!(history.revisions().iter().map(ActivityRevision::position).collect::<Vec<_>>(), expected);
    assert_eq!(history.at(position(4007) - 1).map(|r| r.position()), Some(position(3007)));
    assert_eq!(history.version_at(position(2500)), 3);
    assert_eq!(table.position_at(position(count - 1) + 5), Some(position(count - 1)));
    assert_eq!(table.position_at(position(0) - 1), None);
    let mut relinked = table.clone();
    let slots = table.revision_slots();
    assert_eq!(slots[4007], table.ids.get(&Uuid::from_u128(7)).unwrap());
    assert!(relinked.link(table.len(), &slots));
    assert_eq!(relinked, table);
}

#[test]
fn the_arena_gives_back_every_activity_across_chunks_and_oversized_ones() {
    let mut table = Activities::default();
    let mut expected = Vec::new();
    for n in 0..3_000u128 {
        // Every 1000th has a title bigger than a chunk; the others fill chunks unevenly.
        let title = match n % 1000 {
            999 => Some("x".repeat(ARENA_CHUNK + 5)),
            k => Some("t".repeat(1 + k as usize % 300)),
        };
        let activity = exchange(&format!("partner-{}", n % 50), (n % 3 == 0).then_some("cop1"), title);
        table.apply(Uuid::from_u128(n), n as u64 + 1, recorded(Uuid::from_u128(n), activity.clone()));
        expected.push(activity);
    }
    assert!(table.arena.sizes().0 > 3);
    for (n, activity) in expected.iter().enumerate() {
        let current = table.history(&Uuid::from_u128(n as u128)).unwrap().current().unwrap();
        assert_eq!(current.activity().as_ref(), Some(activity), "activity {n}");
        assert_eq!(current.partner(), Some(&activity.partner));
        assert_eq!(current.cluster().map(Slug::as_str), activity.cluster());
    }
}

#[test]
fn partners_beyond_sixteen_bits_are_read_from_the_activity() {
    let mut table = Activities::default();
    let count = u128::from(u16::MAX) + 10;
    for n in 0..count {
        let activity = exchange(&format!("p{n}"), Some(&format!("c{n}")), None);
        table.apply(Uuid::from_u128(n), n as u64 + 1, recorded(Uuid::from_u128(n), activity));
    }
    let last = table.history(&Uuid::from_u128(count - 1)).unwrap().current().unwrap();
    assert_eq!(last.rev.partner, WIDE);
    assert_eq!(last.partner().map(Slug::as_str), Some(format!("p{}", count - 1).as_str()));
    assert_eq!(last.cluster().map(Slug::as_str), Some(format!("c{}", count - 1).as_str()));
}

#[test]
fn histories_link_revisions_and_kinds_follow_corrections() {
    let mut table = Activities::default();
    let id = Uuid::from_u128(7);
    table.apply(id, 3, recorded(id, exchange("torino", None, None)));
    let visit = events::parse_activity(
        &json!({"kind": "cluster_visit", "occurred_on": "2021-05-01", "cluster": "cop1", "host": "torino"}),
        None,
    )
    .unwrap();
    table.apply(id, 9, DomainEvent::ActivityCorrected(ActivityCorrected { activity_id: id, activity: visit, reason: "kind".into(), changes: Default::default() }));
    table.apply(id, 12, DomainEvent::ActivityRetracted(ActivityRetracted { activity_id: id, reason: "gone".into() }));
    let history = table.history(&id).unwrap();
    let positions: Vec<u64> = history.revisions().iter().map(ActivityRevision::position).collect();
    assert_eq!(positions, [3, 9, 12]);
    assert_eq!(history.at(8).unwrap().kind(), Some(ActivityKind::StaffExchange));
    assert_eq!(history.at(11).unwrap().kind(), Some(ActivityKind::ClusterVisit));
    assert_eq!(history.current().unwrap().status(), ActivityStatus::Retracted);
    assert_eq!(history.version_at(10), 2);
    assert!(history.at(2).is_none());
    assert_eq!(table.by_kind.keys().collect::<Vec<_>>(), [&ActivityKind::ClusterVisit]);
    assert_eq!(table.position_at(11), Some(9));
}
