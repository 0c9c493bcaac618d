//! `portcullis harden IMAGE --output DEST [--plan] [--no-FIX ...]`

use super::EXIT_PASS;
use super::progress::Progress;
use super::scan::{GateArgs, ReadArgs, today};
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_gate::Gate;
use portcullis_gate::harden::{self, Change, HardenOptions, Hardened, Plan};
use portcullis_gate::report::text::visible;
use portcullis_image::write::{self, Destination};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct HardenArgs {
    /// The image, as for `scan`
    pub image: String,

    /// Where the hardened image goes: oci:DIR[:TAG] (a directory that must not exist yet),
    /// oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG] (replaced atomically)
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
        }
    }
}

pub fn run(args: HardenArgs) -> Result<u8> {
    args.read.timeout.start(&args.image)?;
    let dest = match &args.output {
        Some(text) => Some(Destination::parse(text).context("--output")?),
        None => None,
    };
    if let Some(dest) = &dest {
        check_destination(dest)?;
    }
    let gate = Gate::new(&args.gate.settings(today()?, &args.read.remote))?;
    for warning in gate.warnings() {
        eprintln!("portcullis: warning: {warning}");
    }
    let progress = Arc::new(Progress::new(args.quiet, false));
    let options = portcullis_gate::ReadOptions {
        observer: Some(progress.clone()),
        ..args.read.options()?
    };
    // The blobs are kept beside the destination, so that the finished image is renamed,
    // not copied, into place.
    let staging = match &dest {
        Some(dest) => {
            let parent = parent_dir(dest.path());
            Some(
                portcullis_interrupt::TempDir::with(|| {
                    tempfile::Builder::new()
                        .prefix(".portcullis-harden-")
                        .tempdir_in(parent)
                })
                .with_context(|| format!("cannot create a directory in {}", parent.display()))?,
            )
        }
        None => None,
    };
    let read = match &staging {
        Some(dir) => gate.read_keeping(&args.image, &options, dir.path()),
        None => gate.read(&args.image, &options),
    };
    progress.finish();
    let facts = read?;
    // Harden fixes what the image holds; vulnerability data decides none of it.
    let report = gate.judge(&facts);
    let plan = harden::plan(&facts, &report, gate.policy(), &args.options());
    let (Some(dest), Some(staging)) = (dest, staging) else {
        print(&args, &plan, None)?;
        return Ok(EXIT_PASS);
    };
    let hardened = harden::build(&facts, &plan, staging.path(), &dest, options.limits)?;
    portcullis_interrupt::stage("writing the image");
    finish(staging, &dest)?;
    print(&args, &plan, Some(&hardened))?;
    Ok(EXIT_PASS)
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
    let path = dest.path();
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

/// Moves the assembled image into place: the layout directory renamed, or the archive
/// written beside the destination and renamed over it.
fn finish(staging: portcullis_interrupt::TempDir, dest: &Destination) -> Result<()> {
    let path = dest.path();
    match dest {
        Destination::Layout { .. } => {
            if std::fs::read_dir(path).is_ok() {
                // An empty directory is replaced by the rename; anything else is refused.
                std::fs::remove_dir(path)
                    .with_context(|| format!("--output oci:{}: exists", path.display()))?;
            }
            std::fs::rename(staging.path(), path)
                .with_context(|| format!("cannot move the image into {}", path.display()))?;
        }
        Destination::OciArchive { .. } | Destination::DockerArchive { .. } => {
            let mut tmp = portcullis_interrupt::TempFile::new_in(parent_dir(path))
                .with_context(|| format!("{}: cannot create a file beside it", path.display()))?;
            {
                let mut out = std::io::BufWriter::new(tmp.as_file_mut());
                write::write_archive(staging.path(), &mut out)?;
                out.flush()?;
            }
            set_mode_0644(tmp.as_file(), path)?;
            tmp.as_file().sync_all()?;
            tmp.persist(path)
                .with_context(|| format!("{}: cannot replace the file", path.display()))?;
        }
    }
    Ok(())
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
        let rewritten = h.layers.iter().filter(|l| l.rewritten).count();
        writeln!(
            out,
            "wrote {output}: {} ({} of {} layers rewritten)",
            h.written.manifest_digest,
            rewritten,
            h.layers.len()
        )?;
    }
    Ok(())
}

/// `layer 1  /usr/bin/tool  mode 4755 -> mode 0755  (mode-setuid)`.
fn describe(change: &Change) -> String {
    let place = match (&change.layer, &change.path, &change.config) {
        (Some(layer), Some(path), _) => format!("layer {layer}  {}", visible(path)),
        (_, _, Some(field)) => format!("config  {}", visible(field)),
        _ => String::new(),
    };
    format!(
        "{place}  {} -> {}  ({})",
        visible(&change.before),
        visible(&change.after),
        change.check
    )
}
