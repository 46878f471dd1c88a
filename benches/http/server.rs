//! The server under measure: a `tracker serve` process on a fresh port (on a data directory, or on a PostgreSQL
//! database), started and waited for, stopped with SIGTERM and a deadline, and asked for the head of its log.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TRACKER;

/// A running `tracker serve` with its data directory; killed if dropped without `stop`.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) base: String,
    pub(super) token: String,
    pub(super) started_in: Duration,
    log: PathBuf,
}

impl Server {
    /// Spawns the server on `data`, waits (with a deadline) for its "listening" line, and checks that
    /// `/healthz` answers 200. A thread copies the server's stderr to its log file for as long as it runs.
    pub(super) async fn start(data: &Path, logs: &Path, client: &reqwest::Client) -> Server {
        Server::start_on(data, None, logs, client).await
    }

    /// As [`Server::start`], with the log in the database `store` (`postgres://…`) when given; `data` then only
    /// holds the admin token, written by the first server on an empty database (the token is left empty for
    /// the others: they share the first one's).
    pub(super) async fn start_on(data: &Path, store: Option<&str>, logs: &Path, client: &reqwest::Client) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = logs.join(format!("server-{port}.log"));
        let start = Instant::now();
        let mut child = Command::new(TRACKER)
            .args(["serve", "--data"])
            .arg(data)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            // `TRACKER_STORE` is `--store`; given through the environment, a password in it stays out of `ps`.
            .env_remove("TRACKER_STORE")
            .envs(store.map(|url| ("TRACKER_STORE", url)))
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
        server.token = match std::fs::read_to_string(data.join("admin.token")) {
            Ok(token) => token.trim().to_owned(),
            Err(_) if store.is_some() => String::new(),
            Err(error) => panic!("reading {}/admin.token: {error}", data.display()),
        };
        server
    }

    /// SIGTERM, then wait (with a deadline) for the graceful shutdown to finish; past the deadline the server is
    /// killed and the benchmark fails.
    pub(super) fn stop(mut self) {
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

pub(super) async fn head_position(client: &reqwest::Client, server: &Server) -> u64 {
    let health: serde_json::Value =
        client.get(format!("{}/healthz", server.base)).send().await.unwrap().json().await.unwrap();
    health["position"].as_u64().unwrap()
}
