//! Secret rules as data: the built-in set from `policies/secret-rules.toml`, extended or
//! trimmed by the policy layer (`RuleSet::with_user_file`, `RuleSet::disable`).
//!
//! A rule set compiles once: every regex, one RegexSet per allow kind, and one Aho-Corasick
//! automaton over all rules' keywords that decides which regexes run on a file at all.

use crate::checksum::{Checksum, OnFailure};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use portcullis_model::Severity;
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The built-in rules, embedded at build time.
pub const BUILTIN_RULES: &str = include_str!("../../../policies/secret-rules.toml");

/// Upper bound on a compiled regex, so a user rule cannot make the scanner allocate without
/// limit (the built-in rules need well under a megabyte each).
const REGEX_SIZE_LIMIT: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{origin}: cannot read: {source}")]
    Read {
        origin: String,
        source: std::io::Error,
    },
    #[error("{origin}: {source}")]
    Toml {
        origin: String,
        source: toml::de::Error,
    },
    #[error("{origin}: unsupported rule file version {version} (this portcullis reads 1)")]
    Version { origin: String, version: u32 },
    #[error("{origin}: {what} {id:?}: {reason}")]
    Invalid {
        origin: String,
        what: &'static str,
        id: String,
        reason: String,
    },
    #[error("{origin}: {what} {id:?} is defined twice")]
    Duplicate {
        origin: String,
        what: &'static str,
        id: String,
    },
    #[error("cannot disable {0:?}: no secret rule or allow rule has that id")]
    UnknownId(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    version: Option<u32>,
    #[serde(default)]
    rule: Vec<RuleDef>,
    #[serde(default)]
    allow: Vec<AllowDef>,
    #[serde(default)]
    scope: Vec<ScopeDef>,
    /// Ids of rules or allow rules (built-in or from earlier files) to switch off.
    #[serde(default)]
    disable: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleDef {
    id: String,
    title: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    regex: String,
    #[serde(default)]
    secret_groups: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    allow_match: Vec<String>,
    #[serde(default)]
    generic: bool,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    checksum: Option<Checksum>,
    #[serde(default)]
    checksum_failure: Option<OnFailure>,
    #[serde(default)]
    counterexamples: Vec<String>,
    #[serde(default)]
    overlaps: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowDef {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    path: Vec<String>,
    #[serde(default)]
    value: Vec<String>,
    #[serde(default)]
    line: Vec<String>,
    #[serde(default, rename = "match")]
    matches: Vec<String>,
    #[serde(default)]
    rules: Vec<String>,
    /// Paths that do not skip a file but lower what generic rules find in it (an
    /// application's own documentation and tests ship with it: a provider token or a key
    /// there is a leak, a `password = x` more likely an example).
    #[serde(default, rename = "lower-generic")]
    lower_generic: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeDef {
    id: String,
    paths: Vec<String>,
    #[serde(default)]
    skip: Vec<String>,
}

/// Where a rule or allow rule was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    User(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in"),
            Origin::User(path) => f.write_str(path),
        }
    }
}

/// One compiled content rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    pub description: Option<String>,
    pub keywords: Vec<String>,
    /// Random strings of the token's format that the rule must find (checked by the tests).
    pub examples: Vec<String>,
    /// Near misses the rule must not find: a wrong length, charset or prefix, a placeholder,
    /// the provider's documented sample value, the token without the context it needs.
    pub counterexamples: Vec<String>,
    /// Earlier rules whose tokens this broader rule also matches: the earlier rule wins the
    /// overlap, and the tests accept it only when it is declared here.
    pub overlaps: Vec<String>,
    /// How configuration keys name the provider besides its category (`vault` for HashiCorp,
    /// `hf_token` for Hugging Face): matched inside a generic match's lower-cased key.
    pub names: Vec<String>,
    /// Generic rules (assignments in configuration files) are the least certain: the image
    /// config checks weigh them after the provider-specific rules and the key-name check.
    pub generic: bool,
    /// The checksum the rule's secrets carry, and what a failed one does.
    pub checksum: Option<(Checksum, OnFailure)>,
    pub origin: Origin,
    pub(crate) regex: Regex,
    pub(crate) secret_groups: Vec<usize>,
    pub(crate) scope: Option<usize>,
    pub(crate) paths: Option<RegexSet>,
    pub(crate) entropy: Option<f64>,
    pub(crate) allow_value: Option<RegexSet>,
    pub(crate) allow_match: Option<RegexSet>,
    pub(crate) pattern: String,
}

impl Rule {
    /// The title and severity of what this rule found at `m`: a secret whose checksum
    /// fails is low and says so.
    pub fn judged(
        &self,
        m: &crate::engine::Match,
        named: Option<&str>,
        lookalike: Option<&str>,
    ) -> (String, Severity) {
        if m.checksum_failed {
            (
                format!(
                    "{} (its checksum does not match: not a token the provider issued, or a broken copy)",
                    self.title
                ),
                Severity::Low,
            )
        } else if let Some(name) = named {
            (
                format!(
                    "{} (the key names {name}, but the value is in no format of {name}'s rules: a placeholder, a test value or an identifier more often than a key)",
                    self.title
                ),
                Severity::Low,
            )
        } else if let Some(provider) = lookalike {
            (
                format!(
                    "{} (the value begins like a {provider} but is in no format of its rule: a test value or a broken copy more often than a key)",
                    self.title
                ),
                Severity::Low,
            )
        } else if m.generic_lowered {
            (
                format!(
                    "{} (a generic match in documentation, tests or examples)",
                    self.title
                ),
                Severity::Low,
            )
        } else {
            (self.title.clone(), self.severity)
        }
    }

    /// The regex as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// Categories of provider rules that are no provider's name in a key: a kind of secret
/// (`private-key`, `jwt`), a file format or a tool whose keys hold any kind of secret.
/// Their rules' `names` and example keys still name them (`sonar` for a `ci` rule).
const NOT_PROVIDER_NAMES: &[&str] = &[
    "generic",
    "ci",
    "crypto",
    "private-key",
    "jwt",
    "readme",
    "hex",
    "cargo",
    "composer",
    "maven",
    "kubernetes",
];

/// Providers whose legacy tokens have no format: a key naming them says nothing about the
/// value, so it never lowers a generic match.
const FORMATLESS_PROVIDERS: &[&str] = &["docker", "npm", "pypi"];

/// A token prefix a provider rule's own examples begin their secrets with (`ghp_`, `ek_`,
/// `glrt-`, `GR1348941`), lower-case, with the provider it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TokenPrefix {
    pub(crate) text: Vec<u8>,
    pub(crate) provider: String,
}

/// The keywords that begin the secret in some example of their rule: a rule's examples
/// document its tokens' prefixes. At least three characters, two of them letters or digits.
fn token_prefixes(rules: &[Rule]) -> Vec<TokenPrefix> {
    let mut prefixes = Vec::new();
    for rule in rules.iter().filter(|r| !r.generic) {
        let mut locs = rule.regex.capture_locations();
        for example in &rule.examples {
            if rule
                .regex
                .captures_read(&mut locs, example.as_bytes())
                .is_none()
            {
                continue;
            }
            let Some((start, end)) = rule.secret_groups.iter().find_map(|&g| locs.get(g)) else {
                continue;
            };
            let secret = example[start..end].to_ascii_lowercase();
            for keyword in &rule.keywords {
                let keyword = keyword.to_ascii_lowercase();
                if keyword.len() >= 3
                    && keyword.len() < secret.len()
                    && keyword.bytes().filter(u8::is_ascii_alphanumeric).count() >= 2
                    && secret.starts_with(&keyword)
                {
                    prefixes.push(TokenPrefix {
                        text: keyword.into_bytes(),
                        provider: rule.title.clone(),
                    });
                }
            }
        }
    }
    prefixes.sort();
    prefixes.dedup_by(|a, b| a.text == b.text);
    prefixes
}

/// How keys name a provider.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ProviderName {
    /// Lower-case; matched against a key's words (`Word`) or inside the lower-cased key
    /// (`Keyword`).
    pub(crate) text: String,
    pub(crate) whole_word: bool,
    pub(crate) category: String,
    /// The user-chosen words (`private`, `password`) the provider's own examples put in
    /// the key: a key holding one of them still names the provider.
    pub(crate) user_chosen_words: Vec<String>,
}

/// Words of a key that name a secret the user chooses, which has no provider format: a
/// webhook or signing secret, a password, an encryption key, a salt, a session secret.
pub(crate) const USER_CHOSEN: &[&str] = &[
    "webhook",
    "signing",
    "signature",
    "hmac",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "encryption",
    "encrypt",
    "salt",
    "session",
    "cookie",
    "jwt",
    "master",
    "private",
];

/// A key cut into lower-case words, at punctuation and at lower-to-upper case changes
/// (`dbPassword` → `db`, `password`).
pub(crate) fn key_words(key: &[u8]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for &b in key {
        if b.is_ascii_alphanumeric() {
            if b.is_ascii_uppercase() && previous_lower && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = b.is_ascii_lowercase() || b.is_ascii_digit();
            word.push(char::from(b.to_ascii_lowercase()));
        } else {
            previous_lower = false;
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The names keys give the providers the rules know: each provider rule's category
/// (`datadog`), and the keywords a rule's own examples put in the key before the secret
/// (`dd_api` of `DD_API_KEY=…`), so a rule's examples are also its documentation of how
/// keys name the provider, and the rule's `names` (`jira`, `vault`). Categories that are kinds of secret
/// or file formats, and providers whose legacy tokens have no format, name nothing.
fn provider_names(rules: &[Rule]) -> Vec<ProviderName> {
    let mut names = Vec::new();
    for rule in rules.iter().filter(|r| !r.generic) {
        let category = rule.category.to_ascii_lowercase();
        if FORMATLESS_PROVIDERS.contains(&category.as_str()) {
            continue;
        }
        // A category that is no provider's name (`ci`) does not name one, but its rules'
        // names and example keys do, and stand for the provider themselves.
        let is_a_name = !NOT_PROVIDER_NAMES.contains(&category.as_str());
        let label = |name: &str| {
            if is_a_name {
                category.clone()
            } else {
                name.to_string()
            }
        };
        let mut locs = rule.regex.capture_locations();
        let keys: Vec<String> = rule
            .examples
            .iter()
            .filter_map(|example| {
                rule.regex.captures_read(&mut locs, example.as_bytes())?;
                let (start, _) = rule.secret_groups.iter().find_map(|&g| locs.get(g))?;
                Some(example[..start].to_ascii_lowercase())
            })
            .collect();
        let mut user_chosen_words: Vec<String> = keys
            .iter()
            .flat_map(|key| key_words(key.as_bytes()))
            .filter(|w| USER_CHOSEN.contains(&w.as_str()))
            .collect();
        user_chosen_words.sort();
        user_chosen_words.dedup();
        if is_a_name && category.len() >= 2 {
            names.push(ProviderName {
                text: category.clone(),
                whole_word: true,
                category: category.clone(),
                user_chosen_words: user_chosen_words.clone(),
            });
        }
        for name in &rule.names {
            names.push(ProviderName {
                text: name.clone(),
                whole_word: false,
                category: label(name),
                user_chosen_words: user_chosen_words.clone(),
            });
        }
        for key in &keys {
            for keyword in &rule.keywords {
                let keyword = keyword.to_ascii_lowercase();
                if keyword.len() >= 4
                    && keyword.bytes().any(|b| b.is_ascii_alphabetic())
                    && keyword
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    && !GENERIC_KEY_WORDS.iter().any(|w| keyword.contains(w))
                    && key.contains(&keyword)
                {
                    names.push(ProviderName {
                        category: label(&keyword),
                        text: keyword,
                        whole_word: false,
                        user_chosen_words: user_chosen_words.clone(),
                    });
                }
            }
        }
    }
    names.sort();
    // One entry per name; the user-chosen words of every rule it came from.
    names.dedup_by(|a, b| {
        let same = a.text == b.text && a.whole_word == b.whole_word;
        if same {
            for w in a.user_chosen_words.drain(..) {
                if !b.user_chosen_words.contains(&w) {
                    b.user_chosen_words.push(w);
                }
            }
        }
        same
    });
    names
}

/// Words that make a keyword a kind of secret rather than a provider's name.
const GENERIC_KEY_WORDS: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "key",
    "auth",
    "bearer",
    "credential",
    "basic",
    "private",
    "client",
    "access",
    "session",
    "://",
    "user",
];

/// One compiled allow rule.
#[derive(Debug, Clone)]
pub struct Allow {
    pub id: String,
    pub description: Option<String>,
    pub origin: Origin,
    /// Rule ids this allow rule is limited to; empty means every rule.
    pub rules: Vec<String>,
    pub(crate) path: Option<RegexSet>,
    pub(crate) value: Option<RegexSet>,
    pub(crate) line: Option<RegexSet>,
    pub(crate) matches: Option<RegexSet>,
    /// Its paths lower generic findings instead of skipping files.
    pub lower_generic: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) paths: RegexSet,
    pub(crate) skip: RegexSet,
}

/// The definitions a rule set was compiled from, kept so that a set can be extended.
#[derive(Debug, Clone, Default)]
struct Sources {
    rules: Vec<(RuleDef, Origin)>,
    allows: Vec<(AllowDef, Origin)>,
    scopes: Vec<(ScopeDef, Origin)>,
    disabled: HashSet<String>,
    texts: Vec<String>,
}

/// A compiled set of secret rules, allow rules and scopes.
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) allows: Vec<Allow>,
    pub(crate) scopes: Vec<Scope>,
    /// Keywords of every enabled rule; pattern `i` belongs to the rules in `keyword_rules[i]`.
    pub(crate) prefilter: Option<AhoCorasick>,
    pub(crate) keyword_rules: Vec<Vec<usize>>,
    /// Rules without keywords: they run on every file they apply to.
    pub(crate) always: Vec<usize>,
    /// Token prefixes of the provider rules, lower-case: a generic match whose value
    /// starts with one is a token in that provider's namespace which its rule rejected
    /// (a wrong length or charset), and is not reported again as a generic secret.
    pub(crate) provider_prefixes: Vec<Vec<u8>>,
    /// Names of providers as keys spell them, lower-case, each with the provider's category:
    /// a generic match whose key holds one (`DATADOG_TOKEN`, `DD_API_KEY`) but whose value no
    /// rule accepted is reported low, as not in the provider's format.
    pub(crate) provider_names: Vec<ProviderName>,
    /// Token prefixes the provider rules' examples begin with: a generic match whose value
    /// begins with one, or with a one-character change of a distinctive one (`ghx_` for
    /// `ghp_`), is a test value or a broken copy more often than a key, and is reported low.
    pub(crate) token_prefixes: Vec<TokenPrefix>,
    /// Path patterns of the allow rules that apply to every rule, in one set.
    pub(crate) skip_paths: RegexSet,
    pub(crate) skip_path_owner: Vec<usize>,
    /// Path patterns of the `lower-generic` allow rules, in one set.
    pub(crate) lower_paths: RegexSet,
    sources: Sources,
    digest: String,
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .field("allows", &self.allows.len())
            .field("digest", &self.digest)
            .finish()
    }
}

impl RuleSet {
    /// The built-in rules, compiled once per process.
    pub fn builtin() -> Arc<RuleSet> {
        static BUILTIN: OnceLock<Arc<RuleSet>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                // The embedded file is part of the build and covered by the unit tests; a
                // mistake in it is a bug in this binary, not bad input.
                Arc::new(
                    RuleSet::from_toml(BUILTIN_RULES, Origin::Builtin)
                        .expect("policies/secret-rules.toml compiles"),
                )
            })
            .clone()
    }

    /// Compiles a rule file on its own (no built-in rules).
    pub fn from_toml(text: &str, origin: Origin) -> Result<RuleSet, RulesError> {
        let mut sources = Sources::default();
        sources.add(text, &origin)?;
        RuleSet::compile(sources)
    }

    /// This set extended by a user's rule file: its rules and allow rules are added (a rule
    /// with an existing id replaces it), and its `disable` list switches rules off.
    pub fn with_user_file(&self, path: &Path) -> Result<RuleSet, RulesError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            origin: origin.clone(),
            source,
        })?;
        self.with_user_toml(&text, &origin)
    }

    /// Like [`RuleSet::with_user_file`], for text already read; `origin` names it in errors.
    pub fn with_user_toml(&self, text: &str, origin: &str) -> Result<RuleSet, RulesError> {
        let mut sources = self.sources.clone();
        sources.add(text, &Origin::User(origin.to_string()))?;
        RuleSet::compile(sources)
    }

    /// This set without the rules or allow rules named by `ids`. An id that names nothing is
    /// an error: a typo in a policy must not silently leave a rule on.
    pub fn disable<I, S>(&self, ids: I) -> Result<RuleSet, RulesError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut sources = self.sources.clone();
        for id in ids {
            let id = id.as_ref();
            if !sources.knows(id) {
                return Err(RulesError::UnknownId(id.to_string()));
            }
            sources.disabled.insert(id.to_string());
        }
        RuleSet::compile(sources)
    }

    /// Enabled content rules, in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Enabled allow rules.
    pub fn allows(&self) -> &[Allow] {
        &self.allows
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Ids switched off by `disable` lists or calls.
    pub fn disabled(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.sources.disabled.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// SHA-256 over the rule sources and the disabled ids: layer reports computed with one
    /// rule set must not be reused with another, so this belongs in a layer cache key.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    fn compile(sources: Sources) -> Result<RuleSet, RulesError> {
        let mut scopes = Vec::new();
        let mut scope_index = HashMap::new();
        for (def, origin) in &sources.scopes {
            let scope = Scope {
                paths: regex_set(&def.paths, origin, "scope", &def.id)?,
                skip: regex_set(&def.skip, origin, "scope", &def.id)?,
            };
            scope_index.insert(def.id.clone(), scopes.len());
            scopes.push(scope);
        }

        let mut rules = Vec::new();
        for (def, origin) in &sources.rules {
            if sources.disabled.contains(&def.id) {
                continue;
            }
            if let Some(id) = def
                .overlaps
                .iter()
                .find(|id| !sources.rules.iter().any(|(r, _)| &r.id == *id))
            {
                return Err(RulesError::Invalid {
                    origin: origin.to_string(),
                    what: "rule",
                    id: def.id.clone(),
                    reason: format!("overlaps names unknown rule {id:?}"),
                });
            }
            rules.push(compile_rule(def, origin, &scope_index)?);
        }

        let mut allows = Vec::new();
        for (def, origin) in &sources.allows {
            if sources.disabled.contains(&def.id) {
                continue;
            }
            let invalid = |reason: String| RulesError::Invalid {
                origin: origin.to_string(),
                what: "allow rule",
                id: def.id.clone(),
                reason,
            };
            if def.path.is_empty()
                && def.value.is_empty()
                && def.line.is_empty()
                && def.matches.is_empty()
            {
                return Err(invalid(
                    "needs at least one of path, value, line or match".into(),
                ));
            }
            for id in &def.rules {
                if !sources.rules.iter().any(|(r, _)| &r.id == id) {
                    return Err(invalid(format!("names unknown rule {id:?}")));
                }
            }
            let opt = |patterns: &[String]| -> Result<Option<RegexSet>, RulesError> {
                if patterns.is_empty() {
                    Ok(None)
                } else {
                    regex_set(patterns, origin, "allow rule", &def.id).map(Some)
                }
            };
            allows.push(Allow {
                id: def.id.clone(),
                description: def.description.clone(),
                origin: origin.clone(),
                rules: def.rules.clone(),
                path: opt(&def.path)?,
                value: opt(&def.value)?,
                line: opt(&def.line)?,
                matches: opt(&def.matches)?,
                lower_generic: def.lower_generic,
            });
        }

        let mut skip_patterns = Vec::new();
        let mut skip_path_owner = Vec::new();
        let mut lower_patterns = Vec::new();
        for (def, _) in &sources.allows {
            if sources.disabled.contains(&def.id) || !def.rules.is_empty() {
                continue;
            }
            let Some(index) = allows.iter().position(|a| a.id == def.id) else {
                continue;
            };
            for p in &def.path {
                if def.lower_generic {
                    lower_patterns.push(p.clone());
                } else {
                    skip_patterns.push(p.clone());
                    skip_path_owner.push(index);
                }
            }
        }
        let skip_paths = regex_set(&skip_patterns, &Origin::Builtin, "allow rule", "paths")?;
        let lower_paths = regex_set(&lower_patterns, &Origin::Builtin, "allow rule", "paths")?;

        let mut keyword_index: HashMap<String, usize> = HashMap::new();
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.keywords.is_empty() {
                always.push(i);
            }
            for k in &rule.keywords {
                let k = k.to_ascii_lowercase();
                let slot = *keyword_index.entry(k.clone()).or_insert_with(|| {
                    keywords.push(k);
                    keyword_rules.push(Vec::new());
                    keywords.len() - 1
                });
                keyword_rules[slot].push(i);
            }
        }
        // Token prefixes of the provider rules (`ghp_`, `xoxb-`, `amzn.mws.`): keywords of at
        // least four characters ending in `_`, `-` or `.`.
        let mut provider_prefixes: Vec<Vec<u8>> = rules
            .iter()
            .filter(|r| !r.generic)
            .flat_map(|r| r.keywords.iter())
            .filter(|k| k.len() >= 4 && k.ends_with(['_', '-', '.']))
            .map(|k| k.to_ascii_lowercase().into_bytes())
            .collect();
        provider_prefixes.sort();
        provider_prefixes.dedup();
        let provider_names = provider_names(&rules);
        let token_prefixes = token_prefixes(&rules);
        let prefilter = if keywords.is_empty() {
            None
        } else {
            // A contiguous NFA builds in a fraction of a DFA's time (a DFA over these keywords
            // cost ~30 ms at every start) and is fast enough for the few MiB of text that
            // reach the keyword scan in a whole OS image.
            let ac = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&keywords)
                .or_else(|_| {
                    AhoCorasick::builder()
                        .ascii_case_insensitive(true)
                        .match_kind(MatchKind::Standard)
                        .build(&keywords)
                })
                .map_err(|e| RulesError::Invalid {
                    origin: "rule set".into(),
                    what: "keywords",
                    id: String::new(),
                    reason: e.to_string(),
                })?;
            Some(ac)
        };

        let mut hasher = Sha256::new();
        for text in &sources.texts {
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        for id in {
            let mut d: Vec<&String> = sources.disabled.iter().collect();
            d.sort();
            d
        } {
            hasher.update(b"\0disable\0");
            hasher.update(id.as_bytes());
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));

        Ok(RuleSet {
            rules,
            allows,
            scopes,
            prefilter,
            keyword_rules,
            always,
            provider_prefixes,
            provider_names,
            token_prefixes,
            skip_paths,
            skip_path_owner,
            lower_paths,
            sources,
            digest,
        })
    }
}

impl Sources {
    fn add(&mut self, text: &str, origin: &Origin) -> Result<(), RulesError> {
        let file: RuleFile = toml::from_str(text).map_err(|source| RulesError::Toml {
            origin: origin.to_string(),
            source,
        })?;
        if let Some(version) = file.version
            && version != 1
        {
            return Err(RulesError::Version {
                origin: origin.to_string(),
                version,
            });
        }
        let mut seen = HashSet::new();
        for def in file.scope {
            if !seen.insert(("scope", def.id.clone())) {
                return Err(RulesError::Duplicate {
                    origin: origin.to_string(),
                    what: "scope",
                    id: def.id,
                });
            }
            self.scopes.retain(|(s, _)| s.id != def.id);
            self.scopes.push((def, origin.clone()));
        }
        for def in file.rule {
            check_id(&def.id, origin, "rule")?;
            if !seen.insert(("rule", def.id.clone())) {
                return Err(RulesError::Duplicate {
                    origin: origin.to_string(),
                    what: "rule",
                    id: def.id,
                });
            }
            // A user rule with a built-in id replaces the built-in one in place, keeping the
            // order in which overlapping matches are resolved.
            match self.rules.iter().position(|(r, _)| r.id == def.id) {
                Some(i) => self.rules[i] = (def, origin.clone()),
                None => self.rules.push((def, origin.clone())),
            }
        }
        for def in file.allow {
            check_id(&def.id, origin, "allow rule")?;
            if !seen.insert(("allow", def.id.clone())) {
                return Err(RulesError::Duplicate {
                    origin: origin.to_string(),
                    what: "allow rule",
                    id: def.id,
                });
            }
            match self.allows.iter().position(|(a, _)| a.id == def.id) {
                Some(i) => self.allows[i] = (def, origin.clone()),
                None => self.allows.push((def, origin.clone())),
            }
        }
        for id in file.disable {
            if !self.knows(&id) {
                return Err(RulesError::Invalid {
                    origin: origin.to_string(),
                    what: "disable",
                    id,
                    reason: "no secret rule or allow rule has that id".into(),
                });
            }
            self.disabled.insert(id);
        }
        self.texts.push(text.to_string());
        Ok(())
    }

    fn knows(&self, id: &str) -> bool {
        self.rules.iter().any(|(r, _)| r.id == id) || self.allows.iter().any(|(a, _)| a.id == id)
    }
}

fn check_id(id: &str, origin: &Origin, what: &'static str) -> Result<(), RulesError> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(RulesError::Invalid {
            origin: origin.to_string(),
            what,
            id: id.to_string(),
            reason: "ids are kebab-case: lower-case letters, digits and '-'".into(),
        })
    }
}

fn build_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

fn regex_set(
    patterns: &[String],
    origin: &Origin,
    what: &'static str,
    id: &str,
) -> Result<RegexSet, RulesError> {
    RegexSetBuilder::new(patterns)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RulesError::Invalid {
            origin: origin.to_string(),
            what,
            id: id.to_string(),
            reason: e.to_string(),
        })
}

fn compile_rule(
    def: &RuleDef,
    origin: &Origin,
    scope_index: &HashMap<String, usize>,
) -> Result<Rule, RulesError> {
    let invalid = |reason: String| RulesError::Invalid {
        origin: origin.to_string(),
        what: "rule",
        id: def.id.clone(),
        reason,
    };
    let regex = build_regex(&def.regex).map_err(|e| invalid(e.to_string()))?;
    let group_names: Vec<String> = def
        .secret_groups
        .clone()
        .unwrap_or_else(|| vec!["secret".to_string()]);
    let mut secret_groups = Vec::new();
    for name in &group_names {
        let index = regex
            .capture_names()
            .position(|n| n == Some(name.as_str()))
            .ok_or_else(|| invalid(format!("the regex has no group named {name:?}")))?;
        secret_groups.push(index);
    }
    let severity = match &def.severity {
        None => Severity::High,
        Some(s) => s.parse::<Severity>().map_err(|e| invalid(e.to_string()))?,
    };
    let scope = match &def.scope {
        None => None,
        Some(name) => Some(
            *scope_index
                .get(name)
                .ok_or_else(|| invalid(format!("unknown scope {name:?}")))?,
        ),
    };
    if let Some(name) = def.names.iter().find(|n| {
        n.len() < 2
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    }) {
        return Err(invalid(format!(
            "name {name:?}: names are at least 2 letters, digits, '_', '-' or '.'"
        )));
    }
    if def.keywords.iter().any(|k| k.is_empty()) {
        return Err(invalid("empty keyword".into()));
    }
    if let Some(e) = def.entropy
        && !(0.0..=8.0).contains(&e)
    {
        return Err(invalid(format!(
            "entropy {e} is outside 0..8 bits per byte"
        )));
    }
    let opt_set = |patterns: &[String]| -> Result<Option<RegexSet>, RulesError> {
        if patterns.is_empty() {
            Ok(None)
        } else {
            regex_set(patterns, origin, "rule", &def.id).map(Some)
        }
    };
    Ok(Rule {
        id: def.id.clone(),
        title: def.title.clone(),
        category: def.category.clone().unwrap_or_else(|| "custom".into()),
        severity,
        description: def.description.clone(),
        keywords: def.keywords.clone(),
        examples: def.examples.clone(),
        counterexamples: def.counterexamples.clone(),
        names: def.names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        overlaps: def.overlaps.clone(),
        generic: def.generic,
        checksum: match (def.checksum, def.checksum_failure) {
            (Some(c), failure) => Some((c, failure.unwrap_or_default())),
            (None, Some(_)) => {
                return Err(invalid("checksum-failure without a checksum".into()));
            }
            (None, None) => None,
        },
        origin: origin.clone(),
        regex,
        secret_groups,
        scope,
        paths: opt_set(&def.paths)?,
        entropy: def.entropy,
        allow_value: opt_set(&def.allow)?,
        allow_match: opt_set(&def.allow_match)?,
        pattern: def.regex.clone(),
    })
}
