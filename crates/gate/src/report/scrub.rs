//! The one redaction pass: every string of a report that may quote the image goes through
//! a [`Scrubber`] before any renderer or the signer sees it.
//!
//! Checks quote the image to explain themselves (`config-add-remote` quotes the `RUN` line,
//! `user-root` the configured user, hygiene checks a line of a file). Rather than trusting
//! each of them to mask what they quote, the gate masks the whole report once: every string
//! [`for_each_text`] visits (titles, messages, evidence, locations, data, diagnostics,
//! source details, the image's names and user). The scrubber masks secret-shaped values, and
//! the secret values it learnt from the image's config texts wherever a check quotes them
//! cut out of their context.

use super::Report;
use super::text::for_each_text;
use oci_spec::image::ImageConfiguration;
use portcullis_secrets::RuleSet;
use portcullis_secrets::scrub::Scrubber;

/// Masks every secret-shaped value in `report`'s text, and every secret value found in the
/// texts of `config`, with `rules`.
pub fn scrub_report(report: &mut Report, rules: &RuleSet, config: &ImageConfiguration) {
    let sources = config_texts(config);
    let scrubber = Scrubber::new(rules, sources.iter().map(String::as_str));
    for_each_text(report, &mut |s| scrubber.scrub_in_place(s));
}

/// The free text of an image config: history, ENV, labels, user, command, entrypoint,
/// working directory, volumes.
fn config_texts(config: &ImageConfiguration) -> Vec<String> {
    let mut out: Vec<String> = config
        .history()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .flat_map(|h| [h.created_by().clone(), h.comment().clone()])
        .flatten()
        .collect();
    if let Some(c) = config.config() {
        out.extend(c.env().iter().flatten().cloned());
        out.extend(c.labels().iter().flatten().map(|(k, v)| format!("{k}={v}")));
        out.extend(c.user().iter().cloned());
        out.extend(c.cmd().iter().flatten().cloned());
        out.extend(c.entrypoint().iter().flatten().cloned());
        out.extend(c.working_dir().iter().cloned());
        out.extend(c.volumes().iter().flatten().cloned());
    }
    // A command split into arguments loses its `-u user:pass` shape: join them again.
    if let Some(c) = config.config() {
        for args in [c.cmd(), c.entrypoint()].into_iter().flatten() {
            out.push(args.join(" "));
        }
    }
    out
}
