//! The client credentials `verify` and `token` reuse between runs: `<run_dir>/client.json`
//! (file mode 0600, directory 0700), with the admin URL and issuer they belong to so a
//! credential from another AS is never reused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::private_files::{create_private_dir, write_private_file};

/// The file name inside the run directory.
pub const FILE_NAME: &str = "client.json";

/// A stored machine client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredClient {
    pub client_id: String,
    pub client_secret: String,
    /// The admin API the client was created through.
    pub admin_url: String,
    /// The issuer of the AS that holds it.
    pub issuer: String,
}

impl StoredClient {
    /// True when the credential belongs to the AS at `admin_url` announcing `issuer`.
    pub fn belongs_to(&self, admin_url: &str, issuer: &str) -> bool {
        self.admin_url == admin_url && self.issuer == issuer
    }
}

/// Where the credentials live for `run_dir`.
pub fn path(run_dir: &Path) -> PathBuf {
    run_dir.join(FILE_NAME)
}

/// Reads the stored client; a missing or unreadable file is `None` (a fresh client is then
/// created, which is always safe).
pub fn load(run_dir: &Path) -> Option<StoredClient> {
    let text = std::fs::read_to_string(path(run_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the stored client (directory 0700, file 0600, replaced atomically).
pub fn save(run_dir: &Path, client: &StoredClient) -> anyhow::Result<()> {
    create_private_dir(run_dir)?;
    let body = serde_json::to_string_pretty(client)?;
    write_private_file(&path(run_dir), body.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn round_trip_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join(".run");
        assert!(load(&run_dir).is_none());
        let client = StoredClient {
            client_id: "id".into(),
            client_secret: "secret".into(),
            admin_url: "http://localhost:9001".into(),
            issuer: "http://localhost:9000".into(),
        };
        save(&run_dir, &client).unwrap();
        save(&run_dir, &client).unwrap();
        assert_eq!(load(&run_dir).unwrap(), client);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path(&run_dir)), 0o600);
        assert_eq!(mode(&run_dir), 0o700);
        assert!(client.belongs_to("http://localhost:9001", "http://localhost:9000"));
        assert!(!client.belongs_to("http://localhost:19001", "http://localhost:9000"));
        std::fs::write(path(&run_dir), "{not json").unwrap();
        assert!(load(&run_dir).is_none());
    }
}
