//! The PostgreSQL part of the HTTP bench: `tracker serve` with its log on the same PostgreSQL server as the peer
//! (Debian's `VER/main` cluster, as `pg-peer.sh` finds and starts it, with its settings as they are), so that the
//! two are compared on one database server. It makes a login role and a fresh database for the run, starts one node
//! on it, and in each round of the peer comparison measures durable appends at 32 clients through that node, then
//! through two nodes on the same database (a second `tracker serve`, started for the round, 16 clients each). The
//! rounds start once autovacuum has analyzed the new database's tables. Beside each run it reads where the time
//! goes (`pgwhere.rs`): each node's writer batches from `/metrics`, the CPU of the nodes, of PostgreSQL and of the
//! load generator, and what the writers' sessions were doing. Afterwards the database and the role are dropped.
//!
//! The server is given the database through `TRACKER_STORE` (the same as `--store`), so that the role's password
//! stays out of the process list; the connection is TCP to 127.0.0.1 at the cluster's port, with password (scram)
//! authentication, as the default `pg_hba.conf` allows.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::{drive_nodes, Load, Measured};
use crate::peer::quiet_disk;
use crate::pgwhere::{Reading, Waits, WhereTime};
use crate::report::{grouped, median, verdict};
use crate::server::Server;
use crate::CLIENTS;

/// The login role and the database of the run (the database is dropped and made again at each run).
const NAME: &str = "tracker_bench";

/// Debian's PostgreSQL cluster the peer runs on: `VER/main`, VER the first directory under /etc/postgresql.
pub(super) struct Cluster {
    version: String,
    /// Whether it was running before the bench touched it (if not, the bench stops it at the end).
    was_up: bool,
}

/// The cluster's line in `pg_lsclusters -h VER main`: whether it is online, and its port.
fn cluster_line(version: &str) -> Option<(bool, u16)> {
    let output = Command::new("pg_lsclusters").args(["-h", version, "main"]).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    Some((fields.get(3)? == &"online", fields.get(2)?.parse().ok()?))
}

impl Cluster {
    /// The cluster and whether it is running now; `None` without one (the peer then fails too, and says why).
    pub(super) fn find() -> Option<Cluster> {
        let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        versions.sort();
        let version = versions.into_iter().next()?;
        let (was_up, _) = cluster_line(&version)?;
        Some(Cluster { version, was_up })
    }

    /// Starts the cluster as `pg-peer.sh` does (`pg_ctlcluster VER main start`) unless it runs, waits (with a
    /// deadline) until it accepts connections, and returns its port.
    async fn start(&self) -> Result<u16, String> {
        let _ = Command::new("pg_ctlcluster")
            .args([&self.version, "main", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let ready = || async {
            let ready = Command::new("runuser").args(["-u", "postgres", "--", "pg_isready", "-q"]).status();
            ready.is_ok_and(|status| status.success()).then_some(())
        };
        if crate::until(Duration::from_secs(60), Duration::from_millis(200), ready).await.is_none() {
            return Err(format!("PostgreSQL {}/main did not accept connections within 60 s", self.version));
        }
        cluster_line(&self.version).map(|(_, port)| port).ok_or_else(|| "pg_lsclusters gave no port".to_owned())
    }

}

/// Dropped, the cluster is stopped if it was down before the bench (so the machine is left as it was found,
/// should the bench fail too).
impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.was_up {
            let _ = Command::new("pg_ctlcluster").args([&self.version, "main", "stop"]).status();
        }
    }
}

/// Runs `sql` (statements one after another, not in one transaction) as the `postgres` superuser over the
/// local socket; the SQL goes through stdin, so a password in it stays out of the process list.
fn psql(sql: &str) -> Result<(), String> {
    let mut child = Command::new("runuser")
        .args(["-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run psql: {e}"))?;
    child.stdin.take().expect("piped").write_all(sql.as_bytes()).map_err(|e| format!("writing to psql: {e}"))?;
    let output = child.wait_with_output().map_err(|e| format!("psql: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("psql failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// Waits (with a deadline) until autovacuum has analyzed the tables the writers query, `events` and `streams`,
/// as it does within about a minute of a new database filling; past the deadline the bench analyzes them. The
/// measured runs are of the state a database is in after its first minute, its statistics gathered. Says which
/// happened, and when.
async fn analyzed(url: &str) -> Result<String, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let started = Instant::now();
    let sql = "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('events', 'streams') \
               AND coalesce(last_autoanalyze, last_analyze) IS NOT NULL";
    let client = &client;
    let done = || async move {
        match client.query_one(sql, &[]).await {
            Ok(row) => (row.get::<_, i64>(0) == 2).then_some(Ok(())),
            Err(error) => Some(Err(error.to_string())),
        }
    };
    match crate::until(Duration::from_secs(180), Duration::from_millis(250), done).await {
        Some(Ok(())) => Ok(format!("autovacuum analyzed `events` and `streams` {:.0} s after it", started.elapsed().as_secs_f64())),
        Some(Err(error)) => Err(error),
        None => {
            client.batch_execute("ANALYZE events; ANALYZE streams").await.map_err(|e| e.to_string())?;
            Ok("autovacuum had not analyzed `events` and `streams` 180 s after it: the bench did".into())
        }
    }
}

/// The nodes on PostgreSQL and what their runs measured, round after round.
pub(super) struct PgRuns {
    url: String,
    one: Server,
    dirs: tempfile::TempDir,
    logs: PathBuf,
    warm_up: Option<Measured>,
    /// How the tables came to be analyzed after the warm-up (see [`analyzed`]).
    analyzed: String,
    one_node: Vec<(Measured, WhereTime)>,
    /// Both nodes together, then each node's clients.
    two_nodes: Vec<(Measured, Vec<Measured>, WhereTime)>,
}

impl PgRuns {
    /// Starts the cluster, makes the role (with a new password) and a fresh database, and starts the first
    /// node on it; then runs the warm-up (one node, 32 clients, not counted: a new database's first run is
    /// slower while its tables and indexes grow).
    pub(super) async fn start(cluster: &Cluster, client: &reqwest::Client, logs: &Path, duration: Duration) -> Result<PgRuns, String> {
        let port = cluster.start().await?;
        let password = format!("{:032x}", rand::random::<u128>());
        psql(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{NAME}') THEN CREATE ROLE {NAME}; END IF; END $$;\n\
             ALTER ROLE {NAME} LOGIN PASSWORD '{password}';\n\
             DROP DATABASE IF EXISTS {NAME} WITH (FORCE);\n\
             CREATE DATABASE {NAME} OWNER {NAME};\n"
        ))?;
        // Without TLS, as the peer's pgbench over its Unix socket: Debian's cluster offers TLS (`ssl = on`), which
        // the engine's default `sslmode=prefer` would take.
        let url = format!("postgres://{NAME}:{password}@127.0.0.1:{port}/{NAME}?sslmode=disable");
        let dirs = tempfile::tempdir().map_err(|e| e.to_string())?;
        let one = Server::start_on(&dirs.path().join("node-a"), Some(&url), logs, client).await;
        let mut runs = PgRuns {
            url,
            one,
            dirs,
            logs: logs.to_owned(),
            warm_up: None,
            analyzed: String::new(),
            one_node: Vec::new(),
            two_nodes: Vec::new(),
        };
        quiet_disk();
        let (warm_up, _, _) = runs.measure(&[&runs.one], CLIENTS, duration).await;
        runs.warm_up = Some(warm_up);
        runs.analyzed = analyzed(&runs.url).await?;
        Ok(runs)
    }

    /// Drives `nodes` (`clients` each) for `duration`, with the readings of where the time goes around it;
    /// first waits until every node's projection has caught up with the log, so no node is still busy
    /// following the run before.
    async fn measure(&self, nodes: &[&Server], clients: usize, duration: Duration) -> (Measured, Vec<Measured>, WhereTime) {
        let http = reqwest::Client::new();
        for node in nodes {
            crate::pgwhere::caught_up(&http, node).await;
        }
        let before = Reading::take(&http, nodes).await;
        let waits = Waits::sample(&self.url, Instant::now() + duration);
        let ((all, each), waits) = tokio::join!(drive_nodes(nodes, Load::Append, clients, duration), waits);
        let after = Reading::take(&http, nodes).await;
        (all, each, WhereTime::between(&before, &after, duration, waits))
    }

    /// One round: 32 clients through the first node; then a second node started on the same database and 16
    /// clients through each; the second node is stopped again. The disk is quietened before each run.
    pub(super) async fn round(&mut self, client: &reqwest::Client, duration: Duration) {
        quiet_disk();
        let (all, _, time) = self.measure(&[&self.one], CLIENTS, duration).await;
        self.one_node.push((all, time));
        let data = self.dirs.path().join(format!("node-b-{}", self.two_nodes.len()));
        let mut other = Server::start_on(&data, Some(&self.url), &self.logs, client).await;
        other.token = self.one.token.clone();
        quiet_disk();
        let (all, each, time) = self.measure(&[&self.one, &other], CLIENTS / 2, duration).await;
        self.two_nodes.push((all, each, time));
        other.stop();
    }

    /// Stops the first node and drops the database and the role.
    pub(super) fn finish(self) -> Result<(), String> {
        self.one.stop();
        psql(&format!("DROP DATABASE IF EXISTS {NAME} WITH (FORCE);\nDROP ROLE IF EXISTS {NAME};\n"))
    }

    /// The table's rows: the figures, their ratios to the peer's median (when there is one) and to sled's,
    /// and where the time went.
    pub(super) fn rows(&self, peer: Option<f64>, sled: f64) -> Vec<[String; 4]> {
        let store = "PostgreSQL (the peer's server)".to_owned();
        let mut rows = Vec::new();
        if let Some(warm_up) = &self.warm_up {
            rows.push([
                format!("PostgreSQL warm-up, one node, {CLIENTS} clients (the new database's first run; not counted)"),
                store.clone(),
                format!("{}; {}", warm_up.describe(), self.analyzed),
                String::new(),
            ]);
        }
        let rounds = self.one_node.len();
        let each = |rates: Vec<f64>| rates.iter().map(|r| grouped(*r)).collect::<Vec<_>>().join(" / ");
        let one_rates: Vec<f64> = self.one_node.iter().map(|(m, _)| m.per_second).collect();
        let two_rates: Vec<f64> = self.two_nodes.iter().map(|(m, _, _)| m.per_second).collect();
        let (one, two) = (median(one_rates.clone()), median(two_rates.clone()));
        let others = |runs: &mut dyn Iterator<Item = &Measured>| runs.map(|m| m.others).sum::<u64>();
        let one_others = others(&mut self.one_node.iter().map(|(m, _)| m));
        let two_others = others(&mut self.two_nodes.iter().map(|(m, _, _)| m));
        rows.push([
            format!("durable appends on PostgreSQL, one node, {CLIENTS} clients, median of {rounds} interleaved"),
            store.clone(),
            format!(
                "{} /s ({}); p99 {:.2} ms; {one_others} other answers or errors",
                grouped(one),
                each(one_rates),
                median(self.one_node.iter().map(|(m, _)| m.p99_ms).collect())
            ),
            String::new(),
        ]);
        let per_node: Vec<String> = self
            .two_nodes
            .iter()
            .map(|(_, nodes, _)| nodes.iter().map(|m| grouped(m.per_second)).collect::<Vec<_>>().join(" + "))
            .collect();
        rows.push([
            format!("durable appends on PostgreSQL, two nodes × {} clients, together, median of {rounds}", CLIENTS / 2),
            store.clone(),
            format!(
                "{} /s ({}; by node {}); p99 {:.2} ms; {two_others} other answers or errors",
                grouped(two),
                each(two_rates),
                per_node.join(" / "),
                median(self.two_nodes.iter().map(|(m, _, _)| m.p99_ms).collect())
            ),
            String::new(),
        ]);
        match peer {
            Some(peer) => {
                rows.push([
                    format!("ratio: PostgreSQL one node / the peer, {CLIENTS} clients"),
                    String::new(),
                    format!("{:.2}×", one / peer),
                    format!("≥ 1.5× — {}", verdict(one / peer >= 1.5)),
                ]);
                rows.push(["ratio: PostgreSQL two nodes / the peer".into(), String::new(), format!("{:.2}×", two / peer), String::new()]);
            }
            None => rows.push(["ratio of PostgreSQL to the peer".into(), String::new(), "n/a (no peer figure)".into(), "≥ 1.5× — unknown".into()]),
        }
        rows.push([
            "ratio: PostgreSQL one node / sled, two nodes / sled".into(),
            String::new(),
            format!("{:.2}× / {:.2}×", one / sled, two / sled),
            String::new(),
        ]);
        let one_times: Vec<&WhereTime> = self.one_node.iter().map(|(_, t)| t).collect();
        let two_times: Vec<&WhereTime> = self.two_nodes.iter().map(|(_, _, t)| t).collect();
        rows.extend(crate::pgwhere::rows("one node", &one_times));
        rows.extend(crate::pgwhere::rows("two nodes", &two_times));
        rows
    }
}
