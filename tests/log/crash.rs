//! Crash safety: a child process appends from many concurrent tasks and prints every acknowledged append; it
//! is killed with SIGKILL at a random moment, the store is reopened, and every acknowledged append must be
//! there, in place, with the chain verifying and positions gapless. Several kill cycles on one directory, in
//! each of the child's checkpoint modes: as shipped; with no checkpoint and no sled flush while it runs, so
//! everything acknowledged comes back from the write-ahead file; with a checkpoint every few milliseconds, so
//! kills land inside checkpoints; with a write-ahead file too small for most group commits, which then go to
//! sled directly. Then the write-ahead file a killed child left, cut short (a torn tail: the
//! whole frames before the cut come back), with one byte changed in its first frame (refused, naming
//! position 1), and with sled holding part of a frame (the rest of it comes back).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rand::Rng as _;
use tracker::audit::verify_log;
use tracker::store::EventLog;

const APPENDERS: &str = "48";

#[tokio::test]
async fn every_acknowledged_append_survives_sigkill_of_the_appending_process() {
    let replayed = kill_cycles("default", 6).await;
    eprintln!("{replayed:?} events replayed from the write-ahead file per cycle");
}

#[tokio::test]
async fn acknowledged_appends_not_yet_checkpointed_come_back_from_the_write_ahead_file() {
    // With sled's background flush off and no checkpoint, sled writes nothing of a cycle (its 16 MiB buffer never
    // fills): every event the child appended comes back from the write-ahead file.
    let replayed = kill_cycles("wal-only", 4).await;
    for (cycle, (acknowledged, replayed)) in replayed.iter().enumerate() {
        assert!(replayed >= acknowledged, "cycle {cycle}: {acknowledged} acknowledged by the child, only {replayed} replayed");
    }
}

#[tokio::test]
async fn every_acknowledged_append_survives_sigkill_amid_checkpoints() {
    kill_cycles("often", 4).await;
}

#[tokio::test]
async fn every_acknowledged_append_survives_sigkill_when_group_commits_outgrow_the_write_ahead_file() {
    kill_cycles("outgrown", 4).await;
}

/// Runs `cycles` kill cycles of the child in checkpoint `mode` on one directory and checks the store after each.
/// Returns, per cycle, how many appends the child acknowledged and how many events reopening took from the
/// write-ahead file.
async fn kill_cycles(mode: &str, cycles: usize) -> Vec<(u64, u64)> {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: HashMap<u64, (String, u64, String)> = HashMap::new();
    let mut rng = rand::thread_rng();
    let mut replayed = Vec::new();
    for cycle in 0..cycles {
        let before = acknowledged.len() as u64;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracker-crash-child"))
            .arg(dir.path())
            .arg(APPENDERS)
            .arg(mode)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the child");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        // Kill after a random number of acknowledgements, so the kill lands mid-batch at varying moments.
        let kill_after = rng.gen_range(1..3000);
        let mut seen = 0;
        let mut record = |line: String| {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts[0], "ack", "{line}");
            let position: u64 = parts[1].parse().unwrap();
            let entry = (parts[2].to_owned(), parts[3].parse().unwrap(), parts[4].to_owned());
            assert!(acknowledged.insert(position, entry).is_none(), "position {position} acknowledged twice");
        };
        for line in lines.by_ref() {
            record(line.unwrap());
            seen += 1;
            if seen == kill_after {
                break;
            }
        }
        child.kill().expect("SIGKILL");
        // Acknowledgements already written to the pipe before the kill count too.
        for line in lines {
            match line {
                Ok(line) if line.starts_with("ack ") && line.split(' ').count() == 5 => record(line),
                _ => break,
            }
        }
        child.wait().unwrap();

        let log = tracker::store::SledLog::open(dir.path(), Default::default()).expect("reopening after the kill");
        replayed.push((acknowledged.len() as u64 - before, log.replayed_at_open()));
        let report = verify_log(&log, |_, _| {}).await.unwrap();
        assert!(report.ok(), "{mode} cycle {cycle}: {:?}", report.first_bad);
        let head = log.head().await.unwrap().position;
        assert!(head >= acknowledged.len() as u64, "{mode} cycle {cycle}: head {head} below {} acknowledged", acknowledged.len());
        let stored = log.read_all(1, head as usize).await.unwrap();
        assert_eq!(stored.len() as u64, head, "positions 1..head are all present");
        for (position, (stream, version, id)) in &acknowledged {
            let e = &stored[*position as usize - 1];
            assert_eq!((&e.stream, e.version, e.id.to_string()), (stream, *version, id.clone()), "{mode}: position {position}");
        }
        eprintln!(
            "{mode} cycle {cycle}: killed after {seen} acknowledgements; {} acknowledged in all, head {head}, {} replayed",
            acknowledged.len(),
            log.replayed_at_open()
        );
    }
    replayed
}

/// Runs the child in checkpoint mode `wal-only` on `dir` until it has acknowledged `acks` events, kills it, and
/// returns how many it acknowledged (the pipe may hold a few more).
fn append_then_kill(dir: &std::path::Path, acks: usize) -> usize {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracker-crash-child"))
        .arg(dir)
        .arg("8")
        .arg("wal-only")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the child");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let acknowledged = lines.map(|l| l.unwrap()).filter(|l| l.starts_with("ack ")).take(acks).count();
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    acknowledged
}

#[tokio::test]
async fn a_write_ahead_file_cut_inside_its_frames_gives_back_the_whole_frames_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(append_then_kill(dir.path(), 400), 400);
    let wal = dir.path().join("wal");
    let bytes = std::fs::read(&wal).unwrap();
    // The frames start after a 4 KiB header and are followed by zeros: cut in the middle of what is not zero.
    let used = bytes.iter().rposition(|&b| b != 0).unwrap();
    assert!(used > 4096 + 2000, "frames of 400 events hold more than {used} bytes");
    std::fs::write(&wal, &bytes[..4096 + (used - 4096) / 2]).unwrap();
    let log = tracker::store::SledLog::open(dir.path(), Default::default()).expect("a torn tail is no damage");
    let head = log.head().await.unwrap().position;
    assert!(head > 0 && head < 400, "the whole frames before the cut, not those after it: head {head}");
    assert_eq!(log.replayed_at_open(), head, "sled held none of them");
    assert!(verify_log(&log, |_, _| {}).await.unwrap().ok());
}

#[tokio::test]
async fn a_frame_sled_holds_part_of_is_completed_from_the_write_ahead_file() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(append_then_kill(dir.path(), 400), 400);
    // sled holds nothing of the run (wal-only). Give it every record up to the middle of the first frame of
    // several records, as a flush of sled that reached the disk before the kill would have: one chunk at 1.
    let bytes = std::fs::read(dir.path().join("wal")).unwrap();
    let (mut at, mut held, mut records) = (4096, 0, Vec::new());
    loop {
        let header = &bytes[at..at + 40];
        assert_eq!(&header[..8], b"TRKWALF1", "a frame at byte {at}");
        let count = u32::from_be_bytes(header[24..28].try_into().unwrap()) as usize;
        let body = &bytes[at + 40..at + 40 + u32::from_be_bytes(header[28..32].try_into().unwrap()) as usize];
        if count < 3 {
            records.extend_from_slice(body);
            held += count;
            at = (at + 40 + body.len()).next_multiple_of(8);
            continue;
        }
        let offset = crate::helpers::record_starts(body)[count / 2];
        records.extend_from_slice(&body[..offset]);
        held += count / 2;
        break;
    }
    let db = tracker::store::open_raw(dir.path()).unwrap();
    db.open_tree("log").unwrap().insert(1u64.to_be_bytes(), tracker::store::pack_chunk(&records)).unwrap();
    db.flush().unwrap();
    drop(db);
    let log = tracker::store::SledLog::open(dir.path(), Default::default()).expect("reopening");
    let head = log.head().await.unwrap().position;
    assert!(head >= 400, "every acknowledged event is back: head {head}");
    assert_eq!(log.replayed_at_open(), head - held as u64, "the rest of that frame and the frames after it");
    assert!(verify_log(&log, |_, _| {}).await.unwrap().ok());
}

#[tokio::test]
async fn a_write_ahead_file_damaged_before_its_last_frame_is_refused_naming_the_first_position_lost() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(append_then_kill(dir.path(), 400), 400);
    let wal = dir.path().join("wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[4096 + 60] ^= 0x04; // inside the first frame's first record
    std::fs::write(&wal, &bytes).unwrap();
    match tracker::store::SledLog::open(dir.path(), Default::default()) {
        Err(tracker::store::OpenError::WalDamaged { position, reason, .. }) => {
            assert_eq!(position, 1, "{reason}");
            assert!(reason.contains("a frame is damaged") && reason.contains("follows at byte"), "{reason}");
        }
        other => panic!("opened or failed otherwise: {other:?}"),
    }
    // The damaged file is kept as it is: opening again refuses again.
    assert!(tracker::store::SledLog::open(dir.path(), Default::default()).is_err());
}
