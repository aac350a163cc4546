//! The client credentials `verify` and `token` reuse between runs: `<run_dir>/client.json`
//! (file mode 0600, directory 0700), with the admin URL and issuer they belong to so a
//! credential from another AS is never reused.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
pub fn save(run_dir: &Path, client: &StoredClient) -> std::io::Result<()> {
    std::fs::create_dir_all(run_dir)?;
    std::fs::set_permissions(run_dir, std::fs::Permissions::from_mode(0o700))?;
    let target = path(run_dir);
    let tmp = run_dir.join(format!(".{FILE_NAME}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let body = serde_json::to_string_pretty(client).map_err(std::io::Error::other)?;
    file.write_all(body.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &target)
}

#[cfg(test)]
mod tests {
    use super::*;

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
