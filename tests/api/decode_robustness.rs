//! Arbitrary bodies through the real server: any JSON value, any bytes, and valid bodies with one field
//! replaced by an arbitrary value, POSTed to the endpoints that decode bodies. Never a 5xx; every error is a
//! problem, and a 422 names its faults. `TRACKER_FUZZ_CASES` sets the number of cases (default 64); by hand:
//! `TRACKER_FUZZ_CASES=5000 cargo test --release --test api decode_robustness`.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::helpers::{exchange, spawn_app, TestApp};

fn fuzz_cases() -> u32 {
    std::env::var("TRACKER_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![Just("torino"), Just("cop1"), Just("2021-10-11"), Just("staff_exchange"), Just("admin"), Just("")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![".{0,8}", Just("kind".to_owned()), Just("id".to_owned()), Just("name".to_owned())],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The endpoints that decode a body, each with a valid body to start from.
fn endpoints(activity: &str) -> Vec<(String, Value)> {
    let base = "/v1/programmes/connection";
    vec![
        (format!("{base}/activities"), exchange("torino", "asti", "2021-10-11")),
        (format!("{base}/activities/{activity}/corrections"), json!({"changes": {"days": 4}, "reason": "typo"})),
        (format!("{base}/activities/{activity}/retraction"), json!({"reason": "duplicate"})),
        (format!("{base}/activities/{activity}/approval"), json!({"note": "fine"})),
        (format!("{base}/partners"), json!({"id": "p1", "name": "P", "kind": "city", "role": "partner", "country": "IT"})),
        (format!("{base}/clusters"), json!({"id": "c9", "name": "C"})),
        (format!("{base}/periods"), json!({"id": "p9", "starts_on": "2023-01-01", "ends_on": "2023-06-30"})),
        ("/v1/programmes".to_owned(), json!({"id": "x", "name": "X", "coordinator": "c", "starts_on": "2021-01-01", "ends_on": "2022-12-31"})),
        ("/v1/tokens".to_owned(), json!({"name": "t", "role": "auditor"})),
    ]
}

#[derive(Clone, Debug)]
enum Body {
    Json(Value),
    Bytes(Vec<u8>),
    /// A valid body with one field (by index, or a new one) set to this value.
    Field(usize, Value),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        any_json().prop_map(Body::Json),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        (any::<usize>(), any_json()).prop_map(|(i, v)| Body::Field(i, v)),
    ]
}

fn bytes_of(body: &Body, valid: &Value) -> Vec<u8> {
    match body {
        Body::Json(value) => value.to_string().into_bytes(),
        Body::Bytes(bytes) => bytes.clone(),
        Body::Field(index, value) => {
            let mut valid = valid.clone();
            let object = valid.as_object_mut().unwrap();
            let keys: Vec<String> = object.keys().cloned().collect();
            let key = keys.get(index % (keys.len() + 1)).cloned().unwrap_or_else(|| "extra".to_owned());
            object.insert(key, value.clone());
            valid.to_string().into_bytes()
        }
    }
}

async fn check(app: &TestApp, path: &str, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = response.text().await.unwrap_or_default();
    prop_assert!(status < 500, "{path}: {status} {text}");
    if status >= 400 {
        prop_assert_eq!(content_type.as_str(), "application/problem+json", "{}: {} {}", path, status, text);
        let problem: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert!(problem["type"].is_string() && problem["title"].is_string() && problem["status"] == json!(status), "{problem}");
        if status == 422 {
            let faults = problem["errors"].as_array().map(Vec::len).unwrap_or(0);
            prop_assert!(faults > 0 || problem["detail"].is_string(), "{path}: a 422 naming nothing: {problem}");
        }
    }
    Ok(())
}

#[test]
fn arbitrary_bodies_never_get_a_5xx_and_every_error_is_a_problem() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, activity) = runtime.block_on(async {
        let app = spawn_app().await;
        let recorded = app.record_exchange(&app.admin, "torino", "asti", "2021-10-11").await;
        let activity = recorded["id"].as_str().expect("the activity's id").to_owned();
        (app, activity)
    });
    let endpoints = endpoints(&activity);
    let config = ProptestConfig { cases: fuzz_cases(), failure_persistence: None, ..ProptestConfig::default() };
    proptest::test_runner::TestRunner::new(config)
        .run(&(0..endpoints.len(), body()), |(endpoint, body)| {
            let (path, valid) = &endpoints[endpoint];
            runtime.block_on(check(&app, path, bytes_of(&body, valid)))
        })
        .unwrap();
    runtime.block_on(async { app.get("/healthz", None).await.expect(200) });
}
