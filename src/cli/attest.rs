//! `portcullis attest IMAGE --key KEY [--predicate scan|vsa|vuln] [-o FILE] [--push]`

use super::EXIT_PASS;
use super::passphrase;
use super::remote::registry_target;
use super::scan::write_atomically;
use super::scan::{GateArgs, ReadArgs};
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_attest::PAYLOAD_TYPE_IN_TOTO;
use portcullis_attest::dsse::Envelope;
use portcullis_attest::keys::SigningKey;
use portcullis_attest::predicates::{self, PolicyRef, PredicateKind};
use portcullis_attest::push::{self, Listing};
use portcullis_attest::statement::{self, DigestKind, ImageDigests, ResourceDescriptor, Statement};
use portcullis_gate::analyze::Analyzers;
use portcullis_gate::policy::{Policy, Verdict};
use portcullis_gate::report::{Report, SCHEMA_VERSION};
use portcullis_gate::{Gate, ReadOptions};
use portcullis_image::registry::name::RegistryRef;
use portcullis_image::registry::{RemoteOptions, Session};
use portcullis_model::image::Transport;
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Reports are a few MiB at most even for images with thousands of findings.
const MAX_REPORT: u64 = 256 << 20;

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The image, as for `scan`. With --report it is optional; when given, it must be the
    /// image the report is about
    #[arg(required_unless_present = "report")]
    pub image: Option<String>,

    /// Private key: from `portcullis keygen`, `cosign generate-key-pair`, or any PKCS#8 PEM
    /// (ECDSA P-256 or Ed25519). Passphrase from PORTCULLIS_PASSWORD / COSIGN_PASSWORD or
    /// the terminal
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,

    /// What the attestation says: our scan result, a SLSA verification summary, or cosign's
    /// vulnerability predicate
    #[arg(long, value_enum, default_value_t = PredicateArg::Scan)]
    pub predicate: PredicateArg,

    /// Sign this JSON report (`portcullis scan --format json`) instead of scanning; its gate
    /// already holds the verdict, so none of the options that decide one may be given
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Subject name (default: the image's first tag, or the reference as given)
    #[arg(long, value_name = "NAME")]
    pub subject_name: Option<String>,

    /// The VSA's resourceUri (default: the reference with its transport,
    /// e.g. docker-archive:app.tar)
    #[arg(long, value_name = "URI")]
    pub resource_uri: Option<String>,

    /// Write the envelope to FILE instead of stdout (replaced atomically)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Also attach the envelope to the image in its registry (docker:// images only), as
    /// cosign does (appended to the tag sha256-<hex>.att) and as an OCI 1.1 referrer of the
    /// image manifest
    #[arg(long, requires = "image")]
    pub push: bool,

    /// The options of `scan` that decide findings and the verdict, with the same meaning
    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// `--predicate` ([`PredicateKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PredicateArg {
    /// portcullis scan result: verdict, findings summary and the full report
    Scan,
    /// SLSA Verification Summary v1: the policy decision only
    Vsa,
    /// cosign's vulnerability scan predicate (scanner result = the full report)
    Vuln,
}

impl From<PredicateArg> for PredicateKind {
    fn from(arg: PredicateArg) -> PredicateKind {
        match arg {
            PredicateArg::Scan => PredicateKind::Scan,
            PredicateArg::Vsa => PredicateKind::Vsa,
            PredicateArg::Vuln => PredicateKind::Vuln,
        }
    }
}

/// How the attestation names the gate's policy: by name, by the built-in policy's URI or the
/// policy file's `file://` URI, and by the digest of its effective settings (`Policy::sha256`,
/// which counts `--fail-on` and every other setting too).
pub(super) fn policy_ref(gate: &GateArgs, policy: &Policy) -> PolicyRef {
    let builtin = portcullis_gate::policy::file::BUILTIN
        .iter()
        .any(|(name, ..)| *name == gate.policy);
    let uri = if builtin {
        PolicyRef::builtin(policy).uri
    } else {
        let path = Path::new(&gate.policy);
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        format!("file://{}", absolute.display())
    };
    PolicyRef {
        name: policy.name.clone(),
        uri,
        sha256: policy.sha256(),
    }
}

/// What an attestation is made from: a report, and how and when it was reached.
pub(super) struct Scanned {
    pub report: Report,
    /// The digests of the image as read now, when an image was read.
    pub image: Option<ImageDigests>,
    pub policy: PolicyRef,
    pub started: SystemTime,
    pub finished: SystemTime,
    pub parameters: serde_json::Value,
}

/// A signed attestation and what it names.
pub(super) struct Signed {
    pub envelope: Envelope,
    /// The subject's name and digests.
    pub name: String,
    pub digests: ImageDigests,
}

/// The in-toto statement about `scanned`'s image that `kind` says, in a DSSE envelope
/// signed with `key`: `attest` and `recheck --attest` sign with this. The subject is named
/// `subject_name` (default: the image's first tag, or the reference as given), and the
/// VSA's resource `resource_uri` (default: the reference with its transport).
pub(super) fn sign(
    scanned: &Scanned,
    kind: PredicateKind,
    subject_name: Option<String>,
    resource_uri: Option<String>,
    key: &SigningKey,
) -> Signed {
    let report = &scanned.report;
    let digests = ImageDigests::of(&report.image);
    let name = subject_name.unwrap_or_else(|| statement::subject_name(&report.image));
    let subject = ResourceDescriptor::image(&name, &digests);
    let resource_uri = resource_uri
        .unwrap_or_else(|| self::resource_uri(&report.image.reference, report.image.transport));
    let predicate = predicates::build(
        kind,
        &predicates::Context {
            report,
            policy: &scanned.policy,
            resource_uri: &resource_uri,
            scan_started: scanned.started,
            scan_finished: scanned.finished,
            parameters: scanned.parameters.clone(),
        },
    );
    let statement = Statement::new(subject, kind.predicate_type(), predicate);
    Signed {
        envelope: Envelope::sign(PAYLOAD_TYPE_IN_TOTO, statement.to_json(), key),
        name,
        digests,
    }
}

/// The statement's record of how `image` was judged: the options that decide a verdict.
pub(super) fn scan_parameters(
    image: &str,
    policy: &Policy,
    report: &Report,
    gate: &GateArgs,
) -> serde_json::Value {
    let mut parameters = json!({
        "image": image,
        "policy": policy.name,
        "fail_on": policy.fail_on,
        "platform": report.image.platform.to_string(),
        "mode": report.gate.mode,
    });
    for (key, value) in [("base", &gate.base), ("baseline", &gate.baseline)] {
        if let Some(value) = value {
            parameters[key] = json!(value);
        }
    }
    parameters
}

pub fn run(args: AttestArgs) -> Result<u8> {
    // What cannot work is refused before anything is read.
    let push_to = match (&args.image, args.push) {
        (Some(image), true) => Some(registry_target(image, "--push")?),
        _ => None,
    };
    if args.report.is_some() && args.gate.any_given() {
        bail!(
            "--report signs the verdict the report holds: the options that decide a verdict \
             (--policy, --fail-on, --severity, --ignore-file, secret, package index and \
             vulnerability options) cannot be given with it"
        );
    }
    if let Some(image) = &args.image {
        args.read.timeout.start(image)?;
    }
    let read = args.read.options()?;
    let remote = read.remote.clone();
    // The key first: a wrong passphrase should not cost a scan.
    let key = passphrase::load_signing_key(&args.key)?;

    let scanned = match &args.report {
        Some(path) => from_report(path, &args, &read)?,
        None => scan_now(&args, &read)?,
    };
    let report = &scanned.report;
    let predicate_kind = PredicateKind::from(args.predicate);
    let Signed {
        envelope,
        name,
        digests,
    } = sign(
        &scanned,
        predicate_kind,
        args.subject_name.clone(),
        args.resource_uri.clone(),
        &key,
    );

    let (kind, digest) = digests.primary();
    // Checked before anything is written: the envelope is of no use in the registry when it
    // cannot be pushed.
    let push_subject = match &push_to {
        Some(target) => Some((
            target,
            pushable_subject(&digests, scanned.image.as_ref(), args.image.as_deref())?,
        )),
        None => None,
    };
    let json = envelope.to_json();
    match &args.output {
        Some(path) => write_atomically(path, |w| writeln!(w, "{json}"))?,
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{json}")?;
            out.flush()?;
        }
    }
    eprintln!(
        "portcullis: signed {} attestation for {name} ({kind} digest {digest}): verdict {}, \
         key {} ({}){}",
        predicate_kind.predicate_type(),
        match report.gate.result {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
        },
        key.public_key().keyid(),
        key.key_type(),
        args.output
            .as_ref()
            .map(|p| format!(", written to {}", p.display()))
            .unwrap_or_default()
    );
    if report.gate.result == Verdict::Failed {
        eprintln!(
            "portcullis: warning: {name} failed the gate ({}): the attestation records verdict \
             FAILED, and `portcullis verify` refuses it unless --allow-failed",
            failing(report)
        );
    }
    if predicate_kind == PredicateKind::Vuln {
        let (db, why) = predicates::vulnerability_db(report);
        if db == "none" {
            eprintln!(
                "portcullis: warning: the vuln predicate records that {why} (run `portcullis db \
                 update`, give --osv-db, or Trivy with its database)"
            );
        }
    }

    if let Some((target, subject)) = push_subject {
        push_envelope(
            target,
            &remote,
            subject,
            &envelope,
            predicate_kind.predicate_type(),
        )?;
    }
    Ok(EXIT_PASS)
}

/// `3 findings at or above high under policy default`.
pub(super) fn failing(report: &Report) -> String {
    let gate = &report.gate;
    format!(
        "{} finding{} at or above {} under policy {}",
        gate.failing,
        if gate.failing == 1 { "" } else { "s" },
        gate.fail_on,
        gate.policy
    )
}

/// The manifest digest to attach the attestation to. The statement must name the image by
/// the manifest digest its registry has for it: a config digest (a report of a docker-archive)
/// would be attached where no verifier could match it.
pub(super) fn pushable_subject<'a>(
    digests: &'a ImageDigests,
    read: Option<&ImageDigests>,
    image: Option<&str>,
) -> Result<&'a str> {
    let image = image.unwrap_or("the image");
    let (kind, digest) = digests.primary();
    let registry_digest = read.and_then(|d| d.manifest.as_deref());
    match registry_digest {
        Some(actual) if kind == DigestKind::Manifest && digest == actual => Ok(digest),
        Some(actual) => bail!(
            "--push: the attestation names the {kind} digest {digest}, but the registry's \
             manifest digest for {image} is {actual}; a pushed attestation must name that one \
             (attest {image} itself, or a report of a scan of it)"
        ),
        None => bail!("--push: the registry reports no manifest digest for {image}"),
    }
}

pub(super) fn push_envelope(
    target: &RegistryRef,
    remote: &RemoteOptions,
    subject: &str,
    envelope: &Envelope,
    predicate_type: &str,
) -> Result<()> {
    let repository = target.repository_name();
    let session = Session::open(target, remote, true).with_context(|| repository.clone())?;
    let pushed = session
        .block_on(push::push(
            &session.client,
            subject,
            envelope,
            predicate_type,
        ))
        .with_context(|| format!("pushing the attestation to {repository}"))?;
    let cosign = if pushed.cosign_appended {
        format!(
            "appended to {repository}:{} ({} attestation{} there)",
            pushed.cosign_tag,
            pushed.cosign_layers,
            if pushed.cosign_layers == 1 { "" } else { "s" }
        )
    } else {
        format!("already in {repository}:{}", pushed.cosign_tag)
    };
    let listing = match &pushed.listing {
        Listing::Api => "indexed by the registry's referrers API".to_string(),
        Listing::Tag { tag, added: true } => {
            format!("listed in the referrers tag {tag} (the registry has no referrers API)")
        }
        Listing::Tag { tag, added: false } => format!("already listed in the referrers tag {tag}"),
    };
    eprintln!(
        "portcullis: pushed the attestation for {repository}@{subject}: {cosign}; as OCI \
         referrer {}, {listing}",
        pushed.referrer
    );
    Ok(())
}

fn scan_now(args: &AttestArgs, read: &ReadOptions) -> Result<Scanned> {
    let Some(image) = &args.image else {
        bail!("an image or --report is needed");
    };
    let gate = Gate::new(&args.gate.settings(super::scan::today()?, &args.read.remote))?;
    for warning in gate.warnings() {
        eprintln!("portcullis: warning: {warning}");
    }
    let policy = gate.policy();
    let started = SystemTime::now();
    let report = gate.run(image, read)?.report;
    let finished = SystemTime::now();
    let parameters = scan_parameters(image, policy, &report, &args.gate);
    Ok(Scanned {
        image: Some(ImageDigests::of(&report.image)),
        report,
        policy: policy_ref(&args.gate, policy),
        started,
        finished,
        parameters,
    })
}

/// A report written earlier. Its gate already holds the verdict and the policy it was reached
/// under; when an image is given too, the report must be about that image.
fn from_report(path: &Path, args: &AttestArgs, options: &ReadOptions) -> Result<Scanned> {
    let shown = path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("{shown}"))?
        .take(MAX_REPORT + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {shown}"))?;
    if bytes.len() as u64 > MAX_REPORT {
        bail!("{shown} is larger than {MAX_REPORT} bytes");
    }
    let report: Report = serde_json::from_slice(&bytes)
        .with_context(|| format!("{shown} is not a portcullis JSON report"))?;
    let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
    if major(&report.schema_version) != major(SCHEMA_VERSION) {
        bail!(
            "{shown}: report schema {} is not readable by this portcullis (schema {SCHEMA_VERSION})",
            report.schema_version
        );
    }
    let mut read = None;
    if let Some(image) = &args.image {
        let facts = portcullis_gate::read_image(image, options, &Analyzers::default())
            .with_context(|| image.clone())?;
        let actual = ImageDigests::of(&facts.summary());
        let claimed = ImageDigests::of(&report.image);
        if actual.config != claimed.config
            || (actual.manifest.is_some()
                && claimed.manifest.is_some()
                && actual.manifest != claimed.manifest)
        {
            let (kind, digest) = claimed.primary();
            let (actual_kind, actual_digest) = actual.primary();
            bail!(
                "{shown} is about another image ({kind} digest {digest}), not {image} \
                 ({actual_kind} digest {actual_digest})"
            );
        }
        read = Some(actual);
    }
    let policy = Policy {
        name: report.gate.policy.clone(),
        fail_on: report.gate.fail_on,
        ..Policy::default()
    };
    let now = SystemTime::now();
    let parameters = json!({
        "report": shown.to_string(),
        "policy": policy.name,
        "fail_on": policy.fail_on,
    });
    Ok(Scanned {
        image: read,
        policy: PolicyRef::builtin(&policy),
        report,
        started: now,
        finished: now,
        parameters,
    })
}

/// The reference as a URI: with its transport prefix, as skopeo writes references.
fn resource_uri(reference: &str, transport: Transport) -> String {
    let prefix = match transport {
        Transport::Registry => "docker://".to_string(),
        other => format!("{}:", other.as_str()),
    };
    if reference.starts_with(&prefix) {
        reference.to_string()
    } else {
        format!("{prefix}{reference}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_uris_carry_the_transport_once() {
        assert_eq!(
            resource_uri("app.tar", Transport::DockerArchive),
            "docker-archive:app.tar"
        );
        assert_eq!(
            resource_uri("docker-archive:app.tar", Transport::DockerArchive),
            "docker-archive:app.tar"
        );
        assert_eq!(resource_uri("dir", Transport::OciLayout), "oci:dir");
        assert_eq!(
            resource_uri("ghcr.io/acme/app:1", Transport::Registry),
            "docker://ghcr.io/acme/app:1"
        );
    }
}
