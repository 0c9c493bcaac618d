//! VEX: suppliers' statements that the image, or one of its packages, is not affected by a
//! vulnerability, or has it fixed (`--vex FILE`, the policy's `osv.vex`).
//!
//! A statement applies to a `vuln-package` finding when it names one of the finding's
//! vulnerability names (its id, the records' ids, their aliases) and one of its products is
//! the finding's package (by purl) or the image (optionally narrowed to the package by its
//! subcomponents); see [`portcullis_advisories::vex`]. When several statements apply to one
//! finding, the latest decides: by timestamp when both have one, else the later in the
//! order the files and their statements were given. If it says `not_affected` or `fixed`,
//! the finding is suppressed as a waiver would: it stays in the report, marked with the
//! statement's status, justification and file, and never fails the gate. `affected` and
//! `under_investigation` statements suppress nothing. Every statement is reported with what
//! it did; one about no finding of the image is listed as unused.
//!
//! VEX applies before the waivers, so a waiver of a finding a statement already suppressed
//! is reported unused.
//!
//! [`from_waivers`] goes the other way: the waivers of vulnerabilities as an OpenVEX
//! document (`portcullis vex`).

use super::waivers::{Date, Waivers};
use crate::checks::vulns;
use crate::report::{Finding, ImageSummary, VexState, VexStatus, VexSuppression, Waived};
use portcullis_advisories::vex::purl::Purl;
use portcullis_advisories::vex::{self, Document, ImageIdentity, NotAffected, Statement, VexError};
use portcullis_inventory::Package;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The VEX documents of one run, in the order given.
#[derive(Debug, Default)]
pub struct Vex {
    pub documents: Vec<Document>,
}

impl Vex {
    /// Reads every document; the first that cannot be read is the error.
    pub fn load(paths: &[PathBuf]) -> Result<Vex, VexError> {
        let documents = paths
            .iter()
            .map(|p| vex::load(p))
            .collect::<Result<_, _>>()?;
        Ok(Vex { documents })
    }

    /// Suppresses the vulnerability findings a `not_affected` or `fixed` statement covers,
    /// and says what became of every statement.
    pub fn apply(&self, findings: &mut [Finding], image: &ImageSummary) -> Vec<VexStatus> {
        let statements: Vec<(&Document, &Statement)> = self
            .documents
            .iter()
            .flat_map(|d| d.statements.iter().map(move |s| (d, s)))
            .collect();
        let identity = identity(image);
        let mut matched = vec![0usize; statements.len()];
        let mut suppressed = vec![0usize; statements.len()];
        for finding in findings
            .iter_mut()
            .filter(|f| f.check == vulns::PACKAGE.id && f.waived.is_none())
        {
            let names = vulnerability_names(finding);
            let purl = finding.data.get("purl").and_then(Value::as_str);
            let mut deciding: Option<usize> = None;
            for (i, (_, statement)) in statements.iter().enumerate() {
                if !statement.is_about(names.iter().copied()) || !statement.covers(&identity, purl)
                {
                    continue;
                }
                matched[i] += 1;
                let earlier = deciding.is_some_and(|d| {
                    matches!((statement.timestamp, statements[d].1.timestamp),
                        (Some(this), Some(that)) if this < that)
                });
                if !earlier {
                    deciding = Some(i);
                }
            }
            let Some(i) = deciding else {
                continue;
            };
            let (document, statement) = statements[i];
            if statement.status.suppresses() {
                suppressed[i] += 1;
                finding.waived = Some(waived(document, statement));
            }
        }
        statements
            .iter()
            .enumerate()
            .map(|(i, (document, s))| VexStatus {
                file: document.file.clone(),
                statement: s.index,
                vulnerability: s.vulnerability.clone(),
                aliases: s.aliases.clone(),
                products: s.product_ids(),
                status: s.status.as_str().to_string(),
                written_status: s.written_status.clone(),
                justification: s.justification.clone(),
                impact_statement: s.impact_statement.clone(),
                action_statement: s.action_statement.clone(),
                state: if suppressed[i] > 0 {
                    VexState::Applied
                } else if matched[i] > 0 {
                    VexState::Matched
                } else {
                    VexState::Unused
                },
                matched: matched[i],
                suppressed: suppressed[i],
            })
            .collect()
    }
}

/// The image as VEX products name it: its digests, its tags and the reference it was
/// scanned by.
fn identity(image: &ImageSummary) -> ImageIdentity {
    ImageIdentity {
        digests: image
            .manifest_digest
            .iter()
            .chain(std::iter::once(&image.config_digest))
            .cloned()
            .collect(),
        names: image
            .names
            .iter()
            .chain(std::iter::once(&image.reference))
            .cloned()
            .collect(),
    }
}

/// Every name of a finding's vulnerability: the one it is reported by, the records' ids
/// and their aliases.
fn vulnerability_names(finding: &Finding) -> Vec<&str> {
    let data = &finding.data;
    let mut names: Vec<&str> = data
        .get("vulnerability")
        .and_then(Value::as_str)
        .into_iter()
        .collect();
    for key in ["ids", "aliases"] {
        names.extend(
            data.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
    }
    names
}

/// `VEX not_affected: vulnerable_code_not_present; the TLS code is not built (vex.json,
/// statement 2)`.
fn waived(document: &Document, statement: &Statement) -> Waived {
    let mut reason = format!("VEX {}", statement.status);
    if let Some(justification) = &statement.justification {
        reason.push_str(&format!(": {justification}"));
    }
    if let Some(impact) = &statement.impact_statement {
        reason.push_str(if statement.justification.is_some() {
            "; "
        } else {
            ": "
        });
        reason.push_str(impact);
    }
    reason.push_str(&format!(
        " ({}, statement {})",
        document.file, statement.index
    ));
    Waived {
        reason,
        expires: None,
        vex: Some(VexSuppression {
            file: document.file.clone(),
            statement: statement.index,
            status: statement.status.as_str().to_string(),
            justification: statement.justification.clone(),
        }),
    }
}

/// The statements `portcullis vex` writes for a waiver file, and the waivers it left out.
#[derive(Debug, Default)]
pub struct FromWaivers {
    pub statements: Vec<NotAffected>,
    /// One line per waiver left out, saying why.
    pub left_out: Vec<String>,
}

/// The waivers of `vuln-package` findings that name a vulnerability (`rule`), as
/// `not_affected` statements about `product`, the image: the waiver's reason is the impact
/// statement, its package (when it names one) the subcomponent, by the package URLs
/// `packages` (the image's inventory) give that name, without their version, as the waiver
/// covers every version. Waivers of other checks, expired ones (on `today`) and ones with a
/// `path` (which VEX cannot express) are left out. `Err` names a waiver with a package when
/// `packages` is `None`.
pub fn from_waivers(
    waivers: &Waivers,
    today: Date,
    product: &str,
    packages: Option<&[Package]>,
) -> Result<FromWaivers, String> {
    let mut out = FromWaivers::default();
    for w in &waivers.waivers {
        let at = format!("{}:{}", w.file, w.line);
        let Some(vulnerability) = w.rule.as_ref().filter(|_| w.check == vulns::PACKAGE.id) else {
            out.left_out.push(format!(
                "{at}: waiver for {} names no vulnerability (VEX is about `check = \"{}\"` \
                 waivers with a `rule`)",
                w.check,
                vulns::PACKAGE.id
            ));
            continue;
        };
        if w.expires.is_some_and(|last| today > last) {
            out.left_out.push(format!(
                "{at}: waiver for {vulnerability} expired on {}",
                w.expires.map(|d| d.to_string()).unwrap_or_default()
            ));
            continue;
        }
        if let Some(path) = &w.path {
            out.left_out.push(format!(
                "{at}: waiver for {vulnerability} applies to the path {path}, which VEX cannot \
                 say"
            ));
            continue;
        }
        let subcomponents = match (&w.package, packages) {
            (None, _) => Vec::new(),
            (Some(name), None) => {
                return Err(format!(
                    "{at}: the waiver for {vulnerability} names the package {name}: give the \
                     image (--image) so that its package URL can be written"
                ));
            }
            (Some(name), Some(packages)) => {
                let purls: BTreeSet<String> = packages
                    .iter()
                    .filter(|p| p.name == *name)
                    .filter_map(|p| Purl::parse(&p.purl))
                    .map(|p| p.versionless())
                    .collect();
                if purls.is_empty() {
                    out.left_out.push(format!(
                        "{at}: waiver for {vulnerability} names the package {name}, which the \
                         image does not have"
                    ));
                    continue;
                }
                purls.into_iter().collect()
            }
        };
        out.statements.push(NotAffected {
            vulnerability: vulnerability.clone(),
            product: product.to_string(),
            subcomponents,
            impact_statement: w.reason.clone(),
            status_notes: Some(match w.expires {
                Some(last) => format!("portcullis waiver {at}, until {last}"),
                None => format!("portcullis waiver {at}"),
            }),
        });
    }
    Ok(out)
}
