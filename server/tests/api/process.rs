//! `locksmith serve` as a real process: started with the environment a test gives, its
//! address read from its JSON log, its log events kept for tests that wait on one, and
//! stopped by SIGTERM (gracefully) or SIGKILL (a crash).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs a one-shot `locksmith` command with `env` set and `unset` removed, `stdin` as its
/// standard input; returns what it printed and how it exited.
pub fn run(
    args: &[&str],
    env: &[(&str, &str)],
    unset: &[&str],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write as _;
    let mut command = Command::new(env!("CARGO_BIN_EXE_locksmith"));
    command
        .args(args)
        .env("LOCKSMITH_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    set_env(&mut command, env, unset);
    let mut child = command.spawn().expect("locksmith runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child.wait_with_output().expect("exits")
}

/// Sets `env` (over the defaults already set) and removes `unset`.
fn set_env(command: &mut Command, env: &[(&str, &str)], unset: &[&str]) {
    for name in unset {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
}

/// A running `locksmith serve`.
pub struct Server {
    child: Child,
    addr: String,
    /// The server's log events after the listening line, for tests that wait on one.
    events: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl Server {
    /// Starts `locksmith serve` with `env` set and `unset` removed, on port 0, and waits
    /// for the log line that says where it listens (an event, not a sleep).
    pub fn start(env: &[(&str, &str)], unset: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_locksmith"));
        command
            .arg("serve")
            .env("LOCKSMITH_PORT", "0")
            .env("LOCKSMITH_LOG_FORMAT", "json")
            .env("LOCKSMITH_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        set_env(&mut command, env, unset);
        let mut child = command.spawn().expect("locksmith starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("locksmith exited before listening")
                .expect("readable log");
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(addr) = event["addr"].as_str() {
                break addr.to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str(&line) {
                    let _ = tx.send(event);
                }
            }
        });
        Self {
            child,
            addr,
            events,
        }
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits (at most `within`) for a log event whose message contains `text`.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> serde_json::Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line containing {text:?} within {within:?}"));
            if event["message"].as_str().is_some_and(|m| m.contains(text)) {
                return event;
            }
        }
    }

    /// SIGTERM, then wait: a graceful stop exits 0.
    pub fn terminate(mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.child.wait().expect("exits");
        assert!(status.success(), "graceful stop exits 0, got {status}");
    }

    /// SIGKILL, as a crash or the OOM killer: nothing is given back or written.
    pub fn kill(mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGHUP: reload the settings.
    pub fn hangup(&self) {
        self.signal(nix::sys::signal::Signal::SIGHUP);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("signal");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
