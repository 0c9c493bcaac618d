//! OpenVEX documents: v0.2.0 (`vulnerability` an object, `products` objects with `@id`,
//! `identifiers` and `subcomponents`) and the v0.0.1 shape (`vulnerability` a string,
//! `products` and statement-level `subcomponents` strings).

use super::{Document, Format, Product, Statement, Status, kind_of, text, timestamp};
use serde_json::{Map, Value};

pub(super) fn parse(file: &str, object: &Map<String, Value>) -> Result<Document, String> {
    let document_time = timestamp(object, "timestamp")?;
    let statements = match object.get("statements") {
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "statements is {}, expected an array",
                kind_of(other)
            ));
        }
        None => return Err("an OpenVEX document without statements".into()),
    };
    if statements.len() > super::MAX_STATEMENTS {
        return Err(format!(
            "{} statements, more than the {} a VEX document may hold",
            statements.len(),
            super::MAX_STATEMENTS
        ));
    }
    let statements = statements
        .iter()
        .enumerate()
        .map(|(i, value)| {
            statement(i + 1, value, document_time).map_err(|e| format!("statement {}: {e}", i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Document {
        file: file.to_string(),
        format: Format::OpenVex,
        id: text(object, "@id"),
        author: text(object, "author"),
        statements,
        without_analysis: 0,
    })
}

fn statement(
    index: usize,
    value: &Value,
    document_time: Option<time::OffsetDateTime>,
) -> Result<Statement, String> {
    let Some(object) = value.as_object() else {
        return Err(format!("{}, expected an object", kind_of(value)));
    };
    let (vulnerability, aliases) = match object.get("vulnerability") {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            (name.trim().to_string(), Vec::new())
        }
        Some(Value::Object(v)) => {
            let id = text(v, "@id");
            let name = text(v, "name")
                .or_else(|| id.clone())
                .ok_or("the vulnerability has neither a name nor an @id")?;
            let mut aliases = strings(v.get("aliases"), "vulnerability.aliases")?;
            aliases.extend(id.filter(|id| *id != name));
            (name, aliases)
        }
        Some(other) => {
            return Err(format!(
                "vulnerability is {}, expected an object with a name",
                kind_of(other)
            ));
        }
        None => return Err("no vulnerability".into()),
    };
    let status_text = text(object, "status").ok_or("no status")?;
    let status = match status_text.as_str() {
        "not_affected" => Status::NotAffected,
        "affected" => Status::Affected,
        "fixed" => Status::Fixed,
        "under_investigation" => Status::UnderInvestigation,
        other => {
            return Err(format!(
                "unknown status {other:?} (expected not_affected, affected, fixed or \
                 under_investigation)"
            ));
        }
    };
    // v0.0.1 lists subcomponents beside the products, for all of them.
    let shared_subcomponents = strings(object.get("subcomponents"), "subcomponents")?;
    let mut products = Vec::new();
    match object.get("products") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let mut p = product(item).map_err(|e| format!("products[{i}]: {e}"))?;
                p.subcomponents.extend(shared_subcomponents.iter().cloned());
                products.push(p);
            }
        }
        Some(other) => return Err(format!("products is {}, expected an array", kind_of(other))),
    }
    Ok(Statement {
        index,
        vulnerability,
        aliases,
        products,
        status,
        written_status: None,
        justification: text(object, "justification"),
        impact_statement: text(object, "impact_statement"),
        action_statement: text(object, "action_statement"),
        timestamp: timestamp(object, "timestamp")?.or(document_time),
    })
}

/// A product: a string (v0.0.1) or a component with `@id` and/or `identifiers`.
fn product(value: &Value) -> Result<Product, String> {
    match value {
        Value::String(id) if !id.trim().is_empty() => Ok(Product::plain(id.trim())),
        Value::Object(object) => {
            let (id, identifiers) = component(object)?;
            let mut subcomponents = Vec::new();
            match object.get("subcomponents") {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Value::String(s) if !s.trim().is_empty() => {
                                subcomponents.push(s.trim().to_string())
                            }
                            Value::Object(o) => subcomponents.extend(
                                component(o)
                                    .map_err(|e| format!("subcomponents[{i}]: {e}"))?
                                    .1,
                            ),
                            other => {
                                return Err(format!(
                                    "subcomponents[{i}] is {}, expected an object with an @id",
                                    kind_of(other)
                                ));
                            }
                        }
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "subcomponents is {}, expected an array",
                        kind_of(other)
                    ));
                }
            }
            Ok(Product {
                id,
                identifiers,
                subcomponents,
                versions: None,
            })
        }
        other => Err(format!(
            "{}, expected an object with an @id",
            kind_of(other)
        )),
    }
}

/// A component's `@id` (else its purl, else a CPE) and every identifier it has.
fn component(object: &Map<String, Value>) -> Result<(String, Vec<String>), String> {
    let mut identifiers: Vec<String> = text(object, "@id").into_iter().collect();
    if let Some(Value::Object(ids)) = object.get("identifiers") {
        for key in ["purl", "cpe23", "cpe22"] {
            identifiers.extend(text(ids, key));
        }
    }
    let id = identifiers
        .first()
        .cloned()
        .ok_or("neither an @id nor identifiers")?;
    Ok((id, identifiers))
}

/// An optional array of strings.
fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.trim().to_string()),
                other => Err(format!("{what} holds {}, expected strings", kind_of(other))),
            })
            .filter(|s| s.as_ref().map_or(true, |s| !s.is_empty()))
            .collect(),
        Some(other) => Err(format!("{what} is {}, expected an array", kind_of(other))),
    }
}
