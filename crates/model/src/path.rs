//! Path normalisation for names that come from an image.
//!
//! Every path the scanner keeps is relative to the image root, uses `/` separators, has no
//! empty, `.` or `..` components and no trailing slash; the root itself is the empty string.
//! A name that would climb above the root (`../etc/passwd`, `a/../../x`) or that is absolute
//! is refused rather than clamped: container runtimes refuse such layers as "breakout"
//! attempts (CVE-2018-15664, CVE-2019-14271 and the tar-slip family), so an image that carries
//! them is hostile and the scan stops with an error.

use std::fmt::Write as _;

/// The longest path (in bytes, after normalisation) accepted from an image; Linux' PATH_MAX.
pub const MAX_PATH_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("entry name {0:?} climbs above the image root with '..'")]
    Escapes(String),
    #[error("entry name {0:?} is absolute")]
    Absolute(String),
    #[error("entry name is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    #[error("entry name contains a NUL byte")]
    Nul,
}

/// Renders raw name bytes as text; bytes that are not UTF-8 become `\xNN` so that two
/// different names never map to the same string.
pub fn display_bytes(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) if !s.contains('\\') => s.to_string(),
        _ => {
            let mut out = String::with_capacity(raw.len() + 8);
            for chunk in raw.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if c == '\\' {
                        out.push_str("\\\\");
                    } else {
                        out.push(c);
                    }
                }
                for b in chunk.invalid() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            out
        }
    }
}

/// Normalises a tar entry name (or a hard-link target) into an image path.
pub fn normalize(raw: &[u8]) -> Result<String, PathError> {
    if raw.contains(&0) {
        return Err(PathError::Nul);
    }
    let text = display_bytes(raw);
    if text.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    let absolute = text.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::Escapes(text.clone()));
                }
            }
            other => parts.push(other),
        }
    }
    if absolute && !parts.is_empty() {
        return Err(PathError::Absolute(text));
    }
    Ok(parts.join("/"))
}

/// Joins a path inside the image with a relative or absolute symlink target, the way the
/// kernel would inside a chroot: `..` at the root stays at the root. Used when following
/// links in the merged view, never when reading layer entries.
pub fn resolve_link(link_dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        link_dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The directory part of a normalised path (`""` for top-level names).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The one form every output shows an image path in: absolute inside the image, one
/// leading slash (`/app/.env`, never `app/.env` or `//etc/apk/repositories`).
pub fn absolute(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    out.push_str(path.trim_start_matches('/'));
    out
}

/// The last component of a normalised path.
pub fn file_name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_have_one_leading_slash() {
        assert_eq!(absolute("app/.env"), "/app/.env");
        assert_eq!(absolute("/app/.env"), "/app/.env");
        assert_eq!(absolute("//etc/apk/repositories"), "/etc/apk/repositories");
        assert_eq!(absolute(""), "/");
    }

    #[test]
    fn normalizes_the_usual_spellings() {
        let cases: &[(&str, &str)] = &[
            ("./etc/passwd", "etc/passwd"),
            ("etc//passwd", "etc/passwd"),
            ("etc/./passwd", "etc/passwd"),
            ("usr/lib/../bin/sh", "usr/bin/sh"),
            ("etc/", "etc"),
            ("./", ""),
            (".", ""),
            ("/", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw.as_bytes()).unwrap(), *want, "{raw}");
        }
    }

    #[test]
    fn refuses_names_that_escape_or_are_absolute() {
        assert!(matches!(
            normalize(b"../etc/passwd"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            normalize(b"a/../../x"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(normalize(b"./../x"), Err(PathError::Escapes(_))));
        assert!(matches!(
            normalize(b"/etc/passwd"),
            Err(PathError::Absolute(_))
        ));
        assert!(matches!(normalize(b"a\0b"), Err(PathError::Nul)));
        assert_eq!(normalize(&vec![b'a'; 5000]), Err(PathError::TooLong));
    }

    #[test]
    fn non_utf8_bytes_are_escaped_injectively() {
        assert_eq!(normalize(b"caf\xe9").unwrap(), "caf\\xe9");
        assert_eq!(normalize(b"caf\\xe9").unwrap(), "caf\\\\xe9");
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        assert_eq!(resolve_link("dir1", "../../secret.txt"), "secret.txt");
        assert_eq!(resolve_link("dir1", "/../secret.txt"), "secret.txt");
        assert_eq!(resolve_link("usr/bin", "../lib/x"), "usr/lib/x");
        assert_eq!(
            resolve_link("etc", "/usr/lib/os-release"),
            "usr/lib/os-release"
        );
    }

    #[test]
    fn parent_and_file_name() {
        assert_eq!(parent("etc/passwd"), "etc");
        assert_eq!(parent("etc"), "");
        assert_eq!(file_name("etc/passwd"), "passwd");
        assert_eq!(file_name("etc"), "etc");
    }
}
