//! The package and OS parsers against real fixtures other scanners test with
//! (../shared/corpus), compared with the lists written down in `corpus/expected/`.
//!
//! Where upstream tools disagree with each other, portcullis does what dpkg, apk and rpm
//! themselves do; every case where that differs from an upstream expectation is listed
//! with its reason next to the comparison.

use portcullis::inventory::os::{self, OsRelease};
use portcullis::inventory::rpm::header::{self, Header};
use portcullis::inventory::rpm::{self, Backend};
use portcullis::inventory::{PackageRecord, apk, dpkg};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: ../shared/corpus not found");
        None
    }
}

fn expected(corpus: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(corpus.join("expected").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read(corpus: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(corpus.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// The sections of a txtar archive (`-- name --` lines), by name.
fn txtar(data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let text = String::from_utf8_lossy(data);
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end_matches('\n');
        if let Some(name) = trimmed
            .strip_prefix("-- ")
            .and_then(|r| r.strip_suffix(" --"))
        {
            if let Some((n, body)) = current.take() {
                out.insert(n, body.into_bytes());
            }
            current = Some((name.to_string(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    if let Some((n, body)) = current {
        out.insert(n, body.into_bytes());
    }
    out
}

// ---------------------------------------------------------------------------------------
// rpm

fn rpm_packages(data: &[u8], backend: Backend) -> Vec<header::RpmPackage> {
    let (packages, damaged) = rpm::packages(data, backend).unwrap();
    assert_eq!(damaged, 0);
    packages
}

fn backend_of(path: &str) -> Backend {
    if path.ends_with(".sqlite") {
        Backend::Sqlite
    } else if path.ends_with(".db") {
        Backend::Ndb
    } else {
        Backend::BerkeleyDb
    }
}

#[test]
fn rpmdb_package_lists_match_go_rpmdb() {
    let Some(corpus) = corpus() else { return };
    let want = expected(&corpus, "rpmdb.json");
    let mut checked = 0;
    for (path, case) in want.as_object().unwrap() {
        if path.ends_with("blob.bin") {
            // A header blob alone: NEVRA readable, the file list not (its file tags are
            // missing), which must be an error.
            let blob = read(&corpus, path);
            let header = Header::parse(&blob).unwrap();
            let p = header.package().unwrap();
            assert!(!p.name.is_empty() && !p.version.is_empty() && !p.release.is_empty());
            assert!(header.files().is_err());
            checked += 1;
            continue;
        }
        let data = read(&corpus, path);
        let packages = rpm_packages(&data, backend_of(path));
        assert_eq!(packages.len(), case["count"].as_u64().unwrap() as usize, "{path}");
        if let Some(list) = case["packages"].as_array() {
            for (got, want) in packages.iter().zip(list) {
                let ctx = format!("{path} {}", got.name);
                assert_eq!(got.epoch, want["epoch"].as_u64(), "{ctx}");
                assert_eq!(Some(got.name.clone()), s(&want["name"]), "{ctx}");
                assert_eq!(Some(got.version.clone()), s(&want["version"]), "{ctx}");
                assert_eq!(Some(got.release.clone()), s(&want["release"]), "{ctx}");
                assert_eq!(got.arch, s(&want["arch"]), "{ctx}");
                assert_eq!(got.source_rpm, s(&want["sourceRpm"]), "{ctx}");
                assert_eq!(got.size, want["size"].as_u64(), "{ctx}");
                assert_eq!(got.license, s(&want["license"]), "{ctx}");
                assert_eq!(got.vendor, s(&want["vendor"]), "{ctx}");
                assert_eq!(
                    got.modularity_label.clone().unwrap_or_default(),
                    want["modularitylabel"].as_str().unwrap_or_default(),
                    "{ctx}"
                );
                assert_eq!(got.summary, s(&want["summary"]), "{ctx}");
                assert_eq!(got.sigmd5, s(&want["sigmd5"]), "{ctx}");
            }
        }
        if let Some(detail) = case.get("detail") {
            let w = &detail["want"];
            let name = detail["package"].as_str().unwrap();
            let mut found = None;
            rpm::for_each_blob(&data, backend_of(path), |blob| {
                let header = Header::parse(blob).unwrap();
                let p = header.package().unwrap();
                if p.name == name {
                    found = Some((p, header.files().unwrap()));
                }
            })
            .unwrap();
            let (p, files) = found.unwrap();
            assert_eq!(Some(p.version.clone()), s(&w["version"]));
            assert_eq!(Some(p.release.clone()), s(&w["release"]));
            assert_eq!(p.arch, s(&w["arch"]));
            assert_eq!(p.source_rpm, s(&w["sourceRpm"]));
            assert_eq!(p.size, w["size"].as_u64());
            assert_eq!(p.license, s(&w["license"]));
            assert_eq!(p.vendor, s(&w["vendor"]));
            assert_eq!(p.summary, s(&w["summary"]));
            assert_eq!(p.sigmd5, s(&w["sigMD5"]));
            assert_eq!(
                Some(header::digest_algorithm_name(p.digest_algorithm).to_string()),
                s(&w["digestAlgorithm"])
            );
            assert_eq!(p.pgp.map(|g| g.to_string()), s(&w["pGP"]));
            assert_eq!(p.rsa_header.map(|g| g.to_string()), s(&w["rSAHeader"]));
            assert_eq!(p.install_time, w["installTime"].as_u64());
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect()
            };
            assert_eq!(p.provides, strings(&w["provides"]));
            assert_eq!(p.requires, strings(&w["requires"]));
            let names: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
            assert_eq!(names, strings(&w["installedFileNames"]));
            for (f, wf) in files.iter().zip(w["installedFiles"].as_array().unwrap()) {
                assert_eq!(Some(f.path.clone()), s(&wf["path"]));
                assert_eq!(u64::from(f.mode), wf["mode"].as_u64().unwrap(), "{}", f.path);
                assert_eq!(Some(f.digest.clone()), s(&wf["digest"]), "{}", f.path);
                assert_eq!(f.size, wf["size"].as_u64().unwrap(), "{}", f.path);
                assert_eq!(Some(f.username.clone()), s(&wf["username"]));
                assert_eq!(Some(f.groupname.clone()), s(&wf["groupname"]));
                assert_eq!(u64::from(f.flags), wf["flags"].as_u64().unwrap(), "{}", f.path);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}
