//! The modes, accounts, config and hygiene families against third-party ground truth:
//! Dockle's own expectations for its image configs and its history heuristics
//! (../shared/corpus/expected/dockle-config.json), and the real images of the corpus.

mod common;

use common::builder::*;
use common::{corpus, text};
use portcullis::checks::{self, config, history};
use portcullis::gate::analyze::Analyzers;
use portcullis::gate::{ReadOptions, read_image};
use portcullis::image::resolve::parse_config;
use portcullis::policy::Policy;
use portcullis::report::Finding;
use serde_json::Value;
use std::path::Path;

/// The families this file judges (and `user`, which Dockle's configs exercise): findings of
/// families added later do not belong in these exact sets.
const FAMILIES: &[&str] = &["user-", "mode-", "account-", "config-", "hygiene-"];

/// Dockle's assessment name for a portcullis check, where one corresponds.
fn dockle_name(check: &str) -> Option<&'static str> {
    Some(match check {
        "user-root" => "AvoidRootDefault",
        "config-no-healthcheck" => "AddHealthcheck",
        "config-apt-update-alone" => "UseAptGetUpdateNoCache",
        "config-add-remote" | "config-add-instead-of-copy" => "UseCOPY",
        "config-dist-upgrade" => "AvoidDistUpgrade",
        "config-sensitive-volume" => "AvoidSensitiveDirectoryMounting",
        "hygiene-apk-cache" => "UseApkAddNoCache",
        "hygiene-apt-cache" => "MinimizeAptGet",
        _ => return None,
    })
}

fn as_dockle(findings: &[Finding]) -> Vec<String> {
    let mut names: Vec<String> = findings
        .iter()
        .filter_map(|f| dockle_name(&f.check).map(str::to_string))
        .collect();
    names.sort();
    names
}

fn load(corpus: &Path, rel: &str) -> Value {
    let data = std::fs::read(corpus.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_slice(&data).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

struct ConfigCase {
    test: String,
    file: String,
    bytes: Vec<u8>,
    expected: Vec<String>,
}

fn config_cases(corpus: &Path) -> Vec<ConfigCase> {
    let truth = load(corpus, "expected/dockle-config.json");
    let dir = truth["config_files_dir"].as_str().unwrap();
    truth["assess_config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let file = case["config_file"].as_str().unwrap().to_string();
            let bytes = std::fs::read(corpus.join(dir).join(&file)).unwrap();
            let mut expected: Vec<String> = case["expected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["check"].as_str().unwrap().to_string())
                .collect();
            expected.sort();
            ConfigCase {
                test: case["test"].as_str().unwrap().to_string(),
                file,
                bytes,
                expected,
            }
        })
        .collect()
}

#[test]
fn dockle_config_expectations_hold_on_the_parsed_configs() {
    let Some(corpus) = corpus() else { return };
    let cases = config_cases(&corpus);
    assert_eq!(cases.len(), 5);
    for case in cases {
        let (cfg, extras) = parse_config(&case.bytes, &case.file).unwrap();
        let findings = config::assess_config(&cfg, &extras, &Policy::default());
        assert_eq!(
            as_dockle(&findings),
            case.expected,
            "{} ({}): {:#?}",
            case.test,
            case.file,
            findings
                .iter()
                .map(|f| (&f.check, &f.message))
                .collect::<Vec<_>>()
        );
    }
}

/// The config wrapped into an image with one small layer per layer-creating history step.
fn wrap(config_json: &Value, extra: impl Fn(usize) -> Option<Layer>) -> Image {
    let history = config_json["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let layers = history
        .iter()
        .filter(|h| h["empty_layer"] != Value::Bool(true))
        .count();
    let mut img = Image::new()
        .config_field("config", config_json["config"].clone())
        .config_field("history", Value::Array(history));
    for i in 0..layers {
        img = img.layer(extra(i).unwrap_or_else(|| Layer::new().file(&format!("layer{i}"), "x")));
    }
    img
}

fn scan(image: &Image, dir: &Path) -> Vec<Finding> {
    let path = dir.join("image.tar");
    DockerArchive::classic()
        .image(&image.build(), &["dockle:test"])
        .write(&path);
    let facts = read_image(text(&path), &ReadOptions::default(), &Analyzers::default()).unwrap();
    checks::run_all(&facts, &Policy::default())
}

#[test]
fn dockle_config_expectations_hold_when_wrapped_into_images() {
    let Some(corpus) = corpus() else { return };
    // A full scan measures package caches on the filesystem instead of guessing them from
    // the history: these minimal images hold no cache, so Dockle's history guesses drop out.
    let guessed = ["MinimizeAptGet", "UseApkAddNoCache"];
    for case in config_cases(&corpus) {
        let json: Value = serde_json::from_slice(&case.bytes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let findings = scan(&wrap(&json, |_| None), dir.path());
        let expected: Vec<String> = case
            .expected
            .iter()
            .filter(|c| !guessed.contains(&c.as_str()))
            .cloned()
            .collect();
        assert_eq!(
            as_dockle(&findings),
            expected,
            "{} ({})",
            case.test,
            case.file
        );
    }

    // With the cache `apk add wget curl` leaves in its layer, the check is back, measured
    // and pinned to that step.
    let apk = load(
        &corpus,
        "goodwithtech_dockle/pkg/assessor/manifest/testdata/apk_cache.json",
    );
    let dir = tempfile::tempdir().unwrap();
    let findings = scan(
        &wrap(&apk, |i| {
            (i == 1).then(|| {
                Layer::new().file("var/cache/apk/APKINDEX.5022a8a2.tar.gz", vec![0u8; 1500])
            })
        }),
        dir.path(),
    );
    let cache: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.check == "hygiene-apk-cache")
        .collect();
    assert_eq!(cache.len(), 1);
    assert_eq!(cache[0].data["source"], "filesystem");
    assert_eq!(cache[0].data["bytes"], 1500);
    assert_eq!(
        cache[0].location.config.as_deref(),
        Some("history[2].created_by")
    );
    assert_eq!(
        cache[0].data["layers"][0]["created_by"],
        "/bin/sh -c apk add wget curl"
    );
}

#[test]
fn dockle_history_heuristics() {
    let Some(corpus) = corpus() else { return };
    let truth = load(&corpus, "expected/dockle-config.json");
    let heuristics = truth["heuristics"].as_object().unwrap();
    let judge = |name: &str, created_by: &str| -> Option<bool> {
        Some(match name {
            "TestReducableApkAdd" => history::apk_cache_left(created_by),
            "TestReducableAptGetUpdate" => history::apt_update_alone(created_by),
            "TestReducableAptGetInstall" => history::apt_lists_left(created_by),
            "TestAddStatement" => history::add_sources(created_by).is_some(),
            "TestUseDistUpgrade" => history::dist_upgrade(created_by),
            // Secrets in ENV and RUN lines belong to the secrets family.
            "TestSensitiveVars" => return None,
            _ => panic!("unknown Dockle heuristic {name}"),
        })
    };
    let mut judged = 0;
    for (name, group) in heuristics {
        for case in group["cases"].as_array().unwrap() {
            // Dockle hands its heuristics a history line split at `&&`; join it back.
            let created_by = match case.get("commands") {
                Some(commands) => commands
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        c.as_array()
                            .unwrap()
                            .iter()
                            .map(|w| w.as_str().unwrap())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect::<Vec<_>>()
                    .join(" && "),
                None => case["command"].as_str().unwrap().to_string(),
            };
            let Some(got) = judge(name, &created_by) else {
                continue;
            };
            assert_eq!(
                Value::Bool(got),
                case["expected"],
                "{name}/{}: {created_by}",
                case["test"]
            );
            judged += 1;
        }
    }
    assert_eq!(judged, 25);
}

/// (check, path or config field) of the findings of this file's families.
fn exact(reference: &str) -> Vec<(String, String)> {
    let facts = read_image(reference, &ReadOptions::default(), &Analyzers::default())
        .unwrap_or_else(|e| panic!("{reference}: {e}"));
    let mut out: Vec<(String, String)> = checks::run_all(&facts, &Policy::default())
        .into_iter()
        .filter(|f| FAMILIES.iter().any(|p| f.check.starts_with(p)))
        .map(|f| {
            let at = f
                .location
                .path
                .map(|p| match f.location.line {
                    Some(line) => format!("{p}:{line}"),
                    None => p,
                })
                .or(f.location.config)
                .unwrap_or_default();
            (f.check, at)
        })
        .collect();
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn trivy_alpine_310() {
    let Some(corpus) = corpus() else { return };
    let archive = corpus.join("aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz");
    // Root by default, no healthcheck, no labels; /etc/shadow is 0640 root:shadow as Alpine
    // ships it, /tmp and /var/tmp are 1777, no setuid programs, an empty /var/cache/apk.
    // postgres (uid 70) keeps /bin/sh with a locked password.
    assert_eq!(
        exact(text(&archive)),
        pairs(&[
            ("user-root", "config.User"),
            ("config-no-healthcheck", "config.Healthcheck"),
            ("config-provenance-labels", "config.Labels"),
            ("account-system-login-shell", "/etc/passwd:22"),
        ])
    );
}

#[test]
fn dockle_scratch() {
    let Some(corpus) = corpus() else { return };
    let archive = corpus.join("goodwithtech_dockle/pkg/scanner/testdata/scratch.tar");
    // One file, /credentials.json, ADDed as the first step (so not an ADD-instead-of-COPY
    // finding, as in Dockle); USER scratch without /etc/passwd.
    let base = [
        ("user-not-found", "config.User"),
        ("config-no-healthcheck", "config.Healthcheck"),
        ("config-provenance-labels", "config.Labels"),
    ];
    assert_eq!(exact(text(&archive)), pairs(&base));
    // Named by its tag, `latest`, the image is also judged by its reference.
    let mut named = base.to_vec();
    named.push(("config-latest-tag", ""));
    assert_eq!(
        exact(&format!(
            "docker-archive:{}:scratchtest2:latest",
            text(&archive)
        )),
        pairs(&named)
    );
}

#[test]
fn go_containerregistry_and_osv_scalibr_archives() {
    let Some(corpus) = corpus() else { return };
    // Hand-built test images: an empty config (root, no healthcheck, no labels) and files
    // with ordinary modes; whiteouts and a mode-0000 file give nothing to report.
    let plain = pairs(&[
        ("user-root", "config.User"),
        ("config-no-healthcheck", "config.Healthcheck"),
        ("config-provenance-labels", "config.Labels"),
    ]);
    for rel in [
        "google_go-containerregistry/pkg/v1/tarball/testdata/test_image_1.tar",
        "google_go-containerregistry/pkg/v1/mutate/testdata/whiteout_image.tar",
        "google_osv-scalibr/artifact/image/unpack/testdata/permissions.tar",
        "google_osv-scalibr/artifact/image/layerscanning/image/testdata/symlink-basic.tar",
    ] {
        assert_eq!(exact(text(&corpus.join(rel))), plain, "{rel}");
    }
}
