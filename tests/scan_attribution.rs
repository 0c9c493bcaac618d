//! Attribution and change gating against real images: base root filesystems `docker import`ed
//! into the dockerd scripts/test.sh starts, applications `docker build --network none` on
//! them. Asserts which part (base image or this image), layer and build step each planted
//! finding is attributed to, the `--baseline` delta of an application whose second version
//! adds a secret and drops a setuid binary, and `--ignore-base`.

mod common;

use common::alpine::{ZLIB_RECORD, alpine_layer, slim_alpine_layer};
use common::builder::*;
use common::services::*;
use common::text;
use serde_json::Value;
use std::path::Path;

const GITHUB_PAT: &str = "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";
const URLLIB3_PATH: &str = "usr/lib/python3.11/site-packages/urllib3-1.26.17.dist-info/METADATA";
const URLLIB3_METADATA: &str =
    "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.17\nSummary: HTTP library\n";

/// urllib3 before 1.26.18 (the application's).
const URLLIB3_RECORD: &str = r#"{
  "id": "GHSA-g4mx-q9vg-27p4",
  "modified": "2023-11-20T20:05:06Z",
  "aliases": ["CVE-2023-45803"],
  "affected": [
    {"package": {"ecosystem": "PyPI", "name": "urllib3"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.18"}]}]}
  ]
}"#;

/// An Alpine 3.19 root filesystem with `zlib` at `zlib_version` and a setuid helper of its
/// own at /usr/bin/basesu.
pub fn alpine_rootfs(zlib_version: &str) -> Vec<u8> {
    alpine_layer(zlib_version).tar()
}

/// `docker import`s `rootfs` as `tag`.
pub fn import(host: &str, dir: &Path, rootfs: &[u8], tag: &str) {
    let path = dir.join(format!("{}.tar", tag.replace(['/', ':'], "_")));
    std::fs::write(&path, rootfs).unwrap();
    tool(docker(host).args(["import", text(&path), tag]));
}

/// `docker build --network none` of `dockerfile` with `files` (path, content, mode) as its
/// context.
pub fn build(host: &str, dir: &Path, tag: &str, dockerfile: &str, files: &[(&str, &[u8], u32)]) {
    use std::os::unix::fs::PermissionsExt;
    let context = dir.join(format!("ctx-{}", tag.replace(['/', ':'], "_")));
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
    for (name, content, mode) in files {
        let path = context.join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    tool(docker(host).env("DOCKER_BUILDKIT", "0").args([
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        tag,
        text(&context),
    ]));
}

fn write_osv(dir: &Path) -> String {
    let osv = dir.join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::write(osv.join("zlib.json"), ZLIB_RECORD).unwrap();
    std::fs::write(osv.join("urllib3.json"), URLLIB3_RECORD).unwrap();
    osv.display().to_string()
}

fn helper_tar() -> Vec<u8> {
    helper_layer().tar()
}

fn helper_layer() -> Layer {
    Layer::new()
        .dir("usr/local/bin")
        .file_with("usr/local/bin/su-helper", b"\x7fELF", 0o4755, 0, 0)
}

struct Apps {
    base: String,
    v1: String,
    v2: String,
    osv: String,
}

/// The base, and two versions of an application on it: v1 installs a setuid helper and
/// urllib3; v2 keeps urllib3, drops the helper, and leaves a token in /app/.env.
fn apps(host: &str, dir: &Path) -> Apps {
    let base = format!("{}:1", unique("attr-base"));
    import(host, dir, &alpine_rootfs("1.3-r0"), &base);
    let v1 = format!("{}:1", unique("attr-app"));
    build(
        host,
        dir,
        &v1,
        &format!(
            "FROM {base}\nADD su-helper.tar /\nCOPY METADATA /{URLLIB3_PATH}\n\
             CMD [\"/app/run\"]\n"
        ),
        &[
            // ADD unpacks a local tar with its modes; the classic builder's COPY drops
            // the setuid bit.
            ("su-helper.tar", &helper_tar(), 0o644),
            ("METADATA", URLLIB3_METADATA.as_bytes(), 0o644),
        ],
    );
    let v2 = format!("{}:2", unique("attr-app"));
    build(
        host,
        dir,
        &v2,
        &format!(
            "FROM {base}\nCOPY METADATA /{URLLIB3_PATH}\nCOPY env /app/.env\nCMD [\"/app/run\"]\n"
        ),
        &[
            ("METADATA", URLLIB3_METADATA.as_bytes(), 0o644),
            (
                "env",
                format!("GITHUB_TOKEN={GITHUB_PAT}\n").as_bytes(),
                0o644,
            ),
        ],
    );
    Apps {
        base,
        v1,
        v2,
        osv: write_osv(dir),
    }
}

fn daemon(tag: &str) -> String {
    format!("docker-daemon:{tag}")
}

fn find<'a>(report: &'a Value, check: &str, key: &str, value: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["check"] == check
                && (value.is_empty() || f["location"]["path"] == value || f["data"][key] == value)
        })
        .unwrap_or_else(|| panic!("no {check} finding for {value}:\n{report:#}"))
}

#[test]
fn every_planted_finding_is_attributed_to_its_layer_and_part() {
    let Some(host) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    let apps = apps(&host, dir.path());
    let env = [("DOCKER_HOST", host.as_str())];
    let base_ref = daemon(&apps.base);
    let run = scan_with(
        &daemon(&apps.v1),
        &["--osv-db", &apps.osv, "--base", &base_ref],
        &env,
        None,
    );
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["schema_version"], "2.2");
    assert_eq!(report["base"]["method"], "flag");
    assert_eq!(report["base"]["reference"], base_ref.as_str());
    assert_eq!(report["base"]["layers"], 1);
    assert_eq!(report["gate"]["mode"], "all");

    let origin = |f: &Value| f["origin"].clone();
    let base_su = find(&report, "mode-setuid", "", "/usr/bin/basesu");
    assert_eq!(origin(base_su)["part"], "base");
    assert_eq!(origin(base_su)["layer"], 0);
    let helper = find(&report, "mode-setuid", "", "/usr/local/bin/su-helper");
    assert_eq!(origin(helper)["part"], "image");
    assert_eq!(origin(helper)["layer"], 1);
    let step = origin(helper)["created_by"].as_str().unwrap().to_string();
    assert!(step.contains("ADD") && step.contains("/"), "{step}");

    let zlib = find(&report, "vuln-package", "package", "zlib");
    assert_eq!(origin(zlib)["part"], "base");
    assert_eq!(zlib["severity"], "critical");
    let urllib3 = find(&report, "vuln-package", "package", "urllib3");
    assert_eq!(origin(urllib3)["part"], "image");
    assert_eq!(origin(urllib3)["layer"], 2);
    assert!(
        origin(urllib3)["created_by"]
            .as_str()
            .unwrap()
            .contains("METADATA")
    );
    // A config finding is the image's: its build wrote the config last.
    let root = find(&report, "user-root", "", "");
    assert_eq!(origin(root)["part"], "image");

    // The table groups by part and names the build step.
    let table = common::run_command(
        common::portcullis()
            .env("DOCKER_HOST", &host)
            .args(["scan", "--no-cache", &daemon(&apps.v1)])
            .args(["--osv-db", &apps.osv, "--base", &base_ref]),
    );
    let out = &table.stdout;
    let (image_part, base_part) = out
        .split_once("BASE IMAGE (")
        .unwrap_or_else(|| panic!("no base image group:\n{out}"));
    assert!(image_part.contains("THIS IMAGE ("), "{out}");
    assert!(image_part.contains("/usr/local/bin/su-helper"), "{out}");
    assert!(base_part.contains("/usr/bin/basesu"), "{out}");
    assert!(
        out.contains(&format!("base      {base_ref} (--base, 1 layer)")),
        "{out}"
    );

    // --ignore-base: the base's findings are reported and do not fail the gate.
    let ignore = scan_with(
        &daemon(&apps.v1),
        &[
            "--osv-db",
            &apps.osv,
            "--base",
            &base_ref,
            "--ignore-base",
            "--fail-on",
            "critical",
        ],
        &env,
        None,
    );
    ignore.expect_code(0);
    let ignored = ignore.json();
    assert_eq!(ignored["gate"]["mode"], "ignore-base");
    assert_eq!(ignored["summary"]["critical"], 1, "zlib is still reported");
    let all = scan_with(
        &daemon(&apps.v1),
        &[
            "--osv-db",
            &apps.osv,
            "--base",
            &base_ref,
            "--fail-on",
            "critical",
        ],
        &env,
        None,
    );
    all.expect_code(1);
}

#[test]
fn a_base_that_is_not_the_images_base_is_refused() {
    let Some(host) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    let other = format!("{}:1", unique("attr-other"));
    import(&host, dir.path(), &alpine_rootfs("1.3.1-r0"), &other);
    let app = format!("{}:1", unique("attr-lone"));
    build(
        &host,
        dir.path(),
        &app,
        "FROM scratch\nCOPY run /app/run\n",
        &[("run", b"#!/bin/sh\n", 0o755)],
    );
    let env = [("DOCKER_HOST", host.as_str())];
    let run = scan_with(&daemon(&app), &["--base", &daemon(&other)], &env, None);
    run.expect_scan_error(
        &format!("--base {}", daemon(&other)),
        &["is not a base of this image"],
    );
    let run = scan_with(&daemon(&app), &["--base", "docker-daemon:"], &env, None);
    run.expect_scan_error("--base docker-daemon:", &[]);
}

#[test]
fn the_baseline_gates_on_the_new_secret_and_lists_the_removed_setuid_binary_as_fixed() {
    let Some(host) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    let apps = apps(&host, dir.path());
    let env = [("DOCKER_HOST", host.as_str())];
    let run = scan_with(
        &daemon(&apps.v2),
        &["--osv-db", &apps.osv, "--baseline", &daemon(&apps.v1)],
        &env,
        None,
    );
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["gate"]["mode"], "baseline");
    let delta = |f: &Value| f["delta"].as_str().unwrap_or("-").to_string();
    let failing: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["delta"] == "new")
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["location"]["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        failing,
        [("secrets-in-file".to_string(), "/app/.env".to_string())],
        "{report:#}"
    );
    // Matched by package and vulnerability, though the layers differ.
    assert_eq!(
        delta(find(&report, "vuln-package", "package", "urllib3")),
        "unchanged"
    );
    assert_eq!(
        delta(find(&report, "vuln-package", "package", "zlib")),
        "unchanged"
    );
    assert_eq!(delta(find(&report, "user-root", "", "")), "unchanged");
    let fixed: Vec<&str> = report["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["location"]["path"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(fixed, ["/usr/local/bin/su-helper"]);
    assert_eq!(report["baseline"]["fixed"], 1);
    assert_eq!(report["baseline"]["new"], 1);
    assert_eq!(report["gate"]["failing"], 1);

    // SARIF: the removed binary is an `absent` result; JUnit lists it as fixed, and each
    // finding's line says where it came from.
    let formats = dir.path().join("formats");
    std::fs::create_dir_all(&formats).unwrap();
    let sarif_path = formats.join("report.sarif");
    let junit_path = formats.join("report.xml");
    common::run_command(
        common::portcullis()
            .env("DOCKER_HOST", &host)
            .args(["scan", "--no-cache", &daemon(&apps.v2)])
            .args(["--osv-db", &apps.osv, "--baseline", &daemon(&apps.v1)])
            .arg(format!("--format=sarif={}", sarif_path.display()))
            .arg(format!("--format=junit={}", junit_path.display())),
    )
    .expect_code(1);
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif_path).unwrap()).unwrap();
    let absent: Vec<&Value> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["baselineState"] == "absent")
        .collect();
    assert_eq!(absent.len(), 1, "{sarif:#}");
    assert_eq!(absent[0]["ruleId"], "mode-setuid");
    assert_eq!(absent[0]["kind"], "pass");
    assert_eq!(
        absent[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "usr/local/bin/su-helper"
    );
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    assert!(
        junit.contains(&format!(
            "<testsuite name=\"fixed since {}\"",
            daemon(&apps.v1)
        )),
        "{junit}"
    );
    assert!(
        junit.contains("/app/.env")
            && junit.contains("; from this image (layer 2: /bin/sh -c #(nop) COPY"),
        "{junit}"
    );
    assert!(junit.contains("; new since the baseline"), "{junit}");

    // Against itself nothing is new: the gate passes whatever the image holds.
    let same = scan_with(
        &daemon(&apps.v2),
        &["--osv-db", &apps.osv, "--baseline", &daemon(&apps.v2)],
        &env,
        None,
    );
    same.expect_code(0);
    assert_eq!(same.json()["baseline"]["new"], 0);
}

/// A base without the setuid helper: what a slimmer release of the base looks like.
fn slim_rootfs(zlib_version: &str) -> Vec<u8> {
    slim_alpine_layer(zlib_version).tar()
}

#[test]
fn candidate_bases_in_the_registry_are_ranked_by_what_a_rebuild_removes() {
    let Some(host) = docker_host() else { return };
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let apps = apps(&host, dir.path());
    let repository = format!("{registry}/{}", unique("attr-alpine").replace('/', "-"));
    // 3.19.0 is the current base again; 3.19.1 fixes zlib; 3.19.2 fixes zlib and drops the
    // setuid helper; edge (not matched by the tag pattern) is never scanned.
    for (tag, rootfs) in [
        ("3.19.0", alpine_rootfs("1.3-r0")),
        ("3.19.1", alpine_rootfs("1.3.1-r0")),
        ("3.19.2", slim_rootfs("1.3.1-r0")),
        ("edge", slim_rootfs("1.3-r0")),
    ] {
        let name = format!("{repository}:{tag}");
        import(&host, dir.path(), &rootfs, &name);
        tool(docker(&host).args(["push", "-q", &name]));
    }
    // Alpine 3.19 is past its end of life then: eol-os is one of the base's findings.
    let env = [
        ("DOCKER_HOST", host.as_str()),
        ("PORTCULLIS_NOW", "2026-01-01"),
    ];
    let cache = dir.path().join("cache");
    let cache_flag = format!("--cache-dir={}", cache.display());
    let candidates = format!("docker://{repository}");
    let run = scan_with(
        &daemon(&apps.v1),
        &[
            "--osv-db",
            &apps.osv,
            "--base",
            &daemon(&apps.base),
            "--insecure",
            &cache_flag,
            "--base-candidates",
            &candidates,
            "--base-candidates-tags",
            r"3\.19\.[0-9]+",
        ],
        &env,
        None,
    );
    run.expect_code(1);
    let report = run.json();
    let plan = &report["rebase"];
    assert_eq!(
        plan["base_findings"], 3,
        "zlib, eol-os and basesu:\n{plan:#}"
    );
    let ranked: Vec<(String, u64, u64)> = plan["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["reference"]
                    .as_str()
                    .unwrap()
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .to_string(),
                c["removes"].as_u64().unwrap(),
                c["removes_critical"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ranked,
        [
            ("3.19.2".to_string(), 2, 1),
            ("3.19.1".to_string(), 1, 1),
            ("3.19.0".to_string(), 0, 0),
        ],
        "{plan:#}"
    );
    assert_eq!(
        plan["candidates"][0]["removes_packages"],
        serde_json::json!(["zlib"])
    );

    let table = common::run_command(
        common::portcullis()
            .env("DOCKER_HOST", &host)
            .env("PORTCULLIS_NOW", "2026-01-01")
            .args(["scan", &cache_flag, &daemon(&apps.v1), "--insecure"])
            .args(["--osv-db", &apps.osv, "--base", &daemon(&apps.base)])
            .args([
                "--base-candidates",
                &format!("{candidates}:3.19.1,{candidates}:3.19.2"),
            ]),
    );
    assert!(
        table.stdout.contains(&format!(
            "best: rebuilding on {candidates}:3.19.2 removes 2 of 3 base-image findings (1 critical"
        )),
        "{}",
        table.stdout
    );

    // Bad input: exit 2, one line naming it.
    let run = scan_with(
        &daemon(&apps.v1),
        &[
            "--insecure",
            "--base-candidates",
            &candidates,
            "--base-candidates-tags",
            "9",
        ],
        &env,
        None,
    );
    run.expect_scan_error("--base-candidates", &["no tag of", "matches"]);
}

/// Where the planted setuid binaries of an image on [`alpine_layer`] are attributed:
/// `(part of /usr/bin/basesu, part of /usr/local/bin/su-helper)`.
fn setuid_parts(report: &Value) -> (String, String) {
    let part = |path| {
        let origin = &find(report, "mode-setuid", "", path)["origin"];
        format!("{}@{}", origin["part"].as_str().unwrap(), origin["layer"])
    };
    (part("/usr/bin/basesu"), part("/usr/local/bin/su-helper"))
}

#[test]
fn the_base_the_annotations_name_is_read_from_the_registry_when_its_digest_matches() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A base made by `docker import`: its history alone does not show where it ends.
    let base = Image::new()
        .layer(alpine_layer("1.3-r0").gzip())
        .history("/bin/sh -c #(nop) ADD file:4e2b in / ", false)
        .build();
    let name = format!(
        "{registry}/{}:1",
        unique("attr-annotated-base").replace('/', "-")
    );
    let layout = dir.path().join("base");
    Layout::new().image(&base, &["1"]).write_dir(&layout);
    push(
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{name}"),
        false,
        None,
    );
    // The application as buildx writes it: the annotations name and pin its base.
    let app = |annotations: &[(&str, &str)]| {
        let mut image = Image::new()
            .layer(alpine_layer("1.3-r0").gzip())
            .layer(helper_layer().gzip())
            .history("/bin/sh -c #(nop) ADD file:4e2b in / ", false)
            .history("ADD su-helper.tar / # buildkit", false)
            .history("CMD [\"/app/run\"] # buildkit", true);
        for (key, value) in annotations {
            image = image.annotation(key, value);
        }
        let built = image.build();
        let path = dir
            .path()
            .join(format!("app-{}", built.manifest_digest.replace(':', "-")));
        Layout::new().image(&built, &["app"]).write_dir(&path);
        format!("oci:{}:app", path.display())
    };
    // The annotation is the image's word: it may send the scan only to the registries the
    // policy names (public ones by default) or the image's own.
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "extends = \"default\"\n[params.base]\nannotation_registries = [\"127.0.0.1:*\"]\n",
    )
    .unwrap();
    let policy_arg = format!("--policy={}", policy.display());
    // Online (the annotation route is closed offline), but with the data the test has.
    let scan_args = |reference: &str, extra: &[&str]| {
        let run = scan_with(
            reference,
            &[&["--insecure", "--skip-db-update", "--trivy=off"], extra].concat(),
            &[("PORTCULLIS_OFFLINE", "0")],
            None,
        );
        run.expect_code(1);
        run.json()
    };
    let scan = |reference: &str| scan_args(reference, &[&policy_arg]);
    const NAME: &str = "org.opencontainers.image.base.name";
    const DIGEST: &str = "org.opencontainers.image.base.digest";

    let pinned_app = app(&[(NAME, &name), (DIGEST, &base.manifest_digest)]);
    let refused = scan_args(&pinned_app, &[]);
    assert_eq!(refused["base"]["method"], "none", "{:#}", refused["base"]);
    let detail = refused["base"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("not followed") && detail.contains("params.base.annotation_registries"),
        "{detail}"
    );
    let offline = scan_args(&pinned_app, &[&policy_arg, "--offline"]);
    assert_eq!(offline["base"]["method"], "none", "{:#}", offline["base"]);
    assert!(
        offline["base"]["detail"]
            .as_str()
            .unwrap()
            .contains("not followed offline"),
        "{:#}",
        offline["base"]
    );

    let pinned = scan(&pinned_app);
    assert_eq!(
        pinned["base"]["method"], "annotation",
        "{:#}",
        pinned["base"]
    );
    assert_eq!(pinned["base"]["reference"], name.as_str());
    assert_eq!(pinned["base"]["digest"], base.manifest_digest.as_str());
    assert_eq!(pinned["base"]["layers"], 1);
    assert_eq!(
        setuid_parts(&pinned),
        ("base@0".to_string(), "image@1".to_string())
    );
    let step = &find(&pinned, "mode-setuid", "", "/usr/local/bin/su-helper")["origin"];
    assert_eq!(step["created_by"], "ADD su-helper.tar / # buildkit");

    // A name alone (no digest) is followed too.
    let named = scan(&app(&[(NAME, &format!("docker://{name}"))]));
    assert_eq!(named["base"]["method"], "annotation", "{:#}", named["base"]);
    assert_eq!(setuid_parts(&named).0, "base@0");

    // A digest that is not the base's: the annotation is not trusted, the history finds no
    // base, and every finding is the image's own.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let mismatch = scan(&app(&[(NAME, &name), (DIGEST, &wrong)]));
    let base_report = &mismatch["base"];
    assert_eq!(base_report["method"], "none", "{base_report:#}");
    assert_eq!(base_report["layers"], 0);
    let detail = base_report["detail"].as_str().unwrap();
    assert!(
        detail.contains(&base.manifest_digest)
            && detail.contains(&format!("not the annotated {wrong}")),
        "{detail}"
    );
    assert_eq!(
        setuid_parts(&mismatch),
        ("image@0".to_string(), "image@1".to_string())
    );

    // A name the registry does not have: not trusted either, and said so.
    let missing = scan(&app(&[(NAME, &format!("{name}-gone"))]));
    assert_eq!(missing["base"]["method"], "none");
    assert!(
        missing["base"]["detail"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{:#}",
        missing["base"]
    );
}
