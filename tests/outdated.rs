//! The outdated checks end to end: `--package-index` files in every format and compression,
//! suites named or inferred, and `--fetch-indexes` from the repositories an image is
//! configured with (apt deb822 sources, apk repositories, yum repositories), served by a
//! local HTTP server, through the index cache and offline.

mod common;

use common::builder::{DockerArchive, Image, Layer};
use common::{Run, corpus, portcullis, run_command, text};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STATUS: &str = "\
Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n\n\
Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u5\n\n\
Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n\n\
Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n\n\
Package: libc6\nStatus: install ok installed\nArchitecture: i386\nSource: glibc\nVersion: 2.36-9+deb12u4\n";

const RELEASE: &str = "\
Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u10\nArchitecture: amd64\nDescription: GNU C Library\n shared libraries\n\n\
Package: curl\nVersion: 7.88.1-10+deb12u12\nArchitecture: amd64\n\n\
Package: tzdata\nVersion: 2025b-0+deb12u1\nArchitecture: all\n\n\
Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n";

const SECURITY: &str = "\
Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u9\nArchitecture: amd64\n\n\
Package: curl\nVersion: 7.88.1-10+deb12u12\nArchitecture: amd64\n";

const DEBIAN_OS: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";

/// A fixed day on which Debian 12 is far from its end of life.
const NOW: &str = "2026-01-15";

fn gzip(data: &[u8]) -> Vec<u8> {
    common::builder::gzip(data)
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn debian_image(extra: Layer) -> Image {
    Image::new()
        .user("1000")
        .layer(
            Layer::new()
                .dir("etc")
                .file("etc/os-release", DEBIAN_OS)
                .file(
                    "etc/passwd",
                    "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/:/bin/sh\n",
                )
                .dir("var/lib/dpkg")
                .file("var/lib/dpkg/status", STATUS),
        )
        .layer(extra)
}

fn write_image(dir: &Path, image: &Image) -> PathBuf {
    let path = dir.join("image.tar");
    DockerArchive::docker25()
        .image(&image.build(), &["app:1"])
        .write(&path);
    path
}

fn scan(dir: &Path, image: &Path, extra: &[&str]) -> Run {
    let mut cmd = portcullis();
    cmd.current_dir(dir)
        .env(portcullis::cli::scan::NOW_ENV, NOW)
        .args(["scan", "--format", "json", "--exit-code", "0", text(image)])
        .args(extra);
    // Index downloads from the loopback server; the vulnerability database stays as it is.
    if extra.contains(&"--fetch-indexes") {
        cmd.env_remove("PORTCULLIS_OFFLINE").arg("--skip-db-update");
    }
    let run = run_command(&mut cmd);
    run.expect_code(0);
    run
}

/// (check, package, arch, installed, available, suite) of the outdated findings, sorted.
fn outdated(report: &Value) -> Vec<(String, String, String, String, String, String)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with("outdated-"))
        .map(|f| {
            let d = &f["data"];
            let s = |k: &str| d[k].as_str().unwrap_or("").to_string();
            (
                f["check"].as_str().unwrap().to_string(),
                s("package"),
                s("arch"),
                s("installed_version"),
                s("available_version"),
                s("suite"),
            )
        })
        .collect();
    out.sort();
    out
}

fn row(
    c: &str,
    p: &str,
    a: &str,
    i: &str,
    v: &str,
    s: &str,
) -> (String, String, String, String, String, String) {
    (c.into(), p.into(), a.into(), i.into(), v.into(), s.into())
}

fn expected_debian() -> Vec<(String, String, String, String, String, String)> {
    vec![
        row(
            "outdated-package",
            "tzdata",
            "all",
            "2024a-0+deb12u1",
            "2025b-0+deb12u1",
            "bookworm",
        ),
        row(
            "outdated-security",
            "curl",
            "amd64",
            "7.88.1-10+deb12u5",
            "7.88.1-10+deb12u12",
            "bookworm-security",
        ),
        row(
            "outdated-security",
            "libc6",
            "amd64",
            "2.36-9+deb12u4",
            "2.36-9+deb12u9",
            "bookworm-security",
        ),
    ]
}

#[test]
fn explicit_indexes_in_every_compression_with_named_and_inferred_suites() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(dir.path(), &debian_image(Layer::new()));
    std::fs::write(dir.path().join("Packages"), RELEASE).unwrap();
    std::fs::write(dir.path().join("security.xz"), xz(SECURITY.as_bytes())).unwrap();
    let inferred = dir.path().join("dists/bookworm-security/main/binary-amd64");
    std::fs::create_dir_all(&inferred).unwrap();
    std::fs::write(inferred.join("Packages.gz"), gzip(SECURITY.as_bytes())).unwrap();

    for security in [
        "bookworm-security=security.xz".to_string(),
        text(&inferred.join("Packages.gz")).to_string(),
    ] {
        let run = scan(
            dir.path(),
            &image,
            &[
                "--package-index",
                "bookworm=Packages",
                "--package-index",
                &security,
            ],
        );
        let report = run.json();
        assert_eq!(outdated(&report), expected_debian(), "{security}");
        let libc = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["data"]["package"] == "libc6")
            .unwrap();
        assert_eq!(libc["severity"], "medium");
        assert_eq!(libc["data"]["newest_version"], "2.36-9+deb12u10");
        assert_eq!(libc["data"]["newest_suite"], "bookworm");
        assert_eq!(libc["data"]["source_package"], "glibc");
        assert_eq!(libc["data"]["security"], true);
        assert_eq!(libc["location"]["path"], "/var/lib/dpkg/status");
        assert_eq!(libc["location"]["layer"], 0);
        assert_eq!(
            libc["message"],
            "libc6 2.36-9+deb12u4 has a security update: 2.36-9+deb12u9 in bookworm-security"
        );
    }

    // Without the security index, everything is a plain update.
    let run = scan(
        dir.path(),
        &image,
        &["--package-index", "bookworm=Packages"],
    );
    let checks: Vec<String> = outdated(&run.json()).into_iter().map(|r| r.0).collect();
    assert_eq!(checks, ["outdated-package"; 3]);

    // No index: the family has nothing to say.
    assert!(outdated(&scan(dir.path(), &image, &[]).json()).is_empty());
}

#[test]
fn outdated_findings_can_be_waived_by_package_and_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(dir.path(), &debian_image(Layer::new()));
    std::fs::write(dir.path().join("security"), SECURITY).unwrap();
    std::fs::write(
        dir.path().join("waivers.toml"),
        "[[waiver]]\ncheck = \"outdated-security\"\npackage = \"libc6\"\nreason = \"rebuilt weekly\"\n",
    )
    .unwrap();
    let run = scan(
        dir.path(),
        &image,
        &[
            "--package-index",
            "bookworm-security=security",
            "--ignore-file",
            "waivers.toml",
        ],
    );
    let report = run.json();
    let waived: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["waived"].is_object())
        .map(|f| f["data"]["package"].as_str().unwrap())
        .collect();
    assert_eq!(waived, ["libc6"]);

    std::fs::write(
        dir.path().join("policy.toml"),
        "[params.packages]\ncheck_outdated = false\n",
    )
    .unwrap();
    let run = scan(
        dir.path(),
        &image,
        &[
            "--package-index",
            "bookworm-security=security",
            "--policy",
            "./policy.toml",
        ],
    );
    assert!(outdated(&run.json()).is_empty());
}

#[test]
fn an_explicit_index_that_cannot_be_read_stops_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(dir.path(), &debian_image(Layer::new()));
    std::fs::write(dir.path().join("garbage"), b"\x00\x01\x02 not an index").unwrap();
    std::fs::write(dir.path().join("broken"), b"Package: a\nnot a field\n").unwrap();
    for (arg, reason) in [
        ("missing/Packages", "No such file"),
        ("garbage", "not a package index"),
        ("broken", "line 2"),
        ("http://127.0.0.1:9/Packages.xz", "127.0.0.1:9"),
    ] {
        let mut cmd = portcullis();
        cmd.current_dir(dir.path()).args([
            "scan",
            "--format",
            "json",
            text(&image),
            "--package-index",
            arg,
        ]);
        let run = run_command(&mut cmd);
        run.expect_code(2);
        assert!(run.stdout.is_empty());
        assert!(
            run.stderr.contains(&format!("--package-index {arg}")) && run.stderr.contains(reason),
            "{arg}: {}",
            run.stderr
        );
    }
}

/// A tiny HTTP/1.1 server on the loopback interface serving fixed files; it answers at most
/// `MAX_REQUESTS` requests and stops by itself after a minute or when dropped.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<Mutex<bool>>,
}

const MAX_REQUESTS: usize = 200;

impl Server {
    fn start(files: BTreeMap<String, Vec<u8>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(Mutex::new(false));
        let (log, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while served < MAX_REQUESTS && Instant::now() < deadline && !*stopped.lock().unwrap() {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                served += 1;
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                        break;
                    }
                }
                log.lock().unwrap().push(path.clone());
                let mut stream = stream;
                let (status, body) = match files.get(&path) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        Server {
            port,
            requests,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
    }
}

fn cache_policy(dir: &Path, offline: bool) -> PathBuf {
    let path = dir.join(if offline {
        "offline.toml"
    } else {
        "cache.toml"
    });
    std::fs::write(
        &path,
        format!("[params.packages]\nindex_cache = \"cache\"\noffline = {offline}\n"),
    )
    .unwrap();
    path
}

fn diagnostics(report: &Value) -> Vec<String> {
    report["diagnostics"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    format!(
                        "{} {}",
                        d["path"].as_str().unwrap_or(""),
                        d["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn fetch_indexes_from_the_apt_sources_of_the_image_through_the_cache() {
    let files = BTreeMap::from([
        (
            "/debian/dists/bookworm/main/binary-amd64/Packages.gz".to_string(),
            gzip(RELEASE.as_bytes()),
        ),
        (
            "/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz".to_string(),
            xz(SECURITY.as_bytes()),
        ),
    ]);
    let server = Server::start(files);
    let sources = format!(
        "Types: deb\nURIs: {0}/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
         Types: deb\nURIs: {0}/debian-security\nSuites: bookworm-security\nComponents: main\n",
        server.url()
    );
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &debian_image(
            Layer::new()
                .dir("etc/apt/sources.list.d")
                .file("etc/apt/sources.list.d/debian.sources", &sources),
        ),
    );
    let policy = cache_policy(dir.path(), false);
    let run = scan(
        dir.path(),
        &image,
        &["--fetch-indexes", "--policy", text(&policy)],
    );
    let report = run.json();
    assert_eq!(
        outdated(&report),
        expected_debian(),
        "{:?}",
        diagnostics(&report)
    );
    // bookworm-updates has no index: each compression was tried, and that is a diagnostic.
    let notes = diagnostics(&report);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with(
            "/etc/apt/sources.list.d/debian.sources package index of bookworm-updates main"
        ) && notes[0].contains("HTTP status 404"),
        "{notes:?}"
    );
    let requests = server.requests();
    assert!(requests.contains(&"/debian/dists/bookworm/main/binary-amd64/Packages.xz".to_string()));
    assert!(
        requests.contains(&"/debian/dists/bookworm-updates/main/binary-amd64/Packages".to_string())
    );
    drop(server);

    // Offline, the cached copies answer; what was never cached is a diagnostic.
    let offline = cache_policy(dir.path(), true);
    let run = scan(
        dir.path(),
        &image,
        &["--fetch-indexes", "--policy", text(&offline)],
    );
    let report = run.json();
    assert_eq!(outdated(&report), expected_debian());
    let notes = diagnostics(&report);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("downloads are off"), "{notes:?}");
}

#[test]
fn fetch_failures_are_diagnostics_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &debian_image(Layer::new().dir("etc/apt").file(
            "etc/apt/sources.list",
            "deb http://127.0.0.1:9/debian bookworm main\ndeb cdrom:[Debian]/ bookworm main\n",
        )),
    );
    let policy = cache_policy(dir.path(), false);
    let run = scan(
        dir.path(),
        &image,
        &["--fetch-indexes", "--policy", text(&policy)],
    );
    let report = run.json();
    assert!(outdated(&report).is_empty());
    let notes = diagnostics(&report);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("cdrom:")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("127.0.0.1:9")), "{notes:?}");

    // An image that configures no repository says so.
    let bare = write_image(dir.path(), &debian_image(Layer::new()));
    let report = scan(
        dir.path(),
        &bare,
        &["--fetch-indexes", "--policy", text(&policy)],
    )
    .json();
    assert_eq!(
        diagnostics(&report),
        [" --fetch-indexes: the image configures no apt, apk or yum repository"]
    );
}

fn apkindex_tar_gz(index: &str) -> Vec<u8> {
    let mut file = Vec::new();
    for members in [
        vec![(
            ".SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub",
            "sig",
        )],
        vec![("DESCRIPTION", "v3.20.3-0-g0"), ("APKINDEX", index)],
    ] {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, data.as_bytes())
                .unwrap();
        }
        file.extend(gzip(&builder.into_inner().unwrap()));
    }
    file
}

#[test]
fn fetch_indexes_from_the_apk_repositories_of_the_image() {
    let installed = "P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\nP:zlib\nV:1.3.1-r1\nA:x86_64\n\n";
    let main = "C:Q1=\nP:musl\nV:1.2.5-r1\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\n";
    let community = "P:zlib\nV:1.3.1-r2\nA:x86_64\n\n";
    let server = Server::start(BTreeMap::from([
        (
            "/alpine/v3.20/main/x86_64/APKINDEX.tar.gz".to_string(),
            apkindex_tar_gz(main),
        ),
        (
            "/alpine/v3.20/community/x86_64/APKINDEX.tar.gz".to_string(),
            apkindex_tar_gz(community),
        ),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let image = Image::new().layer(
        Layer::new()
            .dir("etc/apk")
            .file(
                "etc/os-release",
                "ID=alpine\nVERSION_ID=3.20.3\nNAME=\"Alpine Linux\"\n",
            )
            .file(
                "etc/apk/repositories",
                format!(
                    "{0}/alpine/v3.20/main\n{0}/alpine/v3.20/community\n",
                    server.url()
                ),
            )
            .dir("lib/apk/db")
            .file("lib/apk/db/installed", installed),
    );
    let image = write_image(dir.path(), &image);
    let policy = cache_policy(dir.path(), false);
    let report = scan(
        dir.path(),
        &image,
        &["--fetch-indexes", "--policy", text(&policy)],
    )
    .json();
    assert_eq!(
        outdated(&report),
        vec![
            row(
                "outdated-package",
                "musl",
                "x86_64",
                "1.2.5-r0",
                "1.2.5-r1",
                "v3.20/main"
            ),
            row(
                "outdated-package",
                "zlib",
                "x86_64",
                "1.3.1-r1",
                "1.3.1-r2",
                "v3.20/community"
            ),
        ]
    );
    assert!(
        diagnostics(&report).is_empty(),
        "{:?}",
        diagnostics(&report)
    );
}

#[test]
fn fetch_indexes_from_the_yum_repositories_of_a_real_centos_database() {
    let Some(corpus) = corpus() else { return };
    let rpmdb = std::fs::read(corpus.join("knqyf263_go-rpmdb/pkg/testdata/centos7-plain/Packages"))
        .unwrap();
    let primary = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="4">
<package type="rpm"><name>bash</name><arch>x86_64</arch><version epoch="0" ver="4.2.46" rel="34.el7"/></package>
<package type="rpm"><name>openssl-libs</name><arch>x86_64</arch><version epoch="1" ver="1.0.2k" rel="26.el7_9"/></package>
<package type="rpm"><name>openssl-libs</name><arch>i686</arch><version epoch="1" ver="1.0.2k" rel="27.el7_9"/></package>
<package type="rpm"><name>tzdata</name><arch>noarch</arch><version epoch="0" ver="2018e" rel="3.el7"/></package>
</metadata>"#;
    let repomd = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1</revision>
<data type="primary"><location href="repodata/0123-primary.xml.gz"/></data></repomd>"#;
    let server = Server::start(BTreeMap::from([
        (
            "/centos/7/os/x86_64/repodata/repomd.xml".to_string(),
            repomd.as_bytes().to_vec(),
        ),
        (
            "/centos/7/os/x86_64/repodata/0123-primary.xml.gz".to_string(),
            gzip(primary.as_bytes()),
        ),
    ]));
    let repo = format!(
        "[base]\nname=CentOS-$releasever - Base\nbaseurl={}/centos/$releasever/os/$basearch/\ngpgcheck=1\n\n\
         [updates]\nname=CentOS-$releasever - Updates\nmirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=updates\n",
        server.url()
    );
    let dir = tempfile::tempdir().unwrap();
    let image = Image::new().layer(
        Layer::new()
            .dir("etc/yum.repos.d")
            .file(
                "etc/centos-release",
                "CentOS Linux release 7.5.1804 (Core)\n",
            )
            .file("etc/yum.repos.d/CentOS-Base.repo", &repo)
            .dir("var/lib/rpm")
            .file("var/lib/rpm/Packages", rpmdb),
    );
    let image = write_image(dir.path(), &image);
    let policy = cache_policy(dir.path(), false);
    let report = scan(
        dir.path(),
        &image,
        &["--fetch-indexes", "--policy", text(&policy)],
    )
    .json();
    assert_eq!(
        outdated(&report),
        vec![
            row(
                "outdated-package",
                "bash",
                "x86_64",
                "4.2.46-30.el7",
                "4.2.46-34.el7",
                "base"
            ),
            row(
                "outdated-package",
                "openssl-libs",
                "x86_64",
                "1:1.0.2k-12.el7",
                "1:1.0.2k-26.el7_9",
                "base"
            ),
        ]
    );
    let notes = diagnostics(&report);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("repository updates: only a mirrorlist"),
        "{notes:?}"
    );
}

#[test]
fn a_truncated_download_is_an_error_not_a_partial_index() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(dir.path(), &debian_image(Layer::new()));
    let mut truncated = xz(RELEASE.as_bytes());
    truncated.truncate(truncated.len() / 2);
    let server = Server::start(BTreeMap::from([("/Packages.xz".to_string(), truncated)]));
    let policy = cache_policy(dir.path(), false);
    let url = format!("{}/Packages.xz", server.url());
    let mut cmd = portcullis();
    cmd.current_dir(dir.path()).args([
        "scan",
        text(&image),
        "--package-index",
        &url,
        "--policy",
        text(&policy),
    ]);
    let run = run_command(&mut cmd);
    run.expect_code(2);
    assert!(run.stderr.contains(&url), "{}", run.stderr);
}

/// Without `--fetch-indexes`, a scan fetches the image's repositories only from the
/// distributions' own hosts: an image pointing apt at another address (here the loopback
/// server) gets no request from the scanner, and the report says why.
#[test]
fn a_plain_scan_fetches_only_from_distribution_hosts() {
    let files = BTreeMap::from([(
        "/debian/dists/bookworm/main/binary-amd64/Packages.gz".to_string(),
        gzip(RELEASE.as_bytes()),
    )]);
    let server = Server::start(files);
    let sources = format!(
        "Types: deb\nURIs: {}/debian\nSuites: bookworm\nComponents: main\n",
        server.url()
    );
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(
        dir.path(),
        &debian_image(
            Layer::new()
                .dir("etc/apt/sources.list.d")
                .file("etc/apt/sources.list.d/debian.sources", &sources),
        ),
    );
    let policy = cache_policy(dir.path(), false);
    let mut cmd = portcullis();
    cmd.current_dir(dir.path())
        .env_remove("PORTCULLIS_OFFLINE")
        .env(portcullis::cli::scan::NOW_ENV, NOW)
        .args([
            "scan",
            "--format",
            "json",
            "--exit-code",
            "0",
            "--skip-db-update",
        ])
        .arg(&image)
        .args(["--policy", text(&policy)]);
    let run = run_command(&mut cmd);
    run.expect_code(0);
    let report = run.json();
    assert!(outdated(&report).is_empty());
    let source = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "package-index")
        .unwrap()
        .clone();
    assert_eq!(source["status"], "skipped", "{source}");
    assert!(
        source["detail"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1 is not a distribution's own host"),
        "{source}"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(diagnostics(&report).is_empty());
}
