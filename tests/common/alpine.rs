//! Alpine 3.19 for the tests: a root filesystem with zlib at a chosen version and OSV's
//! record of the zlib vulnerability its older version has (what the attribution and recheck
//! tests build their images on), and a package database with OpenSSL and busybox and their
//! OSV records (what the vulnerability, VEX and `serve` tests match).

use super::builder::Layer;

/// The root and `app` (1000) accounts.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";

/// zlib before 1.3.1-r0, critical.
pub const ZLIB_RECORD: &str = r#"{
  "id": "ALPINE-CVE-2023-45853",
  "modified": "2024-01-10T00:00:00Z",
  "upstream": ["CVE-2023-45853"],
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [
    {"package": {"ecosystem": "Alpine:v3.19", "name": "zlib"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.3.1-r0"}]}]}
  ]
}"#;

/// Alpine 3.19 with `zlib` at `zlib_version` and a setuid helper of its own at
/// /usr/bin/basesu, as a layer to build images of.
pub fn alpine_layer(zlib_version: &str) -> Layer {
    slim_alpine_layer(zlib_version).dir("usr/bin").file_with(
        "usr/bin/basesu",
        b"\x7fELF",
        0o4755,
        0,
        0,
    )
}

/// [`alpine_layer`] without the setuid helper: what a slimmer release of the base holds.
pub fn slim_alpine_layer(zlib_version: &str) -> Layer {
    let installed = format!(
        "P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\n\n\
         P:zlib\nV:{zlib_version}\nA:x86_64\no:zlib\n\n"
    );
    Layer::new()
        .dir("etc")
        .file(
            "etc/os-release",
            "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
        )
        .file("etc/alpine-release", "3.19.1\n")
        .file("etc/passwd", PASSWD)
        .dir("lib/apk/db")
        .file("lib/apk/db/installed", installed)
}

/// An Alpine 3.19 package database: musl, OpenSSL's libraries at 3.1.4-r2 (affected by
/// [`OPENSSL_RECORD`]) and busybox (affected by [`BUSYBOX_UNFIXED_RECORD`]).
pub const APK_DB: &str = "\
C:Q1SJHhB1mlqbfNmLGk/9ZfNhBVAtk=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
o:musl

C:Q1Aoa+pOeyCnUAFQFTOcBb/Sb/RSc=
P:libcrypto3
V:3.1.4-r2
A:x86_64
o:openssl

C:Q1uqjAWlRnsCy5xnBAuTVj6JGbmN8=
P:libssl3
V:3.1.4-r2
A:x86_64
o:openssl

C:Q1Wf9FJzDcYLOu/T6RsDpeXx1UqQU=
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox

";

/// OpenSSL's CVE-2023-5678 for Alpine 3.19 as osv.dev publishes it (by source package),
/// rated medium (CVSS 5.3), fixed in 3.1.4-r3.
pub const OPENSSL_RECORD: &str = r#"{
  "id": "ALPINE-CVE-2023-5678",
  "modified": "2024-01-10T00:00:00Z",
  "upstream": ["CVE-2023-5678"],
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}],
  "affected": [
    {"package": {"ecosystem": "Alpine:v3.19", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r3"}]}]}
  ]
}"#;

/// busybox's CVE-2023-42366: no release fixes it yet (only `introduced`), and it has no
/// rating.
pub const BUSYBOX_UNFIXED_RECORD: &str = r#"{
  "id": "ALPINE-CVE-2023-42366",
  "modified": "2024-01-10T00:00:00Z",
  "upstream": ["CVE-2023-42366"],
  "affected": [
    {"package": {"ecosystem": "Alpine:v3.19", "name": "busybox"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}
  ]
}"#;
