//! The programme tracker application: the event log on sled, the HTTP API, auth, audit operations on the log and the command line.
//! The domain lives in the `events` crate and the read models in `projections`; this crate does the IO.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod exports;
pub mod http;
pub mod imports;
pub mod live;
pub mod memory;
pub mod people;
pub mod projection_store;
pub mod query;
pub mod report;
pub mod seed;
pub mod service;
pub mod store;

/// jemalloc for every binary of the application. glibc's malloc and free were about a quarter of the server's
/// instructions per append (callgrind, 32 appending clients; mimalloc, tried first, removed that cost but did not
/// give memory back). With its background thread jemalloc gives freed memory back to the system, where glibc kept the transient allocations of start-up (sled's pages read by the index
/// rebuild, the snapshot's decoding: about 360 MB at 1 M events) mapped for the life of the server.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
