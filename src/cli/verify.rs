//! `portcullis verify ENVELOPE --key PUB [--image REF] [--require-pass] [--max-age DURATION]`
//!
//! Exit codes: 0 verified, 1 a check failed (the message says which), 2 an input could not be
//! read (envelope, key or image).

use super::{EXIT_FAIL, EXIT_PASS, parse_duration};
use crate::attest::dsse::Envelope;
use crate::attest::keys::{PublicKey, read_key_file};
use crate::attest::statement::ImageDigests;
use crate::attest::verify::{self, Expectations};
use crate::image::model::Platform;
use crate::policy::Verdict;
use crate::scan::{self, ScanOptions};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Envelopes carry one report; even large ones stay far below this.
const MAX_ENVELOPE: u64 = 256 << 20;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The DSSE envelope (from `portcullis attest`, or any in-toto attestation)
    pub envelope: PathBuf,

    /// The signer's public key (PEM `PUBLIC KEY`, as `keygen` and cosign write it)
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,

    /// Check that the attestation is about this image (any transport); its digest is computed
    /// here, every blob verified as it is read
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// Platform to pick from a multi-platform index
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", requires = "image")]
    pub platform: Option<Platform>,

    /// Fail unless the attestation records a PASSED verdict
    #[arg(long)]
    pub require_pass: bool,

    /// Fail if the attestation is older than this (e.g. 90m, 24h, 7d)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: Option<Duration>,
}

pub fn run(args: VerifyArgs) -> Result<u8> {
    let shown = args.envelope.display();
    let mut bytes = Vec::new();
    std::fs::File::open(&args.envelope)
        .with_context(|| format!("{shown}"))?
        .take(MAX_ENVELOPE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {shown}"))?;
    if bytes.len() as u64 > MAX_ENVELOPE {
        bail!("{shown} is larger than {MAX_ENVELOPE} bytes");
    }
    let envelope = Envelope::from_json(&bytes).with_context(|| format!("{shown}"))?;
    let key_text = read_key_file(&args.key)?;
    let key =
        PublicKey::from_pem(&key_text.text).with_context(|| format!("{}", args.key.display()))?;

    // Reading the whole image costs time, but proves every layer matches the digest that
    // is compared: a subject digest alone would vouch for a manifest, not for the bytes here.
    let image = match &args.image {
        Some(reference) => {
            let options = ScanOptions {
                platform: args.platform.clone(),
                ..ScanOptions::default()
            };
            let facts = scan::scan_image(reference, &options).with_context(|| reference.clone())?;
            Some(ImageDigests::of(&facts.summary()))
        }
        None => None,
    };

    let expect = Expectations {
        image,
        require_pass: args.require_pass,
        max_age: args.max_age,
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
    writeln!(out, "  predicate: {}", verified.statement.predicate_type)?;
    for subject in &verified.statement.subject {
        writeln!(
            out,
            "  subject:   {} {} ({} digest){}",
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
        writeln!(out, "  verdict:   {verdict}")?;
    }
    if let Some(time) = &verified.time {
        writeln!(out, "  time:      {time}")?;
    }
    out.flush()?;
    Ok(EXIT_PASS)
}
