//! `portcullis harden IMAGE --output DEST [--plan] [--no-FIX ...]`

use super::EXIT_PASS;
use super::attest::push_envelope;
use super::progress::Progress;
use super::scan::{GateArgs, ReadArgs, today, write_atomically};
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_attest::PAYLOAD_TYPE_IN_TOTO;
use portcullis_attest::dsse::Envelope;
use portcullis_attest::keys::SigningKey;
use portcullis_attest::predicates::{HARDEN_V1, TOOL_URI};
use portcullis_attest::statement::{ImageDigests, ResourceDescriptor, Statement};
use portcullis_gate::Gate;
use portcullis_gate::harden::{self, Change, HardenOptions, Hardened, InputBlobs, Plan};
use portcullis_gate::report::text::visible;
use portcullis_image::daemon;
use portcullis_image::reference::ImageRef;
use portcullis_image::registry::name::RegistryRef;
use portcullis_image::registry::{self, RemoteOptions};
use portcullis_image::write::{self, Destination};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct HardenArgs {
    /// The image, as for `scan`
    pub image: String,

    /// Where the hardened image goes: oci:DIR[:TAG] (a directory that must not exist yet),
    /// oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG] (replaced atomically),
    /// docker://REGISTRY/NAME[:TAG] (pushed: blobs first, the manifest last) or
    /// docker-daemon:NAME:TAG (loaded into the Docker or Podman daemon DOCKER_HOST names)
    #[arg(
        short,
        long,
        value_name = "DEST",
        required_unless_present = "plan",
        conflicts_with = "plan"
    )]
    pub output: Option<String>,

    /// Print the changes and write nothing
    #[arg(long)]
    pub plan: bool,

    /// How the changes are printed on stdout: text or json
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub format: String,

    /// Keep setuid and setgid bits that the policy does not allow (mode-setuid)
    #[arg(long)]
    pub no_setuid: bool,

    /// Keep others' write permission on files and non-sticky directories
    /// (mode-world-writable, mode-world-writable-dir)
    #[arg(long)]
    pub no_world_writable: bool,

    /// Keep the files that hold secrets, in every layer (secrets-in-file,
    /// secrets-in-removed-file, secrets-credential-file, secrets-shell-history,
    /// secrets-git-directory)
    #[arg(long)]
    pub no_secret_files: bool,

    /// Keep package-manager caches and lists (hygiene-apt-cache, hygiene-apk-cache,
    /// hygiene-pip-cache, hygiene-npm-cache)
    #[arg(long)]
    pub no_caches: bool,

    /// Also remove ENV entries and labels that hold secrets (secrets-in-env,
    /// secrets-in-label); by default they are only reported, since the application may
    /// read them
    #[arg(long)]
    pub strip_config_secrets: bool,

    /// Run a root image as this user (user-root): a name or a uid, created in /etc/passwd
    /// and /etc/group in a new top layer when the image has no such account (with a home
    /// and no login shell); the WORKDIR and the program the image starts are made readable
    /// by it. Refused when the image declares a port below 1024 (EXPOSE)
    #[arg(long, value_name = "NAME|UID")]
    pub user: Option<String>,

    /// Set --user even when the image declares it needs root
    #[arg(long, requires = "user")]
    pub force_user: bool,

    /// Also sign an in-toto statement of what changed (subject: the new image; materials:
    /// the input; predicate: every change), verifiable with `portcullis verify`. The key is
    /// read as for `attest`
    #[arg(long, value_name = "KEY", requires = "output")]
    pub key: Option<PathBuf>,

    /// Where the signed statement goes (replaced atomically) [default: the output's path
    /// with `.intoto.json` appended; needed for a docker-daemon: output, and for a docker://
    /// output without --push]
    #[arg(long, value_name = "FILE", requires = "key")]
    pub attestation: Option<PathBuf>,

    /// Attach the signed statement to the image pushed to a docker:// output, as `attest
    /// --push` attaches attestations (cosign's .att tag and an OCI 1.1 referrer)
    #[arg(long, requires = "key")]
    pub push: bool,

    /// The options of `scan` that decide findings, with the same meaning
    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub read: ReadArgs,

    /// No progress on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

impl HardenArgs {
    fn options(&self) -> HardenOptions {
        HardenOptions {
            setuid: !self.no_setuid,
            world_writable: !self.no_world_writable,
            secret_files: !self.no_secret_files,
            caches: !self.no_caches,
            strip_config_secrets: self.strip_config_secrets,
            user: self.user.clone(),
            force_user: self.force_user,
        }
    }
}

pub fn run(args: HardenArgs) -> Result<u8> {
    args.read.timeout.start(&args.image)?;
    let dest = match &args.output {
        Some(text) => Some(Destination::parse(text).context("--output")?),
        None => None,
    };
    // What cannot work is refused before anything is read.
    let push_to = match (&dest, args.push) {
        (Some(Destination::Registry { reference }), true) => {
            Some(RegistryRef::parse(reference).context("--output")?)
        }
        (_, true) => bail!(
            "--push attaches the signed statement to the image in its registry: it needs \
             --output docker://REGISTRY/NAME[:TAG], not {}",
            args.output.as_deref().unwrap_or("--plan")
        ),
        (_, false) => None,
    };
    if let Some(dest) = &dest {
        check_destination(dest)?;
        if args.key.is_some()
            && args.attestation.is_none()
            && dest.path().is_none()
            && push_to.is_none()
        {
            bail!(
                "--key with --output {}: say where the signed statement goes (--attestation \
                 FILE{})",
                args.output.as_deref().unwrap_or_default(),
                if matches!(dest, Destination::Registry { .. }) {
                    ", or --push to attach it to the pushed image"
                } else {
                    ""
                }
            );
        }
    }
    // The key first: a wrong passphrase should not cost a scan.
    let key = match &args.key {
        Some(path) => Some(super::passphrase::load_signing_key(path)?),
        None => None,
    };
    let read_options = args.read.options()?;
    let remote = read_options.remote.clone();
    // Nor should a registry or daemon that cannot take the image.
    let output = args.output.as_deref().unwrap_or_default();
    match &dest {
        Some(Destination::Registry { reference }) => {
            let target = RegistryRef::parse(reference).context("--output")?;
            registry::check_push(&target, &remote).with_context(|| format!("--output {output}"))?;
        }
        Some(Destination::Daemon { .. }) => {
            daemon::ping().with_context(|| format!("--output {output}"))?
        }
        _ => {}
    }
    let gate = Gate::new(&args.gate.settings(today()?, &args.read.remote))?;
    for warning in gate.warnings() {
        eprintln!("portcullis: warning: {warning}");
    }
    let progress = Arc::new(Progress::new(args.quiet, false));
    let options = portcullis_gate::ReadOptions {
        observer: Some(progress.clone()),
        ..read_options
    };
    // The new image is assembled beside a destination on disk, so that it is renamed, not
    // copied, into place; an image that goes to a registry or a daemon is assembled in the
    // temporary directory.
    let staging = match &dest {
        Some(dest) => {
            let parent = dest
                .path()
                .map_or_else(std::env::temp_dir, |p| parent_dir(p).to_path_buf());
            Some(
                portcullis_interrupt::TempDir::with(|| {
                    tempfile::Builder::new()
                        .prefix(".portcullis-harden-")
                        .tempdir_in(&parent)
                })
                .with_context(|| format!("cannot create a directory in {}", parent.display()))?,
            )
        }
        None => None,
    };
    // An archive takes the untouched layers straight from the input when the input can be
    // read again; anything else keeps a copy of every layer as the scan reads it.
    let read = match (&staging, &dest) {
        (Some(dir), Some(dest)) => gate
            .read_keeping(&args.image, &options, dir.path(), dest.is_archive())
            .map(|(facts, blobs)| (facts, Some(blobs))),
        _ => gate.read(&args.image, &options).map(|facts| (facts, None)),
    };
    progress.finish();
    let (facts, input) = read?;
    // Harden fixes what the image holds; vulnerability data decides none of it.
    let report = gate.judge(&facts);
    let plan = harden::plan(&facts, &report, gate.policy(), &args.options())
        .with_context(|| args.image.clone())?;
    let (Some(dest), Some(staging), Some(input)) = (dest, staging, input) else {
        print(&args, &plan, None)?;
        return Ok(EXIT_PASS);
    };
    let hardened = harden::build(&facts, &plan, staging.path(), &input, &dest, options.limits)?;
    portcullis_interrupt::stage("writing the image");
    let elsewhere = match &input {
        InputBlobs::Source(source) if !hardened.elsewhere.is_empty() => Some(write::Elsewhere {
            source,
            blobs: hardened.elsewhere.clone(),
        }),
        _ => None,
    };
    finish(
        &args.image,
        staging,
        &dest,
        elsewhere.as_ref(),
        &hardened,
        &options.remote,
        output,
    )?;
    if let Some(key) = &key {
        let envelope = attestation(&args, &facts, &plan, &hardened, key);
        let path = args.attestation.clone().or_else(|| {
            dest.path().map(|p| {
                let mut name = p.as_os_str().to_owned();
                name.push(".intoto.json");
                PathBuf::from(name)
            })
        });
        if let Some(path) = &path {
            write_atomically(path, |w| writeln!(w, "{}", envelope.to_json()))?;
        }
        eprintln!(
            "portcullis: signed {HARDEN_V1} attestation for {output} (manifest digest {}), \
             key {}{}",
            hardened.written.manifest_digest,
            key.public_key().keyid(),
            path.map(|p| format!(", written to {}", p.display()))
                .unwrap_or_default()
        );
        if let Some(target) = &push_to {
            push_envelope(
                target,
                &options.remote,
                &hardened.written.manifest_digest,
                &envelope,
                HARDEN_V1,
            )?;
        }
    }
    print(&args, &plan, Some(&hardened))?;
    Ok(EXIT_PASS)
}

/// The signed statement: the new image as subject, the input as material, every change.
fn attestation(
    args: &HardenArgs,
    facts: &portcullis_gate::facts::ImageFacts,
    plan: &Plan,
    hardened: &Hardened,
    key: &SigningKey,
) -> Envelope {
    let output = args.output.clone().unwrap_or_default();
    let subject = ResourceDescriptor::image(
        &output,
        &ImageDigests {
            manifest: Some(hardened.written.manifest_digest.clone()),
            config: hardened.written.config_digest.clone(),
        },
    );
    let material = ResourceDescriptor::image(
        &args.image,
        &ImageDigests {
            manifest: facts.meta.manifest_digest.clone(),
            config: facts.meta.config_digest.clone(),
        },
    );
    let predicate = json!({
        "hardener": {"id": TOOL_URI, "version": env!("CARGO_PKG_VERSION")},
        "timeHardened": portcullis_attest::rfc3339(std::time::SystemTime::now()),
        "materials": [material],
        "options": {
            "setuid": !args.no_setuid,
            "worldWritable": !args.no_world_writable,
            "secretFiles": !args.no_secret_files,
            "caches": !args.no_caches,
            "stripConfigSecrets": args.strip_config_secrets,
            "user": args.user,
            "policy": args.gate.policy,
        },
        "changes": plan.changes,
        "left": plan.left,
        "layers": hardened.layers,
    });
    let statement = Statement::new(subject, HARDEN_V1, predicate);
    Envelope::sign(PAYLOAD_TYPE_IN_TOTO, statement.to_json(), key)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses, before anything is read, a destination that cannot be written: a layout
/// directory that exists with something in it, a missing parent directory.
fn check_destination(dest: &Destination) -> Result<()> {
    let Some(path) = dest.path() else {
        return Ok(());
    };
    let parent = parent_dir(path);
    if !parent.is_dir() {
        bail!(
            "--output {}: the directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    match dest {
        Destination::Layout { .. } => {
            if std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some()) || path.is_file() {
                bail!(
                    "--output oci:{}: exists and is not empty (a hardened layout is written \
                     to a new directory)",
                    path.display()
                );
            }
        }
        _ => {
            if path.is_dir() {
                bail!("--output {}: is a directory", path.display());
            }
        }
    }
    Ok(())
}

/// Moves the assembled image into place: the layout directory renamed, the archive written
/// beside the destination and renamed over it, the image pushed to its registry (manifest
/// last) or loaded into the daemon (which loads an archive whole or not at all).
fn finish(
    input: &str,
    staging: portcullis_interrupt::TempDir,
    dest: &Destination,
    elsewhere: Option<&write::Elsewhere>,
    hardened: &Hardened,
    remote: &RemoteOptions,
    output: &str,
) -> Result<()> {
    match dest {
        Destination::Layout { dir: path, .. } => {
            if std::fs::read_dir(path).is_ok() {
                // An empty directory is replaced by the rename; anything else is refused.
                std::fs::remove_dir(path)
                    .with_context(|| format!("--output oci:{}: exists", path.display()))?;
            }
            std::fs::rename(staging.path(), path)
                .with_context(|| format!("cannot move the image into {}", path.display()))?;
        }
        Destination::OciArchive { file: path, .. }
        | Destination::DockerArchive { file: path, .. } => {
            let mut tmp = portcullis_interrupt::TempFile::new_in(parent_dir(path))
                .with_context(|| format!("{}: cannot create a file beside it", path.display()))?;
            {
                let mut out = std::io::BufWriter::with_capacity(256 << 10, tmp.as_file_mut());
                write::write_archive(staging.path(), elsewhere, &mut out)?;
                out.flush()?;
            }
            set_mode_0644(tmp.as_file(), path)?;
            tmp.as_file().sync_all()?;
            tmp.persist(path)
                .with_context(|| format!("{}: cannot replace the file", path.display()))?;
        }
        Destination::Registry { reference } => {
            let target = RegistryRef::parse(reference).context("--output")?;
            let pushed = registry::push_image(
                staging.path(),
                &hardened.written.manifest_digest,
                &target,
                remote,
                mount_from(input, &target).as_deref(),
            )
            .with_context(|| format!("--output {output}: pushing the hardened image"))?;
            eprintln!(
                "portcullis: pushed {output} ({}): {} blob{} sent, {} already there, {} \
                 mounted",
                pushed.digest,
                pushed.uploaded,
                if pushed.uploaded == 1 { "" } else { "s" },
                pushed.existing,
                pushed.mounted
            );
        }
        Destination::Daemon { name } => {
            daemon::load_archive(name, |out| {
                write::write_archive(staging.path(), elsewhere, out)
            })
            .with_context(|| format!("--output {output}: loading the hardened image"))?;
        }
    }
    Ok(())
}

/// The repository the input was read from, when it is another repository of the registry
/// pushed to: its layers can be mounted rather than sent.
fn mount_from(input: &str, target: &RegistryRef) -> Option<String> {
    let ImageRef::Registry { reference } = ImageRef::parse(input).ok()? else {
        return None;
    };
    let source = RegistryRef::parse(&reference).ok()?;
    (source.registry == target.registry && source.repository != target.repository)
        .then_some(source.repository)
}

fn set_mode_0644(file: &std::fs::File, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("{}: cannot set permissions", path.display()))
}

fn print(args: &HardenArgs, plan: &Plan, hardened: Option<&Hardened>) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == "json" {
        let mut value = json!({
            "image": args.image,
            "changes": plan.changes,
            "left": plan.left,
        });
        if let (Some(h), Some(output)) = (hardened, &args.output) {
            value["output"] = json!({
                "reference": output,
                "manifest_digest": h.written.manifest_digest,
                "config_digest": h.written.config_digest,
                "base_digest": h.base_digest,
                "layers": h.layers,
            });
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let count = plan.changes.len();
    writeln!(
        out,
        "{count} change{} to {}{}",
        if count == 1 { "" } else { "s" },
        visible(&args.image),
        if args.plan {
            " (plan: nothing written)"
        } else {
            ""
        }
    )?;
    for change in &plan.changes {
        writeln!(out, "  {}", describe(change))?;
    }
    if !plan.left.is_empty() {
        writeln!(out, "left as they are:")?;
        for left in &plan.left {
            writeln!(
                out,
                "  {}: {} ({})",
                left.check,
                visible(&left.message),
                left.why
            )?;
        }
    }
    if let (Some(h), Some(output)) = (hardened, &args.output) {
        let kept = h.layers.iter().filter(|l| !l.rewritten).count();
        let added = h.layers.iter().filter(|l| l.input.is_none()).count();
        writeln!(
            out,
            "wrote {output}: {} (layers: {kept} kept, {} rewritten, {added} added)",
            h.written.manifest_digest,
            h.layers.len() - kept - added,
        )?;
    }
    Ok(())
}

/// `layer 1  /usr/bin/tool  mode 4755 -> mode 0755  (mode-setuid)`.
fn describe(change: &Change) -> String {
    let place = match (&change.layer, &change.path, &change.config) {
        (Some(layer), Some(path), _) => format!("layer {layer}  {}", visible(path)),
        (_, _, Some(field)) => format!("config   {}", visible(field)),
        _ => String::new(),
    };
    format!(
        "{place}  {} -> {}  ({})",
        visible(&change.before),
        visible(&change.after),
        change.check
    )
}
