//! Tamper evidence of an export: every single-byte change of a small export — each byte position, each changed
//! three ways (low bit, case bit, a byte from a seeded RNG) — is refused by the import check, naming the line it
//! is on. Export lines are canonical JSON compared byte for byte, so no change is "invisible": not whitespace,
//! not key order, not an escape, not the case of a hex digit. A truncated export is caught only against a head
//! published earlier, and is.

use std::io::Cursor;

use rand::{Rng as _, SeedableRng as _};
use tracker::audit::{check_export, export_log, PublishedHead};
use tracker::store::{EventLog as _, ExpectedVersion};

use crate::helpers::{append, event, open, request};

/// A small export: 7 events in 4 streams, the last with a payload string that needs escaping.
async fn small_export() -> (Vec<u8>, tracker::store::Head) {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    for i in 0..4 {
        append(&log, &format!("a-{}", i % 3), ExpectedVersion::Any, 1 + i % 2).await.unwrap();
    }
    let escaped = event(serde_json::json!({"note": "a \"quote\", a\ttab, a \\ and é", "n": -1.5}));
    log.append(request("b-escaped", ExpectedVersion::NoStream, vec![escaped])).await.unwrap();
    let mut out = Vec::new();
    export_log(&log, &mut out, |_, _| ()).await.unwrap();
    (out, log.head().await.unwrap())
}

fn check(bytes: &[u8], published: Option<PublishedHead>) -> anyhow::Result<(u64, events::ChainHash)> {
    check_export(Cursor::new(bytes), &mut std::io::sink(), published, |_| ())
}

#[tokio::test]
async fn every_single_byte_change_of_an_export_is_refused_naming_its_line() {
    let (export, head) = small_export().await;
    assert_eq!(check(&export, None).unwrap().0, 7, "the untouched export passes");
    assert_eq!(head.position, 7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut tried = 0;
    for at in 0..export.len() {
        let line = 1 + export[..at].iter().filter(|&&b| b == b'\n').count();
        let random = loop {
            let b: u8 = rng.gen();
            if b != export[at] {
                break b;
            }
        };
        for changed in [export[at] ^ 0x01, export[at] ^ 0x20, random] {
            let mut tampered = export.clone();
            tampered[at] = changed;
            tried += 1;
            let error = match check(&tampered, None) {
                Ok(_) => panic!("byte {at} (line {line}) changed from {:?} to {:?} was accepted", export[at] as char, changed as char),
                Err(error) => format!("{error:#}"),
            };
            assert!(error.contains(&format!("line {line}")), "byte {at}: '{error}' does not name line {line}");
        }
    }
    eprintln!("{tried} single-byte changes of a {}-byte export, all refused", export.len());
}

#[tokio::test]
async fn a_truncated_or_rewritten_export_is_refused_against_the_published_head() {
    let (export, head) = small_export().await;
    let published = PublishedHead { position: head.position, hash: head.hash };
    let lines: Vec<&[u8]> = export.split_inclusive(|&b| b == b'\n').collect();
    for keep in 0..lines.len() {
        let truncated = lines[..keep].concat();
        // On its own a prefix of a log is a valid log ...
        assert_eq!(check(&truncated, None).unwrap().0, keep as u64);
        // ... but it does not reach the head the server published.
        let error = format!("{:#}", check(&truncated, Some(published)).unwrap_err());
        assert!(error.contains(&format!("the export ends at position {keep} but the published head is position 7")), "{error}");
    }
    // A head published earlier is reached by a later, longer export.
    let earlier: PublishedHead = format!("4:{}", events::Envelope::from_json_line(std::str::from_utf8(lines[3]).unwrap().trim_end()).unwrap().hash)
        .parse()
        .unwrap();
    assert_eq!(check(&export, Some(earlier)).unwrap().0, 7);
    // A head whose hash the export does not carry at its position: the log was rewritten since.
    let other = PublishedHead { position: 4, hash: head.hash };
    let error = format!("{:#}", check(&export, Some(other)).unwrap_err());
    assert!(error.contains("position 4 (line 4): hash") && error.contains("the log was rewritten"), "{error}");
    for bad in ["6", "x:00", "6:zz"] {
        assert!(bad.parse::<PublishedHead>().is_err(), "{bad}");
    }
}
