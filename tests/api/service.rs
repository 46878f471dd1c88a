//! The service endpoints: `/openapi.json` describes every route the server answers (it is generated from the
//! handlers), `/metrics` counts requests by route and status and reports the log's commits, unknown routes and
//! methods are problems too.

use reqwest::Method;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_path_in_the_openapi_description_is_served() {
    let app = spawn_app().await;
    let openapi = app.get("/openapi.json", None).await.expect(200).json();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    let paths = openapi["paths"].as_object().unwrap();
    for expected in ["/v1/programmes", "/v1/programmes/{id}/activities", "/v1/programmes/{id}/progress", "/v1/events",
                     "/v1/subscribe", "/v1/audit/verify", "/v1/tokens", "/healthz", "/metrics", "/openapi.json"] {
        assert!(paths.contains_key(expected), "{expected} is not described");
    }
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "connection")
            .replace("{activity}", "0193a5b0-0000-7000-8000-000000000000")
            .replace("{indicator}", "staff-exchanges")
            .replace("{period}", "p1")
            .replace("{stream}", "programme-connection")
            .replace("{name}", "nobody");
        for method in item.as_object().unwrap().keys() {
            if *method == "get" && path == "/v1/subscribe" {
                continue; // endless; its routing is covered by the log tests
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = app.send(method.clone(), &concrete, None, None, &[]).await;
            let routed = !(answer.status == 404 && answer.text.contains("no such endpoint")) && answer.status != 405;
            assert!(routed, "{method} {path} is described but not routed: {} {}", answer.status, answer.text);
            assert!(answer.status.as_u16() < 500, "{method} {path}: {}", answer.text);
        }
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    app.get("/v2/nothing", None).await.problem(404);
    let answer = app.send(Method::DELETE, "/healthz", None, None, &[]).await;
    assert!(answer.header("allow").is_some());
    answer.problem(405);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_report_the_log() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    app.get("/v1/programmes/atlantis", None).await.problem(404);
    let metrics = app.get("/metrics", None).await.expect(200).text;
    for line in [
        "tracker_http_requests_total{route=\"/v1/programmes/{id}/activities\",method=\"POST\",status=\"201\"} 1",
        "tracker_http_requests_total{route=\"/v1/programmes/{id}\",method=\"GET\",status=\"404\"} 1",
        "tracker_log_head_position 3",
        "tracker_log_events_total 3",
        "tracker_log_batch_events_bucket{le=\"1\"} 3",
        "tracker_log_append_seconds_count 3",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line} in\n{metrics}");
    }
    assert!(metrics.contains("tracker_http_request_duration_seconds_count{route=\"/v1/programmes/{id}/activities\",method=\"POST\"} 1"));
}

#[tokio::test]
async fn metrics_report_the_heap_in_use_and_resident() {
    let app = spawn_app().await;
    let metrics = app.get("/metrics", None).await.expect(200).text;
    let gauge = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name} in\n{metrics}"));
        line[name.len() + 1..].parse().unwrap_or_else(|e| panic!("{line}: {e}"))
    };
    let (allocated, resident) = (gauge("tracker_memory_allocated_bytes"), gauge("tracker_memory_resident_bytes"));
    // The test process holds at least the server's log and projection; the resident pages include the allocated ones.
    assert!(allocated > 1 << 20, "{allocated}");
    assert!(resident >= allocated, "{resident} < {allocated}");
    assert!(metrics.contains("# TYPE tracker_memory_allocated_bytes gauge"));
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let answer = app.get("/healthz", None).await;
    assert!(answer.header("x-request-id").is_some_and(|id| !id.is_empty()));
    let answer = app.send(Method::GET, "/healthz", None, None, &[("x-request-id", "trace-me")]).await;
    assert_eq!(answer.header("x-request-id"), Some("trace-me"));
}
