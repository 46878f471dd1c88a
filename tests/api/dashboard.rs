//! The dashboard's HTML: a bar per indicator with its numbers for assistive technology; a programme page that
//! re-renders as of a date and as known at a moment, and shows a programme that has ended as of its end date;
//! partners and clusters by name, every one listed; money with thousands and currency; the latest activities by
//! date; a Show form that does not freeze the moment it was loaded; HTML error pages for a browser.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{clock_past, spawn_app, TestApp};

/// The `aria-valuenow` of the bar of `indicator` in `html`.
fn bar_value(html: &str, indicator: &str) -> String {
    let marker = format!("data-indicator=\"{indicator}\"");
    let tag_end = html.find(&marker).unwrap_or_else(|| panic!("no bar for {indicator}"));
    let tag_start = html[..tag_end].rfind("<div").unwrap();
    let tag = &html[tag_start..tag_end];
    assert!(tag.contains("role=\"progressbar\""), "{tag}");
    let value = tag.split("aria-valuenow=\"").nth(1).unwrap();
    value[..value.find('"').unwrap()].to_owned()
}

/// The `<input …>` tag named `name` in `html`.
fn input<'a>(html: &'a str, name: &str) -> &'a str {
    let at = html.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("no input {name}"));
    let start = html[..at].rfind("<input").unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

/// A page as a browser asks for it.
async fn browse(app: &TestApp, path: &str) -> crate::helpers::Answer {
    app.send(Method::GET, path, None, None, &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]).await
}

fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[tokio::test]
async fn the_dashboard_shows_a_bar_per_indicator_that_moves_with_a_recorded_exchange() {
    let app = spawn_app().await;
    let before = app.get("/", None).await.expect(200);
    assert!(before.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(bar_value(&before.text, "staff-exchanges"), "0");
    assert!(before.text.contains("Staff exchanges: 0 of 14 exchanges"));

    let created = app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let after = app.get("/", None).await.expect(200).text;
    assert_eq!(bar_value(&after, "staff-exchanges"), "1");
    assert!(after.contains("UNITES") || after.contains("unites"), "every programme is listed");

    let page = app.get("/programmes/connection?as_of=2022-12-31", None).await.expect(200).text;
    assert_eq!(bar_value(&page, "staff-exchanges"), "1");
    assert!(page.contains("By partner") && page.contains(">Torino<"), "the breakdown by partner");
    assert!(page.contains("1,874,876.03 EUR"), "the budget");
    assert!(page.contains(created["id"].as_str().unwrap()), "the latest activities");

    let earlier = app.get("/programmes/connection?as_of=2021-01-01", None).await.expect(200).text;
    assert_eq!(bar_value(&earlier, "staff-exchanges"), "0");
    let known_before = app.get("/programmes/connection?as_of=2022-12-31&known_at=2020-01-01T00:00:00Z", None).await;
    known_before.problem(404);
    app.get("/programmes/atlantis", None).await.problem(404);
}

#[tokio::test]
async fn a_programme_that_has_ended_is_shown_as_of_its_end_date_and_says_so() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    // CONNECTION ran 2020–2022: without a date it is shown as of 2022-12-31, with its final figures.
    let page = app.get("/programmes/connection", None).await.expect(200).text;
    assert!(page.contains("ended on 2022-12-31; final figures"), "{page}");
    assert!(page.contains("Staff exchanges: 1 of 14 exchanges, expected 14 by the end, ended at 7.1 % of target"), "{page}");
    assert!(!page.contains(">behind<"), "no indicator reads behind against today's date");
    let index = app.get("/", None).await.expect(200).text;
    assert!(index.contains("ended on 2022-12-31; final figures"), "the list says it too");
    assert!(index.contains("ended at 7.1 % of target"));

    // An explicit date still wins.
    let asked = app.get("/programmes/connection?as_of=2021-06-30", None).await.expect(200).text;
    assert!(!asked.contains("final figures") && asked.contains("as of 2021-06-30"), "{asked}");
    assert!(asked.contains("Staff exchanges: 0 of 14 exchanges, expected "), "{asked}");
    assert!(asked.contains(" by 2021-06-30, "), "the expected value is the one of the date asked: {asked}");
    assert!(asked.contains(">behind<") || asked.contains(">on track<"), "{asked}");
    // The JSON API's default is unchanged: today.
    let report = app.get("/v1/programmes/connection/progress", None).await.expect(200).json();
    assert_eq!(report["as_of"], chrono::Utc::now().date_naive().to_string());
}

#[tokio::test]
async fn partners_and_clusters_are_shown_by_name_every_one_with_zeros() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let page = app.get("/programmes/connection", None).await.expect(200).text;
    let programme = app.get("/v1/programmes/connection", None).await.expect(200).json();
    let by_partner = &page[page.find("id=\"by-partner\"").unwrap()..page.find("id=\"by-cluster\"").unwrap()];
    let by_cluster = &page[page.find("id=\"by-cluster\"").unwrap()..page.find("id=\"budget\"").unwrap()];
    let partners = programme["partners"].as_array().unwrap();
    assert!(partners.len() > 20);
    for partner in partners {
        let row = format!("<th scope=\"row\">{}</th>", escaped(partner["name"].as_str().unwrap()));
        assert!(by_partner.contains(&row), "{row} in the breakdown by partner");
    }
    for cluster in programme["clusters"].as_array().unwrap() {
        let row = format!("<th scope=\"row\">{}</th>", escaped(cluster["name"].as_str().unwrap()));
        assert!(by_cluster.contains(&row), "{row} in the breakdown by cluster");
    }
    assert!(by_cluster.contains("<th scope=\"row\">no cluster</th>"));
    assert!(!by_partner.contains(">torino<") && !by_cluster.contains(">cop1<"), "no ids");
    // Zeros included: Madrid recorded nothing.
    let madrid = &by_partner[by_partner.find(">Madrid<").unwrap()..];
    let madrid = &madrid[..madrid.find("</tr>").unwrap()];
    assert!(madrid.contains(">0<") && !madrid.contains('–'), "{madrid}");
}

#[tokio::test]
async fn money_is_written_with_thousands_and_its_currency() {
    let app = spawn_app().await;
    let grant = json!({"kind": "grant_awarded", "occurred_on": "2021-06-01", "recipient": "torino", "amount": "125000.00",
        "purpose": "one-stop shop"});
    app.post("/v1/programmes/connection/activities", Some(&app.admin), &grant).await.expect(201);
    let page = app.get("/programmes/connection", None).await.expect(200).text;
    assert!(page.contains("1,874,876.03 EUR"), "the programme budget");
    assert!(page.contains("<td class=\"num\">125,000.00 EUR</td>"), "grants awarded: {page}");
    assert!(page.contains("amount 125,000.00 EUR"), "the grant's amount among its recorded values");
    assert!(page.contains("recipient Torino"), "the recipient by name");
    assert!(page.contains("125,000.00 / 250,000.00 EUR"), "the grants indicator");
    assert!(!page.contains("1874876.03"), "no ungrouped amount is shown");
}

#[tokio::test]
async fn the_latest_activities_are_ordered_by_the_date_they_occurred_on() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for day in ["2021-03-01", "2022-05-01", "2021-10-01", "2020-06-15"] {
        ids.push((day, app.record_exchange(&app.admin, "torino", "paris", day).await["id"].as_str().unwrap().to_owned()));
    }
    let page = app.get("/programmes/connection", None).await.expect(200).text;
    let latest = &page[page.find("id=\"latest\"").unwrap()..];
    let mut shown: Vec<(usize, &str)> = ids.iter().map(|(day, id)| (latest.find(id.as_str()).expect("listed"), *day)).collect();
    shown.sort();
    let days: Vec<&str> = shown.into_iter().map(|(_, day)| day).collect();
    assert_eq!(days, ["2022-05-01", "2021-10-01", "2021-03-01", "2020-06-15"], "latest date first");
    assert!(latest.contains("host Torino · visitor Paris"), "names in the recorded values");
    let before = app.get("/programmes/connection?as_of=2021-12-31", None).await.expect(200).text;
    let before = &before[before.find("id=\"latest\"").unwrap()..];
    assert!(!before.contains(&ids[1].1) && before.contains(&ids[2].1), "as_of cuts what occurred after it");
}

#[tokio::test]
async fn the_show_form_does_not_freeze_the_moment_the_page_was_loaded() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-10-11").await;
    let page = app.get("/programmes/connection", None).await.expect(200).text;
    assert!(input(&page, "known_at").contains("value=\"\""), "{}", input(&page, "known_at"));
    assert!(input(&page, "as_of").contains("value=\"\""), "{}", input(&page, "as_of"));
    // A new event after the page was loaded; the form submitted as it was is what a browser sends.
    app.record_exchange(&app.admin, "paris", "zagreb", "2021-11-15").await;
    let submitted = app.get("/programmes/connection?as_of=&known_at=", None).await.expect(200).text;
    assert_eq!(bar_value(&submitted, "staff-exchanges"), "2", "the new event is shown");
    // What the reader asked for stays in the form.
    let asked = app.get("/programmes/connection?as_of=2022-06-30&known_at=2030-01-01T10:00", None).await.expect(200).text;
    assert!(input(&asked, "as_of").contains("value=\"2022-06-30\""), "{}", input(&asked, "as_of"));
    assert!(input(&asked, "known_at").contains("value=\"2030-01-01T10:00:00\""), "{}", input(&asked, "known_at"));
    assert_eq!(bar_value(&asked, "staff-exchanges"), "2");
}

#[tokio::test]
async fn a_browser_gets_an_html_error_page_with_an_error_summary() {
    let app = spawn_app().await;
    let unknown = browse(&app, "/programmes/atlantis").await;
    assert_eq!(unknown.status.as_u16(), 404);
    assert!(unknown.header("content-type").unwrap().starts_with("text/html"));
    assert!(unknown.text.contains("There is a problem") && unknown.text.contains("unknown programme 'atlantis'"));

    let bad = browse(&app, "/programmes/connection?as_of=2022-13-01").await;
    assert_eq!(bad.status.as_u16(), 422);
    assert!(bad.text.contains("role=\"alert\"") && bad.text.contains("href=\"#as_of\""), "{}", bad.text);
    assert!(bad.text.contains("YYYY-MM-DD"), "the summary says how to write it");
    let field = input(&bad.text, "as_of");
    assert!(field.contains("aria-invalid=\"true\"") && field.contains("as_of-error"), "{field}");
    assert!(field.contains("id=\"as_of\""), "the summary's link goes to the field");

    let bad_moment = browse(&app, "/programmes/connection?known_at=yesterday").await;
    assert_eq!(bad_moment.status.as_u16(), 422);
    assert!(input(&bad_moment.text, "known_at").contains("aria-invalid=\"true\""));
    // Other clients still get the API's problem.
    app.get("/programmes/connection?as_of=2022-13-01", None).await.problem(422);
}

#[tokio::test]
async fn a_past_view_lists_the_partners_the_programme_had_then() {
    let app = spawn_app().await;
    let head = app.get("/v1/audit/head", None).await.expect(200).json();
    let registered = chrono::DateTime::parse_from_rfc3339(head["recorded_at"].as_str().unwrap()).unwrap();
    // The page's known_at has whole seconds: ask for the second after the registration's, and let the partner
    // join after that second.
    let then = registered.timestamp() + 1;
    clock_past(then).await;
    let partner = serde_json::json!({"id": "newtown", "name": "Newtown", "kind": "city", "role": "other"});
    app.post("/v1/programmes/connection/partners", Some(&app.admin), &partner).await.expect(201);
    assert!(app.get("/programmes/connection", None).await.expect(200).text.contains("Newtown"));
    let then = chrono::DateTime::from_timestamp(then, 0).unwrap().format("%Y-%m-%dT%H:%M:%S");
    let past = app.get(&format!("/programmes/connection?known_at={then}"), None).await.expect(200).text;
    assert!(past.contains("Torino"), "the partners of then are listed");
    assert!(!past.contains("Newtown"), "a partner that joined later is not in the view of before");
}
