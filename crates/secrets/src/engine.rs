//! Running a rule set over bytes: the keyword prefilter picks the rules, their regexes find
//! candidates, and the allow rules and value checks drop what is not a secret.

use super::allow;
use super::checksum::OnFailure;
use super::rules::{Allow, Rule, RuleSet, USER_CHOSEN, key_words};
use regex::bytes::CaptureLocations;

/// What a rule set decides about one path before its content is read.
#[derive(Debug, Clone)]
pub struct PathContext {
    /// Whether each scope of the rule set admits the path.
    scopes: Vec<bool>,
    /// Text taken from the image config rather than a file: every scope admits it and path
    /// allow rules do not apply.
    config_text: bool,
    /// The path is documentation, a test or an example (a `lower-generic` allow rule):
    /// generic rules' findings there are low.
    lower_generic: bool,
}

impl PathContext {
    /// The context for text from the image config (ENV values, labels, build history).
    pub fn config_text(rules: &RuleSet) -> PathContext {
        PathContext {
            scopes: vec![true; rules.scopes.len()],
            config_text: true,
            lower_generic: false,
        }
    }
}

/// A secret a rule found: byte ranges into the scanned data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index into `RuleSet::rules()`.
    pub rule: usize,
    /// The secret itself.
    pub start: usize,
    pub end: usize,
    /// The whole regex match around it.
    pub match_start: usize,
    pub match_end: usize,
    /// The rule's checksum does not hold for this secret, and the rule keeps such findings
    /// at low severity (`checksum-failure = "low"`).
    pub checksum_failed: bool,
    /// A generic rule's finding in documentation, tests or examples: reported low.
    pub generic_lowered: bool,
    /// A generic secret under a key that names a provider (index into the rule set's
    /// provider names) whose rules did not take the value: reported low.
    pub named_provider: Option<u16>,
    /// A generic secret whose value begins with a provider's token prefix, or a
    /// one-character change of one (index into the rule set's token prefixes), though no
    /// rule of the provider took it: reported low.
    pub lookalike: Option<u16>,
}

/// Buffers reused from one scan to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    candidates: Vec<bool>,
}

impl RuleSet {
    /// The allow rule that takes `path` out of the secret scan, if any (docs, tests,
    /// examples, binary extensions ...).
    pub fn path_allowed_by(&self, path: &str) -> Option<&Allow> {
        let matched = self.skip_paths.matches(path.as_bytes());
        matched
            .iter()
            .next()
            .and_then(|i| self.skip_path_owner.get(i))
            .and_then(|&a| self.allows.get(a))
    }

    /// Whether an allow rule that applies to every rule drops `value` (a placeholder, a
    /// documentation example ...).
    pub fn value_allowed(&self, value: &[u8]) -> bool {
        self.allows
            .iter()
            .any(|a| a.rules.is_empty() && a.value.as_ref().is_some_and(|s| s.is_match(value)))
    }

    /// Evaluates the scopes for `path` once, before its content is scanned.
    pub fn path_context(&self, path: &str) -> PathContext {
        let bytes = path.as_bytes();
        PathContext {
            scopes: self
                .scopes
                .iter()
                .map(|s| s.paths.is_match(bytes) && !s.skip.is_match(bytes))
                .collect(),
            config_text: false,
            lower_generic: self.lower_paths.is_match(bytes),
        }
    }

    fn applies(&self, rule: &Rule, ctx: &PathContext, path: &str) -> bool {
        if let Some(scope) = rule.scope
            && !ctx.scopes.get(scope).copied().unwrap_or(false)
        {
            return false;
        }
        if ctx.config_text {
            return true;
        }
        rule.paths
            .as_ref()
            .is_none_or(|paths| paths.is_match(path.as_bytes()))
    }

    /// Finds the secrets in `data`, the content (or a window of the content) of `path`.
    /// Only secrets starting before `limit` are reported: the caller scans the rest again in
    /// the next, overlapping window. Matches come back ordered by position, at most one per
    /// stretch of bytes: where rules overlap, the earlier rule in the set wins.
    pub fn scan(
        &self,
        ctx: &PathContext,
        path: &str,
        data: &[u8],
        limit: usize,
        scratch: &mut Scratch,
        out: &mut Vec<Match>,
    ) {
        let candidates = &mut scratch.candidates;
        candidates.clear();
        candidates.resize(self.rules.len(), false);
        let mut any = false;
        if let Some(ac) = &self.prefilter {
            for m in ac.find_overlapping_iter(data) {
                for &r in &self.keyword_rules[m.pattern().as_usize()] {
                    candidates[r] = true;
                    any = true;
                }
            }
        }
        for &r in &self.always {
            candidates[r] = true;
            any = true;
        }
        if !any {
            return;
        }

        let first = out.len();
        // Accepted secrets by start, disjoint: a candidate overlaps one of them exactly when
        // it overlaps the last one starting before its end. Finding it is a lookup, not a
        // pass over every earlier match (which made a line of many matches quadratic).
        let mut taken: std::collections::BTreeMap<usize, usize> =
            out[first..].iter().map(|m| (m.start, m.end)).collect();
        for (index, rule) in self.rules.iter().enumerate() {
            if !candidates[index] || !self.applies(rule, ctx, path) {
                continue;
            }
            let mut locs = rule.regex.capture_locations();
            let mut at = 0;
            while at <= data.len() {
                let Some((match_start, match_end)) = rule
                    .regex
                    .captures_read_at(&mut locs, data, at)
                    .map(|m| (m.start(), m.end()))
                else {
                    break;
                };
                at = if match_end > match_start {
                    match_end
                } else {
                    match_end + 1
                };
                let Some((start, end)) = secret_span(rule, &locs) else {
                    continue;
                };
                if start >= limit || start == end {
                    continue;
                }
                let mut candidate = Match {
                    rule: index,
                    start,
                    end,
                    match_start,
                    match_end,
                    checksum_failed: false,
                    generic_lowered: rule.generic && ctx.lower_generic,
                    named_provider: None,
                    lookalike: None,
                };
                if taken
                    .range(..candidate.end)
                    .next_back()
                    .is_some_and(|(_, &end)| end > candidate.start)
                {
                    continue;
                }
                if self.is_allowed(rule, ctx, path, data, &candidate) {
                    continue;
                }
                if let Some((checksum, on_failure)) = rule.checksum
                    && checksum.verify(&data[start..end]) == Some(false)
                {
                    match on_failure {
                        OnFailure::Drop => continue,
                        OnFailure::Low => candidate.checksum_failed = true,
                    }
                }
                if rule.generic {
                    candidate.named_provider = self.provider_named_by(&data[match_start..start]);
                }
                if (rule.generic || rule.category == "generic")
                    && candidate.named_provider.is_none()
                {
                    candidate.lookalike = self.lookalike_prefix(&data[start..end]);
                }
                taken.insert(candidate.start, candidate.end);
                out.push(candidate);
            }
        }
        out[first..].sort_by_key(|m| (m.start, m.rule));
    }

    /// Scans text a report quotes from the image (a history line, a line of a file, a
    /// message): only the rules that hold for any file apply, not those of one file format
    /// or scope.
    pub fn scan_quoted_text(&self, text: &str) -> Vec<Match> {
        let mut out = Vec::new();
        let ctx = PathContext {
            scopes: vec![false; self.scopes.len()],
            config_text: false,
            lower_generic: false,
        };
        self.scan(
            &ctx,
            "",
            text.as_bytes(),
            text.len(),
            &mut Scratch::default(),
            &mut out,
        );
        out
    }

    /// Scans text from the image config (an ENV value, a label, a history entry).
    pub fn scan_text(&self, text: &str) -> Vec<Match> {
        let mut out = Vec::new();
        let ctx = PathContext::config_text(self);
        self.scan(
            &ctx,
            "",
            text.as_bytes(),
            text.len(),
            &mut Scratch::default(),
            &mut out,
        );
        out
    }

    fn is_allowed(
        &self,
        rule: &Rule,
        ctx: &PathContext,
        path: &str,
        data: &[u8],
        m: &Match,
    ) -> bool {
        let secret = &data[m.start..m.end];
        let whole = &data[m.match_start..m.match_end];
        if let Some(min) = rule.entropy
            && allow::shannon_entropy(secret) < min
        {
            return true;
        }
        if allow::is_one_repeated_byte(secret) {
            return true;
        }
        // A plain word is no token or key, but it may well be a (weak) password: the
        // password rules keep it.
        if rule.generic && self.in_a_provider_namespace(secret) {
            return true;
        }
        if rule.generic
            && (allow::is_not_a_literal_value(secret)
                || allow::is_hash_in_hash_context(secret, whole)
                || ((allow::is_plain_word(secret) || allow::is_number_or_identifier(secret))
                    && !rule.id.contains("password")))
        {
            return true;
        }
        if rule
            .allow_value
            .as_ref()
            .is_some_and(|s| s.is_match(secret))
            || rule.allow_match.as_ref().is_some_and(|s| s.is_match(whole))
        {
            return true;
        }
        let line = allow::line_around(data, m.start);
        self.allows.iter().any(|a| {
            if !a.rules.is_empty() && !a.rules.iter().any(|id| id == &rule.id) {
                return false;
            }
            a.value.as_ref().is_some_and(|s| s.is_match(secret))
                || a.matches.as_ref().is_some_and(|s| s.is_match(whole))
                || a.line.as_ref().is_some_and(|s| s.is_match(line))
                || (!ctx.config_text
                    && !a.rules.is_empty()
                    && a.path.as_ref().is_some_and(|s| s.is_match(path.as_bytes())))
        })
    }
}

impl RuleSet {
    /// The title and severity of what a rule of this set found at `m`.
    pub fn judged(&self, m: &Match) -> (String, portcullis_model::Severity) {
        let named = m
            .named_provider
            .and_then(|i| self.provider_names.get(usize::from(i)))
            .map(|name| name.category.as_str());
        let lookalike = m
            .lookalike
            .and_then(|i| self.token_prefixes.get(usize::from(i)))
            .map(|prefix| prefix.provider.as_str());
        self.rules[m.rule].judged(m, named, lookalike)
    }

    /// The provider token prefix `value` begins with, or begins with but for one character:
    /// a changed character counts only in a prefix that ends in a separator (`ghp_`,
    /// `glrt-`; four characters or more, the separator kept) or is six characters or more
    /// (`gr1348941`), so a random value is rarely taken for one.
    fn lookalike_prefix(&self, value: &[u8]) -> Option<u16> {
        let found = self.token_prefixes.iter().position(|prefix| {
            let p = prefix.text.as_slice();
            if value.len() <= p.len() {
                return false;
            }
            let head = &value[..p.len()];
            let changed = head
                .iter()
                .zip(p)
                .filter(|(a, b)| !a.eq_ignore_ascii_case(b))
                .count();
            let separated = p.len() >= 4
                && matches!(p[p.len() - 1], b'_' | b'-' | b'.')
                && head[p.len() - 1] == p[p.len() - 1];
            changed == 0 || (changed == 1 && (separated || p.len() >= 6))
        })?;
        u16::try_from(found).ok()
    }

    /// The provider a generic match's key names, unless the key names a kind of secret that
    /// has no provider format (a webhook or signing secret, a password, an encryption key,
    /// a salt: chosen by the user, not issued by the provider). The key is cut into words
    /// (at punctuation and lower-to-upper case changes); a name matches a word, two adjacent
    /// words joined (`hugging_face`), or, when it has six letters or more, part of a word
    /// (`cloudflareToken`).
    fn provider_named_by(&self, key: &[u8]) -> Option<u16> {
        let key = &key[key.len().saturating_sub(128)..];
        let words = key_words(key);
        let chosen: Vec<&String> = words
            .iter()
            .filter(|w| USER_CHOSEN.contains(&w.as_str()))
            .collect();
        let lower = String::from_utf8_lossy(key).to_ascii_lowercase();
        self.provider_names
            .iter()
            .position(|name| {
                // A key naming a user-chosen kind of secret names the provider only when the
                // provider's own examples put that word in the key (`KRAKEN_PRIVATE_KEY`).
                if !chosen.iter().all(|w| name.user_chosen_words.contains(w)) {
                    return false;
                }
                if !name.whole_word {
                    return lower.contains(name.text.as_str());
                }
                words.iter().enumerate().any(|(i, w)| {
                    *w == name.text
                        || (name.text.len() >= 6 && w.contains(name.text.as_str()))
                        || words
                            .get(i + 1)
                            .is_some_and(|next| format!("{w}{next}") == name.text)
                })
            })
            .and_then(|n| u16::try_from(n).ok())
    }

    /// Whether `value` starts with a provider rule's token prefix (case-insensitively).
    fn in_a_provider_namespace(&self, value: &[u8]) -> bool {
        self.provider_prefixes
            .iter()
            .any(|p| value.len() > p.len() && value[..p.len()].eq_ignore_ascii_case(p))
    }
}

fn secret_span(rule: &Rule, locs: &CaptureLocations) -> Option<(usize, usize)> {
    rule.secret_groups.iter().find_map(|&g| locs.get(g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Origin;

    fn found(rules: &RuleSet, path: &str, text: &str) -> Vec<(String, String)> {
        let ctx = rules.path_context(path);
        let mut out = Vec::new();
        rules.scan(
            &ctx,
            path,
            text.as_bytes(),
            text.len(),
            &mut Scratch::default(),
            &mut out,
        );
        out.iter()
            .map(|m| {
                (
                    rules.rules()[m.rule].id.clone(),
                    text[m.start..m.end].to_string(),
                )
            })
            .collect()
    }

    const CUSTOM: &str = r#"
        [[rule]]
        id = "rule1"
        title = "Generic Rule"
        severity = "HIGH"
        keywords = ["secret"]
        regex = '''(?i)(?P<key>(secret))(=|:).{0,5}['"](?P<secret>[0-9a-zA-Z\-_=]{8,64})['"]'''
    "#;

    #[test]
    fn keywords_decide_whether_a_rule_runs() {
        let rules = RuleSet::from_toml(CUSTOM, Origin::Builtin).unwrap();
        assert_eq!(
            found(&rules, "a.txt", r#"x secret="somevalue""#),
            vec![("rule1".to_string(), "somevalue".to_string())]
        );
        let sad = RuleSet::from_toml(
            &CUSTOM.replace(r#"keywords = ["secret"]"#, r#"keywords = ["bla"]"#),
            Origin::Builtin,
        )
        .unwrap();
        assert!(found(&sad, "a.txt", r#"x secret="somevalue""#).is_empty());
    }

    #[test]
    fn overlapping_matches_keep_the_earlier_rule() {
        let rules = RuleSet::builtin();
        let text = "aws_secret_access_key = Zq8vN2r+Tk5LmW3pXy7BcD4fGh6JkLs9Qw1Er0Ty\n";
        let hits = found(&rules, "root/.aws/credentials", text);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].0, "aws-secret-access-key");
    }

    #[test]
    fn window_limit_defers_matches_to_the_next_window() {
        let rules = RuleSet::builtin();
        let text = "GITHUB_TOKEN=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";
        let ctx = rules.path_context("app/run.sh");
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        rules.scan(
            &ctx,
            "app/run.sh",
            text.as_bytes(),
            5,
            &mut scratch,
            &mut out,
        );
        assert!(out.is_empty());
        rules.scan(
            &ctx,
            "app/run.sh",
            text.as_bytes(),
            text.len(),
            &mut scratch,
            &mut out,
        );
        assert_eq!(out.len(), 1);
    }
}
