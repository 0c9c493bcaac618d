//! The secrets family end to end: an image with a secret in each place a secret hides (a
//! visible file, a file carried by two layers, a deleted file, an overwritten file, a
//! credential file no content rule matches, a build leftover, ENV, a label, the build
//! history), scanned by the binary. Each must be found exactly once, at the right location,
//! and no output format may hold a secret in full.

mod common;

use common::builder::*;
use common::{portcullis, run_command, scan_json, text};
use serde_json::Value;

// Random strings in each token's format; not real credentials.
const GITHUB_PAT: &str = "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";
const STRIPE_KEY: &str =
    "sk_live_51Hq8ZtKp3VmN7xR2bW9cY4dF6gJ8kL0mN2pQ4sT6vX8zA1cE3gI5kM7oQ9sU1wY3a";
const RSA_BODY: &str = "MIIEowIBAAKCAQEAu9Nua0y1y08gkbnBfKd6VDHia8Na0ATgMQqZ4YEbit73g84I\nEPQPkLbPF3XDe2JA1QzqTZbbePLsW44DbbgMXk5jjSh2SvGe5IXNeNwyyMox8DKQ\nccJUPxbCxnhFgSnF76cMBXJC63nDnGawz4g3qwU10sfyKG0ixFI3e3992fk6QnF4\n";
const DB_PASSWORD_FILE: &str = "S3cr3tPassw0rd9x";
const ENV_PASSWORD: &str = "Hunter2Hunter2x";
const LABEL_TOKEN: &str = "f4Kd9QzL2mXv7RtB8nWc3Ye6";
const NPM_TOKEN: &str = "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";

fn private_key() -> String {
    format!("-----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}-----END RSA PRIVATE KEY-----\n")
}

fn all_secrets() -> Vec<String> {
    [
        GITHUB_PAT,
        STRIPE_KEY,
        DB_PASSWORD_FILE,
        ENV_PASSWORD,
        LABEL_TOKEN,
        NPM_TOKEN,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(RSA_BODY.lines().map(str::to_string))
    .collect()
}

fn image() -> Built {
    let dotenv = format!("NODE_ENV=production\nSTRIPE_KEY={STRIPE_KEY}\n");
    Image::new()
        .env(&format!("DB_PASSWORD={ENV_PASSWORD}"))
        .env("GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D")
        .env("APP_PUBLIC_KEY=MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
        .env("DB_PASSWORD_FILE=/run/secrets/db")
        .label("com.corp.api-token", LABEL_TOKEN)
        .label(
            "org.opencontainers.image.source",
            "https://git.corp.test/app",
        )
        .layer(
            Layer::new()
                .gzip()
                .dir("app")
                .file(
                    "app/settings.yaml",
                    format!("name: app\nlisten: 8080\ngithub_token: {GITHUB_PAT}\n"),
                )
                .file("app/.env", &dotenv)
                .file("app/Dockerfile", "FROM alpine:3.19\nCOPY . /app\n")
                .file(
                    "app/keystore.p12",
                    b"\x30\x82\x0a\x1f\x02\x01\x03\x30\x82\x09\xe5\x00",
                )
                .file("app/README.md", format!("token: {GITHUB_PAT}\n"))
                .dir("root")
                .file("root/deploy.key", private_key())
                .dir("etc")
                .dir("etc/app")
                .file(
                    "etc/app/db.conf",
                    format!("[db]\nhost = db\npassword = {DB_PASSWORD_FILE}\n"),
                ),
        )
        .layer(Layer::new().whiteout("root/deploy.key").file(
            "etc/app/db.conf",
            "[db]\nhost = db\npassword = ${DB_PASSWORD}\n",
        ))
        .layer(Layer::new().zstd().file("app/.env", &dotenv))
        .history("/bin/sh -c #(nop) ADD file:4b1c in / ", false)
        .history("/bin/sh -c #(nop)  ARG NPM_TOKEN", true)
        .history(
            &format!("|1 NPM_TOKEN={NPM_TOKEN} /bin/sh -c rm /root/deploy.key && npm ci"),
            false,
        )
        .history(
            &format!("|1 NPM_TOKEN={NPM_TOKEN} /bin/sh -c npm run build"),
            true,
        )
        .history(
            &format!("/bin/sh -c #(nop)  ENV DB_PASSWORD={ENV_PASSWORD}"),
            true,
        )
        .history(
            "/bin/sh -c apk add --no-cache curl=8.5.0-r0 && cp /tmp/.env /app/.env",
            false,
        )
        .build()
}

fn secrets_findings(report: &Value) -> Vec<Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["check"]
                .as_str()
                .is_some_and(|c| c.starts_with("secrets-"))
        })
        .cloned()
        .collect()
}

fn find<'a>(findings: &'a [Value], check: &str, needle: &str) -> Vec<&'a Value> {
    findings
        .iter()
        .filter(|f| {
            // Paths are shown absolute inside the image; needles name them relative.
            f["check"] == check
                && (f["location"]["path"].as_str()
                    == Some(format!("/{}", needle.trim_start_matches('/')).as_str())
                    || f["location"]["config"].as_str() == Some(needle))
        })
        .collect()
}

fn one<'a>(findings: &'a [Value], check: &str, needle: &str) -> &'a Value {
    let found = find(findings, check, needle);
    assert_eq!(
        found.len(),
        1,
        "{check} at {needle}: {found:#?}\nall: {findings:#?}"
    );
    found[0]
}

#[test]
fn every_place_a_secret_hides_is_found_once_at_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("secrets.tar");
    DockerArchive::classic()
        .image(&image(), &["secrets:1"])
        .write(&archive);
    let run = scan_json(text(&archive), &[]);
    run.expect_code(1);
    let report = run.json();
    let findings = secrets_findings(&report);

    let visible = one(&findings, "secrets-in-file", "app/settings.yaml");
    assert_eq!(visible["data"]["rule"], "github-pat");
    assert_eq!(visible["severity"], "critical");
    assert_eq!(visible["location"]["layer"], 0);
    assert_eq!(visible["location"]["line"], 3);
    assert!(visible["location"].get("hidden_by").is_none());
    assert_eq!(visible["evidence"], "ghp_******** (40 chars)");

    // The same .env in layers 0 and 2: reported once, from the layer the image shows.
    let dotenv = one(&findings, "secrets-in-file", "app/.env");
    assert_eq!(dotenv["data"]["rule"], "stripe-secret-key");
    assert_eq!(dotenv["location"]["layer"], 2);
    assert_eq!(dotenv["location"]["line"], 2);
    assert_eq!(dotenv["data"]["also_in_layers"], serde_json::json!([0]));
    assert!(find(&findings, "secrets-in-removed-file", "app/.env").is_empty());
    assert!(find(&findings, "secrets-credential-file", "app/.env").is_empty());

    let deleted = one(&findings, "secrets-in-removed-file", "root/deploy.key");
    assert_eq!(deleted["data"]["rule"], "private-key-rsa");
    assert_eq!(deleted["location"]["layer"], 0);
    assert_eq!(deleted["location"]["hidden_by"], 1);
    assert_eq!(deleted["location"]["line"], 2);
    let message = deleted["message"].as_str().expect("message");
    assert!(message.contains("deleted by layer 1"), "{message}");
    assert!(
        message.contains("still extractable from layer 0"),
        "{message}"
    );

    let overwritten = one(&findings, "secrets-in-removed-file", "etc/app/db.conf");
    assert_eq!(overwritten["data"]["rule"], "generic-password");
    assert_eq!(overwritten["location"]["layer"], 0);
    assert_eq!(overwritten["location"]["hidden_by"], 1);
    assert_eq!(overwritten["location"]["line"], 3);
    assert!(
        overwritten["message"]
            .as_str()
            .is_some_and(|m| m.contains("overwritten by layer 1"))
    );
    assert!(find(&findings, "secrets-in-file", "etc/app/db.conf").is_empty());

    let keystore = one(&findings, "secrets-credential-file", "app/keystore.p12");
    assert_eq!(keystore["data"]["rule"], "keystore-file");
    assert_eq!(keystore["location"]["layer"], 0);

    let dockerfile = one(&findings, "secrets-build-file", "app/Dockerfile");
    assert_eq!(dockerfile["severity"], "low");

    let env = one(&findings, "secrets-in-env", "config.Env[1]");
    assert_eq!(env["data"]["rule"], "secret-named-key");
    assert!(
        env["message"]
            .as_str()
            .is_some_and(|m| m.contains("DB_PASSWORD"))
    );

    let label = one(
        &findings,
        "secrets-in-label",
        "config.Labels[\"com.corp.api-token\"]",
    );
    assert_eq!(label["data"]["rule"], "secret-named-key");

    // The ARG value recorded in two RUN steps: once, at the first, in the layer it built.
    let history = one(&findings, "secrets-in-history", "history[2].created_by");
    assert_eq!(history["data"]["rule"], "npm-access-token");
    assert_eq!(history["location"]["layer"], 1);

    // The application's README ships in the image: a provider token there is a leak,
    // reported at the rule's severity (docs/secrets.md, "Where a secret sits").
    let readme = one(&findings, "secrets-in-file", "/app/README.md");
    assert_eq!(readme["data"]["rule"], "github-pat");
    assert_eq!(readme["severity"], "critical");

    // Nothing else: no GPG_KEY, public key, *_FILE, pinned package, duplicate ENV.
    assert_eq!(findings.len(), 11, "{findings:#?}");

    let json = run.stdout.clone() + &run.stderr;
    for secret in all_secrets() {
        assert!(!json.contains(&secret), "the JSON report holds {secret:?}");
    }

    let table = run_command(portcullis().args(["scan", text(&archive)]));
    table.expect_code(1);
    assert!(
        table
            .stdout
            .contains("removed by layer 1 but still extractable from layer 0"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("secrets-in-history"));
    let all_output = table.stdout + &table.stderr;
    for secret in all_secrets() {
        assert!(!all_output.contains(&secret), "the table holds {secret:?}");
    }
}

#[test]
fn secrets_can_be_switched_off_and_extended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("secrets.tar");
    DockerArchive::classic()
        .image(&image(), &["secrets:1"])
        .write(&archive);

    let off = scan_json(text(&archive), &["--no-secrets"]);
    assert!(secrets_findings(&off.json()).is_empty());

    let rules = dir.path().join("team-rules.toml");
    std::fs::write(
        &rules,
        r#"
disable = ["keystore-file-does-not-exist"]
"#,
    )
    .expect("write rules");
    let bad = scan_json(text(&archive), &["--secret-rules", text(&rules)]);
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("keystore-file-does-not-exist"),
        "{}",
        bad.stderr
    );

    std::fs::write(
        &rules,
        r#"
disable = ["github-pat", "generic-secret"]
"#,
    )
    .expect("write rules");
    let fewer = scan_json(text(&archive), &["--secret-rules", text(&rules)]);
    let findings = secrets_findings(&fewer.json());
    assert!(find(&findings, "secrets-in-file", "app/settings.yaml").is_empty());
    assert!(!find(&findings, "secrets-in-file", "app/.env").is_empty());
}

#[test]
fn explain_covers_the_family_and_the_rules() {
    let list = run_command(portcullis().arg("explain"));
    list.expect_code(0);
    for id in [
        "secrets-in-file",
        "secrets-in-removed-file",
        "secrets-credential-file",
        "secrets-in-env",
        "secrets-in-label",
        "secrets-in-history",
        "secrets-git-directory",
        "secrets-build-file",
        "secrets-shell-history",
    ] {
        assert!(
            list.stdout.contains(id),
            "{id} missing from:\n{}",
            list.stdout
        );
    }
    let check = run_command(portcullis().args(["explain", "secrets-in-file"]));
    check.expect_code(0);
    assert!(check.stdout.contains("aws-access-key-id"));
    let rule = run_command(portcullis().args(["explain", "github-fine-grained-pat"]));
    rule.expect_code(0);
    assert!(
        rule.stdout.contains("keywords: github_pat_"),
        "{}",
        rule.stdout
    );
}
