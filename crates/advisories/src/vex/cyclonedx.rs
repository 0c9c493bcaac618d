//! CycloneDX VEX: `vulnerabilities[]` with an `analysis`, in a VEX document of its own or
//! inside a BOM.
//!
//! `affects[].ref` names a component: by its `bom-ref` in the same document (looked up in
//! `metadata.component` and `components[]`, nested ones included, to find its purl), by a
//! BOM-Link (`urn:cdx:SERIAL/VERSION#BOM-REF`: resolved when SERIAL is this document's
//! `serialNumber`, and otherwise used as a purl when BOM-REF is one), or by a purl.

use super::{Document, Format, Product, Statement, Status, kind_of, text, timestamp};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What a component is known by.
struct Component {
    purl: Option<String>,
    /// `name:version` of a container component: the image as it is tagged.
    image_name: Option<String>,
}

pub(super) fn parse(file: &str, object: &Map<String, Value>) -> Result<Document, String> {
    let vulnerabilities = match object.get("vulnerabilities") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "vulnerabilities is {}, expected an array",
                kind_of(other)
            ));
        }
    };
    if vulnerabilities.len() > super::MAX_STATEMENTS {
        return Err(format!(
            "{} vulnerabilities, more than the {} a VEX document may hold",
            vulnerabilities.len(),
            super::MAX_STATEMENTS
        ));
    }
    let serial = text(object, "serialNumber");
    let components = components(object);
    let metadata = object.get("metadata").and_then(Value::as_object);
    let document_time = match metadata {
        Some(m) => timestamp(m, "timestamp")?,
        None => None,
    };
    let mut statements = Vec::new();
    let mut without_analysis = 0;
    for (i, value) in vulnerabilities.iter().enumerate() {
        let at = |e: String| format!("vulnerabilities[{i}]: {e}");
        let Some(v) = value.as_object() else {
            return Err(at(format!("{}, expected an object", kind_of(value))));
        };
        let analysis = v.get("analysis").and_then(Value::as_object);
        let Some(state) = analysis.and_then(|a| text(a, "state")) else {
            without_analysis += 1;
            continue;
        };
        let status = match state.as_str() {
            "not_affected" | "false_positive" => Status::NotAffected,
            "resolved" | "resolved_with_pedigree" => Status::Fixed,
            "exploitable" => Status::Affected,
            "in_triage" => Status::UnderInvestigation,
            other => {
                return Err(at(format!(
                    "unknown analysis.state {other:?} (expected resolved, \
                     resolved_with_pedigree, exploitable, in_triage, false_positive or \
                     not_affected)"
                )));
            }
        };
        let vulnerability = text(v, "id").ok_or_else(|| at("no id".into()))?;
        let aliases = v
            .get("references")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_object().and_then(|r| text(r, "id")))
            .filter(|id| *id != vulnerability)
            .collect();
        let products = v
            .get("affects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .filter_map(|a| {
                let mut p = product(&text(a, "ref")?, serial.as_deref(), &components);
                p.versions = versions(a, status);
                Some(p)
            })
            .collect();
        let statement_time = match timestamp(v, "updated").map_err(at)? {
            Some(t) => Some(t),
            None => timestamp(v, "published").map_err(at)?,
        };
        statements.push(Statement {
            index: statements.len() + 1,
            vulnerability,
            aliases,
            products,
            status,
            written_status: (state != status.as_str()).then_some(state),
            justification: analysis.and_then(|a| text(a, "justification")),
            impact_statement: analysis.and_then(|a| text(a, "detail")),
            action_statement: text(v, "recommendation"),
            timestamp: statement_time.or(document_time),
        });
    }
    Ok(Document {
        file: file.to_string(),
        format: Format::CycloneDx,
        id: serial,
        author: None,
        statements,
        without_analysis,
    })
}

/// Every component with a `bom-ref`: the document's subject and its components, nested
/// ones included.
fn components(object: &Map<String, Value>) -> HashMap<String, Component> {
    let mut out = HashMap::new();
    let mut pending: Vec<&Value> = Vec::new();
    if let Some(subject) = object
        .get("metadata")
        .and_then(Value::as_object)
        .and_then(|m| m.get("component"))
    {
        pending.push(subject);
    }
    pending.extend(
        object
            .get("components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    while let Some(value) = pending.pop() {
        let Some(c) = value.as_object() else {
            continue;
        };
        pending.extend(
            c.get("components")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        let Some(bom_ref) = text(c, "bom-ref") else {
            continue;
        };
        let image_name = (text(c, "type").as_deref() == Some("container"))
            .then(|| text(c, "name"))
            .flatten()
            .map(|name| match text(c, "version") {
                Some(version) if !name.contains(':') => format!("{name}:{version}"),
                _ => name,
            });
        out.insert(
            bom_ref,
            Component {
                purl: text(c, "purl"),
                image_name,
            },
        );
    }
    out
}

/// The exact versions `affects[].versions` gives the statement's status (`unaffected` for
/// not affected and fixed, else `affected`, the default); `None` without a version list.
fn versions(affects: &Map<String, Value>, status: Status) -> Option<Vec<String>> {
    let list = affects.get("versions")?.as_array()?;
    let wanted = if status.suppresses() {
        "unaffected"
    } else {
        "affected"
    };
    Some(
        list.iter()
            .filter_map(Value::as_object)
            .filter(|v| text(v, "status").as_deref().unwrap_or("affected") == wanted)
            .filter_map(|v| text(v, "version"))
            .collect(),
    )
}

/// The product `affects[].ref` names.
fn product(
    reference: &str,
    serial: Option<&str>,
    components: &HashMap<String, Component>,
) -> Product {
    let mut product = Product::plain(reference);
    let local = match reference.strip_prefix("urn:cdx:") {
        Some(link) => {
            let (document, fragment) = link.split_once('#').unwrap_or((link, ""));
            let fragment = super::purl::decode(fragment);
            let ours = serial.is_some_and(|s| {
                let document_serial = document.split('/').next().unwrap_or_default();
                s.strip_prefix("urn:uuid:").unwrap_or(s) == document_serial
            });
            if ours {
                Some(fragment)
            } else {
                if fragment.starts_with("pkg:") {
                    product.identifiers.push(fragment);
                }
                None
            }
        }
        None => Some(reference.to_string()),
    };
    if let Some(component) = local.as_ref().and_then(|r| components.get(r)) {
        product.identifiers.extend(component.purl.iter().cloned());
        product
            .identifiers
            .extend(component.image_name.iter().cloned());
    }
    product
}
