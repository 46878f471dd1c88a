//! The real server's `/openapi.json` through the standard tools, pinned and installed by
//! `.ci/install-openapi-tools` (CI runs it) under `~/.cache/tracker/openapi-tools` (or `TRACKER_OPENAPI_TOOLS`):
//! openapi-spec-validator finds it valid, `redocly lint` with the recommended rules finds no error, and
//! openapi-python-client generates a client with every operation of the document, which
//! `tests/openapi/use_client.py` then uses against the same server to record an activity and read progress.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::spawn_app;

fn tools() -> PathBuf {
    if let Some(path) = std::env::var_os("TRACKER_OPENAPI_TOOLS") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/tracker/openapi-tools")
}

/// `program` from the tools' directory, or a failure saying how to install it.
fn tool(relative: &str) -> PathBuf {
    let path = tools().join(relative);
    assert!(
        path.exists(),
        "{} is not installed: run `.ci/install-openapi-tools` (pinned versions under ~/.cache/tracker/openapi-tools, \
         or set TRACKER_OPENAPI_TOOLS to where it installed them)",
        path.display()
    );
    path
}

/// Runs a tool in `dir` and answers its output; a tool that does not start fails the test.
fn run(command: &mut Command, dir: &Path) -> Output {
    let output = command.current_dir(dir).output();
    output.unwrap_or_else(|e| panic!("{command:?} did not start: {e}"))
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_passes_the_validators_and_generates_a_working_client() {
    let (validator, redocly) = (tool("venv/bin/openapi-spec-validator"), tool("node/node_modules/.bin/redocly"));
    let (generator, python) = (tool("venv/bin/openapi-python-client"), tool("venv/bin/python"));
    let app = spawn_app().await;
    let answer = app.get("/openapi.json", None).await.expect(200);
    let document: Value = answer.json();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("openapi.json");
    std::fs::write(&file, &answer.text).unwrap();

    let validated = run(Command::new(&validator).arg(&file), work.path());
    assert!(validated.status.success(), "openapi-spec-validator refused the description:\n{}", text(&validated));

    // In the work directory no redocly.yaml applies: the recommended rules, errors fail the run.
    let linted = run(Command::new(&redocly).args(["lint", "--extends", "recommended", "--format", "stylish"]).arg(&file), work.path());
    let lint = text(&linted);
    assert!(linted.status.success(), "redocly lint found errors:\n{lint}");
    assert!(lint.contains("valid"), "redocly lint said nothing of the description:\n{lint}");

    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi/client-config.json");
    let package = work.path().join("tracker_client");
    let generated = run(
        Command::new(&generator).args(["generate", "--meta", "none", "--config", config, "--path"]).arg(&file).arg("--output-path").arg(&package),
        work.path(),
    );
    let generation = text(&generated);
    assert!(generated.status.success(), "openapi-python-client failed:\n{generation}");
    assert!(!generation.contains("WARNING") && !generation.contains("Unable to"), "the client misses parts:\n{generation}");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            let tag = operation["tags"][0].as_str().unwrap_or_else(|| panic!("{method} {path} has no tag"));
            operations.push((format!("{method} {path}"), package.join("api").join(tag).join(format!("{id}.py"))));
        }
    }
    let missing: Vec<&String> = operations.iter().filter(|(_, module)| !module.exists()).map(|(name, _)| name).collect();
    assert!(missing.is_empty(), "the generated client has no function for {missing:?}");
    assert!(operations.len() >= 32, "only {} operations in the description", operations.len());

    let recorder = app.token("client-recorder", "recorder", Some("connection"), Some("torino")).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi/use_client.py");
    let used = run(Command::new(&python).arg(script).arg(app.url("")).arg(&recorder).env("PYTHONPATH", work.path()), work.path());
    let said = text(&used);
    assert!(used.status.success(), "the generated client failed against the server:\n{said}");
    assert!(said.contains("staff-exchanges 1 of 14"), "{said}");
    // The activity the client recorded is in the log as the server wrote it.
    let listed = app.get("/v1/programmes/connection/activities?kind=staff_exchange", None).await.expect(200).json();
    assert_eq!(listed["activities"].as_array().unwrap().len(), 1, "{listed}");
    println!("{} operations; {}", operations.len(), said.trim());
}
