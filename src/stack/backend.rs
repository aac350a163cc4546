//! The record of the backend a running stack was started with: `<run_dir>/backend` (0600), one
//! word, `embedded` or `docker`.
//!
//! `--as auto` decides once: while the authorization server it chose runs, later runs read this
//! record and keep that backend instead of asking Docker again (no engine call, no pull attempt
//! for a warm `verify`). The record is written by `up`, `verify` and `token` (under the run-
//! directory lock) once the authorization server is up, and removed by `clean`; a record whose
//! server no longer runs is ignored. This module owns the file and never prints.

use std::path::{Path, PathBuf};

use crate::private_files::{Durability, write_file};
use crate::stack::AsBackend;

/// `<run_dir>/backend`.
pub fn record_path(run_dir: &Path) -> PathBuf {
    run_dir.join("backend")
}

/// The backend recorded in `run_dir`, if any (an unreadable or unknown record counts as none).
pub fn recorded(run_dir: &Path) -> Option<AsBackend> {
    let text = std::fs::read_to_string(record_path(run_dir)).ok()?;
    match text.trim() {
        "embedded" => Some(AsBackend::Embedded),
        "docker" => Some(AsBackend::Docker),
        _ => None,
    }
}

/// Records `backend` as the one the running stack was started with (atomically, mode 0600);
/// does nothing when it is already recorded, so a warm run writes nothing.
pub fn record(run_dir: &Path, backend: AsBackend) -> anyhow::Result<()> {
    if recorded(run_dir) == Some(backend) {
        return Ok(());
    }
    // Not synced: a record lost in a crash only costs one more decision.
    write_file(
        &record_path(run_dir),
        format!("{}\n", backend.name()).as_bytes(),
        Durability::Unsynced,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_garbage_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(recorded(dir.path()), None);
        record(dir.path(), AsBackend::Docker).unwrap();
        assert_eq!(recorded(dir.path()), Some(AsBackend::Docker));
        record(dir.path(), AsBackend::Embedded).unwrap();
        assert_eq!(recorded(dir.path()), Some(AsBackend::Embedded));
        std::fs::write(record_path(dir.path()), "podman\n").unwrap();
        assert_eq!(recorded(dir.path()), None);
    }
}
