//! `portcullis harden` end to end: the image written with its findings fixed, in every
//! output format; a rescan of it finds none of what was fixed and nothing new; the secret
//! a later layer "deleted" is gone from every blob; the untouched layers are the input's
//! blobs; two runs give the same image; bad input writes nothing. With the test dockerd, a
//! real Debian image built by `docker build --network none` is hardened, loaded and run.

mod common;

use common::builder::*;
use common::{Run, run, scan_json, text};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// The secret planted in the `.env` that layer 3 deletes: a made-up key in the AWS
/// format, never valid.
const PLANTED: &str = "7Jm3vQd8kX0bRt5NwLz2Hc9YpF4sGu6EaVi1TqKo";
const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// Five layers: 0 a base that needs nothing, 1 apt lists, 2 a setuid copy of a program, an
/// open upload directory and a `.env` with a key, 3 the `.env` deleted, 4 the application
/// (uncompressed). Layers 0, 3 and 4 need no change.
fn image() -> Built {
    let env =
        format!("aws_access_key_id = AKIA2E0A8F3B244C9986\naws_secret_access_key = {PLANTED}\n");
    Image::new()
        .layer(
            Layer::new()
                .gzip()
                .dir("etc")
                .file("etc/passwd", PASSWD)
                .file("etc/group", GROUP)
                .dir("bin")
                .file_with("bin/app", "#!/bin/sh\necho ok\n", 0o755, 0, 0)
                .dir("usr")
                .dir("usr/bin")
                .file_with("usr/bin/passwd", "\x7fELF passwd", 0o4755, 0, 0),
        )
        .layer(
            Layer::new()
                .gzip()
                .dir("var/lib/apt/lists")
                .file("var/lib/apt/lists/lock", "")
                .file(
                    "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
                    "Package: busybox\nVersion: 1.0\n\n",
                ),
        )
        .layer(
            Layer::new()
                .gzip()
                .dir("usr/local/bin")
                .file_with("usr/local/bin/tool", "\x7fELF tool", 0o4755, 0, 0)
                .dir_with("srv/upload", 0o777, 0, 0)
                .file_with("srv/upload/drop", "x", 0o666, 0, 0)
                .dir("app")
                .file("app/.env", env),
        )
        .layer(Layer::new().gzip().whiteout("app/.env"))
        .layer(Layer::new().file_with("app/run", "#!/bin/sh\necho ok\n", 0o755, 0, 0))
        .cmd(&["/app/run"])
        .build()
}

/// The checks the image triggers that harden fixes.
const FIXED: &[&str] = &[
    "mode-setuid",
    "mode-world-writable-dir",
    "secrets-in-removed-file",
    "hygiene-apt-cache",
];

fn write_input(dir: &Path) -> (Built, String) {
    let built = image();
    let input = archive_of(dir, &built, "app");
    (built, input)
}

/// `built` as `docker save` writes it, to `DIR/NAME.tar` tagged `NAME:1`: its reference.
fn archive_of(dir: &Path, built: &Built, name: &str) -> String {
    let path = dir.join(format!("{name}.tar"));
    DockerArchive::classic()
        .image(built, &[&format!("{name}:1")])
        .write(&path);
    format!("docker-archive:{}", path.display())
}

fn harden(image: &str, extra: &[&str]) -> Run {
    let mut args = vec!["harden", image, "--quiet", "--format", "json"];
    args.extend_from_slice(extra);
    run(&args)
}

/// (check, path) of every finding a scan reports.
fn findings(reference: &str) -> BTreeSet<(String, String)> {
    let run = scan_json(reference, &["--no-cache"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["location"]["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The files of a layout directory or of an archive, by name.
fn files_of(output: &str) -> BTreeMap<String, Vec<u8>> {
    let (transport, rest) = output.split_once(':').unwrap();
    let path = rest.split(':').next().unwrap();
    let mut files = BTreeMap::new();
    if transport == "oci" {
        for entry in walk(Path::new(path)) {
            let name = entry
                .strip_prefix(path)
                .unwrap()
                .to_string_lossy()
                .trim_start_matches('/')
                .to_string();
            files.insert(name, std::fs::read(&entry).unwrap());
        }
    } else {
        let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            files.insert(name, data);
        }
    }
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The manifest of the one image in `files` (an OCI layout's, by its index).
fn manifest(files: &BTreeMap<String, Vec<u8>>) -> Value {
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    serde_json::from_slice(&files[&format!("blobs/sha256/{}", hex_of(digest))]).unwrap()
}

fn decompressed(blob: &[u8]) -> Vec<u8> {
    if blob.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(blob)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        blob.to_vec()
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn every_output_format_holds_the_fixed_image() {
    let dir = tempfile::tempdir().unwrap();
    let (built, input) = write_input(dir.path());
    let before = findings(&input);
    for check in FIXED {
        assert!(
            before.iter().any(|(c, _)| c == check),
            "the input does not trigger {check}: {before:?}"
        );
    }
    let outputs = [
        format!("oci:{}:hardened", dir.path().join("layout").display()),
        format!("oci-archive:{}", dir.path().join("app.oci.tar").display()),
        format!(
            "docker-archive:{}:app:hardened",
            dir.path().join("hardened.tar").display()
        ),
    ];
    let mut digests = BTreeSet::new();
    for output in &outputs {
        let run = harden(&input, &["--output", output]);
        run.expect_code(0);
        let report = run.json();
        digests.insert(
            report["output"]["manifest_digest"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let changes = report["changes"].as_array().unwrap();
        let changed: BTreeSet<&str> = changes
            .iter()
            .map(|c| c["check"].as_str().unwrap())
            .collect();
        assert_eq!(changed, FIXED.iter().copied().collect(), "{report:#}");

        // No fixed finding is left, and nothing new appears.
        let scanned = output
            .rsplit_once(":app:hardened")
            .map_or(output.as_str(), |(p, _)| p);
        let after = findings(scanned);
        for (check, path) in &after {
            assert!(!FIXED.contains(&check.as_str()), "{check} {path} is left");
            assert!(
                before.contains(&(check.clone(), path.clone())),
                "new finding {check} {path} in {output}"
            );
        }
        assert!(
            after.contains(&("mode-setuid-distro".into(), "/usr/bin/passwd".into())),
            "the allowlisted setuid program keeps its bit: {after:?}"
        );

        // The planted secret is in no blob of the output, decompressed.
        let files = files_of(output);
        for (name, data) in &files {
            assert!(
                !contains(&decompressed(data), PLANTED),
                "{output}: {name} still holds the secret"
            );
        }

        // Untouched layers are the input's blobs; rewritten ones are new.
        let manifest = manifest(&files);
        let layers: Vec<&str> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap())
            .collect();
        assert_eq!(layers.len(), built.layers.len());
        for (i, layer) in built.layers.iter().enumerate() {
            let untouched = [0, 3, 4].contains(&i);
            assert_eq!(
                layers[i] == layer.digest,
                untouched,
                "layer {i} of {output}"
            );
        }
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.base.digest"],
            Value::String(built.config_digest.clone()),
            "a classic docker-archive has no manifest: its config digest names it"
        );
    }
    // The three formats hold the same image.
    assert_eq!(digests.len(), 1, "{digests:?}");
    let docker: Value = serde_json::from_slice(&files_of(&outputs[2])["manifest.json"]).unwrap();
    assert_eq!(docker[0]["RepoTags"][0], "app:hardened");
}

#[test]
fn the_same_input_and_options_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, input) = write_input(dir.path());
    let first = dir.path().join("first.tar");
    let second = dir.path().join("second.tar");
    for path in [&first, &second] {
        harden(
            &input,
            &["--output", &format!("oci-archive:{}", path.display())],
        )
        .expect_code(0);
    }
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap()
    );
}

#[test]
fn history_and_labels_name_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (built, input) = write_input(dir.path());
    let output = format!("oci:{}", dir.path().join("out").display());
    harden(&input, &["--output", &output]).expect_code(0);
    let files = files_of(&output);
    let manifest = manifest(&files);
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: Value =
        serde_json::from_slice(&files[&format!("blobs/sha256/{}", hex_of(config_digest))]).unwrap();
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.base.digest"],
        Value::String(built.config_digest.clone())
    );
    assert_eq!(config["config"]["Cmd"][0], "/app/run");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), 5);
    assert_eq!(diff_ids[0], Value::String(built.diff_ids[0].clone()));
    assert_ne!(diff_ids[2], Value::String(built.diff_ids[2].clone()));
    let history = config["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["created_by"], "portcullis harden");
    assert!(
        last["comment"]
            .as_str()
            .unwrap()
            .contains("2 layers rewritten"),
        "{last}"
    );
}

#[test]
fn plan_prints_the_changes_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, input) = write_input(dir.path());
    let listed = std::fs::read_dir(dir.path()).unwrap().count();
    let run = run(&["harden", &input, "--plan"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("(plan: nothing written)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("layer 2  /usr/local/bin/tool  mode 4755 -> mode 0755  (mode-setuid)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("layer 2  /app/.env  file, 106 bytes -> removed  (secrets-in-removed-file)"),
        "{}",
        run.stdout
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), listed);
}

#[test]
fn each_fix_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let (built, input) = write_input(dir.path());
    let output = format!("oci:{}", dir.path().join("out").display());
    let run = harden(
        &input,
        &[
            "--output",
            &output,
            "--no-setuid",
            "--no-world-writable",
            "--no-secret-files",
            "--no-caches",
        ],
    );
    run.expect_code(0);
    assert_eq!(run.json()["changes"], Value::Array(Vec::new()));
    let files = files_of(&output);
    let layers: Vec<String> = manifest(&files)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    let input_layers: Vec<String> = built.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(layers, input_layers);
}

#[test]
fn config_secrets_are_reported_and_removed_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .layer(Layer::new().gzip().dir("etc").file("etc/passwd", PASSWD))
        .env(&format!("AWS_SECRET_ACCESS_KEY={PLANTED}"))
        .env("PATH=/usr/bin:/bin")
        .build();
    let input = archive_of(dir.path(), &built, "env");

    let kept = dir.path().join("kept");
    let run = harden(&input, &["--output", &format!("oci:{}", kept.display())]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["changes"], Value::Array(Vec::new()));
    assert_eq!(report["left"][0]["check"], "secrets-in-env");
    assert!(
        findings(&format!("oci:{}", kept.display()))
            .iter()
            .any(|(c, _)| c == "secrets-in-env")
    );

    let stripped = dir.path().join("stripped");
    let run = harden(
        &input,
        &[
            "--output",
            &format!("oci:{}", stripped.display()),
            "--strip-config-secrets",
        ],
    );
    run.expect_code(0);
    let report = run.json();
    let field = report["changes"][0]["config"].as_str().unwrap();
    assert!(field.starts_with("config.Env["), "{report:#}");
    assert!(
        !report["changes"][0]["before"]
            .as_str()
            .unwrap()
            .contains(PLANTED)
    );
    let output = format!("oci:{}", stripped.display());
    assert!(!findings(&output).iter().any(|(c, _)| c == "secrets-in-env"));
    for (name, data) in files_of(&output) {
        assert!(!contains(&data, PLANTED), "{name} still holds the secret");
    }
}

/// What a failed harden leaves in its destination's directory: nothing.
fn assert_nothing_written(dir: &Path, dest: &Path) {
    assert!(!dest.exists(), "{} was written", dest.display());
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.tar");
    let output = format!("oci-archive:{}", dest.display());

    let missing = dir.path().join("missing.tar");
    let reference = format!("docker-archive:{}", missing.display());
    harden(&reference, &["--output", &output]).expect_scan_error(text(&missing), &[]);
    assert_nothing_written(dir.path(), &dest);

    // A layer whose bytes do not match its digest.
    let broken = dir.path().join("broken.tar");
    DockerArchive::classic()
        .image(
            &Image::new()
                .layer(Layer::new().gzip().file("a", "content"))
                .tamper(Tamper::LayerBytes(0))
                .build(),
            &["broken:1"],
        )
        .write(&broken);
    harden(
        &format!("docker-archive:{}", broken.display()),
        &["--output", &output],
    )
    .expect_scan_error(text(&broken), &["digest"]);
    assert_nothing_written(dir.path(), &dest);

    // An output that names no transport, or a layout directory already in use.
    let (_, input) = write_input(dir.path());
    harden(&input, &["--output", "out.tar"]).expect_scan_error("out.tar", &["oci:"]);
    let used = dir.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("index.json"), "{}").unwrap();
    harden(&input, &["--output", &format!("oci:{}", used.display())])
        .expect_scan_error(text(&used), &["not empty"]);
    assert_eq!(std::fs::read(used.join("index.json")).unwrap(), b"{}");
}

/// The bookworm minbase rootfs mmdebstrap builds, cached where tests/debian_accuracy.rs
/// keeps the same one; `None` (after [`common::skip`]) when it cannot be built here.
fn debian_rootfs() -> Option<std::path::PathBuf> {
    use std::process::Command;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-accuracy");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bookworm-minbase-release.tar");
    if path.is_file() {
        return Some(path);
    }
    if !common::tool_installed("mmdebstrap") {
        common::skip("mmdebstrap is not installed");
        return None;
    }
    // A name of its own, so that a concurrent build of the same file does not collide.
    let part = dir.join(format!(
        "bookworm-minbase-release.{}.tar",
        std::process::id()
    ));
    let out = Command::new("mmdebstrap")
        .args(["--mode=root", "--variant=minbase", "--quiet", "bookworm"])
        .arg(&part)
        .arg("deb http://deb.debian.org/debian bookworm main")
        .output()
        .expect("run mmdebstrap");
    if !out.status.success() {
        let _ = std::fs::remove_file(&part);
        common::skip(format!(
            "mmdebstrap failed (root and deb.debian.org needed): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
        return None;
    }
    std::fs::rename(&part, &path).unwrap();
    Some(path)
}

/// A Debian image as a release engineer meets one: built by `docker build --network none`
/// on an imported mmdebstrap rootfs, with a setuid copy of a binary, a world-writable upload
/// directory, a `.env` added then removed, an SSH private key, apt lists, and no USER.
/// Returns its tag in the daemon at `host`.
fn build_debian_image(host: &str, dir: &Path) -> Option<String> {
    use common::services::{docker, tool, unique};
    let rootfs = debian_rootfs()?;
    let base = format!("{}:base", unique("harden-debian"));
    tool(docker(host).args(["import", text(&rootfs), &base]));
    let context = dir.join("context");
    std::fs::create_dir_all(context.join("lists")).unwrap();
    std::fs::write(
        context.join("dot-env"),
        format!("AWS_ACCESS_KEY_ID=AKIA2E0A8F3B244C9986\nAWS_SECRET_ACCESS_KEY={PLANTED}\n"),
    )
    .unwrap();
    tool(std::process::Command::new("ssh-keygen").args([
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "",
        "-f",
        text(&context.join("id_rsa")),
    ]));
    std::fs::write(
        context.join("lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"),
        "Package: busybox\nVersion: 1:1.35.0-4\n\n".repeat(64),
    )
    .unwrap();
    std::fs::write(
        context.join("app.sh"),
        "#!/bin/sh\nset -e\nls /srv/upload >/dev/null\necho \"app ok as $(id -un) ($(id -u))\"\n",
    )
    .unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {base}\n\
             RUN cp /bin/ls /usr/local/bin/ls-setuid && chmod 4755 /usr/local/bin/ls-setuid\n\
             RUN mkdir -p /srv/upload && chmod 0777 /srv/upload\n\
             COPY dot-env /app/.env\n\
             RUN rm /app/.env\n\
             COPY id_rsa /app/id_rsa\n\
             COPY lists/ /var/lib/apt/lists/\n\
             COPY app.sh /app/app.sh\n\
             RUN chmod 0700 /app/app.sh\n\
             WORKDIR /app\n\
             CMD [\"/app/app.sh\"]\n"
        ),
    )
    .unwrap();
    let tag = format!("{}:1", unique("harden-debian"));
    tool(
        docker(host)
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "--network", "none", "-t", &tag])
            .arg(&context),
    );
    Some(tag)
}

#[test]
fn a_hardened_debian_image_loads_and_runs() {
    use common::services::{docker, docker_host, tool, unique};
    let Some(host) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(tag) = build_debian_image(&host, dir.path()) else {
        return;
    };
    let saved = dir.path().join("input.tar");
    tool(docker(&host).args(["save", "-o", text(&saved), &tag]));
    let input = format!("docker-archive:{}", saved.display());
    let before = findings(&input);
    for check in [
        "mode-setuid",
        "mode-world-writable-dir",
        "secrets-in-removed-file",
        "secrets-in-file",
        "hygiene-apt-cache",
    ] {
        assert!(
            before.iter().any(|(c, _)| c == check),
            "the built image does not trigger {check}: {before:?}"
        );
    }

    let hardened_tag = format!("{}:hardened", unique("harden-debian"));
    let output = dir.path().join("hardened.tar");
    let run = harden(
        &input,
        &[
            "--output",
            &format!("docker-archive:{}:{hardened_tag}", output.display()),
            "--user",
            "app",
        ],
    );
    run.expect_code(0);
    let report = run.json();

    // From the daemon directly, the same image comes out.
    let from_daemon = dir.path().join("from-daemon.oci.tar");
    let run = common::run_command(common::portcullis().env("DOCKER_HOST", &host).args([
        "harden",
        &format!("docker-daemon:{tag}"),
        "--quiet",
        "--format",
        "json",
        "--output",
        &format!("oci-archive:{}", from_daemon.display()),
        "--user",
        "app",
    ]));
    run.expect_code(0);
    assert_eq!(
        run.json()["output"]["manifest_digest"],
        report["output"]["manifest_digest"]
    );

    let after = findings(&format!("docker-archive:{}", output.display()));
    let fixed: BTreeSet<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(fixed.contains("user-root"), "{report:#}");
    for (check, path) in &after {
        assert!(!fixed.contains(check.as_str()), "{check} {path} is left");
        assert!(
            before.contains(&(check.clone(), path.clone())),
            "new finding {check} {path}"
        );
    }
    let files = files_of(&format!("docker-archive:{}", output.display()));
    for (name, data) in &files {
        assert!(
            !contains(&decompressed(data), PLANTED),
            "{name} still holds the secret"
        );
    }
    // The imported rootfs is the base layer, and it needed no change.
    let input_layers: Vec<Value> = scan_json(&input, &["--no-cache"]).json()["image"]["layers"]
        .as_array()
        .unwrap()
        .clone();
    let layers = &report["output"]["layers"];
    assert_eq!(layers[0]["rewritten"], false, "{layers:#}");
    assert_eq!(layers[0]["digest"], input_layers[0]["digest"]);

    tool(docker(&host).args(["load", "-q", "-i", text(&output)]));
    let ran = tool(docker(&host).args(["run", "--rm", "--network", "none", &hardened_tag]));
    assert!(ran.contains("app ok as app (10001)"), "{ran}");

    // Loaded into the daemon by harden itself, the same image runs as the new user, whose
    // account is locked in the shadow files as `useradd` locks it.
    let loaded_tag = format!("{}:loaded", unique("harden-debian"));
    let loaded = format!("docker-daemon:{loaded_tag}");
    let run = common::run_command(common::portcullis().env("DOCKER_HOST", &host).args([
        "harden", &input, "--quiet", "--format", "json", "--output", &loaded, "--user", "app",
    ]));
    run.expect_code(0);
    assert_eq!(
        run.json()["output"]["manifest_digest"],
        report["output"]["manifest_digest"]
    );
    let user =
        tool(docker(&host).args(["image", "inspect", "-f", "{{.Config.User}}", &loaded_tag]));
    assert_eq!(user.trim(), "app");
    let ran = tool(docker(&host).args(["run", "--rm", "--network", "none", &loaded_tag]));
    assert!(ran.contains("app ok as app (10001)"), "{ran}");
    let shadow = |file: &str| {
        tool(docker(&host).args([
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            "root",
            "--entrypoint",
            "cat",
            &loaded_tag,
            file,
        ]))
    };
    assert!(shadow("/etc/shadow").lines().any(|l| l == "app:!:::::::"));
    assert!(shadow("/etc/gshadow").lines().any(|l| l == "app:!::"));
}

#[test]
fn a_root_image_gets_its_user_in_a_new_top_layer() {
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .layer(
            Layer::new()
                .gzip()
                .dir("etc")
                .file("etc/passwd", PASSWD)
                .file("etc/group", GROUP)
                .file_with("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640, 0, 42)
                .file_with("etc/gshadow", "root:*::\n", 0o640, 0, 42)
                .dir_with("srv", 0o700, 0, 0)
                .dir_with("srv/app", 0o700, 0, 0)
                .file_with("srv/app/run", "#!/bin/sh\necho ok\n", 0o700, 0, 0),
        )
        .workdir("/srv/app")
        .cmd(&["/srv/app/run"])
        .build();
    let input = archive_of(dir.path(), &built, "root");
    let out = dir.path().join("out");
    let output = format!("oci:{}", out.display());
    let run = harden(&input, &["--output", &output, "--user", "web"]);
    run.expect_code(0);
    let report = run.json();
    let changes = report["changes"].as_array().unwrap();
    let at = |p: &str| {
        changes
            .iter()
            .find(|c| c["path"] == p)
            .unwrap_or_else(|| panic!("no change to {p}: {report:#}"))
    };
    assert_eq!(at("/srv")["after"], "mode 0701");
    assert_eq!(at("/srv/app")["after"], "mode 0705");
    assert_eq!(at("/srv/app/run")["after"], "mode 0705");
    assert_eq!(
        at("/etc/passwd")["after"],
        "added web:x:10001:10001::/home/web:/sbin/nologin"
    );
    assert_eq!(at("/etc/passwd")["layer"], 1);

    let after = findings(&output);
    assert!(
        !after.iter().any(|(c, _)| c.starts_with("user-")),
        "{after:?}"
    );
    let files = files_of(&output);
    let manifest = manifest(&files);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    let top = decompressed(
        &files[&format!(
            "blobs/sha256/{}",
            hex_of(layers[1]["digest"].as_str().unwrap())
        )],
    );
    let mut archive = tar::Archive::new(top.as_slice());
    let names: Vec<(String, u32, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().mode().unwrap(),
                e.header().uid().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("etc/group".to_string(), 0o644, 0),
            ("etc/gshadow".to_string(), 0o640, 0),
            ("etc/passwd".to_string(), 0o644, 0),
            ("etc/shadow".to_string(), 0o640, 0),
            ("home/".to_string(), 0o755, 0),
            ("home/web/".to_string(), 0o750, 10001),
        ]
    );
    // The shadow files get the account locked, as `useradd` writes it.
    let mut archive = tar::Archive::new(top.as_slice());
    let contents: BTreeMap<String, String> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = String::new();
            e.read_to_string(&mut data).unwrap();
            (name, data)
        })
        .collect();
    assert_eq!(
        contents["etc/shadow"],
        "root:*:19000:0:99999:7:::\nweb:!:::::::\n"
    );
    assert_eq!(contents["etc/gshadow"], "root:*::\nweb:!::\n");
    assert_eq!(at("/etc/gshadow")["after"], "added web:!::");

    // An existing account is used as it is: no new layer.
    let existing = dir.path().join("existing");
    let run = harden(
        &input,
        &[
            "--output",
            &format!("oci:{}", existing.display()),
            "--user",
            "nobody",
        ],
    );
    run.expect_code(0);
    assert_eq!(run.json()["output"]["layers"].as_array().unwrap().len(), 1);
}

#[test]
fn user_is_refused_when_the_image_declares_a_privileged_port() {
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .layer(Layer::new().gzip().dir("etc").file("etc/passwd", PASSWD))
        .expose("80/tcp")
        .build();
    let input = archive_of(dir.path(), &built, "web");
    let path = dir.path().join("web.tar");
    let dest = dir.path().join("out.tar");
    let output = format!("oci-archive:{}", dest.display());
    harden(&input, &["--output", &output, "--user", "web"]).expect_scan_error(
        text(&path),
        &["--user web", "EXPOSE 80/tcp", "--force-user"],
    );
    assert_nothing_written(dir.path(), &dest);
    harden(
        &input,
        &["--output", &output, "--user", "web", "--force-user"],
    )
    .expect_code(0);
    assert!(dest.is_file());
}

#[test]
fn a_signed_statement_records_every_change_and_verifies_against_the_new_image() {
    let dir = tempfile::tempdir().unwrap();
    let (_, input) = write_input(dir.path());
    let prefix = dir.path().join("release");
    common::run_command(
        common::portcullis()
            .args(["keygen", "--type", "ed25519", "--no-password", "--out"])
            .arg(&prefix),
    )
    .expect_code(0);
    let key = prefix.with_extension("key");
    let public = prefix.with_extension("pub");
    let out = dir.path().join("hardened.oci.tar");
    let output = format!("oci-archive:{}", out.display());
    let hardened = harden(
        &input,
        &["--output", &output, "--key", text(&key), "--user", "web"],
    );
    hardened.expect_code(0);
    let report = hardened.json();
    let envelope_path = dir.path().join("hardened.oci.tar.intoto.json");
    let envelope: Value = serde_json::from_slice(&std::fs::read(&envelope_path).unwrap()).unwrap();
    let payload = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap()
    };
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        statement["predicateType"],
        "https://portcullis.dev/attestation/harden/v1"
    );
    assert_eq!(
        format!(
            "sha256:{}",
            statement["subject"][0]["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        report["output"]["manifest_digest"].as_str().unwrap()
    );
    assert_eq!(
        format!(
            "sha256:{}",
            statement["predicate"]["materials"][0]["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        report["output"]["base_digest"].as_str().unwrap()
    );
    assert_eq!(statement["predicate"]["changes"], report["changes"]);
    let change = &statement["predicate"]["changes"][0];
    for field in ["path", "layer", "before", "after", "check"] {
        assert!(!change[field].is_null(), "{field} missing: {change}");
    }

    let verify = |image: &str| {
        run(&[
            "verify",
            text(&envelope_path),
            "--key",
            text(&public),
            "--image",
            image,
            "--max-age",
            "1h",
        ])
    };
    verify(&output).expect_code(0);
    let other = verify(&input);
    other.expect_code(1);
    assert!(other.stderr.contains("this image"), "{}", other.stderr);
}

/// A fresh Ed25519 key pair without a passphrase in `dir`: (private, public).
fn key_pair(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let prefix = dir.join("release");
    common::run_command(
        common::portcullis()
            .args(["keygen", "--type", "ed25519", "--no-password", "--out"])
            .arg(&prefix),
    )
    .expect_code(0);
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

/// The layer digests of the manifest `skopeo inspect --raw` reads at `reference`.
fn registry_layers(reference: &str, creds: Option<&str>) -> Vec<String> {
    use common::services::tool;
    let mut cmd = std::process::Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let raw = tool(cmd.arg(reference));
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pushed_to_a_registry_the_hardened_image_rescans_clean_and_verifies() {
    let Some(registry) = common::services::registry() else {
        return;
    };
    if !common::have_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, input) = write_input(dir.path());
    let (key, public) = key_pair(dir.path());
    let repository = common::services::unique("harden-push");
    let output = format!("docker://{registry}/{repository}:hardened");
    let hardened = harden(
        &input,
        &[
            "--output",
            &output,
            "--insecure",
            "--key",
            text(&key),
            "--push",
        ],
    );
    hardened.expect_code(0);
    assert!(
        hardened.stderr.contains("pushed the attestation"),
        "{}",
        hardened.stderr
    );
    let report = hardened.json();
    let digest = report["output"]["manifest_digest"].as_str().unwrap();

    // The registry holds that very manifest, and a rescan of it finds none of the fixed
    // findings and nothing new.
    let scanned = scan_json(&output, &["--no-cache", "--insecure"]);
    assert!(scanned.code == 0 || scanned.code == 1, "{}", scanned.stderr);
    let scanned = scanned.json();
    assert_eq!(scanned["image"]["manifest_digest"], digest);
    let before = findings(&input);
    for finding in scanned["findings"].as_array().unwrap() {
        let check = finding["check"].as_str().unwrap();
        let path = finding["location"]["path"].as_str().unwrap_or("");
        assert!(!FIXED.contains(&check), "{check} {path} is left");
        assert!(
            before.contains(&(check.to_string(), path.to_string())),
            "new finding {check} {path}"
        );
    }

    // Untouched layers are the input's blobs, under the input's digests.
    let input_layers: Vec<Value> = scan_json(&input, &["--no-cache"]).json()["image"]["layers"]
        .as_array()
        .unwrap()
        .clone();
    let pushed = registry_layers(&output, None);
    let layers = report["output"]["layers"].as_array().unwrap();
    assert_eq!(pushed.len(), layers.len());
    let mut kept = 0;
    for (layer, pushed) in layers.iter().zip(&pushed) {
        assert_eq!(layer["digest"], pushed.as_str());
        if layer["rewritten"] == false {
            let index = layer["input"].as_u64().unwrap() as usize;
            assert_eq!(layer["digest"], input_layers[index]["digest"]);
            kept += 1;
        }
    }
    assert_eq!(kept, 3, "{layers:#?}");

    // The statement attached next to the image verifies against it.
    run(&[
        "verify",
        "--image",
        &output,
        "--insecure",
        "--key",
        text(&public),
    ])
    .expect_code(0);

    // Pushed again, every blob is there already and the image is the same.
    let again = harden(&input, &["--output", &output, "--insecure"]);
    again.expect_code(0);
    assert_eq!(again.json()["output"]["manifest_digest"], digest);
    assert!(again.stderr.contains("0 blobs sent"), "{}", again.stderr);

    // Hardened from there into another repository of the same registry, its layers (none
    // needs a change now) are mounted from where they are, not sent; only the config is.
    let other = format!(
        "docker://{registry}/{}:again",
        common::services::unique("harden-mount")
    );
    let mounted = harden(&output, &["--output", &other, "--insecure"]);
    mounted.expect_code(0);
    assert!(
        mounted.stderr.contains(&format!(
            "1 blob sent, 0 already there, {} mounted",
            pushed.len()
        )),
        "{}",
        mounted.stderr
    );
    assert_eq!(registry_layers(&other, None), pushed);
}

#[test]
fn a_push_or_load_that_cannot_be_made_exits_2_naming_the_destination_and_leaves_no_tag() {
    let dir = tempfile::tempdir().unwrap();
    let (_, input) = write_input(dir.path());

    // Nothing listens on port 1.
    let unreachable = "docker://127.0.0.1:1/app:hardened";
    harden(&input, &["--output", unreachable, "--insecure"])
        .expect_scan_error(unreachable, &["127.0.0.1:1"]);
    let no_daemon = "docker-daemon:app:hardened";
    common::run_command(
        common::portcullis()
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .args(["harden", &input, "--quiet", "--output", no_daemon]),
    )
    .expect_scan_error(no_daemon, &["/nonexistent.sock"]);

    // --push needs a registry to push to; --key needs a place for the statement.
    let (key, _) = key_pair(dir.path());
    let layout = format!("oci:{}", dir.path().join("layout").display());
    harden(
        &input,
        &["--output", &layout, "--key", text(&key), "--push"],
    )
    .expect_scan_error("--push", &["docker://", &layout]);
    harden(&input, &["--output", unreachable, "--key", text(&key)])
        .expect_scan_error(unreachable, &["--attestation", "--push"]);
    assert!(!dir.path().join("layout").exists());

    let Some((registry, user, password)) = common::services::auth_registry() else {
        return;
    };
    if !common::have_tool("skopeo") {
        return;
    }
    let repository = common::services::unique("harden-denied");
    let output = format!("docker://{registry}/{repository}:hardened");
    let mut cmd = common::portcullis();
    cmd.args([
        "harden",
        &input,
        "--quiet",
        "--insecure",
        "--output",
        &output,
    ])
    .args(["--username", &user, "--password-stdin"]);
    let denied = {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"not-the-password\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        common::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    denied.expect_scan_error(&output, &["denied"]);
    assert!(
        !denied.stderr.contains("not-the-password"),
        "{}",
        denied.stderr
    );
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", "--creds"])
        .arg(format!("{user}:{password}"))
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        !inspect.status.success(),
        "the refused push left a tag: {}",
        String::from_utf8_lossy(&inspect.stdout)
    );
}

/// A daemon that answers `/images/load` as Docker answers a load it could not make: status
/// 200, the error inside the JSON stream. Anything else gets an empty 200.
fn refusing_daemon(socket: &Path, refusal: &'static str) {
    use common::http1::{RequestHead, respond};
    use std::io::{BufRead, BufReader, Read};
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let Ok(head) = RequestHead::read(&mut reader) else {
                continue;
            };
            let mut body = Vec::new();
            if head.header("transfer-encoding") == Some("chunked") {
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                    let mut chunk = vec![0; size + 2];
                    if reader.read_exact(&mut chunk).is_err() || size == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..size]);
                }
            }
            let answer = if head.path().ends_with("/images/load") {
                assert!(!body.is_empty(), "no archive was sent");
                format!(r#"{{"errorDetail":{{"message":"{refusal}"}},"error":"{refusal}"}}"#)
            } else {
                String::new()
            };
            let headers = [("Content-Type".to_string(), "application/json".to_string())];
            let mut conn = conn;
            let _ = respond(&mut conn, 200, "OK", &headers, answer.as_bytes());
        }
    });
}

#[test]
fn a_load_the_daemon_refuses_exits_2_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_, input) = write_input(dir.path());
    let socket = dir.path().join("docker.sock");
    let refusal = "write /var/lib/docker/tmp: no space left on device";
    refusing_daemon(&socket, refusal);
    let output = "docker-daemon:app:hardened";
    common::run_command(
        common::portcullis()
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .args(["harden", &input, "--quiet", "--output", output]),
    )
    .expect_scan_error(output, &[refusal]);
}
