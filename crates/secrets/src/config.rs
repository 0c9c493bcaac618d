//! Secrets in the image config: ENV entries, labels and the build history's `created_by`.
//! Content rules run over the text; on top, a key that names a secret (PASSWORD, TOKEN,
//! API_KEY ...) with a literal value is a secret whatever the value looks like.

use super::allow;
use super::engine::Match;
use super::redact;
use super::rules::RuleSet;
use portcullis_model::Severity;
use regex::{Regex, RegexBuilder};
use std::sync::OnceLock;

/// The pseudo rule id of a value found by its key's name.
pub const SECRET_NAMED_KEY: &str = "secret-named-key";

/// One secret in a piece of config text, redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSecret {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub evidence: String,
    pub fingerprint: String,
    /// The key the value was assigned to, when known.
    pub key: Option<String>,
}

/// Whether a variable or label name says its value is a secret. The secret word must end
/// the name (`DB_PASSWORD`, `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`), so that `PASSWORD_FILE`,
/// `TOKEN_URL`, `GPG_KEY` and `*_PUBLIC_KEY` do not count.
pub fn names_a_secret(key: &str) -> bool {
    let normalized: String = key
        .chars()
        .map(|c| match c {
            '.' | '-' | ' ' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if matches!(normalized.as_str(), "PWD" | "OLDPWD") {
        return false;
    }
    secret_key_regex().is_match(&normalized)
}

fn secret_key_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        RegexBuilder::new(
            r"(?:^|_)(?:PASSWORD|PASSWD|PASS|PWD|PASSPHRASE|SECRET|TOKEN|APIKEY|API_KEY|ACCESS_?KEY|SECRET_?KEY|PRIVATE_?KEY|AUTH_?KEY|SIGNING_KEY|ENCRYPTION_KEY|MASTER_KEY|CREDENTIALS?|AUTH_TOKEN|KEY_BASE)(?:_?[0-9]+)?$",
        )
        .build()
        .expect("the secret key regex is valid")
    })
}

/// Whether `value` is a literal worth calling a secret: not empty, not a reference to
/// something else (`$VAR`, a path), not a placeholder the rule set allows.
pub fn is_literal_secret(rules: &RuleSet, value: &str) -> bool {
    let value = value.trim();
    let bytes = value.as_bytes();
    value.chars().count() >= 4
        && !value.bytes().all(|b| b.is_ascii_digit())
        && !allow::is_one_repeated_byte(bytes)
        && !allow::is_not_a_literal_value(bytes)
        && !rules.value_allowed(bytes)
}

/// `KEY=value` assignments in a history entry: ENV and ARG instructions (`ENV K=V`,
/// `ENV K V`, `ARG K=V`), build arguments recorded before a RUN (`|2 K=V K2=V2 /bin/sh -c`)
/// and inline assignments in the command (`TOKEN=abc make`). Yields key and value spans.
pub(crate) fn assignments(text: &str) -> Vec<(String, usize, usize)> {
    static PAIR: OnceLock<Regex> = OnceLock::new();
    static SPACED: OnceLock<Regex> = OnceLock::new();
    let pair = PAIR.get_or_init(|| {
        Regex::new(
            r#"(?:^|[\s;&|(])(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s;&|"')]+))"#,
        )
        .expect("the assignment regex is valid")
    });
    let spaced = SPACED.get_or_init(|| {
        Regex::new(r"(?:^|\s)(?:ENV|ARG|LABEL)\s+(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s+(?P<bare>[^=\s][^\n]*?)\s*$")
            .expect("the ENV regex is valid")
    });
    let mut out = Vec::new();
    for caps in pair.captures_iter(text).chain(spaced.captures_iter(text)) {
        let (Some(key), Some(value)) = (
            caps.name("key"),
            caps.name("dq")
                .or_else(|| caps.name("sq"))
                .or_else(|| caps.name("bare")),
        ) else {
            continue;
        };
        out.push((key.as_str().to_string(), value.start(), value.end()));
    }
    out
}

/// Finds the secrets in one piece of config text. `key_value` splits `KEY=value` text (ENV
/// entries, labels) at the first `=`; history entries are searched for assignments.
/// Provider rules come first, then secret-named keys, then generic rules; a stretch of text
/// yields at most one secret.
pub fn scan_config_text(rules: &RuleSet, text: &str, key_value: bool) -> Vec<ConfigSecret> {
    let matches = rules.scan_text(text);
    // Disjoint spans already taken, by start: a lookup finds an overlap.
    let mut taken: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    let overlaps = |taken: &std::collections::BTreeMap<usize, usize>, s: usize, e: usize| {
        taken.range(..e).next_back().is_some_and(|(_, &te)| te > s)
    };
    let push_match = |m: &Match, out: &mut Vec<ConfigSecret>| {
        let rule = &rules.rules()[m.rule];
        let secret = &text.as_bytes()[m.start..m.end];
        let (title, severity) = rules.judged(m);
        out.push(ConfigSecret {
            rule: rule.id.clone(),
            title,
            severity,
            evidence: redact::redact(secret),
            fingerprint: redact::fingerprint(secret),
            key: None,
        });
    };
    for m in matches.iter().filter(|m| !rules.rules()[m.rule].generic) {
        taken.insert(m.start, m.end);
        push_match(m, &mut out);
    }

    let pairs: Vec<(String, usize, usize)> = if key_value {
        text.split_once('=')
            .map(|(k, _)| (k.to_string(), k.len() + 1, text.len()))
            .into_iter()
            .collect()
    } else {
        assignments(text)
    };
    for (key, start, end) in pairs {
        let value = &text[start..end];
        if !names_a_secret(&key) || !is_literal_secret(rules, value) {
            continue;
        }
        if overlaps(&taken, start, end) {
            continue;
        }
        taken.insert(start, end);
        let secret = value.trim().as_bytes();
        out.push(ConfigSecret {
            rule: SECRET_NAMED_KEY.to_string(),
            title: "Value of a variable whose name says it is a secret".to_string(),
            severity: Severity::High,
            evidence: redact::redact(secret),
            fingerprint: redact::fingerprint(secret),
            key: Some(key),
        });
    }

    for m in matches.iter().filter(|m| rules.rules()[m.rule].generic) {
        if overlaps(&taken, m.start, m.end) {
            continue;
        }
        taken.insert(m.start, m.end);
        push_match(m, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_name_secrets() {
        for k in [
            "DB_PASSWORD",
            "MYSQL_ROOT_PASSWORD",
            "GITHUB_TOKEN",
            "API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "STRIPE_SECRET_KEY",
            "JWT_SIGNING_KEY",
            "SECRET_KEY_BASE",
            "com.example.db-password",
            "PRIVATE_KEY",
            "REDIS_PASS",
            "TOKEN_2",
        ] {
            assert!(names_a_secret(k), "{k}");
        }
        for k in [
            "GPG_KEY",
            "GPG_KEYS",
            "APP_PUBLIC_KEY",
            "PASSWORD_FILE",
            "TOKEN_URL",
            "PATH",
            "PWD",
            "PASS_MAX_DAYS",
            "BYPASS",
            "AWS_ACCESS_KEY_ID",
            "PYTHON_SHA256",
        ] {
            assert!(!names_a_secret(k), "{k}");
        }
    }

    #[test]
    fn history_assignments_are_found_in_every_builder_style() {
        let rules = RuleSet::builtin();
        let find = |t: &str| -> Vec<String> {
            scan_config_text(&rules, t, false)
                .into_iter()
                .map(|s| s.rule)
                .collect()
        };
        assert_eq!(
            find("/bin/sh -c #(nop)  ENV DB_PASSWORD=Hunter2Hunter2"),
            [SECRET_NAMED_KEY]
        );
        assert_eq!(
            find("ARG NPM_TOKEN=npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
            ["npm-access-token"]
        );
        assert_eq!(
            find("|2 DEPLOY_TOKEN=Zq8vN2rTk5Lm OTHER=1 /bin/sh -c make install"),
            [SECRET_NAMED_KEY]
        );
        assert_eq!(
            find("/bin/sh -c #(nop)  ENV API_KEY Zq8vN2rTk5Lm"),
            [SECRET_NAMED_KEY]
        );
        assert_eq!(
            find("RUN /bin/sh -c mysql -uroot -pS3cretPassw0rd < /init.sql"),
            ["cli-password-flag"]
        );
        assert_eq!(
            find("RUN /bin/sh -c docker login --password Zq8vN2rTk5Lm registry.corp.test"),
            ["cli-password-flag"]
        );
        for quiet in [
            "/bin/sh -c apk add --no-cache curl=8.5.0-r0 git=2.43.0-r0",
            "/bin/sh -c #(nop)  ENV GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
            "/bin/sh -c #(nop)  ARG GITHUB_TOKEN",
            "/bin/sh -c #(nop)  ENV DB_PASSWORD_FILE=/run/secrets/db",
            "RUN /bin/sh -c echo $DB_PASSWORD | docker login --password-stdin",
            "/bin/sh -c #(nop)  ENV APP_PUBLIC_KEY=MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
        ] {
            assert!(find(quiet).is_empty(), "{quiet}: {:?}", find(quiet));
        }
    }
}
