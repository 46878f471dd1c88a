//! A WebDriver harness for the pages a person uses, and the dashboard driven through it. `Driver::start` runs
//! Debian's `chromedriver` (chromium-driver, installed by `.ci/run`) on a port it chooses itself; `Driver::session`
//! opens headless Chromium through it as a `Session` that goes to the app's pages, fills fields found by their
//! labels, presses buttons and follows links found by their text, and reads `main`. `Session::check_page` holds a
//! page to what every page must meet at phone (390×844) and desktop (1280×800) size: a screenshot kept in
//! `target/test-artefacts/webdriver/`, no sideways scroll, and no WCAG 2.1 A/AA violation found by axe-core.
//! Every helper fails with a message that says what it looked for and what the page had instead.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::{Element, ElementRef};
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::axe::{axe_source, WCAG_21_AA};
use crate::helpers::{eventually, spawn_app};

/// The browser chromedriver starts: Debian's `chromium` (a wrapper script that sets Debian's flags).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless, and quiet: no sandbox (tests run as root), no GPU, and nothing that reaches beyond the machine
/// (component updates, sync, QUIC, background fetches).
const CHROMIUM_ARGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
];

/// How long chromedriver may take to start and to open a browser, and a page to load (on two busy cores).
const PATIENCE: Duration = Duration::from_secs(30);

/// The sizes every page is checked at: a phone and a desktop.
const WINDOWS: [(u32, u32); 2] = [(390, 844), (1280, 800)];

/// The key under which WebDriver hands an element over to a script and back.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver; it, and every browser it started, are killed on drop.
#[derive(Debug)]
pub(crate) struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver on a port of its own choosing (it says which on its standard output) and waits until
    /// its `/status` says it is ready for sessions.
    pub(crate) async fn start() -> Driver {
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            // Its own process group, which the browsers it starts join: `Drop` ends them all with one signal.
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium-driver; .ci/run installs it)");
        let stdout = BufReader::new(child.stdout.take().expect("chromedriver's standard output"));
        let (announce, announced) = std::sync::mpsc::channel();
        // Reads every line until chromedriver ends, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let port = line.split("started successfully on port ").nth(1);
                if let Some(port) = port.and_then(|p| p.trim_end_matches('.').parse::<u16>().ok()) {
                    let _ = announce.send(port);
                }
            }
        });
        let mut driver = Driver { child, port: 0 };
        let child = &mut driver.child;
        driver.port = eventually("chromedriver to say which port it listens on", PATIENCE, move || {
            let port = announced.try_recv().ok();
            let exited = if port.is_none() { child.try_wait().expect("chromedriver's state") } else { None };
            async move {
                if let Some(status) = exited {
                    panic!("chromedriver exited ({status}) before it listened");
                }
                port
            }
        })
        .await;
        let (http, status) = (reqwest::Client::new(), format!("{}/status", driver.url()));
        let (http, status) = (&http, &status);
        eventually("chromedriver's /status to say it is ready", PATIENCE, || async move {
            let answer: Value = http.get(status).send().await.ok()?.json().await.ok()?;
            (answer["value"]["ready"] == true).then_some(())
        })
        .await;
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Opens headless Chromium with a fresh profile, at desktop size, for the app at `base_url` (e.g.
    /// `app.url("")`): the paths `Session::goto` is given are relative to it.
    pub(crate) async fn session(&self, base_url: &str) -> Session {
        let profile = tempfile::tempdir().expect("a temporary directory for the browser's profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let patience = PATIENCE.as_millis() as u64;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "timeouts": {"pageLoad": patience, "script": patience, "implicit": 0},
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url())
            .await
            .unwrap_or_else(|error| panic!("chromedriver opens a headless Chromium ({CHROMIUM}): {error}"));
        let session = Session { client, base: base_url.trim_end_matches('/').to_owned(), _profile: profile };
        session.resize(1280, 800).await;
        session
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One headless Chromium, driven over WebDriver, with its profile directory (removed on drop).
#[derive(Debug)]
pub(crate) struct Session {
    client: Client,
    base: String,
    _profile: tempfile::TempDir,
}

/// A control or button found by a script: the element, or what the page had instead.
struct Found {
    element: Option<Element>,
    count: u64,
    /// A control's `type`.
    kind: String,
    /// Whether clicking the button or link loads another page (the page is marked to tell it from the next).
    leaves: bool,
    candidates: Value,
}

impl Session {
    /// The fantoccini client, for what the helpers below do not cover.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Loads `path` (e.g. `/programmes/connection?as_of=2022-06-30`) of the app and waits for it to load.
    pub(crate) async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.unwrap_or_else(|error| panic!("loading {url}: {error}"));
    }

    /// The current page's path, without its query.
    pub(crate) async fn current_path(&self) -> String {
        self.current_url().await.path().to_owned()
    }

    /// The current page's whole URL.
    pub(crate) async fn current_url(&self) -> reqwest::Url {
        self.client.current_url().await.expect("the current URL")
    }

    /// The text of the page's `main` as it is rendered (hidden elements left out).
    pub(crate) async fn text(&self) -> String {
        match self.client.find(Locator::Css("main")).await {
            Ok(main) => main.text().await.expect("the text of <main>"),
            Err(error) => panic!("{} has no <main>: {error}", self.here().await),
        }
    }

    /// Gives the control labelled `label` this value as a person would. The label is the `<label>` whose text
    /// (the controls inside it left out), or whose own text outside any child element such as a hint, is `label`;
    /// its control is the one it wraps or names with `for`. A text field is cleared and typed into; a `<select>`
    /// gets the option whose text (or value) is `value`; a checkbox or radio button is clicked until it is checked
    /// (`"on"`) or not (`"off"`); a date, time, colour or range input, whose typing depends on the browser's
    /// locale, is set as a picker sets it, with `input` and `change` events.
    pub(crate) async fn fill(&self, label: &str, value: &str) {
        let found = self.find(FIND_LABELLED, label).await;
        let here = self.here().await;
        let control = match (found.count, found.element) {
            (1, Some(control)) => control,
            (1, None) => panic!("the label '{label}' on {here} labels no control (its `for` names no element)"),
            (count, _) => panic!("{count} labels '{label}' on {here}; its labels are {}", found.candidates),
        };
        let kind = found.kind.as_str();
        match kind {
            "select-one" | "select-multiple" => {
                let options = self.script(FIND_OPTION, vec![json!(control), json!(value)]).await;
                let option = self.element(&options["option"]).unwrap_or_else(|| {
                    panic!("'{label}' on {here} has no option '{value}'; its options are {}", options["options"])
                });
                option.click().await.unwrap_or_else(|e| panic!("choosing '{value}' in '{label}' on {here}: {e}"));
                let chosen = self.script("return arguments[0].selected", vec![json!(option)]).await;
                assert_eq!(chosen, true, "'{value}' is chosen in '{label}' on {here}");
            }
            "checkbox" | "radio" => {
                let wanted = match value {
                    "on" => true,
                    "off" => false,
                    _ => panic!("'{label}' on {here} is a {kind}: fill it with \"on\" or \"off\", not '{value}'"),
                };
                if control.is_selected().await.expect("whether it is checked") != wanted {
                    control.click().await.unwrap_or_else(|e| panic!("clicking the {kind} '{label}' on {here}: {e}"));
                }
                let now = control.is_selected().await.expect("whether it is checked");
                assert_eq!(now, wanted, "the {kind} '{label}' on {here} is not {value} after a click");
            }
            "date" | "datetime-local" | "time" | "month" | "week" | "color" | "range" => {
                let set = self.script(SET_VALUE, vec![json!(control), json!(value)]).await;
                assert_eq!(set, json!(value), "the {kind} input '{label}' on {here} does not take '{value}'");
            }
            _ => {
                control.clear().await.unwrap_or_else(|e| panic!("clearing '{label}' on {here}: {e}"));
                control.send_keys(value).await.unwrap_or_else(|e| panic!("typing into '{label}' on {here}: {e}"));
                let typed = control.prop("value").await.expect("the field's value");
                assert_eq!(typed.as_deref(), Some(value), "'{label}' on {here} holds something else after typing");
            }
        }
    }

    /// Presses the one button (`<button>`, or an `<input>` button) whose text is `text`, and waits for the page
    /// it leads to.
    pub(crate) async fn click_button(&self, text: &str) {
        self.click(BUTTONS, "button", text).await;
    }

    /// Follows the one link whose text is `text`, and waits for the page it leads to.
    pub(crate) async fn click_link(&self, text: &str) {
        self.click(LINKS, "link", text).await;
    }

    /// Checks the current page at phone and desktop size: keeps a screenshot of each in
    /// `target/test-artefacts/webdriver/{name}-{width}.png`, and fails listing every problem found: a page that
    /// scrolls sideways, and each WCAG 2.1 A/AA violation axe-core finds, with its rule, help and elements.
    pub(crate) async fn check_page(&self, name: &str) {
        let artefacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts/webdriver");
        std::fs::create_dir_all(&artefacts).expect("the artefacts directory");
        let axe = axe_source();
        let here = self.here().await;
        let mut problems = Vec::new();
        for (width, height) in WINDOWS {
            self.resize(width, height).await;
            let png = self.client.screenshot().await.expect("a screenshot");
            assert_eq!(png.get(1..4), Some(&b"PNG"[..]), "the screenshot of {here} is a PNG");
            let file = artefacts.join(format!("{name}-{width}.png"));
            std::fs::write(&file, png).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));

            let layout = self.script(READ_WIDTHS, vec![]).await;
            let (scroll, client) = (&layout["scrollWidth"], &layout["clientWidth"]);
            if scroll.as_u64() > client.as_u64() {
                problems.push(format!("at {width} px the page scrolls sideways (scrollWidth {scroll}, clientWidth {client})"));
            }

            let injected = self.script(&format!("{axe}\n;return typeof axe"), vec![]).await;
            assert_eq!(injected, "object", "axe-core is injected into {here}");
            let report = self.client.execute_async(&run_axe(), vec![]).await.expect("axe-core runs");
            assert!(report["error"].is_null(), "axe-core failed on {here}: {}", report["error"]);
            assert!(report["passes"].as_u64() > Some(10), "axe-core ran its rules on {here}: {report}");
            for violation in report["violations"].as_array().expect("axe-core's violations") {
                problems.push(format!(
                    "at {width} px {} ({}): {} — {}",
                    violation["id"].as_str().unwrap_or("?"),
                    violation["impact"].as_str().unwrap_or("?"),
                    violation["help"].as_str().unwrap_or("?"),
                    violation["nodes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
                ));
            }
        }
        assert!(problems.is_empty(), "{name} ({here}): {} problems:\n{}", problems.len(), problems.join("\n"));
    }

    /// Ends the browser's session (chromedriver closes the browser).
    pub(crate) async fn close(self) {
        self.client.close().await.expect("the session ends");
    }

    /// Gives the page's viewport this size. The window has room for browser UI that the viewport does not (143 px
    /// of its height in headless Chromium 156), so it is grown by what the viewport lacks until the viewport fits.
    async fn resize(&self, width: u32, height: u32) {
        let set = |width: i64, height: i64| async move {
            let (w, h) = (u32::try_from(width).unwrap(), u32::try_from(height).unwrap());
            self.client.set_window_size(w, h).await.unwrap_or_else(|e| panic!("resizing the window to {w}×{h}: {e}"));
        };
        set(width.into(), height.into()).await;
        let fits = || async move {
            let viewport = self.script("return [window.innerWidth, window.innerHeight]", vec![]).await;
            let (w, h) = (viewport[0].as_i64().expect("a width"), viewport[1].as_i64().expect("a height"));
            if (w, h) == (width.into(), height.into()) {
                return Some(());
            }
            let (outer_w, outer_h) = self.client.get_window_size().await.expect("the window's size");
            set(outer_w as i64 + i64::from(width) - w, outer_h as i64 + i64::from(height) - h).await;
            None
        };
        eventually(&format!("the viewport to be {width}×{height}"), PATIENCE, fits).await;
    }

    /// Runs `script` (a function body: `arguments` holds `args`) in the page and returns what it returns.
    async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|error| panic!("{:.120}: {error}", script.trim()))
    }

    /// Runs a finding script (`FIND_LABELLED`, or `FIND_BY_TEXT` with its selector bound) for `wanted`.
    async fn find(&self, script: &str, wanted: &str) -> Found {
        let found = self.script(script, vec![json!(wanted)]).await;
        Found {
            element: self.element(&found["element"]),
            count: found["count"].as_u64().expect("a count"),
            kind: found["kind"].as_str().unwrap_or_default().to_owned(),
            leaves: found["leaves"] == true,
            candidates: found["candidates"].clone(),
        }
    }

    /// The element a script returned, if it returned one.
    fn element(&self, value: &Value) -> Option<Element> {
        let id = value.get(ELEMENT_KEY)?.as_str()?;
        Some(Element::from_element_id(self.client.clone(), ElementRef::from(id.to_owned())))
    }

    async fn click(&self, selector: &str, what: &str, text: &str) {
        let found = self.find(&format!("const selector = {};\n{FIND_BY_TEXT}", json!(selector)), text).await;
        let here = self.here().await;
        let element = match (found.count, found.element) {
            (1, Some(element)) => element,
            (count, _) => panic!("{count} {what}s '{text}' on {here}, not one; its {what}s are {}", found.candidates),
        };
        element.click().await.unwrap_or_else(|error| panic!("clicking the {what} '{text}' on {here}: {error}"));
        if found.leaves {
            // chromedriver may answer the click before the browser has begun to leave the page: the page it leads
            // to is the first one without the mark the finding script left, once it has loaded. A script that
            // runs while the browser is between pages fails, which is "not yet".
            let loaded = || async move {
                let state = self.client.execute(PAGE_STATE, vec![]).await.ok()?;
                (state == json!([false, "complete"])).then_some(())
            };
            eventually(&format!("the page that the {what} '{text}' on {here} leads to"), PATIENCE, loaded).await;
        }
    }

    /// Where the browser is, for messages.
    async fn here(&self) -> String {
        self.client.current_url().await.map_or_else(|e| format!("(no URL: {e})"), |url| url.to_string())
    }
}

/// The labels whose text (their controls left out), or whose own text outside their child elements, is
/// `arguments[0]`; the first one's control and its type, and the text of every label.
const FIND_LABELLED: &str = r#"const norm = t => (t || '').replace(/\s+/g, ' ').trim();
const textOf = e => { const copy = e.cloneNode(true);
    copy.querySelectorAll('input, select, textarea, button').forEach(c => c.remove()); return norm(copy.textContent); };
const ownText = e => norm([...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join(' '));
const labels = [...document.querySelectorAll('label')];
const hits = labels.filter(l => textOf(l) === arguments[0] || ownText(l) === arguments[0]);
const control = hits.length ? hits[0].control : null;
return { element: control, count: hits.length, kind: control ? control.type : '',
    candidates: labels.map(l => ownText(l) || textOf(l)) };"#;

/// The shown elements matching `selector` whose text is `arguments[0]` and what all of them say; when there is one,
/// whether clicking it loads another page (a link that is not to a place on this page, a button that submits a
/// form), marking the page if so.
const FIND_BY_TEXT: &str = r#"const norm = t => (t || '').replace(/\s+/g, ' ').trim();
const textOf = e => norm(e.tagName === 'INPUT' ? e.value : e.textContent);
const all = [...document.querySelectorAll(selector)].filter(e => e.getClientRects().length > 0);
const hits = all.filter(e => textOf(e) === arguments[0]);
const hit = hits.length === 1 ? hits[0] : null;
const leaves = hit !== null && (hit.tagName === 'A'
    ? !(hit.hash && hit.href.split('#')[0] === location.href.split('#')[0])
    : hit.type === 'submit' && hit.form !== null);
if (leaves) document.harnessLeaving = true;
return { element: hit, count: hits.length, leaves, candidates: all.map(textOf) };"#;

/// Whether the page is the one a click left (marked by `FIND_BY_TEXT`), and how far it has loaded.
const PAGE_STATE: &str = "return [document.harnessLeaving === true, document.readyState]";

const BUTTONS: &str = "button, input[type=submit], input[type=button], input[type=reset]";
const LINKS: &str = "a[href]";

/// The option of `arguments[0]` (a select) whose text, or else whose value, is `arguments[1]`; every option's.
const FIND_OPTION: &str = r#"const [select, wanted] = arguments;
const all = [...select.options];
const text = o => o.text.replace(/\s+/g, ' ').trim();
const option = all.find(o => text(o) === wanted) || all.find(o => o.value === wanted) || null;
return { option, options: all.map(o => ({ text: text(o), value: o.value })) };"#;

/// Sets the value of `arguments[0]` to `arguments[1]` as a picker does, and returns the value it took.
const SET_VALUE: &str = r#"const [control, value] = arguments;
control.focus();
control.value = value;
control.dispatchEvent(new Event('input', { bubbles: true }));
control.dispatchEvent(new Event('change', { bubbles: true }));
return control.value;"#;

/// How wide the page is against its viewport.
const READ_WIDTHS: &str = "return { scrollWidth: document.documentElement.scrollWidth, \
    clientWidth: document.documentElement.clientWidth };";

/// axe-core (injected) over the page with the WCAG 2.1 A/AA rules; its answer through the callback WebDriver gives
/// an asynchronous script.
fn run_axe() -> String {
    format!(
        "const done = arguments[arguments.length - 1];\n\
         axe.run(document, {WCAG_21_AA}).then(r => done({{ passes: r.passes.length, violations: r.violations.map(v =>\n\
         ({{ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')) }})) }}),\n\
         e => done({{ error: String(e) }}));"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_opens_a_programme_from_the_index_and_is_told_when_a_date_cannot_be_read() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let browser = driver.session(&app.url("")).await;

    browser.goto("/").await;
    browser.check_page("index").await;
    browser.click_link("CONNEcting Cities Towards Integration actiON").await;
    assert_eq!(browser.current_path().await, "/programmes/connection");
    let text = browser.text().await;
    assert!(text.contains("Staff exchanges") && text.contains("Latest activities"), "the programme page: {text}");
    browser.check_page("programme").await;

    browser.fill("As of", "2021-12-31").await;
    browser.click_button("Show").await;
    assert_eq!(browser.current_url().await.query(), Some("as_of=2021-12-31&known_at="));
    assert!(browser.text().await.contains("as of 2021-12-31"), "the figures as of the date filled in");

    browser.goto("/programmes/connection?as_of=not-a-date").await;
    let summary = browser.client().find(Locator::Css(".error-summary[role=alert]")).await.expect("an error summary");
    let summary = summary.text().await.unwrap();
    assert!(
        summary.contains("There is a problem") && summary.contains("'not-a-date' is not a date; write it YYYY-MM-DD"),
        "the error summary: {summary}"
    );
    browser.check_page("programme-error").await;
    browser.close().await;
}

/// Controls of every kind the harness fills, labelled in both ways; put into a page for
/// `the_harness_fills_labelled_controls_and_fails_on_what_is_not_there`.
const HARNESS_FORM: &str = r#"document.querySelector('main').insertAdjacentHTML('beforeend', `<form aria-label="Harness">
    <label for="harness-name">Name</label> <input id="harness-name" value="someone">
    <label>Colour <select id="harness-colour"><option>red</option><option value="g">green</option></select></label>
    <label><input type="checkbox" id="harness-agree"> I agree</label>
    <label>Notes <small>two lines at most</small> <textarea id="harness-notes"></textarea></label></form>`)"#;

/// What the harness's controls hold.
const HARNESS_VALUES: &str = "const $ = id => document.getElementById(id);
    return [$('harness-name').value, $('harness-colour').value, $('harness-agree').checked, $('harness-notes').value]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_fills_labelled_controls_and_fails_on_what_is_not_there() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let browser = driver.session(&app.url("")).await;
    browser.goto("/programmes/connection").await;
    browser.client().execute(HARNESS_FORM, vec![]).await.unwrap();
    browser.fill("Name", "Ada Lovelace").await;
    browser.fill("Colour", "green").await;
    browser.fill("I agree", "on").await;
    browser.fill("Notes", "one\ntwo").await;
    let values = browser.client().execute(HARNESS_VALUES, vec![]).await.unwrap();
    assert_eq!(values, json!(["Ada Lovelace", "g", true, "one\ntwo"]));
    browser.fill("Colour", "red").await;
    browser.fill("I agree", "off").await;
    let values = browser.client().execute(HARNESS_VALUES, vec![]).await.unwrap();
    assert_eq!(values, json!(["Ada Lovelace", "red", false, "one\ntwo"]));

    let failure = |outcome: Result<(), Box<dyn std::any::Any + Send>>| match outcome {
        Ok(()) => panic!("the harness let a mistake pass"),
        Err(payload) => payload.downcast::<String>().map(|m| *m).unwrap_or_default(),
    };
    let missing = failure(AssertUnwindSafe(browser.fill("Favourite colour", "green")).catch_unwind().await);
    assert!(missing.contains("0 labels 'Favourite colour'") && missing.contains("As of"), "{missing}");
    let missing = failure(AssertUnwindSafe(browser.fill("Colour", "blue")).catch_unwind().await);
    assert!(missing.contains("no option 'blue'") && missing.contains("green"), "{missing}");
    let missing = failure(AssertUnwindSafe(browser.click_button("Approve")).catch_unwind().await);
    assert!(missing.contains("0 buttons 'Approve'") && missing.contains("Show"), "{missing}");

    let break_page = "document.querySelector('main').insertAdjacentHTML('beforeend', \
        '<img src=\"data:,\"><div style=\"width: 3000px\">wide</div>')";
    browser.client().execute(break_page, vec![]).await.unwrap();
    let problems = failure(AssertUnwindSafe(browser.check_page("harness-broken")).catch_unwind().await);
    assert!(problems.contains("at 390 px the page scrolls sideways"), "{problems}");
    assert!(problems.contains("at 1280 px image-alt (critical): Images must have alternative text — img"), "{problems}");
    browser.close().await;
}
