//! `portcullis explain [ID]`, `portcullis explain --policy-reference`

use super::EXIT_PASS;
use anyhow::{Result, bail};
use clap::Args;
use portcullis_gate::checks;
use portcullis_secrets::RuleSet;
use std::io::Write;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A check id or a secret rule id (omit to list every check)
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
        out.write_all(portcullis_gate::policy::reference::markdown()?.as_bytes())?;
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
                let rules = RuleSet::builtin();
                let Some(rule) = rules.rule(&id.to_ascii_lowercase()) else {
                    bail!(
                        "unknown check or secret rule id {id:?}; `portcullis explain` lists the checks, `portcullis explain secrets-in-file` the secret rules"
                    );
                };
                writeln!(out, "{}: {}", rule.id, rule.title)?;
                writeln!(
                    out,
                    "secret rule (checks secrets-in-file, secrets-in-removed-file, secrets-in-env, secrets-in-label, secrets-in-history)"
                )?;
                writeln!(out, "category: {}", rule.category)?;
                writeln!(out, "severity: {}", rule.severity.label())?;
                writeln!(out, "keywords: {}", rule.keywords.join(", "))?;
                writeln!(out, "regex:    {}", rule.pattern())?;
                if let Some(description) = &rule.description {
                    writeln!(out, "\n{description}")?;
                }
                writeln!(
                    out,
                    "\nDisable it with `disable = [\"{}\"]` in a secret rule file (docs/secrets.md).",
                    rule.id
                )?;
                return Ok(EXIT_PASS);
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
            if check.id == checks::secrets::IN_FILE.id {
                let rules = RuleSet::builtin();
                writeln!(out, "\nSecret rules ({}):", rules.rules().len())?;
                for rule in rules.rules() {
                    writeln!(
                        out,
                        "  {:<38} {:<9} {}",
                        rule.id,
                        rule.severity.label(),
                        rule.title
                    )?;
                }
            }
        }
    }
    Ok(EXIT_PASS)
}
