//! Interrupts leave nothing behind. Every temporary file and directory a run creates, and
//! every child process it starts (Trivy), is registered here while it exists; on SIGINT or
//! SIGTERM [`install`]'s thread stops the children, removes what is registered and exits
//! with 128 + the signal (130, 143), as a shell reports a process the signal ended.
//!
//! Registration happens under the same lock as the cleanup, together with the creation
//! (and a file's rename into place): a signal can never fall between a file appearing and
//! its registration, nor remove a report already renamed into place. Outputs are written
//! to a registered temporary file beside their destination and renamed, so an interrupt
//! leaves the previous file as it was.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a run has on disk and running, by registration id.
struct Registry {
    next: u64,
    paths: BTreeMap<u64, PathBuf>,
    children: BTreeMap<u64, Arc<Mutex<Child>>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    paths: BTreeMap::new(),
    children: BTreeMap::new(),
});

/// The registry, even after a thread panicked holding it: cleaning up matters more then.
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock_child(child: &Mutex<Child>) -> MutexGuard<'_, Child> {
    child
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    fn add_path(&mut self, path: PathBuf) -> u64 {
        self.next += 1;
        self.paths.insert(self.next, path);
        self.next
    }

    /// Stops every child, then removes every path; children first, as they may be writing
    /// into those paths.
    fn clean(&mut self) {
        for child in self.children.values() {
            let mut child = lock_child(child);
            // Best effort: the child may have exited already.
            let _ = child.kill();
            let _ = child.wait();
        }
        for path in self.paths.values().rev() {
            let removed = match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
                Ok(_) => std::fs::remove_file(path),
                Err(_) => Ok(()),
            };
            // Nothing more can be done about it than to say so.
            if let Err(e) = removed {
                eprintln!("portcullis: cannot remove {}: {e}", path.display());
            }
        }
    }
}

/// Handles SIGINT and SIGTERM from now on: on the first, the registered children are
/// stopped, the registered paths removed, and the process exits with 128 + the signal.
pub fn install() -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("interrupts".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Held until the process is gone: nothing new is created after the cleanup.
                let mut registry = registry();
                registry.clean();
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                eprintln!("portcullis: interrupted ({name})");
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
}

/// Stops the registered children and removes the registered paths now, as an interrupt
/// would, for a process about to exit on its own terms (`serve` after its grace period).
pub fn clean_up() {
    registry().clean();
}

/// What the run is doing, for the message when it runs out of time.
static STAGE: Mutex<&'static str> = Mutex::new("starting");

/// Records what the run is doing now (`reading the image`, `looking up vulnerabilities`).
pub fn stage(name: &'static str) {
    *STAGE.lock().unwrap_or_else(|p| p.into_inner()) = name;
}

/// What the run is doing now.
pub fn current_stage() -> &'static str {
    *STAGE.lock().unwrap_or_else(|p| p.into_inner())
}

/// When the run ends for lack of time, and what to say then.
struct Deadline {
    at: std::time::Instant,
    what: String,
    shown: String,
    code: i32,
}

/// The clock [`deadline`] set; `None` until then.
static DEADLINE: Mutex<Option<Deadline>> = Mutex::new(None);

/// Ends the run when it has not finished within `limit`: the registered children are
/// stopped and the registered paths removed, as on an interrupt, then one line says that
/// `what` ran out of time (`shown` is the limit as the user wrote it) and in which stage,
/// and the process exits with `code`. Called again, it starts the clock again for a new
/// `what` (`recheck` gives each image its own `--timeout`).
pub fn deadline(
    limit: std::time::Duration,
    what: String,
    shown: String,
    code: i32,
) -> io::Result<()> {
    let first = {
        let mut current = DEADLINE.lock().unwrap_or_else(|p| p.into_inner());
        let first = current.is_none();
        *current = Some(Deadline {
            at: std::time::Instant::now() + limit,
            what,
            shown,
            code,
        });
        first
    };
    if !first {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("deadline".into())
        .spawn(|| {
            loop {
                // Read and judged under one lock: a clock started again meanwhile wins.
                let expired = match DEADLINE.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    None => return,
                    Some(d) => {
                        let left = d.at.saturating_duration_since(std::time::Instant::now());
                        if left.is_zero() {
                            Ok((d.what.clone(), d.shown.clone(), d.code))
                        } else {
                            Err(left)
                        }
                    }
                };
                let (what, shown, code) = match expired {
                    Ok(said) => said,
                    Err(left) => {
                        std::thread::sleep(left);
                        continue;
                    }
                };
                let mut registry = registry();
                registry.clean();
                eprintln!(
                    "portcullis: error: {what}: ran out of time after {shown} (--timeout) while {}",
                    current_stage()
                );
                std::process::exit(code);
            }
        })?;
    Ok(())
}

/// A temporary directory, removed when dropped or on an interrupt.
pub struct TempDir {
    // Dropped first: the directory is removed while it is still registered.
    dir: tempfile::TempDir,
    id: u64,
}

impl TempDir {
    /// A new directory in the system's temporary directory (`TMPDIR`).
    pub fn new() -> io::Result<TempDir> {
        TempDir::with(tempfile::tempdir)
    }

    /// The directory `create` makes, registered as it is made.
    pub fn with(create: impl FnOnce() -> io::Result<tempfile::TempDir>) -> io::Result<TempDir> {
        let mut registry = registry();
        let dir = create()?;
        let id = registry.add_path(dir.path().to_path_buf());
        Ok(TempDir { dir, id })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        registry().paths.remove(&self.id);
    }
}

/// A temporary file, removed when dropped or on an interrupt unless it was renamed into
/// place with [`TempFile::persist`].
pub struct TempFile {
    file: Option<tempfile::NamedTempFile>,
    id: u64,
}

impl TempFile {
    /// A new file in `dir`.
    pub fn new_in(dir: &Path) -> io::Result<TempFile> {
        TempFile::with(|| tempfile::NamedTempFile::new_in(dir))
    }

    /// The file `create` makes (a `tempfile::Builder` with a prefix or a mode, say),
    /// registered as it is made.
    pub fn with(
        create: impl FnOnce() -> io::Result<tempfile::NamedTempFile>,
    ) -> io::Result<TempFile> {
        let mut registry = registry();
        let file = create()?;
        let id = registry.add_path(file.path().to_path_buf());
        Ok(TempFile {
            file: Some(file),
            id,
        })
    }

    fn named(&self) -> &tempfile::NamedTempFile {
        self.file
            .as_ref()
            .expect("a TempFile holds its file until persisted")
    }

    pub fn path(&self) -> &Path {
        self.named().path()
    }

    pub fn as_file(&self) -> &std::fs::File {
        self.named().as_file()
    }

    pub fn as_file_mut(&mut self) -> &mut std::fs::File {
        self.file
            .as_mut()
            .expect("a TempFile holds its file until persisted")
            .as_file_mut()
    }

    /// Renames the file to `path`, replacing what is there.
    pub fn persist(self, path: &Path) -> io::Result<()> {
        self.rename(|file| file.persist(path).map(drop))
    }

    /// Renames the file to `path`; an error of kind `AlreadyExists` when `path` exists.
    pub fn persist_noclobber(self, path: &Path) -> io::Result<()> {
        self.rename(|file| file.persist_noclobber(path).map(drop))
    }

    /// Renames and unregisters under one lock: an interrupt sees either the temporary file
    /// (and removes it) or the file in place (and leaves it).
    fn rename(
        mut self,
        rename: impl FnOnce(tempfile::NamedTempFile) -> Result<(), tempfile::PersistError>,
    ) -> io::Result<()> {
        let mut registry = registry();
        let file = self
            .file
            .take()
            .expect("a TempFile holds its file until persisted");
        registry.paths.remove(&self.id);
        // A failed rename drops (and so removes) the temporary file, still under the lock.
        rename(file).map_err(|e| e.error)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // The file first, then its registration: see `TempDir`.
        drop(self.file.take());
        registry().paths.remove(&self.id);
    }
}

/// A child process, stopped on an interrupt.
pub struct Process {
    child: Arc<Mutex<Child>>,
    id: u64,
}

impl Process {
    /// Starts `command`, registered as it starts.
    pub fn spawn(command: &mut Command) -> io::Result<Process> {
        let mut registry = registry();
        let child = Arc::new(Mutex::new(command.spawn()?));
        registry.next += 1;
        let id = registry.next;
        registry.children.insert(id, child.clone());
        Ok(Process { child, id })
    }

    /// Runs `f` on the child (to take its pipes, say).
    pub fn with<T>(&self, f: impl FnOnce(&mut Child) -> T) -> T {
        f(&mut lock_child(&self.child))
    }

    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        lock_child(&self.child).try_wait()
    }

    /// Kills the child and waits for it.
    pub fn kill(&self) -> io::Result<ExitStatus> {
        let mut child = lock_child(&self.child);
        // It may have exited on its own since it was last looked at.
        let _ = child.kill();
        child.wait()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        registry().children.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(path: &Path) -> bool {
        registry().paths.values().any(|p| p == path)
    }

    #[test]
    fn temporary_paths_are_registered_while_they_exist() {
        let dir = TempDir::new().unwrap();
        let dir_path = dir.path().to_path_buf();
        assert!(registered(&dir_path));
        let file = TempFile::new_in(&dir_path).unwrap();
        let file_path = file.path().to_path_buf();
        assert!(registered(&file_path) && file_path.exists());
        drop(file);
        assert!(!registered(&file_path) && !file_path.exists());
        drop(dir);
        assert!(!registered(&dir_path) && !dir_path.exists());
    }

    #[test]
    fn a_persisted_file_is_no_longer_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.json");
        let mut file = TempFile::new_in(dir.path()).unwrap();
        let temp_path = file.path().to_path_buf();
        io::Write::write_all(file.as_file_mut(), b"{}").unwrap();
        file.persist(&target).unwrap();
        assert!(!registered(&temp_path) && !registered(&target));
        assert_eq!(std::fs::read(&target).unwrap(), b"{}");

        let again = TempFile::new_in(dir.path()).unwrap();
        let again_path = again.path().to_path_buf();
        let e = again.persist_noclobber(&target).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(!again_path.exists() && !registered(&again_path));
    }

    #[test]
    fn cleaning_stops_children_and_removes_paths() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept");
        std::fs::write(&kept, "x").unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(inner.join("f"), "x").unwrap();
        let loose = dir.path().join("loose");
        std::fs::write(&loose, "x").unwrap();
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let child = Arc::new(Mutex::new(sleeper.spawn().unwrap()));
        let mut registry = Registry {
            next: 0,
            paths: BTreeMap::new(),
            children: BTreeMap::new(),
        };
        registry.add_path(inner.clone());
        registry.add_path(loose.clone());
        registry.add_path(dir.path().join("never-made"));
        registry.children.insert(99, child.clone());
        let started = std::time::Instant::now();
        registry.clean();
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert!(
            lock_child(&child).try_wait().unwrap().is_some(),
            "sleep runs on"
        );
        assert!(!inner.exists() && !loose.exists());
        assert!(kept.exists());
    }
}
