//! Masking secrets in text quoted from the image.
//!
//! A finding quotes the image to say what it found: a `created_by` line, an ENV entry, a
//! label, `config.User`, a line of a file, a URL. Any of these can hold a credential the
//! finding is not about: a token in a build argument of the `RUN` that `config-add-remote`
//! quotes, the password of `curl -u user:pass`, a URL's `user:password@`. [`scrub`] masks
//! every secret-shaped value in such text with the same rule set and the same format
//! (`ghp_******** (40 chars)`) as secret findings, so the gate can pass every string of a
//! report through it once, before any renderer or the signer sees it.
//!
//! What is masked:
//!
//! - whatever a content rule of the rule set that holds for any file matches (provider
//!   tokens, private keys, generic `password = "…"` assignments; not the rules of one file
//!   format, such as `.netrc`'s `password WORD`, which would take prose for a secret);
//! - the literal value of a `KEY=value` assignment whose key names a secret (ENV, ARG,
//!   LABEL, BuildKit's `|N KEY=value` build arguments, inline `TOKEN=… make`);
//! - the password of a URL's `user:password@`;
//! - `-u user:pass` / `--user user:pass` / `--proxy-user` (curl, wget);
//! - the value of a flag that names a secret: `--password X`, `--token=X`, `--api-key X`,
//!   and `-p X` after `docker|podman|helm|… login`;
//! - credentials in `Authorization:`, `Proxy-Authorization:` and API-key headers.
//!
//! Values that are not literals (`$TOKEN`, `${PASS}`, `/run/secrets/x`) and values already
//! masked are left as they are, so scrubbing is idempotent.
//!
//! A check may also quote a piece of image text cut out of its context (the group half of
//! a `config.User` of `https://bot:pw@host`), where no shape is left to see. A [`Scrubber`]
//! therefore also learns the secret values of the image's own texts (its history, ENV,
//! labels, user, command) whole, and masks those values wherever they turn up.

use super::allow;
use super::config::{assignments, is_literal_secret, names_a_secret};
use super::redact;
use super::rules::RuleSet;
use regex::{Regex, RegexBuilder};
use std::borrow::Cow;
use std::sync::OnceLock;

/// The mask [`redact::redact`] writes: text holding it has been scrubbed already.
const MASK: &str = "********";

/// `text` with every secret-shaped value masked; borrowed when there is nothing to mask.
pub fn scrub<'a>(rules: &RuleSet, text: &'a str) -> Cow<'a, str> {
    mask(text, &secret_spans(rules, text))
}

/// Scrubs `text` in place; whether anything was masked.
pub fn scrub_in_place(rules: &RuleSet, text: &mut String) -> bool {
    match scrub(rules, text) {
        Cow::Borrowed(_) => false,
        Cow::Owned(masked) => {
            *text = masked;
            true
        }
    }
}

/// Secret values shorter than this are not learnt: too likely to occur in other text.
const MIN_KNOWN: usize = 6;

/// [`scrub`], plus the secret values learnt from the image's own texts, masked wherever
/// they occur.
pub struct Scrubber<'r> {
    rules: &'r RuleSet,
    known: Option<aho_corasick::AhoCorasick>,
}

impl<'r> Scrubber<'r> {
    /// A scrubber that knows the secret values in `sources` (the image's config texts).
    pub fn new<'a>(rules: &'r RuleSet, sources: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values: Vec<&str> = Vec::new();
        for text in sources {
            for (start, end) in secret_spans(rules, text) {
                if end - start >= MIN_KNOWN {
                    values.push(&text[start..end]);
                }
            }
        }
        values.sort_unstable();
        values.dedup();
        let known = (!values.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                    .build(&values)
                    .ok()
            })
            .flatten();
        Scrubber { rules, known }
    }

    /// `text` with its secret-shaped values and the known secret values masked.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut spans = secret_spans(self.rules, text);
        if let Some(known) = &self.known {
            spans.extend(known.find_iter(text).map(|m| (m.start(), m.end())));
            spans = merge(spans);
        }
        mask(text, &spans)
    }

    /// Scrubs `text` in place.
    pub fn scrub_in_place(&self, text: &mut String) {
        if let Cow::Owned(masked) = self.scrub(text) {
            *text = masked;
        }
    }
}

/// `text` with the sorted, disjoint `spans` masked.
fn mask<'a>(text: &'a str, spans: &[(usize, usize)]) -> Cow<'a, str> {
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(start, end) in spans {
        out.push_str(&text[at..start]);
        out.push_str(&redact::redact(&text.as_bytes()[start..end]));
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Sorts spans and merges those that overlap.
fn merge(mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Scrubs every string in a JSON value (object keys are names the gate chose, values may
/// quote the image).
pub fn scrub_json(rules: &RuleSet, value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            scrub_in_place(rules, s);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(rules, v)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub_json(rules, v)),
        _ => {}
    }
}

/// The byte ranges to mask, sorted, merged where they overlap, on char boundaries.
fn secret_spans(rules: &RuleSet, text: &str) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = rules
        .scan_quoted_text(text)
        .into_iter()
        .map(|m| (m.start, m.end))
        .collect();
    for (key, start, end) in assignments(text) {
        if names_a_secret(&key) && is_literal_secret(rules, &text[start..end]) {
            spans.push((start, end));
        }
    }
    for re in shapes() {
        for caps in re.captures_iter(text) {
            let Some(value) = caps.name("v") else {
                continue;
            };
            if is_literal(value.as_str()) {
                spans.push((value.start(), value.end()));
            }
        }
    }
    spans.retain(|&(s, e)| {
        s < e
            && text.is_char_boundary(s)
            && text.is_char_boundary(e)
            && !text[s..e].contains(MASK)
            && !is_masked_around(text, s, e)
    });
    merge(spans)
}

/// Whether a value is a literal (not `$VAR`, a path or a placeholder of filler).
fn is_literal(value: &str) -> bool {
    let bytes = value.as_bytes();
    !value.is_empty()
        && !value.bytes().all(|b| b.is_ascii_digit())
        && !allow::is_not_a_literal_value(bytes)
        && !allow::is_one_repeated_byte(bytes)
}

/// Whether the span is the prefix of an earlier mask (`ghp_******** (40 chars)`), which a
/// rule could otherwise take for a value.
fn is_masked_around(text: &str, start: usize, end: usize) -> bool {
    text[end..].starts_with(MASK) || text[..start].ends_with(MASK)
}

/// The credential shapes of command lines, URLs and headers; the value is group `v`.
fn shapes() -> &'static [Regex] {
    static SHAPES: OnceLock<Vec<Regex>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        [
            // scheme://user:password@host
            r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\x22]*:(?P<v>[^\s/@'\x22]+)@",
            // curl/wget -u user:pass, --user user:pass, --user=user:pass, --proxy-user
            r"(?:^|[\s'\x22])(?:-u\s*|--(?:proxy-)?user(?:=|\s+))['\x22]?[^\s:'\x22]+:(?P<v>[^\s'\x22]+)",
            // --password X, --token=X, --api-key X, --client-secret X (not --password-stdin)
            r"(?i)(?:^|[\s'\x22])--?(?:[a-z0-9]+[-_])*(?:password|passwd|pass|passphrase|token|secret|api[-_]?key|access[-_]key|secret[-_]key|private[-_]key)(?:=|\s+)['\x22]?(?P<v>[^\s'\x22-][^\s'\x22]*)",
            // docker|podman|helm|oras|skopeo|buildah login ... -p X
            r"(?:docker|podman|helm|oras|skopeo|buildah|nerdctl|crane)\s+(?:registry\s+)?login\b[^;&|\n]*?\s-p\s*['\x22]?(?P<v>[^\s'\x22]+)",
            // Authorization: Bearer X, Authorization: Basic X, Proxy-Authorization: X
            r"(?i)(?:proxy-)?authorization\s*:\s*(?:(?:bearer|basic|token|digest|apikey|api-key|negotiate)\s+)?(?P<v>[^\s'\x22]+)",
            // API-key headers
            r"(?i)(?:x-api-key|api-key|apikey|private-token|x-auth-token|x-vault-token|x-access-token|job-token)\s*:\s*(?P<v>[^\s'\x22]+)",
        ]
        .iter()
        .map(|p| {
            RegexBuilder::new(p)
                .size_limit(1 << 22)
                .build()
                .expect("the credential shape regexes are valid")
        })
        .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> String {
        scrub(&RuleSet::builtin(), text).into_owned()
    }

    const GHP: &str = "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";

    #[test]
    fn provider_tokens_are_masked_where_they_stand() {
        let text = format!("RUN |1 GH={GHP} /bin/sh -c make");
        assert_eq!(
            s(&text),
            "RUN |1 GH=ghp_******** (40 chars) /bin/sh -c make"
        );
    }

    #[test]
    fn each_credential_shape_is_masked() {
        for (text, secret) in [
            (
                "curl -u deploy:P4ssw0rd-x https://example.com/a",
                "P4ssw0rd-x",
            ),
            ("curl --user deploy:P4ssw0rd-x https://x", "P4ssw0rd-x"),
            ("curl --user=deploy:P4ssw0rd-x https://x", "P4ssw0rd-x"),
            (
                "wget https://deploy:Hunter2hunter@example.com/x",
                "Hunter2hunter",
            ),
            ("mysql --password S3cretValue1 db", "S3cretValue1"),
            ("tool --api-key=ak_live_12345678 run", "ak_live_12345678"),
            (
                "docker login -u me -p Sup3rPass reg.example.com",
                "Sup3rPass",
            ),
            (
                "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc' https://x",
                "eyJhbGciOiJIUzI1NiJ9.abc",
            ),
            (
                "curl -H \"PRIVATE-TOKEN: glpat-abcdefghij\" x",
                "glpat-abcdefghij",
            ),
            ("DB_PASSWORD=correcthorse", "correcthorse"),
            ("ENV API_KEY s3cr3tvalue", "s3cr3tvalue"),
        ] {
            let out = s(text);
            assert!(!out.contains(secret), "{text} -> {out}");
            assert!(out.contains(MASK), "{text} -> {out}");
        }
    }

    #[test]
    fn references_and_plain_text_are_left_alone() {
        for text in [
            "curl -u \"$USER:$PASS\" https://example.com",
            "docker login --password-stdin < /run/secrets/reg",
            "DB_PASSWORD=$DB_PASSWORD",
            "apt-get update && apt-get install -y curl",
            "https://deb.debian.org/debian bookworm main",
            "user:root",
            "/usr/bin/sudo",
        ] {
            assert_eq!(s(text), text);
        }
    }

    #[test]
    fn scrubbing_is_idempotent() {
        let text = format!("curl -u a:P4ssw0rd-x -H 'Authorization: token {GHP}' x");
        let once = s(&text);
        assert_eq!(s(&once), once);
        assert!(
            !once.contains("P4ssw0rd-x") && !once.contains(GHP),
            "{once}"
        );
    }

    #[test]
    fn a_scrubber_masks_known_values_cut_out_of_their_context() {
        let rules = RuleSet::builtin();
        let user = "https://bot:Url4-P4ss-zq9@example.com/x";
        let scrubber = Scrubber::new(&rules, [user, "PATH=/usr/bin"]);
        // The group half of a `user:group` split has no URL shape left.
        let group = "group \"//bot:Url4-P4ss-zq9@example.com/x\" is not defined";
        assert_eq!(s(group), group, "no shape without the scheme");
        let masked = scrubber.scrub(group);
        assert!(!masked.contains("Url4-P4ss-zq9"), "{masked}");
        assert_eq!(scrubber.scrub("/usr/bin/env"), "/usr/bin/env");
    }

    #[test]
    fn json_strings_are_scrubbed_everywhere() {
        let mut value = serde_json::json!({"a": [format!("x {GHP}")], "b": {"c": "plain"}});
        scrub_json(&RuleSet::builtin(), &mut value);
        assert_eq!(value["a"][0], "x ghp_******** (40 chars)");
        assert_eq!(value["b"]["c"], "plain");
    }
}
