//! OSV records other projects publish (../shared/corpus: golang/vulndb, pypa's YAML
//! advisories, RustSec, osv.dev's Debian DSA and test records, the OSV schema's samples and
//! linter fixtures, trivy-db's GitHub advisories in OSV form) read as
//! `expected/osv.json` says they read, loaded as databases, and matched against packages.

mod common;

use portcullis::advisories::osv::record::{Event, RangeKind, Record};
use portcullis::advisories::osv::{Database, Limits, Vulnerability};
use portcullis::inventory::os::OsRelease;
use portcullis::inventory::{DbFormat, Package};
use portcullis::policy::Severity;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const TODAY: &str = "2026-06-01";

/// The databases of the corpus: every folder that holds OSV records.
const ROOTS: &[&str] = &[
    "golang_vulndb",
    "pypa_advisory-database",
    "rustsec_advisory-db",
    "google_osv.dev",
    "ossf_osv-schema",
    "aquasecurity_trivy-db",
];

fn expected(corpus: &Path) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(corpus.join("expected/osv.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["records"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn parse(path: &Path) -> Result<Record, String> {
    let bytes = std::fs::read(path).unwrap();
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let parsed = if yaml {
        Record::parse_yaml(&bytes)
    } else {
        Record::parse_json(&bytes)
    };
    parsed.map_err(|e| e.to_string())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `{"introduced": "0"}` as an [`Event`].
fn event(v: &Value) -> Event {
    let (k, v) = v.as_object().unwrap().iter().next().unwrap();
    let v = v.as_str().unwrap().to_string();
    match k.as_str() {
        "introduced" => Event::Introduced(v),
        "fixed" => Event::Fixed(v),
        "last_affected" => Event::LastAffected(v),
        "limit" => Event::Limit(v),
        other => panic!("event {other}"),
    }
}

#[test]
fn every_record_reads_as_expected() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let expected = expected(&corpus);
    assert_eq!(expected.len(), 224);
    let mut compared = 0;
    for (rel, want) in &expected {
        let got = parse(&corpus.join(rel));
        if want.get("parse_error").is_some() {
            let e = got.expect_err(rel);
            assert!(e.starts_with("not valid JSON"), "{rel}: {e}");
            continue;
        }
        let record = got.unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(record.id, want["id"].as_str().unwrap(), "{rel}");
        assert_eq!(record.aliases, strings(&want["aliases"]), "{rel}: aliases");
        assert_eq!(
            record.withdrawn.as_deref(),
            want["withdrawn"].as_str(),
            "{rel}: withdrawn"
        );
        // Entries without a package name only GIT ranges and are left out; GIT ranges are
        // left out of the rest.
        let want_affected: Vec<&Value> = want["affected"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["ecosystem"].is_string() && a["name"].is_string())
            .collect();
        assert_eq!(
            record.affected.len(),
            want_affected.len(),
            "{rel}: affected"
        );
        for (got, want) in record.affected.iter().zip(want_affected) {
            assert_eq!(got.ecosystem, want["ecosystem"].as_str().unwrap(), "{rel}");
            assert_eq!(got.name, want["name"].as_str().unwrap(), "{rel}");
            assert_eq!(
                got.versions.len() as u64,
                want["versions_count"].as_u64().unwrap_or(0),
                "{rel}: {} versions",
                got.name
            );
            let want_ranges: Vec<(RangeKind, Vec<Event>)> = want["ranges"]
                .as_array()
                .map(|rs| {
                    rs.iter()
                        .filter_map(|r| {
                            let kind = match r["type"].as_str()? {
                                "SEMVER" => RangeKind::Semver,
                                "ECOSYSTEM" => RangeKind::Ecosystem,
                                _ => return None,
                            };
                            let events = r["events"].as_array()?.iter().map(event).collect();
                            Some((kind, events))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let got_ranges: Vec<(RangeKind, Vec<Event>)> = got
                .ranges
                .iter()
                .map(|r| (r.kind, r.events.clone()))
                .collect();
            assert_eq!(got_ranges, want_ranges, "{rel}: {} ranges", got.name);
        }
        compared += 1;
    }
    assert_eq!(compared, 221);
}

/// Each corpus folder as a database: every OSV record counted, withdrawn ones left out,
/// and every file that is not one (broken JSON, the OSV schema itself, the ecosystem list,
/// GitHub's advisory format before conversion, CocoaPods specs) skipped with a reason.
#[test]
fn corpus_folders_load_as_databases() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let expected = expected(&corpus);
    for root in ROOTS {
        let db = Database::load(&[corpus.join(root)], None, TODAY, Limits::default()).unwrap();
        let under: Vec<&Value> = expected
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{root}/")))
            .map(|(_, v)| v)
            .collect();
        let parse_errors = under
            .iter()
            .filter(|v| v.get("parse_error").is_some())
            .count();
        let withdrawn = under
            .iter()
            .filter(|v| v["withdrawn"].as_str().is_some_and(|w| &w[..10] <= TODAY))
            .count();
        assert_eq!(db.stats.records, under.len() - parse_errors, "{root}");
        assert_eq!(db.stats.withdrawn, withdrawn, "{root}");
        let files = walk(&corpus.join(root));
        let not_records = files.len() - under.len();
        assert_eq!(db.stats.skipped, parse_errors + not_records, "{root}");
        assert_eq!(db.problems.len(), db.stats.skipped);
        for problem in &db.problems {
            let rel = format!("{root}/{}", problem.file);
            match expected.get(&rel) {
                Some(v) => {
                    assert!(v.get("parse_error").is_some(), "{rel}");
                    assert!(problem.reason.starts_with("not valid JSON"), "{rel}");
                }
                None => assert!(
                    problem.reason.contains("no \"id\""),
                    "{rel}: {}",
                    problem.reason
                ),
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path
            .extension()
            .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
        {
            out.push(path);
        }
    }
    out
}

fn package(ecosystem: &str, name: &str, version: &str, source: Option<&str>) -> Package {
    let format = match ecosystem {
        "Debian" | "Ubuntu" => DbFormat::Dpkg,
        "Alpine" => DbFormat::Apk,
        "Red Hat" => DbFormat::Rpm,
        "PyPI" => DbFormat::Python,
        "Go" => DbFormat::GoBinary,
        "crates.io" => DbFormat::RustBinary,
        "Maven" => DbFormat::Java,
        _ => DbFormat::Npm,
    };
    Package {
        name: name.into(),
        version: version.into(),
        source_name: source.map(str::to_string),
        source_version: source.map(|_| version.to_string()),
        ecosystem: ecosystem.into(),
        purl: format!("pkg:test/{name}@{version}"),
        format,
        path: "db".into(),
        layer: 0,
        arch: None,
        license: None,
        application: false,
    }
}

fn os(id: &str, version_id: &str) -> OsRelease {
    OsRelease {
        id: id.into(),
        version_id: Some(version_id.into()),
        source: "etc/os-release".into(),
        ..Default::default()
    }
}

fn hits(db: &Database, package: &Package, os: Option<&OsRelease>) -> Vec<(String, Option<String>)> {
    let mut v: Vec<(String, Option<String>)> = db
        .affecting(package, os)
        .into_iter()
        .map(|v: Vulnerability| (v.id, v.fixed_version))
        .collect();
    v.sort();
    v
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// Real records matched against installed versions on either side of their fixes.
#[test]
fn corpus_records_match_installed_packages() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let paths: Vec<PathBuf> = ROOTS.iter().map(|r| corpus.join(r)).collect();
    let db = Database::load(&paths, None, TODAY, Limits::default()).unwrap();

    // DSA-3029-1 names the source package nginx on Debian 7; nginx-common is one of its
    // binaries.
    let wheezy = os("debian", "7");
    let nginx = |v| package("Debian", "nginx-common", v, Some("nginx"));
    assert_eq!(
        hits(&db, &nginx("1.2.1-2.2+wheezy2"), Some(&wheezy)),
        [("DSA-3029-1".into(), some("1.2.1-2.2+wheezy3"))]
    );
    assert!(hits(&db, &nginx("1.2.1-2.2+wheezy3"), Some(&wheezy)).is_empty());
    assert!(
        hits(&db, &nginx("1.2.1-2.2+wheezy2"), Some(&os("debian", "8"))).is_empty(),
        "Debian:7 is not Debian 8"
    );
    assert!(hits(&db, &nginx("1.2.1-2.2+wheezy2"), None).is_empty());

    // pypa YAML: urllib3 before 1.24.2, names compared PEP 503 normalised.
    assert_eq!(
        hits(&db, &package("PyPI", "URLlib3", "1.24.1", None), None),
        [("PYSEC-2023-207".into(), some("1.24.2"))]
    );
    assert!(hits(&db, &package("PyPI", "urllib3", "1.24.2", None), None).is_empty());

    // Django: intervals listed out of order.
    let django = |v| hits(&db, &package("PyPI", "Django", v, None), None);
    assert!(django("2.1.5").contains(&("PYSEC-2019-14".into(), some("2.1.11"))));
    assert!(!django("2.1.11").iter().any(|(id, _)| id == "PYSEC-2019-14"));

    // RustSec: several SEMVER intervals in one range, pre-releases included.
    let lettre = |v| hits(&db, &package("crates.io", "lettre", v, None), None);
    assert_eq!(
        lettre("0.9.2"),
        [("RUSTSEC-2020-0069".into(), some("0.9.5"))]
    );
    assert_eq!(
        lettre("0.10.0-alpha.2"),
        [("RUSTSEC-2020-0069".into(), some("0.10.0-alpha.4"))]
    );
    assert!(lettre("0.9.5").is_empty());
    assert!(lettre("0.10.0").is_empty());

    // Go vulndb: module versions carry a `v`.
    assert_eq!(
        hits(
            &db,
            &package("Go", "github.com/gin-gonic/gin", "v1.5.0", None),
            None
        ),
        [("GO-2020-0001".into(), some("1.6.0"))]
    );

    // An Alpine record per release branch: only v3.8's applies to Alpine 3.8.
    let openssl = package("Alpine", "libssl1.0", "1.0.2p-r0", Some("openssl"));
    let found = db.affecting(&openssl, Some(&os("alpine", "3.8.1")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, "CVE-2018-5407");
    assert_eq!(found[0].fixed_version.as_deref(), Some("1.0.2q-r0"));
    assert!(
        db.affecting(&openssl, Some(&os("alpine", "3.12.0")))
            .is_empty()
    );

    // trivy-db's GitHub advisory in OSV form, rated by GitHub's word over its CVSS vector.
    let spring = package(
        "Maven",
        "org.springframework.boot:spring-boot",
        "1.5.9.RELEASE",
        None,
    );
    let found = db.affecting(&spring, None);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, "GHSA-xx65-cc7g-9pfp");
    assert_eq!(found[0].aliases, ["CVE-2018-1196"]);
    let rating = found[0].severity.as_ref().unwrap();
    assert_eq!(
        (rating.severity, rating.basis.as_str()),
        (Severity::Medium, "database: MODERATE")
    );

    // Red Hat: the binary RPM name and the release of the product stream.
    let git_lfs = package("Red Hat", "git-lfs", "2.13.3-3.el8_6", None);
    let rhel86 = os("rhel", "8.6");
    let found: Vec<String> = db
        .affecting(&git_lfs, Some(&rhel86))
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(found, ["RHSA-2024:4546"]);
    assert!(db.affecting(&git_lfs, Some(&os("rhel", "9.2"))).is_empty());

    // A withdrawn advisory matches nothing; one withdrawn in the future still does.
    assert!(hits(&db, &package("PyPI", "redis", "4.5.4", None), None).is_empty());
    assert_eq!(
        hits(&db, &package("PyPI", "scipy", "0.12.0", None), None),
        [("PYSEC-2019-156".into(), some("0.12.1"))]
    );
}
