//! Where the time goes in a PostgreSQL run of the HTTP bench: readings taken before and after the run (each
//! node's writer from its `/metrics`: transactions, events, time in the commit round trip; CPU time of the
//! nodes, of every `postgres` process, named by what it is, and of the bench itself from `/proc`), and what the
//! nodes' sessions were doing, sampled from `pg_stat_activity` every 50 ms during the run (the writers waiting
//! for the head row's lock, flushing the WAL, idle while the node stages its batch; the readers' statements).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::report::median;
use crate::server::Server;

/// How often the writers' sessions are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// One gauge or counter of a `/metrics` text (unlabelled), or 0 when absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(http: &reqwest::Client, node: &Server) -> String {
    let answer = http.get(format!("{}/metrics", node.base)).send().await.expect("/metrics answers");
    answer.text().await.expect("/metrics' body")
}

/// Waits (with a deadline) until the node's progress projection has applied every event of the log: a node
/// follows the other's appends, and the last run's, after they are acknowledged.
pub(super) async fn caught_up(http: &reqwest::Client, node: &Server) {
    let applied = || async move {
        let text = metrics(http, node).await;
        (metric(&text, "tracker_projection_position") >= metric(&text, "tracker_log_head_position")).then_some(())
    };
    let caught_up = crate::until(Duration::from_secs(300), Duration::from_millis(100), applied).await;
    assert!(caught_up.is_some(), "{}'s projection did not catch up with the log within 300 s", node.base);
}

/// Clock ticks per second of `/proc`'s CPU times.
fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        let output = std::process::Command::new("getconf").arg("CLK_TCK").output();
        output.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
    })
}

/// User and system CPU seconds of a process (`/proc/PID/stat`), or 0 if it is gone.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // The fields after the command's closing parenthesis: state is the first, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / ticks_per_second()
}

/// CPU seconds of every `postgres` process, by pid (the server's backends and its background processes).
fn postgres_cpu() -> BTreeMap<String, f64> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return BTreeMap::new() };
    entries
        .filter_map(|entry| {
            let pid = entry.ok()?.file_name().to_string_lossy().into_owned();
            pid.parse::<u32>().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "postgres").then(|| (pid.clone(), cpu_seconds(&pid)))
        })
        .collect()
}

/// Each node's writer counters: transactions, events, seconds in the commit round trip; and CPU seconds.
#[derive(Clone, Copy, Default)]
struct NodeReading {
    commits: f64,
    events: f64,
    commit_seconds: f64,
    cpu: f64,
}

/// The counters read before or after a run.
pub(super) struct Reading {
    nodes: Vec<NodeReading>,
    postgres: BTreeMap<String, f64>,
    bench: f64,
}

impl Reading {
    pub(super) async fn take(http: &reqwest::Client, nodes: &[&Server]) -> Reading {
        let mut readings = Vec::new();
        for node in nodes {
            let text = metrics(http, node).await;
            readings.push(NodeReading {
                commits: metric(&text, "tracker_log_commits_total"),
                events: metric(&text, "tracker_log_events_total"),
                commit_seconds: metric(&text, "tracker_log_sync_seconds_total"),
                cpu: cpu_seconds(&node.child.id().to_string()),
            });
        }
        Reading { nodes: readings, postgres: postgres_cpu(), bench: cpu_seconds("self") }
    }
}

/// What the nodes' database sessions were doing, sample by sample, or why they could not be sampled.
pub(super) struct Waits {
    /// The writers' sessions (one per node): by what they were doing.
    writers: BTreeMap<String, u64>,
    writer_samples: u64,
    /// The nodes' other sessions (the pools' readers, the listeners) that were not idle: by statement.
    others: BTreeMap<String, u64>,
    /// How many samples were taken.
    samples: u64,
    /// What each of the server's processes is, by pid, read at the end: the nodes' sessions by their
    /// `application_name` (`tracker-writer`…), the others by their `backend_type`.
    processes: BTreeMap<String, String>,
    failure: Option<String>,
}

/// A session's statement, named after the engine's statements (`src/store/postgres/conn.rs`).
fn statement(query: &str) -> String {
    const NAMES: [(&str, &str); 14] = [
        ("FOR UPDATE", "lock the head row"),
        ("FROM streams WHERE stream = ANY", "stream versions"),
        ("WHERE event_id = ANY", "events by id"),
        ("INSERT INTO events", "insert events"),
        ("INSERT INTO streams", "upsert streams"),
        ("UPDATE log_head", "move the head"),
        ("COMMIT", "COMMIT"),
        ("BEGIN", "BEGIN"),
        ("ROLLBACK", "ROLLBACK"),
        ("FROM log_head", "read the head"),
        ("SELECT version FROM streams", "a stream's version"),
        ("FROM events WHERE position >=", "read from a position"),
        ("FROM events WHERE stream =", "read a stream"),
        ("FROM records", "records"),
    ];
    NAMES.iter().find(|(text, _)| query.contains(text)).map_or_else(|| query.chars().take(40).collect(), |(_, name)| (*name).to_owned())
}

/// A session's state, wait event and statement in words.
fn doing(state: &str, wait: Option<&str>, query: &str) -> String {
    let running = statement(query);
    match (state, wait) {
        ("active", Some(w)) if w.starts_with("Lock:") => format!("waiting for a lock ({running})"),
        ("active", Some(w @ ("IO:WALSync" | "IO:WALWrite" | "LWLock:WALWrite"))) => format!("WAL write or flush ({w}, {running})"),
        ("active", None) => format!("running on CPU ({running})"),
        ("active", Some(w)) => format!("waiting on {w} ({running})"),
        ("idle in transaction", _) => "in its transaction, waiting for the node".into(),
        ("idle", _) => "idle, waiting for the node".into(),
        (other, _) => other.to_owned(),
    }
}

impl Waits {
    /// Samples the writers' sessions of the database at `url` every 50 ms until `end`.
    pub(super) async fn sample(url: &str, end: Instant) -> Waits {
        let mut waits = Waits {
            writers: BTreeMap::new(),
            writer_samples: 0,
            others: BTreeMap::new(),
            samples: 0,
            processes: BTreeMap::new(),
            failure: None,
        };
        let client = match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                client
            }
            Err(error) => {
                waits.failure = Some(error.to_string());
                return waits;
            }
        };
        let sql = "SELECT application_name, state, wait_event_type || ':' || wait_event, query FROM pg_stat_activity \
                   WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'";
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        while Instant::now() < end {
            every.tick().await;
            match client.query(sql, &[]).await {
                Ok(rows) => {
                    waits.samples += 1;
                    for row in rows {
                        let (name, state): (Option<String>, Option<String>) = (row.get(0), row.get(1));
                        let (wait, query): (Option<String>, Option<String>) = (row.get(2), row.get(3));
                        let (state, query) = (state.as_deref().unwrap_or(""), query.as_deref().unwrap_or(""));
                        if name.as_deref() == Some("tracker-writer") {
                            *waits.writers.entry(doing(state, wait.as_deref(), query)).or_default() += 1;
                            waits.writer_samples += 1;
                        } else if state != "idle" {
                            let who = name.as_deref().unwrap_or("").trim_start_matches("tracker-");
                            *waits.others.entry(format!("{who}: {}", doing(state, wait.as_deref(), query))).or_default() += 1;
                        }
                    }
                }
                Err(error) => {
                    waits.failure = Some(error.to_string());
                    break;
                }
            }
        }
        let processes = "SELECT pid::text, CASE WHEN pid = pg_backend_pid() THEN 'the bench''s sampler' \
                         WHEN backend_type = 'client backend' THEN coalesce(nullif(application_name, ''), 'other client') \
                         ELSE backend_type END::text FROM pg_stat_activity";
        if let Ok(rows) = client.query(processes, &[]).await {
            waits.processes = rows
                .iter()
                .filter_map(|row| Some((row.try_get::<_, String>(0).ok()?, row.try_get::<_, Option<String>>(1).ok()??)))
                .collect();
        }
        waits
    }
}

/// Where the time went in one run.
pub(super) struct WhereTime {
    /// Per node: events per transaction, mean commit round trip (ms), its share of the run, CPU (cores).
    nodes: Vec<(f64, f64, f64, f64)>,
    postgres_cores: f64,
    /// PostgreSQL's CPU by what its processes are (as [`Waits::processes`] names them; "other" for the
    /// postmaster and processes that ended before the end of the run), in cores.
    postgres_by: BTreeMap<String, f64>,
    bench_cores: f64,
    waits: Waits,
}

impl WhereTime {
    pub(super) fn between(before: &Reading, after: &Reading, duration: Duration, waits: Waits) -> WhereTime {
        let seconds = duration.as_secs_f64();
        let nodes = before
            .nodes
            .iter()
            .zip(&after.nodes)
            .map(|(b, a)| {
                let commits = (a.commits - b.commits).max(1.0);
                let commit_seconds = a.commit_seconds - b.commit_seconds;
                ((a.events - b.events) / commits, commit_seconds * 1000.0 / commits, commit_seconds / seconds, (a.cpu - b.cpu) / seconds)
            })
            .collect();
        let mut postgres_by: BTreeMap<String, f64> = BTreeMap::new();
        for (pid, cpu) in &after.postgres {
            let used = cpu - before.postgres.get(pid).copied().unwrap_or(0.0);
            let what = waits.processes.get(pid).map_or("other", |what| what.trim_start_matches("tracker-"));
            *postgres_by.entry(what.to_owned()).or_default() += used / seconds;
        }
        WhereTime {
            nodes,
            postgres_cores: postgres_by.values().sum(),
            postgres_by,
            bench_cores: (after.bench - before.bench) / seconds,
            waits,
        }
    }
}

/// The rows of where the time went in `runs` (one per round, the same nodes in each): medians over the rounds.
pub(super) fn rows(label: &str, runs: &[&WhereTime]) -> Vec<[String; 4]> {
    let Some(first) = runs.first() else { return Vec::new() };
    let of = |node: usize, pick: fn(&(f64, f64, f64, f64)) -> f64| median(runs.iter().map(|r| pick(&r.nodes[node])).collect());
    let writers: Vec<String> = (0..first.nodes.len())
        .map(|node| {
            format!(
                "node {}: {:.1} events/transaction, insert-to-COMMIT round trip {:.2} ms mean ({:.0} % of the run)",
                node + 1,
                of(node, |n| n.0),
                of(node, |n| n.1),
                100.0 * of(node, |n| n.2)
            )
        })
        .collect();
    let node_cores: Vec<String> = (0..first.nodes.len()).map(|node| format!("{:.2}", of(node, |n| n.3))).collect();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    // PostgreSQL's processes by what they are: the mean over the rounds, the busiest first.
    let mut by_process: BTreeMap<&str, f64> = BTreeMap::new();
    for run in runs {
        for (what, cores) in &run.postgres_by {
            *by_process.entry(what).or_default() += cores / runs.len() as f64;
        }
    }
    let mut by_process: Vec<(&str, f64)> = by_process.into_iter().filter(|(_, cores)| *cores >= 0.005).collect();
    by_process.sort_by(|a, b| b.1.total_cmp(&a.1));
    let by_process: Vec<String> = by_process.iter().map(|(what, cores)| format!("{what} {cores:.2}")).collect();
    let cpu = format!(
        "tracker {} cores, PostgreSQL {:.2} (means by process: {}), load generator {:.2} (of {cpus})",
        node_cores.join(" + "),
        median(runs.iter().map(|r| r.postgres_cores).collect()),
        by_process.join(", "),
        median(runs.iter().map(|r| r.bench_cores).collect())
    );
    let (mut writer_counts, mut other_counts) = (BTreeMap::new(), BTreeMap::new());
    let (mut writer_samples, mut samples) = (0, 0);
    let mut failures = Vec::new();
    for run in runs {
        for (counts, into) in [(&run.waits.writers, &mut writer_counts), (&run.waits.others, &mut other_counts)] {
            for (what, n) in counts {
                *into.entry(what.as_str()).or_default() += n;
            }
        }
        writer_samples += run.waits.writer_samples;
        samples += run.waits.samples;
        failures.extend(run.waits.failure.clone());
    }
    // Each kind of activity with its share of `of`, the most frequent first, those under 1 % left out.
    let shares = |counts: BTreeMap<&str, u64>, of: u64, unit: &str| {
        let mut by_count: Vec<(&str, u64)> = counts.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1));
        let shown: Vec<String> = by_count
            .iter()
            .filter(|(_, n)| *n * 100 >= of)
            .map(|(what, n)| format!("{what} {:.0}{unit}", 100.0 * *n as f64 / of.max(1) as f64))
            .collect();
        shown.join("; ")
    };
    let mut sessions = shares(writer_counts, writer_samples, " %");
    sessions.push_str(&format!("; of {writer_samples} samples of the writers' sessions, every 50 ms"));
    let mut others = shares(other_counts, samples, " % of samples");
    others.push_str(&format!(" ({samples} samples)"));
    if let Some(failure) = failures.first() {
        sessions.push_str(&format!("; sampling failed: {failure}"));
    }
    vec![
        [format!("where the time goes, {label}: the writers' batches (medians)"), String::new(), writers.join("; "), String::new()],
        [format!("where the time goes, {label}: CPU during the run (medians)"), String::new(), cpu, String::new()],
        [format!("where the time goes, {label}: the writers' sessions (pg_stat_activity)"), String::new(), sessions, String::new()],
        [format!("where the time goes, {label}: the nodes' other sessions, when busy"), String::new(), others, String::new()],
    ]
}
