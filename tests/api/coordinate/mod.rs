//! The coordinator's pages through the real server, as a browser uses them (forms posted, pages read back, the
//! signed-in person a bearer token): the approval queue (`queue.rs`), programme setup (`setup.rs`) and bulk
//! upload (`upload.rs`). What a page did is checked through the JSON API, which must agree with it.

mod queue;
mod setup;
mod upload;

use serde_json::json;

use crate::helpers::TestApp;

/// Registers PILOT, a small programme that requires approval (CONNECTION does not), and returns the tokens of
/// its coordinator and of a recorder for Gent.
pub(crate) async fn pilot(app: &TestApp) -> (String, String) {
    let definition = json!({
        "id": "pilot", "name": "Pilot", "coordinator": "lead", "require_approval": true,
        "starts_on": "2024-01-01", "ends_on": "2025-12-31",
        "partners": [{"id": "lead", "name": "Lead", "kind": "network", "country": "BE", "role": "coordinator"},
                     {"id": "gent", "name": "Gent", "kind": "city", "country": "BE", "role": "core_city"},
                     {"id": "lille", "name": "Lille", "kind": "city", "country": "FR", "role": "core_city"}],
        "clusters": [], "periods": [], "sources": [],
        "indicators": [{"id": "exchanges", "label": "Exchanges", "unit": "exchanges", "target": "2",
                        "measure": {"aggregate": "count", "kinds": ["staff_exchange"]}}]
    });
    app.post("/v1/programmes", Some(&app.admin), &definition).await.expect(201);
    let coordinator = app.token("pilot-coordinator", "coordinator", Some("pilot"), None).await;
    let recorder = app.token("gent-staff", "recorder", Some("pilot"), Some("gent")).await;
    (coordinator, recorder)
}

/// The value of the first input of a page with attribute `attribute` (`name="content"`, `id="partners-id"`), as
/// the page wrote it.
pub(crate) fn input_value(page: &str, attribute: &str) -> Option<String> {
    let at = page.find(attribute)?;
    let tag_start = page[..at].rfind('<')?;
    let tag = &page[tag_start..tag_start + page[tag_start..].find('>')?];
    let value = tag.split(" value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_owned())
}
