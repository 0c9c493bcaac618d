//! The `eol` family: is the image's distribution release still supported?
//!
//! The release comes from the image's os-release (or older release files), the date from
//! the end-of-life table ([`portcullis_advisories::eol`]), and the day it is judged on from
//! the scan (`PORTCULLIS_NOW` fixes it). A release past its end gets no more security
//! updates: every vulnerability found after that day stays in the image. A release within
//! `params.packages.eol_warning_days` of its end is reported so the move can be planned.

use super::{Check, Family, Reference, at_layer_path};
use crate::facts::ImageFacts;
use crate::policy::{Policy, Severity};
use portcullis_advisories::eol::{self, EolTable};
use portcullis_inventory::os::{self, OsRelease};
use portcullis_model::Date;
use portcullis_model::Finding;
use portcullis_model::path;

const REFS: &[Reference] = &[
    Reference::Cis("4.4"),
    Reference::Cwe(1104),
    Reference::Url("https://endoflife.date"),
];

pub static EOL: Check = Check {
    id: "eol-os",
    family: "eol",
    title: "Distribution release past its end of life",
    severity: Severity::High,
    description: "The image's distribution release no longer gets security updates. \
        Vulnerabilities found since its end of life are never fixed in it, and vulnerability \
        scanners stop reporting them once the distribution drops the release from its \
        advisories.",
    remediation: "Move the image to a supported release of its distribution (change the \
        FROM line to a current tag) and rebuild it.",
    references: REFS,
};

pub static EOL_SOON: Check = Check {
    id: "eol-os-soon",
    family: "eol",
    title: "Distribution release near its end of life",
    severity: Severity::Low,
    description: "The image's distribution release stops getting security updates within \
        `params.packages.eol_warning_days` days.",
    remediation: "Plan the move to a newer release of the distribution before the date, \
        and rebuild the image on it.",
    references: REFS,
};

pub static FAMILY: Family = Family {
    name: "eol",
    checks: &[&EOL, &EOL_SOON],
    run,
};

fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    let Some(os) = os::detect(|p| facts.read_file(p)) else {
        return Vec::new();
    };
    let Some(finding) = judge(
        &os,
        eol::table(),
        facts.today,
        policy.params.packages.eol_warning_days,
    ) else {
        return Vec::new();
    };
    match facts.fs.resolve(&os.source) {
        Some((path, node)) => vec![at_layer_path(facts, finding, &path, node.layer)],
        None => vec![finding.at_path(path::absolute(&os.source))],
    }
}

/// The finding for `os` on `today`, if its release is past or near its end of life.
fn judge(os: &OsRelease, table: &EolTable, today: Date, warning_days: u32) -> Option<Finding> {
    let release = table.lookup(os)?;
    let days_left = release.eol.unix_days() - today.unix_days();
    let name = match &release.codename {
        Some(codename) => format!("{} {} ({codename})", release.name, release.version),
        None => format!("{} {}", release.name, release.version),
    };
    let finding = if days_left < 0 {
        EOL.finding(format!(
            "{name} reached its end of life on {} (end of {}): it gets no more security updates",
            release.eol, release.support
        ))
    } else if days_left <= i64::from(warning_days) {
        EOL_SOON.finding(format!(
            "{name} reaches its end of life on {} (end of {}), in {days_left} days",
            release.eol, release.support
        ))
    } else {
        return None;
    };
    let mut finding = finding
        .with_data("os", os.id.clone())
        .with_data("version", release.version.clone())
        .with_data("eol", release.eol.to_string())
        .with_data("support", release.support.clone())
        .with_data("days_left", days_left)
        .with_data("eol_source", release.source.clone());
    if let Some(codename) = &release.codename {
        finding = finding.with_data("codename", codename.clone());
    }
    if let Some(version_id) = &os.version_id {
        finding = finding.with_data("version_id", version_id.clone());
    }
    Some(finding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn past_near_and_far_from_the_end() {
        let table = EolTable::embedded();
        let buster = OsRelease {
            id: "debian".into(),
            version_id: Some("10".into()),
            ..Default::default()
        };
        let past = judge(&buster, &table, date("2024-07-01"), 90).unwrap();
        assert_eq!(past.check, "eol-os");
        assert_eq!(past.severity, Severity::High);
        assert_eq!(
            past.message,
            "Debian 10 (buster) reached its end of life on 2024-06-30 (end of Debian LTS): it gets no more security updates"
        );
        assert_eq!(past.data["days_left"], -1);

        let last_day = judge(&buster, &table, date("2024-06-30"), 90).unwrap();
        assert_eq!(last_day.check, "eol-os-soon");
        assert_eq!(last_day.data["days_left"], 0);

        let soon = judge(&buster, &table, date("2024-04-01"), 90).unwrap();
        assert_eq!(soon.check, "eol-os-soon");
        assert!(soon.message.ends_with("in 90 days"), "{}", soon.message);
        assert!(judge(&buster, &table, date("2024-03-31"), 90).is_none());
        assert!(judge(&buster, &table, date("2024-04-01"), 0).is_none());

        let unknown = OsRelease {
            id: "plan9".into(),
            ..Default::default()
        };
        assert!(judge(&unknown, &table, date("2024-07-01"), 90).is_none());
    }
}
