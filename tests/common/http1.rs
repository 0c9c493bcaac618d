//! The little HTTP/1.1 that the test support servers (the token issuer, the fault proxy)
//! share: reading a request head, and answering with a `Content-Length` body and
//! `Connection: close` (one request per connection, which HTTP/1.1 clients accept).

use std::io::{self, BufRead, Write};

/// A request head larger than this is refused.
const MAX_HEAD: usize = 64 * 1024;

/// Headers that describe one connection, not the message (RFC 9110, section 7.6.1): a proxy
/// drops them, and each hop frames its body itself.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent: path and query.
    pub target: String,
    /// In arrival order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// Reads a request line and headers, up to the empty line.
    pub fn read(reader: &mut impl BufRead) -> io::Result<RequestHead> {
        let mut total = 0;
        let mut next_line = |reader: &mut dyn BufRead| -> io::Result<String> {
            let mut line = String::new();
            let n = reader.read_line(&mut line)?;
            total += n;
            if n == 0 || total > MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no complete request head",
                ));
            }
            Ok(line.trim_end_matches(['\r', '\n']).to_string())
        };
        let request_line = next_line(reader)?;
        let mut parts = request_line.split_whitespace();
        // A TLS handshake (a client probing for HTTPS) is not a request: refusing it closes
        // the connection, and the client falls back to plain HTTP.
        let (Some(method), Some(target), Some(true)) = (
            parts.next(),
            parts.next(),
            parts.next().map(|v| v.starts_with("HTTP/1.")),
        ) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad request line {request_line:?}"),
            ));
        };
        let (method, target) = (method.to_string(), target.to_string());
        let mut headers = Vec::new();
        loop {
            let line = next_line(reader)?;
            if line.is_empty() {
                return Ok(RequestHead {
                    method,
                    target,
                    headers,
                });
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// Writes a status line, `headers`, a `Content-Length` of `body` and `Connection: close`,
/// then the body.
pub fn respond(
    conn: &mut impl Write,
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<()> {
    conn.write_all(&head(status, reason, headers, body.len()))?;
    conn.write_all(body)?;
    conn.flush()
}

/// The bytes of a response head that announces `content_length` body bytes.
pub fn head(
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    content_length: usize,
) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    ));
    text.into_bytes()
}
