//! Interoperability with the implementations users already have: securesystemslib's DSSE
//! (both directions, both key types) and cosign's encrypted key format (written here by a
//! Python reimplementation: scrypt from hashlib, secretbox from PyNaCl).

#![cfg(unix)]

mod attest_support;

use attest_support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const SSLIB: (&[&str], &[&str]) = (
    &["securesystemslib.dsse", "cryptography"],
    &["securesystemslib[crypto]"],
);

fn keyid(prefix: &Path) -> String {
    keyid_of_pem(&std::fs::read_to_string(public(prefix)).unwrap())
}

fn attest(image: &TestImage, key_file: &Path, out: &Path) {
    expect(
        portcullis()
            .args(["attest", &image.reference, "--key"])
            .arg(key_file)
            .arg("-o")
            .arg(out),
        0,
    );
}

#[test]
fn securesystemslib_verifies_portcullis_envelopes() {
    let Some(_) = python_with(SSLIB.0, SSLIB.1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = docker_archive(dir.path(), "img.tar", "acme/app:1", "1000", "interop");
    let other = keygen(dir.path(), "other", "ecdsa-p256", None);
    for key_type in ["ecdsa-p256", "ed25519"] {
        let prefix = keygen(dir.path(), key_type, key_type, None);
        let out = dir.path().join(format!("{key_type}.json"));
        attest(&image, &key(&prefix), &out);

        let mut py = python_with(SSLIB.0, SSLIB.1).unwrap();
        let r = expect(
            py.arg("verify")
                .arg(&out)
                .arg(public(&prefix))
                .arg(keyid(&prefix)),
            0,
        );
        assert!(r.stdout.contains("verified"), "{key_type}: {}", r.stderr);

        // And it is a real check: another key (under the same id) does not verify.
        let mut py = python_with(SSLIB.0, SSLIB.1).unwrap();
        expect(
            py.arg("verify")
                .arg(&out)
                .arg(public(&other))
                .arg(keyid(&prefix)),
            1,
        );
    }
}

#[test]
fn portcullis_verifies_securesystemslib_envelopes() {
    let Some(_) = python_with(SSLIB.0, SSLIB.1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = docker_archive(dir.path(), "img.tar", "acme/app:1", "1000", "interop");
    for key_type in ["ecdsa-p256", "ed25519"] {
        let prefix = keygen(dir.path(), key_type, key_type, None);
        // A statement made by portcullis, signed again by securesystemslib.
        let ours = dir.path().join(format!("{key_type}-ours.json"));
        attest(&image, &key(&prefix), &ours);
        let (_, statement) = read_envelope(&ours);
        let payload = dir.path().join(format!("{key_type}-statement.json"));
        std::fs::write(&payload, serde_json::to_vec(&statement).unwrap()).unwrap();

        let theirs = dir.path().join(format!("{key_type}-sslib.json"));
        let mut py = python_with(SSLIB.0, SSLIB.1).unwrap();
        expect(
            py.arg("sign")
                .arg(&payload)
                .arg("application/vnd.in-toto+json")
                .arg(key(&prefix))
                .arg(keyid(&prefix))
                .arg(&theirs),
            0,
        );
        let r = expect(
            portcullis()
                .arg("verify")
                .arg(&theirs)
                .arg("--key")
                .arg(public(&prefix))
                .args(["--image", &image.reference, "--require-pass"]),
            0,
        );
        assert!(r.stdout.contains("Verified OK"), "{key_type}: {}", r.stdout);

        let other = keygen(dir.path(), &format!("{key_type}-other"), key_type, None);
        expect(
            portcullis()
                .arg("verify")
                .arg(&theirs)
                .arg("--key")
                .arg(public(&other)),
            1,
        );
    }
}

#[test]
fn cosign_format_encrypted_keys_sign() {
    let Some(_) = python_with(
        &["nacl.secret", "cryptography"],
        &["pynacl", "cryptography"],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = docker_archive(dir.path(), "img.tar", "acme/app:1", "1000", "cosign");
    // cosign generates P-256 keys and loads Ed25519 ones; before 2.0 it wrote another label.
    for (key_type, label) in [
        ("ecdsa-p256", "ENCRYPTED SIGSTORE PRIVATE KEY"),
        ("ed25519", "ENCRYPTED COSIGN PRIVATE KEY"),
    ] {
        let prefix = keygen(dir.path(), key_type, key_type, None);
        let cosign_key = dir.path().join(format!("{key_type}-cosign.key"));
        let mut py = python_with(&["nacl.secret"], &["pynacl"]).unwrap();
        expect(
            py.arg("cosign-key")
                .arg(key(&prefix))
                .arg("cosign passphrase")
                .arg(&cosign_key)
                .arg(label),
            0,
        );
        let pem = std::fs::read_to_string(&cosign_key).unwrap();
        assert!(pem.starts_with(&format!("-----BEGIN {label}-----\n")));

        let out = dir.path().join(format!("{key_type}-cosign.json"));
        expect(
            portcullis()
                .args(["attest", &image.reference, "--key"])
                .arg(&cosign_key)
                .arg("-o")
                .arg(&out)
                .env("COSIGN_PASSWORD", "cosign passphrase"),
            0,
        );
        let (envelope, _) = read_envelope(&out);
        assert_eq!(envelope["signatures"][0]["keyid"], keyid(&prefix).as_str());
        expect(
            portcullis()
                .arg("verify")
                .arg(&out)
                .arg("--key")
                .arg(public(&prefix))
                .args(["--image", &image.reference]),
            0,
        );

        let r = expect(
            portcullis()
                .args(["attest", &image.reference, "--key"])
                .arg(&cosign_key)
                .env("COSIGN_PASSWORD", "not the passphrase"),
            2,
        );
        assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
        assert!(r.stderr.contains("COSIGN_PASSWORD"), "{}", r.stderr);
        let r = expect(
            portcullis()
                .args(["attest", &image.reference, "--key"])
                .arg(&cosign_key),
            2,
        );
        assert!(r.stderr.contains("COSIGN_PASSWORD"), "{}", r.stderr);
    }
}

#[test]
fn openssl_generated_encrypted_keys_sign() {
    if Command::new("openssl").arg("version").output().is_err() {
        skip("openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = docker_archive(dir.path(), "img.tar", "acme/app:1", "1000", "openssl");
    // OpenSSL encrypts PKCS#8 with PBES2 + PBKDF2-HMAC-SHA256 (portcullis uses scrypt).
    for (name, algorithm) in [
        ("ed", &["-algorithm", "ed25519"][..]),
        (
            "ec",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        ),
    ] {
        let private = dir.path().join(format!("{name}.pem"));
        let public = dir.path().join(format!("{name}.pub"));
        let status = Command::new("openssl")
            .arg("genpkey")
            .args(algorithm)
            .args(["-aes-256-cbc", "-pass", "pass:from openssl", "-out"])
            .arg(&private)
            .status()
            .unwrap();
        assert!(status.success());
        let status = Command::new("openssl")
            .args(["pkey", "-pubout", "-passin", "pass:from openssl", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();

        let out = dir.path().join(format!("{name}.json"));
        expect(
            portcullis()
                .args(["attest", &image.reference, "--key"])
                .arg(&private)
                .arg("-o")
                .arg(&out)
                .env("PORTCULLIS_PASSWORD", "from openssl"),
            0,
        );
        expect(
            portcullis()
                .arg("verify")
                .arg(&out)
                .arg("--key")
                .arg(&public)
                .args(["--image", &image.reference]),
            0,
        );
    }
}
