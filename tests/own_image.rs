//! The project's own Dockerfile: built with `docker build --network none` with the binary
//! under test, on a base of distroless's shape (`docker import`ed: the C libraries the binary
//! links, ld.so, and a passwd with `nonroot`; the default distroless base cannot be pulled
//! here), the image runs portcullis as a non-root user, and portcullis's own gate passes it
//! under the default policy.

mod common;

use common::builder::Layer;
use common::services::{docker, docker_host, tool, unique};
use common::{portcullis, run_command, text};
use std::path::Path;

#[test]
fn the_projects_own_image_runs_as_non_root_and_passes_its_own_gate() {
    let Some(host) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("base.tar");
    std::fs::write(&rootfs, distroless_shaped_base()).unwrap();
    let base = format!("{}:base", unique("own-image"));
    tool(docker(&host).args(["import", text(&rootfs), &base]));
    // The build context as .dockerignore leaves it: the Dockerfile and the binary.
    let context = dir.path().join("context");
    std::fs::create_dir_all(context.join("bin")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("Dockerfile"), context.join("Dockerfile")).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_portcullis"),
        context.join("bin/portcullis"),
    )
    .unwrap();
    let tag = format!("{}:1", unique("portcullis-image"));
    tool(docker(&host).env("DOCKER_BUILDKIT", "0").args([
        "build",
        "-q",
        "--network",
        "none",
        "--build-arg",
        &format!("BASE={base}"),
        "--build-arg",
        "BIN=bin/portcullis",
        "-t",
        &tag,
        text(&context),
    ]));

    let version = tool(docker(&host).args(["run", "--rm", "--network", "none", &tag, "--version"]));
    assert!(version.starts_with("portcullis "), "{version}");
    let user = tool(docker(&host).args(["inspect", "--format", "{{.Config.User}}", &tag]));
    assert_eq!(user.trim(), "65532:65532");

    let scan = run_command(portcullis().env("DOCKER_HOST", &host).args([
        "scan",
        "--no-cache",
        "--format",
        "json",
        &format!("docker-daemon:{tag}"),
    ]));
    let report = scan.json();
    assert_eq!(
        scan.code, 0,
        "the gate failed its own image: {:#}",
        report["findings"]
    );
    assert_eq!(report["gate"]["result"], "PASSED");
    assert_eq!(report["image"]["user"], "65532:65532");
    tool(docker(&host).args(["rmi", &tag, &base]));
}

/// A root filesystem shaped like distroless's `cc` base: the shared libraries the binary
/// under test links (as `ldd` lists them), the dynamic loader, and /etc/passwd and
/// /etc/group with `root` and `nonroot` (65532).
fn distroless_shaped_base() -> Vec<u8> {
    let ldd = tool(std::process::Command::new("ldd").arg(env!("CARGO_BIN_EXE_portcullis")));
    let mut layer = Layer::new()
        .dir("etc")
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
        )
        .file("etc/group", "root:x:0:\nnonroot:x:65532:\n")
        .dir("tmp");
    let mut dirs = std::collections::BTreeSet::new();
    for line in ldd.lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let inside = path.trim_start_matches('/');
        let parent = Path::new(inside).parent().unwrap().to_str().unwrap();
        let mut sofar = String::new();
        for part in parent.split('/') {
            sofar = if sofar.is_empty() {
                part.to_string()
            } else {
                format!("{sofar}/{part}")
            };
            if dirs.insert(sofar.clone()) {
                layer = layer.dir(&sofar);
            }
        }
        layer = layer.file_with(inside, &bytes, 0o755, 0, 0);
    }
    layer.tar()
}
