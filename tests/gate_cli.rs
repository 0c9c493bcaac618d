//! The gate end to end: exit codes and the flags that change them, policies by name and
//! from files (and their errors), waivers on a fixed clock, several outputs in one run.

mod common;

use common::{Run, gate, portcullis, run_command};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn demo() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/demo.tar")
        .display()
        .to_string()
}

/// Runs `portcullis scan ARGS` in `cwd` on the fixed clock.
fn scan_in(cwd: &Path, args: &[&str]) -> Run {
    run_command(
        portcullis()
            .current_dir(cwd)
            .env(portcullis::cli::scan::NOW_ENV, gate::NOW)
            .arg("scan")
            .args(args),
    )
}

/// A directory holding the built image (`app.tar`) and, optionally, its waiver file.
fn workdir(with_waivers: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    gate::write_image(dir.path());
    if with_waivers {
        gate::write_waivers(dir.path());
    }
    dir
}

/// A failure to start: exit 2, nothing on stdout, one line on stderr containing `what`.
fn expect_config_error(run: &Run, what: &[&str]) {
    run.expect_code(2);
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    let line = run.stderr.trim_end();
    assert!(
        !line.contains('\n'),
        "stderr is not one line:\n{}",
        run.stderr
    );
    for w in what {
        assert!(line.contains(w), "stderr does not say {w:?}:\n{line}");
    }
}

#[test]
fn exit_codes_follow_the_gate_and_the_flags_that_change_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo();
    scan_in(dir.path(), &[&demo]).expect_code(1);
    scan_in(dir.path(), &[&demo, "--exit-code", "3"]).expect_code(3);
    let report_only = scan_in(dir.path(), &[&demo, "--exit-code", "0"]);
    report_only.expect_code(0);
    assert!(
        report_only.stdout.contains("FAILED"),
        "{}",
        report_only.stdout
    );
    // The demo's deleted AWS credentials are critical: still extractable from layer 1.
    scan_in(dir.path(), &[&demo, "--fail-on", "critical"]).expect_code(1);
    scan_in(
        dir.path(),
        &[&demo, "--fail-on", "critical", "--no-secrets"],
    )
    .expect_code(0);
    scan_in(dir.path(), &["/nonexistent/image.tar"]).expect_code(2);
    scan_in(dir.path(), &["/nonexistent/image.tar", "--exit-code", "7"]).expect_code(2);
}

#[test]
fn severity_filter_reports_and_gates_only_the_listed_severities() {
    let dir = tempfile::tempdir().unwrap();
    let run = scan_in(
        dir.path(),
        &[&demo(), "--format", "json", "--severity", "LOW,medium"],
    );
    run.expect_code(0);
    let severities: Vec<String> = run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !severities.is_empty() && severities.iter().all(|s| s == "low" || s == "medium"),
        "{severities:?}"
    );
    let run = scan_in(
        dir.path(),
        &[&demo(), "--format", "json", "--severity", "high"],
    );
    run.expect_code(1);
    let report = run.json();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "high"),
        "{report}"
    );
    assert!(run.check_ids().contains(&"user-root".to_string()));
    let bad = scan_in(dir.path(), &[&demo(), "--severity", "high,severe"]);
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("unknown severity \"severe\""),
        "{}",
        bad.stderr
    );
}

#[test]
fn built_in_policies_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (name, fail_on) in [("default", "high"), ("strict", "medium"), ("cis", "medium")] {
        let run = scan_in(dir.path(), &[&demo(), "--format", "json", "--policy", name]);
        run.expect_code(1);
        let report = run.json();
        assert_eq!(report["gate"]["policy"], name);
        assert_eq!(report["gate"]["fail_on"], fail_on);
    }
    expect_config_error(
        &scan_in(dir.path(), &[&demo(), "--policy", "lenient"]),
        &["unknown policy \"lenient\"", "default, strict, cis"],
    );
}

#[test]
fn a_policy_file_extends_a_built_in_one() {
    let dir = workdir(false);
    std::fs::write(
        dir.path().join("gate.toml"),
        "extends = \"strict\"\nfail_on = \"critical\"\n\n[checks.user]\nseverity = \"critical\"\n\n[checks.user-not-found]\nfail_on = \"never\"\n",
    )
    .unwrap();
    let run = scan_in(
        dir.path(),
        &["app.tar", "--format", "json", "--policy", "gate.toml"],
    );
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["gate"]["policy"], "gate.toml");
    assert_eq!(report["gate"]["fail_on"], "critical");
    assert_eq!(report["gate"]["failing"], 1, "user-not-found never fails");
    let user_severities: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with("user-"))
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert_eq!(user_severities, ["critical", "critical"]);
    // Other families keep their own severities.
    assert!(run.check_ids().contains(&"account-extra-uid0".to_string()));

    // --fail-on replaces every threshold, the per-check one too.
    let run = scan_in(
        dir.path(),
        &[
            "app.tar",
            "--format",
            "json",
            "--policy",
            "./gate.toml",
            "--fail-on",
            "high",
        ],
    );
    run.expect_code(1);
    // user-uid0-alias and user-not-found (both critical), and account-extra-uid0 (high).
    assert_eq!(run.json()["gate"]["failing"], 3);
}

#[test]
fn policy_mistakes_stop_before_the_scan_with_file_line_and_column() {
    let dir = workdir(false);
    let cases: &[(&str, &str, &str)] = &[
        (
            "syntax",
            "fail_on = \"high\n",
            "bad.toml:1:16: invalid basic string",
        ),
        (
            "unknown key",
            "fail_on = \"high\"\nfailon = \"low\"\n",
            "bad.toml:2:1: unknown field `failon`",
        ),
        (
            "wrong type",
            "[params.accounts]\nsystem_uid_max = true\n",
            "bad.toml:2:18:",
        ),
        (
            "unknown check id",
            "[checks.user-rooot]\nenabled = false\n",
            "bad.toml:1:9: unknown check \"user-rooot\"",
        ),
        (
            "bad severity",
            "[checks.user-root]\nseverity = \"urgent\"\n",
            "bad.toml:2:12: unknown severity \"urgent\"",
        ),
        (
            "unknown base",
            "extends = \"paranoid\"\n",
            "bad.toml:1:11: extends: unknown policy \"paranoid\"",
        ),
        (
            "extends cycle",
            "extends = \"./bad.toml\"\n",
            "bad.toml:1:11: extends \"./bad.toml\" makes a cycle",
        ),
    ];
    for (kind, text, expected) in cases {
        std::fs::write(dir.path().join("bad.toml"), text).unwrap();
        let run = scan_in(
            dir.path(),
            &[
                "app.tar",
                "--policy",
                "bad.toml",
                "--format",
                "json=out.json",
            ],
        );
        expect_config_error(&run, &["portcullis: error: invalid policy: ", expected]);
        assert!(
            !dir.path().join("out.json").exists(),
            "{kind}: a report was written"
        );
    }
}

#[test]
fn the_waiver_file_in_the_working_directory_applies_on_the_fixed_clock() {
    let dir = workdir(true);
    let run = scan_in(dir.path(), &["app.tar", "--format", "json"]);
    run.expect_code(1);
    let report = run.json();
    let states: Vec<(&str, &str)> = report["waivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["check"].as_str().unwrap(), w["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("user-uid0-alias", "applied"),
            ("account-extra-uid0", "applied"),
            ("user-not-found", "expired"),
            ("user-root", "unused")
        ]
    );
    let waived: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("waived").is_some())
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(waived, ["account-extra-uid0", "user-uid0-alias"]);

    let table = scan_in(dir.path(), &["app.tar"]);
    assert!(
        table.stdout.contains(
            "warning: .portcullisignore.toml:14: waiver for user-not-found expired on 2025-12-31"
        ),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("waiver for user-root matched no finding")
    );
}

#[test]
fn a_waiver_applies_through_its_expiry_date_and_not_a_day_longer() {
    let dir = workdir(true);
    let at = |today: &str| {
        run_command(
            portcullis()
                .current_dir(dir.path())
                .env(portcullis::cli::scan::NOW_ENV, today)
                .args(["scan", "app.tar", "--format", "json"]),
        )
    };
    let last_day = at("2025-12-31");
    last_day.expect_code(0);
    assert_eq!(last_day.json()["summary"]["waived"], 3);
    let day_after = at("2026-01-01");
    day_after.expect_code(1);
    assert_eq!(day_after.json()["summary"]["waived"], 2);
    assert_eq!(day_after.json()["waivers"][2]["state"], "expired");
    expect_config_error(
        &at("next tuesday"),
        &["PORTCULLIS_NOW=next tuesday", "not a date"],
    );
}

#[test]
fn an_explicit_ignore_file_replaces_the_default_and_must_exist() {
    let dir = workdir(true);
    std::fs::write(
        dir.path().join("other.toml"),
        "[[waiver]]\ncheck = \"user-not-found\"\nreason = \"entrypoint creates the group\"\n\n[[waiver]]\ncheck = \"user-uid0-alias\"\nreason = \"break-glass\"\n\n[[waiver]]\ncheck = \"account-extra-uid0\"\nreason = \"break-glass\"\n",
    )
    .unwrap();
    let run = scan_in(
        dir.path(),
        &["app.tar", "--format", "json", "--ignore-file", "other.toml"],
    );
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["waivers"].as_array().map(Vec::len), Some(3));
    assert_eq!(report["waivers"][0]["file"], "other.toml");

    expect_config_error(
        &scan_in(dir.path(), &["app.tar", "--ignore-file", "missing.toml"]),
        &["invalid waiver file: missing.toml: "],
    );
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[waiver]]\ncheck = \"user-root\"\nexpires = 2026-12-31\n",
    )
    .unwrap();
    expect_config_error(
        &scan_in(dir.path(), &["app.tar", "--ignore-file", "bad.toml"]),
        &["invalid waiver file: bad.toml:1:1: missing field `reason`"],
    );
}

fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn several_formats_in_one_run_each_written_whole() {
    let dir = workdir(true);
    let out = dir.path().join("reports");
    std::fs::create_dir(&out).unwrap();
    let file = |name: &str| -> PathBuf { out.join(name) };
    let arg = |format: &str, name: &str| format!("{format}={}", file(name).display());
    let run = scan_in(
        dir.path(),
        &[
            "app.tar",
            "--format",
            "table",
            "--format",
            &arg("json", "r.json"),
            "-f",
            &arg("sarif", "r.sarif"),
            "--format",
            &arg("junit", "r.xml"),
            "--format",
            &arg("markdown", "summary.md"),
        ],
    );
    run.expect_code(1);
    assert!(
        run.stdout.starts_with("app.tar (docker-archive)"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(file("r.json")).unwrap()).unwrap();
    assert_eq!(json["gate"]["result"], "FAILED");
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(file("r.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let junit = std::fs::read_to_string(file("r.xml")).unwrap();
    assert!(
        junit.starts_with("<?xml") && junit.contains("<failure "),
        "{junit}"
    );
    let md = std::fs::read_to_string(file("summary.md")).unwrap();
    assert!(md.starts_with("## portcullis: ❌ failed"), "{md}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["r.json", "r.sarif", "r.xml", "summary.md"],
        "no temporary files left"
    );
    assert_eq!(file_mode(&file("r.json")), 0o644);

    // A report replaced in place keeps the mode it had.
    std::fs::set_permissions(
        file("r.json"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    scan_in(
        dir.path(),
        &[
            "app.tar",
            "-f",
            "json",
            "-o",
            &file("r.json").display().to_string(),
        ],
    )
    .expect_code(1);
    assert_eq!(file_mode(&file("r.json")), 0o640);
}

#[test]
fn output_mistakes_are_refused_before_the_scan() {
    let dir = workdir(false);
    expect_config_error(
        &scan_in(
            dir.path(),
            &["app.tar", "--format", "table", "--format", "json"],
        ),
        &["give all but one a file"],
    );
    expect_config_error(
        &scan_in(
            dir.path(),
            &[
                "app.tar",
                "--format",
                "json=a.json",
                "--format",
                "sarif=a.json",
            ],
        ),
        &["two formats would write to a.json"],
    );
    expect_config_error(
        &scan_in(
            dir.path(),
            &["app.tar", "--format", "json=a.json", "-o", "b.json"],
        ),
        &["-o b.json names no format"],
    );
    let run = scan_in(dir.path(), &["app.tar", "--format", "xml"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("unknown format \"xml\""),
        "{}",
        run.stderr
    );
    let run = scan_in(
        dir.path(),
        &["app.tar", "--format", "sarif=/nonexistent/dir/r.sarif"],
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("/nonexistent/dir/r.sarif"),
        "{}",
        run.stderr
    );
}

/// `attest` reaches its verdict as `scan` does: the same policy file, waivers and clock; the
/// attestation names the policy file and the digest of its settings.
#[test]
fn attest_uses_the_policy_file_and_the_waivers() {
    use base64::Engine as _;
    let dir = workdir(true);
    std::fs::write(
        dir.path().join("gate.toml"),
        "extends = \"default\"\n[checks.user-not-found]\nfail_on = \"never\"\n",
    )
    .unwrap();
    run_command(portcullis().current_dir(dir.path()).args([
        "keygen",
        "--type",
        "ed25519",
        "--out",
        "signer",
        "--no-password",
    ]))
    .expect_code(0);
    let attest = |policy: &str| {
        run_command(
            portcullis()
                .current_dir(dir.path())
                .env(portcullis::cli::scan::NOW_ENV, gate::NOW)
                .args([
                    "attest",
                    "app.tar",
                    "--key",
                    "signer.key",
                    "--policy",
                    policy,
                ]),
        )
    };
    let run = attest("./gate.toml");
    run.expect_code(0);
    let envelope: Value = serde_json::from_str(&run.stdout).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    let predicate = &statement["predicate"];
    assert_eq!(predicate["verdict"], "PASSED", "{predicate}");
    assert_eq!(predicate["policy"]["name"], "./gate.toml");
    assert!(
        predicate["policy"]["uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("file:///") && u.ends_with("/gate.toml")),
        "{}",
        predicate["policy"]
    );
    assert_eq!(predicate["report"]["summary"]["waived"], 2);

    expect_config_error(
        &attest("lenient"),
        &["invalid policy: unknown policy \"lenient\""],
    );
}

/// The table is coloured on a terminal (a pseudo-terminal from util-linux `script`), never
/// with `NO_COLOR`, and never in a file.
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    if !common::have_tool("script") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("table.txt");
    let command = format!(
        "{} scan {} --format table --format table={}",
        env!("CARGO_BIN_EXE_portcullis"),
        demo(),
        file.display()
    );
    let on_terminal = |no_color: Option<&str>| {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"])
            .env_remove("NO_COLOR");
        common::offline_data(&mut cmd);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        String::from_utf8_lossy(&cmd.output().expect("run script").stdout).into_owned()
    };
    let coloured = on_terminal(None);
    assert!(coloured.contains("\u{1b}[1;31mFAILED"), "{coloured:?}");
    assert!(!std::fs::read_to_string(&file).unwrap().contains('\u{1b}'));
    let plain = on_terminal(Some("1"));
    // NO_COLOR removes colour; the progress line on the terminal (stderr) may still redraw
    // itself with cursor controls, which are not colour.
    assert!(plain.contains("FAILED") && !has_colour(&plain), "{plain:?}");
}

/// Whether `text` holds an SGR (colour) escape sequence: ESC [ digits/semicolons m.
fn has_colour(text: &str) -> bool {
    text.match_indices("\u{1b}[").any(|(i, _)| {
        let rest = &text[i + 2..];
        let params = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == ';')
                .len();
        rest[params..].starts_with('m')
    })
}

/// A reference that can only be a path is a missing file, whatever registry namespace it
/// would also name: nothing is pulled, and the error says how to pull if that was meant.
#[test]
fn a_missing_path_is_never_pulled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("build")).unwrap();
    for reference in [
        "build/app.tar",
        "build/app",
        "./x.tar",
        "app.tar.gz",
        "../images/app.oci",
        "/nonexistent/app",
    ] {
        let run = scan_in(dir.path(), &[reference]);
        run.expect_scan_error(reference, &["no such file", "never pulled"]);
        assert!(
            !run.stderr.contains("pulling"),
            "{reference}: {}",
            run.stderr
        );
    }
    let run = scan_in(dir.path(), &["docker-archiv:app.tar"]);
    run.expect_scan_error(
        "docker-archiv:app.tar",
        &["unknown transport \"docker-archiv:\", did you mean docker-archive:?"],
    );
    let run = scan_in(dir.path(), &["tar:./app.tar"]);
    run.expect_scan_error("tar:./app.tar", &["did you mean docker-archive:?"]);
}

/// A bare name is pulled, and says once from where before the first request. The registry
/// here is a closed port, so the pull itself fails.
#[test]
fn a_bare_name_says_which_registry_it_is_pulled_from() {
    let dir = tempfile::tempdir().unwrap();
    let run = scan_in(dir.path(), &["localhost:1/app:1"]);
    run.expect_code(2);
    let announced = "portcullis: pulling localhost:1/app:1 from localhost:1 (localhost:1/app:1)";
    assert_eq!(
        run.stderr.matches(announced).count(),
        1,
        "stderr:\n{}",
        run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines[0], announced, "the announcement comes first");
    let quiet = scan_in(dir.path(), &["localhost:1/app:1", "--quiet"]);
    quiet.expect_code(2);
    assert!(!quiet.stderr.contains("pulling"), "{}", quiet.stderr);
}

/// A report whose directory does not exist fails before anything is read: the image named
/// here does not exist either, and the error is about the report.
#[test]
fn an_output_in_a_missing_directory_fails_before_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let run = scan_in(
        dir.path(),
        &["missing.tar", "--format", "json=/no/such/dir/r.json"],
    );
    expect_config_error(&run, &["--format json=/no/such/dir/r.json", "/no/such/dir"]);
    assert!(!run.stderr.contains("missing.tar"), "{}", run.stderr);
    let run = run_command(portcullis().current_dir(dir.path()).args([
        "sbom",
        "missing.tar",
        "-o",
        "/no/such/dir/s.json",
    ]));
    expect_config_error(&run, &["-o /no/such/dir/s.json", "/no/such/dir"]);
}

/// A reader that stops reading (`scan X | head -1`) is not a failed scan: no error, and the
/// exit code is the verdict's.
#[test]
fn a_closed_stdout_ends_the_scan_quietly() {
    let mut child = portcullis()
        .env(portcullis::cli::scan::NOW_ENV, gate::NOW)
        .args(["scan", &demo(), "--exit-code", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closing the read end at once: every write the scan makes fails with a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// `sbom` takes `-f` as `scan` does.
#[test]
fn sbom_takes_the_short_format_flag() {
    let run = run_command(portcullis().args(["sbom", &demo(), "-f", "spdx"]));
    run.expect_code(0);
    assert_eq!(run.json()["spdxVersion"], "SPDX-2.3");
}

/// An OCI image whose `org.opencontainers.image.ref.name` is only a tag (as skopeo and
/// umoci write it) is named by the archive and the tag; a full reference is kept.
#[test]
fn an_oci_image_named_by_a_bare_tag_takes_the_archive_name() {
    use common::builder::{Image, Layer, Layout};
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .user("app")
        .layer(
            Layer::new()
                .dir("etc")
                .file("etc/passwd", "app:x:1000:1000::/:/bin/sh\n"),
        )
        .build();
    for (refname, file, expected) in [
        ("1.2", "app.oci.tar", "app:1.2"),
        (
            "registry.example.com/acme/app:1.2",
            "other.tar",
            "registry.example.com/acme/app:1.2",
        ),
    ] {
        let archive = dir.path().join(file);
        Layout::new()
            .image(&built, &[refname])
            .write_archive(&archive);
        let run = scan_in(
            dir.path(),
            &[
                &format!("oci-archive:{}", archive.display()),
                "--format",
                "json",
                "--exit-code",
                "0",
            ],
        );
        run.expect_code(0);
        assert_eq!(run.json()["image"]["names"][0], expected, "{refname}");
    }
}
