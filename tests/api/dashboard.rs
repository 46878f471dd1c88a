//! The dashboard's HTML: a bar per indicator with its numbers for assistive technology, and a programme page
//! that re-renders as of a date and as known at a moment.

use crate::helpers::spawn_app;

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
    assert!(page.contains("By partner") && page.contains(">torino<"), "the breakdown by partner");
    assert!(page.contains("1874876.03 EUR"), "the budget");
    assert!(page.contains(created["id"].as_str().unwrap()), "the latest activities");

    let earlier = app.get("/programmes/connection?as_of=2021-01-01", None).await.expect(200).text;
    assert_eq!(bar_value(&earlier, "staff-exchanges"), "0");
    let known_before = app.get("/programmes/connection?as_of=2022-12-31&known_at=2020-01-01T00:00:00Z", None).await;
    known_before.problem(404);
    app.get("/programmes/atlantis", None).await.problem(404);
}
