//! Logs written to a file or a pipe: no terminal colour codes, and values in their plain form.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes_and_no_debug_forms() {
    let dir = std::env::temp_dir().join(format!("coupler-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_coupler"));
    command.current_dir(&dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("COUPLER_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["serve", "--sandbox"])
        .env("COUPLER_LISTEN", "127.0.0.1:0")
        .env("COUPLER_LOG_FORMAT", "text")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines.next().expect("serve logs before it exits").unwrap();
        let serving = line.contains("coupler is serving");
        seen.push(line);
        if serving {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let text = seen.join("\n");
    assert!(!text.contains('\u{1b}'), "colour codes in a piped log:\n{text}");
    assert!(!text.contains("Some("), "a Rust debug form in the log:\n{text}");
    assert!(!text.contains("[\""), "a Rust debug list in the log:\n{text}");
    assert!(
        text.contains("vendors="),
        "the start-up line names the vendors:\n{text}"
    );
}
