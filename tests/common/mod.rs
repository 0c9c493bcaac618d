//! Support shared by the integration tests: the image builder, the third-party corpus,
//! running the portcullis binary, and the real services the remote tests talk to (with the
//! token issuer and the fault-injecting proxy that stand beside and in front of them), and
//! [`skip`]: how a test without one of those says so, and why that fails when `CI` is set.
//!
//! Every test crate compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

pub mod alpine;
pub mod builder;
pub mod fault_proxy;
pub mod gate;
pub mod http1;
pub mod redis;
pub mod services;
pub mod token_issuer;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the `CI` environment variable is set and not empty, as it is when CI runs
/// scripts/test.sh (through `.ci/run`, as root): then every service and tool the tests need
/// is there, and so is the corpus.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Skips the calling test because `reason` (a clause: "openssl is not installed"): prints
/// `SKIPPED: <reason>` on stderr, and the caller returns without checking anything. When
/// `CI` is set it panics instead, so that nothing passes silently in CI.
///
/// Every test that skips goes through here, or through [`corpus`], [`have_tool`] and
/// `services::*`, which call it. Only a test whose requirement CI cannot meet may print a
/// plain `SKIPPED` line of its own, and says why next to it.
#[track_caller]
pub fn skip(reason: impl std::fmt::Display) {
    if in_ci() {
        panic!("CI is set but {reason}: this test must run in CI");
    }
    eprintln!("SKIPPED: {reason}");
}

/// The shared third-party corpus, or `None` (after [`skip`]) when it is not checked out
/// beside the project; tests then return early. CI always has it.
#[track_caller]
pub fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        skip("../shared/corpus is not checked out beside the project");
        None
    }
}

/// A command for the portcullis binary built with the tests, with colour and terminal
/// detection out of the way, and Trivy off (`PORTCULLIS_TRIVY=off`): whether Trivy is
/// installed, and whether it has a database, must not change what other tests see. The
/// Trivy tests turn it back on with `--trivy`.
pub fn portcullis() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.env("NO_COLOR", "1")
        .env("PORTCULLIS_TRIVY", "off")
        .env_remove("RUST_BACKTRACE");
    offline_data(&mut cmd);
    cmd
}

/// Keeps a command's data to what the test gives it: offline (no download of vulnerability
/// data or package indexes, which would make results depend on the day and the network),
/// and a local vulnerability database directory that does not exist, so that the user's own
/// database is not read. The `db` tests, and those serving indexes on loopback, turn
/// downloads back on with `env_remove("PORTCULLIS_OFFLINE")` and their own directory.
pub fn offline_data(cmd: &mut Command) -> &mut Command {
    cmd.env("PORTCULLIS_OFFLINE", "1")
        .env(
            "PORTCULLIS_DB_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-vulnerability-db"),
        )
        .env_remove("PORTCULLIS_DB_MIRROR")
        .env_remove("PORTCULLIS_DB_REPOSITORY")
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Parses stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Check ids of the findings in the JSON report, in report order.
    pub fn check_ids(&self) -> Vec<String> {
        check_ids(&self.json())
    }

    /// Check ids of one family's findings (`user` for `user-*`), in report order: what a
    /// test of that family compares, whatever other families find in the same image.
    pub fn family_ids(&self, family: &str) -> Vec<String> {
        family_ids(&self.json(), family)
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        assert_no_panic(self);
        self
    }

    /// Asserts a clean failure to scan: exit 2, nothing on stdout, and one line on stderr
    /// that names `reference` and contains every one of `reasons` (case-insensitive).
    pub fn expect_scan_error(&self, reference: &str, reasons: &[&str]) -> &Run {
        self.expect_code(2);
        assert!(
            self.stdout.is_empty(),
            "a failed scan printed to stdout:\n{}",
            self.stdout
        );
        let line = self.stderr.trim_end_matches('\n');
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "stderr is not one line:\n{}",
            self.stderr
        );
        assert!(
            line.contains(reference),
            "stderr does not name {reference:?}:\n{line}"
        );
        let lower = line.to_lowercase();
        for reason in reasons {
            assert!(
                lower.contains(&reason.to_lowercase()),
                "stderr does not say {reason:?}:\n{line}"
            );
        }
        self
    }
}

pub fn assert_no_panic(run: &Run) {
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "portcullis panicked:\n{}",
        run.stderr
    );
    assert_ne!(run.code, 101, "exit code 101 is a panic:\n{}", run.stderr);
}

/// Runs a prepared command and collects what it did.
pub fn run_command(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run portcullis");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a prepared command with `stdin` written to its standard input (then closed), and
/// collects what it did.
pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portcullis");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for portcullis");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs portcullis with `args`.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    run_command(portcullis().args(args))
}

/// `portcullis scan --format json REFERENCE EXTRA...`.
pub fn scan_json(reference: &str, extra: &[&str]) -> Run {
    let mut args = vec!["scan", "--format", "json", reference];
    args.extend_from_slice(extra);
    run(&args)
}

/// Check ids of a JSON report's findings.
pub fn check_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f["check"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Check ids of a JSON report's findings of one family (`user` for `user-*`).
pub fn family_ids(report: &Value, family: &str) -> Vec<String> {
    let prefix = format!("{family}-");
    check_ids(report)
        .into_iter()
        .filter(|id| id.starts_with(&prefix))
        .collect()
}

/// A path as a `&str` (test paths are always UTF-8).
pub fn text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Whether a program is on PATH (it runs `NAME --version` successfully), without a word.
pub fn tool_installed(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether a program is on PATH; when it is not, [`skip`]s the calling test (scripts/test.sh
/// installs every tool the tests drive, so in CI a missing one fails).
#[track_caller]
pub fn have_tool(name: &str) -> bool {
    let found = tool_installed(name);
    if !found {
        skip(format!("{name} is not installed"));
    }
    found
}
