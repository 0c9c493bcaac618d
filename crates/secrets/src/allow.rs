//! Value checks that no regex can express: randomness, repetition, and whether a generic
//! assignment's value is a literal at all. The allow rules proper are data, in
//! `policies/secret-rules.toml`.

/// Shannon entropy of `data` in bits per byte.
pub fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// `aaaaaaaa`, `00000000`, `--------`: filler, never a secret.
pub fn is_one_repeated_byte(data: &[u8]) -> bool {
    data.split_first()
        .is_some_and(|(first, rest)| rest.iter().all(|b| b == first))
}

/// Whether the value of a generic `key = value` assignment is something other than a literal
/// secret: a variable reference, a function call or expression, a file path, a type name, a
/// dotted attribute (`self.password`, `settings.DB_PASSWORD`), a relative file path
/// (`certs/server.key`).
pub fn is_not_a_literal_value(value: &[u8]) -> bool {
    let Some(&first) = value.first() else {
        return true;
    };
    if matches!(
        first,
        b'$' | b'%' | b'&' | b'*' | b'@' | b'!' | b'#' | b'/' | b'~'
    ) || value.starts_with(b"./")
        || value.starts_with(b"../")
    {
        return true;
    }
    if value
        .iter()
        .any(|b| matches!(b, b'(' | b')' | b'[' | b']' | b'{' | b'}'))
    {
        return true;
    }
    is_dotted_identifier(value)
        || is_relative_path(value)
        || is_constant_name(value)
        || is_url_without_password(value)
        || is_date_or_time(value)
        || is_email_address(value)
}

/// `DB_PASSWORD`, `AWS_SECRET_KEY_2`: an environment variable or constant's name, so a
/// reference to the secret: upper-case words joined by `_`, mostly letters.
fn is_constant_name(value: &[u8]) -> bool {
    let letters = value.iter().filter(|b| b.is_ascii_uppercase()).count();
    value.first().is_some_and(u8::is_ascii_uppercase)
        && value.contains(&b'_')
        && !value.ends_with(b"_")
        && !value.windows(2).any(|w| w == b"__")
        && value
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        && letters * 10 >= value.len() * 6
}

/// `https://vault.internal/v1/secret/app`: where a secret is kept, not the secret. A URL
/// with a password in it (`https://user:pass@host`) is left to the URL credential rules.
fn is_url_without_password(value: &[u8]) -> bool {
    let Some(scheme_end) = value.windows(3).position(|w| w == b"://") else {
        return false;
    };
    let scheme = &value[..scheme_end];
    if scheme.is_empty()
        || !scheme[0].is_ascii_alphabetic()
        || !scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
    {
        return false;
    }
    let rest = &value[scheme_end + 3..];
    let authority = rest
        .split(|&b| matches!(b, b'/' | b'?' | b'#'))
        .next()
        .unwrap_or_default();
    !authority.is_empty()
        && !authority
            .iter()
            .position(|&b| b == b'@')
            .is_some_and(|at| authority[..at].contains(&b':'))
}

/// `2024-05-01`, `2024-05-01T12:00:00Z`, `2024-05-01 12:00:00.123+02:00`: a date or a time.
fn is_date_or_time(value: &[u8]) -> bool {
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if value.len() < 10
        || !(digits(&value[..4])
            && value[4] == b'-'
            && digits(&value[5..7])
            && value[7] == b'-'
            && digits(&value[8..10]))
    {
        return false;
    }
    let time = &value[10..];
    time.is_empty()
        || (matches!(time[0], b'T' | b' ')
            && time[1..]
                .iter()
                .all(|b| b.is_ascii_digit() || matches!(b, b':' | b'.' | b'Z' | b'+' | b'-')))
}

/// `security@example.com`: an address, not a secret.
fn is_email_address(value: &[u8]) -> bool {
    let Some(at) = value.iter().position(|&b| b == b'@') else {
        return false;
    };
    let (local, domain) = (&value[..at], &value[at + 1..]);
    !local.is_empty()
        && local
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-'))
        && domain.contains(&b'.')
        && !domain.starts_with(b".")
        && !domain.ends_with(b".")
        && domain
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && domain
            .rsplit(|&b| b == b'.')
            .next()
            .is_some_and(|tld| tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic))
}

/// What is no token or key though it may be a password: a number (an id, a port, a
/// timeout) or an identifier in camelCase or PascalCase (`apiKeyFromEnv`,
/// `ThisTokenIsNotSoSecret`): generated tokens mix in digits, and do not fall into words
/// that each start with a capital.
pub fn is_number_or_identifier(value: &[u8]) -> bool {
    if !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if value.len() > 40 || !value.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    // Words: a capital followed by lower-case letters (the first word may be all
    // lower-case, of two letters or more).
    let mut humps = 0;
    let mut i = 0;
    while i < value.len() {
        let start = i;
        if value[i].is_ascii_uppercase() {
            i += 1;
        } else if start != 0 {
            return false;
        }
        let lower_start = i;
        while i < value.len() && value[i].is_ascii_lowercase() {
            i += 1;
        }
        if i == lower_start || (start == 0 && i - lower_start < 2 && !value[0].is_ascii_uppercase())
        {
            return false;
        }
        if value[start].is_ascii_uppercase() {
            humps += 1;
        }
    }
    humps >= 1 && (humps >= 2 || value[0].is_ascii_lowercase())
}

/// `config/db.yaml`, `certs/server.key`: word-character segments joined by `/`, the last
/// with a short alphabetic extension. A base64 secret holds `/` too, but not this shape.
fn is_relative_path(value: &[u8]) -> bool {
    let segments: Vec<&[u8]> = value.split(|&b| b == b'/').collect();
    if segments.len() < 2
        || segments.iter().any(|s| {
            s.is_empty()
                || !s
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        })
    {
        return false;
    }
    let last = segments[segments.len() - 1];
    last.iter().rposition(|&b| b == b'.').is_some_and(|dot| {
        let ext = &last[dot + 1..];
        dot > 0 && (1..=5).contains(&ext.len()) && ext.iter().all(u8::is_ascii_lowercase)
    })
}

/// An obvious word or name rather than a secret: lower-case letters only, joined by `_` at
/// most (`required`, `bearer`, `my_api_key`). Generated secrets mix cases and digits; a
/// `-` is left alone, as provider prefixes (`glpat-`) use it.
pub fn is_plain_word(value: &[u8]) -> bool {
    value.len() <= 24
        && value.first().is_some_and(u8::is_ascii_lowercase)
        && value.iter().all(|b| b.is_ascii_lowercase() || *b == b'_')
}

/// A hash of a known length (MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512 in hex) whose
/// key says it is one (`password_sha256 = …`, `checksum: …`): a digest, not a secret.
pub fn is_hash_in_hash_context(value: &[u8], whole: &[u8]) -> bool {
    if !matches!(value.len(), 32 | 40 | 56 | 64 | 96 | 128)
        || !value.iter().all(u8::is_ascii_hexdigit)
    {
        return false;
    }
    let context = whole.to_ascii_lowercase();
    [
        &b"hash"[..],
        b"digest",
        b"sha1",
        b"sha2",
        b"sha256",
        b"sha512",
        b"md5",
        b"checksum",
        b"fingerprint",
        b"etag",
    ]
    .iter()
    .any(|word| context.windows(word.len()).any(|w| w == *word))
}

/// `a.b`, `self.password`, `os.environ.get`, `pkg.module:function`: identifiers joined by
/// dots (or a colon, as in Python entry points), no digits.
fn is_dotted_identifier(value: &[u8]) -> bool {
    let mut parts = 0;
    for part in value.split(|&b| b == b'.' || b == b':') {
        let ok = part
            .first()
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
            && part.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_');
        if !ok {
            return false;
        }
        parts += 1;
    }
    parts >= 2
}

/// How far [`line_around`] looks either side of a match for the line's ends. Allow rules
/// look at the text near a match; a longer line is cut here, so that a file of one huge line
/// full of matches costs time linear in its size, not in its size times its matches.
pub const LINE_CONTEXT: usize = 1024;

/// The line of `data` that holds byte `at`, without its line ending, cut at
/// [`LINE_CONTEXT`] bytes either side of `at`.
pub fn line_around(data: &[u8], at: usize) -> &[u8] {
    let at = at.min(data.len());
    let low = at.saturating_sub(LINE_CONTEXT);
    let high = at.saturating_add(LINE_CONTEXT).min(data.len());
    let start = data[low..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(low, |i| low + i + 1);
    let end = data[at..high]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(high, |i| at + i);
    let line = &data[start..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_separates_words_from_random_strings() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(shannon_entropy(b"somevalue") < 3.0);
        assert!(shannon_entropy(b"gX69YO4CvBsVjzAwYxdGyDd30t5+9ez31gKATtj4") > 4.0);
    }

    #[test]
    fn references_expressions_and_paths_are_not_literals() {
        for v in [
            "$DB_PASSWORD",
            "${DB_PASSWORD}",
            "%(password)s",
            "os.getenv(",
            "self.password",
            "settings.db_password",
            "detect_secrets.main:detect_secrets",
            "/run/secrets/db",
            "./secret.txt",
            "{{ vault_password }}",
        ] {
            assert!(is_not_a_literal_value(v.as_bytes()), "{v}");
        }
        for v in [
            "hunter2xyz",
            "123456789a1234",
            "s3cr3t.value9",
            "Zq8vN2r+Tk5L",
        ] {
            assert!(!is_not_a_literal_value(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn line_around_is_cut_on_a_long_line() {
        let mut data = vec![b'x'; 3 * LINE_CONTEXT];
        data[LINE_CONTEXT + 10] = b'\n';
        let at = 2 * LINE_CONTEXT;
        let line = line_around(&data, at);
        assert_eq!(line.len(), 2 * LINE_CONTEXT - 11);
        let line = line_around(&data, 5);
        assert_eq!(line.len(), 5 + LINE_CONTEXT);
        let long = vec![b'y'; 10 * LINE_CONTEXT];
        assert_eq!(line_around(&long, 5 * LINE_CONTEXT).len(), 2 * LINE_CONTEXT);
    }

    #[test]
    fn line_around_finds_the_line_without_its_ending() {
        let data = b"one\r\ntwo three\nfour";
        assert_eq!(line_around(data, 0), b"one");
        assert_eq!(line_around(data, 7), b"two three");
        assert_eq!(line_around(data, 17), b"four");
    }
}

#[cfg(test)]
mod generic_value_tests {
    use super::*;

    #[test]
    fn values_that_are_not_secrets() {
        for value in [
            "config/db.yaml",
            "certs/server.key",
            "$DB_PASSWORD",
            "settings.DB_PASSWORD",
        ] {
            assert!(is_not_a_literal_value(value.as_bytes()), "{value}");
        }
        for value in [
            "Qm8vT2xkZW5XaW5k3",
            "kfmneo2394fkm3ohHFMNE",
            "glpat-abcdefghij",
            "aB3/dE5+fG7/hJ9=",
            "hunter2",
        ] {
            assert!(!is_not_a_literal_value(value.as_bytes()), "{value}");
        }
        for value in [
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY_2",
            "https://vault.internal/v1/secret/data/app",
            "s3://bucket/keys/app.pem",
            "2024-05-01",
            "2024-05-01T12:00:00Z",
            "2024-05-01 12:00:00.123+02:00",
            "security@example.com",
        ] {
            assert!(is_not_a_literal_value(value.as_bytes()), "{value}");
        }
        for value in [
            "AKIAIOSFODNN7EXAMPL2",
            "A1B2_C3D4_E5F6_G7H8",
            "https://admin:hunter2@db.internal/",
            "2024-05-01Tabc",
            "p@ssw0rd!",
            "xoxb-1234",
        ] {
            assert!(!is_not_a_literal_value(value.as_bytes()), "{value}");
        }
        for value in [
            "3600",
            "apiKeyFromEnv",
            "ThisTokenIsNotSoSecret",
            "userToken",
        ] {
            assert!(is_number_or_identifier(value.as_bytes()), "{value}");
        }
        for value in [
            "Xq7a9Lk2mN4pR6tV8wY0zB1c",
            "BaFbnCvRbkMvWMFoKVi2KjvjdtxbzLrz",
            "kfmneoFKMohHFMNE",
            "Abc",
            "hunter",
            "ABCDEFGHIJ",
        ] {
            assert!(!is_number_or_identifier(value.as_bytes()), "{value}");
        }
        for word in ["required", "from_vault", "bearer"] {
            assert!(is_plain_word(word.as_bytes()), "{word}");
        }
        for value in ["glpat-abcdefghij", "Secret1", "hunter2"] {
            assert!(!is_plain_word(value.as_bytes()), "{value}");
        }
        let md5 = b"5f4dcc3b5aa765d61d8327deb882cf99";
        assert!(is_hash_in_hash_context(
            md5,
            b"password_md5 = 5f4dcc3b5aa765d61d8327deb882cf99"
        ));
        assert!(!is_hash_in_hash_context(
            md5,
            b"api_token = 5f4dcc3b5aa765d61d8327deb882cf99"
        ));
        assert!(!is_hash_in_hash_context(
            b"5f4dcc3b5aa7",
            b"checksum = 5f4dcc3b5aa7"
        ));
    }
}
