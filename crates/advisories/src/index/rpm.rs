//! RPM repository metadata (createrepo's format): `repodata/repomd.xml` names the
//! repository's files, `primary.xml` lists its packages, each with a `name`, an `arch` and
//! a `version` element (`epoch`, `ver`, `rel` attributes). Read as an XML event stream.

use super::{IndexError, IndexFormat, Origin, PackageIndex};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use std::io::BufRead;

fn xml_error(e: impl std::fmt::Display, position: u64) -> IndexError {
    IndexError::Xml(format!("at byte {position}: {e}"))
}

/// Maps quick-xml's errors, keeping an oversize input recognisable.
fn read_error(e: quick_xml::Error, position: u64) -> IndexError {
    match e {
        quick_xml::Error::Io(io) => match std::sync::Arc::try_unwrap(io) {
            Ok(io) => IndexError::from(io),
            Err(shared) => IndexError::Io(std::io::Error::new(shared.kind(), shared.to_string())),
        },
        other => xml_error(other, position),
    }
}

fn attribute(element: &BytesStart, name: &str) -> Result<Option<String>, IndexError> {
    for attr in element.attributes() {
        let attr = attr.map_err(|e| xml_error(e, 0))?;
        if attr.key.local_name().as_ref() == name {
            let value = attr
                .normalized_value(XmlVersion::default())
                .map_err(|e| xml_error(e, 0))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

/// `[epoch:]version-release`, the way the inventory writes rpm versions: an epoch of 0 is
/// the same as none.
fn evr(epoch: Option<String>, ver: Option<String>, rel: Option<String>) -> String {
    let Some(ver) = ver.filter(|v| !v.is_empty()) else {
        return String::new();
    };
    let vr = match rel.filter(|r| !r.is_empty()) {
        Some(rel) => format!("{ver}-{rel}"),
        None => ver,
    };
    match epoch.filter(|e| !e.is_empty() && e != "0") {
        Some(epoch) => format!("{epoch}:{vr}"),
        None => vr,
    }
}

#[derive(Default)]
struct Package {
    name: String,
    arch: String,
    version: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Field {
    None,
    Name,
    Arch,
}

/// A `primary.xml`.
pub fn read_primary(input: &mut impl BufRead, origin: Origin) -> Result<PackageIndex, IndexError> {
    let mut index = PackageIndex::new(IndexFormat::Rpm, origin);
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut package_depth: Option<usize> = None;
    let mut package = Package::default();
    let mut field = Field::None;
    let mut seen_root = false;
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| read_error(e, position))?;
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if !seen_root {
                    seen_root = true;
                    match name {
                        "metadata" => {}
                        "repomd" => return Err(IndexError::Repomd),
                        _ => {
                            return Err(xml_error(
                                format!("root element <{}>, expected <metadata>", name),
                                position,
                            ));
                        }
                    }
                }
                let empty = matches!(event, Event::Empty(_));
                match package_depth {
                    None if name == "package" && !empty => {
                        package_depth = Some(depth);
                        package = Package::default();
                    }
                    Some(p) if depth == p + 1 => match name {
                        "name" => field = Field::Name,
                        "arch" => field = Field::Arch,
                        "version" => {
                            package.version = evr(
                                attribute(e, "epoch")?,
                                attribute(e, "ver")?,
                                attribute(e, "rel")?,
                            );
                        }
                        _ => {}
                    },
                    _ => {}
                }
                if empty {
                    field = Field::None;
                } else {
                    depth += 1;
                }
            }
            Event::Text(t) => {
                let text: &str = t;
                match field {
                    Field::Name => package.name.push_str(text.trim()),
                    Field::Arch => package.arch.push_str(text.trim()),
                    Field::None => {}
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                field = Field::None;
                if package_depth == Some(depth) {
                    package_depth = None;
                    let p = std::mem::take(&mut package);
                    index.add(&p.name, Some(&p.arch), &p.version)?;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err(IndexError::UnknownFormat);
    }
    Ok(index)
}

/// The location (relative to the repository's base URL) of the `primary` file a
/// `repomd.xml` names.
pub fn primary_location(repomd: &[u8]) -> Result<String, IndexError> {
    let mut reader = Reader::from_reader(repomd);
    let mut in_primary = false;
    loop {
        let position = reader.buffer_position();
        match reader.read_event().map_err(|e| read_error(e, position))? {
            Event::Start(e) if e.local_name().as_ref() == "data" => {
                in_primary = attribute(&e, "type")?.as_deref() == Some("primary");
            }
            Event::Start(e) | Event::Empty(e)
                if in_primary && e.local_name().as_ref() == "location" =>
            {
                if let Some(href) = attribute(&e, "href")?.filter(|h| !h.is_empty()) {
                    return Ok(href);
                }
            }
            Event::End(e) if e.local_name().as_ref() == "data" => in_primary = false,
            Event::Eof => {
                return Err(IndexError::Xml(
                    "repomd.xml names no primary metadata".into(),
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm">
  <name>bash</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="5.1.8" rel="9.el9"/>
  <checksum type="sha256" pkgid="YES">abc</checksum>
  <format>
    <rpm:license>GPLv3+</rpm:license>
    <rpm:sourcerpm>bash-5.1.8-9.el9.src.rpm</rpm:sourcerpm>
    <rpm:provides><rpm:entry name="bash" flags="EQ" epoch="0" ver="9.9.9" rel="1"/></rpm:provides>
  </format>
</package>
<package type="rpm">
  <name>bash</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="5.1.8" rel="6.el9"/>
</package>
<package type="rpm">
  <name>shadow-utils</name>
  <arch>x86_64</arch>
  <version epoch="2" ver="4.9" rel="8.el9"/>
</package>
</metadata>
"#;

    #[test]
    fn packages_give_name_arch_and_epoch_version_release() {
        let index = read_primary(&mut PRIMARY.as_bytes(), Origin::new(None, "p")).unwrap();
        assert_eq!(index.records, 3);
        assert_eq!(
            index.newest("bash", Some("x86_64")).unwrap().version,
            "5.1.8-9.el9"
        );
        assert_eq!(
            index
                .newest("shadow-utils", Some("x86_64"))
                .unwrap()
                .version,
            "2:4.9-8.el9"
        );
        assert_eq!(index.newest("bash", Some("aarch64")), None);
        let via_sniffing = super::super::read(PRIMARY.as_bytes(), Origin::new(None, "p")).unwrap();
        assert_eq!(via_sniffing.format, IndexFormat::Rpm);
    }

    #[test]
    fn repomd_names_the_primary_file() {
        let repomd = br#"<?xml version="1.0"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <revision>1</revision>
  <data type="filelists"><location href="repodata/f-filelists.xml.gz"/></data>
  <data type="primary">
    <checksum type="sha256">x</checksum>
    <location href="repodata/abc-primary.xml.zst"/>
  </data>
</repomd>"#;
        assert_eq!(
            primary_location(repomd).unwrap(),
            "repodata/abc-primary.xml.zst"
        );
        assert!(primary_location(b"<repomd/>").is_err());
        assert!(matches!(
            super::super::read(&repomd[..], Origin::new(None, "r")),
            Err(IndexError::Repomd)
        ));
    }

    #[test]
    fn broken_xml_is_an_error() {
        for text in ["<metadata><package><name>a</nam></package>", "<other/>"] {
            assert!(
                read_primary(&mut text.as_bytes(), Origin::new(None, "p")).is_err(),
                "{text}"
            );
        }
    }
}
