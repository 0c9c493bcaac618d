//! The image as portcullis sees it once its manifest and config are resolved.

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an image was read from, named as skopeo names its transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    #[serde(rename = "docker-archive")]
    DockerArchive,
    #[serde(rename = "oci")]
    OciLayout,
    #[serde(rename = "oci-archive")]
    OciArchive,
    #[serde(rename = "docker-daemon")]
    DockerDaemon,
    #[serde(rename = "docker")]
    Registry,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::DockerArchive => "docker-archive",
            Transport::OciLayout => "oci",
            Transport::OciArchive => "oci-archive",
            Transport::DockerDaemon => "docker-daemon",
            Transport::Registry => "docker",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `os/architecture[/variant]`, as `docker --platform` spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform images are picked for when `--platform` is not given: this host's
    /// architecture on Linux, as Docker picks it.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        let variant = (architecture == "arm64").then(|| "v8".to_string());
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant,
        }
    }

    /// Whether an image built for `other` satisfies a request for `self`. A request without a
    /// variant accepts any variant; arm64's `v8` is the default and matches a missing one.
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", Some("v8")) | ("arm64", None) => None,
            (_, v) => v.map(str::to_string),
        };
        match (&self.variant, norm(other)) {
            (None, _) => true,
            (Some(_), theirs) => norm(self) == theirs,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/arm64")]
pub struct BadPlatform(String);

impl FromStr for Platform {
    type Err = BadPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_ascii_lowercase(),
                architecture: arch.to_ascii_lowercase(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_ascii_lowercase(),
                architecture: arch.to_ascii_lowercase(),
                variant: Some(variant.to_ascii_lowercase()),
            }),
            _ => Err(BadPlatform(s.to_string())),
        }
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// What a layer media type says about compression; `None` when the type does not say
    /// (Docker's classic archives carry no media type at all).
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        let mt = media_type.trim();
        if mt.ends_with("+gzip") || mt.ends_with(".gzip") || mt.ends_with("tar.gzip") {
            Some(Compression::Gzip)
        } else if mt.ends_with("+zstd") || mt.ends_with(".zstd") {
            Some(Compression::Zstd)
        } else if mt.ends_with(".tar")
            || mt.ends_with("layer.v1.tar")
            || mt == "application/vnd.docker.image.rootfs.diff.tar"
        {
            Some(Compression::None)
        } else {
            None
        }
    }

    /// What the first bytes of a blob say.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.len() >= 262 && &head[257..262] == b"ustar" {
            Some(Compression::None)
        } else if head.len() >= 512 && head[..512].iter().all(|&b| b == 0) {
            // An empty tar (end-of-archive blocks only).
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// One layer of the resolved image, in manifest order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub index: usize,
    /// Digest of the blob as stored (compressed); equal to the diff_id for uncompressed
    /// layers.
    pub digest: String,
    /// Digest of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub compression: Compression,
    /// Bytes of the blob as stored.
    pub size: u64,
    /// Bytes of the uncompressed tar stream.
    pub uncompressed_size: u64,
    pub entries: usize,
}

/// Docker-specific config fields that the OCI config type leaves out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerConfigExtras {
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<Healthcheck>,
    #[serde(rename = "OnBuild", default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(rename = "Shell", default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Healthcheck {
    #[serde(rename = "Test", default)]
    pub test: Option<Vec<String>>,
}

/// An image whose manifest and config have been read and checked, before its layers are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageMeta {
    /// The reference as the user gave it.
    pub reference: String,
    pub transport: Transport,
    /// Digest of the image manifest; `None` for a classic `docker save` archive, which
    /// stores no manifest.
    pub manifest_digest: Option<String>,
    pub manifest_media_type: Option<String>,
    /// Digest of the config blob; Docker's image ID.
    pub config_digest: String,
    pub config: ImageConfiguration,
    pub config_extras: DockerConfigExtras,
    pub platform: Platform,
    /// `RepoTags` of a docker archive or the `org.opencontainers.image.ref.name` of a layout.
    pub names: Vec<String>,
    /// Layers as the manifest lists them (digests and media types), before scanning.
    pub layers: Vec<PlannedLayer>,
    /// The image manifest's annotations (`org.opencontainers.image.base.name` ...); empty
    /// for a format that stores no manifest.
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// A layer the manifest promises, with what its bytes must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedLayer {
    /// Digest the stored blob must have, when the format records one.
    pub digest: Option<String>,
    pub diff_id: String,
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

/// The image's identity, printed at the top of every report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSummary {
    pub reference: String,
    pub transport: Transport,
    /// `None` for a classic `docker save` archive, which stores no manifest.
    pub manifest_digest: Option<String>,
    pub config_digest: String,
    pub platform: Platform,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// `config.User` as written in the image (empty means root).
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub layers: Vec<LayerInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let arm: Platform = "linux/arm64".parse().unwrap();
        let arm_v8: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(arm.matches(&arm_v8));
        assert!(arm_v8.matches(&Platform {
            variant: None,
            ..arm.clone()
        }));
        let armv7: Platform = "linux/arm/v7".parse().unwrap();
        let armv6: Platform = "linux/arm/v6".parse().unwrap();
        assert!(!armv7.matches(&armv6));
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v2/x".parse::<Platform>().is_err());
        assert_eq!(arm_v8.to_string(), "linux/arm64/v8");
    }

    #[test]
    fn compression_from_media_type_and_magic() {
        use Compression::*;
        let mt = |s| Compression::from_media_type(s);
        assert_eq!(
            mt("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Gzip)
        );
        assert_eq!(
            mt("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Gzip)
        );
        assert_eq!(
            mt("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Zstd)
        );
        assert_eq!(mt("application/vnd.oci.image.layer.v1.tar"), Some(None));
        assert_eq!(mt("application/vnd.example.custom"), Option::None);
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Some(Gzip));
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Zstd));
        assert_eq!(Compression::sniff(&[0u8; 512]), Some(None));
        assert_eq!(Compression::sniff(b"hello"), Option::None);
    }
}
