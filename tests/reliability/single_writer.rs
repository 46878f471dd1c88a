//! One server per data directory: a second `tracker serve` on a directory in use exits at once with a clear
//! message and a non-zero code, and the first one keeps serving, reads and writes.

use crate::server::{admin_token, exchange, Server};

#[tokio::test]
async fn a_second_server_on_the_same_directory_is_refused_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(dir.path());
    let admin = admin_token(dir.path());

    let second = Server::start_with(dir.path(), &[]).expect_err("a second server on the same directory");
    assert_eq!(second.status.code(), Some(1), "{}", second.output);
    assert!(second.output.contains("is in use by another tracker process"), "{}", second.output);
    assert!(!second.output.contains("panicked"), "{}", second.output);
    assert!(!second.output.contains("listening"), "{}", second.output);

    assert!(first.running());
    let (status, _, answer) =
        first.post("/v1/programmes/connection/activities", &admin, &exchange("torino", "paris", "2022-05-02", "after")).await.unwrap();
    assert_eq!(status, 201, "{answer}");
    let (status, verified) = first.get("/v1/audit/verify", &admin).await;
    assert_eq!((status, &verified["ok"], &verified["events"]), (200, &serde_json::json!(true), &serde_json::json!(3)), "{verified}");
}
