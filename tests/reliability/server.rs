//! The real `tracker serve` binary as a child process: started on port 0, ready once it logs its "listening"
//! line (no sleeping), killed with SIGKILL, and its output kept whole so tests can read what it said.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// How long a start may take on a loaded 2-core machine (the index rebuild of a few thousand events is quick).
const START_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    /// The threads draining stdout and stderr; joined once the process has exited, so `output` is complete.
    readers: Vec<std::thread::JoinHandle<()>>,
    pub(crate) api: Api,
}

/// A client of one server's HTTP API; cheap to clone into concurrent tasks.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    pub(crate) addr: SocketAddr,
    client: reqwest::Client,
}

/// A server that did not come up: how it exited and what it said.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) status: ExitStatus,
    pub(crate) output: String,
}

/// The `tracker` binary with `--data dir`.
pub(crate) fn tracker(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracker"));
    command.arg("--data").arg(dir);
    command
}

impl Server {
    /// Starts `tracker serve` on `dir` and waits for it to listen; panics when it does not.
    pub(crate) fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[]).unwrap_or_else(|refused| panic!("the server did not start ({}): {}", refused.status, refused.output))
    }

    /// Starts `tracker serve` with extra environment variables; `Err` with its exit status and output when it
    /// exits instead of listening.
    pub(crate) fn start_with(dir: &Path, env: &[(&str, &str)]) -> Result<Server, Refused> {
        let mut command = tracker(dir);
        command.args(["serve", "--addr", "127.0.0.1:0"]);
        for (name, value) in env {
            command.env(name, value);
        }
        Server::spawn(command)
    }

    /// Runs `command`, which must end up running `tracker serve` with `--addr 127.0.0.1:0`.
    pub(crate) fn spawn(mut command: Command) -> Result<Server, Refused> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("starting tracker serve");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, lines) = mpsc::channel();
        // Both pipes are drained for the server's whole life, so a chatty log can never block it.
        let mut readers = Vec::new();
        for pipe in [Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let output = Arc::clone(&output);
            let lines_tx = lines_tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    output.lock().unwrap().push(line.clone());
                    let _ = lines_tx.send(line);
                }
            }));
        }
        drop(lines_tx);
        let deadline = std::time::Instant::now() + START_DEADLINE;
        loop {
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(remaining) {
                Ok(line) if line.contains("listening") => {
                    let addr = line.split("addr=").nth(1).and_then(|rest| rest.split(' ').next()).expect("the address");
                    let addr = addr.parse().unwrap_or_else(|e| panic!("'{addr}': {e}"));
                    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                    return Ok(Server { child, output, readers, api: Api { addr, client } });
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().unwrap();
                    readers.into_iter().for_each(|reader| reader.join().unwrap());
                    let output = output.lock().unwrap().join("\n");
                    return Err(Refused { status, output });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("no 'listening' line within {START_DEADLINE:?}: {}", output.lock().unwrap().join("\n"));
                }
            }
        }
    }

    /// Kills the server with SIGKILL (no graceful shutdown, no flush) and waits for it to be gone.
    pub(crate) fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the server");
        self.readers.drain(..).for_each(|reader| reader.join().unwrap());
    }

    /// Asks the server to stop (SIGTERM: graceful shutdown) and waits for it to exit.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill -TERM");
        assert!(sent.success());
        let status = self.child.wait().expect("reaping the server");
        self.readers.drain(..).for_each(|reader| reader.join().unwrap());
        status
    }

    /// True while the process runs.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().expect("asking after the server").is_none()
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub(crate) fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET with a token; status and body as JSON (panics if the server does not answer).
    pub(crate) async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).bearer_auth(token).send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST of a JSON body with a token; the transport error when the server is gone.
    pub(crate) async fn post(&self, path: &str, token: &str, body: &Value) -> Result<(u16, String, Value), reqwest::Error> {
        let response = self.client.post(self.url(path)).bearer_auth(token).json(body).send().await?;
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, content_type, body))
    }

    /// Issues a recorder token for a CONNECTION partner with the admin token.
    pub(crate) async fn recorder(&self, admin: &str, partner: &str) -> String {
        let body = json!({"name": format!("{partner}-recorder"), "role": "recorder", "programme": "connection", "partner": partner});
        let (status, _, issued) = self.post("/v1/tokens", admin, &body).await.expect("the server answers");
        assert_eq!(status, 201, "{issued}");
        issued["token"].as_str().expect("a secret").to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Asks `check` every 50 ms until it gives a value and returns it; fails naming `what` once `within` has passed.
/// How these tests wait for a condition (never a fixed pause).
pub(crate) async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticks.tick().await;
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within {within:?}");
    }
}

/// The admin token the first start wrote.
pub(crate) fn admin_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("admin.token")).expect("the admin token file").trim().to_owned()
}

/// A CONNECTION staff exchange hosted (and so recorded) by `host`, told apart from all others by `notes`.
pub(crate) fn exchange(host: &str, visitor: &str, occurred_on: &str, notes: &str) -> Value {
    json!({"kind": "staff_exchange", "occurred_on": occurred_on, "host": host, "visitor": visitor,
           "cluster": "cop1", "days": 5, "staff": 2, "notes": notes})
}

/// Every event of the log over HTTP, paging `/v1/events` from position 1 to the head.
pub(crate) async fn all_events(server: &Server, token: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut from = 1;
    loop {
        let (status, page) = server.get(&format!("/v1/events?from={from}&limit=1000"), token).await;
        assert_eq!(status, 200, "{page}");
        let batch = page["events"].as_array().expect("events").clone();
        let head = page["head"].as_u64().expect("head");
        events.extend(batch);
        from = page["next_from"].as_u64().expect("next_from");
        if from > head {
            return events;
        }
    }
}

/// The checks after every restart: the chain verifies over HTTP, `/v1/events` holds positions 1..=head without
/// a gap, and the published head is where the chain ends. Returns the events.
pub(crate) async fn assert_log_whole(server: &Server, token: &str, when: &str) -> Vec<Value> {
    let (status, verified) = server.get("/v1/audit/verify", token).await;
    assert_eq!(status, 200, "{when}: {verified}\n{}", server.output());
    assert_eq!(verified["ok"], true, "{when}: {verified}");
    let (_, head) = server.get("/v1/audit/head", token).await;
    assert_eq!(verified["head"]["position"], head["position"], "{when}");
    assert_eq!(verified["head"]["hash"], head["hash"], "{when}");
    let events = all_events(server, token).await;
    let positions: Vec<u64> = events.iter().map(|e| e["position"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=head["position"].as_u64().unwrap()).collect();
    assert_eq!(positions, expected, "{when}: positions are 1..=head without a gap");
    events
}
