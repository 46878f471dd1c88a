//! The log as auditors read it: pages of the global log with filters, the NDJSON stream, one stream, a
//! programme's history, verification and the head, and Server-Sent Events that catch up in order and then
//! deliver a live event.

use futures_util::StreamExt as _;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

fn positions(page: &Value) -> Vec<u64> {
    page["events"].as_array().unwrap().iter().map(|e| e["position"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn the_global_log_pages_by_position_and_filters_by_type_and_programme() {
    let app = spawn_app().await;
    let auditor = app.token("funder", "auditor", None, None).await;
    for day in ["2021-01-10", "2021-02-10", "2021-03-10"] {
        app.record_exchange(&app.admin, "torino", "paris", day).await;
    }
    let page = app.get("/v1/events?limit=2", Some(&auditor)).await.expect(200).json();
    assert_eq!(positions(&page), [1, 2]);
    assert_eq!(page["next_from"], 3);
    assert_eq!(page["head"], 5);
    let page = app.get("/v1/events?from=3&limit=10", Some(&auditor)).await.expect(200).json();
    assert_eq!(positions(&page), [3, 4, 5]);
    assert_eq!(page["events"][0]["type"], "ActivityRecorded");
    assert_eq!(page["events"][0]["actor"], "admin");
    assert!(page["events"][0]["hash"].as_str().is_some_and(|h| h.len() == 64));

    let recorded = app.get("/v1/events?type=ActivityRecorded", Some(&auditor)).await.expect(200).json();
    assert_eq!(positions(&recorded), [3, 4, 5]);
    let unites = app.get("/v1/events?programme=unites", Some(&auditor)).await.expect(200).json();
    assert_eq!(positions(&unites), [2]);
    app.get("/v1/events?limit=5000", Some(&auditor)).await.problem(422);
}

#[tokio::test]
async fn the_log_streams_as_ndjson_lines_that_match_the_export() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-01-10").await;
    let answer = app.send(reqwest::Method::GET, "/v1/events", Some(&app.admin), None, &[("accept", "application/x-ndjson")]).await;
    let answer = answer.expect(200);
    assert_eq!(answer.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<&str> = answer.text.lines().collect();
    assert_eq!(lines.len(), 3);
    for (i, line) in lines.iter().enumerate() {
        let envelope = events::Envelope::from_json_line(line).expect("a canonical export line");
        assert_eq!(envelope.position, i as u64 + 1);
    }
}

#[tokio::test]
async fn a_stream_and_a_programme_history_read_in_order() {
    let app = spawn_app().await;
    let coordinator = app.token("alexandra", "coordinator", Some("connection"), None).await;
    let created = app.record_exchange(&coordinator, "torino", "paris", "2021-01-10").await;
    let id = created["id"].as_str().unwrap();
    let correction = json!({"reason": "typo", "changes": {"days": 4}});
    app.post(&format!("/v1/programmes/connection/activities/{id}/corrections"), Some(&coordinator), &correction).await.expect(200);

    let stream = app.get(&format!("/v1/streams/activity-{id}"), Some(&app.admin)).await.expect(200).json();
    assert_eq!(stream["version"], 2);
    let versions: Vec<u64> = stream["events"].as_array().unwrap().iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [1, 2]);
    let later = app.get(&format!("/v1/streams/activity-{id}?from_version=2"), Some(&app.admin)).await.expect(200).json();
    assert_eq!(later["events"][0]["type"], "ActivityCorrected");
    app.get("/v1/streams/activity-nothing", Some(&app.admin)).await.problem(404);

    let history = app.get("/v1/programmes/connection/history", Some(&coordinator)).await.expect(200).json();
    assert_eq!(positions(&history), [1, 3, 4]);
    let page = app.get("/v1/programmes/connection/history?from=2&limit=1", Some(&coordinator)).await.expect(200).json();
    assert_eq!(positions(&page), [3]);
    assert_eq!(page["next_from"], 4);
    app.get("/v1/programmes/unites/history", Some(&coordinator)).await.problem(403);
    app.get("/v1/programmes/atlantis/history", Some(&app.admin)).await.problem(404);
}

#[tokio::test]
async fn verification_recomputes_the_chain_up_to_the_published_head() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-01-10").await;
    let head = app.get("/v1/audit/head", None).await.expect(200).json();
    assert_eq!(head["position"], 3);
    let verified = app.get("/v1/audit/verify", Some(&app.admin)).await.expect(200).json();
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["events"], 3);
    assert_eq!(verified["head"]["hash"], head["hash"]);
    assert_eq!(verified["head"]["position"], 3);
    assert!(verified.get("first_bad_position").is_none());
}

/// Reads server-sent events until `count` have arrived, returning (id, event type) pairs.
pub(crate) async fn next_events(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    count: usize,
) -> Vec<(u64, String)> {
    let mut found = Vec::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut kind = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                }
                if let Some(v) = line.strip_prefix("event:") {
                    kind = Some(v.trim().to_owned());
                }
            }
            if let (Some(id), Some(kind)) = (id, kind) {
                found.push((id, kind));
                if found.len() == count {
                    return found;
                }
            }
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream stays open")
            .expect("a chunk");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn a_subscription_catches_up_in_order_and_then_delivers_a_live_event() {
    let app = spawn_app().await;
    let auditor = app.token("funder", "auditor", None, None).await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-01-10").await;

    let response = app.client.get(app.url("/v1/subscribe?from=2")).bearer_auth(&auditor).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let caught_up = next_events(&mut body, &mut buffer, 2).await;
    assert_eq!(caught_up, [(2, "ProgrammeRegistered".to_owned()), (3, "ActivityRecorded".to_owned())]);

    app.record_exchange(&app.admin, "paris", "torino", "2021-02-10").await;
    let live = next_events(&mut body, &mut buffer, 1).await;
    assert_eq!(live, [(4, "ActivityRecorded".to_owned())]);

    // A reconnection with Last-Event-ID continues after it.
    let response = app
        .client
        .get(app.url("/v1/subscribe"))
        .bearer_auth(&auditor)
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    assert_eq!(next_events(&mut body, &mut buffer, 1).await, [(4, "ActivityRecorded".to_owned())]);
}
