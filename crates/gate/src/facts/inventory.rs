//! The image's inventory, from the package databases of every layer: for every database
//! path still visible in the final filesystem, the records of the layer whose version is
//! visible, each package attributed to the layer that installed it.

use crate::analyze::LayerReport;
use crate::facts::merge::FileSystem;
use portcullis_inventory::os::{self, OsRelease};
use portcullis_inventory::{DbFormat, Inventory, Package, PackageDb, PackageRecord, identify, rpm};
use portcullis_layer::EntryKind;
use portcullis_model::path;
use std::collections::{BTreeMap, HashSet};

/// Every database path, with each layer's version of it (the last one when a layer's tar
/// holds the path twice, as on extraction).
type DbIndex<'a> = BTreeMap<&'a str, BTreeMap<usize, &'a PackageDb>>;

fn index(reports: &[LayerReport]) -> DbIndex<'_> {
    let mut index = DbIndex::new();
    for (layer, report) in reports.iter().enumerate() {
        for db in &report.packages {
            index.entry(db.path.as_str()).or_default().insert(layer, db);
        }
    }
    index
}

/// The inventory of layers already merged into `fs`.
pub fn build(reports: &[LayerReport], fs: &FileSystem) -> Inventory {
    let os = os::detect(|p| read_captured(reports, fs, p));
    let index = index(reports);
    let mut packages = Vec::new();
    let mut chosen_rpm: BTreeMap<&str, (rpm::Backend, &str, usize)> = BTreeMap::new();
    // Debian packages' licences, from their copyright files, by package name and by the
    // file's path (a package whose doc directory links to another's shares its file).
    let mut copyright: BTreeMap<&str, &str> = BTreeMap::new();
    let mut copyright_files: BTreeMap<&str, &str> = BTreeMap::new();
    for (&db_path, versions) in &index {
        let Some(layer) = fs
            .get(db_path)
            .filter(|n| n.entry.kind == EntryKind::File)
            .map(|n| n.layer)
        else {
            continue;
        };
        let Some(db) = versions.get(&layer).filter(|db| db.error.is_none()) else {
            continue;
        };
        if db.format == DbFormat::DpkgCopyright {
            for record in &db.packages {
                if let Some(license) = &record.license {
                    copyright.insert(&record.name, license);
                    copyright_files.insert(db_path, license);
                }
            }
            continue;
        }
        if db.format == DbFormat::Rpm {
            // A converted rpm database leaves the old file beside the new one: rpm reads
            // only the one its configured backend names, the newest format.
            let backend = rpm::Backend::for_path(db_path).unwrap_or(rpm::Backend::BerkeleyDb);
            let dir = path::parent(db_path);
            if chosen_rpm.get(dir).is_none_or(|(b, _, _)| backend < *b) {
                chosen_rpm.insert(dir, (backend, db_path, layer));
            }
            continue;
        }
        push_packages(&mut packages, reports, versions, layer, db, os.as_ref());
    }
    for (_, db_path, layer) in chosen_rpm.into_values() {
        let versions = &index[db_path];
        push_packages(
            &mut packages,
            reports,
            versions,
            layer,
            versions[&layer],
            os.as_ref(),
        );
    }
    for package in packages
        .iter_mut()
        .filter(|p| p.format == DbFormat::Dpkg && p.license.is_none())
    {
        let linked = || {
            let file = format!(
                "{}{}/copyright",
                portcullis_inventory::copyright::DOC_DIR,
                package.name
            );
            fs.resolve(&file)
                .and_then(|(resolved, _)| copyright_files.get(resolved.as_str()).copied())
        };
        if let Some(license) = copyright
            .get(package.name.as_str())
            .copied()
            .or_else(linked)
        {
            package.license = Some(license.to_string());
        }
    }
    Inventory { os, packages }
}

fn push_packages(
    out: &mut Vec<Package>,
    reports: &[LayerReport],
    versions: &BTreeMap<usize, &PackageDb>,
    layer: usize,
    db: &PackageDb,
    os: Option<&OsRelease>,
) {
    let history = History::new(reports, versions, &db.path, layer);
    for record in &db.packages {
        let (ecosystem, purl) = identify(db.format, record, os);
        out.push(Package {
            name: record.name.clone(),
            version: record.version.clone(),
            source_name: record.source_name.clone(),
            source_version: record.source_version.clone(),
            ecosystem,
            purl,
            format: db.format,
            path: db.path.clone(),
            layer: history.installed_by(record),
            arch: record.arch.clone(),
            license: record.license.clone(),
            application: record.application,
        });
    }
}

/// Names and versions of one version of a database.
type Contents<'a> = HashSet<(&'a str, &'a str)>;

/// The versions of one database in the layers below the visible one, to find the layer
/// that installed each package.
struct History<'a> {
    visible: usize,
    /// Newest first: (layer, contents; `None` for a layer that deleted the database).
    below: Vec<(usize, Option<Contents<'a>>)>,
}

impl<'a> History<'a> {
    fn new(
        reports: &[LayerReport],
        versions: &BTreeMap<usize, &'a PackageDb>,
        db_path: &str,
        visible: usize,
    ) -> History<'a> {
        let mut below = Vec::new();
        for layer in (0..visible).rev() {
            let report = &reports[layer];
            if let Some(db) = versions.get(&layer) {
                if db.error.is_none() {
                    let set = db
                        .packages
                        .iter()
                        .map(|p| (p.name.as_str(), p.version.as_str()))
                        .collect();
                    below.push((layer, Some(set)));
                }
            } else if deletes(report, db_path) {
                below.push((layer, None));
            }
        }
        History { visible, below }
    }

    /// The lowest layer from which the database held `record` in every version down from
    /// the visible one: a removal (or a database without it) in between means a later
    /// layer installed it again.
    fn installed_by(&self, record: &PackageRecord) -> usize {
        let key = (record.name.as_str(), record.version.as_str());
        let mut layer = self.visible;
        for (lower, set) in &self.below {
            match set {
                Some(set) if set.contains(&key) => layer = *lower,
                _ => break,
            }
        }
        layer
    }
}

/// Whether a layer's whiteouts remove `target` from the layers below it.
fn deletes(report: &LayerReport, target: &str) -> bool {
    let under = |dir: &str| {
        dir.is_empty()
            || target == dir
            || target.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
    };
    report.whiteouts.iter().any(|w| under(w))
        || report.opaque_dirs.iter().any(|d| d != target && under(d))
}

/// A captured configuration file as the final filesystem shows it (the same rule as
/// `ImageFacts::read_file`, on layers not yet wrapped in facts).
fn read_captured<'a>(reports: &'a [LayerReport], fs: &FileSystem, path: &str) -> Option<&'a [u8]> {
    let (resolved, node) = fs.resolve(path)?;
    let key = match node.entry.kind {
        EntryKind::File => resolved,
        EntryKind::Hardlink => node.entry.link()?.to_string(),
        _ => return None,
    };
    reports.get(node.layer)?.files.get(&key).map(Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_layer::entry::Entry;

    fn file(path: &str) -> Entry {
        Entry::test_file(path)
    }

    fn record(name: &str, version: &str) -> PackageRecord {
        PackageRecord {
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
            ..Default::default()
        }
    }

    fn db(path: &str, format: DbFormat, packages: &[(&str, &str)]) -> PackageDb {
        PackageDb {
            path: path.into(),
            format,
            packages: packages.iter().map(|(n, v)| record(n, v)).collect(),
            error: None,
        }
    }

    fn layer(dbs: Vec<PackageDb>, whiteouts: &[&str], files: &[(&str, &str)]) -> LayerReport {
        LayerReport {
            entries: dbs
                .iter()
                .map(|d| file(&d.path))
                .chain(files.iter().map(|(path, _)| file(path)))
                .collect(),
            whiteouts: whiteouts.iter().map(|w| w.to_string()).collect(),
            files: files
                .iter()
                .map(|(path, content)| (path.to_string(), content.as_bytes().to_vec()))
                .collect(),
            packages: dbs,
            ..Default::default()
        }
    }

    fn build_from(reports: &[LayerReport]) -> Inventory {
        build(reports, &FileSystem::merge(reports))
    }

    fn summary(inventory: &Inventory) -> Vec<(String, String, usize)> {
        let mut v: Vec<_> = inventory
            .packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone(), p.layer))
            .collect();
        v.sort();
        v
    }

    const STATUS: &str = "var/lib/dpkg/status";

    #[test]
    fn packages_come_from_the_visible_database_and_the_layer_that_installed_them() {
        let reports = vec![
            layer(
                vec![db(
                    STATUS,
                    DbFormat::Dpkg,
                    &[("libc6", "2.36-9"), ("curl", "7.88.1-1")],
                )],
                &[],
                &[("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")],
            ),
            // Upgrades curl, adds jq.
            layer(
                vec![db(
                    STATUS,
                    DbFormat::Dpkg,
                    &[("libc6", "2.36-9"), ("curl", "7.88.1-2"), ("jq", "1.6-2")],
                )],
                &[],
                &[],
            ),
            // Touches nothing of dpkg's.
            layer(vec![], &[], &[]),
            // Removes jq.
            layer(
                vec![db(
                    STATUS,
                    DbFormat::Dpkg,
                    &[("libc6", "2.36-9"), ("curl", "7.88.1-2")],
                )],
                &[],
                &[],
            ),
        ];
        let inventory = build_from(&reports);
        assert_eq!(
            summary(&inventory),
            vec![
                ("curl".into(), "7.88.1-2".into(), 1),
                ("libc6".into(), "2.36-9".into(), 0),
            ]
        );
        let libc = inventory
            .packages
            .iter()
            .find(|p| p.name == "libc6")
            .unwrap();
        assert_eq!(libc.ecosystem, "Debian");
        assert_eq!(
            libc.purl,
            "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12"
        );
        assert_eq!(libc.path, STATUS);
    }

    #[test]
    fn a_package_removed_and_installed_again_belongs_to_the_reinstalling_layer() {
        let reports = vec![
            layer(
                vec![db(STATUS, DbFormat::Dpkg, &[("vim", "9.0")])],
                &[],
                &[],
            ),
            layer(vec![db(STATUS, DbFormat::Dpkg, &[])], &[], &[]),
            layer(
                vec![db(STATUS, DbFormat::Dpkg, &[("vim", "9.0")])],
                &[],
                &[],
            ),
        ];
        assert_eq!(
            summary(&build_from(&reports)),
            vec![("vim".into(), "9.0".into(), 2)]
        );

        // A whiteout of the database in between breaks the chain too.
        let reports = vec![
            layer(
                vec![db(STATUS, DbFormat::Dpkg, &[("vim", "9.0")])],
                &[],
                &[],
            ),
            layer(vec![], &["var/lib/dpkg"], &[]),
            layer(
                vec![db(STATUS, DbFormat::Dpkg, &[("vim", "9.0")])],
                &[],
                &[],
            ),
        ];
        assert_eq!(
            summary(&build_from(&reports)),
            vec![("vim".into(), "9.0".into(), 2)]
        );
    }

    #[test]
    fn a_deleted_database_or_binary_contributes_nothing() {
        let reports = vec![
            layer(
                vec![
                    db(STATUS, DbFormat::Dpkg, &[("vim", "9.0")]),
                    db(
                        "usr/local/bin/app",
                        DbFormat::GoBinary,
                        &[("stdlib", "v1.21.3")],
                    ),
                ],
                &[],
                &[],
            ),
            layer(vec![], &["var/lib/dpkg/status", "usr/local/bin/app"], &[]),
        ];
        assert!(build_from(&reports).packages.is_empty());
    }

    #[test]
    fn an_unreadable_database_is_skipped_and_does_not_break_attribution() {
        let mut broken = db(STATUS, DbFormat::Dpkg, &[]);
        broken.error = Some("line 1: not a `Field: value` line".into());
        let reports = vec![
            layer(
                vec![db(STATUS, DbFormat::Dpkg, &[("vim", "9.0")])],
                &[],
                &[],
            ),
            layer(vec![broken.clone()], &[], &[]),
            layer(
                vec![db(STATUS, DbFormat::Dpkg, &[("vim", "9.0")])],
                &[],
                &[],
            ),
        ];
        assert_eq!(
            summary(&build_from(&reports)),
            vec![("vim".into(), "9.0".into(), 0)]
        );
        assert!(
            build_from(&[layer(vec![broken], &[], &[])])
                .packages
                .is_empty()
        );
    }

    #[test]
    fn a_path_written_twice_in_one_layer_is_read_from_the_second_copy() {
        let reports = vec![layer(
            vec![
                db(STATUS, DbFormat::Dpkg, &[("old", "1")]),
                db(STATUS, DbFormat::Dpkg, &[("new", "2")]),
            ],
            &[],
            &[],
        )];
        assert_eq!(
            summary(&build_from(&reports)),
            vec![("new".into(), "2".into(), 0)]
        );
    }

    #[test]
    fn one_rpm_database_per_directory_the_newest_format() {
        let reports = vec![layer(
            vec![
                db("var/lib/rpm/Packages", DbFormat::Rpm, &[("old", "1-1")]),
                db(
                    "var/lib/rpm/rpmdb.sqlite",
                    DbFormat::Rpm,
                    &[("bash", "1:5.1-2.el9")],
                ),
            ],
            &[],
            &[("etc/os-release", "ID=\"rhel\"\nVERSION_ID=\"9.4\"\n")],
        )];
        let inventory = build_from(&reports);
        assert_eq!(inventory.packages.len(), 1);
        let bash = &inventory.packages[0];
        assert_eq!(bash.ecosystem, "Red Hat");
        assert_eq!(
            bash.purl,
            "pkg:rpm/redhat/bash@5.1-2.el9?arch=amd64&distro=rhel-9.4&epoch=1"
        );
    }

    #[test]
    fn language_packages_get_their_ecosystem_and_purl() {
        let reports = vec![layer(
            vec![
                db(
                    "app/node_modules/@babel/core/package.json",
                    DbFormat::Npm,
                    &[("@babel/core", "7.0.0")],
                ),
                db(
                    "usr/lib/python3/dist-packages/Zope.Interface-5.0.dist-info/METADATA",
                    DbFormat::Python,
                    &[("Zope.Interface", "5.0")],
                ),
                db(
                    "usr/bin/app",
                    DbFormat::GoBinary,
                    &[("golang.org/x/net", "v0.17.0"), ("stdlib", "v1.21.3")],
                ),
                db(
                    "usr/bin/tool",
                    DbFormat::RustBinary,
                    &[("serde", "1.0.190")],
                ),
                db(
                    "app.jar",
                    DbFormat::Java,
                    &[("com.google.guava:guava", "31.1-jre")],
                ),
                db(
                    "lib/apk/db/installed",
                    DbFormat::Apk,
                    &[("musl", "1.2.4-r0")],
                ),
            ],
            &[],
            &[("etc/os-release", "ID=wolfi\n")],
        )];
        let inventory = build_from(&reports);
        let purls: BTreeMap<&str, (&str, &str)> = inventory
            .packages
            .iter()
            .map(|p| (p.name.as_str(), (p.ecosystem.as_str(), p.purl.as_str())))
            .collect();
        assert_eq!(purls["@babel/core"], ("npm", "pkg:npm/%40babel/core@7.0.0"));
        assert_eq!(
            purls["Zope.Interface"],
            ("PyPI", "pkg:pypi/zope-interface@5.0")
        );
        assert_eq!(
            purls["golang.org/x/net"],
            ("Go", "pkg:golang/golang.org/x/net@v0.17.0")
        );
        assert_eq!(purls["stdlib"], ("Go", "pkg:golang/stdlib@v1.21.3"));
        assert_eq!(purls["serde"], ("crates.io", "pkg:cargo/serde@1.0.190"));
        assert_eq!(
            purls["com.google.guava:guava"],
            ("Maven", "pkg:maven/com.google.guava/guava@31.1-jre")
        );
        assert_eq!(
            purls["musl"],
            (
                "Wolfi",
                "pkg:apk/wolfi/musl@1.2.4-r0?arch=amd64&distro=wolfi"
            )
        );
    }
}
