//! `portcullis verify ENVELOPE --key PUB [--image REF] [--allow-failed | --require-pass]
//! [--max-age DURATION]`
//! `portcullis verify --image docker://REF --key PUB [...]`: the attestations attached to the
//! image in its registry instead of an envelope file; at least one must pass every check.
//!
//! Exit codes: 0 verified, 1 a check failed (the message says which; a recorded FAILED
//! verdict is one unless `--allow-failed`), 2 an input could not be read (envelope, key or
//! image, or the registry could not be reached).

use super::remote::{RemoteArgs, registry_target};
use super::{EXIT_FAIL, EXIT_PASS, parse_duration};
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_attest::dsse::Envelope;
use portcullis_attest::fetch;
use portcullis_attest::keys::{PublicKey, read_key_file};
use portcullis_attest::statement::ImageDigests;
use portcullis_attest::verify::{self, Expectations, VerdictRule, Verified};
use portcullis_gate::analyze::Analyzers;
use portcullis_gate::policy::Verdict;
use portcullis_gate::{ReadOptions, read_image};
use portcullis_image::registry::{RemoteOptions, Session};
use portcullis_model::image::Platform;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Envelopes carry one report; even large ones stay far below this.
const MAX_ENVELOPE: u64 = 256 << 20;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The DSSE envelope (from `portcullis attest`, or any in-toto attestation). Without it,
    /// the attestations attached to --image in its registry are verified
    #[arg(required_unless_present = "image")]
    pub envelope: Option<PathBuf>,

    /// The signer's public key (PEM `PUBLIC KEY`, as `keygen` and cosign write it)
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,

    /// Check that the attestation is about this image (any transport); its digest is computed
    /// here, every blob verified as it is read. Without ENVELOPE, a docker:// image whose
    /// attached attestations are verified
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// Verify the attestations attached to --image in its registry (cosign's .att tag and OCI
    /// referrers), which is what happens anyway without ENVELOPE
    #[arg(long, requires = "image", conflicts_with = "envelope")]
    pub from_registry: bool,

    /// Platform to pick from a multi-platform index
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", requires = "image")]
    pub platform: Option<Platform>,

    /// Verify an attestation whose verdict is FAILED too (by default a FAILED verdict fails
    /// verification, exit 1); the verdict is printed either way
    #[arg(long, conflicts_with = "require_pass")]
    pub allow_failed: bool,

    /// Fail unless the attestation records a PASSED verdict: a FAILED one fails anyway, and
    /// this also refuses a predicate that records no verdict (an SBOM)
    #[arg(long)]
    pub require_pass: bool,

    /// Fail if the attestation is older than this (e.g. 90m, 24h, 7d)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: Option<Duration>,

    /// Fail unless the vulnerability data the attestation was made with was last updated
    /// at most this long ago (e.g. 24h): every database export its report names
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_data_age: Option<Duration>,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: VerifyArgs) -> Result<u8> {
    match &args.envelope {
        Some(path) => verify_file(path, &args),
        None => verify_in_registry(&args),
    }
}

fn verdict_rule(args: &VerifyArgs) -> VerdictRule {
    if args.allow_failed {
        VerdictRule::AllowFailed
    } else if args.require_pass {
        VerdictRule::RequirePassed
    } else {
        VerdictRule::RejectFailed
    }
}

pub(crate) fn read_public_key(path: &Path) -> Result<PublicKey> {
    let key_text = read_key_file(path)?;
    PublicKey::from_pem(&key_text.text).with_context(|| format!("{}", path.display()))
}

/// Reads the image in full and returns its digests. Reading the whole image costs time, but
/// proves every layer matches the digest that is compared: a subject digest alone would vouch
/// for a manifest, not for the bytes here.
fn image_digests(
    reference: &str,
    args: &VerifyArgs,
    remote: &RemoteOptions,
) -> Result<ImageDigests> {
    let options = ReadOptions {
        platform: args.platform.clone(),
        remote: remote.clone(),
        observer: Some(std::sync::Arc::new(super::progress::AnnouncePull)),
        ..ReadOptions::default()
    };
    let facts = read_image(reference, &options, &Analyzers::default())
        .with_context(|| reference.to_string())?;
    Ok(ImageDigests::of(&facts.summary()))
}

fn verify_file(path: &Path, args: &VerifyArgs) -> Result<u8> {
    let shown = path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("{shown}"))?
        .take(MAX_ENVELOPE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {shown}"))?;
    if bytes.len() as u64 > MAX_ENVELOPE {
        bail!("{shown} is larger than {MAX_ENVELOPE} bytes");
    }
    let envelope = Envelope::from_json(&bytes).with_context(|| format!("{shown}"))?;
    let key = read_public_key(&args.key)?;

    let image = match &args.image {
        Some(reference) => Some(image_digests(reference, args, &args.remote.options()?)?),
        None => None,
    };

    let expect = Expectations {
        image,
        verdict: verdict_rule(args),
        max_age: args.max_age,
        max_data_age: args.max_data_age,
    };
    let verified = match verify::verify(&envelope, &key, &expect, SystemTime::now()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("portcullis: verification failed: {e}");
            return Ok(EXIT_FAIL);
        }
    };

    let mut out = std::io::stdout().lock();
    writeln!(out, "Verified OK")?;
    writeln!(out, "  key:       {} ({})", key.keyid(), key.key_type())?;
    write_verified(&mut out, &verified, "  ")?;
    out.flush()?;
    Ok(EXIT_PASS)
}

/// What a verified statement says, one `label: value` line each, under `indent`.
fn write_verified(out: &mut impl Write, verified: &Verified, indent: &str) -> Result<()> {
    writeln!(
        out,
        "{indent}predicate: {}",
        verified.statement.predicate_type
    )?;
    for subject in &verified.statement.subject {
        writeln!(
            out,
            "{indent}subject:   {} {} ({} digest){}",
            subject.name,
            subject.sha256().unwrap_or_else(|| "(no sha256)".into()),
            subject.digest_kind(),
            if verified.matched.as_ref() == Some(subject) {
                ", matches the image"
            } else {
                ""
            }
        )?;
    }
    if let Some(verdict) = verified.verdict {
        let verdict = match verdict {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
        };
        writeln!(out, "{indent}verdict:   {verdict}")?;
    }
    if let Some(time) = &verified.time {
        writeln!(out, "{indent}time:      {time}")?;
    }
    Ok(())
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// Finds the attestations attached to the image in its registry and verifies each with the
/// same checks as an envelope file; one that passes them all is enough, as with cosign.
fn verify_in_registry(args: &VerifyArgs) -> Result<u8> {
    let Some(image) = &args.image else {
        bail!("an ENVELOPE, or --image with a docker:// image, is needed");
    };
    let target = registry_target(image, "verifying the attestations attached to an image")?;
    let remote = args.remote.options()?;
    let key = read_public_key(&args.key)?;
    let digests = image_digests(image, args, &remote)?;
    let Some(manifest) = digests.manifest.clone() else {
        bail!("{image}: the registry reports no manifest digest");
    };

    let repository = target.repository_name();
    let session = Session::open(&target, &remote, false).with_context(|| repository.clone())?;
    let search = session
        .block_on(fetch::find(&session.client, &manifest))
        .with_context(|| format!("{repository}: looking for the attestations of {manifest}"))?;

    let expect = Expectations {
        image: Some(digests),
        verdict: verdict_rule(args),
        max_age: args.max_age,
        max_data_age: args.max_data_age,
    };
    let now = SystemTime::now();
    let mut verified = Vec::new();
    let mut failed = Vec::new();
    for found in &search.found {
        let outcome = match &found.envelope {
            Ok(envelope) => verify::verify(envelope, &key, &expect, now).map_err(|e| e.to_string()),
            Err(unreadable) => Err(format!("unreadable: {unreadable}")),
        };
        match outcome {
            Ok(v) => verified.push((found, v)),
            Err(why) => failed.push((found, why)),
        }
    }

    if verified.is_empty() {
        if search.found.is_empty() {
            eprintln!(
                "portcullis: verification failed: no attestation is attached to {image} \
                 (manifest digest {manifest}) in {repository}"
            );
        } else {
            eprintln!(
                "portcullis: verification failed: {} attached to {image} (manifest digest \
                 {manifest}), none verifies with key {}",
                plural(search.found.len(), "attestation"),
                key.keyid()
            );
        }
        for (found, why) in &failed {
            eprintln!(
                "  attestation {} ({}): {why}",
                found.digest,
                found.sources.join("; ")
            );
        }
        for problem in &search.problems {
            eprintln!("  {problem}");
        }
        eprintln!("  looked in: {}", search.looked.join("; "));
        return Ok(EXIT_FAIL);
    }

    for (found, why) in &failed {
        eprintln!(
            "portcullis: note: attestation {} ({}) does not verify: {why}",
            found.digest,
            found.sources.join("; ")
        );
    }
    for problem in &search.problems {
        eprintln!("portcullis: note: {problem}");
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "Verified OK")?;
    writeln!(out, "  key:       {} ({})", key.keyid(), key.key_type())?;
    writeln!(out, "  image:     {image} (manifest digest {manifest})")?;
    for (i, place) in search.looked.iter().enumerate() {
        let label = if i == 0 { "looked in:" } else { "" };
        writeln!(out, "  {label:<10} {place}")?;
    }
    writeln!(
        out,
        "  verified:  {} of {}",
        verified.len(),
        plural(search.found.len(), "attestation")
    )?;
    for (found, v) in &verified {
        writeln!(out)?;
        writeln!(out, "  attestation {}", found.digest)?;
        for (i, source) in found.sources.iter().enumerate() {
            let label = if i == 0 { "attached:" } else { "" };
            writeln!(out, "    {label:<10} {source}")?;
        }
        write_verified(&mut out, v, "    ")?;
    }
    out.flush()?;
    Ok(EXIT_PASS)
}
