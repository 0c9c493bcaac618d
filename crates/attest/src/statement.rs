//! The in-toto Statement v1: which artifact (the image, by digest) a predicate is about.

use portcullis_gate::report::ImageSummary;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

pub const STATEMENT_TYPE_V1: &str = "https://in-toto.io/Statement/v1";

/// Subject annotation saying which digest identifies the image: `manifest` (what registries,
/// cosign and `docker pull NAME@DIGEST` use) or `config` (Docker's image ID, the only digest
/// a classic `docker save` archive has, since it stores no manifest).
pub const DIGEST_KIND_ANNOTATION: &str = "portcullis.dev/digest-kind";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    Manifest,
    Config,
}

impl DigestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestKind::Manifest => "manifest",
            DigestKind::Config => "config",
        }
    }
}

impl fmt::Display for DigestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The digests portcullis computed for an image it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDigests {
    /// `sha256:…` of the manifest; `None` for a classic docker-archive.
    pub manifest: Option<String>,
    /// `sha256:…` of the config blob (Docker's image ID).
    pub config: String,
}

impl ImageDigests {
    pub fn of(image: &ImageSummary) -> ImageDigests {
        ImageDigests {
            manifest: image.manifest_digest.clone(),
            config: image.config_digest.clone(),
        }
    }

    /// The digest that names the image: its manifest's, or its config's when it has none.
    pub fn primary(&self) -> (DigestKind, &str) {
        match &self.manifest {
            Some(m) => (DigestKind::Manifest, m),
            None => (DigestKind::Config, &self.config),
        }
    }

    pub fn get(&self, kind: DigestKind) -> Option<&str> {
        match kind {
            DigestKind::Manifest => self.manifest.as_deref(),
            DigestKind::Config => Some(&self.config),
        }
    }
}

/// An in-toto ResourceDescriptor, as far as subjects use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
}

impl ResourceDescriptor {
    /// The image as a subject: its name, the sha256 of its primary digest, and which digest
    /// that is.
    pub fn image(name: &str, digests: &ImageDigests) -> ResourceDescriptor {
        let (kind, digest) = digests.primary();
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let mut annotations = Map::new();
        annotations.insert(DIGEST_KIND_ANNOTATION.into(), kind.as_str().into());
        ResourceDescriptor {
            name: name.to_string(),
            digest: BTreeMap::from([("sha256".to_string(), hex.to_string())]),
            annotations,
        }
    }

    /// What the subject's digest identifies. Subjects without our annotation (cosign's,
    /// other tools') name manifests.
    pub fn digest_kind(&self) -> DigestKind {
        match self
            .annotations
            .get(DIGEST_KIND_ANNOTATION)
            .and_then(Value::as_str)
        {
            Some("config") => DigestKind::Config,
            _ => DigestKind::Manifest,
        }
    }

    /// `sha256:<hex>` when the subject has a sha256 digest.
    pub fn sha256(&self) -> Option<String> {
        self.digest
            .get("sha256")
            .map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()))
    }
}

/// The name a subject gets: the image's first tag when it has one (`alpine:3.19`), otherwise
/// the reference as given. A layout's bare `latest` ref name says nothing, so it is skipped.
pub fn subject_name(image: &ImageSummary) -> String {
    image
        .names
        .iter()
        .find(|n| n.contains(':') || n.contains('/'))
        .cloned()
        .unwrap_or_else(|| image.reference.clone())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: Value,
}

impl Statement {
    pub fn new(subject: ResourceDescriptor, predicate_type: &str, predicate: Value) -> Statement {
        Statement {
            statement_type: STATEMENT_TYPE_V1.to_string(),
            subject: vec![subject],
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Only strings, maps and JSON values: serialization cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_model::image::{Platform, Transport};

    fn summary(manifest: Option<&str>, names: &[&str]) -> ImageSummary {
        ImageSummary {
            reference: "docker-archive:/tmp/app.tar".into(),
            transport: Transport::DockerArchive,
            manifest_digest: manifest.map(str::to_string),
            config_digest: "sha256:cccc".into(),
            platform: Platform::host(),
            names: names.iter().map(|s| s.to_string()).collect(),
            user: String::new(),
            created: None,
            layers: vec![],
        }
    }

    #[test]
    fn subjects_use_the_manifest_digest_or_say_they_use_the_config_digest() {
        let with_manifest = ImageDigests::of(&summary(Some("sha256:aaaa"), &[]));
        let subject = ResourceDescriptor::image("app", &with_manifest);
        assert_eq!(subject.digest["sha256"], "aaaa");
        assert_eq!(subject.digest_kind(), DigestKind::Manifest);
        assert_eq!(subject.annotations[DIGEST_KIND_ANNOTATION], "manifest");

        let archive = ImageDigests::of(&summary(None, &[]));
        let subject = ResourceDescriptor::image("app", &archive);
        assert_eq!(subject.sha256().as_deref(), Some("sha256:cccc"));
        assert_eq!(subject.digest_kind(), DigestKind::Config);
    }

    #[test]
    fn subjects_without_our_annotation_name_manifests() {
        let subject: ResourceDescriptor =
            serde_json::from_str(r#"{"name":"x","digest":{"sha256":"ABCD"}}"#).unwrap();
        assert_eq!(subject.digest_kind(), DigestKind::Manifest);
        assert_eq!(subject.sha256().as_deref(), Some("sha256:abcd"));
    }

    #[test]
    fn subject_names_prefer_a_tag() {
        assert_eq!(
            subject_name(&summary(None, &["alpine:3.19"])),
            "alpine:3.19"
        );
        assert_eq!(
            subject_name(&summary(None, &["latest", "ghcr.io/acme/app"])),
            "ghcr.io/acme/app"
        );
        assert_eq!(
            subject_name(&summary(None, &["latest"])),
            "docker-archive:/tmp/app.tar"
        );
    }

    #[test]
    fn statements_serialize_with_in_toto_field_names() {
        let digests = ImageDigests::of(&summary(Some("sha256:aaaa"), &[]));
        let statement = Statement::new(
            ResourceDescriptor::image("app", &digests),
            "https://example.com/p",
            serde_json::json!({"k": 1}),
        );
        let value: Value = serde_json::from_slice(&statement.to_json()).unwrap();
        assert_eq!(value["_type"], STATEMENT_TYPE_V1);
        assert_eq!(value["predicateType"], "https://example.com/p");
        assert_eq!(value["subject"][0]["digest"]["sha256"], "aaaa");
        assert_eq!(value["predicate"]["k"], 1);
    }
}
