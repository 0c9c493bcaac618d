//! SPDX 2.3 JSON: the document describes the image (a package of purpose `CONTAINER`),
//! which contains its distribution (`OPERATING-SYSTEM`) and one package per installed
//! package, each with its package URL as an external reference.
//!
//! A license that is an SPDX identifier or expression is the package's declared license;
//! anything else is kept as written under a `LicenseRef-`, as the specification asks.

use super::sbom::{License, Sbom};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;

pub const SPDX_VERSION: &str = "SPDX-2.3";
const IMAGE_ID: &str = "SPDXRef-Image";
const OS_ID: &str = "SPDXRef-OperatingSystem";
/// Where document namespaces live: unique per document, never dereferenced.
const NAMESPACE_BASE: &str = "https://github.com/portcullis/portcullis/spdx";

/// `[A-Za-z0-9.-]` only, as SPDX identifiers require.
fn id_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn short_hash(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..4])
}

fn purl_ref(purl: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    })
}

/// The document as a JSON value.
pub fn document(sbom: &Sbom) -> Value {
    let image = sbom.image;
    let mut image_package = json!({
        "SPDXID": IMAGE_ID,
        "name": sbom.image_name(),
        "versionInfo": sbom.image_digest(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [],
        "comment": format!(
            "config {}, platform {}, scanned as {}",
            image.config_digest, image.platform, image.reference
        ),
    });
    match image.config_digest.strip_prefix("sha256:") {
        Some(hex) => {
            image_package["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": hex}])
        }
        None => {
            if let Some(map) = image_package.as_object_mut() {
                map.remove("checksums");
            }
        }
    }
    if let Some(purl) = sbom.image_purl() {
        image_package["externalRefs"] = json!([purl_ref(&purl)]);
    }

    let mut packages = vec![image_package];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": IMAGE_ID,
    })];
    let contains = |id: &str| {
        json!({
            "spdxElementId": IMAGE_ID,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        })
    };

    if let Some(os) = sbom.os {
        let mut package = json!({
            "SPDXID": OS_ID,
            "name": os.id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING_SYSTEM",
        });
        if let Some(version) = &os.version_id {
            package["versionInfo"] = json!(version);
        }
        if let Some(description) = os.pretty_name.as_ref().or(os.name.as_ref()) {
            package["description"] = json!(description);
        }
        packages.push(package);
        relationships.push(contains(OS_ID));
    }

    let mut ids = HashSet::new();
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    for (n, p) in sbom.packages.iter().enumerate() {
        let base = format!(
            "SPDXRef-Package-{}-{}-{}",
            id_part(&super::cyclonedx::package_format(p.format)),
            id_part(&p.name),
            short_hash(&[&p.purl, &p.path])
        );
        let id = if ids.insert(base.clone()) {
            base
        } else {
            let id = format!("{base}-{n}");
            ids.insert(id.clone());
            id
        };
        let declared = match p
            .license
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            None => "NOASSERTION".to_string(),
            Some(text) => match super::sbom::classify_license(text) {
                License::Id(id) => id.to_string(),
                License::Expression(e) => e.to_string(),
                License::Other(other) => {
                    // Several parts (`A AND B`): each identified where it maps, the rest
                    // as their own LicenseRefs.
                    let mut seen = HashSet::new();
                    let parts: Vec<String> = other
                        .split(" AND ")
                        .map(str::trim)
                        .filter(|part| !part.is_empty() && seen.insert(*part))
                        .map(|part| match super::sbom::classify_license(part) {
                            License::Id(id) => id.to_string(),
                            License::Expression(e) => format!("({e})"),
                            License::Other(name) => {
                                let license_ref =
                                    format!("LicenseRef-{}-{}", id_part(name), short_hash(&[name]));
                                extracted.insert(license_ref.clone(), name.to_string());
                                license_ref
                            }
                        })
                        .collect();
                    parts.join(" AND ")
                }
            },
        };
        let mut comment = format!(
            "recorded in {} (layer {})",
            portcullis_model::path::absolute(&p.path),
            p.layer
        );
        if let Some(source) = &p.source_name {
            comment.push_str(&format!(", source package {source}"));
            if let Some(version) = &p.source_version {
                comment.push_str(&format!(" {version}"));
            }
        }
        packages.push(json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": declared,
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [purl_ref(&p.purl)],
            "comment": comment,
        }));
        relationships.push(contains(&id));
    }

    let mut document = json!({
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": sbom.image_name(),
        "documentNamespace": format!(
            "{NAMESPACE_BASE}/{}-{}",
            id_part(sbom.image_name()),
            sbom.uuid()
        ),
        "creationInfo": {
            "created": sbom.created,
            "creators": [format!("Tool: {}-{}", sbom.tool.name, sbom.tool.version)],
        },
        "documentDescribes": [IMAGE_ID],
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        document["hasExtractedLicensingInfos"] = extracted
            .into_iter()
            .map(|(id, text)| json!({"licenseId": id, "extractedText": text, "name": text}))
            .collect();
    }
    document
}

pub fn write(sbom: &Sbom, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(sbom))?;
    out.write_all(b"\n")
}
