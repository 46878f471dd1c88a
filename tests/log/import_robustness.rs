//! Robustness of the NDJSON import against arbitrary damage to a valid export: byte flips, line swaps,
//! truncation, duplicated or deleted lines, invalid UTF-8. The check never panics; it accepts only what is
//! still a valid export (a prefix of the log, cut at a line boundary) and refuses everything else naming the
//! line; `tracker import` of a refused file leaves the data directory without a single event.
//!
//! `TRACKER_FUZZ_CASES` sets the number of cases (default 64 for the check, an eighth of that through the
//! binary); by hand: `TRACKER_FUZZ_CASES=20000 cargo test --release --test log import_robustness`.

use std::path::Path;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use tracker::store::{EventLog, ExpectedVersion};

use crate::helpers::{append, open};

pub(crate) fn fuzz_cases() -> u32 {
    std::env::var("TRACKER_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

/// A valid export of a small log: a few streams, events of one and two per append.
fn valid_export() -> Vec<u8> {
    static EXPORT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    EXPORT
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let log = open(dir.path());
                for i in 0..8 {
                    append(&log, &format!("a-{}", i % 3), ExpectedVersion::Any, 1 + i % 2).await.unwrap();
                }
                let mut out = Vec::new();
                tracker::audit::export_log(&log, &mut out, |_, _| {}).await.unwrap();
                log.close();
                out
            })
        })
        .clone()
}

/// One kind of damage, with the numbers that place it.
#[derive(Clone, Debug)]
enum Damage {
    FlipByte { at: usize, xor: u8 },
    InvalidUtf8 { at: usize, byte: u8 },
    Truncate { at: usize },
    SwapLines { a: usize, b: usize },
    DuplicateLine { line: usize },
    DeleteLine { line: usize },
    InsertBytes { at: usize, bytes: Vec<u8> },
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Damage::FlipByte { at, xor }),
        (any::<usize>(), prop_oneof![Just(0xffu8), Just(0xc3), Just(0x80), Just(0xe2)])
            .prop_map(|(at, byte)| Damage::InvalidUtf8 { at, byte }),
        any::<usize>().prop_map(|at| Damage::Truncate { at }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Damage::SwapLines { a, b }),
        any::<usize>().prop_map(|line| Damage::DuplicateLine { line }),
        any::<usize>().prop_map(|line| Damage::DeleteLine { line }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, bytes)| Damage::InsertBytes { at, bytes }),
    ];
    proptest::collection::vec(one, 1..4)
}

fn apply(mut bytes: Vec<u8>, damage: &Damage) -> Vec<u8> {
    let len = bytes.len().max(1);
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let count = lines.len();
    match damage {
        Damage::FlipByte { at, xor } => {
            if !bytes.is_empty() {
                bytes[at % len] ^= xor;
            }
            bytes
        }
        Damage::InvalidUtf8 { at, byte } => {
            bytes.insert(at % len, *byte);
            bytes
        }
        Damage::Truncate { at } => {
            bytes.truncate(at % len);
            bytes
        }
        Damage::InsertBytes { at, bytes: inserted } => {
            let at = at % len;
            bytes.splice(at..at, inserted.iter().copied());
            bytes
        }
        Damage::SwapLines { a, b } => {
            lines.swap(a % count, b % count);
            lines.join(&b'\n')
        }
        Damage::DuplicateLine { line } => {
            let copy = lines[line % count].clone();
            lines.insert(line % count, copy);
            lines.join(&b'\n')
        }
        Damage::DeleteLine { line } => {
            lines.remove(line % count);
            lines.join(&b'\n')
        }
    }
}

/// Whether `damaged` is still a valid export: the first lines of the original, whole.
fn is_prefix_of_lines(damaged: &[u8], original: &[u8]) -> bool {
    let trimmed = damaged.strip_suffix(b"\n").unwrap_or(damaged);
    trimmed.is_empty() || (original.starts_with(trimmed) && original[trimmed.len()] == b'\n')
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn a_damaged_export_is_refused_naming_its_line_unless_it_is_still_a_prefix(damages in damage()) {
        let original = valid_export();
        let damaged = damages.iter().fold(original.clone(), apply);
        let mut spool = Vec::new();
        let result = tracker::audit::check_export(std::io::Cursor::new(&damaged), &mut spool, None, |_| {});
        match result {
            Ok(_) => prop_assert!(
                damaged == original || is_prefix_of_lines(&damaged, &original),
                "accepted a damaged export: {damages:?}"
            ),
            Err(error) => {
                let message = format!("{error:#}");
                prop_assert!(message.contains("line "), "the refusal names no line: {message}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: (fuzz_cases() / 8).max(4), failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn tracker_import_of_a_refused_export_writes_nothing(damages in damage()) {
        let original = valid_export();
        let damaged = damages.iter().fold(original.clone(), apply);
        let mut spool = Vec::new();
        prop_assume!(tracker::audit::check_export(std::io::Cursor::new(&damaged), &mut spool, None, |_| {}).is_err());
        let dir = tempfile::tempdir().unwrap();
        let output = import(dir.path(), &damaged);
        let stderr = String::from_utf8_lossy(&output.stderr);
        prop_assert!(!output.status.success(), "imported a damaged export");
        prop_assert!(stderr.contains("nothing was imported") && stderr.contains("line "), "{stderr}");
        prop_assert!(!dir.path().join("import.spool").exists(), "the spool was left behind");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let log = open(dir.path());
        let head = runtime.block_on(log.head()).unwrap();
        prop_assert_eq!(head.position, 0, "events were written");
        log.close();
    }
}

fn import(data: &Path, input: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .arg("--data")
        .arg(data)
        .arg("import")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}
