//! Accuracy on a real Debian root filesystem: a bookworm minbase built by mmdebstrap from
//! the release suite alone (no bookworm-security), wrapped into a `docker save` archive with
//! the rootfs tar as its one layer.
//!
//! - The dpkg inventory equals what `dpkg-query -W` lists from the same database.
//! - Against the bookworm-security index, the packages reported as having a security update
//!   are exactly those an independent computation finds: for each installed package, a
//!   higher version of the same name and architecture in the index, compared by
//!   `dpkg --compare-versions`.
//! - `--fetch-indexes` downloads the image's own repository index from deb.debian.org.
//!
//! mmdebstrap takes about 40 s, so the rootfs (and the security index, for a day) are kept
//! in the target directory between runs. The tests skip with a note when mmdebstrap is
//! missing, when not running as root, or when the Debian mirror cannot be reached; when `CI`
//! is set they fail instead (CI runs as root, installs mmdebstrap and reaches the mirror).

mod common;

use common::builder::{DockerArchive, Image, Layer};
use common::{have_tool, portcullis, run_command, skip, text, tool_installed};
use portcullis::gate::analyze::Analyzers;
use portcullis::gate::{ReadOptions, read_image};
use portcullis::inventory::DbFormat;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

const MIRROR: &str = "http://deb.debian.org/debian";
const SECURITY_MIRROR: &str = "https://deb.debian.org/debian-security";
/// A day on which bookworm is supported, so the gate's other families stay quiet.
const NOW: &str = "2026-01-15";

fn cache_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-accuracy");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `dpkg --print-architecture`, or `None` (after [`skip`]) when dpkg cannot say.
fn host_arch() -> Option<String> {
    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string());
    if arch.is_none() {
        skip("`dpkg --print-architecture` failed");
    }
    arch
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The cached rootfs tar, built on first use; `None` (after [`skip`], in every test that
/// asks) when it cannot be built here.
fn rootfs() -> Option<&'static Path> {
    static ROOTFS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = ROOTFS.get_or_init(|| {
        let path = cache_dir().join("bookworm-minbase-release.tar");
        if path.is_file() {
            return Ok(path);
        }
        if !tool_installed("mmdebstrap") {
            return Err("mmdebstrap is not installed".to_string());
        }
        if !is_root() {
            return Err("not running as root (mmdebstrap --mode=root needs root)".to_string());
        }
        // mmdebstrap picks the output format by the file name's extension.
        let part = cache_dir().join("bookworm-minbase-release.part.tar");
        let out = Command::new("mmdebstrap")
            .args(["--mode=root", "--variant=minbase", "--quiet", "bookworm"])
            .arg(&part)
            .arg(format!("deb {MIRROR} bookworm main"))
            .output()
            .expect("run mmdebstrap");
        if !out.status.success() {
            let _ = std::fs::remove_file(&part);
            return Err(format!(
                "mmdebstrap failed (is {MIRROR} reachable?): {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ));
        }
        std::fs::rename(&part, &path).unwrap();
        Ok(path)
    });
    match built {
        Ok(path) => Some(path),
        Err(reason) => {
            skip(reason);
            None
        }
    }
}

/// The rootfs as a one-layer `docker save` archive, written once per test run.
fn image() -> Option<&'static Path> {
    static IMAGE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let rootfs = rootfs()?;
    let arch = host_arch()?;
    let (_, path) = IMAGE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bookworm.tar");
        let bytes = std::fs::read(rootfs).unwrap();
        let image = Image::new()
            .platform(&format!("linux/{arch}"))
            .user("65534")
            .layer(Layer::new().raw_bytes(bytes));
        DockerArchive::docker25()
            .image(&image.build(), &["bookworm-minbase:release"])
            .write(&path);
        (dir, path)
    });
    Some(path)
}

/// `var/lib/dpkg` of the rootfs, extracted into a temporary directory.
fn extracted_dpkg_db(rootfs: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = tar::Archive::new(std::fs::File::open(rootfs).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let relative = path.strip_prefix("./").unwrap_or(&path).to_path_buf();
        if relative.starts_with("var/lib/dpkg") {
            let target = dir.path().join(&relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            entry.unpack(target).unwrap();
        }
    }
    dir
}

/// (name, arch, version) of every package `dpkg-query -W` lists.
fn dpkg_query(admindir: &Path) -> BTreeSet<(String, String, String)> {
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.display()))
        .args(["-W", "-f", "${Package}\t${Architecture}\t${Version}\n"])
        .output()
        .expect("run dpkg-query");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

#[test]
fn the_dpkg_inventory_equals_dpkg_query() {
    let Some(image) = image() else {
        return;
    };
    let rootfs = rootfs().expect("the image's rootfs");
    if !have_tool("dpkg-query") {
        return;
    }
    let db = extracted_dpkg_db(rootfs);
    let expected = dpkg_query(&db.path().join("var/lib/dpkg"));
    let facts = read_image(text(image), &ReadOptions::default(), &Analyzers::default()).unwrap();
    let inventory = facts.inventory();
    let got: BTreeSet<(String, String, String)> = inventory
        .packages
        .iter()
        .filter(|p| p.format == DbFormat::Dpkg)
        .map(|p| {
            (
                p.name.clone(),
                p.arch.clone().unwrap_or_default(),
                p.version.clone(),
            )
        })
        .collect();
    eprintln!(
        "dpkg-query lists {} packages; portcullis {}",
        expected.len(),
        got.len()
    );
    assert!(expected.len() > 50, "a minbase has about 90 packages");
    assert_eq!(got, expected);
    let os = inventory.os.expect("os-release");
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("debian", Some("12"))
    );
}

/// The bookworm-security `Packages.xz` for the host's architecture, downloaded at most once
/// a day.
fn security_index(arch: &str) -> Option<PathBuf> {
    let path = cache_dir().join(format!("bookworm-security-{arch}-Packages.xz"));
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < Duration::from_secs(24 * 3600));
    if fresh {
        return Some(path);
    }
    if !tool_installed("curl") {
        // An older copy will do.
        if path.is_file() {
            return Some(path);
        }
        skip("curl is not installed");
        return None;
    }
    let url = format!("{SECURITY_MIRROR}/dists/bookworm-security/main/binary-{arch}/Packages.xz");
    let part = path.with_extension("part");
    let ok = Command::new("curl")
        .args(["-fsSL", "--max-time", "120", "-o"])
        .arg(&part)
        .arg(&url)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        std::fs::rename(&part, &path).unwrap();
        Some(path)
    } else if path.is_file() {
        Some(path)
    } else {
        skip(format!("{url} cannot be downloaded"));
        None
    }
}

/// `dpkg --compare-versions a op b`.
fn dpkg_compare(a: &str, op: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .expect("run dpkg")
        .success()
}

/// Every (name, arch) of a `Packages` file with all its versions, read the plain way.
fn index_versions(packages_xz: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let out = Command::new("xz")
        .arg("-dc")
        .arg(packages_xz)
        .output()
        .expect("run xz");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut versions: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(str::to_string)
        };
        if let (Some(p), Some(a), Some(v)) =
            (field("Package"), field("Architecture"), field("Version"))
        {
            versions.entry((p, a)).or_default().push(v);
        }
    }
    versions
}

#[test]
fn security_updates_match_an_independent_computation() {
    let Some(image) = image() else {
        return;
    };
    let rootfs = rootfs().expect("the image's rootfs");
    let arch = host_arch().expect("the image's architecture");
    if !have_tool("dpkg") || !have_tool("xz") {
        return;
    }
    let Some(index) = security_index(&arch) else {
        return;
    };

    // Independent: dpkg-query's packages, the index read line by line, dpkg's ordering.
    let db = extracted_dpkg_db(rootfs);
    let installed = dpkg_query(&db.path().join("var/lib/dpkg"));
    let offered = index_versions(&index);
    let mut expected = BTreeSet::new();
    for (name, pkg_arch, version) in &installed {
        let Some(candidates) = offered.get(&(name.clone(), pkg_arch.clone())) else {
            continue;
        };
        let mut best: Option<&String> = None;
        for candidate in candidates {
            if dpkg_compare(candidate, "gt", version)
                && best.is_none_or(|b| dpkg_compare(candidate, "gt", b))
            {
                best = Some(candidate);
            }
        }
        if let Some(best) = best {
            expected.insert((
                name.clone(),
                pkg_arch.clone(),
                version.clone(),
                best.clone(),
            ));
        }
    }

    let mut cmd = portcullis();
    cmd.env(portcullis::cli::scan::NOW_ENV, NOW).args([
        "scan",
        "--format",
        "json",
        "--exit-code",
        "0",
        text(image),
        "--package-index",
        &format!("bookworm-security={}", text(&index)),
    ]);
    let run = run_command(&mut cmd);
    run.expect_code(0);
    let report = run.json();
    let findings = report["findings"].as_array().unwrap();
    let got: BTreeSet<(String, String, String, String)> = findings
        .iter()
        .filter(|f| f["check"] == "outdated-security")
        .map(|f| {
            let d = &f["data"];
            let s = |k: &str| d[k].as_str().unwrap_or("").to_string();
            (
                s("package"),
                s("arch"),
                s("installed_version"),
                s("available_version"),
            )
        })
        .collect();
    assert!(
        !findings.iter().any(|f| f["check"] == "outdated-package"),
        "a security index only yields security updates"
    );
    eprintln!(
        "{} installed packages; the bookworm-security index lists {} (name, arch) pairs; \
         {} have a security update (independent computation: {})",
        installed.len(),
        offered.len(),
        got.len(),
        expected.len()
    );
    for (name, arch, installed, available) in &expected {
        eprintln!("  {name}:{arch} {installed} -> {available}");
    }
    assert_eq!(got, expected);
}

#[test]
fn fetch_indexes_reads_the_image_repository_from_the_debian_mirror() {
    let Some(image) = image() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[params.packages]\nindex_cache = \"{}\"\n",
            cache_dir().join("index-cache").display()
        ),
    )
    .unwrap();
    let mut cmd = portcullis();
    cmd.env(portcullis::cli::scan::NOW_ENV, NOW).args([
        "scan",
        "--format",
        "json",
        "--exit-code",
        "0",
        text(image),
        "--fetch-indexes",
        "--policy",
        text(&policy),
    ]);
    cmd.env_remove("PORTCULLIS_OFFLINE").arg("--skip-db-update");
    let run = run_command(&mut cmd);
    run.expect_code(0);
    let report: Value = run.json();
    let diagnostics = report["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if diagnostics.iter().any(|d| {
        d["message"]
            .as_str()
            .unwrap_or("")
            .contains("deb.debian.org")
    }) {
        skip(format!("deb.debian.org is unreachable: {diagnostics:?}"));
        return;
    }
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    // Whatever the mirror moved on to since the rootfs was built must really be newer.
    let outdated: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with("outdated-"))
        .collect();
    eprintln!("{} packages are behind bookworm main", outdated.len());
    for f in outdated {
        let d = &f["data"];
        assert_eq!(d["suite"], "bookworm");
        assert!(dpkg_compare(
            d["available_version"].as_str().unwrap(),
            "gt",
            d["installed_version"].as_str().unwrap()
        ));
    }
}
