//! Cost growth: the same figures with a small and with a big store (start-up, loads, RSS, disk, rebuild), and
//! the p99 of both sizes from rounds that alternate between them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use events::Envelope;

use crate::load::{drive, Load, Measured};
use crate::server::{head_position, Server};
use crate::store::{disk_bytes, export_bytes, fill, rebuild_seconds};
use crate::CLIENTS;

/// The figures of one filled store.
pub(super) struct Grown {
    pub(super) events: u64,
    pub(super) append: Measured,
    pub(super) progress: Measured,
    pub(super) first_start_s: f64,
    pub(super) restart_s: f64,
    pub(super) rss_started_mib: f64,
    /// Settled after start-up, with no requests ([`Server::settled_rss_mib`]).
    pub(super) rss_settled_mib: f64,
    pub(super) rss_loaded_mib: f64,
    /// The events in the store when `rss_loaded_mib` was read.
    pub(super) loaded_head: u64,
    pub(super) rss_restarted_mib: f64,
    pub(super) rss_restarted_settled_mib: f64,
    pub(super) rebuild_events_per_s: f64,
    pub(super) disk_bytes: u64,
    pub(super) export_bytes: u64,
    pub(super) head: u64,
}

pub(super) fn grown(runtime: &tokio::runtime::Runtime, client: &reqwest::Client, seeds: &[Envelope], events: u64, duration: Duration, logs: &Path) -> Grown {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fill(&data, seeds, events);
    let (first_start_s, (rss_started_mib, rss_settled_mib), append, progress, rss_loaded_mib, loaded_head) = runtime.block_on(async {
        let server = Server::start(&data, logs, client).await;
        let rss_started = (server.rss_mib(), server.settled_rss_mib().await);
        let append = drive(&server, Load::Append, CLIENTS, duration).await;
        let progress = drive(&server, Load::Progress, CLIENTS, duration).await;
        let rss_loaded = server.rss_mib();
        let head = head_position(client, &server).await;
        let started = server.started_in.as_secs_f64();
        server.stop();
        (started, rss_started, append, progress, rss_loaded, head)
    });
    let disk = disk_bytes(&data);
    let export = export_bytes(&data);
    let rebuild_s = rebuild_seconds(&data);
    let (restart_s, (rss_restarted_mib, rss_restarted_settled_mib), head) = runtime.block_on(async {
        let server = Server::start(&data, logs, client).await;
        let rss = (server.rss_mib(), server.settled_rss_mib().await);
        let head = head_position(client, &server).await;
        let started = server.started_in.as_secs_f64();
        server.stop();
        (started, rss, head)
    });
    Grown {
        events,
        append,
        progress,
        first_start_s,
        restart_s,
        rss_started_mib,
        rss_settled_mib,
        rss_loaded_mib,
        loaded_head,
        rss_restarted_mib,
        rss_restarted_settled_mib,
        rebuild_events_per_s: head as f64 / rebuild_s,
        disk_bytes: disk,
        export_bytes: export,
        head,
    }
}

/// The p99 of appends and of reads at `small` and at `big` events, alternated: `rounds` rounds, each starting
/// both servers on a fresh copy of its store (a round of appends adds hundreds of thousands of events), so that
/// the two sizes meet the machine in the same minutes. Returns the (small, big) measurements of each round.
pub(super) fn alternated(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    seeds: &[Envelope],
    sizes: [u64; 2],
    rounds: usize,
    duration: Duration,
    logs: &Path,
) -> Vec<[(Measured, Measured); 2]> {
    let dir = tempfile::tempdir().unwrap();
    let stores = sizes.map(|events| {
        let store = dir.path().join(format!("store-{events}"));
        fill(&store, seeds, events);
        // One start, so that every copy holds the projection's snapshot and starts the same way.
        runtime.block_on(async { Server::start(&store, logs, client).await.stop() });
        store
    });
    (0..rounds)
        .map(|_| {
            stores.clone().map(|store| {
                let copy = dir.path().join("round");
                let _ = std::fs::remove_dir_all(&copy);
                let copied = Command::new("cp").arg("-a").arg(&store).arg(&copy).status().expect("cp runs");
                assert!(copied.success(), "copying {}", store.display());
                runtime.block_on(async {
                    let server = Server::start(&copy, logs, client).await;
                    server.settled_rss_mib().await;
                    let append = drive(&server, Load::Append, CLIENTS, duration).await;
                    let progress = drive(&server, Load::Progress, CLIENTS, duration).await;
                    server.stop();
                    (append, progress)
                })
            })
        })
        .collect()
}
