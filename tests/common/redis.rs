//! Redis for the tests: the one scripts/test.sh starts (`PORTCULLIS_TEST_REDIS`), shared by
//! every test, and [`OwnRedis`], a `redis-server` of a test's own that it may stop and start
//! again (a restart without persistence comes back empty).

use super::skip;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Redis URL scripts/test.sh started (`PORTCULLIS_TEST_REDIS`).
#[track_caller]
pub fn test_redis() -> Option<String> {
    let url = std::env::var("PORTCULLIS_TEST_REDIS")
        .ok()
        .filter(|v| !v.is_empty());
    if url.is_none() {
        skip("PORTCULLIS_TEST_REDIS is not set (scripts/test.sh starts redis-server)");
    }
    url
}

/// A `redis-server` on a free loopback port, without persistence; killed when dropped.
pub struct OwnRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    /// Started in `dir` (where it would write, were persistence on).
    pub fn start(dir: &Path) -> OwnRedis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free port")
            .port();
        let mut redis = OwnRedis {
            port,
            dir: dir.to_path_buf(),
            child: None,
        };
        redis.up();
        redis
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it (again) on its port.
    pub fn up(&mut self) {
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start on {}", self.port);
    }

    /// Kills it (SIGKILL): what it held is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
