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
//! `BENCH_PEER_SCRIPT` (default `../shared/bench/pg-peer.sh`). `BENCH_FILL_ONLY=DIR` only writes a data
//! directory `DIR` with the seeds and `BENCH_HTTP_EVENTS` activity events, as the run measures it, and stops (a
//! store to profile by hand).

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::event::ActivityRecorded;
use events::{ChainHash, DomainEvent, Envelope, EventData, Timestamp};
use tracker::store::{EventLog, SledLog, SledLogOptions};

const TRACKER: &str = env!("CARGO_BIN_EXE_tracker");
const PROGRAMME: &str = "connection";
const ACTIVITY: &str =
    r#"{"kind":"staff_exchange","occurred_on":"2021-10-11","host":"torino","visitor":"asti","cluster":"cop1","days":5,"staff":2}"#;
/// The concurrency of the peer comparison and of the cost-growth figures.
const CLIENTS: usize = 32;

/// The longest the server is left alone for its RSS to settle (see [`Server::settled_rss_mib`]).
const SETTLE: Duration = Duration::from_secs(5);

/// How often RSS is read while it settles or while a load runs.
const READ_EVERY: Duration = Duration::from_millis(250);

/// A schedule of readings `every` apart, the first one due `every` from now.
async fn readings_every(every: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(every);
    interval.tick().await; // an interval's first tick is due at once
    interval
}

/// The verdict on an RSS of `mib` MiB against the target of 150 MB.
fn within_150_mb(mib: f64) -> String {
    format!("≤ 150 MB — {}", verdict(mib * 1.048_576 <= 150.0))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.trim().replace('_', "").parse().ok()).unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Thousands separated by a thin space, as in BENCHMARKS.md.
fn grouped(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "not met"
    }
}

// ---------------------------------------------------------------------------------------------------------
// The server process

/// A running `tracker serve` with its data directory; killed if dropped without `stop`.
struct Server {
    child: Child,
    base: String,
    token: String,
    started_in: Duration,
    log: PathBuf,
}

impl Server {
    /// Spawns the server on `data`, waits (with a deadline) for its "listening" line, and checks that
    /// `/healthz` answers 200. A thread copies the server's stderr to its log file for as long as it runs.
    async fn start(data: &Path, logs: &Path, client: &reqwest::Client) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = logs.join(format!("server-{port}.log"));
        let start = Instant::now();
        let mut child = Command::new(TRACKER)
            .args(["serve", "--data"])
            .arg(data)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .env("TRACKER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning tracker serve");
        let (listening, ready) = tokio::sync::oneshot::channel::<bool>();
        let stderr = child.stderr.take().unwrap();
        let mut copy = std::fs::File::create(log.with_extension("err")).unwrap();
        std::thread::spawn(move || {
            use std::io::{BufRead as _, Write as _};
            let mut listening = Some(listening);
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(copy, "{line}");
                if line.contains("listening") {
                    if let Some(tx) = listening.take() {
                        let _ = tx.send(true);
                    }
                }
            }
            // The server's stderr closed: it exited (before listening, if the signal is still unsent).
            if let Some(tx) = listening.take() {
                let _ = tx.send(false);
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let mut server = Server { child, base, token: String::new(), started_in: Duration::ZERO, log };
        match tokio::time::timeout(Duration::from_secs(900), ready).await {
            Ok(Ok(true)) => {}
            Ok(_) => panic!("tracker serve exited before listening; {}", server.output_tail()),
            Err(_) => panic!("tracker serve did not listen within 900 s; {}", server.output_tail()),
        }
        let health = client.get(format!("{}/healthz", server.base)).send().await.expect("/healthz answers");
        assert_eq!(health.status(), 200, "/healthz; {}", server.output_tail());
        server.started_in = start.elapsed();
        server.token = std::fs::read_to_string(data.join("admin.token")).unwrap().trim().to_owned();
        server
    }

    /// VmRSS of the server process, in MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/<pid>/status");
        let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024.0
    }

    /// VmRSS once it stops falling, the server left alone (start-up frees much of what it read, and jemalloc
    /// hands freed pages back to the system after a second, `.cargo/config.toml`): read every 250 ms until a
    /// second passes without it falling by more than 1 MiB, or [`SETTLE`] has passed.
    async fn settled_rss_mib(&self) -> f64 {
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

    /// SIGTERM, then wait (with a deadline) for the graceful shutdown to finish; past the deadline the server is
    /// killed and the benchmark fails.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
        let (exited, waiting) = std::sync::mpsc::channel();
        let outcome = std::thread::scope(|scope| {
            let child = &mut self.child;
            scope.spawn(move || {
                let _ = exited.send(child.wait());
            });
            let outcome = waiting.recv_timeout(Duration::from_secs(300));
            if outcome.is_err() {
                // Unblocks the waiting thread, so that the scope can end.
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
            outcome
        });
        match outcome {
            Ok(status) => {
                let status = status.unwrap();
                assert!(status.success(), "tracker serve exited with {status}; {}", self.output_tail());
            }
            Err(_) => panic!("tracker serve did not stop within 300 s of SIGTERM; {}", self.output_tail()),
        }
    }

    fn output_tail(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default());
        let start = text.len().saturating_sub(2000);
        format!("its output ends: {}", &text[start..])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The load generator

#[derive(Clone, Copy)]
enum Load {
    Append,
    Progress,
}

/// What one load run measured: good answers per second, their latency percentiles, and other answers.
struct Measured {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    others: u64,
}

impl Measured {
    fn describe(&self) -> String {
        let mut text = format!("{} /s; p50 {:.2} ms, p99 {:.2} ms", grouped(self.per_second), self.p50_ms, self.p99_ms);
        if self.others > 0 {
            text.push_str(&format!("; {} other answers or errors", self.others));
        }
        text
    }
}

/// One keep-alive HTTP/1.1 connection of the load generator. It sends a request prepared once (the bytes of
/// its line, headers and body) and reads the whole answer: status line, headers, and the body its
/// `Content-Length` announces. A lean client, so that the generator takes as little as it can of the cores it
/// shares with the server; it checks what it counts (the status of a complete answer) all the same.
struct Connection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(address: &str) -> std::io::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buffer: Vec::with_capacity(8192) })
    }

    /// Sends `request` and returns the answer's status once its body has been read.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        self.stream.write_all(request).await?;
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end]).map_err(|_| invalid("answer head is not UTF-8"))?;
                let mut lines = head.split("\r\n");
                let status = lines
                    .next()
                    .and_then(|line| line.strip_prefix("HTTP/1.1 "))
                    .and_then(|rest| rest.get(..3))
                    .and_then(|code| code.parse::<u16>().ok())
                    .ok_or_else(|| invalid("no HTTP/1.1 status line"))?;
                let length = lines
                    .filter_map(|line| line.split_once(':'))
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                    .ok_or_else(|| invalid("an answer without Content-Length"))?;
                let total = end + 4 + length;
                while self.buffer.len() < total {
                    if self.stream.read_buf(&mut self.buffer).await? == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                }
                self.buffer.drain(..total);
                return Ok(status);
            }
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// The bytes of one request of `load`, the same for every request of a run: each append records a new
/// activity all the same (the server gives every one its own id).
fn request_bytes(server: &Server, load: Load) -> Vec<u8> {
    let host = server.base.trim_start_matches("http://");
    match load {
        Load::Append => format!(
            "POST /v1/programmes/{PROGRAMME}/activities HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{ACTIVITY}",
            server.token,
            ACTIVITY.len()
        ),
        Load::Progress => format!("GET /v1/programmes/{PROGRAMME}/progress HTTP/1.1\r\nhost: {host}\r\n\r\n"),
    }
    .into_bytes()
}

/// One client of [`drive`]: requests one after another on its own connection until `end`. Returns the latency
/// of each good answer (status `good`, complete before `end`) in µs, and how many others there were.
async fn client(request: Arc<Vec<u8>>, address: String, good: u16, end: Instant) -> (Vec<u32>, u64) {
    let mut latencies_us: Vec<u32> = Vec::with_capacity(1 << 14);
    let mut others = 0u64;
    let mut connection = None;
    while Instant::now() < end {
        let sent = Instant::now();
        let status = match connection.as_mut() {
            Some(open) => Connection::exchange(open, &request).await,
            None => match Connection::open(&address).await {
                Ok(open) => Connection::exchange(connection.insert(open), &request).await,
                Err(error) => Err(error),
            },
        };
        let done = Instant::now();
        if done > end {
            break;
        }
        match status {
            Ok(status) if status == good => latencies_us.push((done - sent).as_micros().min(u32::MAX as u128) as u32),
            Ok(_) => others += 1,
            Err(_) => {
                others += 1;
                connection = None;
            }
        }
    }
    (latencies_us, others)
}

/// `clients` tasks on one thread, each with its own connection sending one request after another for
/// `duration`; a request counts when its good answer (201 for appends, 200 for reads) arrived complete before
/// the end of the run. A connection that fails is counted as one other answer and opened again.
async fn drive(server: &Server, load: Load, clients: usize, duration: Duration) -> Measured {
    let start = Instant::now();
    let end = start + duration;
    let good = match load {
        Load::Append => 201,
        Load::Progress => 200,
    };
    let request = Arc::new(request_bytes(server, load));
    let address = server.base.trim_start_matches("http://").to_owned();
    // The clients run on one thread of their own, as `wrk -t1` does: on the two cores the server shares with
    // them, a second thread of the generator took cores from the server (32-client appends, three runs of each
    // alternated: 39 253 / 44 287 / 46 116 /s on the bench's two-thread runtime, 48 895 / 45 093 / 53 165 /s on
    // one thread).
    let (mut latencies, others) = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
            let tasks: Vec<_> =
                (0..clients).map(|_| tokio::spawn(client(Arc::clone(&request), address.clone(), good, end))).collect();
            let (mut latencies, mut others) = (Vec::new(), 0);
            for task in tasks {
                let (l, o) = task.await.unwrap();
                latencies.extend(l);
                others += o;
            }
            (latencies, others)
        })
    })
    .await
    .unwrap();
    latencies.sort_unstable();
    let percentile = |p: usize| {
        if latencies.is_empty() {
            f64::NAN
        } else {
            latencies[(latencies.len() * p / 100).min(latencies.len() - 1)] as f64 / 1000.0
        }
    };
    Measured {
        per_second: latencies.len() as f64 / duration.as_secs_f64(),
        p50_ms: percentile(50),
        p99_ms: percentile(99),
        others,
    }
}

// ---------------------------------------------------------------------------------------------------------
// The peer

/// Before each run of the comparison, ours or the peer's: the peer's PostgreSQL (which stays up between its
/// runs, with the rows and WAL of the last one still to write out) is checkpointed, and the kernel's dirty pages
/// are written (`sync`), so that neither side's run pays for writing out what the run before it left. Both are
/// best effort: without a running cluster the checkpoint fails and only `sync` counts.
fn quiet_disk() {
    let quiet = |program: &str, args: &[&str]| {
        let _ = Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    };
    quiet("su", &["postgres", "-c", "psql -q -c CHECKPOINT"]);
    quiet("sync", &[]);
}

/// Runs the PostgreSQL peer; its appends per second, or why it could not run.
fn peer(script: &Path, clients: usize, duration: Duration) -> Result<f64, String> {
    let seconds = duration.as_secs_f64().ceil().max(1.0) as u64;
    let output = Command::new("bash")
        .arg(script)
        .args([clients.to_string(), seconds.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let rate = stdout
        .split_whitespace()
        .find_map(|word| word.strip_prefix("appends_per_s="))
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| *n > 0.0);
    match rate {
        Some(rate) if output.status.success() => Ok(rate),
        _ => Err(format!(
            "the peer did not run ({}): {}",
            output.status,
            stderr.lines().chain(stdout.lines()).last().unwrap_or("no output").trim()
        )),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Filling a store without HTTP

/// The seed programmes' envelopes, as the server itself would write them into an empty store.
fn seed_envelopes(runtime: &tokio::runtime::Runtime) -> Vec<Envelope> {
    let dir = tempfile::tempdir().unwrap();
    let log = SledLog::open(dir.path(), SledLogOptions::default()).unwrap();
    runtime.block_on(async {
        tracker::seed::load_seeds(&log, chrono::Utc::now().date_naive()).await.unwrap();
        let envelopes = log.read_all(1, 100_000).await.unwrap();
        log.close();
        envelopes
    })
}

/// Staff exchanges of CONNECTION, each in its own activity stream, spread over partners, clusters and days.
fn activity_event(i: u64) -> (String, DomainEvent) {
    const PARTNERS: [&str; 6] = ["torino", "paris", "zagreb", "madrid", "athens", "sofia"];
    let mut body = serde_json::json!({
        "kind": "staff_exchange",
        "occurred_on": format!("2021-{:02}-{:02}", 1 + (i / 28) % 12, 1 + i % 28),
        "host": PARTNERS[(i % 6) as usize], "visitor": PARTNERS[((i + 1) % 6) as usize],
        "days": 1 + i % 10, "staff": 1 + i % 3
    });
    if i % 3 != 0 {
        body["cluster"] = serde_json::json!("cop1");
    }
    let activity = events::parse_activity(&body, None).unwrap();
    let id = uuid::Uuid::from_u128(i as u128 + 1);
    (format!("activity-{id}"), DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: id, activity }))
}

/// A data directory with the seeds and `count` activity events of CONNECTION, written by `SledLog::import`.
fn fill(dir: &Path, seeds: &[Envelope], count: u64) {
    let last = seeds.last().expect("the seeds wrote events");
    let mut previous = last.hash;
    let first_position = last.position + 1;
    let base_micros = last.recorded_at.as_micros();
    let activities = (0..count).map(move |i| {
        let (stream, event) = activity_event(i);
        let mut e = Envelope {
            position: first_position + i,
            stream,
            version: 1,
            id: uuid::Uuid::from_u128(u128::MAX - i as u128),
            event_type: event.event_type().into(),
            schema: event.schema(),
            programme: PROGRAMME.into(),
            recorded_at: Timestamp::from_micros(base_micros + i as i64),
            actor: "bench".into(),
            correlation_id: None,
            causation_id: None,
            data: EventData::from_value(&event.to_data()),
            hash: ChainHash::GENESIS,
        };
        e.hash = e.expected_hash(&previous);
        previous = e.hash;
        Ok(e)
    });
    SledLog::import(dir, seeds.iter().cloned().map(Ok).chain(activities), |_| {}).unwrap();
}

/// Bytes on disk under `dir`, as `du` counts them (allocated blocks).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() { disk_bytes(&entry.path()) } else { meta.blocks() * 512 };
    }
    total
}

/// `tracker export` of a stopped server's directory: the bytes of NDJSON it writes.
fn export_bytes(dir: &Path) -> u64 {
    let mut child = Command::new(TRACKER)
        .args(["export", "--data"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = stdout.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert!(child.wait().unwrap().success(), "tracker export failed");
    total
}

/// `tracker rebuild` of a stopped server's directory: wall time of the whole command.
fn rebuild_seconds(dir: &Path) -> f64 {
    let start = Instant::now();
    let output = Command::new(TRACKER).args(["rebuild", "--data"]).arg(dir).stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success(), "tracker rebuild failed: {}", String::from_utf8_lossy(&output.stderr));
    start.elapsed().as_secs_f64()
}

async fn head_position(client: &reqwest::Client, server: &Server) -> u64 {
    let health: serde_json::Value =
        client.get(format!("{}/healthz", server.base)).send().await.unwrap().json().await.unwrap();
    health["position"].as_u64().unwrap()
}

// ---------------------------------------------------------------------------------------------------------

/// The figures of one filled store.
struct Grown {
    events: u64,
    append: Measured,
    progress: Measured,
    first_start_s: f64,
    restart_s: f64,
    rss_started_mib: f64,
    /// Settled after start-up, with no requests ([`Server::settled_rss_mib`]).
    rss_settled_mib: f64,
    rss_loaded_mib: f64,
    /// The events in the store when `rss_loaded_mib` was read.
    loaded_head: u64,
    rss_restarted_mib: f64,
    rss_restarted_settled_mib: f64,
    rebuild_events_per_s: f64,
    disk_bytes: u64,
    export_bytes: u64,
    head: u64,
}

fn grown(runtime: &tokio::runtime::Runtime, client: &reqwest::Client, seeds: &[Envelope], events: u64, duration: Duration, logs: &Path) -> Grown {
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

/// RSS while 32 clients append, read every 250 ms with the head (see [`under_appends`]).
struct UnderAppends {
    filled: u64,
    /// The first reading with at least the target in the store: (RSS MiB, events).
    at_target: Option<(f64, u64)>,
    last: (f64, u64),
    highest: (f64, u64),
    append: Measured,
}

/// The p99 of appends and of reads at `small` and at `big` events, alternated: `rounds` rounds, each starting
/// both servers on a fresh copy of its store (a round of appends adds hundreds of thousands of events), so that
/// the two sizes meet the machine in the same minutes. Returns the (small, big) measurements of each round.
fn alternated(
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

/// Fills a store with `filled` events, starts the server, lets its RSS settle, then appends with [`CLIENTS`]
/// clients for `duration`, reading RSS and the head every [`READ_EVERY`] until the load ends.
fn under_appends(runtime: &tokio::runtime::Runtime, client: &reqwest::Client, seeds: &[Envelope], filled: u64, target: u64, duration: Duration, logs: &Path) -> UnderAppends {
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

fn main() {
    let duration = Duration::from_secs_f64(env_or("BENCH_SECONDS", 10.0));
    let big: u64 = env_or("BENCH_HTTP_EVENTS", 1_000_000);
    let small: u64 = env_or("BENCH_HTTP_SMALL_EVENTS", 10_000);
    let concurrencies: Vec<usize> = std::env::var("BENCH_HTTP_CLIENTS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 128]);
    let peer_rounds: usize = env_or("BENCH_PEER_ROUNDS", 3).max(1);
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
        for round in 0..peer_rounds {
            if round > 0 || ours_32.is_empty() {
                quiet_disk();
                ours_32.push(drive(&server, Load::Append, CLIENTS, duration).await);
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
