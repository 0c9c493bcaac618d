//! Token checksums: formats whose last characters are a checksum of the rest, so that a
//! string of the right shape that fails it is not a token the provider issued (a made-up
//! test value, a truncated copy, a look-alike).
//!
//! - `github-crc32`: GitHub's tokens since 2021 (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`):
//!   a prefix, 30 random base62 characters, and the CRC-32 of those 30 characters written
//!   in base62 (`0-9A-Za-z`), left-padded with `0` to 6 characters ("Behind GitHub's new
//!   authentication token formats", github.blog, 2021-04-05).
//! - `npm-crc32`: npm's access tokens (`npm_`) use the same construction ("Announcing npm's
//!   new access token format", github.blog, 2021-09-23).
//!
//! GitHub's fine-grained tokens (`github_pat_`) also end in a checksum, but its
//! construction is not published; they are not checked, rather than risk demoting real
//! tokens on a guess.

use serde::Deserialize;

/// A checksum a rule's secrets carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checksum {
    /// Prefix `xxx_`, 30 base62 characters, 6 base62 characters of their CRC-32.
    GithubCrc32,
    /// The same construction after `npm_`.
    NpmCrc32,
}

/// What a failed checksum does to a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Reported, at low severity, saying the checksum failed.
    #[default]
    Low,
    /// Not reported.
    Drop,
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Checksum {
    /// Whether `secret` (the whole token, prefix included) carries a valid checksum;
    /// `None` when the secret is not of the checksummed shape at all (a GitHub App
    /// installation token in its older `ghs_<id>_<jwt>` form, a 76-character refresh
    /// token), which the checksum says nothing about.
    pub fn verify(self, secret: &[u8]) -> Option<bool> {
        let body = match self {
            Checksum::GithubCrc32 => match secret {
                [b'g', b'h', _, b'_', rest @ ..] => rest,
                _ => return None,
            },
            Checksum::NpmCrc32 => secret.strip_prefix(b"npm_")?,
        };
        if body.len() != 36 || !body.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let (random, check) = body.split_at(30);
        Some(base62_6(crc32(random)) == check)
    }
}

/// `n` in base62, left-padded with `0` to 6 digits (CRC-32 values fit: 62^6 > 2^32).
fn base62_6(mut n: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// CRC-32 (IEEE 802.3, as zlib computes it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A token of `prefix` whose checksum is right: for examples and tests.
pub fn with_checksum(prefix: &str, random: &str) -> String {
    let check = base62_6(crc32(random.as_bytes()));
    format!("{prefix}{random}{}", String::from_utf8_lossy(&check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn valid_and_broken_tokens() {
        let random = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1";
        for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
            let token = with_checksum(prefix, random);
            assert_eq!(token.len(), 40);
            assert_eq!(
                Checksum::GithubCrc32.verify(token.as_bytes()),
                Some(true),
                "{token}"
            );
            // One character changed anywhere breaks it.
            let mut broken = token.clone().into_bytes();
            broken[10] = if broken[10] == b'x' { b'y' } else { b'x' };
            assert_eq!(Checksum::GithubCrc32.verify(&broken), Some(false));
        }
        let npm = with_checksum("npm_", random);
        assert_eq!(Checksum::NpmCrc32.verify(npm.as_bytes()), Some(true));
        assert_eq!(Checksum::GithubCrc32.verify(npm.as_bytes()), None);
        assert_eq!(Checksum::NpmCrc32.verify(b"npm_short"), None);
        // Shapes the checksum does not describe are not judged.
        assert_eq!(
            Checksum::GithubCrc32.verify(b"ghs_4242_HkAFToSC0kUpfRXGFP-s.PFQu4GMVGMXb4Vef"),
            None
        );
    }
}
