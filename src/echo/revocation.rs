//! Where the echo server's introspection client lives between `up` (which registers it) and
//! `serve echo` (which reads it at startup): `<run-dir>/echo-introspection.json`, mode 0600,
//! `{"client_id":…,"client_secret":…,"admin_url":…}`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::IntrospectionCredentials;
use crate::private_files::write_private_file;

/// The file's name inside the run directory.
pub const FILE: &str = "echo-introspection.json";

/// What the file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredIntrospectionClient {
    pub client_id: String,
    pub client_secret: String,
    /// The admin API the client was registered with (another AS means another client).
    #[serde(default)]
    pub admin_url: String,
}

impl StoredIntrospectionClient {
    /// The credentials the verifier uses.
    pub fn credentials(&self) -> IntrospectionCredentials {
        IntrospectionCredentials {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
        }
    }
}

/// `<run_dir>/echo-introspection.json`.
pub fn path(run_dir: &Path) -> PathBuf {
    run_dir.join(FILE)
}

/// Reads the file: `Ok(None)` when there is none, an error when it is unreadable or malformed.
pub fn load(run_dir: &Path) -> anyhow::Result<Option<StoredIntrospectionClient>> {
    let path = path(run_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    };
    let stored: StoredIntrospectionClient = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not valid: {e}", path.display()))?;
    if stored.client_id.is_empty() || stored.client_secret.is_empty() {
        anyhow::bail!("{} has an empty client_id or client_secret", path.display());
    }
    Ok(Some(stored))
}

/// Writes the file (0600, atomically).
pub fn save(run_dir: &Path, stored: &StoredIntrospectionClient) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(stored)?;
    write_private_file(&path(run_dir), &bytes)
}
