//! Support shared by the integration tests: the image builder, the third-party corpus,
//! running the portcullis binary, and the real services the remote tests talk to (with the
//! token issuer and the fault-injecting proxy that stand beside and in front of them).
//!
//! Every test crate compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

pub mod builder;
pub mod fault_proxy;
pub mod gate;
pub mod http1;
pub mod services;
pub mod token_issuer;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shared third-party corpus, or `None` (with a note on stderr) when it is not checked
/// out beside the project; tests then return early.
pub fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/corpus not found");
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
    cmd
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

/// Whether a program is on PATH; prints why a test is skipped when it is not.
pub fn have_tool(name: &str) -> bool {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: {name} is not installed");
    }
    found
}
