//! Coupler's pages in a real browser: headless Chromium driven over WebDriver, at a phone's width
//! and a laptop's, with axe-core checking each page for accessibility and a screenshot of each step
//! kept in `target/browser-artifacts/`. The harness is `coupler_tests::browser`.

mod console;
mod harness;
mod link_page;
