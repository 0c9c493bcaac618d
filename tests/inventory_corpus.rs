//! The package and OS parsers against real fixtures other scanners test with
//! (../shared/corpus), compared with the lists written down in `corpus/expected/`.
//!
//! Where upstream tools disagree with each other, portcullis does what dpkg, apk and rpm
//! themselves do; every case where that differs from an upstream expectation is listed
//! with its reason next to the comparison.

mod common;

use common::corpus;
use portcullis::inventory::os::{self, OsRelease};
use portcullis::inventory::rpm::header::{self, Header};
use portcullis::inventory::rpm::{self, Backend};
use portcullis::inventory::{PackageRecord, apk, dpkg};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

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
        assert_eq!(
            packages.len(),
            case["count"].as_u64().unwrap() as usize,
            "{path}"
        );
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
                assert_eq!(
                    u64::from(f.mode),
                    wf["mode"].as_u64().unwrap(),
                    "{}",
                    f.path
                );
                assert_eq!(Some(f.digest.clone()), s(&wf["digest"]), "{}", f.path);
                assert_eq!(f.size, wf["size"].as_u64().unwrap(), "{}", f.path);
                assert_eq!(Some(f.username.clone()), s(&wf["username"]));
                assert_eq!(Some(f.groupname.clone()), s(&wf["groupname"]));
                assert_eq!(
                    u64::from(f.flags),
                    wf["flags"].as_u64().unwrap(),
                    "{}",
                    f.path
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn rpm_small_databases_match_syft_and_scalibr() {
    let Some(corpus) = corpus() else { return };
    let syft = expected(&corpus, "rpm-syft.json");
    for (path, cases) in syft.as_object().unwrap() {
        let packages = rpm_packages(&read(&corpus, path), Backend::BerkeleyDb);
        for case in cases.as_array().unwrap() {
            // `ignorePaths` only changes syft's file listing, not the package.
            assert_eq!(packages.len(), case["count"].as_u64().unwrap() as usize);
            for (got, want) in packages.iter().zip(case["packages"].as_array().unwrap()) {
                let m = &want["metadata"];
                assert_eq!(Some(got.name.clone()), s(&m["Name"]));
                assert_eq!(Some(got.version.clone()), s(&m["Version"]));
                assert_eq!(Some(got.release.clone()), s(&m["Release"]));
                assert_eq!(got.arch, s(&m["Arch"]));
                assert_eq!(got.source_rpm, s(&m["SourceRpm"]));
                assert_eq!(got.size, m["Size"].as_u64());
                assert_eq!(Some(got.evr()), s(&want["Version"]));
                let provides: Vec<Value> = got
                    .provides
                    .iter()
                    .map(|p| Value::from(p.as_str()))
                    .collect();
                assert_eq!(Value::from(provides), m["Provides"]);
            }
        }
    }

    let scalibr = expected(&corpus, "rpm-scalibr.json");
    for (path, cases) in scalibr.as_object().unwrap() {
        let data = read(&corpus, path);
        for case in cases.as_array().unwrap() {
            if case["error"].as_bool() == Some(true) {
                // Not a database in any of the three formats.
                for backend in [Backend::Sqlite, Backend::Ndb, Backend::BerkeleyDb] {
                    assert!(rpm::packages(&data, backend).is_err(), "{path} {backend:?}");
                }
                continue;
            }
            let (records, damaged) = rpm::records(&data, Backend::BerkeleyDb).unwrap();
            assert_eq!(damaged, 0);
            assert_eq!(
                records.len(),
                case["total_packages"].as_u64().unwrap() as usize
            );
            let packages = rpm_packages(&data, Backend::BerkeleyDb);
            for (got, want) in packages.iter().zip(case["packages"].as_array().unwrap()) {
                let m = &want["metadata"];
                assert_eq!(Some(got.name.clone()), s(&want["Name"]));
                assert_eq!(
                    Some(format!("{}-{}", got.version, got.release)),
                    s(&want["Version"])
                );
                assert_eq!(got.epoch, m["Epoch"].as_u64());
                assert_eq!(got.source_rpm, s(&m["SourceRPM"]));
                assert_eq!(got.arch, s(&m["Architecture"]));
                assert_eq!(got.license, s(&want["Licenses"][0]));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// dpkg

/// What we report for one stanza, in the fields every upstream list has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Deb {
    name: String,
    version: String,
    source_name: String,
    source_version: String,
    arch: Option<String>,
}

fn debs(records: Vec<PackageRecord>) -> Vec<Deb> {
    records
        .into_iter()
        .map(|r| Deb {
            source_name: r.source_name.unwrap_or_default(),
            source_version: r.source_version.unwrap_or_default(),
            name: r.name,
            version: r.version,
            arch: r.arch,
        })
        .collect()
}

fn sorted(mut v: Vec<Deb>) -> Vec<Deb> {
    v.sort();
    v
}

/// Trivy splits versions into epoch, version and release; joined back here.
fn trivy_version(p: &Value, prefix: &str) -> String {
    let mut v = String::new();
    if let Some(e) = p[format!("{prefix}epoch")].as_u64() {
        v.push_str(&format!("{e}:"));
    }
    v.push_str(p[format!("{prefix}version")].as_str().unwrap_or_default());
    if let Some(r) = p[format!("{prefix}release")].as_str() {
        v.push('-');
        v.push_str(r);
    }
    v
}

#[test]
fn dpkg_status_files_match_trivy() {
    let Some(corpus) = corpus() else { return };
    let want = expected(&corpus, "dpkg-trivy.json");
    let mut checked = 0;
    for (key, cases) in want.as_object().unwrap() {
        for case in cases.as_array().unwrap() {
            // Plain files carry a layout (fixture → path in the image); txtar archives
            // hold the image paths as section names.
            let status = match case.get("layout") {
                Some(layout) => {
                    let (file, _) = layout
                        .as_object()
                        .unwrap()
                        .iter()
                        .find(|(_, image)| *image == "var/lib/dpkg/status")
                        .unwrap();
                    read(&corpus, file)
                }
                None => txtar(&read(&corpus, key))
                    .remove("var/lib/dpkg/status")
                    .unwrap(),
            };
            let got = sorted(debs(dpkg::parse(&status, dpkg::Layout::Status).unwrap()));
            // Trivy's list is ours: both drop `git` (`deinstall ok config-files`: only its
            // configuration is left), the stanza without a version and `invalidpkg`
            // (no Status, and `1:5.#` is not a version dpkg accepts).
            let expected: Vec<Deb> = sorted(
                case["packages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| Deb {
                        name: s(&p["name"]).unwrap(),
                        version: trivy_version(p, ""),
                        source_name: s(&p["src_name"]).unwrap(),
                        source_version: trivy_version(p, "src_"),
                        arch: s(&p["arch"]),
                    })
                    .collect(),
            );
            assert_eq!(got.len(), case["count"].as_u64().unwrap() as usize, "{key}");
            assert_eq!(got, expected, "{key}");
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

#[test]
fn dpkg_status_files_match_syft() {
    let Some(corpus) = corpus() else { return };
    let want = expected(&corpus, "dpkg-syft.json");
    for (path, cases) in want.as_object().unwrap() {
        let layout = if path.contains("/status.d/") {
            dpkg::Layout::StatusD
        } else {
            dpkg::Layout::Status
        };
        let data = read(&corpus, path);
        for case in cases.as_array().unwrap() {
            if case["error"].as_bool() == Some(true) {
                assert!(dpkg::parse(&data, layout).is_err(), "{path}");
                continue;
            }
            let got = debs(dpkg::parse(&data, layout).unwrap());
            let expected: Vec<Deb> = case["packages"]
                .as_array()
                .unwrap()
                .iter()
                // syft keeps `no-version`, a stanza without a Version: dpkg rejects an
                // installed package without one, and so do we.
                .filter(|p| p["Version"].is_string())
                .map(|p| {
                    let name = s(&p["Package"]).unwrap();
                    let version = s(&p["Version"]).unwrap();
                    Deb {
                        source_name: s(&p["Source"]).unwrap_or_else(|| name.clone()),
                        source_version: version.clone(),
                        name,
                        version,
                        arch: s(&p["Architecture"]),
                    }
                })
                .collect();
            assert_eq!(got, expected, "{path}");
        }
    }
    // opkg keeps its licenses in the status file.
    let opkg = read(
        &corpus,
        "anchore_syft/syft/pkg/cataloger/debian/testdata/var/lib/opkg/status",
    );
    let licenses: Vec<Option<String>> = dpkg::parse(&opkg, dpkg::Layout::Status)
        .unwrap()
        .into_iter()
        .map(|r| r.license)
        .collect();
    let raw = &want["anchore_syft/syft/pkg/cataloger/debian/testdata/var/lib/opkg/status"][0]["licenses_raw"];
    let raw: Vec<Option<String>> = raw.as_array().unwrap().iter().map(s).collect();
    assert_eq!(licenses, raw);
}

#[test]
fn dpkg_status_files_match_scalibr() {
    let Some(corpus) = corpus() else { return };
    let want = expected(&corpus, "dpkg-scalibr.json");
    let mut checked = 0;
    for (path, cases) in want.as_object().unwrap() {
        let data = read(&corpus, path);
        let layout = if path.contains("/status.d/") {
            dpkg::Layout::StatusD
        } else {
            dpkg::Layout::Status
        };
        for case in cases.as_array().unwrap() {
            let test = case["test"].as_str().unwrap();
            if path.ends_with(".md5sums") {
                // distroless' md5sums beside a status.d file are not a database: the
                // analyzer never reads them as one.
                assert_eq!(case["count"], 0);
                continue;
            }
            if case["error"].as_bool() == Some(true) {
                assert!(dpkg::parse(&data, layout).is_err(), "{path}");
                checked += 1;
                continue;
            }
            let include_not_installed = case["options"]["cfg"].is_object();
            let expected: Vec<Deb> = case["packages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| {
                    let name = p["Name"].as_str().unwrap();
                    // The status files of `statusfield` list one package per dpkg state.
                    // scalibr keeps only `…installed` by default, or everything with
                    // IncludeNotInstalled. We keep what leaves the package's files on
                    // disk (the third word of Status): `unpacked` and `half-installed`
                    // too, but not `config-files` or `not-installed` (only configuration,
                    // or nothing, remains), and not a stanza of a status file without a
                    // Status field (dpkg reads it as not installed).
                    !matches!(
                        name,
                        "wantdeinstall_configfiles" | "wantpurge_notinstalled" | "wantnostatus"
                    )
                })
                .map(|p| {
                    let m = &p["metadata"];
                    let name = s(&p["Name"]).unwrap();
                    let version = s(&p["Version"]).unwrap();
                    Deb {
                        source_name: s(&m["SourceName"]).unwrap_or_else(|| name.clone()),
                        source_version: s(&m["SourceVersion"]).unwrap_or_else(|| version.clone()),
                        name,
                        version,
                        arch: s(&m["Architecture"]),
                    }
                })
                .collect();
            let mut got = debs(dpkg::parse(&data, layout).unwrap());
            if path.ends_with("/statusfield") && !include_not_installed {
                // See above: the default scalibr list leaves out `unpacked` and
                // `half-installed`, which we count as installed.
                got.retain(|d| {
                    !matches!(
                        d.name.as_str(),
                        "wantinstall_unpacked" | "wantinstall_halfinstalled"
                    )
                });
            }
            assert_eq!(sorted(got), sorted(expected), "{path}: {test}");
            checked += 1;
        }
    }
    assert_eq!(checked, 28);
}

#[test]
fn dpkg_source_fields_match_claircore() {
    let Some(corpus) = corpus() else { return };
    let want = expected(&corpus, "dpkg-claircore.json");
    for (path, cases) in want.as_object().unwrap() {
        let got = dpkg::parse(&read(&corpus, path), dpkg::Layout::Status).unwrap();
        for case in cases.as_array().unwrap() {
            if let Some(first) = case.get("first_stanza") {
                let stanzas = dpkg::parse_stanzas(&read(&corpus, path)).unwrap();
                let version = stanzas[0]
                    .iter()
                    .find(|(k, _)| k == "Version")
                    .map(|(_, v)| v.clone());
                assert_eq!(version, s(&first["Version"]));
            }
            if let Some(package) = case["package"].as_str() {
                let p = got.iter().find(|p| p.name == package).unwrap();
                assert_eq!(p.source_name, s(&case["source"]["name"]));
                assert_eq!(p.source_version, s(&case["source"]["version"]));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// apk

#[derive(Debug, PartialEq, Eq)]
struct Apk {
    name: String,
    version: String,
    origin: String,
    arch: Option<String>,
}

fn apks(records: Vec<PackageRecord>) -> Vec<Apk> {
    records
        .into_iter()
        .map(|r| Apk {
            origin: r.source_name.unwrap_or_default(),
            name: r.name,
            version: r.version,
            arch: r.arch,
        })
        .collect()
}

#[test]
fn apk_databases_match_trivy_syft_and_scalibr() {
    let Some(corpus) = corpus() else { return };

    // Trivy: 16 records, one without a version (apk-tools drops it too). Trivy's
    // licenses are normalised to SPDX (`GPL2` → `GPL-2.0-only`); we keep the database's
    // string, so only names, versions, origins and architectures are compared here.
    let trivy = expected(&corpus, "apk-trivy.json");
    for (path, cases) in trivy.as_object().unwrap() {
        let got = apks(apk::parse(&read(&corpus, path)).unwrap());
        for case in cases.as_array().unwrap() {
            let want: Vec<Apk> = case["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| Apk {
                    name: s(&p["name"]).unwrap(),
                    version: s(&p["version"]).unwrap(),
                    origin: s(&p["src_name"]).unwrap(),
                    arch: s(&p["arch"]),
                })
                .collect();
            assert_eq!(got, want, "{path}");
        }
    }

    let syft = expected(&corpus, "apk-syft.json");
    for (path, cases) in syft.as_object().unwrap() {
        let records = apk::parse(&read(&corpus, path)).unwrap();
        for case in cases.as_array().unwrap() {
            let want: Vec<Apk> = case["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| Apk {
                    name: s(&p["Package"]).unwrap(),
                    version: s(&p["Version"]).unwrap(),
                    origin: s(&p["OriginPackage"]).unwrap(),
                    arch: s(&p["Architecture"]),
                })
                .collect();
            assert_eq!(apks(records.clone()), want, "{path}");
        }
    }

    let scalibr = expected(&corpus, "apk-scalibr.json");
    for (path, cases) in scalibr.as_object().unwrap() {
        let data = read(&corpus, path);
        for case in cases.as_array().unwrap() {
            if case["error"].as_bool() == Some(true) {
                assert!(apk::parse(&data).is_err(), "{path}");
                continue;
            }
            let records = apk::parse(&data).unwrap();
            let licenses: Vec<Option<String>> = records.iter().map(|r| r.license.clone()).collect();
            let want: Vec<Apk> = case["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let name = s(&p["Name"]).unwrap();
                    Apk {
                        origin: s(&p["metadata"]["OriginName"]).unwrap_or_else(|| name.clone()),
                        name,
                        version: s(&p["Version"]).unwrap(),
                        arch: s(&p["metadata"]["Architecture"]),
                    }
                })
                .collect();
            let want_licenses: Vec<Option<String>> = case["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| s(&p["Licenses"][0]))
                .collect();
            assert_eq!(apks(records), want, "{path}");
            assert_eq!(licenses, want_licenses, "{path}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// OS

/// The parser for a release file, by its name, as the image path would select it.
fn parse_release(path: &str, text: &str) -> Option<OsRelease> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "debian_version" => os::parse_debian_version(text),
        "alpine-release" => os::parse_alpine_release(text),
        "lsb-release" => os::parse_lsb_release(text),
        n if n.ends_with("-release") && n != "os-release" => os::parse_redhat_release(text, path),
        _ => os::parse_os_release(text, path),
    }
}

#[test]
fn release_files_match_trivy() {
    let Some(corpus) = corpus() else { return };
    let want = expected(&corpus, "os-trivy.json");
    let mut checked = 0;
    for case in want.as_array().unwrap() {
        let test = case["test"].as_str().unwrap();
        if test.contains("ubuntuESM") {
            // Ubuntu Pro/ESM status (var/lib/ubuntu-advantage/status.json) is not read:
            // it says which advisories apply, not which distribution this is.
            continue;
        }
        let (path, text) = match case.get("file").and_then(Value::as_str) {
            Some(file) => {
                let image_path = case["os_path"].as_str().unwrap_or(file);
                let image_path = if file.contains("/analyzer/os/release/") {
                    "etc/os-release"
                } else if file.contains("/ubuntu/") {
                    "etc/lsb-release"
                } else if file.contains("/debian/") {
                    "etc/debian_version"
                } else {
                    image_path
                };
                (
                    image_path.to_string(),
                    String::from_utf8_lossy(&read(&corpus, file)).into_owned(),
                )
            }
            None => (
                case["os_path"].as_str().unwrap().to_string(),
                case["inline_content"].as_str().unwrap().to_string(),
            ),
        };
        let got = parse_release(&path, &text);
        let family = got.as_ref().and_then(OsRelease::family);
        let amazon = text.starts_with("Amazon Linux");
        match (&case["result"], case.get("error")) {
            (_, Some(_)) if amazon => {
                // Trivy wants a code name after "release 2"; the release file's version
                // alone is enough to know the distribution.
                assert_eq!(family, Some("amazon"), "{test}");
            }
            (_, Some(_)) => assert_eq!(family, None, "{test}"),
            (Value::Null, _) => match got {
                // Trivy drops an os-release without VERSION_ID; we keep the distribution
                // (Debian testing has none) and leave the version unknown.
                Some(os) if family.is_some() => {
                    assert_eq!(os.version_id, None, "{test}");
                }
                _ => assert_eq!(family, None, "{test}"),
            },
            (result, None) => {
                let os = got.unwrap_or_else(|| panic!("{test}"));
                assert_eq!(
                    Some(os.family().unwrap_or("")),
                    result["family"].as_str(),
                    "{test}"
                );
                let name = result["name"].as_str().unwrap();
                if amazon {
                    // Trivy names Amazon Linux releases by what follows "Amazon Linux":
                    // `AMI release 2018.03`, `2 (Karoo)`.
                    assert!(name.contains(os.version_id.as_deref().unwrap()), "{test}");
                } else {
                    assert_eq!(os.version_id.as_deref(), Some(name), "{test}");
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 52);
}

#[test]
fn os_release_files_match_claircore() {
    let Some(corpus) = corpus() else { return };
    let want = expected(&corpus, "os-claircore.json");
    for (path, case) in want["files"].as_object().unwrap() {
        let sections = txtar(&read(&corpus, path));
        let text = String::from_utf8_lossy(&sections["os-release"]).into_owned();
        let fields = os::parse_os_release_fields(&text);
        let parsed: BTreeMap<String, String> = case["parsed"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), s(v).unwrap()))
            .collect();
        assert_eq!(fields, parsed, "{path}");

        let os = os::parse_os_release(&text, "etc/os-release").unwrap();
        let d = &case["distribution"];
        assert_eq!(Some(os.id.clone()), s(&d["did"]), "{path}");
        assert_eq!(os.name, s(&d["name"]), "{path}");
        assert_eq!(os.version, s(&d["version"]), "{path}");
        assert_eq!(os.version_id, s(&d["version_id"]), "{path}");
        assert_eq!(os.version_codename, s(&d["version_code_name"]), "{path}");
        assert_eq!(os.cpe_name, s(&d["cpe"]), "{path}");
        // claircore replaces PRETTY_NAME of the distributions it knows by its own name
        // for them (`Fedora`, `Red Hat Enterprise Linux 8`); we keep the file's.
        if !matches!(os.id.as_str(), "fedora" | "rhel") {
            assert_eq!(os.pretty_name, s(&d["pretty_name"]), "{path}");
        } else {
            assert_eq!(
                os.pretty_name.as_deref(),
                Some(parsed["PRETTY_NAME"].as_str())
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// A whole image

#[test]
fn alpine_image_inventory() {
    let Some(corpus) = corpus() else { return };
    let image = corpus.join("aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz");
    let facts = portcullis::gate::read_image(
        image.to_str().unwrap(),
        &portcullis::gate::ReadOptions::default(),
        &portcullis::gate::analyze::Analyzers::default(),
    )
    .unwrap();
    let inventory = facts.inventory();
    let os = inventory.os.unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("alpine", Some("3.10.4"))
    );
    assert_eq!(inventory.packages.len(), 14);
    for p in &inventory.packages {
        assert_eq!(p.format, portcullis::inventory::DbFormat::Apk);
        assert_eq!((p.ecosystem.as_str(), p.layer), ("Alpine", 0));
        assert_eq!(p.path, "lib/apk/db/installed");
        assert!(
            p.purl.starts_with(&format!("pkg:apk/alpine/{}@", p.name))
                && p.purl.ends_with("distro=alpine-3.10.4"),
            "{}",
            p.purl
        );
    }
    let musl = inventory
        .packages
        .iter()
        .find(|p| p.name == "musl")
        .unwrap();
    assert_eq!(
        musl.purl,
        format!(
            "pkg:apk/alpine/musl@{}?arch=x86_64&distro=alpine-3.10.4",
            musl.version
        )
    );
}
