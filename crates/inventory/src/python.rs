//! Installed Python distributions: `*.dist-info/METADATA` (wheels, pip) and
//! `*.egg-info/PKG-INFO` or a bare `*.egg-info` file (setuptools). Both are the core
//! metadata format: e-mail style headers up to the first blank line, then the description.

use super::PackageRecord;

/// Whether `path` is a metadata file this module reads.
pub fn is_metadata_path(path: &str) -> bool {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    (file == "METADATA" && dir.ends_with(".dist-info"))
        || (file == "PKG-INFO" && dir.ends_with(".egg-info"))
        || file.ends_with(".egg-info")
}

/// The distribution a metadata file describes; `None` without a name and a version.
/// Only the headers are read, so a file cut short after them is still understood.
pub fn parse(data: &[u8]) -> Option<PackageRecord> {
    let text = String::from_utf8_lossy(data);
    let mut name = None;
    let mut version = None;
    let mut license = None;
    let mut expression = None;
    let mut classifiers = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Continuation of a long header (a full license text): only its first line
            // is kept.
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.to_ascii_lowercase().as_str() {
            "name" => name = Some(value.to_string()),
            "version" => version = Some(value.to_string()),
            "license-expression" => expression = Some(value.to_string()),
            "license" if !value.is_empty() && value != "UNKNOWN" => {
                license = Some(value.to_string())
            }
            "classifier" => {
                if let Some(rest) = value.strip_prefix("License ::") {
                    let short = rest.rsplit("::").next().unwrap_or(rest).trim();
                    classifiers.push(short.to_string());
                }
            }
            _ => {}
        }
    }
    let name = name.filter(|n| !n.is_empty())?;
    let version = version.filter(|v| !v.is_empty())?;
    Some(PackageRecord {
        name,
        version,
        license: expression
            .or(license)
            .or_else(|| (!classifiers.is_empty()).then(|| classifiers.join(" AND "))),
        ..Default::default()
    })
}

/// Whether `path` is an application's own `pyproject.toml` (outside the system's and the
/// interpreters' library directories).
pub fn is_pyproject_path(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("pyproject.toml") else {
        return false;
    };
    if !(dir.is_empty() || dir.ends_with('/')) || dir.split('/').count() > 6 {
        return false;
    }
    !dir.split('/')
        .any(|part| matches!(part, "site-packages" | "dist-packages") || part.starts_with('.'))
        && !["usr/", "lib/", "etc/", "var/lib/"]
            .iter()
            .any(|p| dir.starts_with(p))
}

/// The `[project]` name and version of a `pyproject.toml` (PEP 621), as an application.
pub fn parse_pyproject(data: &[u8]) -> Option<PackageRecord> {
    #[derive(serde::Deserialize)]
    struct File {
        project: Option<Project>,
    }
    #[derive(serde::Deserialize)]
    struct Project {
        name: Option<String>,
        version: Option<String>,
        license: Option<toml::Value>,
    }
    let text = std::str::from_utf8(data).ok()?;
    let project = toml::from_str::<File>(text).ok()?.project?;
    let license = match project.license {
        Some(toml::Value::String(s)) => Some(s),
        Some(toml::Value::Table(t)) => t.get("text").and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    };
    Some(PackageRecord {
        name: project.name.filter(|n| !n.is_empty())?,
        version: project.version.filter(|v| !v.is_empty())?,
        license,
        application: true,
        ..PackageRecord::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_pyproject_is_read_where_it_is_the_application() {
        assert!(is_pyproject_path("srv/api/pyproject.toml"));
        assert!(is_pyproject_path("pyproject.toml"));
        assert!(!is_pyproject_path(
            "usr/lib/python3/dist-packages/x/pyproject.toml"
        ));
        assert!(!is_pyproject_path(
            "app/.venv/lib/site-packages/y/pyproject.toml"
        ));
        let record = parse_pyproject(
            b"[project]\nname = \"api\"\nversion = \"0.3.0\"\nlicense = {text = \"MIT\"}\n",
        )
        .unwrap();
        assert_eq!(
            (record.name.as_str(), record.version.as_str()),
            ("api", "0.3.0")
        );
        assert!(record.application);
        assert_eq!(record.license.as_deref(), Some("MIT"));
        assert!(parse_pyproject(b"[tool.poetry]\nname = \"x\"\n").is_none());
    }

    #[test]
    fn paths() {
        for (path, want) in [
            (
                "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                true,
            ),
            ("site-packages/six-1.16.0.egg-info/PKG-INFO", true),
            (
                "usr/lib/python3/dist-packages/python_apt-2.4.0.egg-info",
                true,
            ),
            ("site-packages/foo.dist-info/RECORD", false),
            ("METADATA", false),
        ] {
            assert_eq!(is_metadata_path(path), want, "{path}");
        }
    }

    #[test]
    fn metadata() {
        let meta = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n  full text\nClassifier: License :: OSI Approved :: Apache Software License\n\nName: not-a-header\n";
        let p = parse(meta).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("requests", "2.31.0")
        );
        assert_eq!(p.license.as_deref(), Some("Apache 2.0"));
        let p = parse(b"Name: x\nVersion: 1\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: MIT License\n").unwrap();
        assert_eq!(p.license.as_deref(), Some("MIT License"));
        let p =
            parse(b"Name: x\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\nLicense: MIT\n")
                .unwrap();
        assert_eq!(p.license.as_deref(), Some("MIT OR Apache-2.0"));
    }

    #[test]
    fn malformed_input() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"Name: x\n"), None);
        assert_eq!(parse(b"\nName: x\nVersion: 1\n"), None);
        assert_eq!(parse(b"garbage\xff\xfe\nName:\nVersion: 1"), None);
        let _ = parse(&[0xffu8; 10_000]);
    }
}
