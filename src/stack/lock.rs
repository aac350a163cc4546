//! The run-directory lock: one state-changing run at a time per run directory.
//!
//! The verbs that change state (`up`, `verify`, `token`, `clean`, `init`) hold an exclusive OS
//! file lock (`flock`) on `<run_dir>/.lock` from the end of their configuration pre-flight until
//! they exit. The kernel releases it on any exit, `kill -9` included, so a crashed run never
//! leaves the directory locked. A second run waits for it, says so once after [`NOTE_AFTER`], then
//! proceeds as if it had run alone. Read-only verbs (`status`, `doctor`, `logs`, `inspect`) never
//! take it.
//!
//! The file (0600, in the 0700 run directory) holds the holder's pid, for that note only: owning
//! the lock, not the file's presence or content, is what counts. `clean --all` removes the run
//! directory, lock file included, while it holds the lock; a run that was waiting on the removed
//! file sees that the path no longer names the file it locked and locks the new one instead. The
//! descriptor is close-on-exec (std's default), so the background servers a run starts never
//! inherit the lock.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exit::EnvError;
use crate::stack::{platform, process};

/// The lock file's name inside the run directory.
pub const LOCK_FILE: &str = ".lock";

/// How long a run waits silently before saying it waits for another one.
pub const NOTE_AFTER: Duration = Duration::from_secs(1);

/// `<run_dir>/.lock`.
pub fn lock_path(run_dir: &Path) -> PathBuf {
    run_dir.join(LOCK_FILE)
}

/// The exclusive lock on a run directory; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock on `run_dir`, creating the directory (0700) and the lock file (0600) when
    /// missing, and waits as long as another run holds it. When the wait lasts longer than
    /// [`NOTE_AFTER`], `on_wait` is called once with the holder's pid (when its file names one).
    /// Errors (exit 3) when the directory or the file cannot be created or locked.
    pub async fn acquire(
        run_dir: &Path,
        mut on_wait: impl FnMut(Option<u32>),
    ) -> anyhow::Result<RunLock> {
        let path = lock_path(run_dir);
        let mut noted = false;
        loop {
            process::ensure_run_dir(run_dir)?;
            let file = open(&path)?;
            let file = match file.try_lock() {
                Ok(()) => file,
                Err(TryLockError::WouldBlock) => {
                    // `File::lock` blocks, so it waits on a thread of its own; a cancelled wait
                    // (Ctrl-C) leaves that thread behind, and the process exit ends it.
                    let (tx, mut rx) = tokio::sync::oneshot::channel();
                    std::thread::Builder::new()
                        .name("run-dir-lock".to_owned())
                        .spawn(move || {
                            let _ = tx.send(file.lock().map(|()| file));
                        })
                        .map_err(|e| cannot_lock(&path, &e))?;
                    let locked = if let Ok(locked) = tokio::time::timeout(NOTE_AFTER, &mut rx).await
                    {
                        locked
                    } else {
                        if !noted {
                            noted = true;
                            on_wait(holder(&path));
                        }
                        rx.await
                    };
                    locked
                        .map_err(|_| {
                            anyhow::anyhow!("the thread waiting for {} ended", path.display())
                        })?
                        .map_err(|e| cannot_lock(&path, &e))?
                }
                Err(TryLockError::Error(e)) => return Err(cannot_lock(&path, &e)),
            };
            if names_file(&path, &file) {
                let pid = format!("{}\n", std::process::id());
                // Overwrite in place, then cut: a reader sees a pid, never an empty file.
                let written = platform::write_at_start(&file, pid.as_bytes())
                    .and_then(|()| file.set_len(pid.len() as u64));
                written.map_err(|e| cannot_lock(&path, &e))?;
                return Ok(RunLock { _file: file });
            }
            // The file was removed or replaced while we waited (`clean --all`): lock the one
            // the path names now.
        }
    }
}

/// The pid of the run holding the lock at `path`, as its file records it.
pub fn holder(path: &Path) -> Option<u32> {
    fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn open(path: &Path) -> anyhow::Result<File> {
    platform::private_file(
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .open(path)
    .map_err(|e| cannot_lock(path, &e))
}

/// True when `path` still names the file `file` has open (same device and inode).
fn names_file(path: &Path, file: &File) -> bool {
    platform::names_same_file(path, file)
}

fn cannot_lock(path: &Path, e: &std::io::Error) -> anyhow::Error {
    EnvError::explained(
        format!("cannot lock {}", path.display()),
        format!(
            "{e}; authplane-dev locks its state directory so that two runs never start the same \
             servers or write the same files at once"
        ),
        "check the permissions of the state directory, or pass --run-dir DIR",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_lock_waits_for_the_first_and_reads_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join(".run");
        let first = RunLock::acquire(&run_dir, |_| panic!("nobody holds it"))
            .await
            .unwrap();
        assert_eq!(holder(&lock_path(&run_dir)), Some(std::process::id()));
        let path = lock_path(&run_dir);
        // flock locks belong to the open file: a second open in this process conflicts too.
        let other = open(&path).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(first);
        other.try_lock().unwrap();
    }

    #[tokio::test]
    async fn a_removed_lock_file_is_created_again() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join(".run");
        let first = RunLock::acquire(&run_dir, |_| {}).await.unwrap();
        fs::remove_dir_all(&run_dir).unwrap();
        let second = RunLock::acquire(&run_dir, |_| panic!("the removed file is not the lock"))
            .await
            .unwrap();
        assert!(lock_path(&run_dir).is_file());
        drop((first, second));
    }
}
