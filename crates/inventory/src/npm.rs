//! Installed npm packages: the `package.json` at the root of each package directory under
//! `node_modules` (`node_modules/NAME/package.json`, `node_modules/@SCOPE/NAME/package.json`,
//! at any depth of nesting).

use super::PackageRecord;
use serde::Deserialize;

/// Whether `path` is the manifest of an installed package (not a `package.json` somewhere
/// inside one, which often only says `{"type": "module"}`).
pub fn is_manifest_path(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let mut parts = dir.rsplit('/');
    let (Some(name), Some(parent)) = (parts.next(), parts.next()) else {
        return false;
    };
    if name.is_empty() || name.starts_with('.') {
        return false;
    }
    if parent == "node_modules" {
        return !name.starts_with('@');
    }
    parent.starts_with('@') && parts.next() == Some("node_modules")
}

/// Whether `path` is an application's own `package.json`: outside every `node_modules`
/// and outside the directories where the system keeps libraries and documentation.
pub fn is_application_manifest_path(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("package.json") else {
        return false;
    };
    if !(dir.is_empty() || dir.ends_with('/')) || dir.split('/').count() > 6 {
        return false;
    }
    const SYSTEM: &[&str] = &["usr/", "lib/", "etc/", "var/lib/", "proc/", "sys/"];
    !dir.split('/')
        .any(|part| part == "node_modules" || part.starts_with('.'))
        && !SYSTEM.iter().any(|p| dir.starts_with(p))
}

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
    license: Option<serde_json::Value>,
    licenses: Option<serde_json::Value>,
}

/// The package a manifest describes; `None` when it is not JSON or lacks a name or a
/// version (serde_json bounds nesting depth, so hostile input is an error, not a crash).
pub fn parse(data: &[u8]) -> Option<PackageRecord> {
    let manifest: Manifest = serde_json::from_slice(data).ok()?;
    let name = manifest.name.filter(|n| !n.is_empty())?;
    let version = manifest.version.filter(|v| !v.is_empty())?;
    Some(PackageRecord {
        name,
        version,
        license: manifest
            .license
            .as_ref()
            .and_then(license_text)
            .or_else(|| manifest.licenses.as_ref().and_then(license_text)),
        ..Default::default()
    })
}

/// `"MIT"`, `{"type": "MIT"}` or a list of either (the deprecated `licenses`).
fn license_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("type").and_then(license_text),
        serde_json::Value::Array(items) => {
            let all: Vec<String> = items.iter().filter_map(license_text).collect();
            (!all.is_empty()).then(|| all.join(" OR "))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_application_manifest_is_outside_every_dependency_tree() {
        assert!(is_application_manifest_path("app/package.json"));
        assert!(is_application_manifest_path("package.json"));
        assert!(!is_application_manifest_path(
            "app/node_modules/x/package.json"
        ));
        assert!(!is_application_manifest_path(
            "usr/lib/node_modules/npm/package.json"
        ));
        assert!(!is_application_manifest_path(
            "usr/share/doc/x/package.json"
        ));
        assert!(!is_application_manifest_path("app/.cache/package.json"));
        assert!(!is_application_manifest_path("app/mypackage.json"));
    }

    #[test]
    fn manifest_paths() {
        for (path, want) in [
            ("app/node_modules/lodash/package.json", true),
            ("node_modules/@babel/core/package.json", true),
            ("a/node_modules/x/node_modules/y/package.json", true),
            ("usr/lib/node_modules/npm/package.json", true),
            ("app/package.json", false),
            ("node_modules/lodash/esm/package.json", false),
            ("node_modules/@babel/package.json", false),
            ("node_modules/.bin/package.json", false),
            ("x/@scope/name/package.json", false),
        ] {
            assert_eq!(is_manifest_path(path), want, "{path}");
        }
    }

    #[test]
    fn manifests() {
        let p =
            parse(br#"{"name":"@babel/core","version":"7.0.0","license":"MIT","dependencies":{}}"#)
                .unwrap();
        assert_eq!(p.name, "@babel/core");
        assert_eq!(p.license.as_deref(), Some("MIT"));
        let p = parse(
            br#"{"name":"x","version":"1.0.0","licenses":[{"type":"MIT"},{"type":"Apache-2.0"}]}"#,
        )
        .unwrap();
        assert_eq!(p.license.as_deref(), Some("MIT OR Apache-2.0"));
        let p = parse(br#"{"name":"x","version":"1.0.0","license":{"type":"ISC"}}"#).unwrap();
        assert_eq!(p.license.as_deref(), Some("ISC"));
    }

    #[test]
    fn malformed_input() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"{\"type\":\"module\"}"), None);
        assert_eq!(parse(b"{\"name\":1,\"version\":\"1\"}"), None);
        let deep = "[".repeat(100_000);
        assert_eq!(parse(deep.as_bytes()), None);
        assert_eq!(parse(b"\xff\xfe{"), None);
    }
}
