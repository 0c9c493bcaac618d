//! The image builder writes what real tools accept: tar streams GNU tar and tar-rs read the
//! same way, layouts and archives skopeo inspects and copies, layouts umoci unpacks. Tools
//! that are not installed are skipped with a message (a failure when `CI` is set).

mod common;

use common::builder::*;
use common::{have_tool, scan_json, text};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::Command;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";

fn long_name(prefix: &str) -> String {
    format!("{prefix}/{}/file.txt", "d".repeat(120))
}

fn sample_layer() -> Layer {
    Layer::new()
        .dir("etc")
        .file("etc/passwd", PASSWD)
        .file_with("usr/bin/su", b"\x7fELF", 0o4755, 0, 0)
        .dir_with("tmp", 0o1777, 0, 0)
        .symlink("bin", "usr/bin")
        .hardlink("etc/passwd-", "etc/passwd")
        .char_device("dev/null", 1, 3)
        .block_device("dev/sda", 8, 0)
        .fifo("run/fifo")
        .entry(Entry::file(&long_name("pax"), "pax").long_names(LongNames::Pax))
        .entry(Entry::file(&long_name("gnu"), "gnu").long_names(LongNames::Gnu))
        .entry(Entry::symlink("long-link", &long_name("target")).long_names(LongNames::Gnu))
        .entry(Entry::hardlink(&long_name("hard"), &long_name("pax")).long_names(LongNames::Pax))
}

fn sample_image() -> Image {
    Image::new()
        .user("app")
        .env("LANG=C.UTF-8")
        .label("org.opencontainers.image.title", "sample")
        .entrypoint(&["/bin/sh", "-c"])
        .cmd(&["echo hi"])
        .expose("8080/tcp")
        .volume("/data")
        .workdir("/home/app")
        .healthcheck(&["CMD", "true"])
        .history("ADD rootfs.tar / # buildkit", false)
        .history("USER app", true)
        .history("RUN rm /etc/secret # buildkit", false)
        .layer(
            sample_layer()
                .gzip()
                .file("etc/secret", "s3cr3t")
                .dir("var/cache"),
        )
        .layer(Layer::new().whiteout("etc/secret").opaque("var/cache"))
}

fn tool(name: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tool_ok(name: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = tool(name, args);
    assert!(ok, "{name} {args:?} failed:\n{stderr}");
    stdout
}

#[test]
fn layers_read_back_with_tar_rs_including_long_names_devices_and_modes() {
    let tar = sample_layer().tar();
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let h = entry.header().clone();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8(l.into_owned()).unwrap());
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        seen.push((path, h, link, content));
    }
    let find = |p: &str| {
        seen.iter()
            .find(|(path, ..)| path.trim_end_matches('/') == p)
            .unwrap_or_else(|| {
                panic!(
                    "{p} missing from {:?}",
                    seen.iter().map(|s| &s.0).collect::<Vec<_>>()
                )
            })
    };
    assert_eq!(find("etc/passwd").3, PASSWD);
    assert_eq!(find("usr/bin/su").1.mode().unwrap(), 0o4755);
    assert_eq!(find("tmp").1.mode().unwrap(), 0o1777);
    assert_eq!(find("tmp").1.entry_type(), tar::EntryType::Directory);
    assert_eq!(find("bin").2.as_deref(), Some("usr/bin"));
    assert_eq!(find("etc/passwd-").1.entry_type(), tar::EntryType::Link);
    assert_eq!(find("dev/null").1.device_major().unwrap(), Some(1));
    assert_eq!(find("dev/null").1.device_minor().unwrap(), Some(3));
    assert_eq!(find("dev/sda").1.entry_type(), tar::EntryType::Block);
    assert_eq!(find("run/fifo").1.entry_type(), tar::EntryType::Fifo);
    assert_eq!(find(&long_name("pax")).3, "pax");
    assert_eq!(find(&long_name("gnu")).3, "gnu");
    assert_eq!(
        find("long-link").2.as_deref(),
        Some(long_name("target").as_str())
    );
    // Long names are extension records, not ustar prefix splits.
    assert!(tar.windows(13).any(|w| w == b"././@LongLink"));
    assert!(tar.windows(9).any(|w| w == b"PaxHeader"));
}

#[test]
fn layers_read_back_with_gnu_tar() {
    if !have_tool("tar") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("layer.tar");
    std::fs::write(&file, sample_layer().tar()).unwrap();
    let listing = tool_ok("tar", &["--numeric-owner", "-tvf", text(&file)]);
    assert!(listing.contains(&long_name("pax")), "{listing}");
    assert!(listing.contains(&long_name("gnu")), "{listing}");
    assert!(listing.contains(&format!("long-link -> {}", long_name("target"))));
    assert!(listing.contains("-rwsr-xr-x 0/0"), "{listing}");
    assert!(listing.contains("drwxrwxrwt 0/0"), "{listing}");
    assert!(listing.contains("crw-rw-rw- 0/0"), "{listing}");
    assert!(
        listing.contains("etc/passwd- link to etc/passwd"),
        "{listing}"
    );
}

#[test]
fn compressed_blobs_decompress_to_the_diff_id_and_the_config_lists_them() {
    for compression in Compression::ALL {
        let built = Image::new()
            .layer(Layer::new().compression(compression).file("a", "b"))
            .build();
        let layer = &built.layers[0];
        assert_eq!(layer.digest, sha256(&layer.blob));
        assert_eq!(layer.size, layer.blob.len() as u64);
        let mut tar = Vec::new();
        match compression {
            Compression::None => tar = layer.blob.clone(),
            Compression::Gzip => {
                flate2::read::GzDecoder::new(layer.blob.as_slice())
                    .read_to_end(&mut tar)
                    .unwrap();
            }
            Compression::Zstd => tar = zstd::decode_all(layer.blob.as_slice()).unwrap(),
        }
        assert_eq!(sha256(&tar), layer.diff_id);
        let config: Value = serde_json::from_slice(&built.config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.diff_id.as_str());
        let manifest: Value = serde_json::from_slice(&built.manifest).unwrap();
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            compression.oci_media_type()
        );
        assert_eq!(manifest["config"]["digest"], built.config_digest.as_str());
        assert_eq!(built.manifest_digest, sha256(&built.manifest));
    }
}

#[test]
fn raw_entries_keep_hostile_names_verbatim() {
    let tar = Layer::new()
        .raw_entry(RawEntry::file("../escape", "x"))
        .raw_entry(RawEntry::file("/abs", "y"))
        .tar();
    assert_eq!(&tar[..9], b"../escape");
    assert_eq!(&tar[1024..1028], b"/abs");
    let lying = RawEntry::lying_size("big", 10 << 30, "short").encode();
    let header = tar::Header::from_byte_slice(&lying[..512]);
    assert_eq!(header.size().unwrap(), 10 << 30);
    assert_eq!(lying.len(), 512 + 5);
}

#[test]
fn skopeo_reads_oci_layouts_and_archives_byte_for_byte() {
    if !have_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let built = sample_image().build();
    let layout = dir.path().join("layout");
    Layout::new().image(&built, &["v1"]).write_dir(&layout);
    let reference = format!("oci:{}:v1", text(&layout));
    let raw = tool_ok("skopeo", &["inspect", "--raw", &reference]);
    assert_eq!(raw.as_bytes(), built.manifest.as_slice());
    let config = tool_ok("skopeo", &["inspect", "--config", "--raw", &reference]);
    assert_eq!(config.as_bytes(), built.config.as_slice());
    let info: Value = serde_json::from_str(&tool_ok("skopeo", &["inspect", &reference])).unwrap();
    assert_eq!(info["Digest"], built.manifest_digest.as_str());
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Labels"]["org.opencontainers.image.title"], "sample");
    assert!(
        info["Env"]
            .as_array()
            .unwrap()
            .contains(&Value::from("LANG=C.UTF-8")),
        "{info}"
    );
    let layers: Vec<&str> = info["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = built.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(layers, expected);

    let archive = dir.path().join("image.oci.tar");
    Layout::new().image(&built, &["v1"]).write_archive(&archive);
    let raw = tool_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}:v1", text(&archive)),
        ],
    );
    assert_eq!(raw.as_bytes(), built.manifest.as_slice());
}

#[test]
fn skopeo_reads_every_docker_archive_style() {
    if !have_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .user("app")
        .layer(Layer::new().dir("etc").file("etc/passwd", PASSWD))
        .layer(Layer::new().gzip().file("app", "binary"))
        .build();
    let styles = [
        ("classic", DockerArchive::classic()),
        ("docker25", DockerArchive::docker25()),
        ("classic-gz", DockerArchive::classic().gzipped()),
        ("docker25-gz", DockerArchive::docker25().gzipped()),
    ];
    for (name, archive) in styles {
        let mut file = dir.path().join(format!("{name}.tar"));
        let archive = archive.image(&built, &["app:1"]);
        archive.write(&file);
        if name.ends_with("-gz") {
            // skopeo (1.9) reads only uncompressed archives: check the gzip wrapping here and
            // what it wraps with skopeo.
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap())
                .read_to_end(&mut tar)
                .unwrap();
            file = dir.path().join(format!("{name}-gunzipped.tar"));
            std::fs::write(&file, tar).unwrap();
        }
        let reference = format!("docker-archive:{}", text(&file));
        let info: Value =
            serde_json::from_str(&tool_ok("skopeo", &["inspect", &reference])).unwrap();
        assert_eq!(info["RepoTags"], serde_json::json!([]), "{name}");
        let layers: Vec<&str> = info["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(layers, built.diff_ids, "{name}");
        let config = tool_ok("skopeo", &["inspect", "--config", "--raw", &reference]);
        assert_eq!(config.as_bytes(), built.config.as_slice(), "{name}");
    }
}

/// Copies with skopeo and scans the copy: the image skopeo wrote must be the builder's.
#[test]
fn skopeo_copies_between_formats_and_portcullis_reads_the_copies() {
    if !have_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .user("app")
        .layer(Layer::new().gzip().dir("etc").file("etc/passwd", PASSWD))
        .layer(Layer::new().zstd().file("app", "binary"))
        .build();
    let archive = dir.path().join("app.tar");
    DockerArchive::docker25()
        .image(&built, &["app:1"])
        .write(&archive);
    let layout = dir.path().join("copied");
    tool_ok(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!("docker-archive:{}", text(&archive)),
            &format!("oci:{}:copied", text(&layout)),
        ],
    );
    let back = dir.path().join("back.tar");
    tool_ok(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!("oci:{}:copied", text(&layout)),
            &format!("docker-archive:{}:app:2", text(&back)),
        ],
    );
    for reference in [
        format!("oci:{}:copied", text(&layout)),
        format!("docker-archive:{}", text(&back)),
    ] {
        let run = scan_json(&reference, &[]);
        run.expect_code(0);
        let report = run.json();
        let diff_ids: Vec<&str> = report["image"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["diff_id"].as_str().unwrap())
            .collect();
        assert_eq!(diff_ids, built.diff_ids, "{reference}");
        assert_eq!(report["image"]["user"], "app");
    }
}

#[test]
fn skopeo_picks_platforms_from_a_multi_platform_index() {
    if !have_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let amd = Image::new()
        .layer(Layer::new().file("arch", "amd64"))
        .build();
    let arm = Image::new()
        .platform("linux/arm64/v8")
        .layer(Layer::new().file("arch", "arm64"))
        .build();
    let layout = dir.path().join("multi");
    Layout::new()
        .index(&[&amd, &arm], &["multi"])
        .write_dir(&layout);
    let reference = format!("oci:{}:multi", text(&layout));
    let raw: Value =
        serde_json::from_str(&tool_ok("skopeo", &["inspect", "--raw", &reference])).unwrap();
    assert_eq!(raw["mediaType"], OCI_INDEX);
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    let info: Value = serde_json::from_str(&tool_ok(
        "skopeo",
        &["--override-arch", "arm64", "inspect", &reference],
    ))
    .unwrap();
    // skopeo reports the index digest, and the chosen image's architecture and layers.
    assert_eq!(
        info["Digest"],
        Node::Index(vec![Node::image(&amd), Node::image(&arm)]).digest()
    );
    assert_eq!(info["Architecture"], "arm64");
    assert_eq!(info["Layers"][0], arm.layers[0].digest.as_str());
}

#[test]
fn skopeo_refuses_what_the_tamper_hooks_break() {
    if !have_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layer = || Layer::new().file("etc/motd", "hello");
    let cases = [
        (
            "bytes",
            Image::new().layer(layer()).tamper(Tamper::LayerBytes(0)),
        ),
        (
            "diffid",
            Image::new().layer(layer()).tamper(Tamper::DiffId(0)),
        ),
    ];
    for (name, image) in cases {
        let built = image.build();
        let layout = dir.path().join(name);
        Layout::new().image(&built, &["t"]).write_dir(&layout);
        let (ok, _, stderr) = tool(
            "skopeo",
            &[
                "copy",
                "--quiet",
                &format!("oci:{}:t", text(&layout)),
                &format!("dir:{}", text(&dir.path().join(format!("{name}-out")))),
            ],
        );
        if name == "bytes" {
            assert!(!ok, "skopeo accepted a layer whose bytes do not match");
            assert!(stderr.to_lowercase().contains("digest"), "{stderr}");
        } else {
            // skopeo copies blobs without recomputing diff_ids; umoci (below) checks them.
            let _ = (ok, stderr);
        }
    }
    let built = Image::new().layer(layer()).build();
    let layout = dir.path().join("missing");
    Layout::new()
        .image(&built, &["t"])
        .omit_blob(&built.layers[0].digest)
        .write_dir(&layout);
    let (ok, _, stderr) = tool(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!("oci:{}:t", text(&layout)),
            &format!("dir:{}", text(&dir.path().join("missing-out"))),
        ],
    );
    assert!(!ok, "skopeo copied a layout with a missing blob");
    assert!(stderr.contains(hex_of(&built.layers[0].digest)), "{stderr}");
}

fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> (bool, String) {
    let (ok, _, stderr) = tool(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:{tag}", text(layout)),
            text(bundle),
        ],
    );
    (ok, stderr)
}

#[test]
fn umoci_unpacks_layouts_applying_whiteouts() {
    if !have_tool("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let built = sample_image().build();
    let layout = dir.path().join("layout");
    Layout::new().image(&built, &["v1"]).write_dir(&layout);
    let stat = tool_ok(
        "umoci",
        &[
            "stat",
            "--json",
            "--image",
            &format!("{}:v1", text(&layout)),
        ],
    );
    let stat: Value = serde_json::from_str(&stat).unwrap();
    assert_eq!(stat["history"].as_array().unwrap().len(), 3);

    let bundle = dir.path().join("bundle");
    let (ok, stderr) = umoci_unpack(&layout, "v1", &bundle);
    assert!(ok, "umoci unpack failed:\n{stderr}");
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap(),
        PASSWD
    );
    assert!(!rootfs.join("etc/secret").exists(), "whiteout not applied");
    assert!(rootfs.join("var/cache").is_dir());
    assert_eq!(
        std::fs::read_dir(rootfs.join("var/cache")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join(long_name("gnu"))).unwrap(),
        "gnu"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join(long_name("hard"))).unwrap(),
        "pax"
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("long-link")).unwrap(),
        Path::new(&long_name("target"))
    );
}

#[test]
fn umoci_refuses_a_diff_id_mismatch() {
    if !have_tool("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .layer(Layer::new().file("etc/motd", "hello"))
        .tamper(Tamper::DiffId(0))
        .build();
    let layout = dir.path().join("layout");
    Layout::new().image(&built, &["t"]).write_dir(&layout);
    let (ok, stderr) = umoci_unpack(&layout, "t", &dir.path().join("bundle"));
    assert!(!ok, "umoci unpacked a layer whose diff_id is wrong");
    assert!(stderr.to_lowercase().contains("diffid"), "{stderr}");
}

#[test]
fn configs_parse_as_oci_image_configurations() {
    use oci_spec::image::{ImageConfiguration, ImageManifest};
    let built = sample_image().platform("linux/arm/v7").build();
    let config: ImageConfiguration = serde_json::from_slice(&built.config).unwrap();
    assert_eq!(config.os().to_string(), "linux");
    assert_eq!(config.architecture().to_string(), "arm");
    assert_eq!(config.variant().as_deref(), Some("v7"));
    assert_eq!(config.rootfs().diff_ids(), &built.diff_ids);
    let c = config.config().as_ref().unwrap();
    assert_eq!(c.user().as_deref(), Some("app"));
    assert!(
        c.env()
            .as_ref()
            .unwrap()
            .contains(&"LANG=C.UTF-8".to_string())
    );
    assert_eq!(c.entrypoint().as_ref().unwrap(), &["/bin/sh", "-c"]);
    assert_eq!(c.cmd().as_ref().unwrap(), &["echo hi"]);
    assert_eq!(c.exposed_ports().as_ref().unwrap(), &["8080/tcp"]);
    assert_eq!(c.volumes().as_ref().unwrap(), &["/data"]);
    assert_eq!(c.working_dir().as_deref(), Some("/home/app"));
    assert_eq!(
        c.labels().as_ref().unwrap()["org.opencontainers.image.title"],
        "sample"
    );
    let history = config.history().as_ref().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[1].empty_layer(), Some(true));
    assert_eq!(history[1].created_by().as_deref(), Some("USER app"));
    let raw: Value = serde_json::from_slice(&built.config).unwrap();
    assert_eq!(
        raw["config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "true"])
    );

    let manifest: ImageManifest = serde_json::from_slice(&built.manifest).unwrap();
    assert_eq!(manifest.layers().len(), 2);
    assert_eq!(manifest.config().digest().to_string(), built.config_digest);
}
