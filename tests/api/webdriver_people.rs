//! People in a real browser (headless Chromium through WebDriver, `webdriver.rs`): an invitation link opened,
//! a password chosen, signed in, signed out and in again, the admin's page — each page checked by axe-core at
//! phone and desktop width, with screenshots kept in `target/test-artefacts/webdriver/`.

use crate::accounts::{invite, PASSWORD};
use crate::helpers::spawn_app;
use crate::webdriver::Driver;

#[tokio::test]
async fn a_person_invited_chooses_a_password_signs_in_and_out_and_every_page_passes_axe() {
    let app = spawn_app().await;
    let link = invite(&app, "anna", "recorder", Some("connection"), Some("torino")).await;
    let driver = Driver::start().await;
    let browser = driver.session(&app.url("")).await;

    browser.goto(&link).await;
    browser.check_page("invitation").await;
    browser.fill("New password", "short").await;
    browser.fill("The same password again", "short").await;
    browser.click_button("Set password and sign in").await;
    assert!(browser.text().await.contains("at least 12 characters"), "the rule is named");
    browser.check_page("invitation-error").await;
    browser.fill("New password", PASSWORD).await;
    browser.fill("The same password again", PASSWORD).await;
    browser.click_button("Set password and sign in").await;
    assert_eq!(browser.current_path().await, "/account");
    assert!(browser.text().await.contains("recorder of connection for torino"));
    browser.check_page("account").await;

    // The session cookie is out of reach of scripts.
    let cookies = browser.client().execute("return document.cookie", vec![]).await.unwrap();
    assert_eq!(cookies.as_str(), Some(""), "HttpOnly: {cookies}");

    browser.click_button("Sign out").await;
    assert_eq!(browser.current_path().await, "/");
    browser.goto("/account").await;
    assert_eq!(browser.current_path().await, "/sign-in", "signed out, the account page asks to sign in");
    browser.check_page("sign-in").await;
    browser.fill("Account name", "anna").await;
    browser.fill("Password", "not the password at all").await;
    browser.click_button("Sign in").await;
    assert!(browser.text().await.contains("The account name or the password is wrong."));
    browser.check_page("sign-in-error").await;
    browser.fill("Password", PASSWORD).await;
    browser.click_button("Sign in").await;
    assert_eq!(browser.current_path().await, "/account", "back where the sign-in was asked for");

    // The programme page offers a recorder the ways into the work.
    browser.goto("/programmes/connection").await;
    let text = browser.text().await;
    assert!(text.contains("Record an activity") && !text.contains("Approval queue"), "{text}");
    browser.check_page("programme-signed-in").await;
    browser.close().await;
}

#[tokio::test]
async fn an_admin_invites_a_person_in_the_browser_and_the_page_passes_axe() {
    let app = spawn_app().await;
    let link = invite(&app, "root", "admin", None, None).await;
    let driver = Driver::start().await;
    let browser = driver.session(&app.url("")).await;
    browser.goto(&link).await;
    browser.fill("New password", PASSWORD).await;
    browser.fill("The same password again", PASSWORD).await;
    browser.click_button("Set password and sign in").await;
    browser.click_link("People and tokens").await;
    assert_eq!(browser.current_path().await, "/admin");
    browser.check_page("admin").await;

    browser.fill("Account name (lowercase letters, digits, hyphens)", "marco").await;
    browser.fill("Name", "Marco Bianchi").await;
    browser.fill("E-mail", "marco@example.org").await;
    browser.fill("Role", "coordinator").await;
    browser.fill("Programme (coordinator, recorder)", "connection").await;
    browser.click_button("Invite").await;
    let text = browser.text().await;
    assert!(text.contains("Send this link to marco") && text.contains("/invitations/trk_"), "{text}");
    browser.check_page("admin-invited").await;
    browser.close().await;
}
