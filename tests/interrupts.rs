//! Interrupts leave nothing behind: SIGINT or SIGTERM at any moment of a scan (as it starts,
//! while a large layer streams, while Trivy runs on the layout portcullis unpacked for it)
//! ends it with 130 or 143, removes every temporary file and directory it made (its TMPDIR
//! is empty afterwards, its layer cache holds no temporary file) and leaves the previous
//! output file as it was.

#![cfg(unix)]

mod common;

use common::builder::{Image, Layer, Layout};
use common::{have_tool, portcullis, text};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PREVIOUS: &str = "{\"previous\": \"report\"}\n";
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// An OCI archive whose second layer is 192 MiB that do not compress: long enough to stream
/// that a signal lands in the middle. Built once, in the tests' scratch directory.
fn big_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interrupts-big-oci.tar");
        if !path.exists() {
            let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
            let noise: Vec<u8> = (0..(192usize << 20) / 8)
                .flat_map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()
                })
                .collect();
            let image = Image::new()
                .layer(Layer::new().file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"))
                .layer(Layer::new().file("opt/blob.bin", noise));
            let partial = path.with_extension("partial");
            Layout::new()
                .image(&image.build(), &["1.0"])
                .write_archive(&partial);
            std::fs::rename(&partial, &path).unwrap();
        }
        path
    })
}

/// One interrupted run: its own TMPDIR, layer cache and output directory holding a report
/// from before.
struct Scene {
    root: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let root = tempfile::tempdir().unwrap();
        for dir in ["tmp", "cache", "out"] {
            std::fs::create_dir(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("out/report.json"), PREVIOUS).unwrap();
        Scene { root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn scan(&self, image: &str, extra: &[&str]) -> Command {
        let mut cmd = portcullis();
        cmd.env("TMPDIR", self.path("tmp"))
            .args(["scan", image, "--format"])
            .arg(format!("json={}", self.path("out/report.json").display()))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Asserts that the run ended by `signal` as portcullis reports it, and left nothing.
    fn assert_clean_exit(&self, child: Child, signal: i32, when: &str) {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(128 + signal),
            "{when}: {:?}\nstderr:\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("portcullis: interrupted"),
            "{when}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{when}: {stderr}");
        assert_eq!(
            listing(&self.path("tmp")),
            Vec::<String>::new(),
            "{when}: TMPDIR"
        );
        assert_eq!(
            listing(&self.path("out")),
            ["report.json"],
            "{when}: the output directory"
        );
        assert_eq!(
            std::fs::read_to_string(self.path("out/report.json")).unwrap(),
            PREVIOUS,
            "{when}: the previous report changed"
        );
        let cache_temps: Vec<String> = walk(&self.path("cache"))
            .into_iter()
            .filter(|name| name.contains(".tmp"))
            .collect();
        assert!(cache_temps.is_empty(), "{when}: {cache_temps:?}");
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every path under `dir`, relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            found.push(text(path.strip_prefix(dir).unwrap()).to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

fn kill(pid: u32, signal: i32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Waits until `ready` says so about the running process, or fails the test if it exited
/// or 60 s passed first.
fn wait_until(child: &mut Child, what: &str, ready: impl Fn(u32) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(child.id()) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("portcullis ended ({status}) before {what}");
        }
        assert!(Instant::now() < deadline, "no {what} after 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Threads of `pid`: its interrupt handler is a thread of its own, so two mean it is in
/// place.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// Bytes `pid` has read so far.
fn bytes_read(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("rchar: ").map(|n| n.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

/// Children of `pid`, from every thread.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

#[test]
fn an_interrupt_as_the_scan_starts_leaves_nothing() {
    let archive = big_archive();
    for signal in [SIGINT, SIGTERM] {
        let scene = Scene::new();
        let mut child = scene
            .scan(&format!("oci-archive:{}", text(archive)), &[])
            .spawn()
            .unwrap();
        wait_until(&mut child, "the interrupt handler", |pid| threads(pid) >= 2);
        kill(child.id(), signal);
        scene.assert_clean_exit(child, signal, "at the start");
    }
}

#[test]
fn an_interrupt_while_a_large_layer_streams_leaves_nothing() {
    let archive = big_archive();
    for (signal, reference) in [
        (SIGTERM, format!("oci-archive:{}", text(archive))),
        (SIGINT, format!("oci-archive:{}", text(archive))),
    ] {
        let scene = Scene::new();
        let mut child = scene.scan(&reference, &[]).spawn().unwrap();
        wait_until(&mut child, "32 MiB read", |pid| bytes_read(pid) > 32 << 20);
        kill(child.id(), signal);
        scene.assert_clean_exit(child, signal, "while streaming");
    }
}

/// A `trivy` that leaves a file in its temporary directory and then runs until it is
/// stopped: the interrupt must stop it and remove what it wrote.
fn lingering_trivy(dir: &Path) -> PathBuf {
    let script = dir.join("trivy");
    std::fs::write(
        &script,
        "#!/bin/sh\necho partial > \"${TMPDIR:-/tmp}/trivy-scratch\"\nexec sleep 120\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Runs a scan of a small OCI archive (which portcullis unpacks into a layout for Trivy)
/// with `trivy`, interrupts it once Trivy runs, and checks that Trivy is gone too.
fn interrupt_trivy(scene: &Scene, trivy: &str, env: &[(&str, &Path)], signal: i32) {
    let archive = scene.path("small-oci.tar");
    let image =
        Image::new().layer(Layer::new().file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"));
    Layout::new()
        .image(&image.build(), &["1.0"])
        .write_archive(&archive);
    std::fs::write(
        scene.path("policy.toml"),
        "[params.osv]\ntrivy_timeout_seconds = 60\n",
    )
    .unwrap();
    let mut cmd = scene.scan(
        &format!("oci-archive:{}", text(&archive)),
        &["--trivy", trivy, "--policy"],
    );
    cmd.arg(scene.path("policy.toml"));
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().unwrap();
    wait_until(&mut child, "Trivy running", |pid| !children(pid).is_empty());
    let trivy_pid = children(child.id())[0];
    // Trivy's layout and output directories are in TMPDIR while it runs.
    assert!(!listing(&scene.path("tmp")).is_empty());
    kill(child.id(), signal);
    scene.assert_clean_exit(child, signal, &format!("while {trivy} runs"));
    assert!(
        !Path::new(&format!("/proc/{trivy_pid}")).exists(),
        "Trivy (pid {trivy_pid}) outlived portcullis"
    );
}

#[test]
fn an_interrupt_while_trivy_runs_stops_it_and_leaves_nothing() {
    let scene = Scene::new();
    let trivy = lingering_trivy(scene.root.path());
    interrupt_trivy(&scene, text(&trivy), &[], SIGINT);
}

/// The real Trivy, held at its database: its metadata file is a FIFO nobody writes, so it
/// waits there until it is stopped, with portcullis' layout open.
#[test]
fn an_interrupt_while_the_real_trivy_runs_stops_it_and_leaves_nothing() {
    if !have_tool("trivy") {
        return;
    }
    let scene = Scene::new();
    let cache = scene.path("trivy-cache");
    std::fs::create_dir_all(cache.join("db")).unwrap();
    std::fs::write(cache.join("db/trivy.db"), "").unwrap();
    let fifo = Command::new("mkfifo")
        .arg(cache.join("db/metadata.json"))
        .status()
        .unwrap();
    assert!(fifo.success());
    interrupt_trivy(&scene, "trivy", &[("TRIVY_CACHE_DIR", &cache)], SIGTERM);
}
