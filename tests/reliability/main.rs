//! Reliability of the real `tracker serve` binary run as a child process: SIGKILL during concurrent recording,
//! a full or read-only data directory, a second server on the same directory, tamper evidence over HTTP,
//! secrets kept out of logs and files, tokens across a crash, and nodes on the PostgreSQL engine under faults
//! (a node killed, its database sessions ended, PostgreSQL restarted).

mod crash;
#[path = "../support/postgres.rs"]
mod pg_cluster;
mod postgres;
mod server;
mod storage;
mod secrets;
mod single_writer;
mod tamper;
mod tokens;
