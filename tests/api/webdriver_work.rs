//! The work people do in a real browser (headless Chromium through WebDriver, `webdriver.rs`), signed in by
//! session cookie: a recorder records a staff exchange through the form generated from the catalogue and a
//! coordinator approves it in the queue, and the programme's bar moves; a returned activity is corrected and
//! submitted again; a bulk upload with a bad row shows its faults and records nothing until the file is fixed; a
//! form without its CSRF token is refused. Every page is checked by axe-core at 390 and 1280 px, with
//! screenshots in `target/test-artefacts/webdriver/`.

use fantoccini::Locator;

use crate::accounts::{invite, PASSWORD};
use crate::authorization::small_programme;
use crate::helpers::{spawn_app, TestApp};
use crate::webdriver::{Driver, Session};

/// Opens an invitation for `name` in `browser`, chooses the password and lands signed in on the account page.
async fn join(app: &TestApp, browser: &Session, name: &str, role: &str, programme: &str, partner: Option<&str>) {
    let link = invite(app, name, role, Some(programme), partner).await;
    browser.goto(&link).await;
    browser.fill("New password", PASSWORD).await;
    browser.fill("The same password again", PASSWORD).await;
    browser.click_button("Set password and sign in").await;
    assert_eq!(browser.current_path().await, "/account");
}

/// The staff-exchange bar's numbers as the page states them to a screen reader.
async fn staff_exchange_bar(browser: &Session, programme: &str) -> String {
    browser.goto(&format!("/programmes/{programme}")).await;
    let bar = browser.client().find(Locator::Css("[role=progressbar][data-indicator=staff-exchanges]")).await.expect("the bar");
    bar.attr("aria-label").await.unwrap().expect("an aria-label")
}

/// The texts of a select's options.
async fn options(browser: &Session, name: &str) -> Vec<String> {
    let script = format!("return [...document.querySelector('select[name={name}]').options].map(o => o.text)");
    let value = browser.client().execute(&script, vec![]).await.unwrap();
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// Records a staff exchange from torino to paris through the form, from the programme's page.
async fn record_exchange(browser: &Session, programme: &str, occurred_on: &str, check: bool) {
    browser.goto(&format!("/programmes/{programme}")).await;
    browser.click_link("Record an activity").await;
    if check {
        browser.check_page("record-kinds").await;
    }
    browser.click_link("Staff exchange").await;
    if check {
        browser.check_page("record-form").await;
    }
    browser.fill("Occurred on (required)", occurred_on).await;
    browser.fill("Title", "Job centre shadowing").await;
    browser.fill("Host (required)", "Torino").await;
    browser.fill("Visitor (required)", "Paris").await;
    browser.fill("Days (required)", "5").await;
    browser.fill("Staff (required)", "2").await;
    browser.click_button("Record").await;
}

#[tokio::test]
async fn a_recorder_records_through_the_form_a_coordinator_approves_it_and_the_bar_moves() {
    let app = spawn_app().await;
    app.post("/v1/programmes", Some(&app.admin), &small_programme("pilot", true)).await.expect(201);
    let driver = Driver::start().await;
    let anna = driver.session(&app.url("")).await;
    join(&app, &anna, "anna", "recorder", "pilot", Some("torino")).await;
    let before = staff_exchange_bar(&anna, "pilot").await;
    assert!(before.starts_with("Staff exchanges: 0 of 14"), "{before}");
    anna.check_page("programme-recorder").await;

    // A recorder for torino is offered torino alone as the host the exchange is attributed to.
    anna.goto("/programmes/pilot/record/staff_exchange").await;
    assert_eq!(options(&anna, "host").await.iter().filter(|o| !o.is_empty() && !o.starts_with('—')).count(), 1, "{:?}", options(&anna, "host").await);
    assert!(options(&anna, "host").await.iter().any(|o| o == "Torino") && !options(&anna, "host").await.iter().any(|o| o == "Paris"));
    record_exchange(&anna, "pilot", "2021-10-11", true).await;
    let text = anna.text().await;
    assert!(anna.current_path().await.starts_with("/programmes/pilot/activities/"), "{text}");
    assert!(text.contains("submitted") && text.contains("Job centre shadowing"), "{text}");
    anna.check_page("activity-submitted").await;
    assert_eq!(staff_exchange_bar(&anna, "pilot").await, before, "a submitted activity does not count yet");

    let cora = driver.session(&app.url("")).await;
    join(&app, &cora, "cora", "coordinator", "pilot", None).await;
    cora.goto("/programmes/pilot").await;
    cora.click_link("Approval queue").await;
    assert!(cora.text().await.contains("Job centre shadowing"));
    cora.check_page("queue").await;
    cora.click_button("Approve").await;
    assert!(!cora.text().await.contains("Job centre shadowing"), "the queue is empty again");
    cora.check_page("queue-approved").await;

    let after = staff_exchange_bar(&cora, "pilot").await;
    assert!(after.starts_with("Staff exchanges: 1 of 14"), "the bar moved: {after}");
    anna.close().await;
    cora.close().await;
}

#[tokio::test]
async fn a_returned_activity_is_corrected_and_submitted_again() {
    let app = spawn_app().await;
    app.post("/v1/programmes", Some(&app.admin), &small_programme("pilot", true)).await.expect(201);
    let driver = Driver::start().await;
    let anna = driver.session(&app.url("")).await;
    join(&app, &anna, "anna", "recorder", "pilot", Some("torino")).await;
    record_exchange(&anna, "pilot", "2021-10-11", false).await;
    let activity = anna.current_path().await;

    let cora = driver.session(&app.url("")).await;
    join(&app, &cora, "cora", "coordinator", "pilot", None).await;
    cora.goto("/programmes/pilot/queue").await;
    cora.fill("Note for the recorder", "the exchange lasted six days").await;
    cora.click_button("Return").await;

    anna.goto(&activity).await;
    let text = anna.text().await;
    assert!(text.contains("returned") && text.contains("the exchange lasted six days"), "{text}");
    anna.check_page("activity-returned").await;
    anna.client().find(Locator::XPath("//summary[.='Correct it']")).await.expect("the correction's summary").click().await.unwrap();
    anna.fill("Days (required)", "6").await;
    anna.fill("Reason for the correction (required)", "six days, as the coordinator noted").await;
    anna.click_button("Correct").await;
    anna.click_button("Submit for approval").await;
    let text = anna.text().await;
    assert!(text.contains("submitted") && text.contains("six days, as the coordinator noted"), "{text}");
    let id = activity.rsplit('/').next().unwrap();
    let stored = app.get(&format!("/v1/programmes/pilot/activities/{id}"), None).await.expect(200).json();
    assert_eq!((&stored["status"], &stored["days"]), (&serde_json::json!("submitted"), &serde_json::json!(6)), "{stored}");
    anna.close().await;
    cora.close().await;
}

/// How many activities the programme has.
async fn activity_count(app: &TestApp) -> usize {
    let list = app.get("/v1/programmes/connection/activities?limit=500", None).await.expect(200).json();
    list["activities"].as_array().expect("a list").len()
}

/// Chooses `csv` as the upload's file and asks for the check.
async fn check_file(browser: &Session, dir: &std::path::Path, csv: &str) {
    let path = dir.join("exchanges.csv");
    std::fs::write(&path, csv).unwrap();
    browser.goto("/programmes/connection/upload").await;
    let input = browser.client().find(Locator::Css("input[type=file]")).await.expect("a file input");
    input.send_keys(path.to_str().unwrap()).await.expect("the file is chosen");
    browser.click_button("Check the file").await;
}

#[tokio::test]
async fn a_bulk_upload_with_a_bad_row_shows_its_faults_and_records_nothing_until_fixed() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let cora = driver.session(&app.url("")).await;
    join(&app, &cora, "cora", "coordinator", "connection", None).await;
    cora.goto("/programmes/connection").await;
    cora.click_link("Upload a spreadsheet").await;
    cora.check_page("upload").await;
    let files = tempfile::tempdir().unwrap();
    let header = "kind,occurred_on,host,visitor,cluster,days,staff\r\n";
    let good = "staff_exchange,2021-10-11,torino,asti,cop1,5,2\r\n";
    check_file(&cora, files.path(), &format!("{header}{good}staff_exchange,2021-10-12,torino,atlantis,cop1,5,2\r\n")).await;
    let text = cora.text().await;
    assert!(text.contains("unknown partner 'atlantis'") && text.contains("1 valid, 1 with faults"), "{text}");
    cora.check_page("upload-faults").await;
    assert_eq!(activity_count(&app).await, 0, "nothing recorded while a row has a fault");

    check_file(&cora, files.path(), &format!("{header}{good}staff_exchange,2021-10-12,torino,paris,cop1,5,2\r\n")).await;
    cora.check_page("upload-checked").await;
    cora.click_button("Record 2 activities").await;
    assert!(cora.text().await.contains("Recorded 2 activities."), "{}", cora.text().await);
    assert_eq!(activity_count(&app).await, 2);
    cora.close().await;
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_signing_out_ends_the_session() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let anna = driver.session(&app.url("")).await;
    join(&app, &anna, "anna", "recorder", "connection", Some("torino")).await;
    // A form that lost its token, as a forged one from another site would come without it.
    anna.client().execute("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())", vec![]).await.unwrap();
    anna.click_button("Sign out everywhere").await;
    assert!(anna.text().await.contains("The form could not be accepted"), "{}", anna.text().await);
    anna.check_page("csrf-refused").await;
    anna.goto("/account").await;
    assert_eq!(anna.current_path().await, "/account", "still signed in");

    anna.click_button("Sign out").await;
    anna.goto("/programmes/connection/record").await;
    assert_eq!(anna.current_path().await, "/sign-in", "signed out, the form asks to sign in");
    anna.close().await;
}

#[tokio::test]
async fn the_lists_setup_faults_tokens_and_refusals_pass_axe_at_both_widths() {
    let app = spawn_app().await;
    app.record_exchange(&app.admin, "torino", "paris", "2021-03-10").await;
    let driver = Driver::start().await;
    let cora = driver.session(&app.url("")).await;
    join(&app, &cora, "cora", "coordinator", "connection", None).await;
    cora.goto("/programmes/connection").await;
    cora.click_link("Activities").await;
    assert!(cora.text().await.contains("Torino"), "{}", cora.text().await);
    cora.check_page("activities").await;
    cora.goto("/programmes/connection").await;
    cora.click_link("Manage the programme").await;
    cora.check_page("manage").await;

    // A form the server refuses: every fault next to its field, the values kept.
    cora.goto("/programmes/connection/record/staff_exchange").await;
    cora.fill("Occurred on (required)", "2030-01-01").await;
    cora.fill("Host (required)", "Torino").await;
    cora.fill("Visitor (required)", "Paris").await;
    cora.fill("Days (required)", "5").await;
    cora.fill("Staff (required)", "2").await;
    cora.click_button("Record").await;
    assert!(cora.text().await.contains("There is a problem"), "{}", cora.text().await);
    cora.check_page("record-form-faults").await;

    // A personal token, shown once.
    cora.goto("/account").await;
    cora.fill("Label (the token is named cora-label)", "script").await;
    cora.click_button("Make token").await;
    assert!(cora.text().await.contains("cora-script"));
    cora.check_page("account-token").await;

    // A recorder on a coordinator's page: the forbidden page.
    let anna = driver.session(&app.url("")).await;
    join(&app, &anna, "anna", "recorder", "connection", Some("torino")).await;
    anna.goto("/programmes/connection/manage").await;
    assert!(anna.text().await.contains("Not allowed"), "{}", anna.text().await);
    anna.check_page("forbidden").await;
    cora.close().await;
    anna.close().await;
}
