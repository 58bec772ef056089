//! What the tests of the `coupler` binary share: the command with a clean environment, a free
//! port, and the wait for a started `coupler serve`. Each test binary uses a part of it.

#![allow(dead_code, reason = "each test binary uses only some of these")]

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStderr, Command};

/// `coupler` run in `dir` with a clean `COUPLER_*` environment.
pub fn coupler(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coupler"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("COUPLER_") {
            command.env_remove(name);
        }
    }
    command
}

/// A loopback address with a port nobody listens on now.
pub fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").to_string()
}

/// Reads the log of `child` (started with its standard error piped) up to and including the
/// "coupler is serving" line. Returns the lines read, that one last, and the rest of the log,
/// which the caller must keep draining so the child never blocks on a full pipe.
pub fn until_serving(child: &mut Child) -> (Vec<String>, Lines<BufReader<ChildStderr>>) {
    let mut lines = BufReader::new(child.stderr.take().expect("standard error is piped")).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .expect("serve logs before it exits")
            .expect("the log is text");
        let serving = line.contains("coupler is serving");
        seen.push(line);
        if serving {
            return (seen, lines);
        }
    }
}
