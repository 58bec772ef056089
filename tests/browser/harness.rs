//! The harness itself, on the simplest page there is: a link that leads nowhere. If these fail,
//! every other browser test would fail for the same reason, so they say what is wrong first.

use coupler_tests::browser::{Browser, PHONE};
use coupler_tests::TestApp;

#[tokio::test]
async fn an_enrolment_link_that_leads_nowhere_shows_a_page_a_phone_reads_without_scrolling_sideways() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::start("harness-unknown-enrolment-link", PHONE).await;

    browser.visit(&format!("{}/enrol/no-such-link", app.url)).await;

    let heading = browser.element("h1").await.text().await.unwrap();
    assert!(!heading.is_empty(), "the error page has a heading");
    assert!(!browser.scrolls_sideways().await, "the page fits a 390 px phone");
    let shot = browser.screenshot("unknown-link").await;
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1_000,
        "the screenshot holds a picture"
    );
    browser.assert_accessible("the unknown enrolment link page").await;
    browser.close().await;
}

#[tokio::test]
async fn the_checker_finds_what_a_page_gets_wrong() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("harness-checker", PHONE).await;
    browser.visit(&format!("{}/enrol/no-such-link", app.url)).await;

    // An image without any text for a screen reader is a critical finding of axe-core.
    browser
        .client()
        .execute(
            "const img = document.createElement('img'); img.src = 'data:,'; document.body.appendChild(img);",
            vec![],
        )
        .await
        .unwrap();

    let findings = browser.accessibility_findings().await;
    assert!(
        findings.iter().any(|f| f.rule == "image-alt" && f.impact == "critical"),
        "axe-core reports the image without alternative text: {findings:?}"
    );
    browser.close().await;
}
