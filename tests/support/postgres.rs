//! A throwaway PostgreSQL 15 cluster for the tests of one test binary, shared by its tests, each of which gets a
//! database of its own (`fresh_database`), copied from a template whose schema the log already made.
//!
//! The cluster is made on first use: `initdb` into a new directory under the system's temporary directory, then
//! `postgres` on a free port of 127.0.0.1 with `fsync=on` (durability is what the log's tests are about), its
//! Unix socket in the same directory; ready once a connection succeeds (asked again until a deadline, `until`). Run as root,
//! both run as the `postgres` user (they refuse root): the directory is handed to it and the processes are
//! started with its uid and gid.
//!
//! Nothing is left running: beside the server runs a small watchdog shell that reads its standard input, a pipe
//! from this process that nothing writes to while the server runs. The pipe closes when this process ends —
//! however it ends: returning from `main`, a panic, a signal — and the watchdog then stops the server
//! (`SIGQUIT`, immediate shutdown), waits for it to exit and removes the directory. Both run in process groups
//! of their own, so that a signal to this process's group leaves that work to the watchdog. (A server that
//! failed to start is waited for here, and its watchdog told to stand down with the word `spare`.)
//!
//! A test that must stop and start PostgreSQL itself gets a cluster of its own, made the same way
//! (`OwnCluster`): stopped with `SIGINT` (fast shutdown, as an operator's restart) and started again on the same
//! port, or serving TLS with a certificate the test made; removed when dropped.
//!
//! The binaries are found in `$TRACKER_PG_BIN`, `/usr/lib/postgresql/15/bin` (Debian's `postgresql-15`) or where
//! `pg_config --bindir` says.

// Each test binary that includes this file uses a part of it.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The running cluster of this test binary.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) port: u16,
    /// Its standard input is never written to: the watchdog stops the server when it closes, i.e. when this
    /// process ends.
    _watchdog: Child,
    _server: Child,
}

const TEMPLATE: &str = "tracker_template";
/// How long the server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The cluster, started on first use.
pub(crate) fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        // Its own thread and runtime: the caller may be inside a runtime of either flavour.
        std::thread::spawn(start).join().unwrap_or_else(|_| panic!("starting the PostgreSQL test cluster failed (see above)"))
    })
}

/// The connection string of database `name` of the cluster.
pub(crate) fn url(name: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster().port)
}

/// A new database for one test, with the log's schema already made (a copy of the template).
pub(crate) async fn fresh_database() -> String {
    create_database(TEMPLATE).await
}

/// A new database without any table (a copy of `template0`), for tests of the schema's creation.
pub(crate) async fn empty_database() -> String {
    create_database("template0").await
}

async fn create_database(template: &str) -> String {
    let name = format!("test_{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
    let client = admin().await;
    client.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await.expect("CREATE DATABASE");
    url(&name)
}

/// A connection to the cluster's `postgres` database as its superuser.
pub(crate) async fn admin() -> tokio_postgres::Client {
    superuser(&url("postgres")).await
}

/// A connection as the superuser to the database at `url`; its driver runs on the caller's runtime.
pub(crate) async fn superuser(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connecting as the superuser");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn start() -> Cluster {
    let (root, data) = init();
    for _ in 0..3 {
        let port = free_port();
        if let Some((server, watchdog)) = run(&root, &data, port, &[]) {
            make_template(port);
            return Cluster { port, _watchdog: watchdog, _server: server };
        }
        // Most likely the port was taken in the meantime: try another.
    }
    panic!("the PostgreSQL test cluster did not start; its log:\n{}", server_log(&root));
}

/// A new cluster's directory (handed to the `postgres` user) and its data directory, made by `initdb`.
fn init() -> (PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!("tracker-pg-{}-{}", std::process::id(), unique()));
    std::fs::create_dir(&root).expect("a directory for the test cluster");
    let owner = owner();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&root, Some(uid), Some(gid)).expect("handing the cluster's directory to postgres");
    }
    let data = root.join("data");
    let initdb = as_owner(Command::new(binaries().join("initdb")), owner, &root)
        .args(["-D", path(&data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        .output()
        .expect("running initdb");
    if !initdb.status.success() {
        let _ = std::fs::remove_dir_all(&root);
        panic!("initdb failed: {}{}", String::from_utf8_lossy(&initdb.stdout), String::from_utf8_lossy(&initdb.stderr));
    }
    (root, data)
}

/// Starts the server of the cluster in `root` on `port`, with `settings` beyond the usual ones, and its
/// watchdog; `None` (the server stopped, the directory kept) when it does not accept connections.
fn run(root: &Path, data: &Path, port: u16, settings: &[String]) -> Option<(Child, Child)> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(root.join("server.log")).expect("the server's log file");
    let mut server = as_owner(Command::new(binaries().join("postgres")), owner(), root);
    // Its own process group, as the watchdog's: a signal to this process's group (a `timeout`, a Ctrl-C)
    // ends this process, and the watchdog, left running, then stops the server and cleans up.
    std::os::unix::process::CommandExt::process_group(&mut server, 0);
    let mut server = server
        .args(["-D", path(data), "-p", &port.to_string(), "-k", path(root)])
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "max_connections=300"])
        .args(["-c", "shared_buffers=32MB", "-c", "log_min_messages=warning"])
        .args(settings.iter().flat_map(|setting| ["-c", setting.as_str()]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting postgres");
    let mut watchdog = watch(server.id(), root);
    if ready(&mut server, port) {
        return Some((server, watchdog));
    }
    let _ = server.kill();
    let _ = server.wait();
    spare(&mut watchdog);
    None
}

/// Tells a watchdog that its server was stopped here: it leaves the directory and exits.
fn spare(watchdog: &mut Child) {
    if let Some(mut stdin) = watchdog.stdin.take() {
        let _ = writeln!(stdin, "spare");
    }
    let _ = watchdog.wait();
}

fn server_log(root: &Path) -> String {
    let mut log = String::new();
    let _ = std::fs::File::open(root.join("server.log")).and_then(|mut f| f.read_to_string(&mut log));
    log
}

/// A cluster of one test's own, which the test may stop and start again (the shared one must stay up for the
/// other tests); its server is stopped and its directory removed when it is dropped, or when this process ends.
#[derive(Debug)]
pub(crate) struct OwnCluster {
    pub(crate) port: u16,
    root: PathBuf,
    data: PathBuf,
    settings: Vec<String>,
    /// The server and its watchdog, while it runs.
    running: Option<(Child, Child)>,
}

impl OwnCluster {
    pub(crate) fn start() -> OwnCluster {
        OwnCluster::start_with(&[], Vec::new())
    }

    /// A cluster that serves TLS (as well as plain connections) with this certificate and key, in PEM.
    pub(crate) fn start_with_tls(certificate: &str, key: &str) -> OwnCluster {
        let files = [("server.crt", certificate), ("server.key", key)];
        let settings = vec!["ssl=on".into(), "ssl_cert_file=server.crt".into(), "ssl_key_file=server.key".into()];
        OwnCluster::start_with(&files, settings)
    }

    /// A cluster with `files` written into its data directory (the server's own, readable by it alone) and
    /// `settings` beyond the usual ones.
    fn start_with(files: &[(&str, &str)], settings: Vec<String>) -> OwnCluster {
        let (root, data) = init();
        for (name, contents) in files {
            use std::os::unix::fs::PermissionsExt as _;
            let path = data.join(name);
            std::fs::write(&path, contents).expect("a file for the server");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("the file's mode");
            if let Some((uid, gid)) = owner() {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("handing the file to postgres");
            }
        }
        for _ in 0..3 {
            let port = free_port();
            if let Some(running) = run(&root, &data, port, &settings) {
                return OwnCluster { port, root, data, settings, running: Some(running) };
            }
        }
        panic!("a PostgreSQL cluster of the test's own did not start; its log:\n{}", server_log(&root));
    }

    /// The directory of the server's Unix socket.
    pub(crate) fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// The connection string of database `name`.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server as an operator's restart does (`SIGINT`: fast shutdown, every session ended) and waits
    /// for it to exit.
    pub(crate) fn stop(&mut self) {
        let (mut server, mut watchdog) = self.running.take().expect("the cluster runs");
        spare(&mut watchdog);
        let sent = Command::new("kill").args(["-INT", &server.id().to_string()]).status().expect("kill -INT");
        assert!(sent.success(), "signalling postgres");
        server.wait().expect("waiting for postgres to stop");
    }

    /// Starts the stopped server again on the same port.
    pub(crate) fn start_again(&mut self) {
        assert!(self.running.is_none(), "the cluster is stopped");
        let running = run(&self.root, &self.data, self.port, &self.settings);
        self.running = Some(running.unwrap_or_else(|| panic!("postgres did not start again; its log:\n{}", server_log(&self.root))));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        match self.running.take() {
            // The watchdog stops the server and removes the directory once its input closes.
            Some((_server, mut watchdog)) => {
                drop(watchdog.stdin.take());
                let _ = watchdog.wait();
            }
            None => {
                let _ = std::fs::remove_dir_all(&self.root);
            }
        }
    }
}

fn binaries() -> PathBuf {
    let from_env = std::env::var_os("TRACKER_PG_BIN").map(PathBuf::from);
    let debian = Some(PathBuf::from("/usr/lib/postgresql/15/bin"));
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    [from_env, debian, pg_config]
        .into_iter()
        .flatten()
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .expect("PostgreSQL's initdb and postgres are needed (Debian: postgresql-15), or set TRACKER_PG_BIN")
}

/// The `postgres` user's uid and gid when this process runs as root (whom initdb and postgres refuse).
fn owner() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt as _;
    if std::fs::metadata("/proc/self").ok()?.uid() != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
    let line = passwd.lines().find(|line| line.starts_with("postgres:")).expect("a postgres user to run the cluster as");
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields[2].parse().expect("a uid"), fields[3].parse().expect("a gid")))
}

fn as_owner(mut command: Command, owner: Option<(u32, u32)>, dir: &Path) -> Command {
    use std::os::unix::process::CommandExt as _;
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command.current_dir(dir);
    command
}

/// The watchdog of the server `pid` (see the module's comment), its standard input a pipe from this process.
fn watch(pid: u32, root: &Path) -> Child {
    // An exited server stays a zombie until its new parent reaps it, and `kill -0` finds a zombie: not running.
    let script = r#"if read -r word && [ "$word" = spare ]; then exit 0; fi
        kill -QUIT "$1" 2>/dev/null
        while kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' /proc/"$1"/status; do sleep 0.05; done
        rm -rf "$2""#;
    let mut watchdog = Command::new("sh");
    std::os::unix::process::CommandExt::process_group(&mut watchdog, 0);
    watchdog
        .args(["-c", script, "tracker-pg-watchdog", &pid.to_string(), path(root)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the cluster's watchdog")
}

/// Asks `check` until it answers `Some`, for at most [`READY_WITHIN`]; `None` once that has passed. The one way
/// this harness waits for the server (a condition with a deadline, never a fixed pause).
fn until<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the server accepts a connection before [`READY_WITHIN`]; false as soon as it exits.
fn ready(server: &mut Child, port: u16) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let answer = until(|| {
        if runtime.block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls)).is_ok() {
            return Some(true);
        }
        server.try_wait().ok().flatten().map(|_| false)
    });
    answer == Some(true)
}

/// The template every test database is copied from: empty, with the log's schema made by opening it.
fn make_template(port: u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
    let admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let client = runtime.block_on(async {
        let client = superuser(&admin_url).await;
        client.batch_execute(&format!("CREATE DATABASE {TEMPLATE}")).await.expect("creating the template");
        let url = format!("postgres://postgres@127.0.0.1:{port}/{TEMPLATE}");
        let log = tracker::store::PgLog::open(&url, tracker::store::PgLogOptions::default()).await.expect("the schema is made");
        log.close().await;
        drop(log);
        client
    });
    // No session may stay on a template that databases are copied from: wait for the log's to end.
    let sessions = || {
        let row = runtime
            .block_on(client.query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", &[&TEMPLATE]))
            .expect("counting the template's sessions");
        (row.get::<_, i64>(0) == 0).then_some(())
    };
    until(sessions).expect("the template's sessions did not end");
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
