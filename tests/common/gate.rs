//! The image and waiver file that the gate's end-to-end tests share: an image whose USER
//! names a uid-0 alias and an undefined group, with a tar entry the scanner skips (so the
//! report carries a diagnostic), and waivers that apply, have expired and match nothing.

use super::builder::{DockerArchive, Image, Layer, RawEntry};
use std::path::{Path, PathBuf};

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0:break-glass:/root:/bin/sh\napp:x:10001:10001::/app:/sbin/nologin\n";

/// The day the fixed clock says it is (`PORTCULLIS_NOW`).
pub const NOW: &str = "2026-06-01";

/// One waiver of each fate on [`NOW`]: applied (until 2027; two, as the break-glass account
/// trips both the user and the accounts family), expired (2025-12-31), unused.
pub const WAIVERS: &str = r#"# Waivers for app.tar
[[waiver]]
check = "user-uid0-alias"
path = "/etc/passwd"
reason = "toor is the break-glass account; removal tracked in OPS-17"
expires = 2027-01-01

[[waiver]]
check = "account-extra-uid0"
path = "/etc/passwd"
reason = "toor is the break-glass account; removal tracked in OPS-17"
expires = 2027-01-01

[[waiver]]
check = "user-not-found"
reason = "the wheel group is created by the entrypoint"
expires = 2025-12-31

[[waiver]]
check = "user-root"
reason = "the base image ran as root"
"#;

pub fn image() -> Image {
    Image::new()
        .user("toor:wheel")
        .layer(
            Layer::new()
                .gzip()
                .dir("etc")
                .file("etc/passwd", PASSWD)
                .dir("app")
                .file("app/run", "#!/bin/sh\nexec app\n"),
        )
        .layer(Layer::new().raw_entry(RawEntry {
            entry_type: b'V',
            ..RawEntry::file("backup-volume", "")
        }))
}

/// Writes the image as `app.tar` (a Docker 25 `docker save`, tagged `app:1.4`) into `dir`.
pub fn write_image(dir: &Path) -> PathBuf {
    let path = dir.join("app.tar");
    DockerArchive::docker25()
        .image(&image().build(), &["app:1.4"])
        .write(&path);
    path
}

/// Writes [`WAIVERS`] as `.portcullisignore.toml` into `dir`.
pub fn write_waivers(dir: &Path) -> PathBuf {
    let path = dir.join(".portcullisignore.toml");
    std::fs::write(&path, WAIVERS).expect("write the waiver file");
    path
}
