//! A real browser for the page tests: Debian's headless Chromium driven over WebDriver by
//! `chromedriver` and the `fantoccini` crate, with the axe-core accessibility checker loaded into the
//! pages a test checks, and screenshots kept as test artefacts.
//!
//! Chromium and ChromeDriver come from `COUPLER_TEST_CHROMIUM` / `COUPLER_TEST_CHROMEDRIVER`, or
//! `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and `chromium-driver`); when
//! they are missing and the tests run as root on Debian, they are installed with `apt-get` on first
//! use. axe-core comes from the npm registry, pinned in `tests/browser/package-lock.json`, and is
//! installed into `tests/browser/node_modules` on first use. Screenshots go to
//! `target/browser-artifacts/<test>/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// The width of a small phone, at which every page must work.
pub const PHONE: (u32, u32) = (390, 844);
/// A laptop screen.
pub const LAPTOP: (u32, u32) = (1280, 900);

/// How many browsers run at once in one test process: each is a Chromium with its renderer, and the
/// tests must pass on a busy 2-core machine.
const BROWSERS_AT_ONCE: usize = 2;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The file-system lock that keeps two test processes from installing the same thing at once.
fn installing(what: &str) -> File {
    let path = std::env::temp_dir().join(format!("coupler-tests-{what}.lock"));
    let file = File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    file
}

/// Chromium and ChromeDriver, found (or installed) once per test process.
fn chromium_and_driver() -> &'static (PathBuf, PathBuf) {
    static FOUND: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FOUND.get_or_init(|| {
        let chromium =
            std::env::var("COUPLER_TEST_CHROMIUM").map_or_else(|_| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        let driver = std::env::var("COUPLER_TEST_CHROMEDRIVER")
            .map_or_else(|_| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
        if !(chromium.exists() && driver.exists()) {
            let _lock = installing("chromium");
            if !(chromium.exists() && driver.exists()) && Path::new("/usr/bin/apt-get").exists() {
                let installed = Command::new("apt-get")
                    .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .stdout(Stdio::null())
                    .status();
                assert!(
                    installed.is_ok_and(|s| s.success()),
                    "cannot install Debian's chromium and chromium-driver with apt-get \
                     (run `apt-get update` first, or set COUPLER_TEST_CHROMIUM and COUPLER_TEST_CHROMEDRIVER)"
                );
            }
        }
        assert!(
            chromium.exists() && driver.exists(),
            "the browser tests need Chromium ({}) and ChromeDriver ({}): `apt-get install chromium chromium-driver`",
            chromium.display(),
            driver.display()
        );
        (chromium, driver)
    })
}

/// The axe-core script, installed from the npm registry once per test process.
fn axe_script() -> &'static str {
    static AXE: OnceLock<String> = OnceLock::new();
    AXE.get_or_init(|| {
        let folder = workspace().join("tests/browser");
        let script = folder.join("node_modules/axe-core/axe.min.js");
        if !script.exists() {
            let _lock = installing("axe-core");
            if !script.exists() {
                let installed = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&folder)
                    .status();
                assert!(
                    installed.is_ok_and(|s| s.success()),
                    "cannot install axe-core with `npm ci` in {} (is Node.js with npm installed?)",
                    folder.display()
                );
            }
        }
        std::fs::read_to_string(&script).unwrap_or_else(|e| panic!("cannot read {}: {e}", script.display()))
    })
}

/// A counting gate: at most [`BROWSERS_AT_ONCE`] browsers live in this process at a time.
struct Gate {
    open: Mutex<usize>,
    freed: Condvar,
}

static GATE: Gate = Gate {
    open: Mutex::new(BROWSERS_AT_ONCE),
    freed: Condvar::new(),
};

impl Gate {
    fn enter() {
        let mut open = GATE.open.lock().unwrap_or_else(|e| e.into_inner());
        while *open == 0 {
            open = GATE.freed.wait(open).unwrap_or_else(|e| e.into_inner());
        }
        *open -= 1;
    }

    fn leave() {
        *GATE.open.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        GATE.freed.notify_one();
    }
}

/// A headless Chromium for one test, at one window size and one preferred language.
pub struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
    artefacts: PathBuf,
    shots: usize,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("artefacts", &self.artefacts).finish()
    }
}

/// One accessibility finding of axe-core.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule broken, such as `color-contrast`.
    pub rule: String,
    /// How bad: `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    /// What the rule asks for.
    pub help: String,
    /// CSS selectors of the elements that break it.
    pub elements: Vec<String>,
}

impl Browser {
    /// Starts a browser `size` wide and high that prefers English; `test` names the folder its
    /// screenshots go to.
    pub async fn start(test: &str, size: (u32, u32)) -> Self {
        Self::start_in(test, size, "en-GB").await
    }

    /// Starts a browser like [`Browser::start`] whose preferred language is `language` (a BCP 47 tag
    /// such as `de-DE`), as its `Accept-Language` header says.
    pub async fn start_in(test: &str, size: (u32, u32), language: &str) -> Self {
        let (chromium, driver_path) = chromium_and_driver().clone();
        tokio::task::spawn_blocking(Gate::enter)
            .await
            .expect("wait for a browser slot");
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let profile = std::env::temp_dir().join(format!("coupler-browser-{}-{port}", std::process::id()));
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={},{}", size.0, size.1),
                    format!("--lang={language}"),
                ],
                "prefs": { "intl.accept_languages": language },
            }),
        );
        let client = crate::wait_for("ChromeDriver accepts a session", || {
            let capabilities = capabilities.clone();
            let webdriver = webdriver.clone();
            async move {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&webdriver)
                    .await
                    .ok()
            }
        })
        .await;
        // Headless Chromium's window size includes no browser chrome, so the page gets all of it.
        client
            .set_window_size(size.0, size.1)
            .await
            .expect("set the window size");
        let artefacts = artefacts_root().join(test);
        std::fs::create_dir_all(&artefacts).expect("make the screenshot folder");
        Self {
            client,
            driver,
            profile,
            artefacts,
            shots: 0,
        }
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn visit(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The address the browser is at now.
    pub async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("read the address")
    }

    /// Waits until an element matching `css` is on the page, and gives it.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        crate::wait_for(&format!("the page shows {css}"), || async {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    /// Waits until the text of the element matching `css` contains `text`, and gives the whole text.
    pub async fn text_contains(&self, css: &str, text: &str) -> String {
        crate::wait_for(&format!("{css} says {text:?}"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            let shown = element.text().await.ok()?;
            shown.contains(text).then_some(shown)
        })
        .await
    }

    /// Clicks the element matching `css` (waiting for it first).
    pub async fn click(&self, css: &str) {
        self.element(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Types `text` into the field matching `css` (waiting for it first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        field.clear().await.ok();
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// The page's `document.documentElement.lang`.
    pub async fn language(&self) -> String {
        let lang = self
            .client
            .execute("return document.documentElement.lang;", vec![])
            .await
            .expect("read the page's language");
        lang.as_str().unwrap_or_default().to_string()
    }

    /// True when the page is wider than the window, so that a reader would have to scroll sideways.
    pub async fn scrolls_sideways(&self) -> bool {
        let wider = self
            .client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await
            .expect("measure the page");
        wider.as_bool().unwrap_or(false)
    }

    /// Saves a screenshot of the window as `<n>-<name>.png` in this test's artefact folder.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("take a screenshot");
        self.shots += 1;
        let path = self.artefacts.join(format!("{:02}-{name}.png", self.shots));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Runs axe-core on the page and gives every finding, whatever its impact.
    pub async fn accessibility_findings(&self) -> Vec<Finding> {
        self.client
            .execute(axe_script(), vec![])
            .await
            .expect("load axe-core into the page");
        let report = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(JSON.stringify(r.violations)))
                    .catch(e => done(JSON.stringify({ error: String(e) })));",
                vec![],
            )
            .await
            .expect("run axe-core");
        let report: Value = serde_json::from_str(report.as_str().unwrap_or("[]")).expect("axe-core's report is JSON");
        if let Some(error) = report.get("error") {
            panic!("axe-core failed on the page: {error}");
        }
        report
            .as_array()
            .into_iter()
            .flatten()
            .map(|violation| Finding {
                rule: violation["id"].as_str().unwrap_or_default().to_string(),
                impact: violation["impact"].as_str().unwrap_or_default().to_string(),
                help: violation["help"].as_str().unwrap_or_default().to_string(),
                elements: violation["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|node| node["target"].to_string())
                    .collect(),
            })
            .collect()
    }

    /// Fails the test when axe-core finds anything serious or critical on the page; `page` names the
    /// page in the failure.
    pub async fn assert_accessible(&self, page: &str) {
        let serious: Vec<Finding> = self
            .accessibility_findings()
            .await
            .into_iter()
            .filter(|f| f.impact == "serious" || f.impact == "critical")
            .collect();
        assert!(
            serious.is_empty(),
            "axe-core finds serious problems on {page}:\n{}",
            serious
                .iter()
                .map(|f| format!("- {} ({}): {} at {}", f.rule, f.impact, f.help, f.elements.join(", ")))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Ends the WebDriver session; dropping the browser also stops ChromeDriver and its Chromium.
    pub async fn close(self) {
        self.client.clone().close().await.ok();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // ChromeDriver takes its Chromium with it when it is killed.
        self.driver.kill().ok();
        self.driver.wait().ok();
        std::fs::remove_dir_all(&self.profile).ok();
        Gate::leave();
    }
}

/// `target/browser-artifacts`, where the screenshots of every browser test are kept.
pub fn artefacts_root() -> PathBuf {
    // A test runs as `<target>/<profile>/deps/<test>-<hash>`.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| workspace().join("target"))
        .join("browser-artifacts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}
