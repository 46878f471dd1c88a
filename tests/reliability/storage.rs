//! Storage failures: the data directory on a small tmpfs that fills while 8 clients record, and on a tmpfs
//! remounted read-only between runs. The server must answer a clear problem (507 naming the full disk), never a
//! 201 for an event it did not store, keep serving every read from what it acknowledged, refuse every later write
//! until restarted (a failed sync is not retried as if the data were safe), and lose nothing it acknowledged.
//!
//! The mounts need root. Where `mount` is refused the tests say so and check a weaker stand-in instead: a
//! file-size limit (`ulimit -f`) for the full disk, a data directory that cannot be created for the read-only one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use crate::server::{admin_token, assert_log_whole, exchange, tracker, Server};

/// A tmpfs mounted on a fresh temporary directory, unmounted on drop.
#[derive(Debug)]
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(self.path()).output().unwrap();
        assert!(out.status.success(), "remount,{options}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

const WRITERS: usize = 8;

/// What the writers of a full disk saw: acknowledged activities by tag, and every refusal.
#[derive(Debug, Default)]
struct Outcomes {
    acknowledged: Vec<(String, String)>,
    refused: Vec<(u16, String, Value)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_is_answered_with_a_clear_problem_and_loses_nothing_acknowledged() {
    let started = std::time::Instant::now();
    // Room for the store, its write-ahead file and the room the log keeps ahead of sled's data file (two 8 MiB
    // segments and a half, `src/store/room.rs`), and a few thousand activities more.
    let mount = Tmpfs::mount("64m");
    let scratch = tempfile::tempdir().unwrap();
    let (data, mut server): (PathBuf, Server) = match &mount {
        Ok(mount) => {
            let data = mount.path().join("data");
            let server = Server::start(&data);
            (data, server)
        }
        Err(why) => {
            eprintln!("mount refused ({why}); filling a 64 MiB file-size limit (ulimit -f) instead of a tmpfs");
            let data = scratch.path().join("data");
            let mut command = Command::new("sh");
            // SIGXFSZ ignored, so that a write beyond the limit fails with EFBIG instead of killing the server.
            command.args(["-c", "trap '' XFSZ; ulimit -f 65536; exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_tracker")]);
            command.arg("--data").arg(&data).args(["serve", "--addr", "127.0.0.1:0"]);
            let server = Server::spawn(command).unwrap_or_else(|r| panic!("{}: {}", r.status, r.output));
            (data, server)
        }
    };
    let admin = admin_token(&data);
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (api, admin, outcomes) = (server.api.clone(), admin.clone(), Arc::clone(&outcomes));
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                // Noise that LZ4 cannot shrink: the stored chunks fill the disk as fast as the write-ahead file.
                let tag = format!("full w{writer} n{n} {}", noise(30_000));
                let body = exchange("torino", "paris", "2022-03-01", &tag);
                let (status, content_type, answer) =
                    api.post("/v1/programmes/connection/activities", &admin, &body).await.expect("the server keeps answering");
                if status == 201 {
                    outcomes.lock().acknowledged.push((tag, answer["id"].as_str().unwrap().to_owned()));
                } else {
                    outcomes.lock().refused.push((status, content_type, answer));
                    return;
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock());
    let full_status = if mount.is_ok() { 507 } else { 503 };
    let words = if mount.is_ok() { "No space left on device" } else { "File too large" };
    assert!(outcomes.acknowledged.len() > 100, "only {} acknowledged before the disk was full", outcomes.acknowledged.len());
    assert_eq!(outcomes.refused.len(), WRITERS);
    for (status, content_type, problem) in &outcomes.refused {
        assert_eq!((*status, content_type.as_str()), (full_status, "application/problem+json"), "{problem}");
        assert_eq!(problem["type"], "urn:tracker:problem:storage_failed", "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(words) && detail.contains("until the server is restarted"), "{detail}");
    }

    // Writes stay refused, even small ones that might now fit: the failed sync is not retried as if safe.
    let small = exchange("torino", "paris", "2022-03-02", "small");
    let (status, _, problem) = server.post("/v1/programmes/connection/activities", &admin, &small).await.unwrap();
    assert_eq!(status, full_status, "{problem}");
    let (status, _, problem) = server.post("/v1/tokens", &admin, &serde_json::json!({"name": "late", "role": "auditor"})).await.unwrap();
    assert_eq!(status, full_status, "a token is a write too: {problem}");
    let (status, health) = server.get("/healthz", &admin).await;
    assert_eq!(status, full_status, "{health}");
    // Every read goes on, from everything acknowledged and nothing else: sled itself never met the full disk.
    assert!(server.running(), "the server is still up");
    assert_reads_answer(&server, &admin, &outcomes.acknowledged).await;
    let output = server.output();
    assert!(output.contains("writing to the data directory failed"), "the cause is logged: {output}");
    assert!(!output.contains("panicked"), "{output}");

    // A graceful stop does not hang on the failed store, and exits non-zero so that a supervisor notices.
    let stopped = server.terminate();
    assert_eq!(stopped.code(), Some(1), "{}", server.output());
    assert!(server.output().contains("error: stopped after refusing writes"), "{}", server.output());
    assert!(!server.output().contains("panicked"), "{}", server.output());

    // Freed space, restart: everything acknowledged is there, the chain verifies, writes work again.
    let server = match &mount {
        Ok(mount) => {
            mount.remount("size=256m");
            Server::start(&data)
        }
        Err(_) => Server::start(&data),
    };
    let events = assert_log_whole(&server, &admin, "after the restart").await;
    assert_acknowledged_present(&server, &admin, &outcomes.acknowledged).await;
    let recorded = events.iter().filter(|e| e["type"] == "ActivityRecorded").count();
    assert!(
        (outcomes.acknowledged.len()..=outcomes.acknowledged.len() + WRITERS + 1).contains(&recorded),
        "{recorded} stored; {} acknowledged",
        outcomes.acknowledged.len()
    );
    let (status, _, answer) = server.post("/v1/programmes/connection/activities", &admin, &small).await.unwrap();
    assert_eq!(status, 201, "{answer}");
    eprintln!(
        "full disk: {} acknowledged, {} writers refused with {full_status}, {recorded} stored after restart, {:.1} s",
        outcomes.acknowledged.len(),
        outcomes.refused.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Every read endpoint answers 200 on the full disk, and what it shows is exactly what was acknowledged.
async fn assert_reads_answer(server: &Server, admin: &str, acknowledged: &[(String, String)]) {
    let events = assert_log_whole(server, admin, "on the full disk").await;
    let recorded = events.iter().filter(|e| e["type"] == "ActivityRecorded").count();
    assert_eq!(recorded, acknowledged.len(), "the log holds what was acknowledged, and only that");
    assert_acknowledged_present(server, admin, acknowledged).await;
    for path in ["/v1/programmes", "/v1/programmes/connection", "/v1/audit/head"] {
        let (status, body) = server.get(path, admin).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, report) = server.get("/v1/programmes/connection/progress?as_of=2022-12-31", admin).await;
    assert_eq!(status, 200, "{report}");
    let exchanges = report["indicators"].as_array().expect("indicators").iter().find(|i| i["id"] == "staff-exchanges");
    assert_eq!(exchanges.expect("the indicator")["actual"], acknowledged.len().to_string(), "{report}");
    let (status, page) = server.get("/v1/programmes/connection/activities?limit=10", admin).await;
    assert_eq!(status, 200, "{page}");
    let (_, id) = acknowledged.last().expect("acknowledged");
    let (status, history) = server.get(&format!("/v1/streams/activity-{id}"), admin).await;
    assert_eq!(status, 200, "{history}");
    for page in ["/", "/programmes/connection"] {
        let response = server.client().get(server.url(page)).send().await.expect("the server answers");
        assert_eq!(response.status().as_u16(), 200, "{page}");
        assert!(response.text().await.unwrap().to_lowercase().contains("connection"), "{page} shows the programme");
    }
}

/// `len` characters of noise (splitmix64 in hex), different at every call.
fn noise(len: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        let mut z = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        text.push_str(&format!("{:016x}", z ^ (z >> 31)));
    }
    text.truncate(len);
    text
}

async fn assert_acknowledged_present(server: &Server, token: &str, acknowledged: &[(String, String)]) {
    for (tag, id) in acknowledged {
        let (status, activity) = server.get(&format!("/v1/programmes/connection/activities/{id}"), token).await;
        assert_eq!(status, 200, "{activity}");
        assert_eq!(activity["notes"].as_str(), Some(tag.as_str()));
    }
}

#[tokio::test]
async fn a_read_only_data_directory_is_refused_at_start_clearly_and_keeps_its_events() {
    // Room for the store and the room the log keeps allocated ahead of sled's data file (`src/store/room.rs`).
    let mount = match Tmpfs::mount("64m") {
        Ok(mount) => mount,
        Err(why) => {
            eprintln!("mount refused ({why}); checking a data directory that cannot be created instead");
            let scratch = tempfile::tempdir().unwrap();
            std::fs::write(scratch.path().join("file"), b"").unwrap();
            let refused = Server::start_with(&scratch.path().join("file").join("data"), &[]).expect_err("no directory");
            assert_eq!(refused.status.code(), Some(1), "{}", refused.output);
            assert!(refused.output.contains("error: opening the data directory"), "{}", refused.output);
            assert!(!refused.output.contains("panicked"), "{}", refused.output);
            return;
        }
    };
    let data = mount.path().join("data");
    let mut server = Server::start(&data);
    let admin = admin_token(&data);
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        let tag = format!("read-only {n}");
        let (status, _, answer) =
            server.post("/v1/programmes/connection/activities", &admin, &exchange("paris", "torino", "2022-04-01", &tag)).await.unwrap();
        assert_eq!(status, 201, "{answer}");
        acknowledged.push((tag, answer["id"].as_str().unwrap().to_owned()));
    }
    server.kill();

    mount.remount("ro");
    let refused = Server::start_with(&data, &[]).expect_err("a read-only data directory");
    assert_eq!(refused.status.code(), Some(1), "{}", refused.output);
    assert!(refused.output.contains("Read-only file system"), "{}", refused.output);
    assert!(!refused.output.contains("panicked"), "{}", refused.output);
    let verify = tracker(&data).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stderr).contains("Read-only file system"), "{verify:?}");

    mount.remount("rw");
    let server = Server::start(&data);
    assert_log_whole(&server, &admin, "after read-only").await;
    assert_acknowledged_present(&server, &admin, &acknowledged).await;
}
