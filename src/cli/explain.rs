//! `portcullis explain [ID]`, `portcullis explain --policy-reference`

use super::EXIT_PASS;
use crate::checks;
use anyhow::{Result, bail};
use clap::Args;
use std::io::Write;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A check id (omit to list every check)
    pub id: Option<String>,

    /// Print the policy reference (Markdown): built-in policies, checks, families and
    /// parameters, as docs/policy-reference.md holds it
    #[arg(long, conflicts_with = "id")]
    pub policy_reference: bool,
}

pub fn run(args: ExplainArgs) -> Result<u8> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.policy_reference {
        out.write_all(crate::policy::reference::markdown()?.as_bytes())?;
        return Ok(EXIT_PASS);
    }
    match args.id {
        None => {
            writeln!(out, "{:<28} {:<9} TITLE", "ID", "SEVERITY")?;
            for check in checks::all() {
                writeln!(
                    out,
                    "{:<28} {:<9} {}",
                    check.id,
                    check.severity.label(),
                    check.title
                )?;
            }
        }
        Some(id) => {
            let Some(check) = checks::find(&id) else {
                bail!("unknown check id {id:?}; `portcullis explain` lists them all");
            };
            writeln!(out, "{}: {}", check.id, check.title)?;
            writeln!(out, "family:   {}", check.family)?;
            writeln!(out, "severity: {}", check.severity.label())?;
            if !check.references.is_empty() {
                let refs: Vec<String> = check.references.iter().map(|r| r.label()).collect();
                writeln!(out, "see:      {}", refs.join(", "))?;
            }
            writeln!(out, "\n{}\n", check.description)?;
            writeln!(out, "Remediation: {}", check.remediation)?;
        }
    }
    Ok(EXIT_PASS)
}
