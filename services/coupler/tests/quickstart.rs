//! docs/quickstart.md, executed: `coupler serve --sandbox` runs as a separate process in a fresh
//! directory, and every `curl` command of the page runs in the page's order, as written (variables
//! expanded, quoting as a shell reads it, `jq -r` captures evaluated), over real HTTP. The test only
//! adds what a reader does with their eyes: checking each answer, and repeating a "watch" command
//! until what the page promises shows up. A command added to or removed from the page, a changed
//! path, body or header, fails this test until the test follows.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const PAGE: &str = include_str!("../../../docs/quickstart.md");

/// One shell line of the page that the test runs.
#[derive(Debug, Clone)]
struct Line {
    /// The line as written.
    text: String,
    /// `NAME` of `NAME=$(...)`.
    capture: Option<String>,
    /// The pipeline inside `$(...)`, or the whole line.
    pipeline: String,
}

/// The page's runnable lines: `curl` commands and `NAME=$(echo "$X" | jq -r ...)` captures, in
/// order, from its `sh` blocks.
fn page_lines(page: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut in_sh = false;
    for raw in page.lines() {
        let trimmed = raw.trim();
        if trimmed.starts_with("```") {
            in_sh = trimmed == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let (capture, pipeline) = match trimmed.split_once("=$(") {
            Some((name, rest)) if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                (Some(name.to_owned()), rest.strip_suffix(')').unwrap().to_owned())
            }
            _ => (None, trimmed.to_owned()),
        };
        if pipeline.starts_with("curl ") || (capture.is_some() && pipeline.starts_with("echo ")) {
            lines.push(Line {
                text: trimmed.to_owned(),
                capture,
                pipeline,
            });
        }
    }
    lines
}

/// Splits `text` into words as a POSIX shell does for these lines: `'...'` literal, `"..."` with
/// `$NAME` expanded and `\"` `\\` `\$` escapes, bare words with `$NAME` expanded; `|` separates
/// commands.
fn shell_words(text: &str, vars: &HashMap<String, String>) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut chars = text.chars().peekable();
    let expand = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String| {
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if braced {
            assert_eq!(chars.next(), Some('}'), "unclosed ${{ in {text}");
        }
        let value = vars
            .get(&name)
            .unwrap_or_else(|| panic!("the page uses ${name} before setting it: {text}"));
        out.push_str(value);
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    commands.last_mut().unwrap().push(w);
                }
            }
            '|' => {
                if let Some(w) = word.take() {
                    commands.last_mut().unwrap().push(w);
                }
                commands.push(Vec::new());
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            let next = chars.next().unwrap();
                            if !matches!(next, '"' | '\\' | '$') {
                                w.push('\\');
                            }
                            w.push(next);
                        }
                        '$' => expand(&mut chars, w),
                        other => w.push(other),
                    }
                }
            }
            '$' => {
                let w = word.get_or_insert_with(String::new);
                expand(&mut chars, w);
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    if let Some(w) = word.take() {
        commands.last_mut().unwrap().push(w);
    }
    commands
}

/// A `jq` path such as `.data[0].id` applied to `value`.
fn jq_path(value: &Value, path: &str) -> Value {
    let mut current = value.clone();
    for part in path.trim_start_matches('.').split('.').filter(|p| !p.is_empty()) {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, Some(rest.trim_end_matches(']').parse::<usize>().unwrap())),
            None => (part, None),
        };
        if !name.is_empty() {
            current = current[name].clone();
        }
        if let Some(i) = index {
            current = current[i].clone();
        }
    }
    current
}

/// What one command gave.
#[derive(Debug, Clone, Default)]
struct Reply {
    status: u16,
    body: String,
    /// What `-w '%{redirect_url}'` prints: the absolute target of a redirect.
    redirect_url: Option<String>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The page, being run line by line.
struct Walkthrough {
    lines: Vec<Line>,
    next: usize,
    vars: HashMap<String, String>,
    http: reqwest::Client,
}

impl Walkthrough {
    fn new(vars: HashMap<String, String>) -> Self {
        Self {
            lines: page_lines(PAGE),
            next: 0,
            vars,
            // Like curl with a cookie jar: cookies kept, redirects not followed.
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Runs the page's next line, which must contain `marker` (so the test reads as the page does).
    async fn step(&mut self, marker: &str) -> Reply {
        let line = self
            .lines
            .get(self.next)
            .cloned()
            .unwrap_or_else(|| panic!("the page has no more commands; the test expected one with {marker:?}"));
        assert!(
            line.text.contains(marker),
            "the page's next command is\n  {}\nbut the test expected one with {marker:?}",
            line.text
        );
        self.next += 1;
        self.run(&line).await
    }

    /// Runs the next `count` lines, again and again, until `done` holds for the last one's reply
    /// (a reader watching for what the page promises), for at most two minutes.
    async fn steps_until(&mut self, marker: &str, count: usize, done: impl Fn(&Reply) -> bool) -> Reply {
        let start = self.next;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            self.next = start;
            let mut reply = Reply::default();
            for i in 0..count {
                reply = self.step(if i + 1 == count { marker } else { "" }).await;
            }
            if done(&reply) {
                return reply;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still not there after repeating {}: {} {}",
                self.lines[self.next - 1].text,
                reply.status,
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn run(&mut self, line: &Line) -> Reply {
        let commands = shell_words(&line.pipeline, &self.vars);
        let reply = if commands[0][0] == "echo" {
            Reply {
                status: 0,
                body: commands[0][1].clone(),
                redirect_url: None,
            }
        } else {
            self.curl(&commands[0]).await
        };
        let mut output = reply.redirect_url.clone().unwrap_or_else(|| reply.body.clone());
        for filter in &commands[1..] {
            match filter[0].as_str() {
                "jq" if filter.get(1).map(String::as_str) == Some("-r") => {
                    let value = jq_path(&serde_json::from_str(&output).unwrap(), &filter[2]);
                    output = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                }
                // A filter for the reader's eyes: the answer must be JSON.
                "jq" => {
                    assert!(
                        serde_json::from_str::<Value>(&output).is_ok(),
                        "not JSON: {output} ({})",
                        line.text
                    );
                }
                // `grep -o 'name="request_id" value="[^"]*"' | cut -d'"' -f4`: a hidden field's value.
                "grep" => {
                    let name = filter[2].split('"').nth(1).unwrap().to_owned();
                    let needle = format!("name=\"{name}\" value=\"");
                    let start = output.find(&needle).unwrap_or_else(|| panic!("no {name} in {output}")) + needle.len();
                    let end = output[start..].find('"').unwrap();
                    output = format!("{needle}{}\"", &output[start..start + end]);
                }
                "cut" => {
                    let field: usize = filter
                        .iter()
                        .find_map(|f| f.strip_prefix("-f"))
                        .unwrap()
                        .parse()
                        .unwrap();
                    output = output.split('"').nth(field - 1).unwrap_or_default().to_owned();
                }
                other => panic!("the test cannot run `{other}` of {}", line.text),
            }
        }
        if let Some(name) = &line.capture {
            self.vars.insert(name.clone(), output.trim().to_owned());
        }
        reply
    }

    async fn curl(&self, args: &[String]) -> Reply {
        let mut method = None;
        let mut headers = Vec::new();
        let mut data = None;
        let mut user = None;
        let mut write_redirect = false;
        let mut max_time = None;
        let mut url = None;
        let mut i = 1;
        while i < args.len() {
            let arg = args[i].as_str();
            let mut value = || {
                i += 1;
                args[i].clone()
            };
            match arg {
                "-s" | "-N" => {}
                "--max-time" => max_time = Some(Duration::from_secs(value().parse().unwrap())),
                "-X" => method = Some(value()),
                "-H" => headers.push(value()),
                "-d" => data = Some(value()),
                "-u" => user = Some(value()),
                "-c" | "-b" | "-o" => {
                    value();
                }
                "-w" => {
                    assert_eq!(value(), "%{redirect_url}", "the test knows only -w '%{{redirect_url}}'");
                    write_redirect = true;
                }
                other if other.starts_with('-') => panic!("the test does not know curl's {other}"),
                other => url = Some(other.to_owned()),
            }
            i += 1;
        }
        let url = url.expect("a URL");
        let method = method.unwrap_or_else(|| if data.is_some() { "POST".into() } else { "GET".into() });
        let mut request = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url);
        let mut typed = false;
        for header in headers {
            let (name, value) = header.split_once(':').unwrap();
            typed |= name.eq_ignore_ascii_case("content-type");
            request = request.header(name.trim(), value.trim());
        }
        if let Some(body) = data {
            if !typed {
                request = request.header("content-type", "application/x-www-form-urlencoded");
            }
            request = request.body(body);
        }
        if let Some(user) = user {
            let (id, secret) = user.split_once(':').unwrap();
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let redirect_url = write_redirect.then(|| {
            let location = response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            url::Url::parse(&url).unwrap().join(&location).unwrap().to_string()
        });
        let body = match max_time {
            None => response.text().await.unwrap(),
            // A stream that never ends: what arrived before curl would give up.
            Some(limit) => {
                let mut response = response;
                let mut body = Vec::new();
                let _ = tokio::time::timeout(limit, async {
                    while let Ok(Some(chunk)) = response.chunk().await {
                        body.extend_from_slice(&chunk);
                    }
                })
                .await;
                String::from_utf8(body).unwrap()
            }
        };
        Reply {
            status,
            body,
            redirect_url,
        }
    }

    fn var(&self, name: &str) -> &str {
        &self.vars[name]
    }

    /// Every command of the page has run.
    fn finish(&self) {
        assert_eq!(
            self.next,
            self.lines.len(),
            "the page has commands the test did not run, from: {}",
            self.lines.get(self.next).map_or("", |l| l.text.as_str())
        );
    }
}

struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `coupler serve --sandbox` in `dir` on a random port: the process, its base URL, and the demo
/// client it printed.
fn start_sandbox(dir: &std::path::Path) -> (Running, String, String, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coupler"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("COUPLER_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["serve", "--sandbox"])
        .env("COUPLER_LISTEN", "127.0.0.1:0")
        .env("COUPLER_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = logs.next().expect("serve logs before it exits").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap_or_default();
        if event["fields"]["message"] == "coupler is serving" {
            break event["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in logs.by_ref() {});
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("API docs:") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the sandbox printed: {printed}"
        );
        printed.push_str(&line);
    }
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
    });
    let field = |label: &str| {
        printed
            .lines()
            .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {label} in {printed}"))
    };
    let (id, secret) = (field("client id:"), field("client secret:"));
    (Running(child), format!("http://{addr}"), id, secret, printed)
}

#[tokio::test]
async fn the_quickstart_page_runs_as_written_against_serve_sandbox_in_a_separate_process() {
    let dir = WorkDir(std::env::temp_dir().join(format!(
        "coupler-quickstart-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )));
    std::fs::create_dir_all(&dir.0).unwrap();
    let (_process, base, client_id, client_secret, printed) = start_sandbox(&dir.0);
    assert!(printed.contains("docs/quickstart.md"), "{printed}");
    assert!(
        printed.contains(&format!(
            "curl -s -u '{client_id}:{client_secret}' -d grant_type=client_credentials {base}/oauth/token"
        )),
        "a ready-to-paste first request: {printed}"
    );
    assert!(
        dir.0.join("coupler-sandbox.db").exists(),
        "SQLite in the working directory"
    );

    let mut page = Walkthrough::new(HashMap::from([
        ("COUPLER".to_owned(), base.clone()),
        ("CLIENT_ID".to_owned(), client_id),
        ("CLIENT_SECRET".to_owned(), client_secret),
    ]));

    // 2. A token.
    let token = page.step("TOKEN=").await;
    assert_eq!(token.status, 200, "{}", token.body);
    assert!(!page.var("TOKEN").is_empty());

    // 3. A simulated car at Boreal.
    let car = page.step("CAR=").await;
    assert_eq!(car.status, 201, "{}", car.body);
    page.step("CAR_ID=").await;
    page.step("SIM_USER=").await;
    page.step("SIM_PASSWORD=").await;
    assert!(page.var("CAR_ID").starts_with("boreal-"), "{}", page.var("CAR_ID"));

    // 4. Linked through the hosted page, followed with curl.
    let link = page.step("LINK_URL=").await;
    assert!(link.status < 300, "{}", link.body);
    // What the page says a browser sees there: the app's name and the button to the maker.
    let consent = page.http.get(page.var("LINK_URL")).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap();
    assert!(
        consent.contains("Coupler Sandbox Demo App") && consent.contains("Continue to Boreal"),
        "{consent}"
    );
    let authorize = page.step("AUTHORIZE_URL=").await;
    assert_eq!(authorize.status, 303, "{}", authorize.body);
    assert!(page.var("AUTHORIZE_URL").contains("/sim/boreal/oauth/authorize"));
    let login_page = page.step("REQUEST_ID=").await;
    assert_eq!(login_page.status, 200);
    assert!(!page.var("REQUEST_ID").is_empty());
    let signed_in = page.step("/sim/boreal/oauth/login").await;
    assert_eq!(signed_in.status, 200, "the maker accepts the simulated account's login");
    let consent = page.step("CALLBACK_URL=").await;
    assert!((300..400).contains(&consent.status), "{}", consent.status);
    assert!(page.var("CALLBACK_URL").contains("/link/callback"));
    page.step("LANDED=").await;
    assert!(
        page.var("LANDED").starts_with("https://example.com/linked") && page.var("LANDED").contains("success=true"),
        "{}",
        page.var("LANDED")
    );
    page.steps_until("VEHICLE_ID=", 1, |r| r.json()["data"][0]["id"].is_string())
        .await;

    // 5. A simulated 2.0.1 charger, connected.
    let charger = page.step("CHARGER_ID=").await;
    assert_eq!(charger.status, 201, "{}", charger.body);
    page.steps_until("isReachable, information", 1, |r| r.json()["isReachable"] == true)
        .await;

    // 6. Plugged in: the charger reports it at once, the vehicle after the maker's delay.
    let plugged = page.step("/sandbox/plug").await;
    assert_eq!(plugged.status, 200, "{}", plugged.body);
    page.steps_until("jq .chargeState", 1, |r| {
        let state = r.json()["chargeState"].clone();
        state["isCharging"] == true && (state["chargeRate"].as_f64().unwrap_or(0.0) - 11.04).abs() < 0.1
    })
    .await;
    page.steps_until("jq .chargeState", 2, |r| {
        let state = r.json()["chargeState"].clone();
        state["isPluggedIn"] == true && state["powerDeliveryState"] == "PLUGGED_IN:CHARGING"
    })
    .await;
    let cars = page.step("/sandbox/vehicles |").await;
    assert_eq!(cars.json()["data"][0]["status"], "charging", "{}", cars.body);
    let chargers = page.step("/sandbox/chargers |").await;
    assert_eq!(chargers.json()["data"][0]["status"], "Charging", "{}", chargers.body);
    let faster = page.step("/sandbox/time-factor").await;
    assert_eq!(faster.status, 200);
    assert_eq!(faster.json()["factor"], 600.0);

    let system = page
        .steps_until("/ev-systems", 1, |r| r.json()["data"][0]["state"] == "ACTIVATED")
        .await;
    assert!(
        system.json()["data"][0]["match"]["evidence"].is_array(),
        "{}",
        system.body
    );

    // 7. A car that cannot stop: the STOP goes through the charger it is paired with.
    let stop = page.step("ACTION_ID=").await;
    assert_eq!(stop.status, 200, "{}", stop.body);
    let settled = page
        .steps_until("/actions/$ACTION_ID", 1, |r| r.json()["state"] != "PENDING")
        .await;
    let action = settled.json();
    assert_eq!(action["state"], "CONFIRMED", "{}", settled.body);
    assert!(
        action["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["via"] == "charger"),
        "{}",
        settled.body
    );

    // 8. Unplugged, and the car changed.
    let unplugged = page.step("/sandbox/unplug").await;
    assert_eq!(unplugged.status, 200, "{}", unplugged.body);
    assert_eq!(unplugged.json()["isPluggedIn"], false);
    let changed = page.step("PATCH").await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json()["batteryLevel"], 20.0);
    assert_eq!(changed.json()["scheduleHold"], true);

    // 9. The events of all of the above, replayed from the start of the stream.
    let events = page.step("/events?lastEventId=0").await;
    assert_eq!(events.status, 200, "{}", events.body);
    for kind in [
        "user:vehicle:discovered",
        "user:charger:discovered",
        "user:ev-system:activated",
        "user:ev-system:deactivated",
        "user:vendor-action:updated",
    ] {
        assert!(
            events.body.contains(&format!("event: {kind}")),
            "no {kind} in the stream:\n{}",
            events.body
        );
    }

    page.finish();
}

#[test]
fn the_page_parser_reads_quoting_captures_and_pipes_as_a_shell_does() {
    let vars = HashMap::from([("A".to_owned(), "x y".to_owned()), ("B".to_owned(), "1".to_owned())]);
    let words = shell_words(r#"curl -d "{\"k\":\"$A\"}" '$B' $B | jq -r .id"#, &vars);
    assert_eq!(words[0], vec!["curl", "-d", "{\"k\":\"x y\"}", "$B", "1"]);
    assert_eq!(words[1], vec!["jq", "-r", ".id"]);
    assert_eq!(
        jq_path(&serde_json::json!({"data": [{"id": 7}]}), ".data[0].id"),
        serde_json::json!(7)
    );
    let lines = page_lines("```sh\nX=$(curl -s a | jq -r .b)\nnot a command\n```\n```\ncurl ignored\n```\n");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].capture.as_deref(), Some("X"));
}
