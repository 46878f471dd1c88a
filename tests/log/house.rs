//! The house rules a reader relies on, checked on the repository itself: no Rust source file over 600 lines,
//! each opening with a `//!` comment that says what it is for, and commit subjects of at most 72 characters
//! (`git log --oneline` reads as a changelog) since the rule was set.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MAX_LINES: usize = 600;
const MAX_SUBJECT: usize = 72;
/// Commits made since the subject rule was set (committer time, so that a shallow clone can tell too); the ones
/// before it are history as it was written.
const SUBJECTS_SINCE: &str = "2026-12-03T10:00:00Z";

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_rust_file_is_at_most_600_lines_and_opens_with_what_it_is_for() {
    let mut files = Vec::new();
    rust_files(Path::new(ROOT), &mut files);
    assert!(files.len() > 50, "found only {} files under {ROOT}", files.len());
    let mut faults = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(ROOT).unwrap().display();
        let lines = text.lines().count();
        if lines > MAX_LINES {
            faults.push(format!("{shown}: {lines} lines (at most {MAX_LINES}: split it by responsibility)"));
        }
        if !text.starts_with("//!") {
            faults.push(format!("{shown}: does not open with a `//!` comment saying what it is for"));
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[test]
fn commit_subjects_are_at_most_72_characters() {
    let git = |args: &[&str]| Command::new("git").args(args).current_dir(ROOT).output().expect("git runs");
    if !git(&["rev-parse", "--git-dir"]).status.success() {
        // A source tarball has no history to read; a checkout always has.
        assert!(!Path::new(ROOT).join(".git").exists(), "a .git that git cannot read");
        return;
    }
    let log = git(&["log", "--format=%h %s", &format!("--since={SUBJECTS_SINCE}"), "HEAD"]);
    assert!(log.status.success(), "git log: {}", String::from_utf8_lossy(&log.stderr));
    let log = String::from_utf8(log.stdout).unwrap();
    let long: Vec<&str> = log
        .lines()
        .filter(|line| line.split_once(' ').map_or(0, |(_, subject)| subject.chars().count()) > MAX_SUBJECT)
        .collect();
    assert!(long.is_empty(), "subjects over {MAX_SUBJECT} characters (say what changed; the why goes in the body):\n{}", long.join("\n"));
}
