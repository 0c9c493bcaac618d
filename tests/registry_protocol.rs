//! The registry client against the real `docker-registry` of scripts/services.sh: bearer
//! tokens from a token issuer that wants Basic credentials (a registry with `auth: token`,
//! which verifies the issuer's signed JWTs itself), and, through a `FaultProxy` in front of
//! the registry, retries after 503, blobs resumed with a range request after their
//! connection was cut, and answers whose bytes or headers lie about their digests.

mod common;

use common::builder::*;
use common::fault_proxy::{CUT_AFTER, Fault, FaultProxy, Faults};
use common::services::{
    assert_same, push, registry, scan_with, token_registry, unique, without_origin,
};
use common::text;
use common::token_issuer::{Answer, TokenIssuer, USER};

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

/// Pushes `built` to `registry` as `repository:1` with skopeo, from an OCI layout (skopeo
/// keeps its manifest and blobs byte for byte).
fn push_image(built: &Built, registry: &str, repository: &str, creds: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    Layout::new().image(built, &["1"]).write_dir(dir.path());
    push(
        &format!("oci:{}:1", dir.path().display()),
        &format!("docker://{registry}/{repository}:1"),
        false,
        creds,
    );
}

/// The report of `built` read from an OCI layout, as a pull of `name` must give it.
fn layout_report(built: &Built, name: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    Layout::new().image(built, &["1"]).write_dir(dir.path());
    let run = scan_with(&format!("oci:{}:1", dir.path().display()), &[], &[], None);
    run.expect_code(0);
    let mut report = without_origin(run.json());
    report["image"]["names"] = serde_json::json!([name]);
    report
}

/// `scan docker://REGISTRY/REFERENCE`, with no Docker config and, given a password, the
/// issuer's user and that password on stdin.
fn pull(registry: &str, reference: &str, password: Option<&str>) -> common::Run {
    let empty = tempfile::tempdir().unwrap();
    let mut flags = vec!["--insecure"];
    if password.is_some() {
        flags.extend(["--username", USER, "--password-stdin"]);
    }
    scan_with(
        &format!("docker://{registry}/{reference}"),
        &flags,
        &[("DOCKER_CONFIG", text(empty.path()))],
        password,
    )
}

#[test]
fn bearer_tokens_retries_and_resumed_blobs_give_the_same_report() {
    let Some(registry) = token_registry() else {
        return;
    };
    let issuer = TokenIssuer::shared(&registry);
    let built = image();
    let repository = unique("bearer");
    push_image(&built, &registry.addr, &repository, Some(&issuer.creds()));
    let (layer0, layer1) = (&built.layers[0].digest, &built.layers[1].digest);
    let proxy = FaultProxy::start(
        &registry.addr,
        Faults {
            unavailable_once: [layer0.clone()].into(),
            cut_once: [layer1.clone(), layer0.clone()].into(),
            ..Faults::default()
        },
    );

    let run = pull(
        &proxy.addr,
        &format!("{repository}:1"),
        Some(&issuer.password),
    );
    run.expect_code(0);
    assert_same(
        "the real registry behind the fault proxy vs the OCI layout",
        &without_origin(run.json()),
        &layout_report(&built, &format!("{}/{repository}:1", proxy.addr)),
    );
    assert!(!run.stderr.contains(&issuer.password), "{}", run.stderr);

    let tokens = issuer.log();
    let pull_scope = format!("repository:{repository}:pull");
    assert!(
        tokens.iter().any(|t| t.answer == Answer::Granted
            && t.scopes == [pull_scope.clone()]
            && t.service.as_deref() == Some(registry.service.as_str())),
        "no token request with Basic credentials for the challenge's scope {pull_scope}:\n\
         {tokens:#?}"
    );

    let log = proxy.log();
    assert_eq!(
        log.first().map(|e| (e.status, e.authorization.clone())),
        Some((401, None)),
        "the registry did not challenge the first request:\n{log:#?}"
    );
    assert!(
        log[1..]
            .iter()
            .all(|e| e.authorization.as_deref() == Some("Bearer")),
        "after the challenge, every request must carry the token (never the password):\n\
         {log:#?}"
    );
    let whole: Vec<_> = log
        .iter()
        .filter(|e| e.is_for(layer0) && e.range.is_none())
        .collect();
    assert!(
        whole.len() >= 2 && whole[0].fault == Some(Fault::Unavailable),
        "the 503 was not retried:\n{log:#?}"
    );
    for layer in [layer0, layer1] {
        assert!(
            log.iter()
                .any(|e| e.is_for(layer) && e.fault == Some(Fault::Cut)),
            "{layer} was not cut:\n{log:#?}"
        );
        let resumed: Vec<_> = log
            .iter()
            .filter(|e| e.is_for(layer) && e.range.is_some())
            .collect();
        assert!(
            resumed.len() == 1
                && resumed[0].range == Some(format!("bytes={CUT_AFTER}-"))
                && resumed[0].status == 206,
            "{layer} was not resumed where it was cut, with a range the registry \
             answered:\n{log:#?}"
        );
    }
}

#[test]
fn a_token_registry_refuses_anonymous_pulls_and_takes_docker_config() {
    let Some(registry) = token_registry() else {
        return;
    };
    let issuer = TokenIssuer::shared(&registry);
    let built = image();
    let repository = unique("private");
    push_image(&built, &registry.addr, &repository, Some(&issuer.creds()));
    let reference = format!("docker://{}/{repository}:1", registry.addr);

    let run = pull(&registry.addr, &format!("{repository}:1"), None);
    run.expect_scan_error(
        &reference,
        &[
            "denied",
            "401",
            &registry.addr,
            &format!("repository {repository}"),
            "docker login",
        ],
    );
    // The issuer gave the anonymous client a token that grants nothing: it is the registry
    // that refused it.
    let pull_scope = format!("repository:{repository}:pull");
    let tokens = issuer.log();
    assert!(
        tokens
            .iter()
            .any(|t| t.answer == Answer::Anonymous && t.scopes == [pull_scope.clone()]),
        "no anonymous token request for {pull_scope}:\n{tokens:#?}"
    );

    let config = tempfile::tempdir().unwrap();
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(issuer.creds())
    };
    std::fs::write(
        config.path().join("config.json"),
        format!(
            r#"{{"auths": {{"http://{}": {{"auth": "{auth}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let run = scan_with(
        &reference,
        &["--insecure"],
        &[("DOCKER_CONFIG", text(config.path()))],
        None,
    );
    run.expect_code(0);
    assert_same(
        "with DOCKER_CONFIG",
        &without_origin(run.json()),
        &layout_report(&built, &format!("{}/{repository}:1", registry.addr)),
    );
}

#[test]
fn refused_credentials_are_a_clear_error() {
    let Some(registry) = token_registry() else {
        return;
    };
    let issuer = TokenIssuer::shared(&registry);
    let repository = unique("refused");
    let run = pull(
        &registry.addr,
        &format!("{repository}:1"),
        Some("not-the-password"),
    );
    run.expect_scan_error(
        &repository,
        &["denied", &registry.addr, "check the credentials"],
    );
    assert!(!run.stderr.contains("not-the-password"), "{}", run.stderr);
    let pull_scope = format!("repository:{repository}:pull");
    let tokens = issuer.log();
    assert!(
        tokens
            .iter()
            .any(|t| t.answer == Answer::Refused && t.scopes == [pull_scope.clone()]),
        "the issuer did not refuse the credentials for {pull_scope}:\n{tokens:#?}"
    );
}

#[test]
fn bytes_that_do_not_match_their_digests_stop_the_scan() {
    let Some(registry) = registry() else { return };
    let built = image();
    let repository = unique("lying");
    push_image(&built, &registry, &repository, None);
    let tag = format!("{repository}:1");

    let proxy = FaultProxy::start(
        &registry,
        Faults {
            rewritten_digest: ["1".to_string()].into(),
            ..Faults::default()
        },
    );
    pull(&proxy.addr, &tag, None)
        .expect_scan_error(&tag, &["digest mismatch", "docker-content-digest"]);
    assert!(
        proxy
            .log()
            .iter()
            .any(|e| e.fault == Some(Fault::RewrittenDigest))
    );

    let layer = &built.layers[1].digest;
    let proxy = FaultProxy::start(
        &registry,
        Faults {
            tampered: [layer.clone()].into(),
            ..Faults::default()
        },
    );
    pull(&proxy.addr, &tag, None).expect_scan_error(&tag, &["digest mismatch", layer]);
    assert!(
        proxy
            .log()
            .iter()
            .any(|e| e.is_for(layer) && e.fault == Some(Fault::Tampered))
    );

    // A digest reference is checked against the bytes received, whatever the headers say:
    // here the registry's Docker-Content-Digest is true and the bytes are not.
    let proxy = FaultProxy::start(
        &registry,
        Faults {
            tampered: [built.manifest_digest.clone()].into(),
            ..Faults::default()
        },
    );
    let by_digest = format!("{repository}@{}", built.manifest_digest);
    pull(&proxy.addr, &by_digest, None)
        .expect_scan_error(&by_digest, &["digest mismatch", "the reference"]);

    let wrong = format!("sha256:{}", "1".repeat(64));
    pull(&registry, &format!("{repository}@{wrong}"), None)
        .expect_scan_error(&repository, &["not found"]);
}

#[test]
fn a_missing_path_is_not_mistaken_for_a_registry_name() {
    let run = scan_with("./no-such-dir/App.tar", &[], &[], None);
    run.expect_scan_error("./no-such-dir/App.tar", &["no such file or directory"]);
    let run = scan_with("docker://Bad/Name", &[], &[], None);
    run.expect_scan_error("docker://Bad/Name", &["not an image reference"]);
}

/// A repository of more tags than one page of the tags API holds: `--base-candidates`
/// follows the `Link: <...>; rel="next"` headers docker-registry sends, and lists them all.
#[test]
fn the_tag_list_is_read_page_by_page() {
    let Some(registry) = registry() else { return };
    let repository = unique("paged-tags").replace('/', "-");
    let built = image();
    push_image(&built, &registry, &repository, None);
    // The same manifest under more tags, put directly: a page and four more in all.
    let page = portcullis_image::registry::client::TAG_PAGE;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    for i in 1..page + 4 {
        let url = format!("http://{registry}/v2/{repository}/manifests/t{i:04}");
        let answer = http
            .put(&url)
            .header("Content-Type", &built.manifest_media_type)
            .body(built.manifest.clone())
            .send()
            .unwrap();
        assert!(
            answer.status().is_success(),
            "PUT {url}: {}",
            answer.status()
        );
    }
    let candidates = format!("docker://{registry}/{repository}");
    let run = common::run_command(common::portcullis().args([
        "scan",
        "--insecure",
        &format!("{candidates}:1"),
        "--base-candidates",
        &candidates,
        "--base-candidates-tags",
        "none",
    ]));
    run.expect_scan_error(
        "--base-candidates",
        &["no tag of", &format!("({} tags listed)", page + 4)],
    );
}
