//! The shared tier of the layer cache: Redis, spoken over RESP2 on one TCP connection.
//!
//! Only what the cache needs: `AUTH`, `SELECT`, `GET`, `SET … EX`, `EXPIRE`. Every reply is
//! bounded (a bulk string longer than the largest entry is an error, not an allocation), every
//! socket operation has a timeout, and a value is written by one `SET`, which Redis applies
//! whole: a reader sees the old entry, the new one, or none, never part of one.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long connecting, and each read or write, may take before Redis counts as down.
const TIMEOUT: Duration = Duration::from_secs(3);
/// The longest status or error line accepted.
const MAX_LINE: usize = 4096;

/// Where the shared cache lives: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    host: String,
    port: u16,
    db: u32,
    username: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for RedisUrl {
    /// The password is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for RedisUrl {
    /// `redis://HOST:PORT/DB`, without credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis://{}:{}/{}", self.host, self.port, self.db)
    }
}

impl RedisUrl {
    /// Parses a `redis://` URL; the error says what is wrong, never echoing a password.
    pub fn parse(text: &str) -> Result<RedisUrl, String> {
        let rest = text
            .strip_prefix("redis://")
            .ok_or("a shared cache is a redis://HOST[:PORT][/DB] URL")?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (
                    Some(user.to_string()).filter(|s| !s.is_empty()),
                    Some(pass.to_string()),
                ),
                None => (None, Some(u.to_string())),
            },
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("the port {p:?} is not a number up to 65535"))?,
            ),
            _ => (hostport, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("no host".into());
        }
        let db = if path.is_empty() {
            0
        } else {
            path.parse::<u32>()
                .map_err(|_| format!("the database {path:?} is not a number"))?
        };
        Ok(RedisUrl {
            host: host.to_string(),
            port,
            db,
            username,
            password,
        })
    }

    /// A connection, authenticated and on the URL's database.
    pub fn connect(&self) -> io::Result<Connection> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for addr in (self.host.as_str(), self.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, TIMEOUT) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(TIMEOUT))?;
                    stream.set_write_timeout(Some(TIMEOUT))?;
                    stream.set_nodelay(true)?;
                    let mut conn = Connection {
                        reader: BufReader::new(stream.try_clone()?),
                        writer: stream,
                    };
                    if let Some(password) = &self.password {
                        let reply = match &self.username {
                            Some(user) => {
                                conn.command(&[b"AUTH", user.as_bytes(), password.as_bytes()], 0)?
                            }
                            None => conn.command(&[b"AUTH", password.as_bytes()], 0)?,
                        };
                        reply.ok()?;
                    }
                    if self.db != 0 {
                        conn.command(&[b"SELECT", self.db.to_string().as_bytes()], 0)?
                            .ok()?;
                    }
                    return Ok(conn);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// What Redis answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Nil,
    /// Arrays are not used by the cache's commands; their elements are read and dropped.
    Array,
}

impl Reply {
    /// `Ok` for a status or integer reply; an error for anything else.
    fn ok(self) -> io::Result<()> {
        match self {
            Reply::Status(_) | Reply::Integer(_) => Ok(()),
            other => Err(protocol(&format!("unexpected reply {other:?}"))),
        }
    }
}

fn protocol(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// One open connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    /// Sends a command and reads its reply; a bulk reply longer than `max_bulk` bytes (0:
    /// none expected) is an error. A Redis error reply is an error naming Redis's message.
    pub fn command(&mut self, args: &[&[u8]], max_bulk: usize) -> io::Result<Reply> {
        let mut out = Vec::with_capacity(64 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out)?;
        self.writer.flush()?;
        self.reply(max_bulk, 0)
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        (&mut self.reader)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\r\n") {
            return Err(protocol("a reply line is unterminated or too long"));
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).map_err(|_| protocol("a reply line is not UTF-8"))
    }

    fn reply(&mut self, max_bulk: usize, depth: usize) -> io::Result<Reply> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" => Ok(Reply::Status(rest.to_string())),
            "-" => Err(io::Error::other(format!("Redis: {rest}"))),
            ":" => rest
                .parse()
                .map(Reply::Integer)
                .map_err(|_| protocol("a bad integer reply")),
            "$" => {
                let len: i64 = rest.parse().map_err(|_| protocol("a bad bulk length"))?;
                if len < 0 {
                    return Ok(Reply::Nil);
                }
                let len = usize::try_from(len).map_err(|_| protocol("a bad bulk length"))?;
                if len > max_bulk {
                    return Err(protocol(&format!(
                        "a value of {len} bytes, more than the {max_bulk} expected"
                    )));
                }
                let mut value = vec![0; len + 2];
                self.reader.read_exact(&mut value)?;
                if !value.ends_with(b"\r\n") {
                    return Err(protocol("a bulk value is unterminated"));
                }
                value.truncate(len);
                Ok(Reply::Bulk(value))
            }
            "*" => {
                let n: i64 = rest.parse().map_err(|_| protocol("a bad array length"))?;
                if depth > 2 || n > 1024 {
                    return Err(protocol("an unexpected array"));
                }
                for _ in 0..n.max(0) {
                    self.reply(max_bulk, depth + 1)?;
                }
                Ok(Reply::Array)
            }
            _ => Err(protocol("an unknown reply type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_their_password() {
        let url = RedisUrl::parse("redis://app:s3cr3t@cache.internal:6380/2").unwrap();
        assert_eq!(url.to_string(), "redis://cache.internal:6380/2");
        assert_eq!(format!("{url:?}"), "redis://cache.internal:6380/2");
        assert_eq!(url.username.as_deref(), Some("app"));
        assert_eq!(url.password.as_deref(), Some("s3cr3t"));
        let plain = RedisUrl::parse("redis://127.0.0.1").unwrap();
        assert_eq!(plain.to_string(), "redis://127.0.0.1:6379/0");
        let v6 = RedisUrl::parse("redis://[::1]:7000/1").unwrap();
        assert_eq!(v6.to_string(), "redis://::1:7000/1");
        for bad in ["http://h", "redis://", "redis://h:99999", "redis://h/x"] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
        let err = RedisUrl::parse("redis://u:pw@h:x/0").unwrap_err();
        assert!(!err.contains("pw"), "{err}");
    }
}
