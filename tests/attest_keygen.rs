//! `portcullis keygen`, and how private keys are loaded: passphrases, permissions, formats.

#![cfg(unix)]

mod attest_support;

use attest_support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn keygen_writes_an_encrypted_private_key_0600_and_a_public_key_0644() {
    let dir = tempfile::tempdir().unwrap();
    for (key_type, name) in [("ecdsa-p256", "ec"), ("ed25519", "ed")] {
        let prefix = dir.path().join(name);
        let r = expect(
            portcullis()
                .args(["keygen", "--type", key_type, "--out"])
                .arg(&prefix)
                .env("PORTCULLIS_PASSWORD", "correct horse"),
            0,
        );
        assert_eq!(mode(&key(&prefix)), 0o600, "{key_type}");
        assert_eq!(mode(&public(&prefix)), 0o644, "{key_type}");
        assert!(read(&key(&prefix)).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let public_pem = read(&public(&prefix));
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(
            r.stdout
                .contains(&format!("Key id:      {}", keyid_of_pem(&public_pem))),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains(key_type));
    }
}

#[test]
fn keygen_no_password_writes_plain_pkcs8() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = keygen(dir.path(), "plain", "ed25519", None);
    assert!(read(&key(&prefix)).starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(mode(&key(&prefix)), 0o600);
}

#[test]
fn keygen_refuses_to_overwrite_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = keygen(dir.path(), "k", "ecdsa-p256", None);
    let before = (read(&key(&prefix)), read(&public(&prefix)));

    let r = expect(
        portcullis()
            .args(["keygen", "--no-password", "--out"])
            .arg(&prefix),
        2,
    );
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!((read(&key(&prefix)), read(&public(&prefix))), before);

    // Only the public half present: still refused, and no private key appears.
    std::fs::remove_file(key(&prefix)).unwrap();
    expect(
        portcullis()
            .args(["keygen", "--no-password", "--out"])
            .arg(&prefix),
        2,
    );
    assert!(!key(&prefix).exists());

    expect(
        portcullis()
            .args(["keygen", "--no-password", "--force", "--out"])
            .arg(&prefix),
        0,
    );
    assert_ne!(read(&public(&prefix)), before.1);
    assert_eq!(mode(&key(&prefix)), 0o600);
    assert_eq!(mode(&public(&prefix)), 0o644);
}

#[test]
fn keygen_needs_a_passphrase_source_or_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    let r = expect(portcullis().args(["keygen", "--out"]).arg(&prefix), 2);
    assert!(r.stderr.contains("PORTCULLIS_PASSWORD"), "{}", r.stderr);
    assert!(r.stderr.contains("--no-password"), "{}", r.stderr);
    let r = expect(
        portcullis()
            .args(["keygen", "--out"])
            .arg(&prefix)
            .env("PORTCULLIS_PASSWORD", ""),
        2,
    );
    assert!(r.stderr.contains("empty"), "{}", r.stderr);
    assert!(!key(&prefix).exists() && !public(&prefix).exists());
}

#[test]
fn openssl_reads_the_encrypted_keys() {
    if Command::new("openssl").arg("version").output().is_err() {
        skip("openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for key_type in ["ecdsa-p256", "ed25519"] {
        let prefix = keygen(dir.path(), key_type, key_type, Some("open sesame"));
        let out = Command::new("openssl")
            .args(["pkey", "-pubout", "-passin", "env:KEY_PASS", "-in"])
            .arg(key(&prefix))
            .env("KEY_PASS", "open sesame")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{key_type}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            read(&public(&prefix)),
            "{key_type}"
        );
        let shown = Command::new("openssl")
            .args(["asn1parse", "-in"])
            .arg(key(&prefix))
            .output()
            .unwrap();
        let asn1 = String::from_utf8_lossy(&shown.stdout);
        assert!(
            asn1.contains("PBES2") && asn1.contains("aes-256-cbc"),
            "{asn1}"
        );
    }
}

#[test]
fn plain_keys_readable_by_others_are_refused_encrypted_ones_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let image = docker_archive(dir.path(), "img.tar", "app:1", "1000", "a");
    let plain = keygen(dir.path(), "plain", "ecdsa-p256", None);
    std::fs::set_permissions(key(&plain), std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = expect(
        portcullis()
            .args(["attest", &image.reference, "--key"])
            .arg(key(&plain)),
        2,
    );
    assert!(r.stderr.contains("readable by other users"), "{}", r.stderr);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    let encrypted = keygen(dir.path(), "enc", "ecdsa-p256", Some("pw"));
    std::fs::set_permissions(key(&encrypted), std::fs::Permissions::from_mode(0o640)).unwrap();
    let r = expect(
        portcullis()
            .args(["attest", &image.reference, "--key"])
            .arg(key(&encrypted))
            .env("PORTCULLIS_PASSWORD", "pw"),
        0,
    );
    assert!(r.stderr.contains("warning"), "{}", r.stderr);
    assert!(r.stderr.contains("mode 0640"), "{}", r.stderr);
}

#[test]
fn encrypted_keys_need_the_right_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let image = docker_archive(dir.path(), "img.tar", "app:1", "1000", "a");
    let prefix = keygen(dir.path(), "k", "ed25519", Some("the right one"));
    let r = expect(
        portcullis()
            .args(["attest", &image.reference, "--key"])
            .arg(key(&prefix)),
        2,
    );
    assert!(r.stderr.contains("is encrypted"), "{}", r.stderr);
    assert!(r.stderr.contains("PORTCULLIS_PASSWORD"), "{}", r.stderr);

    let r = expect(
        portcullis()
            .args(["attest", &image.reference, "--key"])
            .arg(key(&prefix))
            .env("PORTCULLIS_PASSWORD", "the wrong one"),
        2,
    );
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
    assert!(!r.stderr.contains("the wrong one"), "{}", r.stderr);

    // cosign's variable is the fallback for portcullis keys.
    expect(
        portcullis()
            .args(["attest", &image.reference, "--key"])
            .arg(key(&prefix))
            .env("COSIGN_PASSWORD", "the right one"),
        0,
    );
}

#[test]
fn secrets_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let image = docker_archive(dir.path(), "img.tar", "app:1", "1000", "a");
    let passphrase = "Tr0ub4dor&3-unique";
    let prefix = dir.path().join("k");
    let keygen_run = expect(
        portcullis()
            .args(["keygen", "--out"])
            .arg(&prefix)
            .env("PORTCULLIS_PASSWORD", passphrase),
        0,
    );
    let attest_run = expect(
        portcullis()
            .args(["attest", &image.reference, "--key"])
            .arg(key(&prefix))
            .env("PORTCULLIS_PASSWORD", passphrase),
        0,
    );
    let private_body: Vec<String> = read(&key(&prefix))
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_string)
        .collect();
    for r in [&keygen_run, &attest_run] {
        for text in [&r.stdout, &r.stderr] {
            assert!(!text.contains(passphrase));
            for line in &private_body {
                assert!(!text.contains(line.as_str()));
            }
        }
    }
}

#[test]
fn a_public_key_is_not_a_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let image = docker_archive(dir.path(), "img.tar", "app:1", "1000", "a");
    let prefix = keygen(dir.path(), "k", "ecdsa-p256", None);
    let r = expect(
        portcullis()
            .args(["attest", &image.reference, "--key"])
            .arg(public(&prefix)),
        2,
    );
    assert!(r.stderr.contains("public key"), "{}", r.stderr);
}
