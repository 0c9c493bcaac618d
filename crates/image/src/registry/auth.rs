//! Registry authentication: the `WWW-Authenticate` challenge of a 401, and the token
//! endpoint of the distribution spec's bearer scheme (anonymous, Basic credentials, or an
//! OAuth2 refresh token).

use super::RegistryError;
use super::credentials::Credentials;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;

/// A token response larger than this is refused.
pub const MAX_TOKEN_RESPONSE: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Bearer realm="https://auth.example/token",service="registry",scope="..."`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    /// `Basic realm="..."`.
    Basic,
}

/// Parses a `WWW-Authenticate` header (the first challenge this client can answer).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        "basic" => Some(Challenge::Basic),
        _ => None,
    }
}

/// `key="quoted, value",key2=token` into a map (keys lowercased).
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

/// What to ask the token endpoint for when the challenge names no scope.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// What a client that also writes asks for.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// What a client of the registry's catalog (`/v2/_catalog`) asks for.
pub const CATALOG_SCOPE: &str = "registry:catalog:*";

/// The scope to ask a token endpoint for: the challenge's, except that a client that writes
/// asks for `pull,push` where a read's challenge names only `pull`, so that one token serves
/// its reads and its writes. A client with no repository is the catalog's.
pub fn token_scope(challenge: Option<String>, repository: &str, push: bool) -> String {
    match challenge {
        Some(s) if push && s == pull_scope(repository) => push_scope(repository),
        Some(s) => s,
        None if repository.is_empty() => CATALOG_SCOPE.to_string(),
        None if push => push_scope(repository),
        None => pull_scope(repository),
    }
}

/// A bearer token. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// Reads the token out of a token endpoint's JSON answer (`token`, or OAuth2's
/// `access_token`).
pub fn parse_token_response(body: &[u8]) -> Option<Token> {
    let r: TokenResponse = serde_json::from_slice(body).ok()?;
    r.token
        .filter(|t| !t.is_empty())
        .or(r.access_token.filter(|t| !t.is_empty()))
        .map(Token)
}

/// How to ask the token endpoint: GET with query parameters (anonymous or Basic), or the
/// OAuth2 POST for a refresh token.
#[derive(Debug)]
pub enum TokenRequest {
    Get {
        url: reqwest::Url,
        basic: Option<String>,
    },
    Post {
        url: reqwest::Url,
        form: String,
    },
}

/// Builds the token request for a bearer challenge. Credentials are only ever sent to an
/// `https` realm, unless the registry itself is plain HTTP (`--insecure`).
pub fn token_request(
    realm: &str,
    service: Option<&str>,
    scope: &str,
    credentials: Option<&Credentials>,
    allow_http: bool,
) -> Result<TokenRequest, RegistryError> {
    let mut url = reqwest::Url::parse(realm).map_err(|e| RegistryError::Auth {
        message: format!("the token realm {realm:?} is not a URL: {e}"),
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http || credentials.is_none() => {}
        "http" => {
            return Err(RegistryError::Auth {
                message: format!(
                    "the registry asks for credentials to be sent to {realm} over plain HTTP; \
                     refusing (use --insecure only for registries you trust)"
                ),
            });
        }
        other => {
            return Err(RegistryError::Auth {
                message: format!("the token realm uses the unsupported scheme {other:?}"),
            });
        }
    }
    match credentials {
        Some(Credentials::IdentityToken(refresh)) => {
            let mut form = form_urlencoded(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", "portcullis"),
                ("scope", scope),
            ]);
            if let Some(s) = service {
                form.push('&');
                form.push_str(&form_urlencoded(&[("service", s)]));
            }
            Ok(TokenRequest::Post { url, form })
        }
        other => {
            {
                let mut q = url.query_pairs_mut();
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
                q.append_pair("scope", scope);
            }
            Ok(TokenRequest::Get {
                url,
                basic: other.and_then(Credentials::basic_header),
            })
        }
    }
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").unwrap_or_else(|_| unreachable!());
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_like_the_distribution_spec_writes_them() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
        // Scopes with commas (several actions) and escaped quotes survive.
        assert_eq!(
            parse_challenge(
                r#"bearer realm="http://r/t", scope="repository:a:pull,push", service=reg"#
            ),
            Some(Challenge::Bearer {
                realm: "http://r/t".into(),
                service: Some("reg".into()),
                scope: Some("repository:a:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn writers_ask_for_push_and_pull() {
        let pull = Some("repository:a/b:pull".to_string());
        assert_eq!(
            token_scope(pull.clone(), "a/b", false),
            "repository:a/b:pull"
        );
        assert_eq!(token_scope(pull, "a/b", true), "repository:a/b:pull,push");
        assert_eq!(token_scope(None, "a/b", false), "repository:a/b:pull");
        assert_eq!(token_scope(None, "a/b", true), "repository:a/b:pull,push");
        assert_eq!(token_scope(None, "", false), CATALOG_SCOPE);
        // A challenge that names something else (another repository, more actions) stands.
        let other = "repository:c:pull,push,delete";
        assert_eq!(token_scope(Some(other.into()), "a/b", true), other);
    }

    #[test]
    fn token_answers_and_requests() {
        assert_eq!(
            parse_token_response(br#"{"token":"abc","expires_in":300}"#),
            Some(Token("abc".into()))
        );
        assert_eq!(
            parse_token_response(br#"{"access_token":"xyz"}"#),
            Some(Token("xyz".into()))
        );
        assert_eq!(parse_token_response(br#"{"token":""}"#), None);
        assert!(!format!("{:?}", Token("abc".into())).contains("abc"));

        let creds = Credentials::basic("u", "p");
        match token_request(
            "https://a/token",
            Some("reg"),
            "repository:x/y:pull",
            Some(&creds),
            false,
        )
        .unwrap()
        {
            TokenRequest::Get { url, basic } => {
                assert_eq!(
                    url.as_str(),
                    "https://a/token?service=reg&scope=repository%3Ax%2Fy%3Apull"
                );
                assert_eq!(basic.as_deref(), Some("Basic dTpw"));
            }
            other => panic!("{other:?}"),
        }
        match token_request(
            "https://a/token",
            None,
            "repository:x:pull",
            Some(&Credentials::IdentityToken("r".into())),
            false,
        )
        .unwrap()
        {
            TokenRequest::Post { form, .. } => {
                assert!(
                    form.contains("grant_type=refresh_token") && form.contains("refresh_token=r")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(token_request("http://a/token", None, "s", Some(&creds), false).is_err());
        assert!(token_request("http://a/token", None, "s", None, false).is_ok());
        assert!(token_request("http://a/token", None, "s", Some(&creds), true).is_ok());
        assert!(token_request("ftp://a/token", None, "s", None, true).is_err());
    }
}
