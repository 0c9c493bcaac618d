//! `attest --push` and `verify --image docker://…` against a real registry (docker-registry,
//! started by scripts/test.sh and named in PORTCULLIS_TEST_REGISTRY /
//! PORTCULLIS_TEST_AUTH_REGISTRY), images pushed with skopeo: attestations land in cosign's
//! `sha256-<hex>.att` manifest (appended, never replaced) and as OCI 1.1 referrers listed by
//! the referrers tag schema (docker-registry 2.8 has no referrers API), and verify from there
//! with the same checks as an envelope file.

mod common;

use common::builder::*;
use common::services::*;
use common::{Run, portcullis, run_command, text};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const SCAN_V1: &str = "https://portcullis.dev/attestation/scan/v1";
const VSA_V1: &str = "https://slsa.dev/verification_summary/v1";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";

fn image(marker: &str, platform: &str) -> Built {
    Image::new()
        .platform(platform)
        .user("app")
        .layer(
            Layer::new()
                .gzip()
                .dir("etc")
                .file("etc/passwd", PASSWD)
                .file("srv/marker", marker),
        )
        .build()
}

/// Pushes a one-image OCI layout to `registry` with skopeo; returns `REGISTRY/NAME:1` and the
/// manifest digest (which skopeo keeps).
fn pushed_image(dir: &Path, registry: &str, name: &str, creds: Option<&str>) -> (String, String) {
    let reference = format!("{registry}/{}:1", unique(name));
    let digest = pushed_image_as(dir, name, &reference, creds);
    (reference, digest)
}

/// Pushes a one-image OCI layout as `reference`; returns its manifest digest.
fn pushed_image_as(dir: &Path, name: &str, reference: &str, creds: Option<&str>) -> String {
    let layout = dir.join(name);
    let built = image(name, "linux/amd64");
    Layout::new().image(&built, &["1"]).write_dir(&layout);
    push(
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{reference}"),
        false,
        creds,
    );
    built.manifest_digest.clone()
}

/// An unencrypted key pair made by `portcullis keygen`; returns the prefix.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let prefix = dir.join(name);
    run_command(
        portcullis()
            .args(["keygen", "--type", "ecdsa-p256", "--no-password", "--out"])
            .arg(&prefix),
    )
    .expect_code(0);
    prefix
}

fn with_ext(prefix: &Path, ext: &str) -> String {
    text(&prefix.with_extension(ext)).to_string()
}

/// Runs portcullis with `args`, the environment `env` and `stdin`.
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut cmd = portcullis();
    cmd.args(args)
        .env_remove("PORTCULLIS_PASSWORD")
        .env_remove("COSIGN_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = common::run_with_stdin(&mut cmd, stdin.unwrap_or(""));
    common::assert_no_panic(&run);
    run
}

fn expect(run: Run, code: i32) -> Run {
    assert_eq!(
        run.code, code,
        "exit {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
        run.code, run.stdout, run.stderr
    );
    run
}

/// `skopeo inspect --raw` of a manifest in the test registry, as JSON.
fn raw(reference: &str, creds: Option<&str>) -> Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = tool(cmd.arg(format!("docker://{reference}")));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{reference}: {e}\n{out}"))
}

fn repository(reference: &str) -> &str {
    reference.rsplit_once(':').map_or(reference, |(r, _)| r)
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

/// The digest of the layer blob an envelope file becomes (its JSON, without the newline).
fn blob_digest(envelope_file: &Path) -> String {
    let text = std::fs::read_to_string(envelope_file).expect("read envelope");
    format!("sha256:{}", sha256_hex(text.trim_end().as_bytes()))
}

#[test]
fn attestations_pushed_twice_are_appended_listed_as_referrers_and_verify_from_the_registry() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (reference, digest) = pushed_image(dir.path(), &registry, "app", None);
    let image = format!("docker://{reference}");
    let signer = keygen(dir.path(), "signer");
    let stranger = keygen(dir.path(), "stranger");
    let key = with_ext(&signer, "key");

    let scan_file = dir.path().join("scan.intoto.jsonl");
    let vsa_file = dir.path().join("vsa.intoto.jsonl");
    for (predicate, file, fail_on) in [("scan", &scan_file, "critical"), ("vsa", &vsa_file, "info")]
    {
        let run = expect(
            run(
                &[
                    "attest",
                    &image,
                    "--insecure",
                    "--push",
                    "--key",
                    &key,
                    "--predicate",
                    predicate,
                    "--fail-on",
                    fail_on,
                    "-o",
                    text(file),
                ],
                &[],
                None,
            ),
            0,
        );
        assert!(run.stdout.is_empty(), "-o writes no envelope to stdout");
        assert!(
            run.stderr.contains("portcullis: pushed the attestation")
                && run.stderr.contains(&format!("sha256-{}.att", hex(&digest)))
                && run.stderr.contains("the registry has no referrers API"),
            "{}",
            run.stderr
        );
    }

    // cosign's tag: both attestations, in order, as cosign lays them out.
    let repo = repository(&reference);
    let att = raw(&format!("{repo}:sha256-{}.att", hex(&digest)), None);
    assert_eq!(
        att["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        att["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = att["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2, "{att}");
    for (layer, (file, predicate_type)) in layers
        .iter()
        .zip([(&scan_file, SCAN_V1), (&vsa_file, VSA_V1)])
    {
        assert_eq!(layer["mediaType"], DSSE);
        assert_eq!(layer["digest"], blob_digest(file));
        assert_eq!(layer["annotations"]["predicateType"], predicate_type);
        assert_eq!(
            layer["annotations"]["dev.cosignproject.cosign/signature"],
            ""
        );
    }
    let config = {
        let out = tool(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--config",
            "--tls-verify=false",
            &format!("docker://{repo}:sha256-{}.att", hex(&digest)),
        ]));
        serde_json::from_str::<Value>(&out).expect("config json")
    };
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([layers[0]["digest"], layers[1]["digest"]])
    );

    // OCI 1.1: two referrers, listed under the referrers tag schema's tag.
    let index = raw(&format!("{repo}:sha256-{}", hex(&digest)), None);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let listed = index["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 2, "{index}");
    for (descriptor, (file, predicate_type)) in listed
        .iter()
        .zip([(&scan_file, SCAN_V1), (&vsa_file, VSA_V1)])
    {
        assert_eq!(descriptor["artifactType"], DSSE);
        assert_eq!(descriptor["annotations"]["predicateType"], predicate_type);
        let referrer = raw(
            &format!("{repo}@{}", descriptor["digest"].as_str().unwrap()),
            None,
        );
        assert_eq!(referrer["artifactType"], DSSE);
        assert_eq!(referrer["subject"]["digest"], digest.as_str());
        assert_eq!(
            referrer["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(referrer["layers"][0]["digest"], blob_digest(file));
    }

    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--image", &image, "--insecure", "--key"];
        let public = with_ext(&signer, "pub");
        args.push(&public);
        args.extend_from_slice(extra);
        run(&args, &[], None)
    };
    let ok = expect(verify(&["--allow-failed"]), 0);
    assert!(ok.stdout.starts_with("Verified OK\n"), "{}", ok.stdout);
    for needle in [
        "verified:  2 of 2 attestations",
        SCAN_V1,
        VSA_V1,
        "matches the image",
        &format!("sha256-{}.att layer 1", hex(&digest)),
        &format!("sha256-{}.att layer 2", hex(&digest)),
    ] {
        assert!(
            ok.stdout.contains(needle),
            "{needle:?} not in\n{}",
            ok.stdout
        );
    }
    expect(verify(&["--from-registry", "--max-age", "1h"]), 0);

    // By default (and with --require-pass) a FAILED verdict does not verify: failing on
    // critical findings passes this image, failing on any finding fails it; one passing
    // attestation is enough.
    let statement = |file: &Path| {
        use base64::Engine as _;
        let envelope: Value =
            serde_json::from_slice(&std::fs::read(file).unwrap()).expect("envelope");
        let payload = base64::engine::general_purpose::STANDARD
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&payload).unwrap()
    };
    assert_eq!(statement(&scan_file)["predicate"]["verdict"], "PASSED");
    assert_eq!(
        statement(&vsa_file)["predicate"]["verificationResult"],
        "FAILED"
    );
    for flags in [&[][..], &["--require-pass"][..]] {
        let passing = expect(verify(flags), 0);
        assert!(
            passing.stdout.contains("verified:  1 of 2"),
            "{}",
            passing.stdout
        );
    }
    let passing = expect(verify(&["--require-pass"]), 0);
    assert!(
        passing.stdout.contains("verified:  1 of 2"),
        "{}",
        passing.stdout
    );
    assert!(
        passing.stderr.contains("does not verify") && passing.stderr.contains("FAILED"),
        "{}",
        passing.stderr
    );

    let stranger_pub = with_ext(&stranger, "pub");
    let refused = expect(
        run(
            &[
                "verify",
                "--image",
                &image,
                "--insecure",
                "--key",
                &stranger_pub,
            ],
            &[],
            None,
        ),
        1,
    );
    assert!(refused.stdout.is_empty());
    assert!(
        refused.stderr.contains("2 attestations attached to")
            && refused.stderr.matches("no signature verifies").count() == 2,
        "{}",
        refused.stderr
    );
}

#[test]
fn an_attestation_attached_to_another_image_does_not_verify_for_it() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("{registry}/{}", unique("shared"));
    let (first, second) = (format!("{repo}:first"), format!("{repo}:second"));
    let first_digest = pushed_image_as(dir.path(), "first", &first, None);
    let second_digest = pushed_image_as(dir.path(), "second", &second, None);
    let signer = keygen(dir.path(), "signer");
    let key = with_ext(&signer, "key");
    let public = with_ext(&signer, "pub");

    expect(
        run(
            &[
                "attest",
                &format!("docker://{first}"),
                "--insecure",
                "--push",
                "--key",
                &key,
            ],
            &[],
            None,
        ),
        0,
    );
    // Someone with push access to the repository copies the first image's (validly signed)
    // attestations to the tags where the second image's are looked for.
    {
        use portcullis::attest::push::{cosign_tag, referrers_tag};
        use portcullis::image::registry::name::RegistryRef;
        use portcullis::image::registry::{RemoteOptions, Session};
        let options = RemoteOptions {
            credentials: None,
            insecure: true,
        };
        let session = Session::open(&RegistryRef::parse(&second).unwrap(), &options, true).unwrap();
        for (from, to) in [
            (cosign_tag(&first_digest), cosign_tag(&second_digest)),
            (referrers_tag(&first_digest), referrers_tag(&second_digest)),
        ] {
            let accept = "application/vnd.oci.image.manifest.v1+json, \
                          application/vnd.oci.image.index.v1+json";
            let copied = session
                .block_on(session.client.get_manifest_raw(&from, accept, 1 << 20))
                .unwrap()
                .unwrap_or_else(|| panic!("{from} was pushed"));
            session
                .block_on(session.client.put_manifest(
                    &to,
                    copied.media_type.as_deref().unwrap(),
                    copied.data.into(),
                ))
                .unwrap();
        }
    }
    let verify_second = || {
        run(
            &[
                "verify",
                "--image",
                &format!("docker://{second}"),
                "--insecure",
                "--key",
                &public,
            ],
            &[],
            None,
        )
    };
    let refused = expect(verify_second(), 1);
    // The copied layer is read and its statement names the first image; the copied referrer
    // names the first image as its subject and is not even read.
    assert!(
        refused.stderr.contains("1 attestation attached to")
            && refused.stderr.contains(&format!(
                "is about {first}@{first_digest} (manifest digest), not this image"
            ))
            && refused
                .stderr
                .contains(&format!("is attached to {first_digest}, not to this image")),
        "{}",
        refused.stderr
    );

    expect(
        run(
            &[
                "attest",
                &format!("docker://{second}"),
                "--insecure",
                "--push",
                "--key",
                &key,
            ],
            &[],
            None,
        ),
        0,
    );
    let ok = expect(verify_second(), 0);
    assert!(ok.stdout.contains("verified:  1 of 2"), "{}", ok.stdout);
    assert!(
        ok.stderr
            .contains("does not verify: the attestation is about")
            && ok.stderr.contains("not to this image"),
        "{}",
        ok.stderr
    );
}

#[test]
fn a_config_digest_attestation_cannot_be_pushed() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    DockerArchive::classic()
        .image(&image("archive", "linux/amd64"), &["app:1"])
        .write(&archive);
    let reference = format!("{registry}/{}:1", unique("archive"));
    push(
        &at("docker-archive:", &archive),
        &format!("docker://{reference}"),
        false,
        None,
    );
    let signer = keygen(dir.path(), "signer");
    let report = dir.path().join("report.json");
    expect(
        run(
            &[
                "scan",
                "--no-cache",
                "--exit-code",
                "0",
                "--format",
                "json",
                "-o",
                text(&report),
                &at("docker-archive:", &archive),
            ],
            &[],
            None,
        ),
        0,
    );
    let run = expect(
        run(
            &[
                "attest",
                &format!("docker://{reference}"),
                "--insecure",
                "--report",
                text(&report),
                "--push",
                "--key",
                &with_ext(&signer, "key"),
            ],
            &[],
            None,
        ),
        2,
    );
    assert!(
        run.stderr.contains("config digest") && run.stderr.contains("manifest digest"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "nothing is signed that cannot be pushed"
    );
}

#[test]
fn local_images_have_no_registry_to_push_to_or_verify_from() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    DockerArchive::classic()
        .image(&image("local", "linux/amd64"), &["app:1"])
        .write(&archive);
    let signer = keygen(dir.path(), "signer");
    let reference = at("docker-archive:", &archive);
    let run_attest = expect(
        run(
            &[
                "attest",
                &reference,
                "--push",
                "--key",
                &with_ext(&signer, "key"),
            ],
            &[],
            None,
        ),
        2,
    );
    assert!(
        run_attest
            .stderr
            .contains("--push needs an image in a registry")
            && run_attest.stderr.contains("docker-archive file"),
        "{}",
        run_attest.stderr
    );
    assert!(run_attest.stdout.is_empty());
    let run_verify = expect(
        run(
            &[
                "verify",
                "--image",
                &reference,
                "--key",
                &with_ext(&signer, "pub"),
            ],
            &[],
            None,
        ),
        2,
    );
    assert!(
        run_verify.stderr.contains("needs an image in a registry")
            && run_verify.stderr.contains("docker-archive file"),
        "{}",
        run_verify.stderr
    );
    // Neither an envelope nor an image: nothing to verify.
    expect(
        run(&["verify", "--key", &with_ext(&signer, "pub")], &[], None),
        2,
    );
}

#[test]
fn a_platform_of_an_index_has_attestations_of_its_own() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("multi");
    let amd = image("amd", "linux/amd64");
    let arm = image("arm", "linux/arm64/v8");
    Layout::new()
        .index(&[&amd, &arm], &["multi"])
        .write_dir(&layout);
    let reference = format!("docker://{registry}/{}:multi", unique("index"));
    push(
        &format!("oci:{}:multi", layout.display()),
        &reference,
        true,
        None,
    );
    let signer = keygen(dir.path(), "signer");
    let run_attest = expect(
        run(
            &[
                "attest",
                &reference,
                "--insecure",
                "--platform",
                "linux/arm64",
                "--push",
                "--key",
                &with_ext(&signer, "key"),
            ],
            &[],
            None,
        ),
        0,
    );
    assert!(
        run_attest
            .stderr
            .contains(&format!("sha256-{}.att", hex(&arm.manifest_digest))),
        "{}",
        run_attest.stderr
    );
    let verify = |platform: &str| {
        run(
            &[
                "verify",
                "--image",
                &reference,
                "--insecure",
                "--platform",
                platform,
                "--key",
                &with_ext(&signer, "pub"),
            ],
            &[],
            None,
        )
    };
    expect(verify("linux/arm64"), 0);
    let none = expect(verify("linux/amd64"), 1);
    assert!(
        none.stderr.contains("no attestation is attached")
            && none.stderr.contains(&amd.manifest_digest),
        "{}",
        none.stderr
    );
}

#[test]
fn an_authenticated_registry_takes_credentials_from_flags_and_docker_config() {
    let Some((registry, user, password)) = auth_registry() else {
        return;
    };
    let creds = format!("{user}:{password}");
    let dir = tempfile::tempdir().unwrap();
    let (reference, digest) = pushed_image(dir.path(), &registry, "private", Some(&creds));
    let image = format!("docker://{reference}");
    let signer = keygen(dir.path(), "signer");
    let key = with_ext(&signer, "key");
    let public = with_ext(&signer, "pub");
    let empty_config = dir.path().join("no-docker-config");
    std::fs::create_dir(&empty_config).unwrap();
    let no_config = [("DOCKER_CONFIG", text(&empty_config))];

    let anonymous = expect(
        run(
            &["attest", &image, "--insecure", "--push", "--key", &key],
            &no_config,
            None,
        ),
        2,
    );
    assert!(anonymous.stderr.contains("denied"), "{}", anonymous.stderr);

    let with_flags = expect(
        run(
            &[
                "attest",
                &image,
                "--insecure",
                "--push",
                "--key",
                &key,
                "--username",
                &user,
                "--password-stdin",
            ],
            &no_config,
            Some(&format!("{password}\n")),
        ),
        0,
    );
    assert!(!with_flags.stderr.contains(&password));
    let att = raw(
        &format!("{}:sha256-{}.att", repository(&reference), hex(&digest)),
        Some(&creds),
    );
    assert_eq!(att["layers"].as_array().map(Vec::len), Some(1), "{att}");

    let config_dir = dir.path().join("docker-config");
    std::fs::create_dir(&config_dir).unwrap();
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&creds)
    };
    std::fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"auths": {{"http://{registry}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let docker_config = [("DOCKER_CONFIG", text(&config_dir))];
    let ok = expect(
        run(
            &["verify", "--image", &image, "--insecure", "--key", &public],
            &docker_config,
            None,
        ),
        0,
    );
    assert!(ok.stdout.contains("verified:  1 of 1"), "{}", ok.stdout);
    // A second push through DOCKER_CONFIG appends.
    expect(
        run(
            &[
                "attest",
                &image,
                "--insecure",
                "--push",
                "--predicate",
                "vsa",
                "--key",
                &key,
            ],
            &docker_config,
            None,
        ),
        0,
    );
    let ok = expect(
        run(
            &[
                "verify",
                "--image",
                &image,
                "--insecure",
                "--key",
                &public,
                "--username",
                &user,
                "--password-stdin",
            ],
            &no_config,
            Some(&password),
        ),
        0,
    );
    assert!(ok.stdout.contains("verified:  2 of 2"), "{}", ok.stdout);

    let denied = expect(
        run(
            &["verify", "--image", &image, "--insecure", "--key", &public],
            &no_config,
            None,
        ),
        2,
    );
    assert!(denied.stderr.contains("denied"), "{}", denied.stderr);
    for r in [&anonymous, &with_flags, &ok, &denied] {
        assert!(!r.stdout.contains(&password) && !r.stderr.contains(&password));
    }
}
