//! sled's segment size: a new store is made with 8 MiB segments (sled keeps the one it fills in memory); a store
//! made with 16 MiB segments, as every store was before, opens with them, takes appends and opens again.

use tracker::store::{EventLog as _, ExpectedVersion, SledLog};

use crate::helpers::append;

fn segment_size_on_disk(dir: &std::path::Path) -> String {
    let conf = std::fs::read(dir.join("sled").join("conf")).expect("sled's conf file");
    String::from_utf8_lossy(&conf).lines().find(|l| l.starts_with("segment_size: ")).expect("a segment size").to_owned()
}

#[tokio::test]
async fn a_new_store_is_made_with_eight_mib_segments() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledLog::open(dir.path(), Default::default()).unwrap());
    assert_eq!(segment_size_on_disk(dir.path()), "segment_size: 8388608");
}

#[tokio::test]
async fn a_store_made_with_sixteen_mib_segments_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    // A store as older versions made it: sled opened with 16 MiB segments, holding events.
    std::fs::create_dir_all(dir.path()).unwrap();
    drop(sled::Config::new().path(dir.path().join("sled")).segment_size(16 * 1024 * 1024).open().unwrap());
    let log = SledLog::open(dir.path(), Default::default()).expect("opens with its own segment size");
    append(&log, "a-1", ExpectedVersion::NoStream, 3).await.unwrap();
    drop(log);
    let log = SledLog::open(dir.path(), Default::default()).expect("opens again");
    assert_eq!(log.head().await.unwrap().position, 3);
    append(&log, "a-1", ExpectedVersion::Exact(3), 1).await.unwrap();
    assert_eq!(segment_size_on_disk(dir.path()), "segment_size: 16777216");
}

#[tokio::test]
async fn leaves_of_the_largest_records_stay_below_sleds_blob_threshold() {
    // sled writes a node bigger than a quarter of a segment to a blob file it never syncs. The largest leaf:
    // 17 entries, each one record with a payload of the greatest size allowed, that compression cannot shrink.
    use rand::Rng as _;
    let dir = tempfile::tempdir().unwrap();
    let log = SledLog::open(dir.path(), Default::default()).unwrap();
    let mut rng = rand::thread_rng();
    for i in 0..40 {
        let noise: String =
            (&mut rng).sample_iter(rand::distributions::Alphanumeric).take(tracker::store::MAX_EVENT_DATA_BYTES - 16).map(char::from).collect();
        let event = crate::helpers::event(serde_json::json!({"noise": noise}));
        assert!(event.data.len() <= tracker::store::MAX_EVENT_DATA_BYTES, "{}", event.data.len());
        log.append(crate::helpers::request(&format!("a-{i}"), ExpectedVersion::NoStream, vec![event])).await.unwrap();
    }
    drop(log);
    let blobs = dir.path().join("sled").join("blobs");
    let count = std::fs::read_dir(&blobs).map_or(0, |files| files.count());
    assert_eq!(count, 0, "sled wrote {count} blob files in {}", blobs.display());
}
