//! `portcullis attest` and `portcullis verify` end to end: what an envelope holds, and every
//! way verification must fail (exit 1) or cannot start (exit 2).

mod attest_support;

use attest_support::*;
use portcullis::attest::PAYLOAD_TYPE_IN_TOTO;
use portcullis::attest::dsse::Envelope;
use portcullis::attest::keys::PrivateKeyFile;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn attest(image: &str, prefix: &Path, predicate: &str, out: &Path) -> Run {
    expect(
        portcullis()
            .args(["attest", image, "--predicate", predicate, "--key"])
            .arg(key(prefix))
            .arg("-o")
            .arg(out),
        0,
    )
}

fn verify(envelope: &Path, prefix: &Path) -> Command {
    let mut cmd = portcullis();
    cmd.arg("verify")
        .arg(envelope)
        .arg("--key")
        .arg(public(prefix));
    cmd
}

/// Signs `statement` with the (unencrypted) key at `prefix`, as portcullis would, so that
/// tests can make statements portcullis itself never would (old ones, other types).
fn sign_with(prefix: &Path, payload_type: &str, statement: &Value, out: &Path) {
    let text = std::fs::read_to_string(key(prefix)).unwrap();
    let signing = PrivateKeyFile::parse(&text).unwrap().unlock(None).unwrap();
    let envelope = Envelope::sign(
        payload_type,
        serde_json::to_vec(statement).unwrap(),
        &signing,
    );
    std::fs::write(out, envelope.to_json()).unwrap();
}

struct Setup {
    dir: tempfile::TempDir,
    passing: TestImage,
    failing: TestImage,
    ec: PathBuf,
    ed: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let passing = docker_archive(
        dir.path(),
        "pass.tar",
        "acme/app:1.0",
        "1000",
        "passing-image",
    );
    let failing = docker_archive(dir.path(), "fail.tar", "acme/root:1.0", "", "failing-image");
    let ec = keygen(dir.path(), "ec", "ecdsa-p256", None);
    let ed = keygen(dir.path(), "ed", "ed25519", None);
    Setup {
        dir,
        passing,
        failing,
        ec,
        ed,
    }
}

#[test]
fn every_predicate_signed_with_either_key_type_verifies() {
    let s = setup();
    for prefix in [&s.ec, &s.ed] {
        for predicate in ["scan", "vsa", "vuln"] {
            let out = s.dir.path().join(format!(
                "{}-{predicate}.json",
                prefix.file_name().unwrap().to_string_lossy()
            ));
            let r = attest(&s.passing.reference, prefix, predicate, &out);
            assert!(r.stdout.is_empty(), "the envelope goes to -o only");
            assert!(r.stderr.contains("verdict PASSED"), "{}", r.stderr);

            let r = expect(
                verify(&out, prefix)
                    .args(["--image", &s.passing.reference])
                    .args(["--require-pass", "--max-age", "1h"]),
                0,
            );
            assert!(r.stdout.starts_with("Verified OK\n"), "{}", r.stdout);
            assert!(r.stdout.contains("matches the image"), "{}", r.stdout);
            assert!(r.stdout.contains("verdict:   PASSED"), "{}", r.stdout);
        }
    }
}

#[test]
fn the_envelope_holds_an_in_toto_statement_about_the_image_digest() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    attest(&s.passing.reference, &s.ec, "scan", &out);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line");

    let (envelope, statement) = read_envelope(&out);
    assert_eq!(envelope["payloadType"], PAYLOAD_TYPE_IN_TOTO);
    let keyid = keyid_of_pem(&std::fs::read_to_string(public(&s.ec)).unwrap());
    assert_eq!(envelope["signatures"][0]["keyid"], keyid.as_str());
    assert_eq!(envelope["signatures"].as_array().unwrap().len(), 1);

    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["predicateType"],
        "https://portcullis.dev/attestation/scan/v1"
    );
    let subject = &statement["subject"][0];
    assert_eq!(subject["name"], "acme/app:1.0");
    // A docker-archive has no manifest: the config digest (image ID), and it says so.
    assert_eq!(
        format!("sha256:{}", subject["digest"]["sha256"].as_str().unwrap()),
        s.passing.config_digest
    );
    assert_eq!(
        subject["annotations"]["portcullis.dev/digest-kind"],
        "config"
    );

    let predicate = &statement["predicate"];
    assert_eq!(predicate["tool"]["name"], "portcullis");
    assert_eq!(predicate["verdict"], "PASSED");
    assert_eq!(predicate["policy"]["name"], "default");
    assert_eq!(
        predicate["policy"]["digest"]["sha256"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    assert_eq!(predicate["report"]["gate"]["result"], "PASSED");
    assert_eq!(
        predicate["report"]["image"]["config_digest"],
        s.passing.config_digest.as_str()
    );
}

#[test]
fn oci_layouts_are_attested_by_manifest_digest() {
    let s = setup();
    let layout = oci_layout(s.dir.path(), "layout", "1000", "passing-image");
    let out = s.dir.path().join("oci.json");
    attest(&layout.reference, &s.ed, "vsa", &out);
    let (_, statement) = read_envelope(&out);
    let subject = &statement["subject"][0];
    assert_eq!(
        format!("sha256:{}", subject["digest"]["sha256"].as_str().unwrap()),
        layout.manifest_digest.clone().unwrap()
    );
    assert_eq!(
        subject["annotations"]["portcullis.dev/digest-kind"],
        "manifest"
    );
    let predicate = &statement["predicate"];
    assert_eq!(
        predicate["resourceUri"],
        format!("oci:{}", layout.path.display())
    );
    assert_eq!(predicate["verificationResult"], "PASSED");
    expect(
        verify(&out, &s.ed).args(["--image", &layout.reference, "--require-pass"]),
        0,
    );
}

#[test]
fn a_config_digest_attestation_verifies_against_the_same_image_in_a_layout() {
    let s = setup();
    // Same layer and config as `passing`, stored as an OCI layout.
    let layout = oci_layout(s.dir.path(), "same", "1000", "passing-image");
    assert_eq!(layout.config_digest, s.passing.config_digest);
    let out = s.dir.path().join("a.json");
    attest(&s.passing.reference, &s.ec, "scan", &out);
    expect(verify(&out, &s.ec).args(["--image", &layout.reference]), 0);

    // The other way round cannot work: the archive has no manifest to compare.
    let by_manifest = s.dir.path().join("m.json");
    attest(&layout.reference, &s.ec, "scan", &by_manifest);
    let r = expect(
        verify(&by_manifest, &s.ec).args(["--image", &s.passing.reference]),
        1,
    );
    assert!(r.stderr.contains("has none"), "{}", r.stderr);
}

#[test]
fn a_tampered_payload_fails() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    attest(&s.failing.reference, &s.ec, "scan", &out);
    let (mut envelope, mut statement) = read_envelope(&out);
    statement["predicate"]["verdict"] = json!("PASSED");
    use base64::Engine as _;
    envelope["payload"] = json!(
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&statement).unwrap())
    );
    std::fs::write(&out, envelope.to_string()).unwrap();
    let r = expect(verify(&out, &s.ec).arg("--require-pass"), 1);
    assert!(r.stderr.contains("no signature verifies"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn a_swapped_signature_fails() {
    let s = setup();
    let passing = s.dir.path().join("p.json");
    let failing = s.dir.path().join("f.json");
    attest(&s.passing.reference, &s.ec, "scan", &passing);
    attest(&s.failing.reference, &s.ec, "scan", &failing);
    let (mut envelope, _) = read_envelope(&failing);
    let (other, _) = read_envelope(&passing);
    envelope["signatures"] = other["signatures"].clone();
    std::fs::write(&failing, envelope.to_string()).unwrap();
    let r = expect(verify(&failing, &s.ec), 1);
    assert!(r.stderr.contains("no signature verifies"), "{}", r.stderr);
}

#[test]
fn another_key_fails() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    attest(&s.passing.reference, &s.ec, "scan", &out);
    let other = keygen(s.dir.path(), "other", "ecdsa-p256", None);
    for wrong in [&other, &s.ed] {
        let r = expect(verify(&out, wrong), 1);
        assert!(r.stderr.contains("no signature verifies"), "{}", r.stderr);
        assert!(r.stderr.contains("the envelope names key"), "{}", r.stderr);
    }
}

#[test]
fn another_image_fails() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    attest(&s.passing.reference, &s.ec, "scan", &out);
    let r = expect(
        verify(&out, &s.ec).args(["--image", &s.failing.reference]),
        1,
    );
    assert!(r.stderr.contains("not this image"), "{}", r.stderr);
    assert!(r.stderr.contains(&s.failing.config_digest), "{}", r.stderr);
}

/// A signed FAILED is still FAILED: `verify` refuses it unless told `--allow-failed`, and
/// `attest` warns when it signs one.
#[test]
fn a_failed_verdict_fails_unless_allowed() {
    let s = setup();
    for predicate in ["scan", "vsa", "vuln"] {
        let out = s.dir.path().join(format!("{predicate}.json"));
        let r = attest(&s.failing.reference, &s.ed, predicate, &out);
        assert!(r.stderr.contains("verdict FAILED"), "{}", r.stderr);
        assert!(
            r.stderr.contains(
                "portcullis: warning: acme/root:1.0 failed the gate (1 finding at or above high \
                 under policy default)"
            ),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("unless --allow-failed"), "{}", r.stderr);
        for flags in [&[][..], &["--require-pass"][..]] {
            let r = expect(verify(&out, &s.ed).args(flags), 1);
            assert!(r.stderr.contains("verdict is FAILED"), "{}", r.stderr);
            assert!(r.stdout.is_empty(), "{}", r.stdout);
        }
        let r = expect(verify(&out, &s.ed).arg("--allow-failed"), 0);
        assert!(r.stdout.contains("verdict:   FAILED"), "{}", r.stdout);
        let r = expect(
            verify(&out, &s.ed).args(["--allow-failed", "--require-pass"]),
            2,
        );
        assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    }
    let passing = s.dir.path().join("passing.json");
    let r = attest(&s.passing.reference, &s.ed, "scan", &passing);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    expect(verify(&passing, &s.ed), 0);
}

#[test]
fn an_old_attestation_fails_max_age() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    attest(&s.passing.reference, &s.ec, "vsa", &out);
    expect(verify(&out, &s.ec).args(["--max-age", "5m"]), 0);

    let (_, mut statement) = read_envelope(&out);
    statement["predicate"]["timeVerified"] = json!("2024-01-01T00:00:00Z");
    let old = s.dir.path().join("old.json");
    sign_with(&s.ec, PAYLOAD_TYPE_IN_TOTO, &statement, &old);
    expect(verify(&old, &s.ec), 0);
    let r = expect(verify(&old, &s.ec).args(["--max-age", "30d"]), 1);
    assert!(r.stderr.contains("too old"), "{}", r.stderr);
    assert!(r.stderr.contains("2024-01-01T00:00:00Z"), "{}", r.stderr);

    let r = expect(verify(&out, &s.ec).args(["--max-age", "soon"]), 2);
    assert!(r.stderr.contains("not a duration"), "{}", r.stderr);
}

#[test]
fn other_payload_and_statement_types_fail() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    attest(&s.passing.reference, &s.ec, "scan", &out);
    let (_, statement) = read_envelope(&out);

    let retyped = s.dir.path().join("retyped.json");
    sign_with(&s.ec, "application/json", &statement, &retyped);
    let r = expect(verify(&retyped, &s.ec), 1);
    assert!(r.stderr.contains("payload type"), "{}", r.stderr);

    let mut old_statement = statement.clone();
    old_statement["_type"] = json!("https://in-toto.io/Statement/v0.1");
    let v01 = s.dir.path().join("v01.json");
    sign_with(&s.ec, PAYLOAD_TYPE_IN_TOTO, &old_statement, &v01);
    let r = expect(verify(&v01, &s.ec), 1);
    assert!(r.stderr.contains("statement type"), "{}", r.stderr);
}

#[test]
fn unreadable_inputs_exit_2() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    attest(&s.passing.reference, &s.ec, "scan", &out);
    let garbage = s.dir.path().join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();

    let r = expect(verify(&s.dir.path().join("missing.json"), &s.ec), 2);
    assert!(r.stderr.contains("missing.json"), "{}", r.stderr);
    let r = expect(verify(&garbage, &s.ec), 2);
    assert!(r.stderr.contains("not a DSSE envelope"), "{}", r.stderr);
    let r = expect(
        portcullis()
            .arg("verify")
            .arg(&out)
            .arg("--key")
            .arg(key(&s.ec)),
        2,
    );
    assert!(r.stderr.contains("private key"), "{}", r.stderr);
    let r = expect(
        portcullis()
            .arg("verify")
            .arg(&out)
            .arg("--key")
            .arg(&garbage),
        2,
    );
    assert!(r.stderr.contains("not a PEM file"), "{}", r.stderr);
    expect(
        verify(&out, &s.ec).args(["--image", "docker-archive:/nonexistent.tar"]),
        2,
    );
}

#[test]
fn an_image_whose_layer_was_altered_cannot_be_verified_against() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    attest(&s.passing.reference, &s.ec, "scan", &out);
    // Same length, one byte different, inside the layer's marker file content.
    let mut bytes = std::fs::read(&s.passing.path).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"passing-image")
        .expect("marker content");
    bytes[at] = b'P';
    std::fs::write(&s.passing.path, bytes).unwrap();
    let r = expect(
        verify(&out, &s.ec).args(["--image", &s.passing.reference]),
        2,
    );
    assert!(r.stderr.contains("digest mismatch"), "{}", r.stderr);
}

#[test]
fn a_saved_report_can_be_signed() {
    let s = setup();
    let report = s.dir.path().join("report.json");
    expect(
        portcullis()
            .args(["scan", &s.failing.reference, "--format", "json", "-o"])
            .arg(&report),
        1,
    );
    let out = s.dir.path().join("a.json");
    let r = expect(
        portcullis()
            .args(["attest", "--predicate", "vsa", "--report"])
            .arg(&report)
            .arg("--key")
            .arg(key(&s.ed))
            .arg("-o")
            .arg(&out),
        0,
    );
    assert!(r.stderr.contains("verdict FAILED"), "{}", r.stderr);
    let (_, statement) = read_envelope(&out);
    assert_eq!(statement["subject"][0]["name"], "acme/root:1.0");
    assert_eq!(statement["predicate"]["verificationResult"], "FAILED");
    expect(
        verify(&out, &s.ed).args(["--image", &s.failing.reference, "--allow-failed"]),
        0,
    );

    // With an image, the report must be about it.
    let r = expect(
        portcullis()
            .args(["attest", &s.passing.reference, "--report"])
            .arg(&report)
            .arg("--key")
            .arg(key(&s.ed)),
        2,
    );
    assert!(r.stderr.contains("about another image"), "{}", r.stderr);
    // The verdict comes from the report: --fail-on cannot change it.
    expect(
        portcullis()
            .args(["attest", "--fail-on", "critical", "--report"])
            .arg(&report)
            .arg("--key")
            .arg(key(&s.ed)),
        2,
    );
}

#[test]
fn fail_on_decides_the_attested_verdict() {
    let s = setup();
    let out = s.dir.path().join("a.json");
    expect(
        portcullis()
            .args(["attest", &s.failing.reference, "--fail-on", "critical"])
            .arg("--key")
            .arg(key(&s.ec))
            .arg("-o")
            .arg(&out),
        0,
    );
    expect(verify(&out, &s.ec).arg("--require-pass"), 0);
    let (_, statement) = read_envelope(&out);
    assert_eq!(statement["predicate"]["failOn"], "critical");
}

#[test]
fn without_output_the_envelope_goes_to_stdout() {
    let s = setup();
    let r = expect(
        portcullis()
            .args(["attest", &s.passing.reference, "--key"])
            .arg(key(&s.ec)),
        0,
    );
    let envelope: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(envelope["payloadType"], PAYLOAD_TYPE_IN_TOTO);
}

#[test]
fn corpus_images_are_attested_by_their_known_digests() {
    let Some(corpus) = corpus() else {
        return;
    };
    let testdata = corpus.join("aquasecurity_trivy/pkg/fanal/test/testdata");
    let alpine = testdata.join("alpine-310.tar.gz");
    let layout = testdata.join("test.oci");
    if !alpine.is_file() || !layout.is_dir() {
        skip("trivy's alpine-310.tar.gz or test.oci is missing from the corpus");
        return;
    }
    let s = setup();
    // Digests from corpus/expected/images.json (Trivy's own test expectations).
    let cases = [
        (
            format!("docker-archive:{}", alpine.display()),
            "af341ccd2df8b0e2d67cf8dd32e087bfda4e5756ebd1c76bbf3efa0dc246590e",
            "config",
            "alpine:3.10",
        ),
        (
            format!("oci:{}", layout.display()),
            "afb744871f99e0ff8e6f253244836ed34c5d805fdb096d3a205ffaf5e9073cab",
            "manifest",
            "",
        ),
    ];
    for (i, (reference, digest, kind, name)) in cases.iter().enumerate() {
        let out = s.dir.path().join(format!("corpus-{i}.json"));
        attest(reference, &s.ec, "scan", &out);
        let (_, statement) = read_envelope(&out);
        let subject = &statement["subject"][0];
        assert_eq!(subject["digest"]["sha256"], *digest, "{reference}");
        assert_eq!(
            subject["annotations"]["portcullis.dev/digest-kind"], *kind,
            "{reference}"
        );
        if !name.is_empty() {
            assert_eq!(subject["name"], *name);
        }
        // About the digests: these images fail the gate, which is not the point here.
        expect(
            verify(&out, &s.ec).args(["--image", reference, "--allow-failed"]),
            0,
        );
    }
    // Each attestation is about its own image only.
    let r = expect(
        verify(&s.dir.path().join("corpus-0.json"), &s.ec).args(["--image", &cases[1].0]),
        1,
    );
    assert!(r.stderr.contains("not this image"), "{}", r.stderr);
}
