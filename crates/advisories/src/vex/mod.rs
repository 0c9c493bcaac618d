//! VEX (Vulnerability Exploitability eXchange): statements by a supplier that a product is,
//! or is not, affected by a vulnerability.
//!
//! Two formats are read: [OpenVEX](https://github.com/openvex/spec) (v0.2.0, and the v0.0.1
//! shape in which `vulnerability` and `products` are plain strings) and CycloneDX VEX
//! (`vulnerabilities[]` with an `analysis`, in a VEX document of its own or inside a BOM).
//! Both become the same [`Statement`]s: a vulnerability and its aliases, the products it is
//! about, a [`Status`], and the supplier's reasons.
//!
//! A statement is about a vulnerability finding when one of the finding's names is the
//! statement's vulnerability or one of its aliases ([`Statement::is_about`]), and it covers
//! the finding's package when one of its products is that package or the image itself
//! ([`Statement::covers`]): a package URL (with a version it names that version, without one
//! any version; qualifiers only count when the statement gives them), or the image by its
//! digest, `pkg:oci` URL or name — optionally narrowed to the packages named as its
//! `subcomponents`.
//!
//! Documents are untrusted input: a file is read up to [`MAX_FILE_SIZE`] and holds at most
//! [`MAX_STATEMENTS`] statements; every error names the file and the reason.

mod cyclonedx;
mod openvex;
pub mod purl;

use serde_json::Value;
use std::fmt;
use std::io::Read;
use std::path::Path;
use time::OffsetDateTime;

/// The largest VEX document read (a CycloneDX BOM with its components can be large).
pub const MAX_FILE_SIZE: u64 = 64 << 20;
/// The most statements one document may hold.
pub const MAX_STATEMENTS: usize = 100_000;

/// The OpenVEX context of the documents `portcullis vex` writes.
pub const OPENVEX_CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

/// What a statement says about the products, in OpenVEX's words. CycloneDX's analysis
/// states map onto them: `resolved` and `resolved_with_pedigree` are fixed,
/// `false_positive` is not affected, `exploitable` is affected, `in_triage` is under
/// investigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    NotAffected,
    Affected,
    Fixed,
    UnderInvestigation,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotAffected => "not_affected",
            Status::Affected => "affected",
            Status::Fixed => "fixed",
            Status::UnderInvestigation => "under_investigation",
        }
    }

    /// Whether a finding the statement applies to is suppressed: the product is not
    /// affected, or the vulnerability is fixed in it.
    pub fn suppresses(self) -> bool {
        matches!(self, Status::NotAffected | Status::Fixed)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The format a document was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenVex,
    CycloneDx,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::OpenVex => "OpenVEX",
            Format::CycloneDx => "CycloneDX",
        }
    }
}

/// A product a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// As the document writes it: a package URL, an image digest or reference, or a
    /// CycloneDX `bom-ref`.
    pub id: String,
    /// What it is known by, `id` first: the purl a CycloneDX `bom-ref` resolved to, an
    /// OpenVEX `identifiers.purl`, a container component's `name:version`.
    pub identifiers: Vec<String>,
    /// The packages of the product the statement is about (OpenVEX `subcomponents`);
    /// empty: the whole product.
    pub subcomponents: Vec<String>,
    /// The versions of the package the statement is about (CycloneDX `affects[].versions`
    /// with an exact `version` and the status the statement says); `None`: the versions its
    /// purl names. CycloneDX version ranges (`vers:`) are not evaluated, so a product given
    /// only by ranges names no package.
    pub versions: Option<Vec<String>>,
}

impl Product {
    fn plain(id: &str) -> Product {
        Product {
            id: id.to_string(),
            identifiers: vec![id.to_string()],
            subcomponents: Vec::new(),
            versions: None,
        }
    }
}

/// One VEX statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Position in its document, from 1.
    pub index: usize,
    /// The vulnerability's name (`CVE-2023-12345`, `GHSA-…`).
    pub vulnerability: String,
    /// Its other names: OpenVEX `aliases` and `@id`, CycloneDX `references[].id`.
    pub aliases: Vec<String>,
    pub products: Vec<Product>,
    pub status: Status,
    /// The status as written, when the format's word differs (CycloneDX `resolved`,
    /// `false_positive`, `exploitable` …).
    pub written_status: Option<String>,
    /// Why the product is not affected: an OpenVEX justification
    /// (`vulnerable_code_not_present` …) or a CycloneDX one (`code_not_reachable` …).
    pub justification: Option<String>,
    /// OpenVEX `impact_statement`, CycloneDX `analysis.detail`.
    pub impact_statement: Option<String>,
    /// OpenVEX `action_statement`, CycloneDX `recommendation`.
    pub action_statement: Option<String>,
    /// When the statement was made (its own timestamp, else its document's).
    pub timestamp: Option<OffsetDateTime>,
}

/// One VEX document, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The file as given; reports name it.
    pub file: String,
    pub format: Format,
    /// OpenVEX `@id`, CycloneDX `serialNumber`.
    pub id: Option<String>,
    pub author: Option<String>,
    pub statements: Vec<Statement>,
    /// CycloneDX vulnerabilities without an analysis state: a BOM's findings, not VEX
    /// statements.
    pub without_analysis: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum VexError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: larger than {max} bytes, the most a VEX document may be")]
    TooLarge { file: String, max: u64 },
    #[error("{file}: not JSON: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: {reason}")]
    Invalid { file: String, reason: String },
}

/// Reads one VEX document, OpenVEX or CycloneDX.
pub fn load(path: &Path) -> Result<Document, VexError> {
    let file = path.display().to_string();
    let read_error = |source| VexError::Read {
        file: file.clone(),
        source,
    };
    let handle = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    handle
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(VexError::TooLarge {
            file,
            max: MAX_FILE_SIZE,
        });
    }
    parse(&file, &bytes)
}

/// Parses a VEX document; `file` names it in errors and in the statements' reports.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Document, VexError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|source| VexError::Json {
        file: file.to_string(),
        source,
    })?;
    let invalid = |reason: String| VexError::Invalid {
        file: file.to_string(),
        reason,
    };
    let Some(object) = value.as_object() else {
        return Err(invalid("not a VEX document: expected a JSON object".into()));
    };
    let openvex_context = object
        .get("@context")
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with("https://openvex.dev/ns"));
    let document = if object.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx::parse(file, object).map_err(invalid)?
    } else if openvex_context || object.contains_key("statements") {
        openvex::parse(file, object).map_err(invalid)?
    } else {
        return Err(invalid(
            "not a VEX document: neither OpenVEX (an @context of https://openvex.dev/ns/…) \
             nor CycloneDX (bomFormat \"CycloneDX\")"
                .into(),
        ));
    };
    if document.statements.len() > MAX_STATEMENTS {
        return Err(invalid(format!(
            "{} statements, more than the {MAX_STATEMENTS} a VEX document may hold",
            document.statements.len()
        )));
    }
    Ok(document)
}

/// The image a scan is about, as VEX products name it.
#[derive(Debug, Clone, Default)]
pub struct ImageIdentity {
    /// Its manifest and config digests (`sha256:…`).
    pub digests: Vec<String>,
    /// Its names: repository with tag (`app:1.4`, `ghcr.io/acme/app:1.4`) and the reference
    /// it was scanned by.
    pub names: Vec<String>,
}

impl ImageIdentity {
    /// Whether the product id `id` names this image: its digest, a `pkg:oci` URL of it, or
    /// a reference (`NAME`, `NAME:TAG`, `NAME@DIGEST`).
    pub fn is(&self, id: &str) -> bool {
        let id = id.trim();
        if id.is_empty() {
            return false;
        }
        let has_digest = |digest: &str| self.digests.iter().any(|d| d.eq_ignore_ascii_case(digest));
        if id.starts_with("sha256:") {
            return has_digest(id);
        }
        if let Some(purl) = purl::Purl::parse(id) {
            if purl.kind != "oci" {
                return false;
            }
            if let Some(version) = &purl.version {
                return has_digest(version);
            }
            let repository = purl.qualifier("repository_url").map(normalize_name);
            return self.names.iter().any(|n| {
                let repo = repository_of(n);
                let last = repo.rsplit('/').next().unwrap_or(&repo);
                last.eq_ignore_ascii_case(&purl.name)
                    && repository.as_ref().is_none_or(|r| *r == repo)
            });
        }
        if let Some((_, digest)) = id.split_once('@') {
            return has_digest(digest);
        }
        let wanted = normalize_name(id);
        let has_tag = wanted
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'));
        self.names.iter().any(|n| {
            let name = normalize_name(n);
            if has_tag {
                name == wanted
            } else {
                repository_of(&name) == wanted
            }
        })
    }
}

/// A reference without the transport and the registry's defaults: `docker://nginx:1` and
/// `docker.io/library/nginx:1` are `nginx:1`.
fn normalize_name(name: &str) -> String {
    let mut name = name.trim();
    for transport in ["docker://", "docker-daemon:", "podman-daemon:"] {
        if let Some(rest) = name.strip_prefix(transport) {
            name = rest;
        }
    }
    for registry in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = name.strip_prefix(registry) {
            name = rest.strip_prefix("library/").unwrap_or(rest);
        }
    }
    name.to_ascii_lowercase()
}

/// `REPOSITORY` of `REPOSITORY[:TAG][@DIGEST]` (a port in the registry is not a tag).
fn repository_of(name: &str) -> String {
    let name = normalize_name(name);
    let without_digest = name.split('@').next().unwrap_or_default();
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
        _ => without_digest.to_string(),
    }
}

impl Statement {
    /// Whether the statement is about a vulnerability known by any of `names` (its id and
    /// aliases); names compare without regard to case.
    pub fn is_about<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> bool {
        let ours: Vec<&str> = std::iter::once(self.vulnerability.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .collect();
        names
            .into_iter()
            .any(|n| ours.iter().any(|o| o.eq_ignore_ascii_case(n.trim())))
    }

    /// Whether one of the statement's products is the package `package_purl` of `image`,
    /// or `image` itself (and, when the product lists subcomponents, one of them is the
    /// package).
    pub fn covers(&self, image: &ImageIdentity, package_purl: Option<&str>) -> bool {
        let package = package_purl.and_then(purl::Purl::parse);
        let is_package = |id: &str| {
            package.as_ref().is_some_and(|p| {
                purl::Purl::parse(id)
                    .is_some_and(|wanted| wanted.kind != "oci" && wanted.matches(p))
            })
        };
        let version_listed = |product: &Product| match &product.versions {
            None => true,
            Some(versions) => package
                .as_ref()
                .and_then(|p| p.version.as_ref())
                .is_some_and(|v| versions.contains(v)),
        };
        self.products.iter().any(|product| {
            if version_listed(product) && product.identifiers.iter().any(|id| is_package(id)) {
                return true;
            }
            product.identifiers.iter().any(|id| image.is(id))
                && (product.subcomponents.is_empty()
                    || product.subcomponents.iter().any(|s| is_package(s)))
        })
    }

    /// The statement's products, as written, for a report.
    pub fn product_ids(&self) -> Vec<String> {
        self.products.iter().map(|p| p.id.clone()).collect()
    }
}

/// A `not_affected` statement for [`openvex_document`] to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAffected {
    pub vulnerability: String,
    /// The product (the image), and the packages of it the statement is about; none: all.
    pub product: String,
    pub subcomponents: Vec<String>,
    /// Why the product is not affected, in words (OpenVEX requires a justification or an
    /// impact statement for `not_affected`).
    pub impact_statement: String,
    pub status_notes: Option<String>,
}

/// What an OpenVEX document says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The document's IRI; `None` derives one from the content, so the same statements at
    /// the same time make the same document.
    pub id: Option<&'a str>,
    pub author: &'a str,
    /// RFC 3339.
    pub timestamp: &'a str,
    pub tooling: &'a str,
}

/// An OpenVEX v0.2.0 document of `statements`, valid against the specification's schema.
pub fn openvex_document(header: &Header, statements: &[NotAffected]) -> Value {
    use serde_json::json;
    use sha2::{Digest as _, Sha256};
    let statements: Vec<Value> = statements
        .iter()
        .map(|s| {
            let mut product = json!({ "@id": s.product });
            if !s.subcomponents.is_empty() {
                product["subcomponents"] = s
                    .subcomponents
                    .iter()
                    .map(|id| json!({ "@id": id }))
                    .collect();
            }
            let mut statement = json!({
                "vulnerability": { "name": s.vulnerability },
                "products": [product],
                "status": Status::NotAffected.as_str(),
                "impact_statement": s.impact_statement,
            });
            if let Some(notes) = &s.status_notes {
                statement["status_notes"] = json!(notes);
            }
            statement
        })
        .collect();
    let id = match header.id {
        Some(id) => id.to_string(),
        None => {
            let content = json!([header.author, header.timestamp, statements]).to_string();
            format!(
                "https://openvex.dev/docs/public/vex-{}",
                hex::encode(Sha256::digest(content.as_bytes()))
            )
        }
    };
    json!({
        "@context": OPENVEX_CONTEXT,
        "@id": id,
        "author": header.author,
        "timestamp": header.timestamp,
        "version": 1,
        "tooling": header.tooling,
        "statements": statements,
    })
}

/// An optional string field, trimmed; an empty string is absent.
fn text(object: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An RFC 3339 timestamp field; `Err` names it when it is not one.
fn timestamp(
    object: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<OffsetDateTime>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(Some)
                .map_err(|e| format!("{key} {s:?} is not an RFC 3339 time: {e}"))
        }
        Some(other) => Err(format!("{key} is {}, expected a string", kind_of(other))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
