//! Whiteouts and overwrites across layers, observed end to end: the user check reads the
//! /etc/passwd of the final filesystem, and the report counts each layer's entries
//! (whiteout markers excluded).

mod common;

use common::builder::*;
use common::{corpus, scan_json, text};
use std::path::Path;

/// Maps `app` to an unprivileged uid.
const APP_1000: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
/// Maps `app` to uid 0.
const APP_0: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:0:0::/root:/bin/sh\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\n";

/// Layer 0 of every case: /etc with a passwd that maps `app` to 1000.
fn base() -> Layer {
    Layer::new()
        .gzip()
        .dir("etc")
        .file("etc/passwd", APP_1000)
        .file("etc/passwd-", APP_1000)
        .file("etc/group", GROUP)
        .file_with("etc/shadow", "root:!::0:::::\napp:!::0:::::\n", 0o640, 0, 0)
        .dir("usr")
        .file("usr/readme", "hi")
}

struct Case {
    name: &'static str,
    upper: Vec<Layer>,
    checks: &'static [&'static str],
    /// A phrase the (single) finding's message holds.
    message: &'static str,
}

fn cases() -> Vec<Case> {
    let not_found = &["user-not-found"][..];
    let alias = &["user-uid0-alias"][..];
    let none = &[][..];
    vec![
        Case {
            name: "file whiteout",
            upper: vec![Layer::new().whiteout("etc/passwd")],
            checks: not_found,
            message: "the image has no /etc/passwd",
        },
        Case {
            name: "directory whiteout",
            upper: vec![Layer::new().whiteout("etc")],
            checks: not_found,
            message: "the image has no /etc/passwd",
        },
        Case {
            name: "opaque directory without passwd",
            upper: vec![
                Layer::new()
                    .dir("etc")
                    .opaque("etc")
                    .file("etc/group", GROUP),
            ],
            checks: not_found,
            message: "the image has no /etc/passwd",
        },
        Case {
            name: "opaque directory with a new passwd",
            upper: vec![
                Layer::new()
                    .dir("etc")
                    .opaque("etc")
                    .file("etc/passwd", APP_0),
            ],
            checks: alias,
            message: "maps to uid 0 (line 2)",
        },
        Case {
            name: "opaque directory elsewhere",
            upper: vec![Layer::new().dir("usr").opaque("usr")],
            checks: none,
            message: "",
        },
        Case {
            name: "passwd overwritten by a later layer",
            upper: vec![Layer::new().zstd().file("etc/passwd", APP_0)],
            checks: alias,
            message: "maps to uid 0",
        },
        Case {
            name: "file replaced by a directory",
            upper: vec![Layer::new().dir("etc/passwd").file("etc/passwd/app", APP_0)],
            checks: not_found,
            message: "the image has no /etc/passwd",
        },
        Case {
            name: "directory replaced by a file",
            upper: vec![Layer::new().file("etc", "not a directory")],
            checks: not_found,
            message: "the image has no /etc/passwd",
        },
        Case {
            name: "directory replaced by a file, then recreated",
            upper: vec![
                Layer::new().file("etc", "not a directory"),
                Layer::new().dir("etc").file("etc/passwd", APP_0),
            ],
            checks: alias,
            message: "maps to uid 0",
        },
        Case {
            name: "whiteout then recreated in a later layer",
            upper: vec![
                Layer::new().whiteout("etc/passwd"),
                Layer::new().file("etc/passwd", APP_0),
            ],
            checks: alias,
            message: "maps to uid 0",
        },
        Case {
            name: "whiteout and recreation in one layer",
            upper: vec![
                Layer::new()
                    .whiteout("etc/passwd")
                    .file("etc/passwd", APP_0),
            ],
            checks: alias,
            message: "maps to uid 0",
        },
        Case {
            name: "directory whiteout then a directory without passwd",
            upper: vec![
                Layer::new().whiteout("etc"),
                Layer::new().dir("etc").file("etc/group", GROUP),
            ],
            checks: not_found,
            message: "the image has no /etc/passwd",
        },
        Case {
            name: "whiteout of a sibling with a similar name",
            upper: vec![Layer::new().whiteout("etc/passwd-").whiteout("etc/shadow")],
            checks: none,
            message: "",
        },
        Case {
            name: "a uid 0 passwd replaced by a proper one",
            upper: vec![
                Layer::new().file("etc/passwd", APP_0),
                Layer::new().file("etc/passwd", APP_1000),
            ],
            checks: none,
            message: "",
        },
    ]
}

fn references(dir: &Path, n: usize, built: &Built) -> Vec<String> {
    let archive = dir.join(format!("case{n}.tar"));
    DockerArchive::classic()
        .image(built, &["case:1"])
        .write(&archive);
    let streamed = dir.join(format!("case{n}.tar.gz"));
    DockerArchive::docker25()
        .gzipped()
        .image(built, &["case:1"])
        .write(&streamed);
    let layout = dir.join(format!("case{n}"));
    Layout::new().image(built, &["case"]).write_dir(&layout);
    vec![
        format!("docker-archive:{}", text(&archive)),
        format!("docker-archive:{}", text(&streamed)),
        format!("oci:{}:case", text(&layout)),
    ]
}

#[test]
fn the_final_layer_decides_what_passwd_says() {
    let dir = tempfile::tempdir().unwrap();
    for (n, case) in cases().into_iter().enumerate() {
        let mut image = Image::new().user("app").layer(base());
        for layer in case.upper {
            image = image.layer(layer);
        }
        let built = image.build();
        for reference in references(dir.path(), n, &built) {
            let what = format!("{} ({reference})", case.name);
            let run = scan_json(&reference, &[]);
            let expected_code = if case.checks.is_empty() { 0 } else { 1 };
            assert_eq!(
                run.code, expected_code,
                "{what}: {}\n{}",
                run.stderr, run.stdout
            );
            assert_eq!(run.family_ids("user"), case.checks, "{what}");
            let report = run.json();
            if !case.message.is_empty() {
                let message = report["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["check"].as_str().unwrap().starts_with("user-"))
                    .unwrap()["message"]
                    .as_str()
                    .unwrap();
                assert!(message.contains(case.message), "{what}: {message}");
            }
            let layers = report["image"]["layers"].as_array().unwrap();
            let counts: Vec<u64> = layers
                .iter()
                .map(|l| l["entries"].as_u64().unwrap())
                .collect();
            // A layer's `entries` counts its tar entries, whiteout markers included.
            let expected: Vec<u64> = built.layers.iter().map(|l| tar_entries(&l.tar)).collect();
            assert_eq!(counts, expected, "{what}");
        }
    }
}

/// Tar entries in a layer, counted by an independent reader.
fn tar_entries(tar: &[u8]) -> u64 {
    tar::Archive::new(tar).entries().unwrap().count() as u64
}

#[test]
fn whiteout_markers_count_as_tar_entries_but_hide_lower_files() {
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .user("app")
        .layer(base())
        .layer(
            Layer::new()
                .whiteout("etc/passwd-")
                .whiteout("usr")
                .dir("etc")
                .opaque("etc")
                .file("etc/passwd", APP_1000)
                .file(".wh..wh.aufs", "aufs bookkeeping"),
        )
        .build();
    for reference in references(dir.path(), 0, &built) {
        let run = scan_json(&reference, &[]);
        run.expect_code(0);
        let report = run.json();
        assert_eq!(report["image"]["layers"][0]["entries"], 7, "{reference}");
        // Two whiteouts, etc, the opaque marker, etc/passwd and aufs' .wh..wh. name: the
        // layer's tar holds six entries (as expected/images.json counts them).
        assert_eq!(report["image"]["layers"][1]["entries"], 6, "{reference}");
        // ... and the user still resolves through the new passwd: no user finding.
        assert!(
            run.family_ids("user").is_empty(),
            "{reference}: {:?}",
            run.check_ids()
        );
    }
}

#[test]
fn a_malformed_whiteout_is_refused_with_its_own_reason() {
    let dir = tempfile::tempdir().unwrap();
    // `.wh.` hides nothing nameable, `.wh..` would hide "." and `.wh...` "..": the
    // directory itself or its parent. Each gets its own reason, not a path-traversal one.
    for (n, (marker, why)) in [
        ("etc/.wh.", "'.wh.' with nothing after it names no file"),
        (".wh.", "'.wh.' with nothing after it names no file"),
        ("etc/.wh..", "'.wh..' names the directory itself"),
        ("etc/.wh...", "'.wh...' names the parent directory"),
    ]
    .into_iter()
    .enumerate()
    {
        let built = Image::new()
            .user("app")
            .layer(base())
            .layer(Layer::new().raw_entry(RawEntry::file(marker, "")))
            .build();
        let layout = dir.path().join(format!("dots{n}"));
        Layout::new().image(&built, &["t"]).write_dir(&layout);
        let reference = format!("oci:{}:t", text(&layout));
        let run = scan_json(&reference, &[]);
        run.expect_scan_error(&reference, &["malformed whiteout", why]);
        assert!(
            !run.stderr.contains("climbs above"),
            "{marker}: {}",
            run.stderr
        );
    }
}

#[test]
fn corpus_whiteout_layers_count_their_entries() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    // (layer tar, diff_id, tar entries): `layer.entries` in expected/images.json.
    let cases = [
        (
            "quay_claircore/whiteout/testdata/whiteout.layer",
            "sha256:b2414873f4734c1cf4b52d7ddf0ab87da9e1a6b5b82fd9e65ce932784ab7d808",
            2,
        ),
        (
            "quay_claircore/whiteout/testdata/whiteout_advanced.layer",
            "sha256:afe4f8ddb9203e12969d68a580081b8d869e6cbe021d76bc0f213f6658472d02",
            4,
        ),
        (
            "quay_claircore/whiteout/testdata/whiteout_opaque.layer",
            "sha256:b339acfeb8a6c4d9b67dcb345b361d58efedc7e5410d8450d136acaecc4bb3b8",
            4,
        ),
        (
            "aquasecurity_trivy/pkg/fanal/walker/testdata/test.tar",
            "sha256:832f8ecf76212a601e38db810f5160d2899872638385bad0bf4f18f999f203a4",
            10,
        ),
    ];
    for (n, (file, diff_id, entries)) in cases.into_iter().enumerate() {
        let bytes = std::fs::read(corpus.join(file)).unwrap();
        // The corpus tar is the layer, byte for byte.
        let layer = Layer::new().raw_bytes(&bytes).unterminated();
        let built = Image::new().user("1000").layer(base()).layer(layer).build();
        assert_eq!(built.layers[1].diff_id, diff_id, "{file}");
        let layout = dir.path().join(format!("corpus{n}"));
        Layout::new().image(&built, &["t"]).write_dir(&layout);
        let run = scan_json(&format!("oci:{}:t", text(&layout)), &[]);
        run.expect_code(0);
        let report = run.json();
        assert_eq!(report["image"]["layers"][1]["diff_id"], diff_id, "{file}");
        assert_eq!(report["image"]["layers"][1]["entries"], entries, "{file}");
    }
}
