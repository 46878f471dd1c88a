//! The PostgreSQL peer the durable appends are compared with: `pg-peer.sh` (pgbench) run for as long as one
//! of our load runs, and the disk quietened before each run, ours or the peer's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Before each run of the comparison, ours or the peer's: the peer's PostgreSQL (which stays up between its
/// runs, with the rows and WAL of the last one still to write out) is checkpointed, and the kernel's dirty pages
/// are written (`sync`), so that neither side's run pays for writing out what the run before it left. Both are
/// best effort: without a running cluster the checkpoint fails and only `sync` counts.
pub(super) fn quiet_disk() {
    let quiet = |program: &str, args: &[&str]| {
        let _ = Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    };
    quiet("su", &["postgres", "-c", "psql -q -c CHECKPOINT"]);
    quiet("sync", &[]);
}

/// Runs the PostgreSQL peer; its appends per second, or why it could not run.
pub(super) fn peer(script: &Path, clients: usize, duration: Duration) -> Result<f64, String> {
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
