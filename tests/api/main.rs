//! Integration tests of the HTTP API against the real server on port 0 with a fresh data directory each.

mod axe;
mod helpers;
#[path = "../support/postgres.rs"]
mod pg_cluster;

mod accounts;
mod activities;
pub(crate) mod authorization;
mod bad_input;
mod browser;
pub(crate) mod coordinate;
mod concurrency;
mod dashboard;
mod decode_robustness;
mod exports;
mod files;
mod imports;
mod iati;
mod log;
mod openapi_tools;
mod pages;
mod postgres;
mod postgres_nodes;
mod progress;
mod readme;
mod review;
mod schemathesis;
mod service;
mod tokens;
mod webdriver;
mod webdriver_people;
mod webdriver_work;
mod programmes;
