//! Alpine's `APKINDEX`: one record per package in apk-tools' index format (`K:value`
//! lines, records separated by a blank line; `P` the name, `V` the version, `A` the
//! architecture). Repositories publish it inside `APKINDEX.tar.gz`: a signature tar
//! stream and the index tar stream, gzip members one after the other.

use super::{IndexError, IndexFormat, Origin, PackageIndex, read_line};
use std::io::{BufRead, BufReader, Read};

/// The `APKINDEX` member of an `APKINDEX.tar.gz` (already decompressed).
pub fn read_tar(input: impl Read, origin: Origin) -> Result<PackageIndex, IndexError> {
    let mut archive = tar::Archive::new(input);
    // The signature stream ends without the two zero blocks; a repository that writes
    // them must not hide the index behind them.
    archive.set_ignore_zeros(true);
    for entry in archive.entries()? {
        let entry = entry?;
        let is_index = entry.path_bytes().as_ref() == b"APKINDEX";
        if is_index && entry.header().entry_type().is_file() {
            return read(&mut BufReader::new(entry), origin);
        }
    }
    Err(IndexError::NoApkIndex)
}

#[derive(Default)]
struct Record {
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    lines: usize,
}

impl Record {
    fn finish(&mut self, index: &mut PackageIndex) -> Result<(), IndexError> {
        let record = std::mem::take(self);
        if record.lines == 0 {
            return Ok(());
        }
        index.add(
            record.name.as_deref().unwrap_or(""),
            record.arch.as_deref(),
            record.version.as_deref().unwrap_or(""),
        )
    }
}

/// A plain `APKINDEX`.
pub fn read(input: &mut impl BufRead, origin: Origin) -> Result<PackageIndex, IndexError> {
    let mut index = PackageIndex::new(IndexFormat::Apk, origin);
    let mut record = Record::default();
    let mut line = Vec::new();
    let mut number = 0;
    while read_line(input, &mut line, number + 1)? {
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            record.finish(&mut index)?;
            continue;
        }
        let (key, value) = match line.as_slice() {
            [key, b':', value @ ..] if key.is_ascii_alphabetic() => (*key, value),
            _ => {
                return Err(IndexError::Malformed {
                    line: number,
                    reason: "not a `K:value` line".into(),
                });
            }
        };
        record.lines += 1;
        let value = || Some(String::from_utf8_lossy(value).trim().to_string());
        match key {
            b'P' => record.name = value(),
            b'V' => record.version = value(),
            b'A' => record.arch = value(),
            _ => {}
        }
    }
    record.finish(&mut index)?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:411000\nI:643000\nT:the musl c library\no:musl\nD:\n\n\
                         C:Q1def=\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\n\
                         P:musl\nV:1.2.5-r1\nA:x86_64\n\n";

    fn tar_of(members: &[(&str, &[u8])], terminated: bool) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        if terminated {
            builder.into_inner().unwrap()
        } else {
            builder.get_ref().clone()
        }
    }

    #[test]
    fn records_give_the_newest_version_by_name() {
        let index = read(&mut INDEX.as_bytes(), Origin::new(None, "APKINDEX")).unwrap();
        assert_eq!(index.records, 3);
        assert_eq!(index.newest("musl", None).unwrap().version, "1.2.5-r1");
        assert_eq!(
            index.newest("busybox", Some("aarch64")).unwrap().version,
            "1.36.1-r29"
        );
        let err = read(&mut &b"P:x\nbroken\n"[..], Origin::new(None, "x")).err();
        assert_eq!(err.unwrap().to_string(), "line 2: not a `K:value` line");
    }

    #[test]
    fn the_index_is_found_behind_the_signature_stream() {
        use std::io::Write;
        let signature = tar_of(&[(".SIGN.RSA.alpine-devel.rsa.pub", b"sig")], false);
        let contents = tar_of(
            &[("DESCRIPTION", b"v3.20.3"), ("APKINDEX", INDEX.as_bytes())],
            true,
        );
        let mut file = Vec::new();
        for part in [signature, contents] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&part).unwrap();
            file.extend(e.finish().unwrap());
        }
        let index = super::super::read(
            &file[..],
            Origin::new(
                None,
                "https://dl-cdn.alpinelinux.org/alpine/v3.20/main/x86_64/APKINDEX.tar.gz",
            ),
        )
        .unwrap();
        assert_eq!(index.format, IndexFormat::Apk);
        assert_eq!(index.origin.suite.as_deref(), Some("v3.20/main"));
        assert_eq!(index.newest("musl", None).unwrap().version, "1.2.5-r1");

        let signed_only = tar_of(&[(".SIGN.RSA.x.pub", b"sig")], true);
        assert!(matches!(
            super::super::read(&signed_only[..], Origin::new(None, "x")),
            Err(IndexError::NoApkIndex)
        ));
    }
}
