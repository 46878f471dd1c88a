//! The seeds: loaded into an empty store as ordinary events by actor `seed`, read back as the same definitions,
//! and never loaded into a store that already holds events.

use events::{DomainEvent, Programme};
use tracker::seed::{load_seeds, SEEDS};
use tracker::store::EventLog;

use crate::helpers::open;

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

#[tokio::test]
async fn seeds_are_registered_in_an_empty_store_as_events_by_the_seed_actor() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let registered = load_seeds(&log, today()).await.unwrap();
    assert_eq!(registered, ["connection", "unites"]);

    for (id, (file, text)) in registered.iter().zip(SEEDS) {
        let stream = log.read_stream(&format!("programme-{id}"), 1, 10).await.unwrap();
        assert_eq!(stream.len(), 1, "{file}");
        let envelope = &stream[0];
        assert_eq!((envelope.actor.as_str(), envelope.programme.as_str()), ("seed", id.as_str()));
        let event = DomainEvent::decode(&envelope.event_type, envelope.schema, &envelope.data.to_value().unwrap()).unwrap();
        let DomainEvent::ProgrammeRegistered(registered) = event else { panic!("{file}: {}", envelope.event_type) };
        let expected = Programme::parse(&serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(registered.programme, expected, "{file}");
    }
    let connection = log.read_programme("connection", 1, 10).await.unwrap();
    assert_eq!(connection.len(), 1);
}

#[tokio::test]
async fn seeds_are_not_loaded_into_a_store_that_holds_events() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_seeds(&log, today()).await.unwrap();
    let head = log.head().await.unwrap();
    assert!(load_seeds(&log, today()).await.unwrap().is_empty());
    assert_eq!(log.head().await.unwrap(), head);
}
