//! Golden files of every report format, under `tests/golden/IMAGE/report.{txt,json,sarif,xml,md}`,
//! for two real images from ../shared/corpus and one built here (with waivers that apply,
//! have expired and match nothing, on a fixed clock). All five formats come from one run,
//! each written to its own file, as CI runs it.
//!
//! The files hold no machine-specific text: images are named by paths relative to the
//! directory the scan runs in, and the tool version is replaced by `[VERSION]`.
//!
//! Every new or changed check changes these files. Re-bless them all with one command, then
//! review the diff before committing:
//!
//!     PORTCULLIS_BLESS=1 cargo test --test golden
//!     git diff tests/golden

mod common;

use common::{gate, portcullis, run_command};
use std::path::{Path, PathBuf};

const FORMATS: &[(&str, &str)] = &[
    ("table", "txt"),
    ("json", "json"),
    ("sarif", "sarif"),
    ("junit", "xml"),
    ("markdown", "md"),
];

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn redact(text: &str) -> String {
    text.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
}

/// Scans `reference` from `cwd` into every format and compares each with its golden file;
/// returns what differs.
fn check(name: &str, cwd: &Path, reference: &str, expected_code: i32) -> Vec<String> {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = portcullis();
    cmd.current_dir(cwd)
        .env(portcullis::cli::scan::NOW_ENV, gate::NOW)
        .args(["scan", reference]);
    for (format, ext) in FORMATS {
        cmd.arg("--format").arg(format!(
            "{format}={}",
            out.path().join(format!("report.{ext}")).display()
        ));
    }
    let run = run_command(&mut cmd);
    run.expect_code(expected_code);
    assert!(
        run.stdout.is_empty(),
        "every format went to a file:\n{}",
        run.stdout
    );

    let bless = std::env::var_os("PORTCULLIS_BLESS").is_some_and(|v| !v.is_empty());
    let dir = golden_dir(name);
    let mut problems = Vec::new();
    for (format, ext) in FORMATS {
        let actual = redact(
            &std::fs::read_to_string(out.path().join(format!("report.{ext}")))
                .unwrap_or_else(|e| panic!("{name}: {format} report not written: {e}")),
        );
        let golden = dir.join(format!("report.{ext}"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            problems.push(format!(
                "{} differs from this run:\n{}",
                golden.display(),
                first_difference(&expected, &actual)
            ));
        }
    }
    problems
}

fn first_difference(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let at = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let show = |lines: &[&str]| {
        lines
            .iter()
            .skip(at)
            .take(6)
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "  at line {}\n  golden:\n{}\n  now:\n{}",
        at + 1,
        show(&e),
        show(&a)
    )
}

fn assert_none(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{}\n\nIf the change is intended: PORTCULLIS_BLESS=1 cargo test --test golden",
        problems.join("\n\n")
    );
}

#[test]
fn built_image_with_waivers_and_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    gate::write_image(dir.path());
    gate::write_waivers(dir.path());
    assert_none(check("built-app", dir.path(), "app.tar", 1));
}

#[test]
fn corpus_alpine_310_runs_as_root() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    assert_none(check(
        "alpine-310",
        &corpus,
        "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz",
        1,
    ));
}

#[test]
fn corpus_dockle_scratch_names_a_missing_user() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    assert_none(check(
        "dockle-scratch",
        &corpus,
        "docker-archive:goodwithtech_dockle/pkg/scanner/testdata/scratch.tar",
        1,
    ));
}

#[test]
fn corpus_oci_layout_runs_as_root() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    assert_none(check(
        "stereoscope-oci",
        &corpus,
        "oci:anchore_stereoscope/pkg/image/oci/testdata/valid_oci_dir:1.0",
        1,
    ));
}

/// One path form in every output: the golden reports (which every run above must equal)
/// show image paths absolute with one leading slash, never `app/.env` or `//etc/…`.
#[test]
fn golden_reports_show_every_path_in_one_form() {
    fn json_paths(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if k == "path"
                        && let Some(s) = v.as_str()
                    {
                        out.push(s.to_string());
                    }
                    json_paths(v, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| json_paths(v, out)),
            _ => {}
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut checked = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.join("report.json").exists() {
            continue;
        }
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        let mut paths = Vec::new();
        json_paths(&report["findings"], &mut paths);
        json_paths(&report["diagnostics"], &mut paths);
        for p in &paths {
            assert!(
                p.starts_with('/') && !p.starts_with("//"),
                "{}: path {p:?} is not absolute with one slash",
                dir.display()
            );
            checked += 1;
        }
        for name in ["report.txt", "report.md", "report.xml"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            for (i, _) in text.match_indices("//") {
                let before = text[..i].chars().last().unwrap_or(' ');
                assert!(
                    before == ':' || before.is_alphanumeric(),
                    "{}/{name}: a path with two leading slashes near {:?}",
                    dir.display(),
                    &text[i.saturating_sub(20)..(i + 40).min(text.len())]
                );
            }
        }
    }
    assert!(checked >= 5, "only {checked} paths in the golden reports");
}
