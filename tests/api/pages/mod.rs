//! The browser's pages for recording and following activities, through the real server. They are signed in with
//! bearer tokens here: a session cookie brings the same principal to the same handlers. `record.rs`: the kind
//! picker, the forms generated from the catalogue, recording, faults next to their fields, who may record;
//! `activity.rs`: the list and its filters, an activity's page with its history, and correcting and retracting.

mod activity;
mod record;

use serde_json::Value;

use crate::helpers::TestApp;

/// The start tag of the element whose id is `id`.
#[track_caller]
fn tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!(" id=\"{id}\"")).unwrap_or_else(|| panic!("no element with id {id}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

/// The markup of the element whose id is `id` up to its closing tag `</{name}>`.
#[track_caller]
fn element<'a>(html: &'a str, id: &str, name: &str) -> &'a str {
    let start_tag = tag(html, id);
    let start = html.find(start_tag).unwrap();
    let end = start + html[start..].find(&format!("</{name}>")).unwrap_or_else(|| panic!("no </{name}> after {id}"));
    &html[start..end]
}

/// The values of the options of the `select` whose id is `id`, the empty choice left out.
#[track_caller]
fn options(html: &str, id: &str) -> Vec<String> {
    element(html, id, "select")
        .split("<option value=\"")
        .skip(1)
        .map(|option| option[..option.find('"').unwrap()].to_owned())
        .filter(|value| !value.is_empty())
        .collect()
}

/// The label of the control whose id is `id`, its text only.
#[track_caller]
fn label_text(html: &str, id: &str) -> String {
    let at = html.find(&format!("<label for=\"{id}\">")).unwrap_or_else(|| panic!("no label for {id}"));
    let rest = &html[at..];
    let end = rest.find("</label>").unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in rest[..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// The error summary at the top of a page.
#[track_caller]
fn summary(html: &str) -> &str {
    let start = html.find("class=\"error-summary\"").expect("an error summary");
    let end = start + html[start..].find("</div>").unwrap();
    &html[start..end]
}

/// An activity through the JSON API.
async fn activity(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/programmes/connection/activities/{id}"), None).await.expect(200).json()
}

/// The id of the activity a 303 after recording leads to.
#[track_caller]
fn recorded_id(answer: &crate::helpers::Answer) -> String {
    assert_eq!(answer.status.as_u16(), 303, "expected a redirect; body: {}", answer.text);
    let location = answer.header("location").expect("a Location");
    let id = location.strip_prefix("/programmes/connection/activities/").unwrap_or_else(|| panic!("{location}"));
    uuid::Uuid::parse_str(id).expect("an activity id").to_string()
}
