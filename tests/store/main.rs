//! The contract of the event log and the record store, run against every engine: the same test code over a sled
//! log in a temporary directory and over a PostgreSQL log in a database of its own (on a throwaway cluster,
//! `support/postgres.rs`), and what only the PostgreSQL engine has to show (several logs on one database, lost
//! connections, a commit whose outcome is lost, its schema, TLS).

mod conformance;
mod engines;
mod lost_commit;
mod postgres;
mod tls;
#[path = "../support/postgres.rs"]
mod pg_cluster;
