//! What portcullis prints can never betray its user: a secret quoted from any kind of image
//! text is masked in every output format and in every signed predicate, and image text
//! cannot inject control sequences or forge lines in the text formats.

mod common;

use base64::Engine as _;
use common::builder::{DockerArchive, Image, Layer};
use common::{Run, portcullis, run_command, text};
use portcullis::attest::dsse::Envelope;
use std::path::{Path, PathBuf};

const NOW: &str = "2026-01-15";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const DEBIAN_OS: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";

/// A GitHub token in a build argument.
const GH_TOKEN: &str = "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";
/// The password of a URL's `user:password@` (in an ADD).
const URL_PASSWORD: &str = "Url-P4ss-2231q";
/// `curl -u user:pass`.
const CURL_PASSWORD: &str = "Curl-P4ss-7781q";
/// `--password X`.
const FLAG_PASSWORD: &str = "Flag-P4ss-9911q";
/// `Authorization: Bearer X`.
const BEARER: &str = "AuthHdr-Tok-5512xyzq";
/// A build argument whose name says it is a secret.
const NAMED_ARG: &str = "Named-P4ss-3301q";
/// A proxy URL with a password in an ENV entry.
const ENV_PASSWORD: &str = "Proxy-P4ss-4410q";
/// A URL with a password in a label.
const LABEL_PASSWORD: &str = "Label-P4ss-8812q";
/// A sudoers rule quoting a password.
const SUDO_PASSWORD: &str = "Sudo-P4ss-6620q";
/// An AWS access key id as the configured user.
const USER_KEY: &str = "AKIA2E0A8F3B244C9986";

fn planted() -> [&'static str; 10] {
    [
        GH_TOKEN,
        URL_PASSWORD,
        CURL_PASSWORD,
        FLAG_PASSWORD,
        BEARER,
        NAMED_ARG,
        ENV_PASSWORD,
        LABEL_PASSWORD,
        SUDO_PASSWORD,
        USER_KEY,
    ]
}

/// An image whose history, ENV, labels, configured user and a sudoers file each hold one
/// of the planted secrets, in text that checks quote.
fn secret_image(dir: &Path) -> PathBuf {
    let image = Image::new()
        .user(USER_KEY)
        .env(&format!(
            "HTTP_PROXY=http://proxy:{ENV_PASSWORD}@proxy.internal:3128"
        ))
        .label(
            "org.example.mirror",
            &format!("https://mirror:{LABEL_PASSWORD}@mirror.example.com/"),
        )
        .history(
            &format!("ADD https://bot:{URL_PASSWORD}@example.com/setup.sh /setup.sh # buildkit"),
            false,
        )
        .history(
            &format!(
                "RUN |2 GH_TOKEN={GH_TOKEN} DB_PASSWORD={NAMED_ARG} /bin/sh -c apt-get update \
                 && curl -u deploy:{CURL_PASSWORD} -H 'Authorization: Bearer {BEARER}' \
                 https://example.com/x.sh | sh && tool --password {FLAG_PASSWORD} \
                 && apt-get dist-upgrade -y # buildkit"
            ),
            false,
        )
        .layer(
            Layer::new()
                .dir("etc")
                .file("etc/os-release", DEBIAN_OS)
                .file("etc/passwd", PASSWD)
                .file("etc/group", "root:x:0:\napp:x:1000:\n")
                .file("setup.sh", "#!/bin/sh\n"),
        )
        .layer(Layer::new().dir("etc/sudoers.d").file(
            "etc/sudoers.d/app",
            format!("app ALL=(ALL) NOPASSWD: /usr/bin/curl -u ci:{SUDO_PASSWORD} *\n"),
        ));
    let path = dir.join("secrets.tar");
    DockerArchive::docker25()
        .image(&image.build(), &["acme/app:1"])
        .write(&path);
    path
}

fn run_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = portcullis();
    cmd.current_dir(dir)
        .env(portcullis::cli::scan::NOW_ENV, NOW)
        .env_remove("PORTCULLIS_PASSWORD")
        .args(args);
    run_command(&mut cmd)
}

const FORMATS: [&str; 5] = ["table", "json", "sarif", "junit", "markdown"];

/// Everything one `attest` printed, with the envelope's payload decoded.
fn attestation_text(run: &Run) -> String {
    let envelope = Envelope::from_json(run.stdout.trim().as_bytes()).expect("a DSSE envelope");
    let payload = String::from_utf8(envelope.payload.clone()).unwrap();
    // The envelope carries the payload base64-encoded: decode what was printed too.
    let raw: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let printed = base64::engine::general_purpose::STANDARD
        .decode(raw["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(printed, envelope.payload);
    format!("{payload}\n{}\n{}", run.stdout, run.stderr)
}

/// Every format of `scan` (stdout and stderr) and every attestation predicate for `image`.
fn all_outputs(dir: &Path, image: &str) -> Vec<(String, String)> {
    let mut outputs: Vec<(String, String)> = Vec::new();
    for format in FORMATS {
        let run = run_in(
            dir,
            &["scan", "--format", format, "--exit-code", "0", image],
        );
        run.expect_code(0);
        outputs.push((format!("scan --format {format}"), run.stdout.clone()));
        outputs.push((format!("scan --format {format} (stderr)"), run.stderr));
    }
    let prefix = dir.join("k");
    if !dir.join("k.key").exists() {
        run_in(dir, &["keygen", "--no-password", "--out", text(&prefix)]).expect_code(0);
    }
    let key = text(&dir.join("k.key")).to_string();
    for predicate in ["scan", "vsa", "vuln"] {
        let run = run_in(
            dir,
            &["attest", image, "--key", &key, "--predicate", predicate],
        );
        run.expect_code(0);
        outputs.push((
            format!("attest --predicate {predicate}"),
            attestation_text(&run),
        ));
    }
    outputs
}

#[test]
fn no_secret_quoted_from_the_image_survives_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let image = secret_image(dir.path());
    let image = text(&image);
    let outputs = all_outputs(dir.path(), image);
    for (what, output) in &outputs {
        for secret in planted() {
            assert!(
                !output.contains(secret),
                "{what} holds the planted secret {secret}:\n{output}"
            );
        }
    }

    // The texts were quoted, masked: the test would prove nothing if no check quoted them.
    let json = &outputs[2].1;
    assert_eq!(outputs[2].0, "scan --format json");
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let quoted = |check: &str| -> String {
        findings
            .iter()
            .filter(|f| f["check"] == check)
            .map(|f| format!("{} {}", f["message"], f["evidence"]))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let dist_upgrade = quoted("config-dist-upgrade");
    for masked in [
        "GH_TOKEN=ghp_******** (40 chars)",
        "DB_PASSWORD=Na******** (16 chars)",
        "deploy:Cu******** (15 chars)",
        "Bearer Au******** (20 chars)",
        "--password Fl******** (15 chars)",
    ] {
        assert!(
            dist_upgrade.contains(masked),
            "config-dist-upgrade should quote {masked:?}: {dist_upgrade}"
        );
    }
    assert!(
        quoted("config-add-remote").contains("https://bot:Ur******** (14 chars)@example.com"),
        "{}",
        quoted("config-add-remote")
    );
    assert!(
        report["image"]["user"]
            .as_str()
            .unwrap()
            .contains("******** (20 chars)"),
        "{}",
        report["image"]["user"]
    );
    let table = &outputs[0].1;
    assert!(
        table.contains("AK******** (20 chars)"),
        "the table shows the configured user masked:\n{table}"
    );
}

/// The kinds of secret, each as it stands in a piece of text: `(secret, text holding it)`.
/// `n` makes the values of one kind of image text distinct from those of another.
fn secret_kinds(n: usize) -> Vec<(String, String)> {
    let token = format!("ghp_{n}R8kLmN2pQ4sT6vX8zA1cE3gI5kM7oQ9sU1w");
    let aws = format!("AKIA{n}E0A8F3B244C9986");
    let pw = |kind: &str| format!("{kind}{n}-P4ss-zq9");
    vec![
        (token.clone(), token),
        (aws.clone(), aws),
        (
            pw("Url"),
            format!("https://bot:{}@example.com/x", pw("Url")),
        ),
        (
            pw("Curl"),
            format!("curl -u deploy:{} https://example.com", pw("Curl")),
        ),
        (pw("Flag"), format!("tool --password {}", pw("Flag"))),
        (
            pw("Hdr"),
            format!("curl -H 'Authorization: Bearer {}' x", pw("Hdr")),
        ),
        (pw("Named"), format!("DB_PASSWORD={} make", pw("Named"))),
    ]
}

#[test]
fn every_kind_of_secret_in_every_kind_of_image_text_is_masked() {
    let dir = tempfile::tempdir().unwrap();
    let mut planted: Vec<(String, &str)> = Vec::new();
    let mut plant = |n: usize, what: &'static str| -> Vec<String> {
        secret_kinds(n)
            .into_iter()
            .map(|(secret, text)| {
                planted.push((secret, what));
                text
            })
            .collect()
    };
    let run_line = plant(0, "a RUN line").join(" && ");
    let add = plant(1, "an ADD line").join(" ");
    let env = plant(2, "ENV");
    let labels = plant(3, "a label");
    let user = plant(4, "config.User").join(" ");
    let sudoers = plant(5, "a sudoers rule");
    let names: Vec<String> = secret_kinds(6)
        .into_iter()
        .take(2)
        .map(|(secret, _)| {
            planted.push((secret.clone(), "a file name"));
            secret
        })
        .collect();
    let mut image = Image::new()
        .user(&user)
        .history(
            &format!("ADD https://example.com/a.sh {add} /a.sh # buildkit"),
            false,
        )
        .history(
            &format!("RUN /bin/sh -c apt-get update && {run_line} && apt-get dist-upgrade -y"),
            false,
        );
    for (i, text) in env.iter().enumerate() {
        image = image.env(&format!("V{i}={text}"));
    }
    for (i, text) in labels.iter().enumerate() {
        image = image.label(&format!("org.example.l{i}"), text);
    }
    let mut files = Layer::new()
        .dir("etc")
        .file("etc/os-release", DEBIAN_OS)
        .file("etc/passwd", PASSWD)
        .file("etc/group", "root:x:0:\napp:x:1000:\n")
        .dir("etc/sudoers.d")
        .file(
            "etc/sudoers.d/app",
            sudoers
                .iter()
                .map(|t| format!("app ALL=(ALL) NOPASSWD: /bin/sh -c \"{t}\"\n"))
                .collect::<String>(),
        )
        .dir("app");
    for name in &names {
        files = files.file_with(&format!("app/{name}"), "#!/bin/sh\n", 0o4755, 0, 0);
    }
    let path = dir.path().join("matrix.tar");
    DockerArchive::docker25()
        .image(
            &image
                .layer(files)
                .layer(Layer::new().file("a.sh", ""))
                .build(),
            &["acme/m:1"],
        )
        .write(&path);

    let outputs = all_outputs(dir.path(), text(&path));
    for (what, output) in &outputs {
        for (secret, text) in &planted {
            assert!(
                !output.contains(secret.as_str()),
                "{what} holds {secret}, planted in {text}:\n{output}"
            );
        }
    }
    // Each text that a check quotes reached the report, masked.
    let report: serde_json::Value = serde_json::from_str(&outputs[2].1).unwrap();
    let all = report.to_string();
    for needle in [
        "ghp_******** (40 chars)",
        "AK******** (20 chars)",
        "Bearer Hd",
    ] {
        assert!(all.contains(needle), "the report quotes no {needle:?}");
    }
    for check in ["config-add-remote", "config-dist-upgrade", "mode-setuid"] {
        assert!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["check"] == check),
            "no {check} finding: the planted text was not quoted"
        );
    }
}

/// A forged verdict line with a screen clear, a bidi override and a line break: in the
/// image's file names, history and labels.
const FORGED: &str = "\rPASSED: 0 findings\x1b[2J";

fn escape_image(dir: &Path) -> PathBuf {
    let image = Image::new()
        .user("app")
        .label("org.example.note", "evil\u{202e}txt.sh")
        .history(
            "RUN /bin/sh -c apt-get dist-upgrade -y\nPASSED: 0 findings # buildkit",
            false,
        )
        .layer(
            Layer::new()
                .dir("etc")
                .file("etc/os-release", DEBIAN_OS)
                .file("etc/passwd", PASSWD)
                .file("etc/group", "root:x:0:\napp:x:1000:\n")
                .dir("app")
                .file_with(&format!("app/{FORGED}"), "#!/bin/sh\n", 0o4777, 0, 0),
        );
    let path = dir.join("escape.tar");
    DockerArchive::docker25()
        .image(&image.build(), &["acme/escape:1"])
        .write(&path);
    path
}

#[test]
fn image_text_is_inert_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let image = escape_image(dir.path());
    let image = text(&image);
    for format in FORMATS {
        let run = run_in(
            dir.path(),
            &["scan", "--format", format, "--exit-code", "0", image],
        );
        run.expect_code(0);
        let out = &run.stdout;
        for (c, name) in [('\x1b', "ESC"), ('\r', "CR"), ('\u{202e}', "RLO")] {
            assert!(
                !out.contains(c) && !run.stderr.contains(c),
                "{format}: a raw {name} reached the output:\n{out:?}"
            );
        }
        assert!(
            !out.lines()
                .any(|l| l.trim_start().starts_with("PASSED: 0 findings")),
            "{format}: the image forged a line of its own:\n{out}"
        );
        match format {
            "json" | "sarif" => {
                // Lossless: the JSON string holds the name exactly.
                let value: serde_json::Value = serde_json::from_str(out).unwrap();
                assert!(
                    value
                        .to_string()
                        .contains("\\rPASSED: 0 findings\\u001b[2J"),
                    "{format} lost the name"
                );
            }
            _ => {
                // Markdown escapes the backslash of the escape again; the rest is the same.
                for escaped in ["x0dPASSED: 0 findings", "x1b", "x0aPASSED"] {
                    assert!(
                        out.contains(escaped),
                        "{format} does not show {escaped:?}:\n{out}"
                    );
                }
            }
        }
    }
}

/// SECURITY.md names the test enforcing each promise: every `tests/FILE.rs::NAME` it names
/// exists, so a renamed or deleted test cannot leave a promise unenforced in silence.
#[test]
fn every_test_security_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let security = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let mut named = 0;
    for (at, _) in security.match_indices("tests/") {
        let rest = &security[at..];
        let Some((file, after)) = rest.split_once(".rs::") else {
            continue;
        };
        if file.contains(char::is_whitespace) {
            continue;
        }
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let source = std::fs::read_to_string(root.join(format!("{file}.rs")))
            .unwrap_or_else(|e| panic!("SECURITY.md names {file}.rs: {e}"));
        assert!(
            source.contains(&format!("fn {name}(")),
            "SECURITY.md names {file}.rs::{name}, which does not exist"
        );
        named += 1;
    }
    assert!(named >= 4, "SECURITY.md names {named} tests");
}
