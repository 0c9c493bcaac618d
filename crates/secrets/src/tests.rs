use super::*;

fn builtin() -> Arc<RuleSet> {
    RuleSet::builtin()
}

fn rule_ids(hits: &[SecretHit]) -> Vec<&str> {
    hits.iter().map(|h| h.rule.as_str()).collect()
}

/// A path each rule applies to: path-limited rules get a file of their kind, the others an
/// ordinary application file (`default`).
fn sample_path<'a>(rule: &Rule, default: &'a str) -> &'a str {
    match rule.id.as_str() {
        "netrc-password" => "root/.netrc",
        "htpasswd-hash" => "etc/nginx/.htpasswd",
        "generic-secret-block" => "app/deploy.ini",
        "env-file-random-value" => "app/.env",
        "nuget-config-password" => "app/NuGet.Config",
        "terraform-password" => "app/infra/main.tf",
        _ => default,
    }
}

/// One rule set per built-in rule, in the built-in order, holding that rule alone (and every
/// allow rule): what the rule finds by itself, before overlaps with other rules are resolved.
/// Compiled once for the tests that need it.
fn each_rule_alone() -> &'static [Arc<RuleSet>] {
    static ALONE: std::sync::OnceLock<Vec<Arc<RuleSet>>> = std::sync::OnceLock::new();
    ALONE.get_or_init(|| {
        let rules = builtin();
        rules
            .rules()
            .iter()
            .map(|rule| {
                let others = rules
                    .rules()
                    .iter()
                    .filter(|r| r.id != rule.id)
                    .map(|r| r.id.as_str());
                Arc::new(rules.disable(others).unwrap())
            })
            .collect()
    })
}

fn content_hits(rules: &Arc<RuleSet>, path: &str, text: &str) -> Vec<SecretHit> {
    let (hits, _) = scan_file(rules, path, text.as_bytes(), 64);
    hits.into_iter()
        .filter(|h| h.kind == HitKind::Content)
        .collect()
}

#[test]
fn the_builtin_rules_compile_and_cover_the_required_families() {
    let rules = builtin();
    assert!(rules.rules().len() >= 200, "{} rules", rules.rules().len());
    for category in [
        "aws",
        "gcp",
        "azure",
        "github",
        "gitlab",
        "slack",
        "discord",
        "stripe",
        "npm",
        "pypi",
        "rubygems",
        "docker",
        "maven",
        "openai",
        "huggingface",
        "private-key",
        "jwt",
        "generic",
    ] {
        assert!(
            rules.rules().iter().any(|r| r.category == category),
            "no rule for {category}"
        );
    }
    for rule in rules.rules() {
        assert!(
            !rule.keywords.is_empty() || rule.pattern().contains("(?m)"),
            "{} has no keyword",
            rule.id
        );
        assert!(
            rule.examples.len() >= 2,
            "{} needs two examples or more",
            rule.id
        );
        assert!(
            rule.counterexamples.len() >= 2,
            "{} needs two counterexamples or more",
            rule.id
        );
    }
}

#[test]
fn every_rule_finds_its_examples_and_the_secret_never_leaks() {
    let rules = builtin();
    let mut failures = Vec::new();
    for rule in rules.rules() {
        let path = sample_path(rule, "app/settings.yaml");
        for example in &rule.examples {
            let content = content_hits(&rules, path, example);
            match content.as_slice() {
                [hit] if hit.rule == rule.id => {
                    assert!(hit.evidence.ends_with(" chars)"));
                    assert!(!example.contains(&hit.evidence));
                }
                other => failures.push(format!(
                    "{}: {example:?} gave {:?}",
                    rule.id,
                    other.iter().map(|h| h.rule.as_str()).collect::<Vec<_>>()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_rule_finds_its_counterexamples() {
    let rules = builtin();
    let mut failures = Vec::new();
    for (rule, alone) in rules.rules().iter().zip(each_rule_alone()) {
        let path = sample_path(rule, "app/config.env");
        for counterexample in &rule.counterexamples {
            if !content_hits(alone, path, counterexample).is_empty() {
                failures.push(format!("{}: {counterexample:?}", rule.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "rules that find their counterexamples:\n{}",
        failures.join("\n")
    );
}

#[test]
fn each_example_belongs_to_one_provider_rule() {
    // Overlapping matches go to the earlier rule, so an example another rule also matches
    // is reported under whichever comes first. Only the catch-alls may overlap: the generic
    // rules (assignments, URLs, headers), which come after every provider rule, and rules
    // that name in `overlaps` the earlier rules whose tokens they also match.
    let rules = builtin();
    let alone: Vec<_> = rules.rules().iter().zip(each_rule_alone()).collect();
    let position = |id: &str| rules.rules().iter().position(|r| r.id == id);
    let mut failures = Vec::new();
    for rule in rules.rules() {
        for id in &rule.overlaps {
            assert!(
                position(id) < position(&rule.id),
                "{} overlaps {id}, which must come before it",
                rule.id
            );
        }
        let path = sample_path(rule, "app/settings.yaml");
        for example in &rule.examples {
            let lower = example.to_ascii_lowercase();
            for (other, other_alone) in &alone {
                if other.id == rule.id
                    || other.generic
                    || other.category == "generic"
                    || other.overlaps.contains(&rule.id)
                {
                    continue;
                }
                // What the keyword prefilter would skip cannot match.
                if !other.keywords.is_empty()
                    && !other
                        .keywords
                        .iter()
                        .any(|k| lower.contains(&k.to_ascii_lowercase()))
                {
                    continue;
                }
                if !content_hits(other_alone, path, example).is_empty() {
                    failures.push(format!("{} also finds {}: {example:?}", other.id, rule.id));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn keywords_of_each_rule_occur_in_what_it_matches() {
    // The prefilter is only sound if a rule cannot match without one of its keywords.
    let rules = builtin();
    for rule in rules.rules() {
        if rule.keywords.is_empty() {
            continue;
        }
        for example in &rule.examples {
            let lower = example.to_ascii_lowercase();
            assert!(
                rule.keywords
                    .iter()
                    .any(|k| lower.contains(&k.to_ascii_lowercase())),
                "{}: no keyword in {example:?}",
                rule.id
            );
        }
    }
}

#[test]
fn placeholders_and_doc_examples_do_not_fire() {
    let rules = builtin();
    for text in [
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "DB_PASSWORD=changeme",
        "DB_PASSWORD=${DB_PASSWORD}",
        "password: {{ vault_db_password }}",
        "api_token: your-api-token-here",
        "API_KEY=xxxxxxxxxxxxxxxxxxxxxxxx",
        "password = <your password>",
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "password = 12345678901234  # pragma: allowlist secret",
        "password_file = /run/secrets/db",
        "secret_name: my-app-secrets",
        "token_url: https://auth.corp.test/token",
        "password: ********",
    ] {
        let (hits, _) = scan_file(&rules, "app/config.yaml", text.as_bytes(), 64);
        assert!(hits.is_empty(), "{text:?} fired {:?}", rule_ids(&hits));
    }
}

/// Files a package manager owns are skipped; an application's own docs, tests and examples
/// ship with it, so a provider token there is reported at its severity and only generic
/// matches are lowered.
#[test]
fn package_files_are_skipped_and_app_docs_only_lower_generic_matches() {
    let rules = builtin();
    let token = b"GITHUB_TOKEN=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\n";
    for path in [
        "usr/share/doc/git/README",
        "usr/share/man/man1/x.1",
        "usr/share/locale/de/LC_MESSAGES/x.po",
        "usr/share/licenses/x/LICENSE",
        "usr/lib/python3/site-packages/x/tests/test_auth.py",
        "usr/local/lib/python3.11/dist-packages/x/docs/guide.md",
        "app/node_modules/x/index.js",
        "app/package-lock.json",
        "app/logo.png",
        "usr/include/linux/if.h",
        "usr/lib/python3.11/smtplib.py",
        "usr/share/perl/5.36/Net/FTP.pm",
        "var/lib/dpkg/info/git.postinst",
    ] {
        let (hits, _) = scan_file(&rules, path, token, 4096);
        assert!(hits.is_empty(), "{path} fired");
    }
    for path in [
        "app/run.sh",
        "app/README.md",
        "app/docs/setup.md",
        "app/testdata/secret.txt",
        "app/examples/run.sh",
        "app/.env.example",
    ] {
        let (hits, _) = scan_file(&rules, path, token, 4096);
        assert_eq!(rule_ids(&hits), ["github-pat"], "{path}");
        assert_eq!(hits[0].line, Some(1));
    }
    // An AWS key in the application's documentation is a leak; AWS's own documentation
    // pair is not.
    let aws = b"export AWS_ACCESS_KEY_ID=AKIAH526QP3UM3YEW2SV\n";
    let (hits, _) = scan_file(&rules, "app/docs/setup.md", aws, 4096);
    assert_eq!(rule_ids(&hits), ["aws-access-key-id"]);
    assert_eq!(hits[0].severity, Severity::Critical);
    let doc_pair = b"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n";
    let (hits, _) = scan_file(&rules, "app/docs/setup.md", doc_pair, 4096);
    assert!(hits.is_empty());
    // A generic assignment in docs is reported, low, and says why.
    let generic = b"db_password = Qm8vT2xkZW5XaW5k3\n";
    let (hits, _) = scan_file(&rules, "app/config/app.yaml", generic, 4096);
    assert_eq!(rule_ids(&hits), ["generic-password"]);
    assert_eq!(hits[0].severity, Severity::High);
    let (hits, _) = scan_file(&rules, "app/examples/app.yaml", generic, 4096);
    assert_eq!(rule_ids(&hits), ["generic-password"]);
    assert_eq!(hits[0].severity, Severity::Low);
    assert!(hits[0].title.contains("generic match"), "{}", hits[0].title);
}

/// A GitHub or npm token whose checksum fails is low, and says so; one whose checksum
/// holds keeps the rule's severity.
#[test]
fn token_checksums_decide_confidence() {
    let rules = builtin();
    let random = "R8kLmN2pQ4sT6vX8zA1cE3gI5kM7oQ";
    for (prefix, rule) in [
        ("ghp_", "github-pat"),
        ("gho_", "github-oauth-token"),
        ("ghs_", "github-app-token"),
        ("ghr_", "github-refresh-token"),
        ("npm_", "npm-access-token"),
    ] {
        let good = crate::checksum::with_checksum(prefix, random);
        let text = format!("TOKEN={good}\n");
        let (hits, _) = scan_file(&rules, "app/run.sh", text.as_bytes(), 4096);
        assert_eq!(rule_ids(&hits), [rule], "{good}");
        assert!(hits[0].severity >= Severity::High, "{good}");
        let mut bad = good.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let text = format!("TOKEN={}\n", String::from_utf8(bad).unwrap());
        let (hits, _) = scan_file(&rules, "app/run.sh", text.as_bytes(), 4096);
        assert_eq!(rule_ids(&hits), [rule]);
        assert_eq!(hits[0].severity, Severity::Low);
        assert!(hits[0].title.contains("checksum"), "{}", hits[0].title);
    }
}

#[test]
fn binaries_are_skipped_but_text_in_pyc_is_scanned() {
    let rules = builtin();
    let mut binary = vec![0x7f, b'E', b'L', b'F', 0, 0, 0];
    binary.extend_from_slice(b"GITHUB_TOKEN=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\n");
    let (hits, _) = scan_file(&rules, "usr/bin/tool", &binary, 4096);
    assert!(hits.is_empty());
    let (hits, _) = scan_file(
        &rules,
        "app/__pycache__/settings.cpython-311.pyc",
        &binary,
        4096,
    );
    assert_eq!(rule_ids(&hits), ["github-pat"]);
    assert_eq!(hits[0].line, None);
}

#[test]
fn secrets_across_window_boundaries_are_found_once_with_their_line() {
    let rules = builtin();
    let mut text = Vec::new();
    let mut expected = Vec::new();
    // Lines of filler, with a token every so often, spanning several windows.
    for (line, i) in (1u32..).zip(0..60_000u32) {
        if i % 7919 == 0 {
            text.extend_from_slice(
                format!(
                    "TOKEN{i}=ghp_R8kLmN2pQ4sT6vX8zA1cE3gI5kM7oQ9s{:04}\n",
                    i % 10_000
                )
                .as_bytes(),
            );
            expected.push(line);
        } else {
            text.extend_from_slice(b"filler line of an ordinary log file, nothing to see\n");
        }
    }
    assert!(text.len() > 2 * WINDOW);
    for chunk in [4096, 65536, 1 << 20] {
        let (hits, _) = scan_file(&rules, "var/log/app.log", &text, chunk);
        let lines: Vec<u32> = hits.iter().filter_map(|h| h.line).collect();
        assert_eq!(lines, expected, "chunk {chunk}");
    }
}

#[test]
fn a_private_key_reports_its_first_and_last_line() {
    let rules = builtin();
    let key = "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234567890abcdefghijklmnopqrstuvwxyz\nABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890abcdefghijklmnop\n-----END RSA PRIVATE KEY-----\n";
    let (hits, _) = scan_file(&rules, "app/key.txt", key.as_bytes(), 16);
    assert_eq!(rule_ids(&hits), ["private-key-rsa"]);
    assert_eq!((hits[0].line, hits[0].end_line), (Some(3), Some(4)));
}

#[test]
fn credential_files_fire_when_no_rule_matches_and_only_then() {
    let rules = builtin();
    let (hits, _) = scan_file(&rules, "root/.netrc", b"machine h login u password p\n", 64);
    assert_eq!(rule_ids(&hits), ["netrc-file"]);
    assert_eq!(hits[0].kind, HitKind::CredentialFile);

    let (hits, _) = scan_file(
        &rules,
        "root/.netrc",
        b"machine h login u password Zq8vN2rTk5Lm\n",
        64,
    );
    assert_eq!(rule_ids(&hits), ["netrc-password"]);

    let (hits, _) = scan_file(&rules, "root/.ssh/id_rsa.pub", b"ssh-rsa AAAA u@h\n", 64);
    assert!(hits.is_empty());
    let (hits, _) = scan_file(
        &rules,
        "root/.docker/config.json",
        br#"{"credsStore": "desktop"}"#,
        64,
    );
    assert!(hits.is_empty());
    let (hits, _) = scan_file(&rules, "app/keystore.jks", b"\xfe\xed\xfe\xed\0\0", 64);
    assert_eq!(rule_ids(&hits), ["keystore-file"]);
}

#[test]
fn leftovers_are_reported_once() {
    let rules = builtin();
    let (hits, _) = scan_file(&rules, "app/Dockerfile", b"FROM scratch\n", 64);
    assert_eq!(rule_ids(&hits), ["build-file"]);
    let (hits, _) = scan_file(&rules, "root/.bash_history", b"ls\n", 64);
    assert_eq!(rule_ids(&hits), ["shell-history"]);

    let mut analyzer = SecretsAnalyzer::new(rules.clone());
    for path in [
        "app/.git/objects/ab/cdef",
        "app/.git/HEAD",
        "app/.git/config",
    ] {
        let entry = Entry {
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 3,
            special: None,
        };
        if analyzer.interest(&entry) == Interest::Stream {
            analyzer.chunk(&entry, 0, b"[c]");
            analyzer.end(&entry);
        }
    }
    let (secrets, _) = analyzer.finish();
    assert_eq!(rule_ids(&secrets), ["git-directory"]);
    assert_eq!(secrets[0].path, "app/.git");
    assert_eq!(secrets[0].anchor.as_deref(), Some("app/.git/HEAD"));
}

#[test]
fn large_text_files_are_skipped_with_a_note() {
    let rules = builtin();
    let mut analyzer = SecretsAnalyzer::new(rules);
    let entry = Entry {
        path: "var/dump.sql".into(),
        kind: EntryKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: MAX_SCAN_SIZE + 1,
        special: None,
    };
    assert_eq!(analyzer.interest(&entry), Interest::Stream);
    analyzer.chunk(
        &entry,
        0,
        b"INSERT INTO t VALUES ('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');\n",
    );
    analyzer.end(&entry);
    let (secrets, notes) = analyzer.finish();
    assert!(secrets.is_empty());
    assert_eq!(notes.len(), 1);
    assert!(!notes[0].message.contains("ghp_"));
}

#[test]
fn users_extend_replace_and_disable_rules() {
    let rules = builtin();
    let user = r#"
        disable = ["jwt-token", "tests"]

        [[rule]]
        id = "acme-api-key"
        title = "ACME API key"
        category = "acme"
        severity = "critical"
        keywords = ["acme_"]
        regex = '''\b(?P<secret>acme_[a-z0-9]{24})\b'''

        [[allow]]
        id = "acme-sandbox"
        description = "sandbox keys are public"
        value = ['''^acme_sandbox''']
    "#;
    let extended = Arc::new(rules.with_user_toml(user, "team.toml").unwrap());
    assert_eq!(extended.rules().len(), rules.rules().len());
    assert!(extended.rule("jwt-token").is_none());
    assert_eq!(
        extended.rule("acme-api-key").unwrap().origin,
        Origin::User("team.toml".into())
    );
    assert_ne!(extended.digest(), rules.digest());

    let (hits, _) = scan_file(
        &extended,
        "app/tests/conf.txt",
        b"key acme_k3y0n3k3y0n3k3y0n3k3y0n3\nkey acme_sandbox0000000000000001\n",
        64,
    );
    assert_eq!(rule_ids(&hits), ["acme-api-key"]);

    let fewer = rules.disable(["github-pat"]).unwrap();
    assert!(fewer.rule("github-pat").is_none());
    assert!(matches!(
        rules.disable(["no-such-rule"]),
        Err(RulesError::UnknownId(_))
    ));
    let bad = rules.with_user_toml(
        "[[rule]]\nid = \"x\"\ntitle = \"x\"\nregex = '(?P<s>a)'",
        "bad.toml",
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("no group named \"secret\"")
    );
    let bad = rules.with_user_toml(
        "[[rule]]\nid = \"Bad Id\"\ntitle = \"x\"\nregex = 'x'",
        "bad.toml",
    );
    assert!(bad.is_err());
    let bad = rules.with_user_toml(
        "[[rule]]\nid = \"x\"\ntitle = \"x\"\nregex = '(?P<secret>x)'\noverlaps = [\"no-such-rule\"]",
        "bad.toml",
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("overlaps names unknown rule \"no-such-rule\"")
    );
}

#[test]
fn the_documentation_lists_every_rule_and_its_example_file_compiles() {
    let doc = include_str!("../../../docs/secrets.md");
    let rules = builtin();
    for rule in rules.rules() {
        assert!(
            doc.contains(&format!("`{}`", rule.id)),
            "docs/secrets.md misses {}",
            rule.id
        );
    }
    for allow in rules.allows() {
        assert!(
            doc.contains(&format!("`{}`", allow.id)),
            "docs/secrets.md misses {}",
            allow.id
        );
    }
    assert!(doc.contains(&format!("({} rules)", rules.rules().len())));
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML example");
    let extended = Arc::new(rules.with_user_toml(example, "docs/secrets.md").unwrap());
    let rule = extended.rule("acme-api-key").expect("the example rule");
    for text in &rule.examples {
        let (hits, _) = scan_file(&extended, "app/settings.yaml", text.as_bytes(), 64);
        assert_eq!(rule_ids(&hits), ["acme-api-key"]);
    }
}

/// Issue 14, item 1: every built-in rule says what it matches, and (generic rules aside)
/// names the token's format and where it is documented, or says that none is published.
#[test]
fn every_builtin_rule_has_a_description_naming_its_format() {
    let rules = builtin();
    let mut missing = Vec::new();
    let mut no_format = Vec::new();
    for rule in rules.rules() {
        let description = rule.description.as_deref().unwrap_or("").trim();
        if description.is_empty() {
            missing.push(rule.id.as_str());
        } else if !rule.generic && !description.to_ascii_lowercase().contains("format") {
            no_format.push(rule.id.as_str());
        }
    }
    assert!(
        missing.is_empty(),
        "rules without a description: {missing:?}"
    );
    assert!(
        no_format.is_empty(),
        "provider rules whose description names no format (nor says none is published): {no_format:?}"
    );
}

/// A value in a provider's namespace that the provider's rule rejects (too short, a wrong
/// charset) is not reported again by the generic rules; a random value under a secret-named
/// key still is.
#[test]
fn rejected_provider_tokens_are_not_generic_secrets() {
    let rules = builtin();
    for text in [
        "github_token = ghp_tooShort123\n",
        "PLANETSCALE_PASSWORD=pscale_pw_5scX1KHqAV03rd\n",
        "slack_token: xoxb-123-abc\n",
    ] {
        let (hits, _) = scan_file(&rules, "app/settings.yaml", text.as_bytes(), 4096);
        assert!(hits.is_empty(), "{text}: {:?}", rule_ids(&hits));
    }
    let (hits, _) = scan_file(
        &rules,
        "app/settings.yaml",
        b"api_token = Xq7a9Lk2mN4pR6tV8wY0zB1c\n",
        4096,
    );
    assert_eq!(rule_ids(&hits), ["generic-secret"]);
}

/// A generic secret under a key that names a provider with rules, whose value none of
/// them accepts, is reported low with the reason; a key naming a user-chosen secret of the
/// same provider (a webhook secret) and a key naming no provider keep the rule's severity.
#[test]
fn a_value_not_in_the_format_of_the_provider_its_key_names_is_low() {
    let rules = builtin();
    for text in [
        "DATADOG_TOKEN=Xq7a9Lk2mN4pR6tV8wY0zB1c\n",
        "hugging_face_token: Xq7a9Lk2mN4pR6tV8wY0zB1c\n",
        "cloudflareApiToken = \"Xq7a9Lk2mN4pR6tV8wY0zB1c\"\n",
    ] {
        let (hits, _) = scan_file(&rules, "app/settings.yaml", text.as_bytes(), 4096);
        assert_eq!(rule_ids(&hits), ["generic-secret"], "{text}");
        assert_eq!(hits[0].severity, Severity::Low, "{text}");
        assert!(hits[0].title.contains("the key names"), "{}", hits[0].title);
    }
    for text in [
        "GITHUB_WEBHOOK_SECRET=Xq7a9Lk2mN4pR6tV8wY0zB1c\n",
        "ORDERS_API_TOKEN=Xq7a9Lk2mN4pR6tV8wY0zB1c\n",
        "NPM_TOKEN=Xq7a9Lk2mN4pR6tV8wY0zB1c\n",
    ] {
        let (hits, _) = scan_file(&rules, "app/settings.yaml", text.as_bytes(), 4096);
        assert_eq!(rule_ids(&hits), ["generic-secret"], "{text}");
        assert_eq!(hits[0].severity, Severity::High, "{text}");
    }
    // The provider's own format is the provider rule's finding, at its severity.
    let (hits, _) = scan_file(
        &rules,
        "app/settings.yaml",
        b"DD_API_KEY=9a9b63ff9778b6ff04acfa066c82ee62\n",
        4096,
    );
    assert_eq!(rule_ids(&hits), ["datadog-api-key"]);
    assert_eq!(hits[0].severity, Severity::High);
}

/// A generic secret whose value begins with a provider's token prefix (as the provider
/// rule's examples show it), or with a one-character change of a distinctive one, that no
/// provider rule took, is reported low with the reason; so is one under a key a `ci`
/// rule's names give (`SONAR_TOKEN`). A value without such a prefix keeps its severity.
#[test]
fn a_value_that_only_looks_like_a_provider_token_is_low() {
    let rules = builtin();
    for (text, reason) in [
        (
            "refresh_token=ghx_4r6p8gf8En89wR3n71JdW3Mpy806fyGNrNDM3RJy3EfR8IZgjh2mudN11aQ2XSpx\n",
            "begins like a GitHub",
        ),
        (
            "CI_DEPLOY_PASSWORD=nldt-ijTOmPSiRefHHd6o0TGD\n",
            "begins like a GitLab",
        ),
        (
            "client_secret: ek_decfbb6796f6c45573bacb46b280ea3\n",
            "begins like a",
        ),
        (
            "SONAR_TOKEN=zqu_89269fae2bddf64214fdf4710b39e26593c272f2\n",
            "the key names sonar",
        ),
        (
            "DRONE_TOKEN=nkzu1gLmt272bs7nq3rpHiVCzo7WOXC\n",
            "the key names drone",
        ),
    ] {
        let (hits, _) = scan_file(&rules, "app/settings.yaml", text.as_bytes(), 4096);
        assert_eq!(hits.len(), 1, "{text}: {:?}", rule_ids(&hits));
        assert_eq!(hits[0].severity, Severity::Low, "{text}");
        assert!(hits[0].title.contains(reason), "{text}: {}", hits[0].title);
    }
    for text in [
        "api_token = Xq7a9Lk2mN4pR6tV8wY0zB1c\n",
        "client_secret: \"q7_Lk2mN4pR6tV8wY0zB1cX\"\n",
        "DEPLOY_PASSWORD=zq8-ijTOmPSiRefHHd6o0TGD\n",
    ] {
        let (hits, _) = scan_file(&rules, "app/settings.yaml", text.as_bytes(), 4096);
        assert_eq!(hits.len(), 1, "{text}: {:?}", rule_ids(&hits));
        assert!(
            hits[0].severity >= Severity::Medium,
            "{text}: {}",
            hits[0].title
        );
    }
}
