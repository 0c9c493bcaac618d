//! Debian's and Ubuntu's `Packages` index: one control-file stanza per binary package
//! (deb-control(5) syntax, as in dpkg's status file), of which only `Package`, `Version` and
//! `Architecture` matter here. Read line by line, never held whole: Debian's `main` is
//! about 50 MiB.

use super::{IndexError, IndexFormat, Origin, PackageIndex, read_line};
use std::io::BufRead;

#[derive(Default)]
struct Stanza {
    package: Option<String>,
    version: Option<String>,
    architecture: Option<String>,
    fields: usize,
}

impl Stanza {
    fn finish(&mut self, index: &mut PackageIndex) -> Result<(), IndexError> {
        let stanza = std::mem::take(self);
        if stanza.fields == 0 {
            return Ok(());
        }
        match (stanza.package, stanza.version) {
            (Some(name), Some(version)) => {
                index.add(&name, stanza.architecture.as_deref(), &version)
            }
            // apt skips a stanza without a name or a version; so do we, but it still
            // counts towards the bound.
            _ => index.add("", None, ""),
        }
    }
}

pub fn read(input: &mut impl BufRead, origin: Origin) -> Result<PackageIndex, IndexError> {
    let mut index = PackageIndex::new(IndexFormat::Deb, origin);
    let mut stanza = Stanza::default();
    let mut line = Vec::new();
    let mut number = 0;
    while read_line(input, &mut line, number + 1)? {
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            stanza.finish(&mut index)?;
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if stanza.fields == 0 {
                return Err(IndexError::Malformed {
                    line: number,
                    reason: "a continuation line outside a field".into(),
                });
            }
            continue;
        }
        if line[0] == b'#' && stanza.fields == 0 {
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(IndexError::Malformed {
                line: number,
                reason: "not a `Field: value` line".into(),
            });
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(IndexError::Malformed {
                line: number,
                reason: "not a `Field: value` line".into(),
            });
        }
        stanza.fields += 1;
        let value = value.trim();
        let slot = if name.eq_ignore_ascii_case("Package") {
            &mut stanza.package
        } else if name.eq_ignore_ascii_case("Version") {
            &mut stanza.version
        } else if name.eq_ignore_ascii_case("Architecture") {
            &mut stanza.architecture
        } else {
            continue;
        };
        *slot = Some(value.to_string()).filter(|v| !v.is_empty());
    }
    stanza.finish(&mut index)?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PackageIndex, IndexError> {
        read(&mut text.as_bytes(), Origin::new(None, "Packages"))
    }

    #[test]
    fn stanzas_give_name_architecture_and_newest_version() {
        let index = parse(
            "Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u7\nArchitecture: amd64\n\
             Description: GNU C Library\n Contains the standard libraries.\n .\n more\n\n\n\
             Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n\n\
             Package: libc6\nVersion: 2.36-9+deb12u9\nArchitecture: amd64\n\n\
             Package: noversion\nArchitecture: amd64\n",
        )
        .unwrap();
        assert_eq!(index.records, 4);
        assert_eq!(index.len(), 2);
        assert_eq!(
            index.newest("libc6", Some("amd64")).unwrap().version,
            "2.36-9+deb12u9"
        );
        assert_eq!(
            index.newest("tzdata", Some("all")).unwrap().version,
            "2024a-0+deb12u1"
        );
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        let err = parse("Package: a\nVersion: 1\njunk line\n").err().unwrap();
        assert_eq!(err.to_string(), "line 3: not a `Field: value` line");
        let err = parse(" continuation first\n").err().unwrap();
        assert!(err.to_string().starts_with("line 1:"), "{err}");
        assert!(parse("").unwrap().is_empty());
        assert!(parse("\r\n\r\n").unwrap().is_empty());
    }
}
