//! `spawn_app`: the real server (`tracker::http::Application`) on port 0 over a fresh data directory, seeded
//! with CONNECTION and UNITES, and a client that speaks to it. Tokens for each role are issued over HTTP.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tracker::http::{Application, ServeConfig};

#[derive(Debug)]
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) client: reqwest::Client,
    /// A client that does not follow redirects, as the pages' tests need to see them.
    pub(crate) browser: reqwest::Client,
    pub(crate) admin: String,
    pub(crate) dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// One answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Answer {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts a problem+json answer with this status and returns the problem.
    #[track_caller]
    pub(crate) fn problem(self, status: u16) -> Value {
        let answer = self.expect(status);
        assert_eq!(answer.header("content-type"), Some("application/problem+json"), "{}", answer.text);
        let problem = answer.json();
        assert_eq!(problem["status"], json!(status));
        assert!(problem["type"].as_str().is_some_and(|t| !t.is_empty()) && problem["title"].is_string(), "{problem}");
        problem
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    spawn_in(dir).await
}

/// Starts the server over an existing data directory (fresh or left by an earlier server).
pub(crate) async fn spawn_in(dir: tempfile::TempDir) -> TestApp {
    spawn_with(dir, tracker::http::REQUEST_TIMEOUT).await
}

/// Starts the server over `dir` with this request timeout.
pub(crate) async fn spawn_with(dir: tempfile::TempDir, request_timeout: std::time::Duration) -> TestApp {
    start(dir, None, None, request_timeout).await
}

/// Starts the server with its log in `store`, writing or reading the admin token in `dir`; `admin` is the
/// token when another server on the same store issued it (no token file is written then).
pub(crate) async fn spawn_on(dir: tempfile::TempDir, store: tracker::store::StoreLocation, admin: Option<String>) -> TestApp {
    start(dir, Some(store), admin, tracker::http::REQUEST_TIMEOUT).await
}

async fn start(
    dir: tempfile::TempDir,
    store: Option<tracker::store::StoreLocation>,
    admin: Option<String>,
    request_timeout: std::time::Duration,
) -> TestApp {
    let config = ServeConfig { data: dir.path().to_owned(), store, addr: "127.0.0.1:0".parse().unwrap(), request_timeout };
    let application = Application::build(&config).await.expect("the server starts");
    let addr = application.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    let admin = admin.unwrap_or_else(|| {
        std::fs::read_to_string(dir.path().join("admin.token")).expect("the admin token file").trim().to_owned()
    });
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
    TestApp { addr, client: reqwest::Client::new(), browser, admin, dir, stop: Some(stop), server: Some(server) }
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request with an optional token, JSON body and extra headers.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        Answer { status, headers, text }
    }

    /// POSTs a file of `content_type` with an optional token.
    pub(crate) async fn post_file(&self, path: &str, token: Option<&str>, content_type: &str, file: Vec<u8>) -> Answer {
        let mut request = self.client.post(self.url(path)).header("content-type", content_type).body(file);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let (status, headers) = (response.status(), response.headers().clone());
        Answer { status, headers, text: response.text().await.expect("a body") }
    }

    /// GETs a page as a browser asks for it (`Accept: text/html`), without following a redirect.
    pub(crate) async fn browse(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.browser.get(self.url(path)).header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let (status, headers) = (response.status(), response.headers().clone());
        Answer { status, headers, text: response.text().await.expect("a body") }
    }

    /// POSTs a form (`application/x-www-form-urlencoded`, fields in the order given, a name given several times
    /// for several values) as a browser sends it, without following a redirect.
    pub(crate) async fn post_form(&self, path: &str, token: Option<&str>, fields: &[(&str, &str)]) -> Answer {
        let body = fields.iter().map(|(name, value)| format!("{}={}", form_encoded(name), form_encoded(value))).collect::<Vec<_>>().join("&");
        let mut request = self.browser.post(self.url(path)).header("content-type", "application/x-www-form-urlencoded").body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let (status, headers) = (response.status(), response.headers().clone());
        Answer { status, headers, text: response.text().await.expect("a body") }
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(Method::GET, path, token, None, &[]).await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send(Method::POST, path, token, Some(body), &[]).await
    }

    /// Issues a token over HTTP with the admin token and returns its secret.
    pub(crate) async fn token(&self, name: &str, role: &str, programme: Option<&str>, partner: Option<&str>) -> String {
        let mut body = json!({"name": name, "role": role});
        if let Some(p) = programme {
            body["programme"] = json!(p);
        }
        if let Some(p) = partner {
            body["partner"] = json!(p);
        }
        let answer = self.post("/v1/tokens", Some(&self.admin), &body).await.expect(201);
        answer.json()["token"].as_str().expect("a secret").to_owned()
    }

    /// Records a CONNECTION staff exchange and returns the answer's JSON.
    pub(crate) async fn record_exchange(&self, token: &str, host: &str, visitor: &str, occurred_on: &str) -> Value {
        self.post("/v1/programmes/connection/activities", Some(token), &exchange(host, visitor, occurred_on))
            .await
            .expect(201)
            .json()
    }

    /// Stops the server gracefully and returns its data directory.
    pub(crate) async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().expect("running").send(());
        self.server.take().expect("running").await.expect("the server task").expect("a clean stop");
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A form value as `application/x-www-form-urlencoded` writes it.
fn form_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A staff exchange of CONNECTION in CoP1.
pub(crate) fn exchange(host: &str, visitor: &str, occurred_on: &str) -> Value {
    json!({"kind": "staff_exchange", "occurred_on": occurred_on, "host": host, "visitor": visitor,
           "cluster": "cop1", "days": 5, "staff": 2})
}

/// The indicator of a progress report.
pub(crate) fn indicator<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["indicators"].as_array().expect("indicators").iter().find(|i| i["id"] == id).expect("the indicator")
}

/// How often `eventually` asks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Asks `check` until it gives a value and returns it; fails naming `what` once `within` has passed. The one way
/// these tests wait for something (never a fixed sleep).
pub(crate) async fn eventually<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the wall clock's whole second (Unix time) is later than `second`.
pub(crate) async fn clock_past(second: i64) {
    let later = || async move { (chrono::Utc::now().timestamp() > second).then_some(()) };
    eventually("the clock to pass a second", std::time::Duration::from_secs(5), later).await;
}

impl TestApp {
    /// Waits until `token` is refused (401) where it was admitted, as an expired token is; the answer.
    pub(crate) async fn refused_once_expired(&self, token: &str) -> Answer {
        let refused = || async move {
            let answer = self.get("/v1/audit/verify", Some(token)).await;
            (answer.status == StatusCode::UNAUTHORIZED).then_some(answer)
        };
        eventually("the token to be refused after its expiry", std::time::Duration::from_secs(10), refused).await
    }
}

// Browser pages, as the coordinator's pages are tested (tests/api/coordinate/): pages asked for as a browser asks,
// forms posted as a browser posts them, with a bearer token for the signed-in person, redirects not followed.

/// One part of a multipart form: a text field, or a file with its name and media type.
#[derive(Debug)]
pub(crate) enum Part<'a> {
    Text(&'a str, &'a str),
    File { name: &'a str, file_name: &'a str, media_type: &'a str, bytes: &'a [u8] },
}

impl TestApp {
    /// A client that leaves redirects to the test.
    fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client")
    }

    async fn read(response: reqwest::Response) -> Answer {
        let (status, headers) = (response.status(), response.headers().clone());
        Answer { status, headers, text: response.text().await.expect("a body") }
    }

    /// GETs a page with `Accept: text/html`, as `token`'s holder (or no one).
    pub(crate) async fn page(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.browser().get(self.url(path)).header("accept", "text/html");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::read(request.send().await.expect("the server answers")).await
    }

    /// POSTs a `multipart/form-data` form with `parts` in order, as `token`'s holder.
    pub(crate) async fn post_multipart(&self, path: &str, token: &str, parts: &[Part<'_>]) -> Answer {
        const BOUNDARY: &str = "tracker-test-boundary-5b1f0c";
        let mut body = Vec::new();
        for part in parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match part {
                Part::Text(name, value) => {
                    body.extend_from_slice(format!("content-disposition: form-data; name=\"{name}\"\r\n\r\n{value}").as_bytes());
                }
                Part::File { name, file_name, media_type, bytes } => {
                    let head = format!(
                        "content-disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\ncontent-type: {media_type}\r\n\r\n"
                    );
                    body.extend_from_slice(head.as_bytes());
                    body.extend_from_slice(bytes);
                }
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let request = self.browser().post(self.url(path)).bearer_auth(token).header("accept", "text/html");
        let request = request.header("content-type", format!("multipart/form-data; boundary={BOUNDARY}")).body(body);
        Self::read(request.send().await.expect("the server answers")).await
    }
}
