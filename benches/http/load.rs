//! The load generator: clients on one thread of their own, each with one keep-alive connection sending a
//! request prepared once and reading its whole answer, and what a run of them measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::report::grouped;
use crate::server::Server;
use crate::PROGRAMME;

const ACTIVITY: &str =
    r#"{"kind":"staff_exchange","occurred_on":"2021-10-11","host":"torino","visitor":"asti","cluster":"cop1","days":5,"staff":2}"#;

#[derive(Clone, Copy)]
pub(super) enum Load {
    Append,
    Progress,
}

/// What one load run measured: good answers per second, their latency percentiles, and other answers.
pub(super) struct Measured {
    pub(super) per_second: f64,
    p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) others: u64,
}

impl Measured {
    pub(super) fn describe(&self) -> String {
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
pub(super) async fn drive(server: &Server, load: Load, clients: usize, duration: Duration) -> Measured {
    drive_nodes(&[server], load, clients, duration).await.0
}

/// As [`drive`], with `clients` tasks for each of `servers` (nodes sharing one log), all on the one thread and
/// ending together: what all of them measured together, then what each node's clients measured.
pub(super) async fn drive_nodes(servers: &[&Server], load: Load, clients: usize, duration: Duration) -> (Measured, Vec<Measured>) {
    let start = Instant::now();
    let end = start + duration;
    let good = match load {
        Load::Append => 201,
        Load::Progress => 200,
    };
    let targets: Vec<(Arc<Vec<u8>>, String)> = servers
        .iter()
        .map(|server| (Arc::new(request_bytes(server, load)), server.base.trim_start_matches("http://").to_owned()))
        .collect();
    // The clients run on one thread of their own, as `wrk -t1` does: on the two cores the server shares with
    // them, a second thread of the generator took cores from the server (32-client appends, three runs of each
    // alternated: 39 253 / 44 287 / 46 116 /s on the bench's two-thread runtime, 48 895 / 45 093 / 53 165 /s on
    // one thread).
    let per_node = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
            let tasks: Vec<Vec<_>> = targets
                .iter()
                .map(|(request, address)| {
                    (0..clients).map(|_| tokio::spawn(client(Arc::clone(request), address.clone(), good, end))).collect()
                })
                .collect();
            let mut per_node = Vec::new();
            for node in tasks {
                let (mut latencies, mut others) = (Vec::new(), 0);
                for task in node {
                    let (l, o) = task.await.unwrap();
                    latencies.extend(l);
                    others += o;
                }
                per_node.push((latencies, others));
            }
            per_node
        })
    })
    .await
    .unwrap();
    let all = per_node.iter().fold((Vec::new(), 0), |(mut latencies, others), (l, o)| {
        latencies.extend_from_slice(l);
        (latencies, others + o)
    });
    let nodes = per_node.into_iter().map(|(latencies, others)| measured(latencies, others, duration)).collect();
    (measured(all.0, all.1, duration), nodes)
}

/// The figures of a run from its good answers' latencies (µs) and the count of the others.
fn measured(mut latencies: Vec<u32>, others: u64, duration: Duration) -> Measured {
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
