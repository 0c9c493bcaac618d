//! `TokenIssuer`: the token server of the distribution spec's bearer scheme, for the real
//! `docker-registry` that scripts/services.sh starts with `auth: token`. It is a component
//! of the protocol, not a stand-in: Docker's reference token server is not packaged in
//! Debian, so the tests serve the realm themselves. The registry verifies every token it
//! hands out (signature, issuer, audience, validity, and the access it grants): they are
//! ES256 JWTs whose `x5c` header carries the self-signed certificate that the registry's
//! `rootcertbundle` trusts, signed with that certificate's key.
//!
//! Who gets what, as a token server of a private registry decides it:
//! - the right Basic credentials: a token granting every scope asked for;
//! - no credentials: a token that grants nothing (so the registry itself refuses the pull);
//! - wrong credentials: 401, and no token.
//!
//! The realm's address is fixed when the registry starts, so one issuer serves it per test
//! process ([`TokenIssuer::shared`]), for every test in it.

use super::http1::{RequestHead, respond};
use super::services::TokenRegistry;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::{Value, json};
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a token is valid.
const LIFETIME: u64 = 300;

/// The one user the issuer knows.
pub const USER: &str = "alice";

/// What the issuer did with one token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A token granting the scopes asked for.
    Granted,
    /// No credentials: a token that grants nothing.
    Anonymous,
    /// Wrong credentials: 401.
    Refused,
}

/// One token request, as the issuer saw it.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The `service` parameter.
    pub service: Option<String>,
    /// The `scope` parameters, decoded.
    pub scopes: Vec<String>,
    pub answer: Answer,
}

pub struct TokenIssuer {
    /// `USER`'s password (random for each test process).
    pub password: String,
    service: String,
    issuer: String,
    path: String,
    key: p256::ecdsa::SigningKey,
    /// The certificate's DER, base64 (as `x5c` wants it).
    certificate: String,
    log: Mutex<Vec<Issued>>,
    tokens: AtomicU64,
}

impl TokenIssuer {
    /// The issuer serving `registry`'s realm, started by the first caller in this process.
    pub fn shared(registry: &TokenRegistry) -> &'static TokenIssuer {
        static ISSUER: OnceLock<&'static TokenIssuer> = OnceLock::new();
        ISSUER.get_or_init(|| TokenIssuer::start(registry))
    }

    fn start(registry: &TokenRegistry) -> &'static TokenIssuer {
        let realm = reqwest::Url::parse(&registry.realm)
            .unwrap_or_else(|e| panic!("the token realm {:?}: {e}", registry.realm));
        let authority = format!(
            "{}:{}",
            realm.host_str().expect("the realm names a host"),
            realm.port_or_known_default().expect("the realm has a port")
        );
        let listener = TcpListener::bind(&authority).unwrap_or_else(|e| {
            panic!(
                "cannot serve the token realm {} ({e}): one test process at a time serves it",
                registry.realm
            )
        });
        let key_pem = std::fs::read_to_string(&registry.key)
            .unwrap_or_else(|e| panic!("{}: {e}", registry.key.display()));
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&key_pem)
            .unwrap_or_else(|e| panic!("{}: not a P-256 key: {e}", registry.key.display()));
        let cert_pem = std::fs::read_to_string(&registry.cert)
            .unwrap_or_else(|e| panic!("{}: {e}", registry.cert.display()));
        let issuer: &'static TokenIssuer = Box::leak(Box::new(TokenIssuer {
            password: random_password(),
            service: registry.service.clone(),
            issuer: registry.issuer.clone(),
            path: realm.path().to_string(),
            key,
            certificate: pem_body(&cert_pem, "CERTIFICATE"),
            log: Mutex::new(Vec::new()),
            tokens: AtomicU64::new(0),
        }));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = issuer.answer(conn);
                });
            }
        });
        issuer
    }

    /// `USER:password`, as `skopeo --creds` takes it.
    pub fn creds(&self) -> String {
        format!("{USER}:{}", self.password)
    }

    /// Every token request so far, in arrival order.
    pub fn log(&self) -> Vec<Issued> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn answer(&self, conn: TcpStream) -> std::io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut reader = BufReader::new(conn.try_clone()?);
        let request = RequestHead::read(&mut reader)?;
        let mut conn = conn;
        if request.method != "GET" || request.path() != self.path {
            return respond(&mut conn, 404, "Not Found", &[], b"");
        }
        let url = reqwest::Url::parse(&format!("http://issuer{}", request.target))
            .map_err(std::io::Error::other)?;
        let mut service = None;
        let mut scopes = Vec::new();
        for (k, v) in url.query_pairs() {
            match &*k {
                "service" => service = Some(v.into_owned()),
                "scope" => scopes.extend(v.split(' ').map(str::to_string)),
                _ => {}
            }
        }
        let answer = match request.header("authorization").map(|a| self.check(a)) {
            None => Answer::Anonymous,
            Some(true) => Answer::Granted,
            Some(false) => Answer::Refused,
        };
        if let Ok(mut log) = self.log.lock() {
            log.push(Issued {
                service,
                scopes: scopes.clone(),
                answer: answer.clone(),
            });
        }
        let json = [("Content-Type".to_string(), "application/json".to_string())];
        if answer == Answer::Refused {
            let body = json!({"errors": [{"code": "UNAUTHORIZED",
                "message": "incorrect username or password"}]});
            return respond(
                &mut conn,
                401,
                "Unauthorized",
                &json,
                body.to_string().as_bytes(),
            );
        }
        let (subject, access) = match answer {
            Answer::Granted => (USER, scopes.iter().filter_map(|s| access(s)).collect()),
            _ => ("", Vec::new()),
        };
        let token = self.token(subject, access);
        let body = json!({"token": token, "access_token": token, "expires_in": LIFETIME});
        respond(&mut conn, 200, "OK", &json, body.to_string().as_bytes())
    }

    /// Whether an `Authorization` header carries `USER`'s Basic credentials.
    fn check(&self, authorization: &str) -> bool {
        authorization
            .strip_prefix("Basic ")
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .is_some_and(|c| c == self.creds().as_bytes())
    }

    /// A JWT for `subject` granting `access`, as distribution's `registry/auth/token` reads
    /// it: the registry finds the key in `x5c` and checks it chains to its root bundle.
    fn token(&self, subject: &str, access: Vec<Value>) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [self.certificate]});
        let claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + LIFETIME,
            "nbf": now,
            "iat": now,
            "jti": format!("{}-{}", std::process::id(), self.tokens.fetch_add(1, Ordering::Relaxed)),
            "access": access,
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // JWS wants ES256 signatures as r || s, not DER.
        let signature: p256::ecdsa::Signature = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// A scope (`repository:team/app:pull,push`) as a JWT `access` entry.
fn access(scope: &str) -> Option<Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(json!({
        "type": kind,
        "name": name,
        "actions": actions.split(',').collect::<Vec<_>>(),
    }))
}

/// The base64 body of a PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> String {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body: String = pem
        .lines()
        .skip_while(|l| l.trim() != begin)
        .skip(1)
        .take_while(|l| l.trim() != end)
        .map(str::trim)
        .collect();
    assert!(!body.is_empty(), "no {label} in the PEM file");
    body
}

fn random_password() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("random bytes");
    format!("pw-{}", hex::encode(bytes))
}
