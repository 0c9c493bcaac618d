//! The one redaction pass: every string of a report that may quote the image goes through
//! [`portcullis_secrets::scrub`] before any renderer or the signer sees it.
//!
//! Checks quote the image to explain themselves (`config-add-remote` quotes the `RUN` line,
//! `user-root` the configured user, hygiene checks a line of a file). Rather than trusting
//! each of them to mask what they quote, the gate masks the whole report once: every string
//! [`for_each_text`] visits (titles, messages, evidence, locations, data, diagnostics,
//! source details, the image's names and user).

use super::Report;
use super::text::for_each_text;
use portcullis_secrets::RuleSet;
use portcullis_secrets::scrub::scrub_in_place;

/// Masks every secret-shaped value in `report`'s text with `rules`.
pub fn scrub_report(report: &mut Report, rules: &RuleSet) {
    for_each_text(report, &mut |s| {
        scrub_in_place(rules, s);
    });
}
