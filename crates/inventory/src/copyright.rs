//! Licences of Debian packages, from `/usr/share/doc/PACKAGE/copyright`.
//!
//! dpkg's database records no licence; the package's copyright file does. Two forms exist:
//! machine-readable (DEP-5: `License: GPL-2+` in its `Files` and standalone paragraphs) and
//! free-form text, where the licence shows as a pointer to `/usr/share/common-licenses/NAME`;
//! both are read, in every file (what Trivy and Syft read too). The names are kept as the file writes them (`GPL-2+`,
//! `BSD-3-clause`, `Expat`); turning them into SPDX identifiers is the SBOM writer's job.

/// The path prefix of the files this module reads: `usr/share/doc/PACKAGE/copyright`.
pub const DOC_DIR: &str = "usr/share/doc/";

/// The package a copyright file belongs to: `libc6` for `usr/share/doc/libc6/copyright`.
pub fn package_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(DOC_DIR)?;
    let (package, file) = rest.split_once('/')?;
    (file == "copyright" && !package.is_empty()).then_some(package)
}

/// The licences a copyright file names, each once, in the order they first appear.
pub fn licenses(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut out: Vec<String> = Vec::new();
    let add = |out: &mut Vec<String>, name: &str| {
        let name = name.trim().trim_end_matches(['.', ',', ';', ')', '\'']);
        if !name.is_empty() && name.len() <= 128 && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    };
    for line in text.lines() {
        // DEP-5: `License: NAME` opens a licence field (its continuation lines are the
        // licence's text, indented).
        if let Some(value) = line.strip_prefix("License:") {
            add(&mut out, value);
        }
    }
    {
        // Free-form text, and the prose of machine-readable files: pointers to the
        // licences Debian ships whole.
        const COMMON: &str = "/usr/share/common-licenses/";
        for (at, _) in text.match_indices(COMMON) {
            let rest = &text[at + COMMON.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | '_')))
                .unwrap_or(rest.len());
            add(&mut out, &rest[..end]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_readable_files_list_their_license_fields() {
        let dep5 = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
            Upstream-Name: zlib\n\n\
            Files: *\nCopyright: 1995-2013 Jean-loup Gailly and Mark Adler\nLicense: Zlib\n\n\
            Files: debian/*\nCopyright: 2000 someone\nLicense: GPL-2+\n\n\
            License: Zlib\n This software is provided 'as-is'.\n";
        assert_eq!(licenses(dep5), vec!["Zlib", "GPL-2+"]);
    }

    #[test]
    fn free_form_files_point_at_common_licenses() {
        let text = b"This package was debianized by someone.\n\
            On Debian systems, the complete text of the GNU General Public License\n\
            version 2 can be found in `/usr/share/common-licenses/GPL-2'.\n\
            See /usr/share/common-licenses/LGPL-2.1.\n";
        assert_eq!(licenses(text), vec!["GPL-2", "LGPL-2.1"]);
        assert!(licenses(b"no licence named here").is_empty());
    }

    #[test]
    fn only_copyright_files_name_a_package() {
        assert_eq!(package_of("usr/share/doc/libc6/copyright"), Some("libc6"));
        assert_eq!(package_of("usr/share/doc/libc6/changelog.gz"), None);
        assert_eq!(package_of("usr/share/doc/copyright"), None);
        assert_eq!(package_of("usr/share/doc/a/b/copyright"), None);
    }
}
