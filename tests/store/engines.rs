//! The engines the conformance tests run on, each behind the traits only, and the macro that runs every test of
//! `conformance.rs` once per engine (`sled::…` and `postgres::…`).

use std::sync::Arc;

use tracker::store::{EventLog, PgLog, PgLogOptions, RecordStore, SledLog, SledLogOptions};

/// A log and its record store, as the application sees them, and what keeps them alive.
pub(crate) struct Store {
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) records: Arc<dyn RecordStore>,
    _dir: Option<tempfile::TempDir>,
}

/// The embedded engine over a fresh temporary directory.
pub(crate) async fn sled() -> Store {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = Arc::new(SledLog::open(dir.path(), SledLogOptions::default()).expect("a fresh sled log"));
    Store { log: log.clone(), records: log, _dir: Some(dir) }
}

/// A sled log in `dir`.
pub(crate) fn sled_in(dir: &std::path::Path) -> SledLog {
    SledLog::open(dir, SledLogOptions::default()).expect("a sled log")
}

/// The PostgreSQL engine over a fresh database.
pub(crate) async fn postgres() -> Store {
    let log = Arc::new(open_postgres(&crate::pg_cluster::fresh_database().await).await);
    Store { log: log.clone(), records: log, _dir: None }
}

pub(crate) async fn open_postgres(url: &str) -> PgLog {
    PgLog::open(url, PgLogOptions::default()).await.expect("a PostgreSQL log opens")
}

/// Runs each named test of `conformance.rs` on both engines.
macro_rules! on_every_engine {
    ($($test:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::conformance::$test(&crate::engines::sled().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::conformance::$test(&crate::engines::postgres().await).await;
                }
            )*
        }
    };
}

on_every_engine!(
    appends_honour_each_expected_version_and_a_mismatch_changes_nothing,
    a_guard_on_another_stream_must_still_hold,
    appending_the_same_event_ids_again_answers_the_original_events,
    a_multi_event_append_is_all_or_nothing,
    reads_page_through_the_log_a_stream_and_a_programme,
    the_head_names_the_last_event_its_hash_and_time,
    wait_beyond_wakes_on_an_append_and_answers_at_once_when_behind,
    the_hash_chain_verifies_over_read_all,
    concurrent_appenders_with_exact_versions_lose_nothing,
    records_are_got_listed_inserted_once_put_replaced_if_unchanged_and_removed,
);
