//! CycloneDX 1.5 JSON: the image as the BOM's subject (`metadata.component`, type
//! `container`), its distribution as an `operating-system` component, and one `library`
//! component per package with its package URL, license, and where the image records it.

use super::sbom::{License, Sbom};
use portcullis_model::path;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::Write;

pub const SPEC_VERSION: &str = "1.5";

const IMAGE_REF: &str = "image";
const OS_REF: &str = "operating-system";

fn property(name: &str, value: impl Into<String>) -> Value {
    json!({"name": format!("portcullis:{name}"), "value": value.into()})
}

fn licenses(text: Option<&str>) -> Option<Value> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    Some(match super::sbom::classify_license(text) {
        License::Id(id) => json!([{"license": {"id": id}}]),
        License::Expression(e) => json!([{"expression": e}]),
        // Licences of several parts (a Debian copyright file's `A AND B AND C`): one entry
        // each, identified where the name maps to SPDX.
        License::Other(name) if name.contains(" AND ") => {
            let mut seen = std::collections::HashSet::new();
            let entries: Vec<Value> = name
                .split(" AND ")
                .map(str::trim)
                .filter(|part| !part.is_empty() && seen.insert(*part))
                .map(|part| match super::sbom::classify_license(part) {
                    License::Id(id) => json!({"license": {"id": id}}),
                    _ => json!({"license": {"name": part}}),
                })
                .collect();
            Value::Array(entries)
        }
        License::Other(name) => json!([{"license": {"name": name}}]),
    })
}

/// The BOM as a JSON value.
pub fn document(sbom: &Sbom) -> Value {
    let image = sbom.image;
    let mut image_component = json!({
        "type": "container",
        "bom-ref": IMAGE_REF,
        "name": sbom.image_name(),
        "version": sbom.image_digest(),
        "properties": [
            property("image:config-digest", image.config_digest.clone()),
            property("image:platform", image.platform.to_string()),
            property("image:reference", image.reference.clone()),
        ],
    });
    if let Some(purl) = sbom.image_purl() {
        image_component["purl"] = json!(purl);
    }

    let mut components = Vec::new();
    let mut depends_on = Vec::new();
    if let Some(os) = sbom.os {
        let mut component = json!({
            "type": "operating-system",
            "bom-ref": OS_REF,
            "name": os.id,
        });
        if let Some(version) = &os.version_id {
            component["version"] = json!(version);
        }
        if let Some(description) = os.pretty_name.as_ref().or(os.name.as_ref()) {
            component["description"] = json!(description);
        }
        if let Some(cpe) = &os.cpe_name {
            component["cpe"] = json!(cpe);
        }
        components.push(component);
        depends_on.push(json!(OS_REF));
    }

    let mut refs = HashSet::new();
    for (n, package) in sbom.packages.iter().enumerate() {
        // The package URL is the natural reference; the same package recorded twice (two
        // copies of a Python library) needs the record's place to stay unique.
        let bom_ref = if refs.insert(package.purl.clone()) {
            package.purl.clone()
        } else {
            let alternative = format!("{}|/{}", package.purl, package.path);
            if refs.insert(alternative.clone()) {
                alternative
            } else {
                format!("{alternative}|{n}")
            }
        };
        let mut properties = vec![
            property("package:format", package_format(package.format)),
            property("package:path", path::absolute(&package.path)),
            property("package:layer", package.layer.to_string()),
        ];
        if let Some(source) = &package.source_name {
            properties.push(property("package:source-name", source.clone()));
        }
        if let Some(version) = &package.source_version {
            properties.push(property("package:source-version", version.clone()));
        }
        let mut component = json!({
            "type": if package.application { "application" } else { "library" },
            "bom-ref": bom_ref,
            "name": package.name,
            "version": package.version,
            "purl": package.purl,
            "properties": properties,
        });
        if let Some(licenses) = licenses(package.license.as_deref()) {
            component["licenses"] = licenses;
        }
        depends_on.push(json!(bom_ref));
        components.push(component);
    }

    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": format!("urn:uuid:{}", sbom.uuid()),
        "version": 1,
        "metadata": {
            "timestamp": sbom.created,
            "tools": {
                "components": [{
                    "type": "application",
                    "name": sbom.tool.name,
                    "version": sbom.tool.version,
                }],
            },
            "component": image_component,
        },
        "components": components,
        "dependencies": [{"ref": IMAGE_REF, "dependsOn": depends_on}],
    })
}

/// The name of a package database format, as the JSON report writes it.
pub(super) fn package_format(format: portcullis_inventory::DbFormat) -> String {
    serde_json::to_value(format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn write(sbom: &Sbom, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(sbom))?;
    out.write_all(b"\n")
}
