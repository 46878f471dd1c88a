//! The server's memory: its RSS read from `/proc`, once settled after a start, and under sustained appends
//! with the head of the log beside each reading.

use std::path::Path;
use std::time::{Duration, Instant};

use events::Envelope;

use crate::load::{drive, Load, Measured};
use crate::server::{head_position, Server};
use crate::store::fill;
use crate::CLIENTS;

/// The longest the server is left alone for its RSS to settle (see [`Server::settled_rss_mib`]).
pub(super) const SETTLE: Duration = Duration::from_secs(5);

/// How often RSS is read while it settles or while a load runs.
const READ_EVERY: Duration = Duration::from_millis(250);

/// A schedule of readings `every` apart, the first one due `every` from now.
async fn readings_every(every: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(every);
    interval.tick().await; // an interval's first tick is due at once
    interval
}

// Methods of the server, kept beside the memory figures they are read for rather than with its start and stop.
impl Server {
    /// VmRSS of the server process, in MiB.
    pub(super) fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/<pid>/status");
        let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024.0
    }

    /// VmRSS once it stops falling, the server left alone (start-up frees much of what it read, and jemalloc
    /// hands freed pages back to the system after a second, `.cargo/config.toml`): read every 250 ms until a
    /// second passes without it falling by more than 1 MiB, or [`SETTLE`] has passed.
    pub(super) async fn settled_rss_mib(&self) -> f64 {
        let deadline = Instant::now() + SETTLE;
        let mut readings = readings_every(READ_EVERY).await;
        let mut last = self.rss_mib();
        let mut low = last;
        let mut since = Instant::now();
        while Instant::now() < deadline && since.elapsed() < Duration::from_secs(1) {
            readings.tick().await;
            last = self.rss_mib();
            if last < low - 1.0 {
                low = last;
                since = Instant::now();
            }
        }
        last
    }
}

/// RSS while 32 clients append, read every 250 ms with the head (see [`under_appends`]).
pub(super) struct UnderAppends {
    pub(super) filled: u64,
    /// The first reading with at least the target in the store: (RSS MiB, events).
    pub(super) at_target: Option<(f64, u64)>,
    pub(super) last: (f64, u64),
    pub(super) highest: (f64, u64),
    pub(super) append: Measured,
}

/// Fills a store with `filled` events, starts the server, lets its RSS settle, then appends with [`CLIENTS`]
/// clients for `duration`, reading RSS and the head every [`READ_EVERY`] until the load ends.
pub(super) fn under_appends(runtime: &tokio::runtime::Runtime, client: &reqwest::Client, seeds: &[Envelope], filled: u64, target: u64, duration: Duration, logs: &Path) -> UnderAppends {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fill(&data, seeds, filled);
    runtime.block_on(async {
        let server = Server::start(&data, logs, client).await;
        server.settled_rss_mib().await;
        // Readings until the load ends (its clients are tasks of their own, so they run while a reading waits).
        let mut load = Box::pin(drive(&server, Load::Append, CLIENTS, duration));
        let mut every = readings_every(READ_EVERY).await;
        let mut readings = Vec::new();
        let append = loop {
            tokio::select! {
                append = &mut load => break append,
                _ = every.tick() => readings.push((server.rss_mib(), head_position(client, &server).await)),
            }
        };
        drop(load);
        server.stop();
        let highest = readings.iter().copied().fold((0.0, 0), |high, r| if r.0 > high.0 { r } else { high });
        UnderAppends {
            filled,
            at_target: readings.iter().copied().find(|&(_, head)| head >= target),
            last: readings.last().copied().unwrap_or_default(),
            highest,
            append,
        }
    })
}
