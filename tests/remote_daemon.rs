//! The docker-daemon transport against a real dockerd (started by scripts/test.sh and
//! named in PORTCULLIS_TEST_DOCKER_HOST): images loaded from builder archives and imported
//! from root filesystems scan exactly as their `docker save` archives do.

mod common;

use common::builder::*;
use common::services::*;
use common::text;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";

fn sample(user: &str) -> Image {
    Image::new()
        .user(user)
        .layer(
            Layer::new()
                .dir("etc")
                .file("etc/passwd", PASSWD)
                .file_with("usr/bin/su", b"\x7fELF", 0o4755, 0, 0)
                .file("etc/secret", "s3cr3t"),
        )
        .layer(
            Layer::new()
                .whiteout("etc/secret")
                .file("app/run.sh", "#!/bin/sh\n"),
        )
}

/// Loads `image` into the daemon as `tag` and returns the report of its `docker save`.
fn load_and_save(host: &str, dir: &std::path::Path, image: &Image, tag: &str) -> serde_json::Value {
    let archive = dir.join("load.tar");
    DockerArchive::classic()
        .image(&image.build(), &[tag])
        .write(&archive);
    tool(docker(host).args(["load", "-q", "-i", text(&archive)]));
    saved_report(host, dir, tag)
}

fn saved_report(host: &str, dir: &std::path::Path, name: &str) -> serde_json::Value {
    let saved = dir.join("saved.tar");
    tool(docker(host).args(["save", "-o", text(&saved), name]));
    let run = scan_with(&at("docker-archive:", &saved), &[], &[], None);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    run.json()
}

#[test]
fn a_loaded_image_scans_like_its_docker_save_archive() {
    let Some(host) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("{}:1", unique("loaded"));
    let expected = load_and_save(&host, dir.path(), &sample("root"), &tag);
    let run = scan_with(
        &format!("docker-daemon:{tag}"),
        &["--verbose"],
        &[("DOCKER_HOST", &host)],
        None,
    );
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["image"]["transport"], "docker-daemon");
    assert_eq!(report["image"]["reference"], format!("docker-daemon:{tag}"));
    assert_same(
        "docker-daemon vs docker save",
        &without_origin(report),
        &without_origin(expected),
    );
    assert!(
        run.stderr.contains("layers: 2 scanned"),
        "verbose summary missing:\n{}",
        run.stderr
    );
}

#[test]
fn podmans_docker_compatible_socket_serves_the_same_image() {
    let Some((host, root)) = podman_service() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("podman");
    let archive = dir.path().join("load.tar");
    DockerArchive::classic()
        .image(&sample("root").build(), &[&format!("{name}:1")])
        .write(&archive);
    tool(podman(&root).args(["load", "-q", "-i", text(&archive)]));
    // Podman names the image localhost/NAME:1; its own `save` is the reference archive.
    let saved = dir.path().join("saved.tar");
    tool(podman(&root).args([
        "save",
        "--format",
        "docker-archive",
        "-o",
        text(&saved),
        &format!("localhost/{name}:1"),
    ]));
    let expected = scan_with(&at("docker-archive:", &saved), &[], &[], None);
    assert!(
        expected.code == 0 || expected.code == 1,
        "{}",
        expected.stderr
    );
    let run = scan_with(
        &format!("docker-daemon:localhost/{name}:1"),
        &[],
        &[("DOCKER_HOST", &host)],
        None,
    );
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["image"]["transport"], "docker-daemon");
    assert_same(
        "podman socket vs podman save",
        &content_only(report.clone()),
        &content_only(expected.json()),
    );
    // The image is the one loaded: same config digest and user finding as the archive.
    assert_eq!(
        report["image"]["config_digest"],
        serde_json::Value::String(sample("root").build().config_digest.clone())
    );
    assert!(common::check_ids(&report).contains(&"user-root".to_string()));
}

#[test]
fn an_imported_root_filesystem_scans_by_name_and_by_id() {
    let Some(host) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs.tar");
    std::fs::write(
        &rootfs,
        Layer::new()
            .dir("etc")
            .file("etc/passwd", PASSWD)
            .dir_with("tmp", 0o1777, 0, 0)
            .symlink("bin", "usr/bin")
            .tar(),
    )
    .unwrap();
    let tag = format!("{}:imported", unique("rootfs"));
    tool(docker(&host).args(["import", "--change", "USER app", text(&rootfs), &tag]));
    let expected = saved_report(&host, dir.path(), &tag);

    let run = scan_with(
        &format!("docker-daemon:{tag}"),
        &[],
        &[("DOCKER_HOST", &host)],
        None,
    );
    run.expect_code(0);
    assert_same(
        "by name",
        &without_origin(run.json()),
        &without_origin(expected.clone()),
    );

    // By image ID, `docker save` writes no RepoTags.
    let id = tool(docker(&host).args(["image", "inspect", "--format", "{{.Id}}", &tag]));
    let id = id.trim();
    let by_id = saved_report(&host, dir.path(), id);
    let run = scan_with(
        &format!("docker-daemon:{id}"),
        &[],
        &[("DOCKER_HOST", &host)],
        None,
    );
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["image"]["config_digest"], id);
    assert_same("by id", &without_origin(report), &without_origin(by_id));
}

/// Forwards TCP connections to the daemon's unix socket, as `dockerd -H tcp://` would serve.
fn tcp_forwarder(socket: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = socket.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(tcp) = conn else { return };
            let Ok(unix) = UnixStream::connect(&socket) else {
                return;
            };
            let (mut tcp_r, mut unix_w) = (tcp.try_clone().unwrap(), unix.try_clone().unwrap());
            let (mut unix_r, mut tcp_w) = (unix, tcp);
            std::thread::spawn(move || {
                let _ = pump(&mut tcp_r, &mut unix_w);
                let _ = unix_w.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = pump(&mut unix_r, &mut tcp_w);
                let _ = tcp_w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("tcp://{addr}")
}

fn pump(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

#[test]
fn docker_host_may_be_tcp() {
    let Some(host) = docker_host() else { return };
    let Some(socket) = host.strip_prefix("unix://") else {
        // scripts/services.sh always serves it on one.
        common::skip(format!("the test daemon {host} is not on a unix socket"));
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("{}:tcp", unique("tcp"));
    let expected = load_and_save(&host, dir.path(), &sample("app"), &tag);
    let tcp = tcp_forwarder(socket);
    let run = scan_with(
        &format!("docker-daemon:{tag}"),
        &[],
        &[("DOCKER_HOST", &tcp)],
        None,
    );
    run.expect_code(0);
    assert_same(
        "over tcp",
        &without_origin(run.json()),
        &without_origin(expected),
    );
}

#[test]
fn daemon_errors_name_the_image_and_the_daemon() {
    let Some(host) = docker_host() else { return };
    let missing = format!("{}:absent", unique("missing"));
    let run = scan_with(
        &format!("docker-daemon:{missing}"),
        &[],
        &[("DOCKER_HOST", &host)],
        None,
    );
    run.expect_scan_error(&missing, &["no image", &host]);

    let run = scan_with(
        "docker-daemon:alpine:3.20",
        &[],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        None,
    );
    run.expect_scan_error(
        "docker-daemon:alpine:3.20",
        &["cannot connect", "/nonexistent/docker.sock"],
    );
}
