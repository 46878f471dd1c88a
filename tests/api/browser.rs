//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by `.ci/run`) loads the
//! page of a store with recorded activities; the test reads the rendered bars over the DevTools protocol —
//! their widths, numbers and colours as laid out — and keeps a screenshot in `target/test-artefacts/`. Every
//! dashboard page, error pages included, is then checked at phone (390×844) and desktop (1280×800) size: no
//! sideways scroll of the page, tables in scroll regions that the Tab key reaches, and no WCAG 2.1 A/AA
//! violation found by axe-core (npm, pinned; installed by `.ci/install-axe-core`) injected into the page.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::axe::{axe_source, WCAG_21_AA};
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

    /// Loads `url` and waits for its load event.
    async fn navigate(&mut self, url: &str) {
        let mut events = Vec::new();
        let answer = self.call("Page.navigate", json!({"url": url}), &mut events).await;
        assert!(answer.get("errorText").is_none(), "{url}: {answer}");
        self.event("Page.loadEventFired", &events).await;
    }

    /// Evaluates `expression` (awaiting it when it is a promise) and returns its value.
    async fn evaluate(&mut self, expression: &str) -> Value {
        let mut events = Vec::new();
        let params = json!({"expression": expression, "returnByValue": true, "awaitPromise": true});
        let result = self.call("Runtime.evaluate", params, &mut events).await;
        assert!(result.get("exceptionDetails").is_none(), "{expression:.80}: {result}");
        result["result"]["value"].clone()
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
    assert_eq!(exchanges["label"], "Staff exchanges: 3 of 14 exchanges, expected 14 by the end, ended at 21.4 % of target");
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

/// axe-core's rules (`options`: WCAG 2.1 A and AA) on the page; the violations as `rule (impact): help — targets`.
const RUN_AXE: &str = r#"options => axe.run(document, options)
    .then(r => JSON.stringify({ passes: r.passes.length, violations: r.violations.map(v =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map(n => n.target.join(' ')).join(', ')}`) }))"#;

/// How wide the page is against the viewport, and what the page's scroll regions are.
const READ_LAYOUT: &str = r#"JSON.stringify({
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    regions: [...document.querySelectorAll('.scroll')].map(r => ({ tabindex: r.getAttribute('tabindex'),
        role: r.getAttribute('role'), name: r.getAttribute('aria-label') || '', scrolls: r.scrollWidth > r.clientWidth })),
    tables: document.querySelectorAll('table').length,
    tablesInRegions: document.querySelectorAll('.scroll[role=region][tabindex="0"] table').length })"#;

/// Presses Tab until the focus is on a scroll region, at most `presses` times; the region's name, if reached.
async fn tab_to_a_region(page: &mut Page, presses: usize) -> Option<String> {
    page.evaluate("document.activeElement && document.activeElement.blur(), window.focus(), true").await;
    for _ in 0..presses {
        let mut events = Vec::new();
        for kind in ["keyDown", "keyUp"] {
            let key = json!({"type": kind, "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9});
            page.call("Input.dispatchKeyEvent", key, &mut events).await;
        }
        let focused = page.evaluate("document.activeElement.classList.contains('scroll') ? document.activeElement.getAttribute('aria-label') : null").await;
        if let Some(name) = focused.as_str() {
            return Some(name.to_owned());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_page_passes_axe_and_fits_a_phone_and_a_desktop() {
    let axe = axe_source();
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let grant = json!({"kind": "grant_awarded", "occurred_on": "2021-06-01", "recipient": "torino", "amount": "125000.00", "purpose": "one-stop shop"});
    app.post("/v1/programmes/connection/activities", Some(&app.admin), &grant).await.expect(201);
    let known_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let pages = [
        "/".to_owned(),
        "/programmes/connection".to_owned(),
        "/programmes/unites".to_owned(),
        format!("/programmes/connection?as_of=2021-12-31&known_at={known_at}"),
        "/programmes/atlantis".to_owned(),
        "/programmes/connection?as_of=2022-13-01".to_owned(),
    ];

    let browser = launch();
    let mut page = Page::open(&browser).await;
    let mut events = Vec::new();
    page.call("Page.enable", json!({}), &mut events).await;
    let mut failures = Vec::new();
    for (width, height) in [(390, 844), (1280, 800)] {
        let metrics = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600});
        page.call("Emulation.setDeviceMetricsOverride", metrics, &mut events).await;
        for path in &pages {
            page.navigate(&app.url(path)).await;
            let layout: Value = serde_json::from_str(page.evaluate(READ_LAYOUT).await.as_str().unwrap()).unwrap();
            let (scroll_width, inner_width) = (layout["scrollWidth"].as_i64().unwrap(), layout["innerWidth"].as_i64().unwrap());
            // A phone widens its layout viewport (innerWidth) to fit content wider than the screen.
            if scroll_width > inner_width || inner_width > width {
                failures.push(format!(
                    "{path} at {width} px: the page scrolls sideways (scrollWidth {scroll_width}, innerWidth {inner_width})"
                ));
            }
            if layout["tables"] != layout["tablesInRegions"] {
                failures.push(format!("{path} at {width} px: a table outside a focusable scroll region: {layout}"));
            }
            for region in layout["regions"].as_array().unwrap() {
                if region["tabindex"] != "0" || region["role"] != "region" || region["name"] == "" {
                    failures.push(format!("{path} at {width} px: a scroll region the keyboard cannot reach by name: {region}"));
                }
            }
            if path == "/programmes/connection" && width == 390 {
                let regions = layout["regions"].as_array().unwrap();
                if !regions.iter().any(|r| r["scrolls"] == true) {
                    failures.push(format!("{path} at 390 px: no table scrolls in its region: {layout}"));
                }
                if tab_to_a_region(&mut page, 20).await.is_none() {
                    failures.push(format!("{path} at 390 px: 20 presses of Tab reach no table's scroll region"));
                }
            }

            page.evaluate(&format!("{axe}\n;true")).await;
            let report = page.evaluate(&format!("({RUN_AXE})({WCAG_21_AA})")).await;
            let report: Value = serde_json::from_str(report.as_str().unwrap()).unwrap();
            assert!(report["passes"].as_u64().unwrap() > 10, "axe ran its rules on {path}: {report}");
            for violation in report["violations"].as_array().unwrap() {
                failures.push(format!("{path} at {width} px: {}", violation.as_str().unwrap()));
            }
        }
    }
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
}
