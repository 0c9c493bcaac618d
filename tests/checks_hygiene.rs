//! The modes, accounts, config and hygiene families on images built by the tests: for every
//! check an image that triggers it and a near-identical one that does not.

mod common;

use common::builder::*;
use common::{run, scan_json, text};
use portcullis::checks;
use portcullis::gate::analyze::Analyzers;
use portcullis::gate::{ReadOptions, read_image};
use portcullis::policy::Policy;
use portcullis::report::Finding;
use serde_json::json;
use std::path::Path;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
    app:x:1000:1000::/home/app:/bin/sh\n";
const SHADOW: &str = "root:!:19000:0:99999:7:::\n\
    daemon:*:19000:0:99999:7:::\n\
    app:!:19000:0:99999:7:::\n";
const GROUP: &str = "root:x:0:\ndaemon:x:1:\nshadow:x:42:\napp:x:1000:\n";
const ELF: &[u8] = b"\x7fELF\x02\x01\x01";

/// A small, clean root filesystem: accounts, standard directories, one binary.
fn rootfs() -> Layer {
    Layer::new()
        .dir("etc")
        .file("etc/passwd", PASSWD)
        .file("etc/group", GROUP)
        .file_with("etc/shadow", SHADOW, 0o640, 0, 42)
        .dir("usr")
        .dir("usr/bin")
        .dir("usr/sbin")
        .dir("usr/lib")
        .dir("usr/local")
        .dir("usr/local/bin")
        .dir("usr/local/lib")
        .symlink("bin", "usr/bin")
        .symlink("lib", "usr/lib")
        .file_with("usr/bin/env", ELF, 0o755, 0, 0)
        .dir_with("tmp", 0o1777, 0, 0)
        .dir("home")
        .dir_with("home/app", 0o755, 1000, 1000)
        .dir("dev")
        .char_device("dev/null", 1, 3)
}

/// An image that no check of these families objects to, plus `layer` on top.
fn image(layer: Layer) -> Image {
    with_layers(vec![layer])
}

fn with_layers(layers: Vec<Layer>) -> Image {
    let mut img = Image::new()
        .user("app")
        .healthcheck(&["CMD", "/usr/bin/env", "true"])
        .label("org.opencontainers.image.source", "https://example.com/app")
        .label("org.opencontainers.image.revision", "0123abcd")
        .label("org.opencontainers.image.version", "1.0.0")
        .label("org.opencontainers.image.created", "2024-01-01T00:00:00Z")
        .history("ADD rootfs.tar / # buildkit", false)
        .layer(rootfs());
    for layer in layers {
        img = img.history("COPY . / # buildkit", false).layer(layer);
    }
    img
}

fn write(image: &Image, dir: &Path) -> String {
    let path = dir.join("image.tar");
    DockerArchive::classic()
        .image(&image.build(), &["test:1"])
        .write(&path);
    text(&path).to_string()
}

fn scan(image: &Image) -> Vec<Finding> {
    scan_under(image, &Policy::default())
}

fn scan_under(image: &Image, policy: &Policy) -> Vec<Finding> {
    let dir = tempfile::tempdir().unwrap();
    let reference = format!("docker-archive:{}", write(image, dir.path()));
    let facts = read_image(&reference, &ReadOptions::default(), &Analyzers::default()).unwrap();
    checks::run_all(&facts, policy)
}

fn of<'a>(findings: &'a [Finding], id: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.check == id).collect()
}

fn summary(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {} {}", f.check, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `trigger` yields exactly `count` findings of `id`, `clean` none; returns the triggered
/// ones.
fn pair(id: &str, count: usize, trigger: &Image, clean: &Image) -> Vec<Finding> {
    let hit = scan(trigger);
    let found: Vec<Finding> = of(&hit, id).into_iter().cloned().collect();
    assert_eq!(
        found.len(),
        count,
        "{id}: expected {count} finding(s) on the triggering image, got:\n{}",
        summary(&hit)
    );
    let miss = scan(clean);
    assert!(
        of(&miss, id).is_empty(),
        "{id} fired on the clean image:\n{}",
        summary(&miss)
    );
    found
}

#[test]
fn the_clean_image_has_no_findings() {
    let findings = scan(&image(Layer::new().file("app/README", "hi")));
    assert!(findings.is_empty(), "{}", summary(&findings));
}

// ----- modes -------------------------------------------------------------------------------

#[test]
fn setuid_outside_the_distribution_list_is_high() {
    let found = pair(
        "mode-setuid",
        2,
        &image(
            Layer::new()
                .file_with("usr/local/bin/helper", ELF, 0o4755, 0, 0)
                .file_with("usr/local/bin/grouper", ELF, 0o2755, 0, 50),
        ),
        &image(
            Layer::new()
                .file_with("usr/local/bin/helper", ELF, 0o755, 0, 0)
                // setgid on a directory and setuid without execute bits are harmless.
                .dir_with("usr/local/bin/shared", 0o2775, 0, 50)
                .file_with("usr/local/bin/grouper", ELF, 0o4644, 0, 0),
        ),
    );
    let helper = found
        .iter()
        .find(|f| f.location.path.as_deref() == Some("/usr/local/bin/helper"))
        .unwrap();
    assert_eq!(helper.data["mode"], "4755");
    assert_eq!(helper.data["setuid"], true);
    assert_eq!(helper.location.layer, Some(1));
    assert!(
        helper
            .location
            .layer_digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn distribution_setuid_programs_are_low() {
    let found = pair(
        "mode-setuid-distro",
        2,
        &image(
            Layer::new()
                .file_with("usr/bin/passwd", ELF, 0o4755, 0, 0)
                .file_with("usr/bin/chage", ELF, 0o2755, 0, 42),
        ),
        &image(
            Layer::new()
                .file_with("usr/bin/passwd", ELF, 0o755, 0, 0)
                .file_with("usr/bin/chage", ELF, 0o755, 0, 42),
        ),
    );
    assert!(
        found
            .iter()
            .all(|f| f.severity == portcullis::policy::Severity::Low)
    );
    // The same program in an unexpected place is high.
    let elsewhere = scan(&image(Layer::new().file_with(
        "opt/tools/passwd",
        ELF,
        0o4755,
        0,
        0,
    )));
    assert_eq!(of(&elsewhere, "mode-setuid").len(), 1);
}

#[test]
fn the_policy_allowlists_decide_which_setuid_and_world_writable_paths_are_expected() {
    use portcullis::policy::params::GlobList;
    let dir = tempfile::tempdir().unwrap();
    let reference = format!(
        "docker-archive:{}",
        write(
            &image(
                Layer::new()
                    .file_with("usr/bin/passwd", ELF, 0o4755, 0, 0)
                    .file_with("opt/app/helper", ELF, 0o4755, 0, 0)
                    .file_with("srv/shared/drop", "x", 0o666, 0, 0),
            ),
            dir.path(),
        )
    );
    let facts = read_image(&reference, &ReadOptions::default(), &Analyzers::default()).unwrap();
    let ids = |policy: &Policy| {
        let mut found: Vec<(String, String)> = checks::run_all(&facts, policy)
            .into_iter()
            .filter(|f| f.check.starts_with("mode-"))
            .map(|f| (f.check, f.location.path.unwrap_or_default()))
            .collect();
        found.sort();
        found
    };
    let pair = |id: &str, path: &str| (id.to_string(), path.to_string());
    // The default policy expects the distribution's setuid programs only.
    assert_eq!(
        ids(&Policy::default()),
        [
            pair("mode-setuid", "/opt/app/helper"),
            pair("mode-setuid-distro", "/usr/bin/passwd"),
            pair("mode-world-writable", "/srv/shared/drop"),
        ]
    );
    // strict.toml's empty allowlist makes every setuid file high.
    let mut strict = Policy::default();
    strict.params.setuid_allowlist = GlobList::default();
    assert_eq!(
        ids(&strict),
        [
            pair("mode-setuid", "/opt/app/helper"),
            pair("mode-setuid", "/usr/bin/passwd"),
            pair("mode-world-writable", "/srv/shared/drop"),
        ]
    );
    // A team's own allowlists accept their helper and their drop directory.
    let mut own = Policy::default();
    own.params.setuid_allowlist = GlobList::new(&["/opt/app/*", "/usr/bin/passwd"]).unwrap();
    own.params.world_writable_allowlist = GlobList::new(&["/srv/shared/**"]).unwrap();
    assert_eq!(
        ids(&own),
        [
            pair("mode-setuid-distro", "/opt/app/helper"),
            pair("mode-setuid-distro", "/usr/bin/passwd"),
        ]
    );
}

#[test]
fn a_hard_link_keeps_the_setuid_bit_of_a_deleted_target() {
    let setuid = with_layers(vec![
        Layer::new()
            .file_with("usr/bin/helper", ELF, 0o4755, 0, 0)
            .hardlink("usr/local/bin/h", "usr/bin/helper"),
        Layer::new().whiteout("usr/bin/helper"),
    ]);
    let plain = with_layers(vec![
        Layer::new()
            .file_with("usr/bin/helper", ELF, 0o755, 0, 0)
            .hardlink("usr/local/bin/h", "usr/bin/helper"),
        Layer::new().whiteout("usr/bin/helper"),
    ]);
    let found = pair("mode-setuid", 1, &setuid, &plain);
    let f = &found[0];
    assert_eq!(f.location.path.as_deref(), Some("/usr/local/bin/h"));
    assert_eq!(f.location.layer, Some(1));
    assert_eq!(f.data["hardlink_to"], "/usr/bin/helper");
    assert_eq!(f.data["target_hidden_by"], 2);
}

#[test]
fn world_writable_files() {
    pair(
        "mode-world-writable",
        1,
        &image(Layer::new().file_with("etc/app.conf", "x=1", 0o666, 0, 0)),
        &image(Layer::new().file_with("etc/app.conf", "x=1", 0o664, 0, 0)),
    );
}

#[test]
fn world_writable_directories_without_the_sticky_bit() {
    let found = pair(
        "mode-world-writable-dir",
        1,
        &image(
            Layer::new()
                .dir_with("srv/uploads", 0o777, 0, 0)
                .file_with("srv/uploads/a", "a", 0o666, 0, 0)
                .file_with("srv/uploads/b", "b", 0o666, 0, 0),
        ),
        &image(Layer::new().dir_with("srv/uploads", 0o1777, 0, 0)),
    );
    // The files inside are rolled up into the directory's finding.
    assert_eq!(found[0].data["world_writable_entries_below"], 2);
}

#[test]
fn sensitive_files_readable_by_others_or_untrusted_groups() {
    let found = pair(
        "mode-sensitive-file",
        3,
        &image(
            Layer::new()
                .file_with("etc/shadow", SHADOW, 0o644, 0, 42)
                .file_with("root/.ssh/id_rsa", "key", 0o644, 0, 0)
                .file_with("etc/gshadow", "root:*::\n", 0o640, 0, 1000),
        ),
        &image(
            Layer::new()
                .file_with("etc/shadow", SHADOW, 0o640, 0, 42)
                .file_with("root/.ssh/id_rsa", "key", 0o600, 0, 0)
                .file_with("etc/gshadow", "root:*::\n", 0o640, 0, 42),
        ),
    );
    let gshadow = found
        .iter()
        .find(|f| f.location.path.as_deref() == Some("/etc/gshadow"))
        .unwrap();
    assert_eq!(gshadow.data["exposure"], json!(["group app can read it"]));
}

#[test]
fn system_files_writable_by_the_runtime_user() {
    let found = pair(
        "mode-writable-by-user",
        3,
        &image(
            Layer::new()
                .file_with("usr/local/bin/tool", ELF, 0o755, 1000, 1000)
                .file_with("usr/lib/libx.so", ELF, 0o664, 0, 1000)
                .dir_with("usr/local/lib/node_modules", 0o755, 1000, 1000)
                .file_with("usr/local/lib/node_modules/a.js", "a", 0o644, 1000, 1000)
                .file_with("usr/local/lib/node_modules/b.js", "b", 0o644, 1000, 1000)
                // Application files the user owns outside system directories are fine.
                .file_with("home/app/run.sh", "#!/bin/sh", 0o755, 1000, 1000),
        ),
        &image(
            Layer::new()
                .file_with("usr/local/bin/tool", ELF, 0o755, 0, 0)
                .file_with("usr/lib/libx.so", ELF, 0o644, 0, 1000)
                .dir_with("usr/local/lib/node_modules", 0o755, 0, 0)
                .file_with("home/app/run.sh", "#!/bin/sh", 0o755, 1000, 1000),
        ),
    );
    let dir = found
        .iter()
        .find(|f| f.location.path.as_deref() == Some("/usr/local/lib/node_modules"))
        .unwrap();
    assert_eq!(dir.data["writable_entries_below"], 2);
    let lib = found
        .iter()
        .find(|f| f.location.path.as_deref() == Some("/usr/lib/libx.so"))
        .unwrap();
    assert_eq!(lib.data["via"], json!(["group"]));

    // Root can write everything anyway: no escalation to report.
    let mut as_root = image(Layer::new().file_with("usr/local/bin/tool", ELF, 0o755, 1000, 1000));
    as_root.user = Some("root".into());
    assert!(of(&scan(&as_root), "mode-writable-by-user").is_empty());
}

#[test]
fn a_numeric_user_unknown_to_passwd_is_in_the_root_group() {
    let mut img = image(Layer::new().file_with("usr/bin/tool", ELF, 0o775, 0, 0));
    img.user = Some("4242".into());
    let found = scan(&img);
    let writable = of(&found, "mode-writable-by-user");
    assert_eq!(writable.len(), 1, "{}", summary(&found));
    assert_eq!(writable[0].data["user"], "uid 4242");
}

#[test]
fn device_files_outside_the_standard_dev_entries() {
    pair(
        "mode-device-file",
        2,
        &image(
            Layer::new()
                .block_device("tmp/sda", 8, 0)
                .char_device("dev/mem", 1, 1),
        ),
        &image(
            Layer::new()
                .char_device("dev/zero", 1, 5)
                .char_device("dev/urandom", 1, 9),
        ),
    );
}

#[test]
fn named_pipes() {
    pair(
        "mode-special-file",
        1,
        &image(Layer::new().fifo("srv/control")),
        &image(Layer::new().file("srv/control", "")),
    );
}

// ----- accounts ----------------------------------------------------------------------------

fn accounts(passwd: &str, shadow: &str, group: &str) -> Image {
    image(
        Layer::new()
            .file("etc/passwd", passwd)
            .file_with("etc/shadow", shadow, 0o640, 0, 42)
            .file("etc/group", group),
    )
}

#[test]
fn empty_passwords_in_shadow_or_passwd() {
    let found = pair(
        "account-empty-password",
        2,
        &accounts(
            &format!("{PASSWD}guest::1001:1001::/home/guest:/bin/sh\n"),
            &SHADOW.replace("app:!:", "app::"),
            GROUP,
        ),
        &accounts(
            &format!("{PASSWD}guest:x:1001:1001::/home/guest:/bin/sh\n"),
            SHADOW,
            GROUP,
        ),
    );
    let app = found.iter().find(|f| f.data["user"] == "app").unwrap();
    assert_eq!(app.location.path.as_deref(), Some("/etc/shadow"));
    assert_eq!(app.location.line, Some(3));
    assert_eq!(app.location.layer, Some(1));
}

#[test]
fn duplicate_uids_and_gids() {
    pair(
        "account-duplicate-uid",
        1,
        &accounts(
            &format!("{PASSWD}app2:x:1000:1000::/home/app:/usr/sbin/nologin\n"),
            SHADOW,
            GROUP,
        ),
        &accounts(
            &format!("{PASSWD}app2:x:1001:1000::/home/app:/usr/sbin/nologin\n"),
            SHADOW,
            GROUP,
        ),
    );
    pair(
        "account-duplicate-gid",
        1,
        &accounts(PASSWD, SHADOW, &format!("{GROUP}staff:x:1000:\n")),
        &accounts(PASSWD, SHADOW, &format!("{GROUP}staff:x:50:\n")),
    );
}

#[test]
fn extra_uid0_accounts() {
    let found = pair(
        "account-extra-uid0",
        1,
        &accounts(
            &format!("{PASSWD}toor:x:0:0::/root:/bin/sh\n"),
            SHADOW,
            GROUP,
        ),
        &accounts(
            &format!("{PASSWD}toor:x:1001:1001::/root:/bin/sh\n"),
            SHADOW,
            GROUP,
        ),
    );
    assert_eq!(found[0].location.line, Some(4));
    // uid 0 twice is reported as root under another name, not as a duplicate uid.
    let all = scan(&accounts(
        &format!("{PASSWD}toor:x:0:0::/root:/bin/sh\n"),
        SHADOW,
        GROUP,
    ));
    assert!(of(&all, "account-duplicate-uid").is_empty());
}

#[test]
fn system_accounts_with_login_shells() {
    let found = pair(
        "account-system-login-shell",
        1,
        &accounts(
            &PASSWD.replace("/usr/sbin:/usr/sbin/nologin", "/usr/sbin:/bin/sh"),
            SHADOW,
            GROUP,
        ),
        &accounts(PASSWD, SHADOW, GROUP),
    );
    assert_eq!(found[0].data["user"], "daemon");
    // A system account with a real password hash is meant to log in.
    let with_hash = accounts(
        &PASSWD.replace("/usr/sbin:/usr/sbin/nologin", "/usr/sbin:/bin/sh"),
        &SHADOW.replace("daemon:*:", "daemon:$6$salt$hash:"),
        GROUP,
    );
    assert!(of(&scan(&with_hash), "account-system-login-shell").is_empty());
}

// ----- config and history ------------------------------------------------------------------

/// The clean image with its history replaced (one entry per layer, or empty_layer ones).
fn with_history(mut img: Image, steps: &[(&str, bool)]) -> Image {
    img.history = steps
        .iter()
        .map(|(created_by, empty_layer)| History {
            created_by: created_by.to_string(),
            empty_layer: *empty_layer,
        })
        .collect();
    img
}

fn app() -> Image {
    image(Layer::new().file("app/main", "x"))
}

#[test]
fn healthcheck_missing_or_disabled() {
    let mut missing = app();
    missing.healthcheck = None;
    pair("config-no-healthcheck", 1, &missing, &app());
    let mut disabled = app();
    disabled.healthcheck = Some(vec!["NONE".into()]);
    let found = scan(&disabled);
    assert_eq!(
        of(&found, "config-no-healthcheck")[0].data["disabled"],
        true
    );
}

#[test]
fn ssh_port_exposed() {
    pair(
        "config-expose-ssh",
        1,
        &app().expose("22/tcp"),
        &app().expose("8080/tcp"),
    );
}

#[test]
fn volumes_on_kernel_interfaces() {
    pair(
        "config-sensitive-volume",
        2,
        &app()
            .volume("/proc")
            .volume("/sys/fs/cgroup/")
            .volume("/data"),
        &app().volume("/data").volume("/devices"),
    );
}

#[test]
fn latest_tag_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    DockerArchive::classic()
        .image(&app().build(), &["test:1", "test:latest"])
        .write(&path);
    let findings = |reference: String| {
        let facts = read_image(&reference, &ReadOptions::default(), &Analyzers::default()).unwrap();
        checks::run_all(&facts, &Policy::default())
    };
    let latest = findings(format!("docker-archive:{}:test:latest", text(&path)));
    let found = of(&latest, "config-latest-tag");
    assert_eq!(found.len(), 1, "{}", summary(&latest));
    assert_eq!(found[0].evidence.as_deref(), Some("test:latest"));
    let pinned = findings(format!("docker-archive:{}:test:1", text(&path)));
    assert!(of(&pinned, "config-latest-tag").is_empty());
    // A path is not a name: the archive's own tags are not judged.
    let by_path = findings(text(&path).to_string());
    assert!(of(&by_path, "config-latest-tag").is_empty());
}

#[test]
fn add_from_a_url_without_checksum() {
    let found = pair(
        "config-add-remote",
        1,
        &with_history(
            app(),
            &[
                ("ADD rootfs.tar / # buildkit", false),
                (
                    "ADD https://example.com/tool.tar.gz /opt/ # buildkit",
                    false,
                ),
            ],
        ),
        &with_history(
            app(),
            &[
                ("ADD rootfs.tar / # buildkit", false),
                (
                    "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool.tar.gz /opt/ # buildkit",
                    false,
                ),
            ],
        ),
    );
    assert_eq!(
        found[0].location.config.as_deref(),
        Some("history[1].created_by")
    );
}

#[test]
fn add_where_copy_would_do() {
    pair(
        "config-add-instead-of-copy",
        1,
        &with_history(
            app(),
            &[
                ("/bin/sh -c #(nop) ADD file:0123 in / ", false),
                ("/bin/sh -c #(nop) ADD file:4567 in /app/main ", false),
            ],
        ),
        &with_history(
            app(),
            &[
                ("/bin/sh -c #(nop) ADD file:0123 in / ", false),
                ("/bin/sh -c #(nop) COPY file:4567 in /app/main ", false),
            ],
        ),
    );
}

#[test]
fn apt_update_alone_and_dist_upgrade() {
    let steps = |run: &'static str| {
        with_history(
            app(),
            &[("ADD rootfs.tar / # buildkit", false), (run, false)],
        )
    };
    pair(
        "config-apt-update-alone",
        1,
        &steps("RUN /bin/sh -c apt-get update # buildkit"),
        &steps(
            "RUN /bin/sh -c apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/* # buildkit",
        ),
    );
    pair(
        "config-dist-upgrade",
        1,
        &steps("RUN /bin/sh -c apt-get update && apt-get dist-upgrade -y # buildkit"),
        &steps("RUN /bin/sh -c apt-get update && apt-get upgrade -y # buildkit"),
    );
}

#[test]
fn provenance_labels() {
    let mut unlabelled = app();
    unlabelled.labels.clear();
    let found = pair("config-provenance-labels", 1, &unlabelled, &app());
    assert_eq!(found[0].severity, portcullis::policy::Severity::Info);
    let empty = app().label("org.opencontainers.image.revision", "");
    let found = scan(&empty);
    assert_eq!(
        of(&found, "config-provenance-labels")[0].data["empty"],
        json!(["org.opencontainers.image.revision"])
    );
}

// ----- hygiene -----------------------------------------------------------------------------

#[test]
fn apt_lists_measured_on_the_filesystem() {
    let lists = "var/lib/apt/lists";
    let found = pair(
        "hygiene-apt-cache",
        1,
        &image(
            Layer::new()
                .file(&format!("{lists}/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"), vec![7u8; 3000])
                .file(&format!("{lists}/deb.debian.org_debian_dists_bookworm_InRelease"), vec![7u8; 1000])
                .file(&format!("{lists}/lock"), ""),
        ),
        &image(
            Layer::new()
                .file(&format!("{lists}/lock"), "")
                .dir(&format!("{lists}/partial")),
        ),
    );
    let f = &found[0];
    assert_eq!(f.location.path.as_deref(), Some("/var/lib/apt/lists"));
    assert_eq!(f.data["bytes"], 4000);
    assert_eq!(f.data["files"], 2);
    assert_eq!(f.location.layer, Some(1));
    assert_eq!(f.location.config.as_deref(), Some("history[1].created_by"));

    // The history says lists were left, but a later layer removed them: the filesystem wins.
    let cleaned = with_history(
        with_layers(vec![
            Layer::new().file(&format!("{lists}/x_Packages"), "p"),
            Layer::new().whiteout(lists),
        ]),
        &[
            ("ADD rootfs.tar / # buildkit", false),
            (
                "RUN /bin/sh -c apt-get update && apt-get install -y curl # buildkit",
                false,
            ),
            ("RUN /bin/sh -c rm -rf /var/lib/apt/lists # buildkit", false),
        ],
    );
    assert!(of(&scan(&cleaned), "hygiene-apt-cache").is_empty());
}

#[test]
fn apk_pip_and_npm_caches() {
    pair(
        "hygiene-apk-cache",
        1,
        &image(Layer::new().file("var/cache/apk/APKINDEX.66df3a5e.tar.gz", vec![1u8; 500])),
        &image(Layer::new().dir("var/cache/apk")),
    );
    pair(
        "hygiene-pip-cache",
        2,
        &image(
            Layer::new()
                .file("root/.cache/pip/http/a/b/c", "wheel")
                .file("home/app/.cache/pip/selfcheck.json", "{}"),
        ),
        &image(Layer::new().file("root/.cache/other/x", "y")),
    );
    pair(
        "hygiene-npm-cache",
        1,
        &image(Layer::new().file("root/.npm/_cacache/content-v2/sha512/ab/cd", "tgz")),
        &image(Layer::new().file("root/.npm/_logs/debug.log", "log")),
    );
}

fn apk_db(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("C:Q1abc=\nP:{n}\nV:1.0-r0\nA:x86_64\n\n"))
        .collect()
}

#[test]
fn sudo_from_the_binary_or_a_package_database() {
    let found = pair(
        "hygiene-sudo",
        1,
        &image(
            Layer::new()
                .file_with("usr/bin/sudo", ELF, 0o4755, 0, 0)
                .file("var/lib/dpkg/info/sudo.list", "/usr/bin/sudo\n")
                .file(
                    "etc/sudoers",
                    "root ALL=(ALL) ALL\n# app NOPASSWD: nothing\n",
                )
                .file("etc/sudoers.d/app", "app ALL=(ALL) NOPASSWD: ALL\n"),
        ),
        &image(Layer::new().file("var/lib/dpkg/info/sudoku.list", "/usr/games/sudoku\n")),
    );
    let f = &found[0];
    assert_eq!(f.location.path.as_deref(), Some("/usr/bin/sudo"));
    assert_eq!(f.data["installed"].as_array().unwrap().len(), 2);
    assert_eq!(
        f.data["nopasswd_rules"],
        json!(["/etc/sudoers.d/app: app ALL=(ALL) NOPASSWD: ALL"])
    );
    // apk's database alone is enough; and a sudo removed by a later layer is gone.
    pair(
        "hygiene-sudo",
        1,
        &image(Layer::new().file("lib/apk/db/installed", apk_db(&["musl", "sudo"]))),
        &image(Layer::new().file("lib/apk/db/installed", apk_db(&["musl", "sudo-doc"]))),
    );
    let removed = with_layers(vec![
        Layer::new().file_with("usr/bin/sudo", ELF, 0o4755, 0, 0),
        Layer::new().whiteout("usr/bin/sudo"),
    ]);
    assert!(of(&scan(&removed), "hygiene-sudo").is_empty());
}

#[test]
fn ssh_servers() {
    pair(
        "hygiene-sshd",
        1,
        &image(Layer::new().file_with("usr/sbin/sshd", ELF, 0o755, 0, 0)),
        &image(Layer::new().file_with("usr/bin/ssh", ELF, 0o755, 0, 0)),
    );
    pair(
        "hygiene-sshd",
        1,
        &image(Layer::new().file("lib/apk/db/installed", apk_db(&["dropbear"]))),
        &image(Layer::new().file("lib/apk/db/installed", apk_db(&["dropbear-ssh"]))),
    );
}

// ----- family parameters -------------------------------------------------------------------
//
// Every parameter under `[params.accounts]`, `[params.config]`, `[params.hygiene]` and
// `[params.modes]`: the same image judged under the default policy and under one with the
// parameter changed gives a different outcome.

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The paths of `id`'s findings on `image` under `policy`.
fn paths_under(image: &Image, policy: &Policy, id: &str) -> Vec<String> {
    let findings = scan_under(image, policy);
    of(&findings, id)
        .into_iter()
        .map(|f| f.location.path.clone().unwrap_or_default())
        .collect()
}

#[test]
fn param_accounts_system_uid_max() {
    // daemon (uid 1), app (uid 1000) and svc (uid 1500) are locked and have /bin/sh: which of
    // them are system accounts is the parameter's call.
    let img = accounts(
        &format!(
            "{}svc:x:1500:1500::/srv:/bin/sh\n",
            PASSWD.replace("/usr/sbin:/usr/sbin/nologin", "/usr/sbin:/bin/sh")
        ),
        &format!("{SHADOW}svc:!:19000:0:99999:7:::\n"),
        GROUP,
    );
    let users = |policy: &Policy| -> Vec<String> {
        of(&scan_under(&img, policy), "account-system-login-shell")
            .iter()
            .map(|f| f.data["user"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(users(&Policy::default()), ["daemon"]);
    let mut wider = Policy::default();
    wider.params.accounts.system_uid_max = 1999;
    assert_eq!(users(&wider), ["daemon", "app", "svc"]);
    let mut none = Policy::default();
    none.params.accounts.system_uid_max = 0;
    assert!(users(&none).is_empty());
}

#[test]
fn param_config_required_labels() {
    let id = "config-provenance-labels";
    // The clean image carries the four OCI labels the default asks for.
    assert!(of(&scan(&app()), id).is_empty());
    let mut team = Policy::default();
    team.params.config.required_labels = owned(&["com.example.team"]);
    let found = scan_under(&app(), &team);
    assert_eq!(of(&found, id).len(), 1, "{}", summary(&found));
    assert_eq!(
        of(&found, id)[0].data["missing"],
        json!(["com.example.team"])
    );
    // Requiring nothing accepts an unlabelled image.
    let mut unlabelled = app();
    unlabelled.labels.clear();
    assert_eq!(of(&scan(&unlabelled), id).len(), 1);
    let mut nothing = Policy::default();
    nothing.params.config.required_labels = Vec::new();
    assert!(of(&scan_under(&unlabelled, &nothing), id).is_empty());
}

#[test]
fn param_config_sensitive_volumes() {
    let id = "config-sensitive-volume";
    let img = app().volume("/proc").volume("/var/run/docker.sock");
    let volumes = |policy: &Policy| -> Vec<String> {
        of(&scan_under(&img, policy), id)
            .iter()
            .map(|f| f.evidence.clone().unwrap_or_default())
            .collect()
    };
    assert_eq!(volumes(&Policy::default()), ["/proc"]);
    let mut own = Policy::default();
    own.params.config.sensitive_volumes = owned(&["/var/run"]);
    assert_eq!(volumes(&own), ["/var/run/docker.sock"]);
}

#[test]
fn param_hygiene_cache_min_bytes() {
    let img = image(
        Layer::new()
            .file("root/.cache/pip/http/a", vec![1u8; 600])
            .file("var/cache/apk/APKINDEX.tar.gz", vec![1u8; 3000]),
    );
    let ids = |policy: &Policy| -> Vec<String> {
        let mut ids: Vec<String> = scan_under(&img, policy)
            .into_iter()
            .filter(|f| f.check.ends_with("-cache"))
            .map(|f| f.check)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&Policy::default()),
        ["hygiene-apk-cache", "hygiene-pip-cache"]
    );
    let mut kib = Policy::default();
    kib.params.hygiene.cache_min_bytes = portcullis::policy::params::Size(1024);
    assert_eq!(ids(&kib), ["hygiene-apk-cache"]);
}

#[test]
fn param_modes_path_dirs() {
    let id = "mode-writable-by-user";
    let img = image(
        Layer::new()
            .dir("opt")
            .dir("opt/app")
            .dir("opt/app/bin")
            .file_with("opt/app/bin/tool", ELF, 0o755, 1000, 1000)
            .file_with("usr/local/bin/other", ELF, 0o755, 1000, 1000),
    );
    assert_eq!(
        paths_under(&img, &Policy::default(), id),
        ["/usr/local/bin/other"]
    );
    let mut own = Policy::default();
    own.params.modes.path_dirs = owned(&["/opt/app/bin"]);
    assert_eq!(paths_under(&img, &own, id), ["/opt/app/bin/tool"]);
}

#[test]
fn param_modes_lib_dirs() {
    let id = "mode-writable-by-user";
    let img = image(
        Layer::new()
            .dir("opt")
            .dir("opt/lib")
            .dir("opt/lib/x")
            .file_with("opt/lib/x/libx.so", ELF, 0o644, 1000, 1000)
            .file_with("usr/lib/liby.so", ELF, 0o664, 0, 1000),
    );
    assert_eq!(
        paths_under(&img, &Policy::default(), id),
        ["/usr/lib/liby.so"]
    );
    let mut own = Policy::default();
    own.params.modes.lib_dirs = owned(&["/opt/lib"]);
    assert_eq!(paths_under(&img, &own, id), ["/opt/lib/x/libx.so"]);
}

#[test]
fn param_modes_trusted_read_groups() {
    let id = "mode-sensitive-file";
    // The clean image's /etc/shadow is 0640 root:shadow.
    let img = app();
    assert!(paths_under(&img, &Policy::default(), id).is_empty());
    let mut none = Policy::default();
    none.params.modes.trusted_read_groups = Vec::new();
    let found = scan_under(&img, &none);
    let shadow = of(&found, id);
    assert_eq!(shadow.len(), 1, "{}", summary(&found));
    assert_eq!(shadow[0].location.path.as_deref(), Some("/etc/shadow"));
    assert_eq!(
        shadow[0].data["exposure"],
        json!(["group shadow can read it"])
    );
}

// ----- the binary --------------------------------------------------------------------------

#[test]
fn explain_lists_and_describes_the_new_checks() {
    let list = run(&["explain"]);
    list.expect_code(0);
    for family in [
        &checks::modes::FAMILY,
        &checks::accounts::FAMILY,
        &checks::config::FAMILY,
        &checks::hygiene::FAMILY,
    ] {
        for check in family.checks {
            assert!(list.stdout.contains(check.id), "{} not listed", check.id);
        }
    }
    let one = run(&["explain", "mode-setuid"]);
    one.expect_code(0);
    assert!(
        one.stdout.contains("CIS Docker Benchmark 4.8"),
        "{}",
        one.stdout
    );
    assert!(one.stdout.contains("Dockle CIS-DI-0008"), "{}", one.stdout);
    assert!(one.stdout.contains("Remediation:"), "{}", one.stdout);
}

#[test]
fn json_report_carries_locations_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let img = with_layers(vec![
        Layer::new()
            .file_with("usr/bin/helper", ELF, 0o4755, 0, 0)
            .hardlink("usr/local/bin/h", "usr/bin/helper"),
        Layer::new().whiteout("usr/bin/helper"),
    ]);
    let path = write(&img, dir.path());
    let run = scan_json(&path, &[]);
    run.expect_code(1);
    let report = run.json();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "mode-setuid")
        .unwrap()
        .clone();
    assert_eq!(finding["severity"], "high");
    assert_eq!(finding["location"]["path"], "/usr/local/bin/h");
    assert_eq!(finding["location"]["layer"], 1);
    assert_eq!(finding["data"]["hardlink_to"], "/usr/bin/helper");
    assert_eq!(finding["data"]["target_hidden_by"], 2);
}

/// A policy file's `[params.hygiene] cache_min_bytes` is parsed and reaches the check: the
/// same image through the binary with and without it.
#[test]
fn a_policy_file_sets_a_family_parameter_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(Layer::new().file("root/.cache/pip/http/a", vec![1u8; 600]));
    let path = write(&img, dir.path());
    let policy = dir.path().join("gate.toml");
    let caches = |extra: &[&str]| -> Vec<String> {
        let run = scan_json(&path, extra);
        run.expect_code(0);
        common::check_ids(&run.json())
            .into_iter()
            .filter(|id| id.starts_with("hygiene-"))
            .collect()
    };
    assert_eq!(caches(&[]), ["hygiene-pip-cache"]);
    std::fs::write(
        &policy,
        "extends = \"default\"\n[params.hygiene]\ncache_min_bytes = \"1K\"\n",
    )
    .unwrap();
    assert!(caches(&["--policy", text(&policy)]).is_empty());
    std::fs::write(
        &policy,
        "extends = \"default\"\n[params.hygiene]\ncache_min_bytes = 600\n",
    )
    .unwrap();
    assert_eq!(caches(&["--policy", text(&policy)]), ["hygiene-pip-cache"]);
    // A misspelt key in a family section is refused before the scan.
    std::fs::write(&policy, "[params.hygiene]\ncache_min_byte = 1\n").unwrap();
    let run = scan_json(&path, &["--policy", text(&policy)]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("cache_min_byte"), "{}", run.stderr);
}

/// Layers whose tar omits directory entries (Bazel, ko and other builders write only the
/// files) merge as if the parents existed, root-owned with mode 0755 as Docker creates
/// them: a user-owned `/usr/local/bin/tool` is judged without `usr/local/bin/` of its own.
#[test]
fn parents_a_layer_omits_exist_with_the_runtime_defaults() {
    let bare = Layer::new()
        .file("etc/passwd", PASSWD)
        .file("etc/group", GROUP)
        .file_with("usr/local/bin/tool", ELF, 0o755, 1000, 1000);
    let img = Image::new()
        .user("app")
        .history("COPY . / # buildkit", false)
        .layer(bare);
    let dir = tempfile::tempdir().unwrap();
    let reference = format!("docker-archive:{}", write(&img, dir.path()));
    let facts = read_image(&reference, &ReadOptions::default(), &Analyzers::default()).unwrap();
    for parent in ["usr", "usr/local", "usr/local/bin", "etc"] {
        let node = facts
            .fs
            .get(parent)
            .unwrap_or_else(|| panic!("no {parent}"));
        assert_eq!(
            node.entry.kind,
            portcullis::layer::EntryKind::Dir,
            "{parent}"
        );
        assert_eq!(
            (node.entry.mode, node.entry.uid, node.entry.gid),
            (0o755, 0, 0),
            "{parent}"
        );
    }
    let found = checks::run_all(&facts, &Policy::default());
    let writable = of(&found, "mode-writable-by-user");
    assert!(
        writable
            .iter()
            .any(|f| f.location.path.as_deref() == Some("/usr/local/bin/tool")),
        "{}",
        summary(&found)
    );
}

/// One finding per kind and place: `/usr/bin/sudo` setuid root is one `hygiene-sudo`
/// finding, with mode-setuid's severity and data, not two.
#[test]
fn a_setuid_sudo_is_one_finding() {
    let img = image(Layer::new().file_with("usr/bin/sudo", ELF, 0o4755, 0, 0));
    let found = scan_under(&img, &Policy::default());
    let at_sudo: Vec<&Finding> = found
        .iter()
        .filter(|f| f.location.path.as_deref() == Some("/usr/bin/sudo"))
        .collect();
    assert_eq!(at_sudo.len(), 1, "{}", summary(&found));
    let sudo = at_sudo[0];
    assert_eq!(sudo.check, "hygiene-sudo");
    assert_eq!(sudo.severity, portcullis::model::Severity::High);
    assert!(sudo.data.contains_key("mode-setuid"), "{:?}", sudo.data);
    assert!(sudo.message.contains("setuid"), "{}", sudo.message);
}

/// A `NOPASSWD` rule that lets the runtime user become root is named in the finding and
/// raises it; a rule for another account only lists it.
#[test]
fn a_nopasswd_rule_for_the_runtime_user_is_named_and_raises_severity() {
    let sudo = |rule: &str| {
        image(
            Layer::new()
                .file_with("usr/bin/sudo", ELF, 0o755, 0, 0)
                .dir("etc/sudoers.d")
                .file_with("etc/sudoers.d/rules", rule, 0o440, 0, 0),
        )
    };
    for rule in [
        "app ALL=(ALL) NOPASSWD: ALL\n",
        "%app ALL=(ALL:ALL) NOPASSWD: ALL\n",
        "ALL ALL=(root) NOPASSWD: /usr/bin/apt-get\n",
    ] {
        let found = scan(&sudo(rule));
        let f = of(&found, "hygiene-sudo");
        assert_eq!(f.len(), 1, "{rule}: {}", summary(&found));
        assert_eq!(f[0].severity, portcullis::model::Severity::High, "{rule}");
        assert!(
            f[0].message.contains(rule.trim()) && f[0].message.contains("without a password"),
            "{rule}: {}",
            f[0].message
        );
    }
    let found = scan(&sudo("deploy ALL=(ALL) NOPASSWD: ALL\n"));
    let f = of(&found, "hygiene-sudo");
    assert_eq!(f[0].severity, portcullis::model::Severity::Medium);
    assert!(!f[0].message.contains("without a password"));
    assert_eq!(f[0].data["nopasswd_rules"].as_array().unwrap().len(), 1);
}

/// An SSH server's three host keys are one finding listing them, not three criticals.
#[test]
fn ssh_host_keys_are_one_finding_that_lists_them() {
    let key = "-----BEGIN RSA PRIVATE KEY-----\n\
        MIIEowIBAAKCAQEAu9Nua0y1y08gkbnBfKd6VDHia8Na0ATgMQqZ4YEbit73g84I\n\
        EPQPkLbPF3XDe2JA1QzqTZbbePLsW44DbbgMXk5jjSh2SvGe5IXNeNwyyMox8DKQ\n\
        ccJUPxbCxnhFgSnF76cMBXJC63nDnGawz4g3qwU10sfyKG0ixFI3e3992fk6QnF4\n\
        -----END RSA PRIVATE KEY-----\n";
    let mut layer = Layer::new().dir("etc/ssh");
    for (i, kind) in ["rsa", "ecdsa", "ed25519"].iter().enumerate() {
        // Distinct keys: the same key three times would be one secret already.
        let body = key.replacen("MIIEow", &format!("MIIEo{i}"), 1);
        layer = layer.file_with(&format!("etc/ssh/ssh_host_{kind}_key"), body, 0o600, 0, 0);
    }
    let found = scan(&image(layer));
    let keys: Vec<&Finding> = found
        .iter()
        .filter(|f| {
            f.location
                .path
                .as_deref()
                .is_some_and(|p| p.contains("ssh_host_"))
        })
        .collect();
    assert_eq!(keys.len(), 1, "{}", summary(&found));
    let paths = keys[0].data["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 3, "{:?}", keys[0].data);
    assert!(
        keys[0]
            .message
            .starts_with("3 SSH host private keys in /etc/ssh")
    );
}
