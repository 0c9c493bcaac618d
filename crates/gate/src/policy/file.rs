//! Policy files: TOML, built in (`policies/*.toml`) or the user's, optionally extending
//! another policy.
//!
//! ```toml
//! extends = "strict"              # a built-in name, or a path relative to this file
//! description = "Release gate for the payments images"
//! fail_on = "medium"              # threshold for every check without its own
//! only_references = ["cis"]       # optional: run only checks mapped to these benchmarks
//!
//! [checks.user]                   # a family name applies to each of its checks
//! severity = "critical"
//!
//! [checks.user-numeric-unmapped]  # a check id overrides its family
//! enabled = false
//!
//! [params.hygiene]                # see params.rs
//! cache_min_bytes = "1M"
//! ```
//!
//! Every file is checked on its own before it is merged, so an error names the file, line and
//! column where it is, and what was expected. Unknown keys, check ids and families are errors.
//! Merging: tables merge key by key, the extending file wins, and lists are replaced whole.

use super::params::PATH_KEYS;
use super::{Policy, ReferenceKind, Rule, Severity};
use crate::checks;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub const DEFAULT_POLICY: &str = "default";

/// The built-in policies: name, one-line summary, text.
pub const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "default",
        "balanced: fails on high and critical findings",
        include_str!("../../../../policies/default.toml"),
    ),
    (
        "strict",
        "release gate: fails on medium and above, tighter parameters",
        include_str!("../../../../policies/strict.toml"),
    ),
    (
        "cis",
        "CIS Docker Benchmark section 4 view: only checks mapped to a CIS item",
        include_str!("../../../../policies/cis.toml"),
    ),
];

/// Why a policy or waiver file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not what it should be: a TOML syntax error, an unknown key, a value of
    /// the wrong type or range.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "unknown policy {0:?}: built-in policies are {names}; a policy file's path must \
         contain '/' or end in .toml",
        names = builtin_names()
    )]
    UnknownPolicy(String),
}

fn builtin_names() -> String {
    BUILTIN
        .iter()
        .map(|(name, ..)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl PolicyError {
    /// An error at byte `span` of `text`, with line and column counted from 1.
    pub(crate) fn at(
        file: &str,
        text: &str,
        span: std::ops::Range<usize>,
        message: String,
    ) -> Self {
        let (line, column) = line_column(text, span.start);
        PolicyError::Invalid {
            file: file.to_string(),
            line,
            column,
            message,
        }
    }

    /// A TOML or serde error while reading `text`.
    pub(crate) fn from_toml(file: &str, text: &str, e: &toml::de::Error) -> Self {
        PolicyError::at(
            file,
            text,
            e.span().unwrap_or(0..0),
            e.message().trim_end().to_string(),
        )
    }
}

/// The line and column (from 1, columns in characters) of byte `offset` of `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut start = offset.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before, |nl| &before[nl + 1..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// One policy file as written, checked against the schema and the check table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    extends: Option<Spanned<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    fail_on: Option<Severity>,
    #[serde(default)]
    only_references: Vec<ReferenceKind>,
    #[serde(default)]
    checks: BTreeMap<CheckSelector, Rule>,
    #[serde(default)]
    params: super::Params,
}

/// A key of `[checks]`: a check id or a family name from the check table, stored in its
/// canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CheckSelector(String);

impl<'de> Deserialize<'de> for CheckSelector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if let Some(check) = checks::find(&name) {
            return Ok(CheckSelector(check.id.to_string()));
        }
        if let Some(family) = checks::FAMILIES
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(&name))
        {
            return Ok(CheckSelector(family.name.to_string()));
        }
        Err(serde::de::Error::custom(format!(
            "unknown check {name:?}: expected a check id or a family name ({}); \
             `portcullis explain` lists every check",
            checks::FAMILIES
                .iter()
                .map(|f| f.name)
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Where a policy comes from.
#[derive(Debug, Clone)]
enum Source {
    Builtin(&'static str, &'static str),
    File(PathBuf),
}

impl Source {
    /// `NAME|FILE`: a built-in name, or a path (containing `/` or ending in `.toml`);
    /// relative paths are taken relative to `base_dir` when given.
    fn resolve(spec: &str, base_dir: Option<&Path>) -> Result<Source, PolicyError> {
        if let Some((name, _, text)) = BUILTIN.iter().find(|(name, ..)| *name == spec) {
            return Ok(Source::Builtin(name, text));
        }
        if spec.contains('/') || spec.contains(std::path::MAIN_SEPARATOR) || spec.ends_with(".toml")
        {
            let path = Path::new(spec);
            let path = match base_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.to_path_buf(),
            };
            return Ok(Source::File(path));
        }
        Err(PolicyError::UnknownPolicy(spec.to_string()))
    }

    /// What error messages call it.
    fn display(&self) -> String {
        match self {
            Source::Builtin(name, _) => format!("<built-in policy {name}>"),
            Source::File(path) => path.display().to_string(),
        }
    }

    /// An identity for cycle detection.
    fn identity(&self) -> String {
        match self {
            Source::Builtin(name, _) => format!("builtin:{name}"),
            Source::File(path) => std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string(),
        }
    }

    fn text(&self) -> Result<String, PolicyError> {
        match self {
            Source::Builtin(_, text) => Ok((*text).to_string()),
            Source::File(path) => {
                std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
                    file: path.display().to_string(),
                    source,
                })
            }
        }
    }

    fn dir(&self) -> Option<&Path> {
        match self {
            Source::Builtin(..) => None,
            Source::File(path) => Some(path.parent().unwrap_or(Path::new(""))),
        }
    }
}

/// A built-in policy by name.
pub fn builtin(name: &str) -> Result<Policy, PolicyError> {
    match Source::resolve(name, None)? {
        source @ Source::Builtin(..) => load_source(name, &source),
        Source::File(_) => Err(PolicyError::UnknownPolicy(name.to_string())),
    }
}

/// `--policy NAME|FILE`: a built-in policy, or a policy file (see the module docs).
pub fn load(spec: &str) -> Result<Policy, PolicyError> {
    let source = Source::resolve(spec, None)?;
    load_source(spec, &source)
}

/// Parses policy text as if read from `file` (relative `extends` and paths resolve against
/// the file's directory).
pub fn parse(file: &Path, text: &str) -> Result<Policy, PolicyError> {
    let source = Source::File(file.to_path_buf());
    let mut chain = vec![source.identity()];
    let table = layered(&source, text.to_string(), &mut chain)?;
    finish(&file.display().to_string(), table)
}

fn load_source(name: &str, source: &Source) -> Result<Policy, PolicyError> {
    let mut chain = vec![source.identity()];
    let table = layered(source, source.text()?, &mut chain)?;
    finish(name, table)
}

/// The file's table with its bases merged in. `chain` holds the identities of the files
/// being read, outermost first, to refuse cycles.
fn layered(
    source: &Source,
    text: String,
    chain: &mut Vec<String>,
) -> Result<toml::Table, PolicyError> {
    let file = source.display();
    let checked: PolicyFile =
        toml::from_str(&text).map_err(|e| PolicyError::from_toml(&file, &text, &e))?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| PolicyError::from_toml(&file, &text, &e))?;
    table.remove("extends");
    if let Some(dir) = source.dir() {
        anchor_paths(&mut table, dir);
    }
    let Some(extends) = checked.extends else {
        // A file of its own extends the built-in defaults' parameters as they are.
        let mut merged = toml::Table::new();
        merge(&mut merged, table);
        return Ok(merged);
    };
    let at = |message: String| PolicyError::at(&file, &text, extends.span(), message);
    let base = Source::resolve(extends.get_ref(), source.dir())
        .map_err(|e| at(format!("extends: {e}")))?;
    let identity = base.identity();
    if chain.contains(&identity) {
        let mut cycle: Vec<&str> = chain.iter().map(String::as_str).collect();
        cycle.push(&identity);
        return Err(at(format!(
            "extends {:?} makes a cycle: {}",
            extends.get_ref(),
            cycle.join(" -> ")
        )));
    }
    let base_text = base.text().map_err(|e| match e {
        PolicyError::Read { source, .. } => at(format!(
            "cannot read the base policy {:?}: {source}",
            extends.get_ref()
        )),
        other => other,
    })?;
    chain.push(identity);
    let mut merged = layered(&base, base_text, chain)?;
    chain.pop();
    merge(&mut merged, table);
    Ok(merged)
}

/// Makes the relative paths under `[params]` relative to the policy file's directory.
fn anchor_paths(table: &mut toml::Table, dir: &Path) {
    let Some(toml::Value::Table(params)) = table.get_mut("params") else {
        return;
    };
    let anchor = |value: &mut toml::Value| {
        if let toml::Value::String(p) = value
            && !p.is_empty()
            && Path::new(p.as_str()).is_relative()
        {
            *p = dir.join(p.as_str()).display().to_string();
        }
    };
    for (section, key) in PATH_KEYS {
        let Some(toml::Value::Table(section)) = params.get_mut(*section) else {
            continue;
        };
        match section.get_mut(*key) {
            Some(toml::Value::Array(paths)) => paths.iter_mut().for_each(anchor),
            Some(value) => anchor(value),
            None => {}
        }
    }
}

/// The key whose list replaces `setuid_allowlist` instead of adding to it.
pub const SETUID_REPLACE: &str = "setuid_allowlist_replace";

/// Merges `over` into `base`: tables key by key, anything else replaced, except
/// `[params] setuid_allowlist`, which adds to the list of the base (the distribution's list
/// when no base sets one); `setuid_allowlist_replace` replaces it.
fn merge(base: &mut toml::Table, mut over: toml::Table) {
    if let Some(toml::Value::Table(params)) = over.get_mut("params") {
        let replace = params.remove(SETUID_REPLACE);
        let add = params.remove("setuid_allowlist");
        let base_params = base
            .entry("params")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(base_params) = base_params {
            if let Some(list) = replace {
                base_params.insert("setuid_allowlist".into(), list);
            }
            match add {
                Some(toml::Value::Array(more)) => {
                    let mut list = match base_params.get("setuid_allowlist") {
                        Some(toml::Value::Array(list)) => list.clone(),
                        _ => super::params::DISTRO_SETUID
                            .iter()
                            .map(|p| toml::Value::String((*p).to_string()))
                            .collect(),
                    };
                    for item in more {
                        if !list.contains(&item) {
                            list.push(item);
                        }
                    }
                    base_params.insert("setuid_allowlist".into(), toml::Value::Array(list));
                }
                // Not a list: left for the parameters' own check to refuse.
                Some(other) => {
                    base_params.insert("setuid_allowlist".into(), other);
                }
                None => {}
            }
        }
    }
    merge_tables(base, over);
}

fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn finish(name: &str, table: toml::Table) -> Result<Policy, PolicyError> {
    let file: PolicyFile = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| PolicyError::Invalid {
            file: name.to_string(),
            line: 0,
            column: 0,
            message: format!("after merging its bases: {}", e.message()),
        })?;
    Ok(Policy {
        name: name.to_string(),
        description: file.description.unwrap_or_default(),
        fail_on: file.fail_on.unwrap_or(Severity::High),
        only_references: file.only_references,
        rules: file.checks.into_iter().map(|(k, v)| (k.0, v)).collect(),
        params: file.params,
        report_severities: Vec::new(),
        secrets: Some(portcullis_secrets::RuleSet::builtin()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Threshold;
    use crate::policy::params::Params;

    fn error(text: &str) -> String {
        parse(Path::new("p.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let text = "a = 1\n# é\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, text.find("= 2").unwrap()), (3, 4));
        assert_eq!(
            line_column(text, 9),
            (2, 3),
            "inside a character: its start"
        );
        assert_eq!(line_column(text, 999), (4, 1));
    }

    #[test]
    fn built_in_policies_load_and_differ() {
        for (name, summary, _) in BUILTIN {
            let p = builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, *name);
            assert!(!p.description.is_empty() && !summary.is_empty());
        }
        let default = builtin("default").unwrap();
        let strict = builtin("strict").unwrap();
        let cis = builtin("cis").unwrap();
        assert_eq!(default.fail_on, Severity::High);
        assert_eq!(strict.fail_on, Severity::Medium);
        assert_eq!(cis.only_references, vec![ReferenceKind::Cis]);
        assert_ne!(default.sha256(), strict.sha256());
        assert_eq!(default.params, Params::default());
        assert!(strict.params.setuid_allowlist.is_empty());
    }

    /// `setuid_allowlist` adds to the list of the base (the distribution's by default);
    /// `setuid_allowlist_replace` replaces it.
    #[test]
    fn the_setuid_allowlist_extends_and_replace_replaces() {
        let list = |text: &str| -> Vec<String> {
            parse(Path::new("/p/policy.toml"), text)
                .unwrap()
                .params
                .setuid_allowlist
                .patterns()
                .to_vec()
        };
        let distro: Vec<String> = super::super::params::DISTRO_SETUID
            .iter()
            .map(|p| p.to_string())
            .collect();
        let own = list("[params]\nsetuid_allowlist = [\"/opt/app/helper\"]\n");
        assert_eq!(own[..distro.len()], distro[..]);
        assert_eq!(own.last().unwrap(), "/opt/app/helper");
        let on_default =
            list("extends = \"default\"\n[params]\nsetuid_allowlist = [\"/opt/app/helper\"]\n");
        assert_eq!(on_default, own);
        assert_eq!(
            list("extends = \"strict\"\n[params]\nsetuid_allowlist = [\"/opt/app/helper\"]\n"),
            vec!["/opt/app/helper".to_string()]
        );
        assert_eq!(
            list("[params]\nsetuid_allowlist_replace = [\"/usr/bin/passwd\"]\n"),
            vec!["/usr/bin/passwd".to_string()]
        );
        assert_eq!(
            list(
                "[params]\nsetuid_allowlist_replace = [\"/usr/bin/passwd\"]\n\
                 setuid_allowlist = [\"/opt/app/helper\"]\n"
            ),
            vec!["/usr/bin/passwd".to_string(), "/opt/app/helper".to_string()]
        );
        assert!(list("extends = \"strict\"\n").is_empty());
        assert_eq!(list(""), distro);
    }

    #[test]
    fn a_file_extends_a_built_in_policy_and_wins() {
        let p = parse(
            Path::new("dir/p.toml"),
            "extends = \"strict\"\nfail_on = \"critical\"\n\
             [checks.user-root]\nfail_on = \"never\"\n\
             [params.secrets]\nrule_files = [\"rules.toml\", \"/abs/rules.toml\"]\n\
             [params.packages]\nindex_cache = \"cache\"\n",
        )
        .unwrap();
        let strict = builtin("strict").unwrap();
        assert_eq!(p.name, "dir/p.toml");
        assert_eq!(p.fail_on, Severity::Critical);
        assert_eq!(p.rules["user-root"].fail_on, Some(Threshold::Never));
        assert_eq!(p.params.setuid_allowlist, strict.params.setuid_allowlist);
        assert_eq!(
            p.params.secrets.rule_files,
            vec![
                PathBuf::from("dir/rules.toml"),
                PathBuf::from("/abs/rules.toml")
            ]
        );
        assert_eq!(
            p.params.secrets.max_file_size,
            strict.params.secrets.max_file_size
        );
    }

    #[test]
    fn family_names_and_check_ids_are_canonicalised() {
        let p = parse(
            Path::new("p.toml"),
            "[checks.USER]\nenabled = false\n[checks.User-Root]\nenabled = true\n",
        )
        .unwrap();
        assert_eq!(p.rules.keys().collect::<Vec<_>>(), ["user", "user-root"]);
    }

    /// One case per kind of mistake: where it is reported and what it says.
    #[test]
    fn mistakes_are_reported_with_file_line_column_and_what_was_expected() {
        let cases: &[(&str, &str, &str)] = &[
            ("syntax", "fail_on = \"high\"\n[checks\n", "p.toml:2:8:"),
            (
                "unknown key",
                "fail_on = \"high\"\nfail_onn = \"low\"\n",
                "p.toml:2:1: unknown field `fail_onn`, expected one of",
            ),
            (
                "unknown nested key",
                "[params.secrets]\nmax_size = 1\n",
                "p.toml:2:1: unknown field `max_size`",
            ),
            (
                "unknown rule key",
                "[checks.user-root]\nenable = false\n",
                "p.toml:2:1: unknown field `enable`, expected one of `enabled`",
            ),
            (
                "wrong type",
                "[checks.user-root]\nenabled = \"no\"\n",
                "p.toml:2:11: invalid type: string \"no\", expected a boolean",
            ),
            (
                "wrong type in params",
                "[params]\nsetuid_allowlist = \"/usr/bin/su\"\n",
                "p.toml:2:20: invalid type: string \"/usr/bin/su\", expected a sequence",
            ),
            (
                "unknown check id",
                "[checks.user-rot]\nenabled = false\n",
                "p.toml:1:9: unknown check \"user-rot\": expected a check id or a family name (user",
            ),
            (
                "bad severity",
                "fail_on = \"severe\"\n",
                "p.toml:1:11: unknown severity \"severe\" (expected one of: info, low, medium, high, critical)",
            ),
            (
                "bad threshold",
                "[checks.user]\nfail_on = \"sometimes\"\n",
                "p.toml:2:11: unknown threshold \"sometimes\"",
            ),
            (
                "bad glob",
                "[params]\nsetuid_allowlist = [\"[a\"]\n",
                "p.toml:2:20: invalid glob \"[a\"",
            ),
            (
                "bad size",
                "[params.hygiene]\ncache_min_bytes = \"2 bananas\"\n",
                "p.toml:2:19: unknown size unit \"bananas\"",
            ),
            (
                "bad reference kind",
                "only_references = [\"owasp\"]\n",
                "p.toml:1:20: unknown variant `owasp`, expected one of `cis`, `dockle`, `cwe`",
            ),
            (
                "unknown base",
                "extends = \"lenient\"\n",
                "p.toml:1:11: extends: unknown policy \"lenient\": built-in policies are default, strict, cis",
            ),
            (
                "missing base file",
                "extends = \"./nope.toml\"\n",
                "p.toml:1:11: cannot read the base policy \"./nope.toml\"",
            ),
        ];
        for (kind, text, expected) in cases {
            let e = error(text);
            assert!(
                e.starts_with(expected),
                "{kind}: got {e:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn extends_cycles_are_refused_where_they_close() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "extends = \"b.toml\"\n").unwrap();
        std::fs::write(
            dir.path().join("b.toml"),
            "description = \"b\"\nextends = \"./a.toml\"\n",
        )
        .unwrap();
        let a = dir.path().join("a.toml");
        let e = load(a.to_str().unwrap()).unwrap_err().to_string();
        assert!(
            e.contains("b.toml:2:11: extends \"./a.toml\" makes a cycle: "),
            "{e}"
        );
        assert!(e.ends_with("a.toml"), "{e}");

        std::fs::write(dir.path().join("self.toml"), "extends = \"self.toml\"\n").unwrap();
        let e = load(dir.path().join("self.toml").to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("self.toml:1:11: extends \"self.toml\" makes a cycle"),
            "{e}"
        );
    }

    #[test]
    fn errors_in_a_base_file_name_the_base_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.toml"), "\n\nfail_on = 3\n").unwrap();
        let e = parse(&dir.path().join("p.toml"), "extends = \"base.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("base.toml:3:11: invalid type: integer `3`, expected a string"),
            "{e}"
        );
    }

    #[test]
    fn unknown_policy_names_and_unreadable_files() {
        assert!(matches!(
            load("lenient"),
            Err(PolicyError::UnknownPolicy(_))
        ));
        let e = load("./missing.toml").unwrap_err().to_string();
        assert!(e.starts_with("./missing.toml: "), "{e}");
    }

    #[test]
    fn the_digest_follows_the_effective_settings() {
        let a = parse(Path::new("a.toml"), "fail_on = \"low\"\n").unwrap();
        let b = parse(
            Path::new("b.toml"),
            "# same settings, other words\nextends = \"default\"\ndescription = \"b\"\nfail_on = 'low'\n",
        )
        .unwrap();
        let mut c = parse(Path::new("c.toml"), "fail_on = \"high\"\n").unwrap();
        assert_eq!(a.sha256(), b.sha256());
        assert_ne!(a.sha256(), c.sha256());
        c.override_fail_on(Severity::Low);
        assert_eq!(a.sha256(), c.sha256(), "--fail-on counts as a setting");
    }
}
