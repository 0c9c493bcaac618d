//! The upgrade plan (`--base-candidates`): which base image to rebuild on. Each candidate is
//! scanned like any image (its layers come from the layer cache when seen before), and its
//! findings are compared with the findings the image's current base brings, the image's own
//! layers kept as they are: "rebuilding on debian:12.8 removes 23 of 31 base-image findings
//! (4 critical)". Nothing is rebuilt; what the image's own build steps would do on the new
//! base (a package they install now coming from the new base's repositories) is not
//! predicted.
//!
//! Only findings in the filesystem take part (packages, vulnerabilities, files): the
//! candidate's config is replaced by the image's own at the rebuild.

use crate::policy::baseline;
use crate::report::{Finding, Part, Report};
use portcullis_model::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One candidate base and what rebuilding on it would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Findings of the current base the candidate does not have.
    pub removes: usize,
    pub removes_critical: usize,
    pub removes_high: usize,
    /// Vulnerable or outdated packages of the current base the candidate fixes or drops.
    pub removes_packages: Vec<String>,
    /// Findings the candidate has and the current base does not.
    pub adds: usize,
    pub adds_critical: usize,
    pub adds_high: usize,
}

impl Candidate {
    /// `rebuilding on alpine:3.20 removes 3 of 5 base-image findings (1 critical), adds 1`.
    pub fn describe(&self, of: usize) -> String {
        let mut severe = Vec::new();
        if self.removes_critical > 0 {
            severe.push(format!("{} critical", self.removes_critical));
        }
        if self.removes_high > 0 {
            severe.push(format!("{} high", self.removes_high));
        }
        let severe = if severe.is_empty() {
            String::new()
        } else {
            format!(" ({})", severe.join(", "))
        };
        let adds = match (self.adds, self.adds_critical + self.adds_high) {
            (0, _) => String::new(),
            (n, 0) => format!(", adds {n}"),
            (n, s) => format!(", adds {n} ({s} critical or high)"),
        };
        format!(
            "rebuilding on {} removes {} of {of} base-image findings{severe}{adds}",
            self.reference, self.removes
        )
    }

    /// Best first: the most critical and high findings removed net, then the most findings.
    fn rank(&self) -> (isize, isize, isize) {
        let severe = (self.removes_critical + self.removes_high) as isize
            - (self.adds_critical + self.adds_high) as isize;
        (
            -severe,
            -(self.removes_critical as isize - self.adds_critical as isize),
            -(self.removes as isize - self.adds as isize),
        )
    }
}

/// The candidates, best first, measured against the findings of the current base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebasePlan {
    /// Filesystem findings the current base brings (not waived).
    pub base_findings: usize,
    pub candidates: Vec<Candidate>,
}

impl RebasePlan {
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.first()
    }
}

/// A finding in the filesystem, not waived: what a rebuild can change.
fn in_filesystem(f: &&Finding) -> bool {
    f.waived.is_none() && f.location.layer.is_some()
}

fn is_package(f: &Finding) -> bool {
    f.check == "vuln-package" || f.check.starts_with("outdated-")
}

/// What rebuilding on the base `candidate` (its report, judged as the image was) would
/// change in `report`'s base-image findings.
pub fn measure(report: &Report, candidate: &Report, reference: &str) -> Candidate {
    let current: Vec<&Finding> = report
        .findings
        .iter()
        .filter(in_filesystem)
        .filter(|f| f.origin.as_ref().is_some_and(|o| o.part == Part::Base))
        .collect();
    let theirs: Vec<&Finding> = candidate.findings.iter().filter(in_filesystem).collect();
    let (removed, added) = baseline::difference(&current, &theirs);
    let count = |fs: &[&Finding], s: Severity| fs.iter().filter(|f| f.severity == s).count();
    let packages: BTreeSet<String> = removed
        .iter()
        .filter(|f| is_package(f))
        .filter_map(|f| f.data.get("package").and_then(|p| p.as_str()))
        .map(str::to_string)
        .collect();
    Candidate {
        reference: reference.to_string(),
        digest: candidate
            .image
            .manifest_digest
            .clone()
            .or_else(|| Some(candidate.image.config_digest.clone())),
        removes: removed.len(),
        removes_critical: count(&removed, Severity::Critical),
        removes_high: count(&removed, Severity::High),
        removes_packages: packages.into_iter().collect(),
        adds: added.len(),
        adds_critical: count(&added, Severity::Critical),
        adds_high: count(&added, Severity::High),
    }
}

/// The plan of `candidates`, best first (ties keep the order given).
pub fn plan(report: &Report, mut candidates: Vec<Candidate>) -> RebasePlan {
    candidates.sort_by_key(Candidate::rank);
    RebasePlan {
        base_findings: report
            .findings
            .iter()
            .filter(in_filesystem)
            .filter(|f| f.origin.as_ref().is_some_and(|o| o.part == Part::Base))
            .count(),
        candidates,
    }
}

/// The candidates `spec` names: a comma-separated list of references, or one registry
/// repository (`docker://REGISTRY/NAME`, no tag) whose tags `tags` (a regular expression
/// matched against the whole tag) selects, listed through `list`.
pub fn expand(
    spec: &str,
    tags: Option<&str>,
    list: impl FnOnce(&str) -> Result<Vec<String>, String>,
) -> Result<Vec<String>, String> {
    let tags = tags
        .map(|pattern| {
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("--base-candidates-tags {pattern:?}: {e}"))
        })
        .transpose()?;
    let tags = tags.as_ref();
    let items: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let repository = match items.as_slice() {
        [one] => one
            .strip_prefix("docker://")
            .filter(|r| !has_tag_or_digest(r)),
        [] => return Err("names no image".to_string()),
        _ => None,
    };
    let Some(repository) = repository else {
        if tags.is_some() {
            return Err(
                "--base-candidates-tags needs a repository (docker://REGISTRY/NAME)".into(),
            );
        }
        return Ok(items.iter().map(|s| s.to_string()).collect());
    };
    let listed = list(repository)?;
    let chosen: Vec<String> = listed
        .iter()
        .filter(|t| tags.is_none_or(|re| re.is_match(t)))
        .map(|t| format!("docker://{repository}:{t}"))
        .collect();
    if chosen.is_empty() {
        return Err(format!(
            "no tag of {repository} matches{} ({} tags listed)",
            tags.map(|re| format!(" {}", re.as_str()))
                .unwrap_or_default(),
            listed.len()
        ));
    }
    Ok(chosen)
}

/// Whether `REGISTRY[:PORT]/NAME` ends with a tag or a digest.
fn has_tag_or_digest(reference: &str) -> bool {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    reference.contains('/') && (last.contains(':') || last.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_expands_to_its_matching_tags_and_a_list_to_itself() {
        let list = |repo: &str| {
            assert_eq!(repo, "127.0.0.1:5000/alpine");
            Ok(vec!["3.19".into(), "3.20".into(), "edge".into()])
        };
        let re = r"3\.[0-9]+";
        assert_eq!(
            expand("docker://127.0.0.1:5000/alpine", Some(re), list).unwrap(),
            [
                "docker://127.0.0.1:5000/alpine:3.19",
                "docker://127.0.0.1:5000/alpine:3.20"
            ]
        );
        let never = |_: &str| -> Result<Vec<String>, String> { panic!("listed") };
        assert_eq!(
            expand("a.tar, docker://r:5000/x:1", None, never).unwrap(),
            ["a.tar", "docker://r:5000/x:1"]
        );
        assert_eq!(
            expand("docker://r:5000/x:1", None, never).unwrap(),
            ["docker://r:5000/x:1"]
        );
        assert!(expand("a.tar", Some(re), never).is_err());
        assert!(expand("docker://r:5000/x", Some("("), never).is_err());
        assert!(expand(" , ", None, never).is_err());
        let e = expand("docker://127.0.0.1:5000/alpine", Some("9"), list).unwrap_err();
        assert!(e.contains("no tag of 127.0.0.1:5000/alpine matches"), "{e}");
    }
}
