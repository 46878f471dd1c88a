//! Bad input at the edges of the HTTP API: oversized bodies (also with a lying `Content-Length` and chunked),
//! deep JSON nesting, invalid UTF-8 in the body, path and query, huge numbers, very long strings and header
//! values, and slow clients (a short `request_timeout`: a slow body is answered 408, slow headers are cut off,
//! others are served meanwhile, and SSE is not cut). Every answer is a problem, never a 5xx.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{exchange, spawn_app, spawn_with, Answer, TestApp};

const ACTIVITIES: &str = "/v1/programmes/connection/activities";

/// One raw HTTP/1.1 exchange: `head` (request line and headers, without the blank line) and `body` are written
/// as given, with `Connection: close`; the answer is read to the end and split into status, headers and body.
async fn raw(app: &TestApp, head: &[u8], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head).await.unwrap();
    stream.write_all(format!("\r\nHost: {}\r\nConnection: close\r\n\r\n", app.addr).as_bytes()).await.unwrap();
    // The server may answer (and close) before it read the whole body: a failed write is not the test's point.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    split(&answer)
}

fn split(answer: &[u8]) -> (u16, String, Vec<u8>) {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| {
        panic!("no complete answer: {:?}", String::from_utf8_lossy(answer));
    });
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    (status, head.to_ascii_lowercase(), answer[end + 4..].to_vec())
}

/// A raw answer that must be a problem with this status; returns the problem.
#[track_caller]
fn raw_problem((status, head, body): (u16, String, Vec<u8>), expected: u16) -> Value {
    assert_eq!(status, expected, "{head}\n{}", String::from_utf8_lossy(&body));
    assert!(head.contains("content-type: application/problem+json"), "{head}");
    let body = if head.contains("transfer-encoding: chunked") { dechunk(&body) } else { body };
    let problem: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    assert_eq!(problem["status"], json!(expected), "{problem}");
    assert!(problem["type"].is_string() && problem["title"].is_string(), "{problem}");
    problem
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

async fn post_bytes(app: &TestApp, path: &str, body: Vec<u8>) -> Answer {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    Answer { status, headers, text: response.text().await.unwrap() }
}

/// The faults' fields of a 422.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().into_iter().flatten().map(|f| f["field"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_with_its_length_announced_lying_or_chunked() {
    let app = spawn_app().await;
    let mut big = exchange("torino", "asti", "2021-10-11");
    big["note"] = json!("x".repeat(70 * 1024));
    post_bytes(&app, ACTIVITIES, big.to_string().into_bytes()).await.problem(413);

    // Content-Length announces 10 MB and the client sends a little: refused from the header alone.
    let head = format!("POST {ACTIVITIES} HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 10000000", app.admin);
    raw_problem(raw(&app, head.as_bytes(), b"{}").await, 413);

    // Chunked, without a length: counted as it arrives.
    let head = format!("POST {ACTIVITIES} HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked", app.admin);
    let mut body = Vec::new();
    for _ in 0..70 {
        body.extend_from_slice(format!("{:x}\r\n{}\r\n", 1024, " ".repeat(1024)).as_bytes());
    }
    body.extend_from_slice(b"0\r\n\r\n");
    raw_problem(raw(&app, head.as_bytes(), &body).await, 413);

    // Content-Length announces less than is sent: the body is what was announced, which is not JSON.
    let head = format!("POST {ACTIVITIES} HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 10", app.admin);
    raw_problem(raw(&app, head.as_bytes(), exchange("torino", "asti", "2021-10-11").to_string().as_bytes()).await, 400);
    app.get("/healthz", None).await.expect(200);
}

#[tokio::test]
async fn json_nested_ten_thousand_deep_is_400_without_overflowing_the_stack() {
    let app = spawn_app().await;
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let body = format!("{}1{}", open.repeat(10_000), close.repeat(10_000));
        let problem = post_bytes(&app, ACTIVITIES, body.into_bytes()).await.problem(400);
        assert!(problem["detail"].as_str().unwrap().contains("not valid JSON"), "{problem}");
    }
    // Deep but well within the limit, inside a known field: a 422 naming the field.
    let mut body = exchange("torino", "asti", "2021-10-11");
    body["days"] = serde_json::from_str(&format!("{}1{}", "[".repeat(100), "]".repeat(100))).unwrap();
    assert!(fields(&post_bytes(&app, ACTIVITIES, body.to_string().into_bytes()).await.problem(422)).contains(&"days".to_owned()));
    app.get("/healthz", None).await.expect(200);
}

#[tokio::test]
async fn invalid_utf8_in_the_body_the_path_and_the_query_is_a_problem() {
    let app = spawn_app().await;
    let problem = post_bytes(&app, ACTIVITIES, b"{\"kind\":\"staff_\xff\xfeexchange\"}".to_vec()).await.problem(400);
    assert!(problem["detail"].as_str().unwrap().contains("not valid JSON"), "{problem}");

    // Percent-encoded bytes that are not UTF-8, in a path segment and in a query value.
    raw_problem(raw(&app, b"GET /v1/programmes/%FF%FE HTTP/1.1", b"").await, 400);
    raw_problem(raw(&app, b"GET /v1/programmes/connection/activities/%C3%28 HTTP/1.1", b"").await, 400);
    let problem = raw_problem(raw(&app, b"GET /v1/programmes/connection/progress?as_of=%FF HTTP/1.1", b"").await, 422);
    assert!(fields(&problem).is_empty() || fields(&problem).iter().all(|f| f.is_empty() || f == "as_of"), "{problem}");
    // A raw byte over 0x7f in the request line is refused by the HTTP parser; the server goes on serving.
    let (status, _, _) = raw(&app, b"GET /v1/programmes/\xff HTTP/1.1", b"").await;
    assert_eq!(status, 400);
    // In a header value.
    let head = [&b"GET /v1/programmes/connection HTTP/1.1\r\nAuthorization: Bearer \xff\xfe"[..]].concat();
    raw_problem(raw(&app, &head, b"").await, 401);
    let head = format!("POST {ACTIVITIES} HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nIdempotency-Key: \u{e9}t\u{e9}", app.admin);
    raw_problem(raw(&app, head.as_bytes(), b"{}").await, 400);
    app.get("/healthz", None).await.expect(200);
}

#[tokio::test]
async fn huge_and_odd_numbers_are_refused_naming_their_field() {
    let app = spawn_app().await;
    // Beyond f64: not valid JSON for the server's parser.
    let body = exchange("torino", "asti", "2021-10-11").to_string().replace("\"days\":5", "\"days\":1e400");
    post_bytes(&app, ACTIVITIES, body.into_bytes()).await.problem(400);
    for (field, value) in [
        ("days", "18446744073709551616"),
        ("days", "18446744073709551615"),
        ("days", "-0"),
        ("days", "-1"),
        ("days", "1.5"),
        ("staff", "9223372036854775808"),
    ] {
        let body = exchange("torino", "asti", "2021-10-11")
            .to_string()
            .replace(&format!("\"{field}\":{}", if field == "days" { 5 } else { 2 }), &format!("\"{field}\":{value}"));
        let problem = post_bytes(&app, ACTIVITIES, body.into_bytes()).await.problem(422);
        assert_eq!(fields(&problem), vec![field.to_owned()], "{field}={value}: {problem}");
    }
    for amount in ["99999999999999999999.99", "\"99999999999999999999.99\"", "1e400", "-0.001", "0.001"] {
        let body = format!(
            r#"{{"kind":"grant_awarded","occurred_on":"2021-10-11","recipient":"torino","amount":{amount},"purpose":"x"}}"#
        );
        let answer = post_bytes(&app, ACTIVITIES, body.into_bytes()).await;
        if amount == "1e400" {
            answer.problem(400);
        } else {
            let problem = answer.problem(422);
            assert!(fields(&problem).iter().any(|f| f == "amount"), "amount {amount}: {problem}");
        }
    }
    let participants = r#"{"kind":"conference_held","occurred_on":"2021-10-11","host":"torino","participants":{"total":9223372036854775808}}"#;
    let problem = post_bytes(&app, ACTIVITIES, participants.as_bytes().to_vec()).await.problem(422);
    assert!(fields(&problem).iter().any(|f| f.starts_with("participants")), "{problem}");
    // Query numbers: positions beyond u64.
    let answer = app.get("/v1/events?from=18446744073709551616", Some(&app.admin)).await;
    assert!(fields(&answer.problem(422)).contains(&"from".to_owned()));
    app.get("/healthz", None).await.expect(200);
}

#[tokio::test]
async fn very_long_strings_and_header_values_are_refused_or_cut_not_5xx() {
    let app = spawn_app().await;
    // A 60 KiB note fits under the body limit: the domain decides (no note this long is taken).
    let mut body = exchange("torino", "asti", "2021-10-11");
    body["host"] = json!("t".repeat(60 * 1024));
    let problem = app.post(ACTIVITIES, Some(&app.admin), &body).await.problem(422);
    assert!(fields(&problem).contains(&"host".to_owned()), "{problem}");
    // A long path segment and query value.
    app.get(&format!("/v1/programmes/{}", "p".repeat(8 * 1024)), None).await.problem(404);
    let answer = app.get(&format!("/v1/programmes/connection/progress?as_of={}", "9".repeat(8 * 1024)), None).await;
    assert!(fields(&answer.problem(422)).contains(&"as_of".to_owned()));
    // An 8 KiB Idempotency-Key and token: refused by the API.
    let key = "k".repeat(8 * 1024);
    app.send(reqwest::Method::POST, ACTIVITIES, Some(&app.admin), Some(&exchange("torino", "asti", "2021-10-11")), &[("idempotency-key", &key)])
        .await
        .problem(400);
    app.get("/v1/programmes", Some(&key)).await.problem(401);
    // Headers beyond what the HTTP parser buffers (1 MiB): the connection is refused by hyper, not served.
    let head = format!("GET /healthz HTTP/1.1\r\nX-Filler: {}", "f".repeat(1024 * 1024));
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(b"\r\nConnection: close\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || text.starts_with("HTTP/1.1 431") || text.starts_with("HTTP/1.1 400"), "{text}");
    app.get("/healthz", None).await.expect(200);
}

#[tokio::test]
async fn a_request_without_a_token_is_401_whatever_else_is_wrong_with_it() {
    let app = spawn_app().await;
    let body = exchange("torino", "asti", "2021-10-11");
    let activity = "/v1/programmes/connection/activities/0190a0b0-0000-7000-8000-000000000001";
    for (method, path, header) in [
        (reqwest::Method::POST, ACTIVITIES.to_owned(), ("idempotency-key", "")),
        (reqwest::Method::POST, format!("{activity}/corrections"), ("if-match", "null")),
        (reqwest::Method::POST, format!("{activity}/retraction"), ("if-match", "@")),
        (reqwest::Method::PUT, "/v1/programmes/connection/indicators/x".to_owned(), ("if-match", "'")),
    ] {
        app.send(method.clone(), &path, None, Some(&body), &[header]).await.problem(401);
        // With a token, the header is what is wrong.
        app.send(method, &path, Some(&app.admin), Some(&body), &[header]).await.problem(400);
    }
}

/// The server with a one-second request timeout.
/// Its client opens a new connection per request: the server closes idle kept-alive connections after the
/// timeout, and a request sent on one just as it closes would fail.
async fn impatient() -> TestApp {
    let mut app = spawn_with(tempfile::tempdir().unwrap(), Duration::from_secs(1)).await;
    app.client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    app
}

#[tokio::test]
async fn a_client_sending_its_body_slowly_gets_408_and_others_are_served_meanwhile() {
    let app = impatient().await;
    let body = exchange("torino", "asti", "2021-10-11").to_string();
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {ACTIVITIES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.admin,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    // Meanwhile another client is served at once.
    app.get("/healthz", None).await.expect(200);
    // The rest of the body never comes: the answer is a 408 problem once the timeout passed.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await.expect("answered").unwrap();
    raw_problem(split(&answer), 408);
    // Nothing was recorded.
    let list = app.get(ACTIVITIES, None).await.expect(200).json();
    assert_eq!(list["activities"], json!([]), "{list}");
}

#[tokio::test]
async fn a_client_sending_its_headers_slowly_is_cut_off() {
    let app = impatient().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    app.get("/healthz", None).await.expect(200);
    // The headers never end: the server closes the connection (after at most an error status) by itself.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was still open after 30 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    // A connection that sends nothing at all is cut off too.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), idle.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "an idle connection was still open after 30 s");
}

#[tokio::test]
async fn sse_outlives_the_request_timeout() {
    let app = impatient().await;
    let mut events = app
        .client
        .get(app.url("/v1/subscribe"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap()
        .expect_ok_stream();
    // The seeds' events come first.
    let mut seen = String::new();
    while !seen.contains("id: 2\n") {
        seen.push_str(&String::from_utf8_lossy(&events.chunk().await.unwrap().expect("the stream goes on")));
    }
    // A slow request on another connection is answered 408: the timeout has passed for the stream too.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!("POST {ACTIVITIES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{", app.admin);
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert_eq!(split(&answer).0, 408);
    // The stream is still open and delivers the next event.
    app.record_exchange(&app.admin, "torino", "asti", "2021-10-11").await;
    while !seen.contains("id: 3\n") {
        seen.push_str(&String::from_utf8_lossy(&events.chunk().await.unwrap().expect("the stream was cut")));
    }
    assert!(seen.contains("event: ActivityRecorded") || seen.contains("staff_exchange"), "{seen}");
}

trait ExpectOk {
    fn expect_ok_stream(self) -> Self;
}

impl ExpectOk for reqwest::Response {
    fn expect_ok_stream(self) -> Self {
        assert_eq!(self.status(), 200);
        self
    }
}
