//! Schemathesis (PyPI) against the real server's `/openapi.json` with an admin token: no 5xx, every error is
//! `application/problem+json` with `type`, `title` and `status` (the custom check `problem_json` in
//! `tests/schemathesis/hooks.py`), and the answers conform to the description (status codes, content types,
//! headers, schemas). Install it with `.ci/install-schemathesis` (CI does); `TRACKER_SCHEMATHESIS` may name
//! another `schemathesis` executable. `TRACKER_SCHEMATHESIS_EXAMPLES` (default 25 per operation) and
//! `TRACKER_SCHEMATHESIS_SEED` (default 1) make a longer or different run by hand.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::spawn_app;

/// The checks of the run: every one schemathesis has but `positive_data_acceptance` — bodies are described as
/// objects of typed fields, but the domain refuses many schema-valid values (a date in the future, an unknown
/// partner, a period that does not exist) with 422, as it should.
const CHECKS: &str = "not_a_server_error,problem_json,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,negative_data_rejection,\
                      missing_required_header,unsupported_method,allow_header_conformance,use_after_free,\
                      ensure_resource_availability,ignored_auth,object_level_authorization";

/// The name of the admin token the run uses; the hooks never revoke it (every other name may be revoked).
const TOKEN_NAME: &str = "schemathesis-run";

/// Longest the run may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(420);

fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("TRACKER_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("TRACKER_SCHEMATHESIS_VENV").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/tracker/schemathesis"))
    });
    let installed = venv.map(|venv| venv.join("bin/schemathesis"));
    installed.filter(|path| path.exists()).unwrap_or_else(|| PathBuf::from("schemathesis"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_every_error_is_a_problem() {
    let program = schemathesis();
    let version = Command::new(&program).arg("--version").output();
    let version = match version {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        _ => panic!(
            "schemathesis is not installed ({}): run `.ci/install-schemathesis` (a pinned version in a venv under \
             ~/.cache/tracker), or set TRACKER_SCHEMATHESIS to a schemathesis executable",
            program.display()
        ),
    };
    let app = spawn_app().await;
    let token = app
        .post("/v1/tokens", Some(&app.admin), &serde_json::json!({"name": TOKEN_NAME, "role": "admin"}))
        .await
        .expect(201)
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let examples = std::env::var("TRACKER_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let seed = std::env::var("TRACKER_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis/hooks.py");
    let reports = tempfile::tempdir().unwrap();
    let mut command = Command::new(&program);
    command
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        // One worker: with two threads, CPython 3.11's `ast` module (which Hypothesis uses to describe its
        // strategies) now and then fails with "AST constructor recursion depth mismatch", an error of the tool,
        // not of the server (seen once in CI, on GET /v1/events).
        .args(["--max-examples", &examples, "--seed", &seed, "--request-timeout", "10", "--workers", "1"])
        // SSE never ends by itself: its own tests are in `log.rs` and `bad_input.rs`.
        .args(["--exclude-path", "/v1/subscribe"])
        .args(["--no-color", "--output-truncate", "false", "--generation-database", "none"])
        .arg("--report-dir")
        .arg(reports.path())
        .env("SCHEMATHESIS_HOOKS", hooks)
        .env("TRACKER_SCHEMATHESIS_TOKEN_NAME", TOKEN_NAME)
        .current_dir(reports.path());
    let started = Instant::now();
    let child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let output = tokio::time::timeout(DEADLINE, tokio::task::spawn_blocking(move || child.wait_with_output())).await;
    let Ok(output) = output else {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("schemathesis did not finish within {DEADLINE:?}");
    };
    let output = output.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{version} found failures ({:?}):\n{stdout}\n{stderr}",
        output.status
    );
    let summary = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Tested:") || l.contains(" generated, ") || l.starts_with("=====") && l.contains(" in "))
        .collect::<Vec<_>>();
    assert!(summary.iter().any(|l| l.contains("Tested:")), "no operation was tested:\n{stdout}");
    println!("{version}, {examples} examples per operation, seed {seed}, {:.1?}: {}", started.elapsed(), summary.join(" | "));
}
