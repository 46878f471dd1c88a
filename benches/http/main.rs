//! Benchmark of the HTTP API against its PostgreSQL peer (`cargo bench --bench http`, issue 6). It starts the
//! real `tracker serve` binary on a fresh data directory and a free port, drives it with its own load generator
//! (tokio tasks, each one client with its own keep-alive connection and at most one request in flight, sending
//! request bytes prepared once and reading each whole answer), and
//! measures:
//!
//! - durable `POST /v1/programmes/connection/activities` (a staff exchange, admin token) with 1, 8, 32 and 128
//!   clients: 201 answers per second (each is on stable storage: the server answers after `fdatasync`), p50
//!   and p99 latency; then `GET /v1/programmes/connection/progress` with 32 clients;
//! - the peer `../shared/bench/pg-peer.sh` (PostgreSQL, pgbench) with 32 clients in the same run, interleaved
//!   with our own 32-client figure, and the ratio of the medians; before each of these runs, ours and the
//!   peer's, the peer's cluster is checkpointed and the page cache synced (`quiet_disk`);
//! - the same appends with the log on PostgreSQL (`postgres.rs`), on the peer's own server and interleaved in
//!   the same rounds: 32 clients through one node, and 16 through each of two nodes on one database; their
//!   ratios to the peer and to sled, and where the time goes (each node's writer batches, CPU, what the
//!   writers' database sessions wait for: `pgwhere.rs`). Before them, one uncounted warm-up run;
//! - cost growth: the same 32-client figures with 10 000 and with N activity events already in the store
//!   (filled in-process by `SledLog::import`, not over HTTP);
//! - with each filled store: start-up (spawn → `/healthz` answers; the first start rebuilds the projection, a
//!   restart restores its snapshot), the server's RSS at ready and once settled (≤ 5 s) after each start and right after the load, `tracker rebuild`
//!   events per second, bytes on disk per event against the NDJSON export;
//! - RSS under sustained appends with N events: a store filled with 80 % of N, appended to by 32 clients for
//!   the load's duration while RSS and the head are read every 250 ms; the figure is the RSS read when the store
//!   first held N events or more (then the last reading of the load and the highest, with their event counts).
//!
//! Only 201 (appends) and 200 (reads) answers count; anything else is reported. The load generator runs on the
//! same machine as the server, so they share its cores. The one table goes to stdout; nothing else is written.
//!
//! Environment: `BENCH_SECONDS` (per load run, default 10), `BENCH_HTTP_EVENTS` (N, default 1000000),
//! `BENCH_HTTP_SMALL_EVENTS` (default 10000), `BENCH_HTTP_CLIENTS` (append concurrencies, default
//! `1,8,32,128`), `BENCH_PEER_ROUNDS` (rounds of ours-then-peer at 32 clients, default 3),
//! `BENCH_PEER_SCRIPT` (default `../shared/bench/pg-peer.sh`), `BENCH_PG` (`0` skips the PostgreSQL engine's
//! runs; the cluster the peer starts is stopped at the end of the comparison if it was down before, either way).
//! `BENCH_FILL_ONLY=DIR` only writes a data
//! directory `DIR` with the seeds and `BENCH_HTTP_EVENTS` activity events, as the run measures it, and stops (a
//! store to profile by hand).
//!
//! This file reads the environment, runs the three parts in turn and prints the table. `server.rs` starts and
//! stops `tracker serve`; `load.rs` is the load generator; `peer.rs` runs the PostgreSQL peer; `store.rs` fills
//! a store without HTTP and measures a stopped one (disk, export, rebuild); `growth.rs` holds the cost-growth
//! runs; `rss.rs` the readings of the server's memory, once settled and under sustained appends; `postgres.rs`
//! and `pgwhere.rs` the runs on PostgreSQL; `report.rs` the formatting of the figures.

mod growth;
mod load;
mod peer;
mod pgwhere;
mod postgres;
mod report;
mod rss;
mod server;
mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

use growth::{alternated, grown};
use load::{drive, Load, Measured};
use peer::{peer, quiet_disk};
use postgres::{Cluster, PgRuns};
use report::{grouped, median, verdict, within_150_mb};
use rss::{under_appends, SETTLE};
use server::Server;
use store::{fill, seed_envelopes};

const TRACKER: &str = env!("CARGO_BIN_EXE_tracker");
const PROGRAMME: &str = "connection";
/// The concurrency of the peer comparison and of the cost-growth figures.
const CLIENTS: usize = 32;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.trim().replace('_', "").parse().ok()).unwrap_or(default)
}

/// Asks `check` every `every` until it gives a value; `None` once `within` has passed. The bench's one way of
/// waiting for something.
async fn until<T, F, Fut>(within: Duration, every: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        if let Some(value) = check().await {
            return Some(value);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
    }
}

fn main() {
    let duration = Duration::from_secs_f64(env_or("BENCH_SECONDS", 10.0));
    let big: u64 = env_or("BENCH_HTTP_EVENTS", 1_000_000);
    let small: u64 = env_or("BENCH_HTTP_SMALL_EVENTS", 10_000);
    let concurrencies: Vec<usize> = std::env::var("BENCH_HTTP_CLIENTS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 128]);
    let peer_rounds: usize = env_or("BENCH_PEER_ROUNDS", 3).max(1);
    let on_postgres = env_or("BENCH_PG", 1) != 0;
    let script = std::env::var_os("BENCH_PEER_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/pg-peer.sh"));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if let Some(dir) = std::env::var_os("BENCH_FILL_ONLY") {
        fill(Path::new(&dir), &seed_envelopes(&runtime), big);
        println!("filled {} with {big} activity events", Path::new(&dir).display());
        return;
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let seeds = seed_envelopes(&runtime);
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |measure: String, store: String, figure: String, target: String| rows.push([measure, store, figure, target]);

    // 1. A fresh store (the seeds only): appends at every concurrency, reads at 32, and the peer interleaved.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_store = format!("fresh ({} seed events)", seeds.len());
    let mut ours_32 = Vec::new();
    let mut peer_32 = Vec::new();
    let mut peer_failure = None;
    // Whether the peer's cluster runs now, before anything starts it.
    let cluster = Cluster::find();
    let mut pg_runs = None;
    runtime.block_on(async {
        let server = Server::start(&fresh.path().join("data"), logs.path(), &client).await;
        for &clients in &concurrencies {
            let measured = drive(&server, Load::Append, clients, duration).await;
            row(format!("durable appends (201), {clients} client{}", if clients == 1 { "" } else { "s" }), fresh_store.clone(), measured.describe(), String::new());
            if clients == CLIENTS {
                ours_32.push(measured);
            }
        }
        let progress = drive(&server, Load::Progress, CLIENTS, duration).await;
        row(
            format!("progress reads (200), {CLIENTS} clients"),
            fresh_store.clone(),
            progress.describe(),
            format!("≥ 30 000 /s — {}", verdict(progress.per_second >= 30_000.0)),
        );
        if let Some(cluster) = cluster.as_ref().filter(|_| on_postgres) {
            pg_runs = Some(PgRuns::start(cluster, &client, logs.path(), duration).await);
        }
        for round in 0..peer_rounds {
            if round > 0 || ours_32.is_empty() {
                quiet_disk();
                ours_32.push(drive(&server, Load::Append, CLIENTS, duration).await);
            }
            if let Some(Ok(pg)) = pg_runs.as_mut() {
                pg.round(&client, duration).await;
            }
            quiet_disk();
            match peer(&script, CLIENTS, duration) {
                Ok(rate) => peer_32.push(rate),
                Err(why) => {
                    peer_failure = Some(why);
                    break;
                }
            }
        }
        server.stop();
    });
    let ours = median(ours_32.iter().map(|m| m.per_second).collect());
    let ours_p99 = median(ours_32.iter().map(|m| m.p99_ms).collect());
    row(
        format!("durable appends, {CLIENTS} clients, median of {} run(s) interleaved with the peer", ours_32.len()),
        fresh_store.clone(),
        format!("{} /s; p99 {ours_p99:.2} ms", grouped(ours)),
        String::new(),
    );
    match (&peer_failure, peer_32.is_empty()) {
        (None, false) | (Some(_), false) => {
            let theirs = median(peer_32.clone());
            row(
                format!("PostgreSQL peer (pg-peer.sh, pgbench), {CLIENTS} clients, median of {}", peer_32.len()),
                "fresh table".into(),
                format!("{} /s", grouped(theirs)),
                String::new(),
            );
            row(
                format!("ratio: our durable appends / the peer's, {CLIENTS} clients"),
                String::new(),
                format!("{:.2}×", ours / theirs),
                format!("≥ 3× — {}", verdict(ours / theirs >= 3.0)),
            );
        }
        (_, true) => {
            let why = peer_failure.unwrap_or_default();
            row(format!("PostgreSQL peer, {CLIENTS} clients"), String::new(), format!("could not run: {why}"), String::new());
            row(format!("ratio to the peer, {CLIENTS} clients"), String::new(), "n/a (no peer figure)".into(), "≥ 3× — unknown".into());
        }
    }
    // 1b. The log on PostgreSQL, measured in the same rounds; then the database goes, and the cluster stops if
    // it was down before.
    let theirs = (!peer_32.is_empty()).then(|| median(peer_32.clone()));
    match pg_runs {
        Some(Ok(pg)) => {
            for [measure, store, figure, target] in pg.rows(theirs, ours) {
                row(measure, store, figure, target);
            }
            if let Err(why) = pg.finish() {
                row("dropping the PostgreSQL bench database".into(), String::new(), why, String::new());
            }
        }
        Some(Err(why)) => row("durable appends on PostgreSQL".into(), String::new(), format!("could not run: {why}"), String::new()),
        None if on_postgres => {
            row("durable appends on PostgreSQL".into(), String::new(), "could not run: no cluster in /etc/postgresql".into(), String::new())
        }
        None => {}
    }
    drop(cluster);

    // 2. Cost growth: the same figures with `small` and with `big` events already in the store.
    let small_run = grown(&runtime, &client, &seeds, small, duration, logs.path());
    let big_run = grown(&runtime, &client, &seeds, big, duration, logs.path());
    for g in [&small_run, &big_run] {
        let store = format!("{} events", grouped(g.events as f64));
        let is_big = std::ptr::eq(g, &big_run);
        // The p99 targets are judged on the alternated rounds below, which meet the machine in the same minutes.
        row(format!("durable appends (201), {CLIENTS} clients"), store.clone(), g.append.describe(), String::new());
        row(format!("progress reads (200), {CLIENTS} clients"), store.clone(), g.progress.describe(), String::new());
        row("start-up, first (projection rebuilt from the log)".into(), store.clone(), format!("{:.2} s", g.first_start_s), String::new());
        row("start-up, restart (snapshot restored)".into(), format!("{} events", grouped(g.head as f64)), format!("{:.2} s", g.restart_s), String::new());
        let mb_target = |mib: f64| if is_big { within_150_mb(mib) } else { String::new() };
        row("server RSS at ready, first start".into(), store.clone(), format!("{:.0} MiB", g.rss_started_mib), String::new());
        row(format!("server RSS settled (≤ {} s) after the first start", SETTLE.as_secs()), store.clone(), format!("{:.0} MiB", g.rss_settled_mib), mb_target(g.rss_settled_mib));
        row(
            "server RSS right after the load (appends, then reads)".into(),
            format!("{} events", grouped(g.loaded_head as f64)),
            format!("{:.0} MiB", g.rss_loaded_mib),
            mb_target(g.rss_loaded_mib),
        );
        let restarted = format!("{} events", grouped(g.head as f64));
        row("server RSS at ready, restart".into(), restarted.clone(), format!("{:.0} MiB", g.rss_restarted_mib), String::new());
        row(format!("server RSS settled (≤ {} s) after the restart", SETTLE.as_secs()), restarted, format!("{:.0} MiB", g.rss_restarted_settled_mib), String::new());
        row(
            "`tracker rebuild` (wall time of the command)".into(),
            format!("{} events", grouped(g.head as f64)),
            format!("{} events/s", grouped(g.rebuild_events_per_s)),
            String::new(),
        );
        let disk_target =
            if is_big { format!("≤ 3× export — {}", verdict(g.disk_bytes <= 3 * g.export_bytes)) } else { String::new() };
        row(
            "disk (du of the data dir) vs `tracker export` NDJSON".into(),
            format!("{} events", grouped(g.head as f64)),
            format!(
                "{:.0} vs {:.0} bytes/event ({:.2}×; {:.1} MiB vs {:.1} MiB)",
                g.disk_bytes as f64 / g.head as f64,
                g.export_bytes as f64 / g.head as f64,
                g.disk_bytes as f64 / g.export_bytes as f64,
                g.disk_bytes as f64 / 1048576.0,
                g.export_bytes as f64 / 1048576.0
            ),
            disk_target,
        );
    }

    // 2b. Cost growth, alternated: the p99 at `small` and at `big` events, from rounds that take turns.
    let rounds: usize = env_or("BENCH_FLAT_ROUNDS", 3).max(1);
    let turns = alternated(&runtime, &client, &seeds, [small, big], rounds, duration, logs.path());
    for (name, pick) in [
        (format!("durable appends (201), {CLIENTS} clients"), (|m: &(Measured, Measured)| &m.0) as fn(&(Measured, Measured)) -> &Measured),
        (format!("progress reads (200), {CLIENTS} clients"), |m: &(Measured, Measured)| &m.1),
    ] {
        let p99 = |size: usize| median(turns.iter().map(|turn| pick(&turn[size]).p99_ms).collect());
        let rate = |size: usize| median(turns.iter().map(|turn| pick(&turn[size]).per_second).collect());
        let each = |size: usize| turns.iter().map(|turn| format!("{:.2}", pick(&turn[size]).p99_ms)).collect::<Vec<_>>().join(" / ");
        let (of_small, of_big) = (p99(0), p99(1));
        row(
            format!("{name}: p99, median of {rounds} alternated rounds"),
            format!("{} vs {} events", grouped(small as f64), grouped(big as f64)),
            format!(
                "{of_small:.2} ms ({}) vs {of_big:.2} ms ({}); {} vs {} /s",
                each(0),
                each(1),
                grouped(rate(0)),
                grouped(rate(1))
            ),
            format!("p99 ≤ 1.2×: {:.2}× — {}", of_big / of_small, verdict(of_big <= 1.2 * of_small)),
        );
    }

    // 3. RSS under sustained appends, read when the store first holds `big` events.
    let under = under_appends(&runtime, &client, &seeds, big - big / 5, big, duration, logs.path());
    let filled = format!("{} events, then appends", grouped(under.filled as f64));
    row(format!("durable appends (201), {CLIENTS} clients, RSS read beside them"), filled.clone(), under.append.describe(), String::new());
    match under.at_target {
        Some((mib, head)) => row(
            format!("server RSS under appends, first reading with ≥ {} events", grouped(big as f64)),
            format!("{} events", grouped(head as f64)),
            format!("{mib:.0} MiB"),
            within_150_mb(mib),
        ),
        None => row(
            format!("server RSS under appends with ≥ {} events", grouped(big as f64)),
            filled.clone(),
            format!("not reached: the load ended at {} events", grouped(under.last.1 as f64)),
            "≤ 150 MB — unknown".into(),
        ),
    }
    row("server RSS under appends, last reading".into(), format!("{} events", grouped(under.last.1 as f64)), format!("{:.0} MiB", under.last.0), String::new());
    row("server RSS under appends, highest reading".into(), format!("{} events", grouped(under.highest.1 as f64)), format!("{:.0} MiB", under.highest.0), String::new());

    println!(
        "HTTP benchmark: {:?} per load run; load generator and server share this machine ({} CPUs)",
        duration,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| measure | store | figure | target |");
    println!("|---|---|---|---|");
    for [measure, store, figure, target] in rows {
        println!("| {measure} | {store} | {figure} | {target} |");
    }
}
