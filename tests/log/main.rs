//! Integration tests of the event log: the sled store through its trait, and the `tracker` binary's
//! verify / export / import. One test binary, one module per concern.

mod cli;
mod concurrency;
mod crash;
mod helpers;
mod house;
mod import_robustness;
mod index_tiers;
mod live;
mod projection_store;
mod properties;
mod report;
mod seeds;
mod segments;
mod tamper;
