//! Hostile images: names that climb out of the root, links that point out of it, blobs that
//! lie about their digest or size, streams that stop early, metadata that points nowhere
//! or at itself, and images larger than the limits. Each must end in exit 2 with one line on
//! stderr naming the reference and the reason, never a panic, and nothing written anywhere.

mod common;

use common::builder::*;
use common::{Run, portcullis, run_command, text};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";

/// A temporary directory with a working directory inside it: anything a scan wrote through
/// a `../` name would land beside `work`, where `assert_untouched` sees it.
struct Sandbox {
    dir: tempfile::TempDir,
    work: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        Sandbox { dir, work }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Every path under the sandbox.
    fn snapshot(&self) -> BTreeSet<PathBuf> {
        fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                out.insert(p.clone());
                if p.is_dir() && !p.is_symlink() {
                    walk(&p, out);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(self.dir.path(), &mut out);
        out
    }

    /// Scans `reference` from inside `work` and checks that the sandbox did not change.
    fn scan(&self, reference: &str, extra: &[&str]) -> Run {
        let before = self.snapshot();
        let mut cmd = portcullis();
        cmd.current_dir(&self.work)
            .args(["scan", "--format", "json", reference])
            .args(extra);
        let run = run_command(&mut cmd);
        assert_eq!(self.snapshot(), before, "{reference}: the scan wrote files");
        common::assert_no_panic(&run);
        run
    }
}

/// A path outside every sandbox that a hostile absolute name points at.
fn outside(tag: &str) -> String {
    format!("/tmp/portcullis-hostile-{}-{tag}", std::process::id())
}

/// `built` as a classic archive (read at random), a gzipped Docker 25 archive (read as a
/// stream) and an OCI layout.
fn formats(sandbox: &Sandbox, name: &str, built: &Built) -> Vec<String> {
    let classic = sandbox.path(&format!("{name}.tar"));
    DockerArchive::classic()
        .image(built, &["hostile:1"])
        .write(&classic);
    let streamed = sandbox.path(&format!("{name}.tar.gz"));
    DockerArchive::docker25()
        .gzipped()
        .image(built, &["hostile:1"])
        .write(&streamed);
    let layout = sandbox.path(name);
    Layout::new().image(built, &["t"]).write_dir(&layout);
    vec![
        format!("docker-archive:{}", text(&classic)),
        format!("docker-archive:{}", text(&streamed)),
        format!("oci:{}:t", text(&layout)),
    ]
}

fn image_with(layer: Layer) -> Built {
    Image::new()
        .user("app")
        .layer(Layer::new().dir("etc").file("etc/passwd", PASSWD))
        .layer(layer)
        .build()
}

fn expect_refused(sandbox: &Sandbox, name: &str, built: &Built, reasons: &[&str]) {
    for reference in formats(sandbox, name, built) {
        sandbox
            .scan(&reference, &[])
            .expect_scan_error(&reference, reasons);
    }
}

#[test]
fn entry_names_that_climb_out_are_refused() {
    let sandbox = Sandbox::new();
    let cases: [(&str, RawEntry, &[&str]); 5] = [
        (
            "dotdot",
            RawEntry::file("../escaped", "x"),
            &["\"../escaped\" climbs above the image root"],
        ),
        (
            "deep",
            RawEntry::file("a/../../escaped", "x"),
            &["climbs above the image root"],
        ),
        (
            "dir",
            RawEntry {
                entry_type: b'5',
                ..RawEntry::file("../escaped-dir/", "")
            },
            &["climbs above the image root"],
        ),
        (
            "hardlink",
            RawEntry::hardlink("etc/shadow", "../../../../etc/shadow"),
            &["climbs above the image root"],
        ),
        (
            "absolute",
            RawEntry::file(outside("abs").as_bytes(), "x"),
            &["is absolute"],
        ),
    ];
    for (name, raw, reasons) in cases {
        let built = image_with(Layer::new().file("ok", "fine").raw_entry(raw));
        expect_refused(&sandbox, name, &built, reasons);
    }
    assert!(!Path::new(&outside("abs")).exists());
}

#[test]
fn outer_archive_names_that_climb_out_are_refused() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().file("ok", "fine"));
    for (name, raw) in [
        ("dotdot", RawEntry::file("../escaped", "x")),
        ("absolute", RawEntry::file(outside("outer").as_bytes(), "x")),
    ] {
        for gzipped in [false, true] {
            let file = sandbox.path(&format!("outer-{name}-{gzipped}.tar"));
            let mut archive = DockerArchive::classic()
                .image(&built, &["a:1"])
                .raw_entry(raw.clone());
            if gzipped {
                archive = archive.gzipped();
            }
            archive.write(&file);
            let reference = format!("docker-archive:{}", text(&file));
            sandbox
                .scan(&reference, &[])
                .expect_scan_error(&reference, &["archive entry"]);
        }
    }
    assert!(!Path::new(&outside("outer")).exists());
}

#[test]
fn manifest_paths_that_climb_out_are_refused() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().file("ok", "fine"));
    let config = format!("{}.json", hex_of(&built.config_digest));
    for (name, config_path, layer_path, reason) in [
        (
            "config",
            "../../../etc/passwd",
            "l0.tar",
            "manifest.json Config",
        ),
        (
            "layer",
            config.as_str(),
            "/etc/passwd",
            "manifest.json Layers",
        ),
    ] {
        let mut w = TarWriter::new();
        w.file(&config, &built.config);
        w.file("l0.tar", &built.layers[0].blob);
        w.file("l1.tar", &built.layers[1].blob);
        let manifest = json!([{
            "Config": config_path,
            "RepoTags": ["a:1"],
            "Layers": [layer_path, "l1.tar"],
        }]);
        w.file("manifest.json", &to_json(&manifest));
        let file = sandbox.path(&format!("manifest-{name}.tar"));
        std::fs::write(&file, w.finish()).unwrap();
        let reference = format!("docker-archive:{}", text(&file));
        sandbox
            .scan(&reference, &[])
            .expect_scan_error(&reference, &[reason]);
    }

    // A descriptor whose digest is a path.
    let layout = sandbox.path("pathdigest");
    Layout::new()
        .extra_descriptor(json!({
            "mediaType": OCI_MANIFEST,
            "digest": "sha256:../../../../etc/passwd",
            "size": 10,
            "annotations": {"org.opencontainers.image.ref.name": "t"},
        }))
        .write_dir(&layout);
    let reference = format!("oci:{}:t", text(&layout));
    sandbox
        .scan(&reference, &[])
        .expect_scan_error(&reference, &["index.json"]);
}

/// The host's first account other than root, which an image must never see.
fn host_account() -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').next())
        .find(|n| !n.is_empty() && *n != "root")
        .unwrap_or("daemon")
        .to_string()
}

#[test]
fn symlinks_out_of_the_root_resolve_inside_it() {
    let sandbox = Sandbox::new();
    let user = host_account();
    // Each link, followed on the host, would reach the host's /etc/passwd, which defines
    // `user`. Inside the image they loop back onto themselves, so there is no passwd.
    let cases = [
        (
            "relative",
            Layer::new()
                .dir("etc")
                .symlink("etc/passwd", "../../../../../../etc/passwd"),
        ),
        (
            "absolute",
            Layer::new().dir("etc").symlink("etc/passwd", "/etc/passwd"),
        ),
        (
            "dir-relative",
            Layer::new().symlink("etc", "../../../../../../etc"),
        ),
        ("dir-absolute", Layer::new().symlink("etc", "/etc")),
    ];
    for (name, layer) in cases {
        let built = Image::new().user(&user).layer(layer).build();
        for reference in formats(&sandbox, name, &built) {
            let run = sandbox.scan(&reference, &[]);
            run.expect_code(1);
            assert_eq!(
                run.family_ids("user"),
                ["user-not-found"],
                "{name}: {reference}"
            );
            let report = run.json();
            let message = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["check"] == "user-not-found")
                .unwrap()["message"]
                .clone();
            assert_eq!(
                message,
                format!("user {user:?} cannot be resolved: the image has no /etc/passwd"),
                "{name}"
            );
        }
    }

    // A link that climbs out but names a path the image has resolves to the image's file.
    let built = Image::new()
        .user("toor")
        .layer(
            Layer::new()
                .dir("etc")
                .file("etc/passwd-", "toor:x:0:0::/:/bin/sh\n")
                .symlink("etc/passwd", "../../../../etc/passwd-"),
        )
        .build();
    for reference in formats(&sandbox, "inside", &built) {
        let run = sandbox.scan(&reference, &[]);
        run.expect_code(1);
        // etc/passwd- is not a captured file, so the user reads as missing rather than as
        // root: either way the gate fails and nothing outside the image was read.
        assert!(
            matches!(
                run.family_ids("user").as_slice(),
                [id] if id == "user-uid0-alias" || id == "user-not-found"
            ),
            "{reference}: {:?}",
            run.check_ids()
        );
    }
}

#[test]
fn a_layer_whose_bytes_do_not_match_its_digest_is_refused() {
    let sandbox = Sandbox::new();
    for compression in [Compression::None, Compression::Zstd] {
        let built = Image::new()
            .user("app")
            .layer(Layer::new().dir("etc").file("etc/passwd", PASSWD))
            .layer(
                Layer::new()
                    .compression(compression)
                    .file("app", "the real bytes"),
            )
            .tamper(Tamper::LayerBytes(1))
            .build();
        let expected = &built.layers[1].digest;
        for reference in formats(&sandbox, &format!("bytes-{}", compression.as_str()), &built) {
            let run = sandbox.scan(&reference, &[]);
            if reference.contains(".tar") && !reference.contains(".tar.gz") {
                // A classic archive stores no layer digest: the diff_id catches it.
                run.expect_scan_error(&reference, &["layer 1", "diff_id: digest mismatch"]);
            } else {
                run.expect_scan_error(
                    &reference,
                    &[
                        "layer 1",
                        "digest mismatch",
                        &format!("expected {expected}"),
                    ],
                );
            }
        }
    }
}

#[test]
fn a_diff_id_that_does_not_match_is_refused() {
    let sandbox = Sandbox::new();
    let built = Image::new()
        .user("app")
        .layer(Layer::new().gzip().dir("etc").file("etc/passwd", PASSWD))
        .tamper(Tamper::DiffId(0))
        .build();
    let promised = &built.diff_ids[0];
    let actual = &built.layers[0].diff_id;
    expect_refused(
        &sandbox,
        "diffid",
        &built,
        &[
            "layer 0",
            "diff_id: digest mismatch",
            &format!("expected {promised}, got {actual}"),
        ],
    );
}

#[test]
fn a_truncated_compressed_layer_is_refused() {
    let sandbox = Sandbox::new();
    let big: String = (0..4000).map(|i| format!("line {i}\n")).collect();
    for compression in [Compression::Gzip, Compression::Zstd] {
        let built = Image::new()
            .user("app")
            .layer(Layer::new().dir("etc").file("etc/passwd", PASSWD))
            .layer(Layer::new().compression(compression).file("big", &big))
            .tamper(Tamper::TruncateLayer(1))
            .build();
        expect_refused(
            &sandbox,
            &format!("truncated-{}", compression.as_str()),
            &built,
            &["layer"],
        );
    }
}

#[test]
fn a_layer_that_is_not_a_tar_is_refused() {
    let sandbox = Sandbox::new();
    let built = image_with(
        Layer::new()
            .raw_bytes(b"#!/bin/sh\necho this is no layer\n")
            .unterminated(),
    );
    // The classic archive is indexed; its layer path holds a shell script.
    let classic = sandbox.path("script.tar");
    DockerArchive::classic()
        .image(&built, &["a:1"])
        .write(&classic);
    let layout = sandbox.path("script");
    Layout::new().image(&built, &["t"]).write_dir(&layout);
    for reference in [
        format!("docker-archive:{}", text(&classic)),
        format!("oci:{}:t", text(&layout)),
    ] {
        sandbox
            .scan(&reference, &[])
            .expect_scan_error(&reference, &["not a tar, gzip or zstd stream"]);
    }
}

#[test]
fn missing_blobs_are_refused() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().gzip().file("app", "bytes"));
    let layer = built.layers[1].digest.clone();
    for (what, digest) in [
        ("layer", layer.as_str()),
        ("config", built.config_digest.as_str()),
        ("manifest", built.manifest_digest.as_str()),
    ] {
        let layout = sandbox.path(&format!("missing-{what}"));
        Layout::new()
            .image(&built, &["t"])
            .omit_blob(digest)
            .write_dir(&layout);
        let archive = sandbox.path(&format!("missing-{what}.oci.tar"));
        Layout::new()
            .image(&built, &["t"])
            .omit_blob(digest)
            .write_archive(&archive);
        for reference in [
            format!("oci:{}:t", text(&layout)),
            format!("oci-archive:{}:t", text(&archive)),
        ] {
            sandbox
                .scan(&reference, &[])
                .expect_scan_error(&reference, &["is missing", hex_of(digest)]);
        }
    }
    for (what, digest) in [
        ("layer", layer.as_str()),
        ("config", built.config_digest.as_str()),
    ] {
        for (style, archive) in [
            ("classic", DockerArchive::classic()),
            ("docker25", DockerArchive::docker25()),
            ("gzipped", DockerArchive::docker25().gzipped()),
        ] {
            let file = sandbox.path(&format!("missing-{what}-{style}.tar"));
            archive
                .image(&built, &["a:1"])
                .omit_blob(digest)
                .write(&file);
            let reference = format!("docker-archive:{}", text(&file));
            sandbox
                .scan(&reference, &[])
                .expect_scan_error(&reference, &["is missing"]);
        }
    }
}

#[test]
fn an_index_that_lists_itself_is_refused() {
    let sandbox = Sandbox::new();
    let layout = sandbox.path("cycle");
    Layout::new()
        .self_referencing_index("loop")
        .write_dir(&layout);
    let archive = sandbox.path("cycle.oci.tar");
    Layout::new()
        .self_referencing_index("loop")
        .write_archive(&archive);
    for reference in [
        format!("oci:{}:loop", text(&layout)),
        format!("oci-archive:{}:loop", text(&archive)),
        format!("oci:{}", text(&layout)),
    ] {
        sandbox
            .scan(&reference, &[])
            .expect_scan_error(&reference, &["digest mismatch"]);
    }
}

#[test]
fn indexes_nested_too_deep_are_refused() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().file("app", "x"));
    let mut node = Node::image(&built);
    for _ in 0..12 {
        node = Node::Index(vec![node]);
    }
    let layout = sandbox.path("deep");
    Layout::new().node(node, &["deep"]).write_dir(&layout);
    let reference = format!("oci:{}:deep", text(&layout));
    sandbox
        .scan(&reference, &["--platform", "linux/amd64"])
        .expect_scan_error(&reference, &["nested deeper than 8 levels"]);
}

#[test]
fn a_manifest_with_more_layers_than_diff_ids_is_refused() {
    let sandbox = Sandbox::new();
    let built = Image::new()
        .user("app")
        .layer(Layer::new().dir("etc").file("etc/passwd", PASSWD))
        .tamper(Tamper::ExtraManifestLayer)
        .build();
    for reference in formats(&sandbox, "extra", &built) {
        sandbox
            .scan(&reference, &[])
            .expect_scan_error(&reference, &["lists 2 layers but", "lists 1 diff_ids"]);
    }
}

#[test]
fn metadata_that_is_not_json_is_refused() {
    let sandbox = Sandbox::new();
    let layout = sandbox.path("garbage");
    let garbage = b"{\"schemaVersion\": 2, \"config\": ";
    let digest = sha256(garbage);
    Layout::new()
        .extra_blob(&digest, garbage)
        .extra_descriptor(json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": garbage.len(),
            "annotations": {"org.opencontainers.image.ref.name": "t"},
        }))
        .write_dir(&layout);
    let reference = format!("oci:{}:t", text(&layout));
    sandbox
        .scan(&reference, &[])
        .expect_scan_error(&reference, &["is not a valid image manifest"]);

    let bad_index = sandbox.path("bad-index");
    std::fs::create_dir_all(&bad_index).unwrap();
    std::fs::write(bad_index.join("index.json"), "[not json").unwrap();
    let reference = format!("oci:{}", text(&bad_index));
    sandbox
        .scan(&reference, &[])
        .expect_scan_error(&reference, &["index.json is not valid JSON"]);
}

#[test]
fn a_size_header_claiming_ten_gigabytes_is_refused() {
    let sandbox = Sandbox::new();
    let ten_gb = 10u64 << 30;
    let built = image_with(
        Layer::new()
            .file("ok", "fine")
            .raw_entry(RawEntry::lying_size("huge", ten_gb, "only a few bytes"))
            .unterminated(),
    );
    // Under the default limits the stream ends long before the promised bytes.
    expect_refused(
        &sandbox,
        "tengb",
        &built,
        &[
            "layer",
            "the tar stream ends inside \"huge\", which declares 10737418240 bytes",
        ],
    );
    // With a file-size limit, the header alone is enough to refuse it.
    for reference in formats(&sandbox, "tengb-limited", &built) {
        sandbox
            .scan(&reference, &["--max-file-size", "1G"])
            .expect_scan_error(
                &reference,
                &[&format!(
                    "file \"huge\" declares {ten_gb} bytes, more than the limit of {}",
                    1u64 << 30
                )],
            );
    }
}

#[test]
fn limits_on_entries_and_sizes_are_enforced() {
    let sandbox = Sandbox::new();
    let mut many = Layer::new().gzip().dir("many");
    for i in 0..50 {
        many = many.file(&format!("many/{i}"), "x");
    }
    let compressible = "A".repeat(256 << 10);
    let built = Image::new()
        .user("app")
        .layer(Layer::new().dir("etc").file("etc/passwd", PASSWD))
        .layer(many)
        .layer(Layer::new().zstd().file("blob", &compressible))
        .build();
    for reference in formats(&sandbox, "limits", &built) {
        // Within the limits the image scans.
        sandbox
            .scan(
                &reference,
                &["--max-entries", "60", "--max-file-size", "256K"],
            )
            .expect_code(0);
        sandbox
            .scan(&reference, &["--max-entries", "20"])
            .expect_scan_error(&reference, &["more than 20 tar entries"]);
        sandbox
            .scan(&reference, &["--max-file-size", "64K"])
            .expect_scan_error(
                &reference,
                &[&format!(
                    "file \"blob\" declares {} bytes, more than the limit of {}",
                    256 << 10,
                    64 << 10
                )],
            );
        sandbox
            .scan(&reference, &["--max-uncompressed-size", "100K"])
            .expect_scan_error(
                &reference,
                &["the uncompressed image (--max-uncompressed-size) is larger than 102400 bytes"],
            );
    }
}

#[test]
fn blobs_that_are_links_out_of_the_archive_are_not_followed_out() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().file("app", "bytes"));
    let layer = built.layers[1].digest.clone();
    // In an archive, a layer entry that is a symlink climbing out resolves inside it.
    for (style, archive) in [
        ("classic", DockerArchive::classic()),
        ("gzipped", DockerArchive::classic().gzipped()),
    ] {
        let archive = archive.image(&built, &["a:1"]);
        let path = archive.layer_paths(0)[1].clone();
        let file = sandbox.path(&format!("link-{style}.tar"));
        archive
            .omit_blob(&layer)
            .raw_entry(RawEntry::symlink(&path, "../../../../../../etc/passwd"))
            .write(&file);
        let reference = format!("docker-archive:{}", text(&file));
        sandbox
            .scan(&reference, &[])
            .expect_scan_error(&reference, &["is missing"]);
    }
}

/// A blob linked to a device or a host file is never read: the link leads out of the
/// layout, and the error says so instead of reporting the host file's digest.
#[test]
fn layout_blobs_that_are_devices_or_foreign_files_fail_cleanly() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().file("app", "bytes"));
    for (name, digest, target) in [
        ("layer-zero", &built.layers[1].digest, "/dev/zero"),
        ("config-passwd", &built.config_digest, "/etc/passwd"),
        ("layer-passwd", &built.layers[1].digest, "/etc/passwd"),
    ] {
        let layout = sandbox.path(name);
        Layout::new()
            .image(&built, &["t"])
            .omit_blob(digest)
            .write_dir(&layout);
        std::os::unix::fs::symlink(target, layout.join("blobs/sha256").join(hex_of(digest)))
            .unwrap();
        let reference = format!("oci:{}:t", text(&layout));
        let run = sandbox.scan(&reference, &[]);
        run.expect_scan_error(
            &reference,
            &[
                hex_of(digest),
                "symbolic link that leads outside the layout",
            ],
        );
        assert!(!run.stderr.contains("digest mismatch"), "{}", run.stderr);
    }
}

#[test]
fn an_outer_archive_entry_claiming_ten_gigabytes_fails_cleanly() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().file("app", "x"));
    for gzipped in [false, true] {
        let file = sandbox.path(&format!("outer-huge-{gzipped}.tar"));
        let mut archive = DockerArchive::classic()
            .image(&built, &["a:1"])
            .raw_entry(RawEntry::lying_size("huge", 10 << 30, "short"));
        if gzipped {
            archive = archive.gzipped();
        }
        archive.write(&file);
        let reference = format!("docker-archive:{}", text(&file));
        let reason = if gzipped {
            "unexpected EOF"
        } else {
            "archive entry \"huge\" claims 10737418240 bytes"
        };
        sandbox
            .scan(&reference, &[])
            .expect_scan_error(&reference, &[reason]);
    }
}

/// The blobs of an OCI layout, `index.json` and `oci-layout` are read only when they are
/// regular files inside the layout: a symbolic link that leads out (to a host file or to
/// `/proc/self/environ`), a hard link shared with a file outside, a FIFO or a device is
/// refused, and the error names the layout file, never its target's content or digest.
#[test]
fn layout_files_that_lead_outside_the_layout_are_refused() {
    use std::os::unix::fs::symlink;
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().dir("app").file("app/x", "x"));
    let config = format!("blobs/sha256/{}", hex_of(&built.config_digest));
    let host = sandbox.path("host-file");
    let host_text = "a host file portcullis must not read\n";
    std::fs::write(&host, host_text).unwrap();
    let host_digest = sha256(host_text.as_bytes());

    type Tamper = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, &str, Tamper, Vec<&str>)> = vec![
        (
            "config-to-host",
            config.as_str(),
            Box::new({
                let host = host.clone();
                move |file: &Path| symlink(&host, file).unwrap()
            }),
            vec!["symbolic link that leads outside the layout"],
        ),
        (
            "config-to-proc",
            config.as_str(),
            Box::new(|file: &Path| symlink("/proc/self/environ", file).unwrap()),
            vec!["symbolic link that leads outside the layout"],
        ),
        (
            "config-climbs",
            config.as_str(),
            Box::new(|file: &Path| symlink("../../../host-file", file).unwrap()),
            vec!["symbolic link that leads outside the layout"],
        ),
        (
            "index-to-host",
            "index.json",
            Box::new({
                let host = host.clone();
                move |file: &Path| symlink(&host, file).unwrap()
            }),
            vec!["index.json", "symbolic link that leads outside the layout"],
        ),
        (
            "oci-layout-to-host",
            "oci-layout",
            Box::new({
                let host = host.clone();
                move |file: &Path| symlink(&host, file).unwrap()
            }),
            vec!["oci-layout", "symbolic link that leads outside the layout"],
        ),
        (
            "config-hard-link",
            config.as_str(),
            Box::new({
                let host = host.clone();
                move |file: &Path| std::fs::hard_link(&host, file).unwrap()
            }),
            vec!["hard link", "outside the layout"],
        ),
        (
            "config-fifo",
            config.as_str(),
            Box::new(|file: &Path| {
                let made = std::process::Command::new("mkfifo").arg(file).status();
                assert!(made.unwrap().success(), "mkfifo");
            }),
            vec!["is a FIFO, not a regular file"],
        ),
    ];
    for (name, file, tamper, reasons) in cases {
        let layout = sandbox.path(name);
        Layout::new().image(&built, &["t"]).write_dir(&layout);
        let target = layout.join(file);
        std::fs::remove_file(&target).unwrap();
        tamper(&target);
        let reference = format!("oci:{}:t", text(&layout));
        let run = sandbox.scan(&reference, &[]);
        run.expect_scan_error(&reference, &reasons);
        for leaked in [hex_of(&host_digest), host_text.trim(), "PATH="] {
            assert!(
                !run.stderr.contains(leaked),
                "{name}: the error shows what the link leads to: {}",
                run.stderr
            );
        }
        if name != "oci-layout-to-host" {
            assert!(run.stderr.contains(file), "{name}: {}", run.stderr);
        }
    }

    // A link that stays inside the layout is an ordinary layout: the blob is read.
    let layout = sandbox.path("inside");
    Layout::new().image(&built, &["t"]).write_dir(&layout);
    let blob = layout.join(&config);
    std::fs::create_dir(layout.join("store")).unwrap();
    std::fs::rename(&blob, layout.join("store/config.json")).unwrap();
    symlink("../../store/config.json", &blob).unwrap();
    let absolute = layout.join("index.json");
    std::fs::rename(&absolute, layout.join("store/index.json")).unwrap();
    symlink(
        std::fs::canonicalize(layout.join("store/index.json")).unwrap(),
        &absolute,
    )
    .unwrap();
    let reference = format!("oci:{}:t", text(&layout));
    sandbox.scan(&reference, &[]).expect_code(0);
}

/// In an OCI archive, a blob that is a FIFO or device entry is refused by name, and a
/// symbolic link whose target climbs out of the archive resolves inside it (to nothing).
#[test]
fn archive_blobs_that_are_not_files_are_refused_by_name() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().dir("app").file("app/x", "x"));
    let config = format!("blobs/sha256/{}", hex_of(&built.config_digest));
    let layout = Layout::new().image(&built, &["t"]);
    let cases: Vec<(&str, Entry, Vec<&str>)> = vec![
        (
            "fifo",
            Entry::fifo(&config),
            vec![config.as_str(), "is a FIFO, not a regular file"],
        ),
        (
            "device",
            Entry::char_device(&config, 1, 3),
            vec![config.as_str(), "is a character device, not a regular file"],
        ),
        (
            "climbing-link",
            Entry::symlink(&config, "../../../../etc/hostname"),
            vec!["is missing"],
        ),
    ];
    for (name, entry, reasons) in cases {
        let mut w = TarWriter::new();
        w.dir("blobs");
        w.dir("blobs/sha256");
        for (path, data) in layout.files() {
            if path == config {
                w.entry(&entry, LongNames::Pax);
            } else {
                w.file(&path, &data);
            }
        }
        let archive = sandbox.path(&format!("{name}.tar"));
        std::fs::write(&archive, w.finish()).unwrap();
        let reference = format!("oci-archive:{}:t", text(&archive));
        sandbox
            .scan(&reference, &[])
            .expect_scan_error(&reference, &reasons);
    }
}

// ---------------------------------------------------------------------------------------
// Bounded on any input: every case ends, promptly, with a report or a one-line exit 2.
// ---------------------------------------------------------------------------------------

/// Runs a scan of `reference` with `extra` arguments and `env`, killing it (and failing the
/// test) when it has not ended within `limit`: a hang is a failure, not a stuck suite.
fn scan_within(
    sandbox: &Sandbox,
    reference: &str,
    extra: &[&str],
    env: &[(&str, &Path)],
    limit: std::time::Duration,
) -> (Run, std::time::Duration) {
    use std::io::Read as _;
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut cmd = portcullis();
    cmd.current_dir(&sandbox.work)
        .args(["scan", "--format", "json", reference])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start portcullis");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let reader_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{reference} {extra:?}: still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&reader_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&reader_err.join().unwrap()).into_owned(),
    };
    common::assert_no_panic(&run);
    (run, elapsed)
}

const PROMPTLY: std::time::Duration = std::time::Duration::from_secs(60);

/// A limit or a refused name that fires while megabytes of the layer remain stops the
/// whole scan at once: the decompressing thread must not be left blocked on a full channel
/// while the walk waits for it (this deadlocked, at 0% CPU, forever).
#[test]
fn a_limit_firing_early_in_a_big_layer_ends_the_scan() {
    let sandbox = Sandbox::new();
    let big = vec![0u8; 24 << 20];
    let mut many = Layer::new().gzip().dir("app");
    for i in 0..20 {
        many = many.file(&format!("app/f{i}"), "x");
    }
    let many = many.file("app/big", &big);
    let long_name = Layer::new()
        .gzip()
        .file(&format!("app/{}", "n".repeat(5000)), "x")
        .file("app/big", &big);
    for (name, layer, extra, reason) in [
        (
            "entries",
            many,
            vec!["--max-entries", "10"],
            "more than 10 tar entries",
        ),
        ("long-name", long_name, vec![], "longer than 4096 bytes"),
    ] {
        let built = image_with(layer);
        let layout = sandbox.path(name);
        Layout::new().image(&built, &["t"]).write_dir(&layout);
        let reference = format!("oci:{}:t", text(&layout));
        let (run, _) = scan_within(&sandbox, &reference, &extra, &[], PROMPTLY);
        run.expect_scan_error(&reference, &[reason]);
    }
}

/// BuildKit records `RUN |N A=1 …` with N the number of build arguments: N is the image's
/// word, and a huge one must not make the history check loop N times.
#[test]
fn a_huge_build_argument_count_in_history_is_bounded_by_the_text() {
    let sandbox = Sandbox::new();
    let built = Image::new()
        .user("app")
        .history(
            "RUN |18446744073709551615 A=1 /bin/sh -c apt-get update # buildkit",
            false,
        )
        .history("RUN |1000000000 A=1 B=2 /bin/sh -c true # buildkit", false)
        .layer(Layer::new().dir("etc").file("etc/passwd", PASSWD))
        .layer(Layer::new().file("x", "x"))
        .build();
    let layout = sandbox.path("buildkit");
    Layout::new().image(&built, &["t"]).write_dir(&layout);
    let reference = format!("oci:{}:t", text(&layout));
    let (run, _) = scan_within(&sandbox, &reference, &["--exit-code", "0"], &[], PROMPTLY);
    run.expect_code(0);
    assert!(
        run.check_ids()
            .contains(&"config-apt-update-alone".to_string())
    );
}

/// A `docker save | gzip` stream is read once; every layer-like blob is scanned as it
/// passes, before the manifest says which ones count. Thousands of unreferenced blobs must
/// end in a clean refusal, not one thread each until spawning fails.
#[test]
fn an_archive_of_countless_layer_like_blobs_is_refused() {
    let sandbox = Sandbox::new();
    let built = image_with(Layer::new().file("app", "x"));
    let empty_layer = gzip(&[0u8; 1024]);
    let mut archive = DockerArchive::docker25().gzipped().image(&built, &["a:1"]);
    for i in 0..16_500 {
        archive = archive.raw_entry(RawEntry::file(format!("junk/{i}"), &empty_layer));
    }
    let file = sandbox.path("junk.tar.gz");
    archive.write(&file);
    let reference = format!("docker-archive:{}", text(&file));
    // 16,384 tiny scans, one by one: minutes of a debug build on a busy machine at worst,
    // where the unbounded version aborted.
    let (run, _) = scan_within(
        &sandbox,
        &reference,
        &[],
        &[],
        std::time::Duration::from_secs(600),
    );
    run.expect_scan_error(&reference, &["more than 16384 layer-like blobs"]);
}

/// An `rpmdb.sqlite` whose `Packages` is a view over a recursive query would run forever
/// and spill gigabytes into $TMPDIR: it is refused, nothing is written, the scan ends.
#[test]
fn an_rpm_sqlite_database_with_a_recursive_view_is_refused() {
    let sandbox = Sandbox::new();
    let db = {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIEW Packages AS WITH RECURSIVE r(hnum, blob) AS \
             (SELECT 1, zeroblob(1000) UNION ALL SELECT hnum + 1, blob FROM r) \
             SELECT hnum, blob FROM r ORDER BY blob",
        )
        .unwrap();
        conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec()
    };
    let built = image_with(
        Layer::new()
            .dir("usr/lib/sysimage/rpm")
            .file("usr/lib/sysimage/rpm/rpmdb.sqlite", &db),
    );
    let layout = sandbox.path("rpmdb");
    Layout::new().image(&built, &["t"]).write_dir(&layout);
    let tmp = sandbox.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let reference = format!("oci:{}:t", text(&layout));
    let (run, _) = scan_within(
        &sandbox,
        &reference,
        &["--exit-code", "0", "--no-cache"],
        &[("TMPDIR", &tmp)],
        PROMPTLY,
    );
    run.expect_code(0);
    assert!(
        run.stdout.contains("not a table"),
        "no diagnostic says the view was refused:\n{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "files left in TMPDIR"
    );
}

/// One long line of near-matches costs the secret engine time linear in its length: a
/// 2 MiB line takes at most ten times the linear expectation from a 128 KiB line of the
/// same text (it was quadratic: a 1 MiB line of `password=` pairs took half a minute).
#[test]
fn a_long_line_of_near_matches_costs_linear_time() {
    let sandbox = Sandbox::new();
    const SMALL: usize = 128 << 10;
    const BIG: usize = 2 << 20;
    let time = |name: &str, unit: &str, len: usize| -> std::time::Duration {
        let line = unit.repeat(len / unit.len());
        let built = image_with(Layer::new().dir("app").file("app/one-line.txt", &line));
        let layout = sandbox.path(&format!("line-{name}-{len}"));
        Layout::new().image(&built, &["t"]).write_dir(&layout);
        let reference = format!("oci:{}:t", text(&layout));
        let (run, elapsed) = scan_within(
            &sandbox,
            &reference,
            &["--exit-code", "0", "--no-cache"],
            &[],
            std::time::Duration::from_secs(120),
        );
        run.expect_code(0);
        elapsed
    };
    for (name, unit) in [
        ("aws", "AKIAIOSFODNN7EXAMPLE "),
        ("password", "password=hunter2x "),
        ("github", "ghp_notatoken "),
    ] {
        let small = time(name, unit, SMALL);
        let big = time(name, unit, BIG);
        let linear = small * (BIG / SMALL) as u32;
        assert!(
            big < linear * 10,
            "{name}: {big:?} for {BIG} bytes, {small:?} for {SMALL}: worse than linear"
        );
    }
}

/// A GNU sparse file declares its real size; the holes are not in the stream. Terabytes of
/// holes from a few bytes are counted against --max-uncompressed-size and never scanned.
#[test]
fn sparse_holes_count_against_the_limit_and_are_not_scanned() {
    let sandbox = Sandbox::new();
    let sparse = |real: u64| -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.set_path("app/holes").unwrap();
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::GNUSparse);
        header.set_size(512);
        let gnu = header.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(real - 512);
        gnu.sparse[0].set_length(512);
        gnu.set_real_size(real);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(&[b'x'; 512]);
        bytes
    };
    // 6 TB of holes: over the default uncompressed-size limit.
    let huge = image_with(Layer::new().gzip().dir("app").raw_bytes(sparse(6 << 40)));
    let layout = sandbox.path("sparse-huge");
    Layout::new().image(&huge, &["t"]).write_dir(&layout);
    let reference = format!("oci:{}:t", text(&layout));
    let (run, _) = scan_within(
        &sandbox,
        &reference,
        &["--max-file-size", "10T"],
        &[],
        PROMPTLY,
    );
    run.expect_scan_error(&reference, &["--max-uncompressed-size"]);

    // 1 GiB of holes under the limits: a note, no 1 GiB of zeros read.
    let small = image_with(Layer::new().gzip().dir("app").raw_bytes(sparse(1 << 30)));
    let layout = sandbox.path("sparse-small");
    Layout::new().image(&small, &["t"]).write_dir(&layout);
    let reference = format!("oci:{}:t", text(&layout));
    let (run, elapsed) = scan_within(&sandbox, &reference, &["--exit-code", "0"], &[], PROMPTLY);
    run.expect_code(0);
    assert!(run.stdout.contains("sparse file"), "{}", run.stdout);
    assert!(elapsed < std::time::Duration::from_secs(20), "{elapsed:?}");
}

/// A FIFO (or socket, or device) given as the image is refused at once: opening a FIFO
/// would wait for a writer forever.
#[test]
fn a_fifo_as_the_image_path_is_refused_at_once() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.path("image.tar");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for reference in [
        text(&fifo).to_string(),
        format!("docker-archive:{}", text(&fifo)),
        format!("oci-archive:{}", text(&fifo)),
    ] {
        let (run, _) = scan_within(&sandbox, &reference, &[], &[], PROMPTLY);
        run.expect_scan_error(&reference, &["is a FIFO"]);
    }
    let (run, _) = scan_within(&sandbox, "/dev/zero", &[], &[], PROMPTLY);
    run.expect_scan_error("/dev/zero", &["is a character device"]);
}

/// Lists of a config are counted before it is parsed: a million history entries are
/// refused by count, not after a gigabyte of parsed structures; a symlink target longer
/// than PATH_MAX is refused before it is kept.
#[test]
fn config_lists_and_link_targets_are_bounded() {
    let sandbox = Sandbox::new();
    let built = Image::new()
        .user("app")
        .config_field(
            "history",
            serde_json::Value::Array(vec![json!({}); 1_000_000]),
        )
        .layer(Layer::new().dir("etc").file("etc/passwd", PASSWD))
        .build();
    let layout = sandbox.path("history");
    Layout::new().image(&built, &["t"]).write_dir(&layout);
    let reference = format!("oci:{}:t", text(&layout));
    let (run, _) = scan_within(&sandbox, &reference, &[], &[], PROMPTLY);
    run.expect_scan_error(
        &reference,
        &[
            "lists 1000000 entries in history",
            "more than the 10000 allowed",
        ],
    );

    let long = image_with(
        Layer::new()
            .dir("app")
            .symlink("app/link", &"t/".repeat(3000)),
    );
    let layout = sandbox.path("long-link");
    Layout::new().image(&long, &["t"]).write_dir(&layout);
    let reference = format!("oci:{}:t", text(&layout));
    let (run, _) = scan_within(&sandbox, &reference, &[], &[], PROMPTLY);
    run.expect_scan_error(&reference, &["symlink", "longer than 4096"]);
}

/// Linux ids are 32-bit; a header claiming more (2^32 would be root once an extractor drops
/// the high bits) is refused, not guessed at.
#[test]
fn owner_ids_beyond_32_bits_are_refused() {
    let sandbox = Sandbox::new();
    let cases: [(&str, u64, u64, &[&str]); 2] = [
        (
            "uid",
            1 << 32,
            0,
            &["\"app/tool\" is owned by uid 4294967296", "32-bit ids"],
        ),
        (
            "gid",
            0,
            u64::MAX >> 1,
            &["is owned by gid 9223372036854775807"],
        ),
    ];
    for (name, uid, gid, reasons) in cases {
        let built = image_with(
            Layer::new()
                .dir("app")
                .file_with("app/tool", "x", 0o4755, uid, gid),
        );
        expect_refused(&sandbox, name, &built, reasons);
    }
}

/// `--timeout` ends any run with exit 2 and one line naming the stage that ran out: here a
/// registry that accepts connections and never answers.
#[test]
fn a_registry_that_never_answers_is_cut_off_by_the_timeout() {
    let sandbox = Sandbox::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let reference = format!("docker://127.0.0.1:{port}/silent/app:1");
    let (run, elapsed) = scan_within(
        &sandbox,
        &reference,
        &["--insecure", "--quiet", "--timeout", "3s"],
        &[],
        PROMPTLY,
    );
    run.expect_scan_error(
        &reference,
        &[
            "ran out of time after 3s (--timeout)",
            "while reading the image",
        ],
    );
    assert!(elapsed < std::time::Duration::from_secs(15), "{elapsed:?}");
}

/// A GNU long name or PAX header is held whole by the tar reader: one that claims more than
/// 1 MiB is refused at its header, before its bytes are read (a 1 GB long name cost a
/// gigabyte of memory before the name-length check could see it).
#[test]
fn oversized_long_names_and_pax_headers_are_refused_at_their_header() {
    let sandbox = Sandbox::new();
    for (kind, what) in [(b'L', "GNU long name"), (b'x', "PAX header")] {
        let mut header = tar::Header::new_gnu();
        header.set_path("././@LongLink").unwrap();
        header.set_entry_type(tar::EntryType::new(kind));
        header.set_size(1 << 30);
        header.set_mode(0o644);
        header.set_cksum();
        let mut raw = header.as_bytes().to_vec();
        raw.extend_from_slice(&vec![b'n'; 64 << 10]);
        let built = image_with(Layer::new().gzip().raw_bytes(raw));
        let layout = sandbox.path(&format!("long-{}", kind as char));
        Layout::new().image(&built, &["t"]).write_dir(&layout);
        let reference = format!("oci:{}:t", text(&layout));
        let (run, _) = scan_within(&sandbox, &reference, &[], &[], PROMPTLY);
        run.expect_scan_error(
            &reference,
            &[what, "1073741824 bytes", "more than the 1048576"],
        );
    }
}

/// Every input a fuzz target found something with is kept under `fuzz/regressions/TARGET/`
/// and scanned here the way that target reads it: each must end promptly with a verdict
/// or a clean exit 2, never a panic.
#[test]
fn fuzz_regressions_end_cleanly() {
    let sandbox = Sandbox::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut seen = 0;
    for (target, transport) in [("archive_stream", "docker-archive")] {
        let Ok(inputs) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for input in inputs {
            let input = input.unwrap().path();
            let copy = sandbox.path(&format!("{target}-{seen}.tar"));
            std::fs::copy(&input, &copy).unwrap();
            let reference = format!("{transport}:{}", text(&copy));
            let (run, _) = scan_within(&sandbox, &reference, &["--exit-code", "0"], &[], PROMPTLY);
            assert!(
                run.code == 0 || run.code == 2,
                "{}: exit {}\n{}",
                input.display(),
                run.code,
                run.stderr
            );
            seen += 1;
        }
    }
    assert!(
        seen > 0,
        "no fuzz regression inputs under {}",
        root.display()
    );
}
