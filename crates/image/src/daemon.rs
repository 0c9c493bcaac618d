//! `docker-daemon:NAME[:TAG]` and `docker-daemon:sha256:ID`: an image in a Docker daemon,
//! or in Podman through its Docker-compatible API.
//!
//! The daemon exports the image as `docker save` does (`GET /images/{name}/get`). The
//! export is scanned as it arrives: the response body is fed through a bounded channel to
//! the same front-to-back scanner as a compressed archive, so nothing is written to disk and
//! memory stays bounded whatever the image size. Layers scan as they pass; only matching
//! them to the manifest, which comes last, waits for the end of the stream.

use super::body::{BodySender, ChannelWriter, IN_FLIGHT, body_channel};
use super::model::Transport;
use super::observe::Counted;
use super::{ImageError, LoadOptions, Loaded, load_stream};
use bollard::Docker;
use bollard::errors::Error as BollardError;
use futures_util::StreamExt;
use std::path::Path;
use std::time::Duration;

/// Where Docker listens when `DOCKER_HOST` is not set.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long the daemon may take to start answering (Podman prepares the whole archive
/// before it sends the first byte). The body itself streams without a deadline.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot connect to the Docker daemon at {host}: {message}")]
    Connect { host: String, message: String },
    #[error("DOCKER_HOST={host}: {message}")]
    Host { host: String, message: String },
    #[error("no image {name:?} in the Docker daemon at {host}")]
    NotFound { name: String, host: String },
    #[error("the Docker daemon at {host} could not export {name:?}: {message}")]
    Export {
        name: String,
        host: String,
        message: String,
    },
    #[error("the Docker daemon at {host} did not load {name:?}: {message}")]
    Load {
        name: String,
        host: String,
        message: String,
    },
}

/// Reads the image `name` from the daemon `DOCKER_HOST` names (or the default socket).
pub fn load<R: Clone + Send + Sync>(
    text: &str,
    name: &str,
    opts: &LoadOptions<R>,
) -> Result<Loaded<R>, ImageError> {
    let name = normalize_name(name);
    let host = daemon_host();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| ImageError::io("the async runtime", e))?;
    let docker = connect(&host)?;

    // Asking first turns "no such image" into a clear error instead of a broken stream.
    runtime
        .block_on(docker.inspect_image(&name))
        .map_err(|e| match status_of(&e) {
            Some(404) => DaemonError::NotFound {
                name: name.clone(),
                host: host.clone(),
            },
            Some(_) => DaemonError::Export {
                name: name.clone(),
                host: host.clone(),
                message: e.to_string(),
            },
            None => DaemonError::Connect {
                host: host.clone(),
                message: e.to_string(),
            },
        })?;

    let (tx, reader) = body_channel();
    runtime.spawn(export(docker, name, host, tx));
    let counted = Counted {
        inner: reader,
        observer: opts.observer,
    };
    load_stream(
        counted,
        text,
        Some(Transport::DockerArchive),
        Some(Transport::DockerDaemon),
        None,
        None,
        opts,
    )
}

/// Streams the export into the channel; stops when the scanner hangs up.
async fn export(docker: Docker, name: String, host: String, tx: BodySender) {
    let mut body = docker.export_image(&name);
    while let Some(item) = body.next().await {
        let item = item.map_err(|e| {
            std::io::Error::other(DaemonError::Export {
                name: name.clone(),
                host: host.clone(),
                message: e.to_string(),
            })
        });
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

/// Whether the daemon `DOCKER_HOST` names (or the default socket) answers.
pub fn ping() -> Result<(), ImageError> {
    let host = daemon_host();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ImageError::io("the async runtime", e))?;
    let docker = connect(&host)?;
    answer(&runtime, &docker, &host)
}

/// Asks the daemon at `host` whether it is there.
fn answer(
    runtime: &tokio::runtime::Runtime,
    docker: &Docker,
    host: &str,
) -> Result<(), ImageError> {
    runtime
        .block_on(docker.ping())
        .map_err(|e| DaemonError::Connect {
            host: host.to_string(),
            message: e.to_string(),
        })?;
    Ok(())
}

/// Loads an image into the daemon (`POST /images/load`, as `docker load` does) from the
/// docker-archive that `write` writes; the archive streams to the daemon as it is written.
/// The daemon loads an archive whole or not at all: an archive cut short by a failing
/// `write` is refused by it, and its refusal, sent inside its answer, is the error.
pub fn load_archive(
    name: &str,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<(), ImageError> + Send,
) -> Result<(), ImageError> {
    let host = daemon_host();
    let failed = |message: String| DaemonError::Load {
        name: name.to_string(),
        host: host.clone(),
        message,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| ImageError::io("the async runtime", e))?;
    let docker = connect(&host)?;
    // Asked first, so that a daemon that is not there costs no archive.
    answer(&runtime, &docker, &host)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut out = ChannelWriter::new(tx);
            let written = write(&mut out).and_then(|()| {
                std::io::Write::flush(&mut out).map_err(|e| ImageError::io("the archive", e))
            });
            if let Err(e) = &written {
                out.abort(std::io::Error::other(e.to_string()));
            }
            written
        });
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build();
        let answer: Result<(), String> = runtime.block_on(async {
            let mut replies = std::pin::pin!(docker.import_image_stream(options, body, None));
            let mut outcome = Ok(());
            while let Some(reply) = replies.next().await {
                if let Err(e) = reply
                    && outcome.is_ok()
                {
                    outcome = Err(match e {
                        BollardError::DockerStreamError { error } => error,
                        other => other.to_string(),
                    });
                }
            }
            outcome
        });
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(ImageError::Invalid("writing the archive failed".into())));
        // The archive's own error says more than the daemon's refusal of a cut archive.
        written?;
        answer.map_err(failed)?;
        Ok(())
    })
}

fn status_of(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// `DOCKER_HOST`, or the Docker socket, or a Podman socket when only Podman runs.
fn daemon_host() -> String {
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        return host;
    }
    if Path::new(DEFAULT_SOCKET).exists() {
        return format!("unix://{DEFAULT_SOCKET}");
    }
    let rootless = std::env::var_os("XDG_RUNTIME_DIR")
        .map(|d| Path::new(&d).join("podman/podman.sock"))
        .filter(|p| p.exists());
    let system = Some(Path::new("/run/podman/podman.sock").to_path_buf()).filter(|p| p.exists());
    match rootless.or(system) {
        Some(p) => format!("unix://{}", p.display()),
        None => format!("unix://{DEFAULT_SOCKET}"),
    }
}

fn connect(host: &str) -> Result<Docker, DaemonError> {
    let unsupported = |message: &str| DaemonError::Host {
        host: host.to_string(),
        message: message.to_string(),
    };
    if host.starts_with("ssh://") {
        return Err(unsupported(
            "ssh:// is not supported; forward the socket (ssh -L) and use unix:// or tcp://",
        ));
    }
    let tls = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
    if host.starts_with("https://") || (tls && host.starts_with("tcp://")) {
        return Err(unsupported(
            "TLS connections to the daemon are not supported; use its unix socket",
        ));
    }
    let docker = if let Some(path) = host.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err(DaemonError::Connect {
                host: host.to_string(),
                message: format!("{path} does not exist (is the daemon running?)"),
            });
        }
        Docker::connect_with_unix(
            host,
            RESPONSE_TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        )
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(
            host,
            RESPONSE_TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        )
    } else {
        return Err(unsupported("expected unix://PATH or tcp://HOST:PORT"));
    };
    docker.map_err(|e| DaemonError::Connect {
        host: host.to_string(),
        message: e.to_string(),
    })
}

/// `alpine` means `alpine:latest`, as for `docker save`; without a tag the daemon would
/// export every tag of the repository. IDs and digests are passed as they are.
fn normalize_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    let is_id = name.starts_with("sha256:")
        || (name.len() >= 12 && name.bytes().all(|b| b.is_ascii_hexdigit()));
    if is_id || name.contains('@') || last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_the_latest_tag_like_docker_save() {
        for (given, expected) in [
            ("alpine", "alpine:latest"),
            ("alpine:3.20", "alpine:3.20"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost:5000/app:1", "localhost:5000/app:1"),
            ("sha256:abcdef", "sha256:abcdef"),
            ("0123456789ab", "0123456789ab"),
            (
                "app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ] {
            assert_eq!(normalize_name(given), expected, "{given}");
        }
    }

    #[test]
    fn unsupported_hosts_say_why() {
        assert!(matches!(
            connect("ssh://user@host"),
            Err(DaemonError::Host { .. })
        ));
        assert!(matches!(
            connect("npipe:////./pipe/docker_engine"),
            Err(DaemonError::Host { .. })
        ));
        assert!(matches!(
            connect("unix:///nonexistent/docker.sock"),
            Err(DaemonError::Connect { .. })
        ));
    }
}
