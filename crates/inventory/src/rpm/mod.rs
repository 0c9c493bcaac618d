//! rpm's package database in its three formats: Berkeley DB (`Packages`, up to rpm 4.16),
//! ndb (`Packages.db`, SUSE) and SQLite (`rpmdb.sqlite`, rpm ≥ 4.16). Each stores one
//! header blob per installed package; [`header`] reads them.

pub mod bdb;
pub mod header;
pub mod ndb;
pub mod sqlite;

use super::PackageRecord;
use header::{Header, RpmPackage};

/// Directories rpm keeps its database in (`%_dbpath`): the classic one, the one Fedora 36+
/// and openSUSE moved to, and old SUSE's.
pub const DB_DIRS: &[&str] = &["var/lib/rpm", "usr/lib/sysimage/rpm", "usr/share/rpm"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backend {
    /// Preferred first when one directory holds several (a converted database leaves the
    /// old file behind).
    Sqlite,
    Ndb,
    BerkeleyDb,
}

impl Backend {
    /// The backend of a database path, when it is one.
    pub fn for_path(path: &str) -> Option<Backend> {
        let (dir, file) = path.rsplit_once('/')?;
        if !DB_DIRS.contains(&dir) {
            return None;
        }
        match file {
            "rpmdb.sqlite" => Some(Backend::Sqlite),
            "Packages.db" => Some(Backend::Ndb),
            "Packages" => Some(Backend::BerkeleyDb),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    #[error("Berkeley DB: {0}")]
    Bdb(#[from] bdb::BdbError),
    #[error("ndb: {0}")]
    Ndb(#[from] ndb::NdbError),
    #[error("SQLite: {0}")]
    Sqlite(#[from] sqlite::SqliteError),
}

/// Calls `f` with every header blob of the database.
pub fn for_each_blob(data: &[u8], backend: Backend, f: impl FnMut(&[u8])) -> Result<(), RpmError> {
    match backend {
        Backend::BerkeleyDb => bdb::for_each_value(data, f)?,
        Backend::Ndb => ndb::for_each_blob(data, f)?,
        Backend::Sqlite => sqlite::for_each_blob(data, f)?,
    }
    Ok(())
}

/// Every package of the database in database order, and how many headers were damaged
/// and skipped (as `rpm -qa` skips them).
pub fn packages(data: &[u8], backend: Backend) -> Result<(Vec<RpmPackage>, usize), RpmError> {
    let mut packages = Vec::new();
    let mut damaged = 0;
    for_each_blob(data, backend, |blob| {
        match Header::parse(blob).and_then(|h| h.package()) {
            Ok(p) => packages.push(p),
            Err(_) => damaged += 1,
        }
    })?;
    Ok((packages, damaged))
}

/// `gpg-pubkey` "packages" are the keys rpm trusts, imported with `rpm --import`: no
/// software is installed with them.
pub fn is_software(package: &RpmPackage) -> bool {
    package.name != "gpg-pubkey"
}

impl From<&RpmPackage> for PackageRecord {
    fn from(p: &RpmPackage) -> PackageRecord {
        let source = p.source();
        PackageRecord {
            name: p.name.clone(),
            version: p.evr(),
            source_version: source.as_ref().map(|(_, vr)| match p.epoch {
                Some(e) => format!("{e}:{vr}"),
                None => vr.clone(),
            }),
            source_name: source.map(|(n, _)| n),
            arch: p.arch.clone(),
            license: p.license.clone(),
            application: false,
        }
    }
}

/// The installed software of a database, and the count of damaged headers.
pub fn records(data: &[u8], backend: Backend) -> Result<(Vec<PackageRecord>, usize), RpmError> {
    let (packages, damaged) = packages(data, backend)?;
    Ok((
        packages
            .iter()
            .filter(|p| is_software(p))
            .map(PackageRecord::from)
            .collect(),
        damaged,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_path() {
        assert_eq!(
            Backend::for_path("var/lib/rpm/Packages"),
            Some(Backend::BerkeleyDb)
        );
        assert_eq!(
            Backend::for_path("usr/lib/sysimage/rpm/rpmdb.sqlite"),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::for_path("var/lib/rpm/Packages.db"),
            Some(Backend::Ndb)
        );
        assert_eq!(Backend::for_path("home/x/var/lib/rpm/Packages"), None);
        assert_eq!(Backend::for_path("var/lib/rpm/Name"), None);
    }

    #[test]
    fn records_skip_damaged_headers_and_keys() {
        let good = header::tests::package_blob("bash", "5.1", "2.el9");
        let key = header::tests::package_blob("gpg-pubkey", "fd431d51", "4ae0493b");
        let mut db = vec![0u8; 4096];
        db[0..4].copy_from_slice(b"RpmP");
        db[12..16].copy_from_slice(&1u32.to_le_bytes());
        for (i, blob) in [&good[..], b"garbage!", &key[..]].iter().enumerate() {
            let block = db.len() / 16;
            let mut area = Vec::new();
            area.extend_from_slice(b"BlbS");
            area.extend_from_slice(&(i as u32 + 1).to_le_bytes());
            area.extend_from_slice(&0u32.to_le_bytes());
            area.extend_from_slice(&(blob.len() as u32).to_le_bytes());
            area.extend_from_slice(blob);
            while area.len() % 16 != 0 {
                area.push(0);
            }
            let slot = 32 + i * 16;
            db[slot..slot + 4].copy_from_slice(b"Slot");
            db[slot + 4..slot + 8].copy_from_slice(&(i as u32 + 1).to_le_bytes());
            db[slot + 8..slot + 12].copy_from_slice(&(block as u32).to_le_bytes());
            db[slot + 12..slot + 16].copy_from_slice(&((area.len() / 16) as u32).to_le_bytes());
            db.extend(area);
        }
        let (records, damaged) = records(&db, Backend::Ndb).unwrap();
        assert_eq!(damaged, 1);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].version, "5.1-2.el9");
        assert_eq!(records[0].source_name.as_deref(), Some("bash-src"));
        assert_eq!(records[0].source_version.as_deref(), Some("5.1-2.el9"));
    }
}
