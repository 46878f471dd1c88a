//! The README's quick start, run as written: the commands between the `quickstart` markers are executed by bash
//! in a fresh directory, with `cargo run --release --` replaced by this build's `tracker` binary and
//! `localhost:8080` by a free port, and what they print is checked.

use std::process::Command;

#[test]
fn the_readme_quick_start_records_an_exchange_moves_progress_and_verifies_the_chain() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- quickstart -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /quickstart -->").next())
        .expect("a quickstart section in the README");
    let script = block.trim().trim_start_matches("```sh").trim_end_matches("```");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = script
        .replace("cargo run --release --", env!("CARGO_BIN_EXE_tracker"))
        .replace("localhost:8080", &format!("127.0.0.1:{port}"));

    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("set -eu\n{script}"))
        .current_dir(dir.path())
        .env("TRACKER_ADDR", format!("127.0.0.1:{port}"))
        .env_remove("TRACKER_DATA")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the quick start failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains(r#""kind":"staff_exchange""#) && stdout.contains(r#""status":"recorded""#), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("connection,2022-12-31,")
            && l.contains(",staff-exchanges,Staff exchanges,exchanges,14,0,1,0,7.1,")),
        "progress did not move:\n{stdout}"
    );
    assert!(stdout.contains(r#""ok":true"#) && stdout.contains(r#""events":3"#), "{stdout}");
    assert!(stderr.contains("admin.token"), "the server says where the admin token is:\n{stderr}");
}
