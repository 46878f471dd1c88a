//! Activity lists: the filters by kind, partner, cluster, status and dates, and paging by id.

use events::{ActivityKind, ActivityStatus};
use projections::ActivityFilter;

use crate::{day, exchange, id, recorded, registered, retracted, Log};

#[test]
fn activity_lists_filter_by_kind_partner_cluster_status_and_dates_and_page_by_id() {
    let mut log = Log::default();
    log.push_all(
        "demo",
        &[
            registered(false),
            recorded(1, exchange("2020-03-01", "torino", Some("cop1"))),
            recorded(2, exchange("2020-04-01", "paris", None)),
            recorded(3, exchange("2021-05-01", "torino", None)),
            retracted(3),
        ],
    );
    let projection = log.projection();
    // The activities listed, as the numbers they were recorded under.
    let ids = |filter: &ActivityFilter, after: Option<u128>, limit: usize| -> Vec<u128> {
        let listed = projection.list_activities("demo", filter, after.map(id), limit);
        listed.iter().map(|(listed, _)| (1..=3).find(|&n| id(n) == *listed).expect("a recorded activity")).collect()
    };
    let all = ActivityFilter::default();
    assert_eq!(ids(&all, None, 10), [1, 2, 3]);
    assert_eq!(ids(&all, None, 2), [1, 2]);
    assert_eq!(ids(&all, Some(2), 2), [3]);
    let torino = ActivityFilter { partner: Some("torino".into()), ..Default::default() };
    assert_eq!(ids(&torino, None, 10), [1, 3]);
    let no_cluster = ActivityFilter { cluster: Some("none".into()), ..Default::default() };
    assert_eq!(ids(&no_cluster, None, 10), [2, 3]);
    let retracted = ActivityFilter { status: Some(ActivityStatus::Retracted), ..Default::default() };
    assert_eq!(ids(&retracted, None, 10), [3]);
    let in_2020 = ActivityFilter { from: Some(day("2020-03-02")), to: Some(day("2020-12-31")), ..Default::default() };
    assert_eq!(ids(&in_2020, None, 10), [2]);
    let workshops = ActivityFilter { kind: Some(ActivityKind::WorkshopHeld), ..Default::default() };
    assert!(ids(&workshops, None, 10).is_empty());
    assert!(projection.list_activities("atlantis", &all, None, 10).is_empty());
}
