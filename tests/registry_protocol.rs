//! The registry client against an in-process mock registry: bearer tokens from a token
//! endpoint with Basic credentials, retries after 503, a blob resumed after its connection
//! was cut, and registries that lie about digests.

mod common;

use common::builder::*;
use common::mock_registry::{Faults, MockRegistry};
use common::services::{assert_same, scan_with, without_origin};
use std::collections::HashMap;

/// Bytes that gzip cannot shrink much, so that a layer blob spans many reads.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn image() -> Built {
    Image::new()
        .user("app")
        .layer(
            Layer::new()
                .gzip()
                .file(
                    "etc/passwd",
                    "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n",
                )
                .file("usr/lib/blob.bin", noise(600_000, 1)),
        )
        .layer(Layer::new().gzip().file("app/data.bin", noise(300_000, 2)))
        .build()
}

fn serve(built: &Built, faults: Faults) -> MockRegistry {
    let mut manifests = HashMap::new();
    let entry = (built.manifest_media_type.clone(), built.manifest.clone());
    manifests.insert("1".to_string(), entry.clone());
    manifests.insert(built.manifest_digest.clone(), entry);
    let blobs: HashMap<String, Vec<u8>> = built.blobs().into_iter().collect();
    MockRegistry::start("team/app", manifests, blobs, "alice", "pw", faults)
}

fn layout_report(built: &Built) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    Layout::new().image(built, &["1"]).write_dir(dir.path());
    let run = scan_with(&format!("oci:{}:1", dir.path().display()), &[], &[], None);
    run.expect_code(0);
    without_origin(run.json())
}

fn pull(registry: &MockRegistry, reference: &str, password: &str) -> common::Run {
    let empty = tempfile::tempdir().unwrap();
    scan_with(
        &format!("docker://{}/{reference}", registry.addr),
        &["--insecure", "--username", "alice", "--password-stdin"],
        &[("DOCKER_CONFIG", empty.path().to_str().unwrap())],
        Some(password),
    )
}

#[test]
fn bearer_tokens_retries_and_resumed_blobs_give_the_same_report() {
    let built = image();
    let faults = Faults {
        unavailable_once: [built.layers[0].digest.clone()].into(),
        cut_once: [
            built.layers[1].digest.clone(),
            built.layers[0].digest.clone(),
        ]
        .into(),
        ..Faults::default()
    };
    let registry = serve(&built, faults);
    let run = pull(&registry, "team/app:1", "pw");
    run.expect_code(0);
    let mut expected = layout_report(&built);
    expected["image"]["names"] = serde_json::json!([format!("{}/team/app:1", registry.addr)]);
    assert_same(
        "mock registry vs OCI layout",
        &without_origin(run.json()),
        &expected,
    );

    let log = registry.log();
    let shown = log.join("\n");
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /token?") && l.ends_with("<Basic>")),
        "no token request with Basic credentials:\n{shown}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("scope=repository%3Ateam%2Fapp%3Apull")),
        "the token request does not carry the challenge's scope:\n{shown}"
    );
    let layer0 = format!("/blobs/{}", built.layers[0].digest);
    assert!(
        log.iter()
            .filter(|l| l.contains(&layer0) && !l.contains("[bytes="))
            .count()
            >= 2,
        "the 503 was not retried:\n{shown}"
    );
    assert!(
        log.iter().filter(|l| l.contains("[bytes=")).count() >= 2,
        "the cut blobs were not resumed with a Range request:\n{shown}"
    );
    assert!(!run.stderr.contains("pw"), "{}", run.stderr);
}

#[test]
fn refused_credentials_are_a_clear_error() {
    let registry = serve(&image(), Faults::default());
    let run = pull(&registry, "team/app:1", "not-the-password");
    run.expect_scan_error("team/app", &["denied", &registry.addr]);
    assert!(!run.stderr.contains("not-the-password"));
}

#[test]
fn bytes_that_do_not_match_their_digests_stop_the_scan() {
    let built = image();
    let registry = serve(
        &built,
        Faults {
            lying_digest_header: ["1".to_string()].into(),
            ..Faults::default()
        },
    );
    pull(&registry, "team/app:1", "pw")
        .expect_scan_error("team/app:1", &["digest mismatch", "docker-content-digest"]);

    let registry = serve(
        &built,
        Faults {
            corrupt: [built.layers[1].digest.clone()].into(),
            ..Faults::default()
        },
    );
    pull(&registry, "team/app:1", "pw")
        .expect_scan_error("team/app:1", &["digest mismatch", &built.layers[1].digest]);

    // A digest reference is checked against the bytes received, whatever the headers say.
    let registry = serve(&built, Faults::default());
    let wrong = format!("sha256:{}", "1".repeat(64));
    pull(&registry, &format!("team/app@{wrong}"), "pw")
        .expect_scan_error("team/app", &["not found"]);
}

#[test]
fn a_missing_path_is_not_mistaken_for_a_registry_name() {
    let run = scan_with("./no-such-dir/App.tar", &[], &[], None);
    run.expect_scan_error("./no-such-dir/App.tar", &["no such file or directory"]);
    let run = scan_with("docker://Bad/Name", &[], &[], None);
    run.expect_scan_error("docker://Bad/Name", &["not an image reference"]);
}
