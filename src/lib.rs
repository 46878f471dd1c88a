//! The programme tracker application: the event log on sled, the HTTP API, auth, audit operations on the log and the command line.
//! The domain lives in the `events` crate and the read models in `projections`; this crate does the IO.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod exports;
pub mod http;
pub mod live;
pub mod projection_store;
pub mod report;
pub mod seed;
pub mod service;
pub mod store;
