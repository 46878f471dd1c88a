//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by `.ci/run`) loads the
//! page of a store with recorded activities; the test reads the rendered bars over the DevTools protocol —
//! their widths, numbers and colours as laid out — and keeps a screenshot in `target/test-artefacts/`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::spawn_app;

const CHROMIUM: &str = "chromium";

fn chromium_args(profile: &std::path::Path) -> Vec<String> {
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", "--window-size=1280,2200",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// A headless Chromium with its DevTools endpoint; killed on drop.
struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch() -> Browser {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args(chromium_args(profile.path()))
        .args(["--remote-debugging-port=0", "about:blank"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("chromium runs (apt-get install chromium; .ci/run installs it)");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut port = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
            port = rest.split('/').next().and_then(|p| p.parse().ok());
            break;
        }
    }
    Browser { child, port: port.expect("chromium announces its DevTools port"), _profile: profile }
}

/// One DevTools connection to a page, sending commands and waiting for their answers.
struct Page {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next_id: u64,
}

impl Page {
    async fn open(browser: &Browser) -> Page {
        let targets: Value = reqwest::get(format!("http://127.0.0.1:{}/json/list", browser.port)).await.unwrap().json().await.unwrap();
        let url = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("the DevTools socket");
        Page { socket, next_id: 0 }
    }

    /// Sends a command and returns its result; events that arrive meanwhile are collected in `events`.
    async fn call(&mut self, method: &str, params: Value, events: &mut Vec<Value>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.socket.send(Message::text(json!({"id": id, "method": method, "params": params}).to_string())).await.unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("chromium answers within 30 s")
                .expect("the socket stays open")
                .unwrap();
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"] == id {
                assert!(value.get("error").is_none(), "{method}: {value}");
                return value["result"].clone();
            }
            events.push(value);
        }
    }

    /// Waits for an event by name (it may already have arrived).
    async fn event(&mut self, name: &str, events: &[Value]) {
        if events.iter().any(|e| e["method"] == name) {
            return;
        }
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next()).await.expect(name).unwrap().unwrap();
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["method"] == name {
                    return;
                }
            }
        }
    }
}

const READ_BARS: &str = r#"JSON.stringify([...document.querySelectorAll('[role=progressbar]')].map(bar => ({
    indicator: bar.dataset.indicator,
    now: bar.getAttribute('aria-valuenow'), max: bar.getAttribute('aria-valuemax'), label: bar.getAttribute('aria-label'),
    width: bar.getBoundingClientRect().width,
    filled: bar.querySelector('.fill').getBoundingClientRect().width,
    colour: getComputedStyle(bar.querySelector('.fill')).backgroundColor,
    status: bar.closest('tr').querySelector('.status').textContent })))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_dashboard_bars_with_the_recorded_progress() {
    let app = spawn_app().await;
    for (host, visitor, day) in [("torino", "paris", "2021-10-11"), ("paris", "zagreb", "2021-11-15"), ("zagreb", "torino", "2022-01-20")] {
        app.record_exchange(&app.admin, host, visitor, day).await;
    }
    let grant = json!({"kind": "grant_awarded", "occurred_on": "2021-06-01", "recipient": "torino", "amount": "125000.00", "purpose": "one-stop shop"});
    app.post("/v1/programmes/connection/activities", Some(&app.admin), &grant).await.expect(201);
    let url = app.url("/programmes/connection?as_of=2022-12-31");

    let browser = launch();
    let mut page = Page::open(&browser).await;
    let mut events = Vec::new();
    page.call("Page.enable", json!({}), &mut events).await;
    page.call("Page.navigate", json!({"url": url}), &mut events).await;
    page.event("Page.loadEventFired", &events).await;
    let result = page.call("Runtime.evaluate", json!({"expression": READ_BARS, "returnByValue": true}), &mut events).await;
    let bars: Vec<Value> = serde_json::from_str(result["result"]["value"].as_str().expect("the bars as JSON")).unwrap();

    let bar = |id: &str| bars.iter().find(|b| b["indicator"] == id).unwrap_or_else(|| panic!("no bar {id} in {bars:?}"));
    let exchanges = bar("staff-exchanges");
    assert_eq!(exchanges["now"], "3");
    assert_eq!(exchanges["max"], "14");
    assert_eq!(exchanges["label"], "Staff exchanges: 3 of 14 exchanges, expected 14 by now, ended at 21.4 % of target");
    assert_eq!(exchanges["status"], "ended at 21.4 % of target");
    let ratio = exchanges["filled"].as_f64().unwrap() / exchanges["width"].as_f64().unwrap();
    assert!((ratio - 3.0 / 14.0).abs() < 0.01, "the bar is filled to 3/14, not {ratio}");
    assert_eq!(exchanges["colour"], "rgb(227, 116, 0)", "behind is drawn in orange");

    let grants = bar("grants");
    let ratio = grants["filled"].as_f64().unwrap() / grants["width"].as_f64().unwrap();
    assert!((ratio - 0.5).abs() < 0.01, "EUR 125,000 of 250,000 fills half the bar, not {ratio}");
    assert!(bars.iter().all(|b| b["width"].as_f64().unwrap() > 100.0), "every bar is laid out");

    let artefacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let screenshot = artefacts.join("dashboard-connection.png");
    let _ = std::fs::remove_file(&screenshot);
    let profile = tempfile::tempdir().unwrap();
    let status = Command::new(CHROMIUM)
        .args(chromium_args(profile.path()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert_eq!(&png[1..4], b"PNG");
}
