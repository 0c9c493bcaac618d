//! The docker:// transport against a real registry (docker-registry, started by
//! scripts/test.sh and named in PORTCULLIS_TEST_REGISTRY / PORTCULLIS_TEST_AUTH_REGISTRY),
//! images pushed with skopeo: reports equal those of the archives and layouts they were
//! pushed from; multi-platform indexes resolve by --platform; authentication, errors and the
//! layer cache behave, also shared between runners through Redis (PORTCULLIS_TEST_REDIS).

mod common;

use common::builder::*;
use common::redis::{OwnRedis, test_redis};
use common::services::*;
use common::text;
use std::path::Path;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";

fn base_layers() -> Vec<Layer> {
    vec![
        Layer::new()
            .gzip()
            .dir("etc")
            .file("etc/passwd", PASSWD)
            .file("etc/os-release", "ID=debian\nVERSION_ID=12\n")
            .file_with("usr/bin/su", b"\x7fELF", 0o4755, 0, 0),
        Layer::new()
            .gzip()
            .file("usr/lib/libbase.so", "base library"),
    ]
}

fn image_on_base(top: Layer, user: &str) -> Image {
    let mut image = Image::new().user(user);
    for l in base_layers() {
        image = image.layer(l);
    }
    image.layer(top)
}

fn scan_ok(reference: &str, extra: &[&str]) -> serde_json::Value {
    let run = scan_with(reference, extra, &[], None);
    assert!(
        run.code == 0 || run.code == 1,
        "{reference}: exit {}\n{}",
        run.code,
        run.stderr
    );
    run.json()
}

#[test]
fn an_image_pushed_from_a_docker_save_archive_scans_like_the_archive() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    let image = Image::new()
        .layer(
            Layer::new()
                .dir("etc")
                .file("etc/passwd", PASSWD)
                .file("etc/secret", "x"),
        )
        .layer(Layer::new().whiteout("etc/secret"));
    DockerArchive::classic()
        .image(&image.build(), &["app:1"])
        .write(&archive);
    let name = format!("{registry}/{}:1", unique("archive"));
    push(
        &at("docker-archive:", &archive),
        &format!("docker://{name}"),
        false,
        None,
    );

    let from_archive = scan_ok(&at("docker-archive:", &archive), &[]);
    let pulled = scan_ok(&format!("docker://{name}"), &["--insecure"]);
    assert_eq!(pulled["image"]["transport"], "docker");
    assert_eq!(pulled["image"]["names"][0], name);
    assert!(
        pulled["image"]["manifest_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert!(from_archive["image"]["manifest_digest"].is_null());
    // skopeo compresses the archive's uncompressed layers on the way in: the blobs differ,
    // the content (diff_ids, config, findings) does not.
    assert_same(
        "registry vs docker save",
        &content_only(pulled),
        &content_only(from_archive),
    );
}

#[test]
fn an_image_pushed_from_an_oci_layout_scans_exactly_like_it_by_tag_and_by_digest() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let built = image_on_base(Layer::new().gzip().file("app/run.sh", "#!/bin/sh\n"), "app").build();
    Layout::new().image(&built, &["v1"]).write_dir(&layout);
    let name = format!("{registry}/{}", unique("oci"));
    push(
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{name}:v1"),
        false,
        None,
    );

    let local = scan_ok(&format!("oci:{}:v1", layout.display()), &[]);
    let by_tag = scan_ok(&format!("docker://{name}:v1"), &["--tls-verify=false"]);
    let mut local_cmp = without_origin(local);
    local_cmp["image"]["names"] = serde_json::json!([format!("{name}:v1")]);
    assert_same(
        "registry vs OCI layout",
        &without_origin(by_tag.clone()),
        &local_cmp,
    );
    assert_eq!(by_tag["image"]["manifest_digest"], built.manifest_digest);

    let by_digest = scan_ok(
        &format!("docker://{name}@{}", built.manifest_digest),
        &["--insecure"],
    );
    assert_eq!(by_digest["image"]["layers"], by_tag["image"]["layers"]);
    assert_eq!(by_digest["findings"], by_tag["findings"]);
}

#[test]
fn a_multi_platform_index_resolves_by_platform() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("multi");
    let amd = Image::new()
        .platform("linux/amd64")
        .user("app")
        .layer(Layer::new().gzip().dir("etc").file("etc/passwd", PASSWD))
        .build();
    let arm = Image::new()
        .platform("linux/arm64/v8")
        .layer(
            Layer::new()
                .gzip()
                .file("etc/passwd", PASSWD)
                .file("arm.txt", "arm"),
        )
        .build();
    Layout::new()
        .index(&[&amd, &arm], &["multi"])
        .write_dir(&layout);
    let name = format!("{registry}/{}:multi", unique("index"));
    push(
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{name}"),
        true,
        None,
    );

    for (platform, built) in [("linux/arm64", &arm), ("linux/amd64", &amd)] {
        let local = scan_ok(
            &format!("oci:{}:multi", layout.display()),
            &["--platform", platform],
        );
        let pulled = scan_ok(
            &format!("docker://{name}"),
            &["--insecure", "--platform", platform],
        );
        assert_eq!(
            pulled["image"]["manifest_digest"], built.manifest_digest,
            "{platform}"
        );
        let mut local_cmp = without_origin(local);
        local_cmp["image"]["names"] = serde_json::json!([name]);
        assert_same(platform, &without_origin(pulled), &local_cmp);
    }
    let run = scan_with(
        &format!("docker://{name}"),
        &["--insecure", "--platform", "linux/s390x"],
        &[],
        None,
    );
    run.expect_scan_error(
        &name,
        &[
            "no image for platform linux/s390x",
            "linux/amd64",
            "linux/arm64",
        ],
    );
}

#[test]
fn missing_repositories_and_tags_are_clear_errors() {
    let Some(registry) = registry() else { return };
    let repo = unique("nothing-here");
    let reference = format!("docker://{registry}/{repo}:1");
    let run = scan_with(&reference, &["--insecure"], &[], None);
    run.expect_scan_error(&reference, &["not found", &registry, &repo, "404"]);
    // Without --insecure a plain-HTTP registry fails the TLS handshake, and says what to do.
    let run = scan_with(&reference, &[], &[], None);
    run.expect_scan_error(&reference, &["--insecure"]);
}

#[test]
fn an_authenticated_registry_takes_flags_or_docker_config_and_refuses_anonymous_pulls() {
    let Some((registry, user, password)) = auth_registry() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("private.tar");
    DockerArchive::classic()
        .image(
            &Image::new()
                .user("app")
                .layer(Layer::new().file("etc/passwd", PASSWD))
                .build(),
            &["p:1"],
        )
        .write(&archive);
    let name = format!("{registry}/{}:1", unique("private"));
    push(
        &at("docker-archive:", &archive),
        &format!("docker://{name}"),
        false,
        Some(&format!("{user}:{password}")),
    );
    let reference = format!("docker://{name}");
    let empty_config = dir.path().join("no-docker-config");
    std::fs::create_dir(&empty_config).unwrap();
    let no_config = [("DOCKER_CONFIG", text(&empty_config))];

    let run = scan_with(&reference, &["--insecure"], &no_config, None);
    run.expect_scan_error(&reference, &["denied", "401", &registry]);
    assert!(!run.stderr.contains(&password));

    let run = scan_with(
        &reference,
        &["--insecure", "--username", &user, "--password-stdin"],
        &no_config,
        Some(&format!("{password}\n")),
    );
    run.expect_code(0);
    let expected = content_only(scan_ok(&at("docker-archive:", &archive), &[]));
    assert_same("with --username", &content_only(run.json()), &expected);

    let run = scan_with(
        &reference,
        &["--insecure", "--username", &user, "--password-stdin"],
        &no_config,
        Some("wrong-password"),
    );
    run.expect_scan_error(&reference, &["denied", "check the credentials"]);
    assert!(!run.stderr.contains("wrong-password"));

    let config_dir = dir.path().join("docker-config");
    std::fs::create_dir(&config_dir).unwrap();
    let auth = {
        use std::io::Write;
        let mut child = std::process::Command::new("base64")
            .args(["-w0"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{user}:{password}").as_bytes())
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    std::fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"auths": {{"http://{registry}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let run = scan_with(
        &reference,
        &["--insecure"],
        &[("DOCKER_CONFIG", text(&config_dir))],
        None,
    );
    run.expect_code(0);
    assert_same("with DOCKER_CONFIG", &content_only(run.json()), &expected);
}

fn verbose_counts(stderr: &str) -> (usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("portcullis: layers:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"));
    let number_before = |word: &str| -> usize {
        let at = line
            .find(word)
            .unwrap_or_else(|| panic!("{word:?} not in {line:?}"));
        line[..at]
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count before {word:?} in {line:?}"))
    };
    (
        number_before(" scanned"),
        number_before(" from the layer cache"),
    )
}

#[test]
fn the_layer_cache_reads_only_the_layers_an_image_adds_to_a_shared_base() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache_flag = format!("--cache-dir={}", cache.display());
    let pushed = push_apps_on_base(
        &registry,
        dir.path(),
        vec![
            ("first", Layer::new().gzip().file("app/first", "first app")),
            (
                "second",
                Layer::new()
                    .gzip()
                    .file("app/second", "second app")
                    .file("etc/secret", "y"),
            ),
        ],
    );

    let first = scan_with(
        &pushed[0],
        &["--insecure", "--verbose", &cache_flag],
        &[],
        None,
    );
    first.expect_code(0);
    assert_eq!(verbose_counts(&first.stderr), (3, 0), "{}", first.stderr);

    let second = scan_with(
        &pushed[1],
        &["--insecure", "--verbose", &cache_flag],
        &[],
        None,
    );
    second.expect_code(0);
    assert_eq!(
        verbose_counts(&second.stderr),
        (1, 2),
        "the shared base should come from the cache:\n{}",
        second.stderr
    );
    let uncached = scan_with(&pushed[1], &["--insecure", "--no-cache"], &[], None);
    assert_same("cached vs uncached", &second.json(), &uncached.json());

    // Corrupt entries are ignored (and rewritten), never trusted.
    for entry in walk(&cache) {
        std::fs::write(&entry, b"garbage").unwrap();
    }
    let again = scan_with(
        &pushed[1],
        &["--insecure", "--verbose", &cache_flag],
        &[],
        None,
    );
    again.expect_code(0);
    assert_eq!(verbose_counts(&again.stderr), (3, 0), "{}", again.stderr);
    assert_same("after corruption", &again.json(), &uncached.json());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Images of the base layers and one top layer each, pushed: their `docker://` references.
fn push_apps_on_base(registry: &str, dir: &Path, tops: Vec<(&str, Layer)>) -> Vec<String> {
    let mut pushed = Vec::new();
    for (n, top) in tops {
        let layout = dir.join(n);
        Layout::new()
            .image(&image_on_base(top, "app").build(), &["1"])
            .write_dir(&layout);
        let name = format!("{registry}/{}:1", unique(n));
        push(
            &format!("oci:{}:1", layout.display()),
            &format!("docker://{name}"),
            false,
            None,
        );
        pushed.push(format!("docker://{name}"));
    }
    pushed
}

/// Two images on one base, pushed: `docker://` references.
fn two_apps_on_one_base(registry: &str, dir: &Path) -> Vec<String> {
    push_apps_on_base(
        registry,
        dir,
        vec![
            (
                "shared-first",
                Layer::new().gzip().file("app/first", "first app"),
            ),
            (
                "shared-second",
                Layer::new().gzip().file("app/second", "second app"),
            ),
        ],
    )
}

/// `scan --verbose` of `reference` with the cache directory `cache_dir` and the shared tier
/// `shared`, which must pass.
fn shared_cache_scan(cache_dir: &Path, reference: &str, shared: &str) -> common::Run {
    let cache_dir = format!("--cache-dir={}", cache_dir.display());
    let cache = format!("--cache={shared}");
    let run = scan_with(
        reference,
        &["--insecure", "--verbose", &cache_dir, &cache],
        &[],
        None,
    );
    run.expect_code(0);
    run
}

/// Runners with their own cache directories share layers through Redis: the second runner
/// analyses only the layer the first did not; an entry that is not whole is never read back;
/// and a Redis that is down, or restarts, is a warning, never a failed or different scan.
#[test]
fn runners_share_the_layer_cache_through_redis_and_survive_its_outage() {
    let Some(registry) = registry() else { return };
    let Some(url) = test_redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pushed = two_apps_on_one_base(&registry, dir.path());
    // A fresh database number per run keeps runs apart on the one test Redis.
    let db = std::process::id() % 16;
    let url = format!("{}/{db}", url.rsplit_once('/').unwrap().0);
    let runner = |n: &str, reference: &str, shared: &str| {
        shared_cache_scan(&dir.path().join(n), reference, shared)
    };
    let flush = || {
        let out = std::process::Command::new("redis-cli")
            .args(["-u", &url, "FLUSHDB"])
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "{out:?}");
    };
    flush();

    let first = runner("runner-a", &pushed[0], &url);
    assert_eq!(verbose_counts(&first.stderr), (3, 0), "{}", first.stderr);
    // Another runner, its own empty directory: the base comes from Redis.
    let second = runner("runner-b", &pushed[1], &url);
    assert_eq!(
        verbose_counts(&second.stderr),
        (1, 2),
        "the base should come from the shared cache:\n{}",
        second.stderr
    );
    let uncached = scan_with(&pushed[1], &["--insecure", "--no-cache"], &[], None);
    assert_same("shared cache vs none", &second.json(), &uncached.json());

    // Entries cut short or overwritten in Redis are misses, never trusted.
    let keys = std::process::Command::new("redis-cli")
        .args(["-u", &url, "--scan", "--pattern", "portcullis:*"])
        .output()
        .expect("redis-cli");
    let keys = String::from_utf8(keys.stdout).unwrap();
    assert!(keys.lines().count() >= 4, "{keys}");
    for key in keys.lines() {
        let status = std::process::Command::new("redis-cli")
            .args(["-u", &url, "SET", key, "(truncated"])
            .output()
            .expect("redis-cli");
        assert!(status.status.success());
    }
    let third = runner("runner-c", &pushed[1], &url);
    assert_eq!(verbose_counts(&third.stderr), (3, 0), "{}", third.stderr);
    assert_same("after corruption", &third.json(), &uncached.json());

    // Redis down: a warning naming it (never its password), the same report.
    let closed = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let down = format!("redis://user:hunter2-pw@127.0.0.1:{closed}/0");
    let outage = runner("runner-d", &pushed[1], &down);
    assert!(
        outage.stderr.contains(&format!(
            "warning: shared layer cache redis://127.0.0.1:{closed}/0"
        )),
        "{}",
        outage.stderr
    );
    assert!(!outage.stderr.contains("hunter2"), "{}", outage.stderr);
    assert_eq!(verbose_counts(&outage.stderr), (3, 0), "{}", outage.stderr);
    assert_same("Redis down", &outage.json(), &uncached.json());

    // A bad URL is a usage error naming the option.
    let bad = scan_with(&pushed[1], &["--insecure", "--cache=http://h"], &[], None);
    bad.expect_code(2);
    assert!(bad.stderr.contains("--cache"), "{}", bad.stderr);
    flush();
}

/// A Redis that goes away and comes back empty (as one without persistence restarts): every
/// scan ends with the same report, the run that found it gone says so once, and the runs
/// after the restart share through it again.
#[test]
fn a_redis_restart_costs_speed_not_scans() {
    let Some(registry) = registry() else { return };
    if test_redis().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pushed = two_apps_on_one_base(&registry, dir.path());
    let mut server = OwnRedis::start(dir.path());
    let url = server.url();
    let runner = |n: &str, reference: &str| shared_cache_scan(&dir.path().join(n), reference, &url);
    let uncached = scan_with(&pushed[1], &["--insecure", "--no-cache"], &[], None);

    let first = runner("a", &pushed[0]);
    assert_eq!(verbose_counts(&first.stderr), (3, 0), "{}", first.stderr);
    server.kill();
    let during = runner("b", &pushed[1]);
    assert_eq!(verbose_counts(&during.stderr), (3, 0), "{}", during.stderr);
    assert_eq!(
        during.stderr.matches("warning: shared layer cache").count(),
        1,
        "{}",
        during.stderr
    );
    assert_same("Redis gone", &during.json(), &uncached.json());

    server.up();
    let refill = runner("c", &pushed[0]);
    assert_eq!(verbose_counts(&refill.stderr), (3, 0), "{}", refill.stderr);
    assert!(!refill.stderr.contains("warning"), "{}", refill.stderr);
    let shared = runner("d", &pushed[1]);
    assert_eq!(verbose_counts(&shared.stderr), (1, 2), "{}", shared.stderr);
    assert_same("Redis back", &shared.json(), &uncached.json());
}

/// Two runners sharing one Redis meet the same base at the same time: the first to miss a
/// base layer claims it and the other waits for its entry instead of pulling the blob too,
/// so each distinct layer is pulled and analysed once, and both reports are what scans
/// without any cache say.
#[test]
fn runners_scanning_a_base_at_once_pull_each_layer_once() {
    let Some(registry) = registry() else { return };
    if test_redis().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let redis = OwnRedis::start(dir.path());
    let pushed = two_apps_on_one_base(&registry, dir.path());
    let base = image_on_base(Layer::new(), "app").build();
    let first_base_layer = base.layers[0].digest.clone();
    // The first runner's pull of the first base layer is held until both runners run.
    let proxy = common::fault_proxy::FaultProxy::start(
        &registry,
        common::fault_proxy::Faults {
            held: [first_base_layer.clone()].into(),
            ..Default::default()
        },
    );
    let through_proxy: Vec<String> = pushed
        .iter()
        .map(|p| p.replace(&registry, &proxy.addr))
        .collect();
    let runner = |n: usize| {
        let mut cmd = common::portcullis();
        cmd.args(["scan", "--format", "json", &through_proxy[n], "--insecure"])
            .args(["--verbose", "--cache", &redis.url()])
            .arg(format!(
                "--cache-dir={}",
                dir.path().join(n.to_string()).display()
            ))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().expect("portcullis scan")
    };
    let first = runner(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !proxy.is_waiting(&first_base_layer) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first runner never pulled"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = runner(1);
    std::thread::sleep(std::time::Duration::from_secs(2));
    proxy.release(&first_base_layer);
    let finish = |child: std::process::Child| {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (report, stderr)
    };
    let (first_report, first_log) = finish(first);
    let (second_report, second_log) = finish(second);
    assert_eq!(verbose_counts(&first_log), (3, 0), "{first_log}");
    assert_eq!(verbose_counts(&second_log), (1, 2), "{second_log}");
    let log = proxy.log();
    for layer in &base.layers[..base_layers().len()] {
        let pulls = log
            .iter()
            .filter(|e| e.is_for(&layer.digest) && e.status == 200)
            .count();
        assert_eq!(pulls, 1, "{} pulled {pulls} times", layer.digest);
    }
    for (n, report) in [&first_report, &second_report].into_iter().enumerate() {
        let uncached = scan_with(&pushed[n], &["--insecure", "--no-cache"], &[], None);
        let mut report = report.clone();
        let mut expected = uncached.json();
        for r in [&mut report, &mut expected] {
            r["image"]["reference"] = serde_json::Value::Null;
            r["image"]["names"] = serde_json::Value::Null;
        }
        assert_same("claimed layers", &report, &expected);
    }
}
