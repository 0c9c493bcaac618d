//! apk's database, `lib/apk/db/installed`: one record per package, records separated by a
//! blank line, each line a one-letter key, a colon and the value (apk-tools' "index"
//! format). A line of any other shape makes apk-tools reject the database, and so do we.

use super::PackageRecord;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApkError {
    #[error("line {line}: not a `K:value` line")]
    Malformed { line: usize },
}

#[derive(Default)]
struct Fields<'a> {
    name: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    license: Option<&'a str>,
    origin: Option<&'a str>,
}

impl Fields<'_> {
    /// apk-tools drops a record without a name or a version as a bad entry.
    fn record(&self) -> Option<PackageRecord> {
        let name = self.name.filter(|n| !n.is_empty())?;
        let version = self.version.filter(|v| !v.is_empty())?;
        Some(PackageRecord {
            name: name.to_string(),
            version: version.to_string(),
            source_name: Some(self.origin.unwrap_or(name).to_string()),
            source_version: Some(version.to_string()),
            arch: self.arch.map(str::to_string),
            license: self.license.map(str::to_string),
            application: false,
        })
    }
}

pub fn parse(data: &[u8]) -> Result<Vec<PackageRecord>, ApkError> {
    let text = String::from_utf8_lossy(data);
    let mut packages = Vec::new();
    let mut fields = Fields::default();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() {
            packages.extend(fields.record());
            fields = Fields::default();
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b':' {
            return Err(ApkError::Malformed { line: index + 1 });
        }
        let value = &line[2..];
        match bytes[0] {
            b'P' => fields.name = Some(value),
            b'V' => fields.version = Some(value),
            b'A' => fields.arch = Some(value),
            b'L' => fields.license = Some(value),
            b'o' => fields.origin = Some(value),
            _ => {}
        }
    }
    packages.extend(fields.record());
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let db = b"C:Q1abc=\nP:libcrypto3\nV:3.1.0-r4\nA:x86_64\nL:Apache-2.0\no:openssl\nF:lib\nR:libcrypto.so.3\n\nP:noversion\nA:x86_64\n\nP:musl\nV:1.2.4-r0\n";
        let got = parse(db).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "libcrypto3");
        assert_eq!(got[0].source_name.as_deref(), Some("openssl"));
        assert_eq!(got[0].license.as_deref(), Some("Apache-2.0"));
        assert_eq!(got[1].source_name.as_deref(), Some("musl"));
        assert_eq!(got[1].arch, None);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(
            parse(b"asdf\n\nyolo\n"),
            Err(ApkError::Malformed { line: 1 })
        );
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"\n\n\n").unwrap().is_empty());
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 256) as u8).collect();
        let _ = parse(&garbage);
        assert!(parse("P:é\nV:1\n".as_bytes()).is_ok());
        assert!(parse("é:x".as_bytes()).is_err());
    }
}
