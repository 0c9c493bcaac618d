//! Every image artifact in ../shared/corpus (go-containerregistry, containers/image,
//! regclient, stereoscope, dive, Trivy, Dockle, osv-scalibr fixtures) scanned end to end and
//! compared with `expected/images.json`: layer count, digests, diff_ids, entries, config and
//! manifest digests, platform and user. Broken fixtures must fail with exit code 2 and a
//! one-line reason naming the reference.
//!
//! The corpus is a tier of its own: when ../shared/corpus is absent these tests say so and
//! pass without checking anything, unless `CI` is set: then they fail.

mod common;

use common::corpus;
use serde_json::Value;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn scan(args: &[&str]) -> Run {
    let out = common::offline_data(&mut Command::new(env!("CARGO_BIN_EXE_portcullis")))
        .env("PORTCULLIS_TRIVY", "off")
        .arg("scan")
        .args(args)
        .output()
        .expect("run portcullis");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const IMAGE_CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

fn transport(format: &str) -> Option<&'static str> {
    match format {
        "docker-archive" => Some("docker-archive:"),
        "oci-layout" => Some("oci:"),
        "oci-archive" => Some("oci-archive:"),
        _ => None,
    }
}

/// Why an expected image cannot be scanned, if it cannot.
fn expected_failure(image: &Value) -> Option<String> {
    if let Some(e) = image.get("error").and_then(Value::as_str) {
        return Some(e.to_string());
    }
    if let Some(mt) = image.get("config_media_type").and_then(Value::as_str)
        && !IMAGE_CONFIG_TYPES.contains(&mt)
    {
        return Some(format!("artifact with config {mt}"));
    }
    let layers = image.get("layers").and_then(Value::as_array);
    if layers.is_some_and(|ls| {
        ls.iter()
            .any(|l| l.get("not_a_tar") == Some(&Value::Bool(true)))
    }) {
        return Some("a layer is not a tar stream".into());
    }
    None
}

fn assert_clean_error(reference: &str, run: &Run, problems: &mut Vec<String>) {
    if run.code != 2 {
        problems.push(format!("{reference}: expected exit 2, got {}", run.code));
        return;
    }
    let lines: Vec<&str> = run.stderr.lines().collect();
    if lines.len() != 1 || !lines[0].contains(reference) || run.stderr.contains("panicked") {
        problems.push(format!(
            "{reference}: error should be one line naming the reference, got {:?}",
            run.stderr
        ));
    }
}

fn check_image(
    reference: &str,
    platform: Option<String>,
    image: &Value,
    problems: &mut Vec<String>,
) {
    let mut args = vec![reference, "--format", "json"];
    let platform_arg;
    if let Some(p) = platform {
        platform_arg = p;
        args.push("--platform");
        args.push(&platform_arg);
    }
    let run = scan(&args);
    if let Some(why) = expected_failure(image) {
        let before = problems.len();
        assert_clean_error(reference, &run, problems);
        if problems.len() > before {
            problems.push(format!("  ({reference} should fail because: {why})"));
        }
        return;
    }
    if run.code != 0 && run.code != 1 {
        problems.push(format!(
            "{reference}: exit {} ({})",
            run.code,
            run.stderr.trim()
        ));
        return;
    }
    let report: Value = match serde_json::from_str(&run.stdout) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("{reference}: report is not JSON: {e}"));
            return;
        }
    };
    let got = &report["image"];
    let mut expect_eq = |what: &str, got: &Value, want: &Value| {
        if got != want {
            problems.push(format!("{reference}: {what}: got {got}, want {want}"));
        }
    };
    expect_eq(
        "config digest",
        &got["config_digest"],
        &image["config_digest"],
    );
    match image.get("manifest_digest") {
        Some(want) => expect_eq("manifest digest", &got["manifest_digest"], want),
        // A classic `docker save` archive has no manifest, so no manifest digest.
        None => expect_eq("manifest digest", &got["manifest_digest"], &Value::Null),
    }
    if let Some(os) = image.get("os") {
        expect_eq("os", &got["platform"]["os"], os);
        expect_eq(
            "architecture",
            &got["platform"]["architecture"],
            &image["architecture"],
        );
    }
    match image.get("user") {
        Some(Value::Null) | None => expect_eq("user", &got["user"], &Value::String(String::new())),
        Some(u) => expect_eq("user", &got["user"], u),
    }
    let want_layers = image["layers"].as_array().cloned().unwrap_or_default();
    let got_layers = got["layers"].as_array().cloned().unwrap_or_default();
    if got_layers.len() as u64
        != image["layer_count"]
            .as_u64()
            .unwrap_or(want_layers.len() as u64)
    {
        problems.push(format!(
            "{reference}: {} layers, want {}",
            got_layers.len(),
            image["layer_count"]
        ));
    }
    for (i, (g, w)) in got_layers.iter().zip(&want_layers).enumerate() {
        for key in ["digest", "diff_id", "size", "entries", "compression"] {
            if let Some(want) = w.get(key) {
                // The estargz layer is gzip as far as the stream is concerned.
                if key == "compression" && want == "estargz" {
                    continue;
                }
                if g.get(key) != Some(want) {
                    problems.push(format!(
                        "{reference}: layer {i} {key}: got {:?}, want {want}",
                        g.get(key)
                    ));
                }
            }
        }
    }
}

fn selector(format: &str, images: &[Value], i: usize) -> String {
    let image = &images[i];
    if images.len() == 1 {
        return String::new();
    }
    if format == "docker-archive" {
        return format!(":@{i}");
    }
    if let Some(name) = image.get("ref_name").and_then(Value::as_str) {
        let unique = images
            .iter()
            .filter(|o| o.get("ref_name").and_then(Value::as_str) == Some(name))
            .count()
            == 1;
        if unique {
            return format!(":{name}");
        }
    }
    match image.get("manifest_digest").and_then(Value::as_str) {
        Some(d) => format!("@{d}"),
        None => String::new(),
    }
}

#[test]
fn corpus_images_scan_as_expected() {
    let Some(corpus) = corpus() else { return };
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.join("expected/images.json")).expect("images.json"),
    )
    .expect("images.json parses");
    let mut problems = Vec::new();
    let mut images_checked = 0;
    let mut failures_checked = 0;
    for (path, artifact) in expected["artifacts"].as_object().expect("artifacts") {
        let format = artifact["format"].as_str().unwrap_or("");
        let full = corpus.join(path);
        let full = full.to_str().expect("utf-8 path");
        let Some(prefix) = transport(format) else {
            // Plain layer tars (and plain tars named like images) are not images.
            let reference = full.to_string();
            assert_clean_error(&reference, &scan(&[&reference]), &mut problems);
            failures_checked += 1;
            continue;
        };
        let images = artifact
            .get("images")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if artifact.get("error").is_some() || images.is_empty() {
            let reference = format!("{prefix}{full}");
            assert_clean_error(&reference, &scan(&[&reference]), &mut problems);
            failures_checked += 1;
            continue;
        }
        for i in 0..images.len() {
            let reference = format!("{prefix}{full}{}", selector(format, &images, i));
            let platform = images[i].get("os").map(|os| {
                format!(
                    "{}/{}",
                    os.as_str().unwrap_or(""),
                    images[i]["architecture"].as_str().unwrap_or("")
                )
            });
            if expected_failure(&images[i]).is_some() {
                failures_checked += 1;
            } else {
                images_checked += 1;
            }
            check_image(&reference, platform, &images[i], &mut problems);
        }
    }
    eprintln!(
        "corpus images: {images_checked} scanned and compared, {failures_checked} expected failures checked"
    );
    assert!(
        images_checked >= 60,
        "too few corpus images compared: {images_checked}"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn multiplatform_index_resolves_each_platform_and_lists_the_rest() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("anchore_stereoscope/pkg/image/oci/testdata/multiplatform_oci_dir");
    let reference = format!("oci:{}", dir.display());
    for (platform, manifest) in [
        (
            "linux/amd64",
            "sha256:e7c26a4b4d156fd9947ee82295b7b78acf7aa54b93b8f3e4b9f608179ffb20e8",
        ),
        (
            "linux/arm64",
            "sha256:5ed07065bcbc6c52e3ad28526557d7b6833613fc79257b1a786de85e37c03b05",
        ),
    ] {
        let run = scan(&[&reference, "--platform", platform, "--format", "json"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["image"]["manifest_digest"], manifest);
    }
    let run = scan(&[&reference, "--platform", "linux/ppc64le"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("linux/ppc64le"), "{}", run.stderr);
    assert!(
        run.stderr.contains("available: linux/amd64, linux/arm64"),
        "{}",
        run.stderr
    );
}

#[test]
fn trivy_alpine_310_runs_as_root_and_fails_the_gate() {
    let Some(corpus) = corpus() else { return };
    let archive = corpus.join("aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz");
    let run = scan(&[archive.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["image"]["transport"], "docker-archive");
    assert_eq!(report["image"]["names"], serde_json::json!(["alpine:3.10"]));
    let checks: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["check"].as_str())
        .filter(|c| c.starts_with("user-"))
        .collect();
    assert_eq!(checks, vec!["user-root"]);
}

#[test]
fn dockle_scratch_user_is_not_in_passwd() {
    let Some(corpus) = corpus() else { return };
    let archive = corpus.join("goodwithtech_dockle/pkg/scanner/testdata/scratch.tar");
    let run = scan(&[archive.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["image"]["user"], "scratch");
    let user: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["check"].as_str())
        .filter(|c| c.starts_with("user-"))
        .collect();
    assert_eq!(user, vec!["user-not-found"]);
}
