//! dpkg's database: `var/lib/dpkg/status`, distroless' `var/lib/dpkg/status.d/*` (one file
//! per package, without a `Status` field), and opkg's `status` in the same format.
//!
//! The format is Debian's control-file syntax (deb-control(5)): stanzas separated by blank
//! lines, `Field: value` lines, continuation lines starting with a space or a tab. A line
//! that is none of these makes dpkg refuse the file, and so do we.

use super::PackageRecord;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DpkgError {
    #[error("line {line}: not a `Field: value` line")]
    Malformed { line: usize },
}

/// How the file was found: a `status` file lists every package dpkg knows (including
/// removed ones), a `status.d` file exists only for an installed package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Status,
    StatusD,
}

/// One stanza's fields, in file order, names as written.
pub type Stanza = Vec<(String, String)>;

/// Splits a control file into stanzas.
pub fn parse_stanzas(data: &[u8]) -> Result<Vec<Stanza>, DpkgError> {
    let text = String::from_utf8_lossy(data);
    let mut stanzas = Vec::new();
    let mut current: Stanza = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') && current.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = current.last_mut() else {
                return Err(DpkgError::Malformed { line: index + 1 });
            };
            value.push('\n');
            value.push_str(line.trim());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(DpkgError::Malformed { line: index + 1 });
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(DpkgError::Malformed { line: index + 1 });
        }
        current.push((name.to_string(), value.trim().to_string()));
    }
    if !current.is_empty() {
        stanzas.push(current);
    }
    Ok(stanzas)
}

fn field<'a>(stanza: &'a Stanza, name: &str) -> Option<&'a str> {
    stanza
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Whether dpkg's `Status` (`WANT FLAG STATUS`) leaves the package's files on disk. The
/// third word is what dpkg did, the first only what the administrator asked for:
/// `deinstall ok installed` is still installed, `install ok config-files` is not.
/// `not-installed` and `config-files` leave at most configuration behind.
pub fn files_present(status: &str) -> bool {
    matches!(
        status.split_whitespace().nth(2),
        Some(
            "installed"
                | "unpacked"
                | "half-configured"
                | "half-installed"
                | "triggers-awaited"
                | "triggers-pending"
        )
    )
}

/// Whether dpkg would accept `version`: `[epoch:]upstream[-revision]`, the epoch a
/// number, the upstream part starting with a digit, only the characters deb-version(7)
/// allows.
pub fn valid_version(version: &str) -> bool {
    let (epoch, rest) = match version.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, version),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    let upstream_ok = upstream.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && upstream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b));
    let revision_ok = revision.is_none_or(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b))
    });
    upstream_ok && revision_ok
}

/// The installed packages of one status file. Stanzas without a name or without a valid
/// version are skipped (dpkg cannot have installed them); so are packages whose status
/// says their files are gone, and, in a `status` file, stanzas with no status at all.
pub fn parse(data: &[u8], layout: Layout) -> Result<Vec<PackageRecord>, DpkgError> {
    let mut packages = Vec::new();
    for stanza in parse_stanzas(data)? {
        let (Some(name), Some(version)) = (field(&stanza, "Package"), field(&stanza, "Version"))
        else {
            continue;
        };
        if !valid_version(version) {
            continue;
        }
        let installed = match field(&stanza, "Status") {
            Some(status) => files_present(status),
            None => layout == Layout::StatusD,
        };
        if !installed {
            continue;
        }
        // `Source: name (version)` when the source version differs from the binary's;
        // no Source field means the source package has the binary's name (Debian Policy
        // 5.6.1).
        let (source_name, source_version) = match field(&stanza, "Source") {
            Some(source) => match source.split_once('(') {
                Some((n, v)) => (
                    n.trim().to_string(),
                    v.trim_end_matches(')').trim().to_string(),
                ),
                None => (source.to_string(), version.to_string()),
            },
            None => (name.to_string(), version.to_string()),
        };
        packages.push(PackageRecord {
            name: name.to_string(),
            version: version.to_string(),
            source_name: Some(source_name),
            source_version: Some(source_version),
            arch: field(&stanza, "Architecture").map(str::to_string),
            license: field(&stanza, "License").map(str::to_string),
            application: false,
        });
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libgcc1
Status: install ok installed
Architecture: amd64
Source: gcc-5 (5.1.1-12ubuntu1)
Version: 1:5.1.1-12ubuntu1
Description: GCC support library
 Shared version of the support library.
 .
 More.

Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: removing
Status: deinstall reinstreq installed
Version: 2.0

Package: nostatus
Version: 1.0

Package: badversion
Status: install ok installed
Version: 1:5.#

Status: install ok installed
Version: 9

Package: noversion
Status: install ok installed
";

    #[test]
    fn status_file_keeps_what_is_on_disk() {
        let got = parse(STATUS.as_bytes(), Layout::Status).unwrap();
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![("libgcc1", "1:5.1.1-12ubuntu1"), ("removing", "2.0")]
        );
        assert_eq!(got[0].source_name.as_deref(), Some("gcc-5"));
        assert_eq!(got[0].source_version.as_deref(), Some("5.1.1-12ubuntu1"));
        assert_eq!(got[0].arch.as_deref(), Some("amd64"));
        assert_eq!(got[1].source_name.as_deref(), Some("removing"));
    }

    #[test]
    fn status_d_file_needs_no_status() {
        let got = parse(
            b"Package: foo\nVersion: 1.2.3\nSource: bar\n",
            Layout::StatusD,
        )
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].source_name.as_deref(), Some("bar"));
        assert_eq!(got[0].source_version.as_deref(), Some("1.2.3"));
        assert!(
            parse(b"Package: foo\nVersion: 1.2.3\n", Layout::Status)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn versions() {
        for (v, ok) in [
            ("1.0", true),
            ("1:2.5.1-4", true),
            ("2.38.1-5+b1", true),
            ("20.10.7~3-0~debian-buster", true),
            ("1:5.#", false),
            ("a1.0", false),
            ("1.0-", false),
            (":1.0", false),
            ("x:1.0", false),
            ("", false),
        ] {
            assert_eq!(valid_version(v), ok, "{v}");
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(
            parse(b"asdf\n\nyolo\n", Layout::Status),
            Err(DpkgError::Malformed { line: 1 })
        );
        assert!(parse(b" leading continuation", Layout::Status).is_err());
        assert!(parse(b"", Layout::Status).unwrap().is_empty());
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let _ = parse(&garbage, Layout::Status);
        let many = "Package: a\nStatus: install ok installed\nVersion: 1\n\n".repeat(10_000);
        assert_eq!(
            parse(many.as_bytes(), Layout::Status).unwrap().len(),
            10_000
        );
    }
}
