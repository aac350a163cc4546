//! Files that hold secrets (signing keys, the AS's state, client credentials): directories 0700,
//! files 0600, replaced atomically so a reader sees the old or the new content, never a mix.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::stack::platform;

/// Whether a write waits until the disk has the bytes (fsync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Synced,
    Unsynced,
}

/// Creates `dir` (and parents) and restricts it to the owner (0700).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    platform::set_mode(dir, 0o700)
        .with_context(|| format!("restricting {} to its owner", dir.display()))
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, synced, then
/// renamed), mode 0600.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_file(path, bytes, Durability::Synced)
}

/// Writes `bytes` to `path` atomically, mode 0600, syncing first when `durability` says so.
pub fn write_file(path: &Path, bytes: &[u8], durability: Durability) -> anyhow::Result<()> {
    let tmp = temp_path(path);
    let result = write_temp(&tmp, bytes, durability).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Creates `path` holding `bytes` (mode 0600, synced) unless it exists, so that a reader sees no
/// file or the whole file, never a part: the bytes go to a temporary file in the same directory,
/// which is then hard-linked to `path` (a link never replaces an existing file). Returns false,
/// writing nothing, when `path` exists. On a file system without hard links it falls back to
/// creating `path` directly (exclusive, but visible while being written).
pub fn create_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let tmp = temp_path(path);
    let linked =
        write_temp(&tmp, bytes, Durability::Synced).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) => {
            let created =
                platform::private_file(std::fs::OpenOptions::new().write(true).create_new(true))
                    .open(path);
            match created {
                Ok(mut f) => f
                    .write_all(bytes)
                    .and_then(|()| f.sync_all())
                    .map(|()| true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// `.<name>.tmp-<pid>` beside `path`: one per process, so concurrent writers never share one.
fn temp_path(path: &Path) -> std::path::PathBuf {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()))
}

fn write_temp(tmp: &Path, bytes: &[u8], durability: Durability) -> std::io::Result<()> {
    // create_new: a leftover temporary file (of any mode) is never reused.
    let _ = std::fs::remove_file(tmp);
    let mut f = platform::private_file(std::fs::OpenOptions::new().write(true).create_new(true))
        .open(tmp)?;
    f.write_all(bytes)?;
    if durability == Durability::Synced {
        f.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn create_private_file_never_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        assert!(create_private_file(&path, b"first\n").unwrap());
        assert!(!create_private_file(&path, b"second\n").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [".env"]);
    }
}
