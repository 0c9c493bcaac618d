//! One image, every local format: the report names the same layers, diff_ids and config
//! whatever held the image; references select images by tag, digest, index and platform;
//! `--output` writes whole reports or nothing.

mod common;

use common::builder::*;
use common::{corpus, run, scan_json, text};
use serde_json::{Value, json};
use std::path::Path;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\n";

/// Three layers, one per compression, running as a proper user: passes the gate.
fn app_image() -> Image {
    Image::new()
        .user("app")
        .cmd(&["/app"])
        .layer(
            Layer::new()
                .gzip()
                .dir("etc")
                .file("etc/passwd", PASSWD)
                .file("etc/group", GROUP),
        )
        .layer(
            Layer::new()
                .zstd()
                .file_with("app", "#!/bin/sh\n", 0o755, 0, 0),
        )
        .layer(
            Layer::new()
                .dir("home")
                .dir_with("home/app", 0o700, 1000, 1000),
        )
}

/// Asserts that the report describes exactly `built`.
fn assert_describes(report: &Value, built: &Built, manifest_digest: Option<&str>, what: &str) {
    let image = &report["image"];
    assert_eq!(
        image["config_digest"],
        built.config_digest.as_str(),
        "{what}"
    );
    assert_eq!(
        image["manifest_digest"],
        manifest_digest.map_or(Value::Null, |d| json!(d)),
        "{what}"
    );
    assert_eq!(image["platform"]["os"], built.os.as_str(), "{what}");
    assert_eq!(
        image["platform"]["architecture"],
        built.architecture.as_str(),
        "{what}"
    );
    assert_eq!(
        image["platform"]["variant"],
        built.variant.as_deref().map_or(Value::Null, |v| json!(v)),
        "{what}"
    );
    let layers = image["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), built.layers.len(), "{what}");
    for (i, (got, want)) in layers.iter().zip(&built.layers).enumerate() {
        assert_eq!(got["index"], i, "{what}");
        assert_eq!(got["digest"], want.digest.as_str(), "{what} layer {i}");
        assert_eq!(got["diff_id"], want.diff_id.as_str(), "{what} layer {i}");
        assert_eq!(got["size"], want.size, "{what} layer {i}");
        assert_eq!(
            got["compression"],
            want.compression.as_str(),
            "{what} layer {i}"
        );
        assert_eq!(got["uncompressed_size"], want.tar.len(), "{what} layer {i}");
        assert_eq!(got["entries"], want.entries, "{what} layer {i}");
    }
}

struct Written {
    reference: String,
    transport: &'static str,
    manifest_digest: Option<String>,
}

/// Writes `built` in every local format and returns the references to scan it by.
fn write_everywhere(dir: &Path, built: &Built) -> Vec<Written> {
    let mut out = Vec::new();
    let mut add = |reference: String, transport, manifest: Option<&str>| {
        out.push(Written {
            reference,
            transport,
            manifest_digest: manifest.map(str::to_string),
        })
    };
    let m = Some(built.manifest_digest.as_str());

    let classic = dir.join("classic.tar");
    DockerArchive::classic()
        .image(built, &["app:1"])
        .write(&classic);
    add(
        format!("docker-archive:{}", text(&classic)),
        "docker-archive",
        None,
    );
    add(
        format!("docker-archive:{}:app:1", text(&classic)),
        "docker-archive",
        None,
    );
    add(
        format!("docker-archive:{}:@0", text(&classic)),
        "docker-archive",
        None,
    );
    add(text(&classic).to_string(), "docker-archive", None);

    let classic_gz = dir.join("classic.tar.gz");
    DockerArchive::classic()
        .gzipped()
        .image(built, &["app:1"])
        .write(&classic_gz);
    add(
        format!("docker-archive:{}", text(&classic_gz)),
        "docker-archive",
        None,
    );
    add(text(&classic_gz).to_string(), "docker-archive", None);

    let d25 = dir.join("docker25.tar");
    DockerArchive::docker25()
        .image(built, &["app:1"])
        .write(&d25);
    add(
        format!("docker-archive:{}", text(&d25)),
        "docker-archive",
        m,
    );
    add(text(&d25).to_string(), "docker-archive", m);
    // A Docker 25 archive is also an OCI archive.
    add(format!("oci-archive:{}:1", text(&d25)), "oci-archive", m);

    let d25_gz = dir.join("docker25.tar.gz");
    DockerArchive::docker25()
        .gzipped()
        .image(built, &["app:1"])
        .write(&d25_gz);
    add(
        format!("docker-archive:{}", text(&d25_gz)),
        "docker-archive",
        m,
    );

    let layout = dir.join("layout");
    Layout::new().image(built, &["1.0"]).write_dir(&layout);
    add(format!("oci:{}:1.0", text(&layout)), "oci", m);
    add(format!("oci:{}", text(&layout)), "oci", m);
    add(
        format!("oci:{}@{}", text(&layout), built.manifest_digest),
        "oci",
        m,
    );
    add(text(&layout).to_string(), "oci", m);
    add(format!("{}:1.0", text(&layout)), "oci", m);

    let untagged = dir.join("untagged");
    Layout::new().image(built, &[]).write_dir(&untagged);
    add(format!("oci:{}", text(&untagged)), "oci", m);

    let archive = dir.join("image.oci.tar");
    Layout::new().image(built, &["1.0"]).write_archive(&archive);
    add(
        format!("oci-archive:{}:1.0", text(&archive)),
        "oci-archive",
        m,
    );
    add(format!("oci-archive:{}", text(&archive)), "oci-archive", m);
    add(text(&archive).to_string(), "oci-archive", m);
    out
}

#[test]
fn the_same_image_reports_the_same_digests_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let built = app_image().build();
    for w in write_everywhere(dir.path(), &built) {
        let run = scan_json(&w.reference, &[]);
        run.expect_code(0);
        let report = run.json();
        assert_describes(&report, &built, w.manifest_digest.as_deref(), &w.reference);
        assert_eq!(report["image"]["transport"], w.transport, "{}", w.reference);
        assert_eq!(report["image"]["reference"], w.reference.as_str());
        assert_eq!(report["image"]["user"], "app");
        assert_eq!(report["gate"]["result"], "PASSED", "{}", w.reference);
        assert!(
            common::family_ids(&report, "user").is_empty(),
            "{}",
            w.reference
        );
    }
}

#[test]
fn tags_and_names_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let built = app_image().build();
    let archive = dir.path().join("a.tar");
    DockerArchive::classic()
        .image(&built, &["app:1", "registry.example:5000/team/app:latest"])
        .write(&archive);
    let report = scan_json(text(&archive), &[]).json();
    assert_eq!(
        report["image"]["names"],
        json!(["app:1", "registry.example:5000/team/app:latest"])
    );
    // docker.io/library/ and :latest are implied, as docker spells tags.
    let run = scan_json(
        &format!(
            "docker-archive:{}:registry.example:5000/team/app",
            text(&archive)
        ),
        &[],
    );
    run.expect_code(0);

    let layout = dir.path().join("layout");
    Layout::new().image(&built, &["v1"]).write_dir(&layout);
    let report = scan_json(&format!("oci:{}:v1", text(&layout)), &[]).json();
    // A bare tag as the ref name: the layout's name goes with it.
    assert_eq!(report["image"]["names"], json!(["layout:v1"]));
}

#[test]
fn the_table_report_names_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let built = app_image().user("root").build();
    let layout = dir.path().join("layout");
    Layout::new().image(&built, &["v1"]).write_dir(&layout);
    let reference = format!("oci:{}:v1", text(&layout));
    let run = run(&["scan", &reference]);
    run.expect_code(1);
    let out = &run.stdout;
    assert!(out.starts_with(&format!("{reference} (oci)\n")), "{out}");
    assert!(
        out.contains(&format!("  manifest  {}\n", built.manifest_digest)),
        "{out}"
    );
    assert!(
        out.contains(&format!("  config    {}\n", built.config_digest)),
        "{out}"
    );
    assert!(out.contains("  platform  linux/amd64\n"), "{out}");
    assert!(out.contains("  layers    3 ("), "{out}");
    assert!(out.contains("  user-root  Image runs as root\n"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("FAILED: 1 finding at or above high")
    );
    assert!(!out.contains('\x1b'), "colour when not a terminal");

    let archive = dir.path().join("classic.tar");
    DockerArchive::classic()
        .image(&built, &["a:1"])
        .write(&archive);
    let run = common::run(&["scan", text(&archive)]);
    assert!(
        run.stdout
            .contains("  manifest  - (classic docker save: no manifest)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn every_entry_kind_and_long_names_in_both_styles_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let long = |p: &str| format!("{p}/{}/file", "x".repeat(150));
    let layer = |style: LongNames, c: Compression| {
        Layer::new()
            .compression(c)
            .long_names(style)
            .dir("etc")
            .file("etc/passwd", PASSWD)
            .file_with("usr/bin/su", "\x7fELF", 0o4755, 0, 0)
            .file_with("usr/bin/wall", "\x7fELF", 0o2755, 0, 5)
            .dir_with("tmp", 0o1777, 0, 0)
            .file_with("home/app/.profile", "", 0o644, 1000, 1000)
            .file_with("big-ids", "", 0o644, 3_000_000, 3_000_000)
            .symlink("bin", "usr/bin")
            .hardlink("etc/passwd-", "etc/passwd")
            .char_device("dev/null", 1, 3)
            .block_device("dev/sda", 8, 0)
            .fifo("run/initctl")
            .file(&long("deep"), "long")
            .symlink("long-link", &long("target"))
            .hardlink(&long("hard"), &long("deep"))
    };
    for c in Compression::ALL {
        let built = Image::new()
            .user("app")
            .layer(layer(LongNames::Pax, c))
            .layer(layer(LongNames::Gnu, c))
            .build();
        assert_eq!(built.layers[0].entries, 15);
        let case = dir.path().join(c.as_str());
        std::fs::create_dir(&case).unwrap();
        for w in write_everywhere(&case, &built) {
            let run = scan_json(&w.reference, &[]);
            // The block device fails the gate; the modes family shows that device numbers,
            // FIFOs and setuid/setgid bits were read.
            run.expect_code(1);
            let report = run.json();
            assert_describes(&report, &built, w.manifest_digest.as_deref(), &w.reference);
            let mut modes: Vec<(String, String)> = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["check"].as_str().unwrap().starts_with("mode-"))
                .map(|f| {
                    (
                        f["check"].as_str().unwrap().to_string(),
                        f["location"]["path"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            modes.sort();
            assert_eq!(
                modes,
                [
                    ("mode-device-file", "/dev/sda"),
                    ("mode-setuid-distro", "/usr/bin/su"),
                    ("mode-setuid-distro", "/usr/bin/wall"),
                    ("mode-special-file", "/run/initctl"),
                ]
                .map(|(c, p)| (c.to_string(), p.to_string())),
                "{}",
                w.reference
            );
        }
    }
}

fn multi_platform() -> (Built, Built, Built) {
    let image = |platform: &str| {
        Image::new()
            .platform(platform)
            .user("1000")
            .layer(Layer::new().gzip().file("etc/hostname", platform))
            .build()
    };
    (
        image("linux/amd64"),
        image("linux/arm64/v8"),
        image("linux/arm/v7"),
    )
}

#[test]
fn platform_selects_from_a_multi_platform_index() {
    let dir = tempfile::tempdir().unwrap();
    let (amd, arm64, armv7) = multi_platform();
    let layout = dir.path().join("multi");
    Layout::new()
        .index(&[&amd, &arm64, &armv7], &["multi"])
        .write_dir(&layout);
    let archive = dir.path().join("multi.oci.tar");
    Layout::new()
        .index(&[&amd, &arm64, &armv7], &["multi"])
        .write_archive(&archive);
    for reference in [
        format!("oci:{}:multi", text(&layout)),
        format!("oci-archive:{}", text(&archive)),
    ] {
        for (platform, want) in [
            ("linux/amd64", &amd),
            ("linux/arm64", &arm64),
            ("linux/arm64/v8", &arm64),
            ("linux/arm/v7", &armv7),
        ] {
            let run = scan_json(&reference, &["--platform", platform]);
            // uid 1000 without /etc/passwd: a low finding, the gate passes.
            run.expect_code(0);
            let report = run.json();
            assert_describes(&report, want, Some(&want.manifest_digest), platform);
            assert_eq!(run.family_ids("user"), ["user-numeric-unmapped"]);
        }
        let run = scan_json(&reference, &["--platform", "linux/s390x"]);
        run.expect_scan_error(
            &reference,
            &[
                "no image for platform linux/s390x",
                "available: linux/amd64, linux/arm64/v8, linux/arm/v7",
            ],
        );
    }
}

#[test]
fn the_host_platform_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (amd, arm64, _) = multi_platform();
    let layout = dir.path().join("multi");
    Layout::new()
        .index(&[&amd, &arm64], &["multi"])
        .write_dir(&layout);
    let reference = format!("oci:{}:multi", text(&layout));
    let run = scan_json(&reference, &[]);
    match std::env::consts::ARCH {
        "x86_64" => assert_describes(&run.json(), &amd, Some(&amd.manifest_digest), "host"),
        "aarch64" => assert_describes(&run.json(), &arm64, Some(&arm64.manifest_digest), "host"),
        _ => {
            run.expect_scan_error(&reference, &["no image for platform"]);
        }
    }
}

#[test]
fn nested_indexes_and_digests_of_inner_manifests_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let (amd, arm64, armv7) = multi_platform();
    let inner = Node::Index(vec![Node::image(&arm64), Node::image(&armv7)]);
    let outer = Node::Index(vec![Node::image(&amd), inner]);
    let layout = dir.path().join("nested");
    Layout::new()
        .node(outer.clone(), &["nested"])
        .write_dir(&layout);
    let reference = format!("oci:{}:nested", text(&layout));
    let run = scan_json(&reference, &["--platform", "linux/arm/v7"]);
    run.expect_code(0);
    assert_describes(&run.json(), &armv7, Some(&armv7.manifest_digest), "nested");

    // By the digest of the outer index, and of a platform manifest deep inside.
    let by_index = format!("oci:{}@{}", text(&layout), outer.digest());
    let run = scan_json(&by_index, &["--platform", "linux/amd64"]);
    run.expect_code(0);
    assert_describes(
        &run.json(),
        &amd,
        Some(&amd.manifest_digest),
        "by index digest",
    );
    let by_manifest = format!("oci:{}@{}", text(&layout), arm64.manifest_digest);
    let run = scan_json(&by_manifest, &[]);
    run.expect_code(0);
    assert_describes(
        &run.json(),
        &arm64,
        Some(&arm64.manifest_digest),
        "by digest",
    );
}

#[test]
fn a_platform_the_single_image_is_not_for_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let built = app_image().build();
    let archive = dir.path().join("a.tar");
    DockerArchive::classic()
        .image(&built, &["app:1"])
        .write(&archive);
    let reference = format!("docker-archive:{}", text(&archive));
    scan_json(&reference, &["--platform", "linux/arm64"]).expect_scan_error(
        &reference,
        &["the image is for linux/amd64, not the requested linux/arm64"],
    );
}

#[test]
fn several_images_and_no_selector_list_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let one = app_image().build();
    let two = app_image().user("0").build();

    let layout = dir.path().join("layout");
    Layout::new()
        .image(&one, &["v1"])
        .image(&two, &["v2"])
        .write_dir(&layout);
    let reference = format!("oci:{}", text(&layout));
    scan_json(&reference, &[]).expect_scan_error(
        &reference,
        &["index.json lists 2 images", "available: v1, v2"],
    );
    let run = scan_json(&format!("{reference}:v2"), &[]);
    run.expect_code(1);
    assert_describes(&run.json(), &two, Some(&two.manifest_digest), "v2");
    assert_eq!(run.family_ids("user"), ["user-root"]);
    let missing = format!("{reference}:v3");
    scan_json(&missing, &[])
        .expect_scan_error(&missing, &["no image named \"v3\"", "available: v1, v2"]);

    // Untagged images are listed by digest.
    let untagged = dir.path().join("untagged");
    Layout::new()
        .image(&one, &[])
        .image(&two, &[])
        .write_dir(&untagged);
    let reference = format!("oci:{}", text(&untagged));
    scan_json(&reference, &[]).expect_scan_error(
        &reference,
        &[
            &format!("@{}", one.manifest_digest),
            &format!("@{}", two.manifest_digest),
        ],
    );

    for (name, archive) in [
        ("classic", DockerArchive::classic()),
        ("docker25", DockerArchive::docker25()),
        ("gzipped", DockerArchive::classic().gzipped()),
    ] {
        let file = dir.path().join(format!("{name}.tar"));
        archive
            .image(&one, &["app:1"])
            .image(&two, &["other:2"])
            .write(&file);
        let reference = format!("docker-archive:{}", text(&file));
        scan_json(&reference, &[]).expect_scan_error(
            &reference,
            &["the archive holds 2 images", "@0 (app:1), @1 (other:2)"],
        );
        let run = scan_json(&format!("{reference}:other:2"), &[]);
        run.expect_code(1);
        assert_eq!(
            run.json()["image"]["config_digest"],
            two.config_digest.as_str()
        );
        let run = scan_json(&format!("{reference}:@0"), &[]);
        run.expect_code(0);
        assert_eq!(
            run.json()["image"]["config_digest"],
            one.config_digest.as_str()
        );
        let out_of_range = format!("{reference}:@2");
        scan_json(&out_of_range, &[]).expect_scan_error(&out_of_range, &["@2 is out of range"]);
        let unknown = format!("{reference}:nope:1");
        scan_json(&unknown, &[]).expect_scan_error(
            &unknown,
            &["no image tagged \"nope:1\"", "@0 (app:1), @1 (other:2)"],
        );
    }
}

#[test]
fn the_transport_must_match_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let built = app_image().build();
    let oci = dir.path().join("image.oci.tar");
    Layout::new().image(&built, &["1"]).write_archive(&oci);
    let classic = dir.path().join("classic.tar");
    DockerArchive::classic()
        .image(&built, &["a:1"])
        .write(&classic);
    let layout = dir.path().join("layout");
    Layout::new().image(&built, &["1"]).write_dir(&layout);

    let r = format!("docker-archive:{}", text(&oci));
    scan_json(&r, &[]).expect_scan_error(&r, &["this is an OCI archive (use oci-archive:)"]);
    let r = format!("oci-archive:{}", text(&classic));
    scan_json(&r, &[]).expect_scan_error(&r, &["this is a docker-archive (use docker-archive:)"]);
    let r = format!("oci:{}", text(&classic));
    scan_json(&r, &[]).expect_scan_error(&r, &["is not a directory"]);
    let r = format!("docker-archive:{}", text(&layout));
    scan_json(&r, &[]).expect_scan_error(&r, &["is a directory; use oci:"]);
    let missing = dir.path().join("missing.tar");
    let r = format!("docker-archive:{}", text(&missing));
    scan_json(&r, &[]).expect_scan_error(&r, &["no such file"]);
    let not_image = dir.path().join("notes.txt");
    std::fs::write(&not_image, "hello").unwrap();
    let r = text(&not_image).to_string();
    scan_json(&r, &[]).expect_scan_error(&r, &["not an image archive"]);
}

#[test]
fn output_writes_the_report_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let built = app_image().user("root").build();
    let layout = dir.path().join("layout");
    Layout::new().image(&built, &["1"]).write_dir(&layout);
    let reference = format!("oci:{}:1", text(&layout));
    let out = dir.path().join("report.json");
    // A failing gate still writes its report.
    let run = scan_json(&reference, &["--output", text(&out)]);
    run.expect_code(1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_describes(&report, &built, Some(&built.manifest_digest), "--output");
    assert_eq!(common::family_ids(&report, "user"), ["user-root"]);
    assert_eq!(report["gate"]["result"], "FAILED");

    // A run that cannot scan leaves the previous report alone and no temporary file.
    let broken = format!("oci:{}:nope", text(&layout));
    let run = scan_json(&broken, &["--output", text(&out)]);
    run.expect_scan_error(&broken, &["no image named"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&out).unwrap()).unwrap(),
        report
    );
    let fresh = dir.path().join("fresh.json");
    scan_json(&broken, &["--output", text(&fresh)]).expect_code(2);
    assert!(!fresh.exists());
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["layout", "report.json"]);

    let nowhere = dir.path().join("no/such/dir/report.json");
    let run = scan_json(&reference, &["--output", text(&nowhere)]);
    run.expect_code(2);
    assert!(!nowhere.exists());
}

#[test]
fn corpus_dive_images_differ_only_in_compression() {
    let Some(corpus) = corpus() else { return };
    let data = corpus.join("wagoodman_dive/.data");
    let config = "sha256:3eaccc100f866490f00ae82727b459a737af031dcf44c791d8aa714a70f24959";
    let diff_id = "sha256:356d5e7f4012d87cb1078ac1f480e90528eec4940ce45c50380321436db38758";
    for (file, manifest, digest, compression) in [
        (
            "test-oci-uncompressed-image.tar",
            "sha256:5cec6b4ce61c35c3a83e09d72d81a335b49fdcef727beee160d12eeaf066f11b",
            diff_id,
            "none",
        ),
        (
            "test-oci-gzip-image.tar",
            "sha256:7d255e9e3d216a9a92a5c1ce0563a5ddd92f28a34a9df025d3cf8dfa5ea08366",
            "sha256:9aef42427209c9a180c61bb36b0b09681cbe3d3ff6409408bde0eb17ec1ba0cc",
            "gzip",
        ),
        (
            "test-oci-zstd-image.tar",
            "sha256:f5e3515f39a16543547c03d03ec34faf9276742e6ce7c7dd6e467a14e90b29fc",
            "sha256:0308a5d81b28debb7e24a609dcdfca5fdb64c908bda38b0e4774a7d017a67297",
            "zstd",
        ),
    ] {
        let reference = format!("oci-archive:{}", text(&data.join(file)));
        let run = scan_json(&reference, &[]);
        assert_ne!(run.code, 2, "{file}: {}", run.stderr);
        let image = &run.json()["image"];
        assert_eq!(image["config_digest"], config, "{file}");
        assert_eq!(image["manifest_digest"], manifest, "{file}");
        assert_eq!(image["platform"]["architecture"], "arm64", "{file}");
        assert_eq!(image["layers"][0]["digest"], digest, "{file}");
        assert_eq!(image["layers"][0]["diff_id"], diff_id, "{file}");
        assert_eq!(image["layers"][0]["compression"], compression, "{file}");
    }
}

#[test]
fn corpus_gzipped_docker_save_of_alpine() {
    let Some(corpus) = corpus() else { return };
    let file = corpus.join("aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz");
    let run = scan_json(text(&file), &[]);
    // Runs as root: the gate fails on user-root.
    run.expect_code(1);
    let report = run.json();
    assert_eq!(
        report["image"]["config_digest"],
        "sha256:af341ccd2df8b0e2d67cf8dd32e087bfda4e5756ebd1c76bbf3efa0dc246590e"
    );
    assert_eq!(report["image"]["manifest_digest"], Value::Null);
    assert_eq!(report["image"]["names"], json!(["alpine:3.10"]));
    let layer = &report["image"]["layers"][0];
    assert_eq!(
        layer["diff_id"],
        "sha256:531743b7098cb2aaf615641007a129173f63ed86ca32fe7b5a246a1c47286028"
    );
    assert_eq!(layer["size"], 5_818_880);
    assert_eq!(layer["entries"], 482);
    assert_eq!(run.family_ids("user"), ["user-root"]);
}

#[test]
fn repeated_empty_and_missing_layers_scan_alike_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = Layer::new().dir("etc").file("etc/passwd", PASSWD);
    let cases = [
        (
            "repeated",
            Image::new()
                .user("app")
                .layer(passwd.clone())
                .layer(Layer::new())
                .layer(Layer::new().gzip().file("x", "y"))
                .layer(Layer::new()),
        ),
        ("no-layers", Image::new().user("1000")),
        (
            "docker-media-types",
            Image::new()
                .user("app")
                .docker_media_types()
                .layer(passwd.clone().gzip())
                .history("ADD passwd /etc/passwd", false)
                .history("USER app", true),
        ),
    ];
    for (name, image) in cases {
        let built = image.build();
        let case_dir = dir.path().join(name);
        std::fs::create_dir(&case_dir).unwrap();
        for w in write_everywhere(&case_dir, &built) {
            let run = scan_json(&w.reference, &[]);
            run.expect_code(0);
            assert_describes(
                &run.json(),
                &built,
                w.manifest_digest.as_deref(),
                &format!("{name}: {}", w.reference),
            );
        }
    }
}

#[test]
fn a_docker25_archive_without_its_oci_manifest_scans_like_a_classic_one() {
    let dir = tempfile::tempdir().unwrap();
    let built = app_image().build();
    for (name, archive) in [
        ("plain", DockerArchive::docker25()),
        ("gzipped", DockerArchive::docker25().gzipped()),
    ] {
        let file = dir.path().join(format!("{name}.tar"));
        archive
            .image(&built, &["app:1"])
            .omit_blob(&built.manifest_digest)
            .write(&file);
        let reference = format!("docker-archive:{}", text(&file));
        let run = scan_json(&reference, &[]);
        run.expect_code(0);
        assert_describes(&run.json(), &built, None, &reference);
    }
}

#[test]
fn a_digest_that_names_no_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let built = app_image().build();
    let layout = dir.path().join("layout");
    Layout::new().image(&built, &["1"]).write_dir(&layout);
    let config = format!("oci:{}@{}", text(&layout), built.config_digest);
    scan_json(&config, &[]).expect_scan_error(&config, &["is not a valid image manifest"]);
    let absent = format!("oci:{}@{}", text(&layout), sha256(b"nothing"));
    scan_json(&absent, &[]).expect_scan_error(&absent, &["is missing"]);
    let malformed = format!("oci:{}@sha256:1234", text(&layout));
    scan_json(&malformed, &[]).expect_scan_error(&malformed, &["bad digest"]);
}
