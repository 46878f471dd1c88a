//! axe-core for the browser tests: where its script is (installed by `.ci/install-axe-core`) and the rules every
//! page is held to, shared by the DevTools test (`browser.rs`) and the WebDriver harness (`webdriver.rs`) so the
//! two cannot drift apart.

/// axe-core's script, installed by `.ci/install-axe-core` under `~/.cache/tracker/axe-core` (or
/// `TRACKER_AXE_CORE`).
pub(crate) fn axe_source() -> String {
    let tools = std::env::var_os("TRACKER_AXE_CORE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".cache/tracker/axe-core")))
        .expect("HOME or TRACKER_AXE_CORE is set");
    let script = tools.join("node/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&script).unwrap_or_else(|error| {
        panic!("axe-core is not installed ({}: {error}): run `.ci/install-axe-core` (CI does)", script.display())
    })
}

/// The options of `axe.run`: WCAG 2.0 and 2.1 at levels A and AA, no other rules.
pub(crate) const WCAG_21_AA: &str = "{ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }";
