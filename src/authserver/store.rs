//! Registrations: resources, clients and token issuances, held in memory behind one lock and
//! persisted as one JSON file (`<state>/state.json`, written to a temporary file and renamed, mode
//! 0600) after every change, so a restart keeps them. Also the salted client-secret hashes.
//!
//! Nothing here speaks HTTP; handlers in `admin/` and `oauth.rs` call [`Store::read`] and
//! [`Store::update`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::private_files::{Durability, write_file};
pub use crate::private_files::{create_private_dir, write_private_file};

/// File name of the registrations inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// One scope a resource declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceScope {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub upstream: String,
}

/// A resource's access policy (client-id lists; `connect` only for broker resources).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(default)]
    pub exchange_allowed_client_ids: Vec<String>,
    #[serde(default)]
    pub runtime_client_ids: Vec<String>,
    #[serde(default)]
    pub connect_allowed_return_urls: Option<Vec<String>>,
}

/// A registered resource (`POST /admin/resources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub slug: String,
    pub uri: String,
    pub backend_kind: String,
    pub broker_provider_id: String,
    pub display_name: String,
    pub scopes: Vec<ResourceScope>,
    pub policy: Policy,
    pub created_at: String,
    pub updated_at: String,
}

/// Lifecycle state of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    Active,
    Suspended,
    Revoked,
}

impl ClientStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Suspended => "suspended",
            ClientStatus::Revoked => "revoked",
        }
    }
}

/// A registered OAuth client (`POST /admin/clients`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// `None` for public clients (`token_endpoint_auth_method: none`).
    pub secret_hash: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    /// Space-separated scope ceiling.
    pub scope: String,
    pub status: ClientStatus,
    pub registration_source: String,
    pub agent: bool,
    pub agent_description: String,
    pub issued_at: String,
    pub updated_at: String,
}

/// A minted access token (the real server's machine-token + issuance rows in one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuance {
    pub jti: String,
    pub client_id: String,
    /// The resource the token's audience resolved to, if any: such a resource cannot be deleted.
    pub resource_id: Option<String>,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The signed-in user a user (authorization-code) token was minted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// A revoked access token (`POST /oauth/revoke`, `DELETE /admin/tokens/{jti}`), kept until the
/// token would have expired anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub jti: String,
    pub expires_at: i64,
}

/// A user who can sign in at `/login` (the local dev user, or one made with `/admin/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// `user` or `admin` (upstream's roles; nothing here reads it).
    #[serde(default)]
    pub role: String,
    /// Salted hash as for client secrets ([`hash_secret`]).
    pub password_hash: String,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

impl User {
    /// Whether the user may sign in and keep using their tokens.
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// One refresh token of a family: only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub hash: String,
    pub expires_at: i64,
    /// Spent by a rotation; presenting it again revokes the family.
    pub used: bool,
}

/// The tokens one authorization code led to: its refresh tokens (rotated, each usable once) and
/// the access tokens minted along the way (revoked with the family on reuse detection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    /// The resource URI (the tokens' audience).
    pub resource: String,
    pub resource_id: Option<String>,
    /// The authorization request the code came from (a replayed code revokes this family).
    pub authorization_id: String,
    pub revoked: bool,
    pub refresh: Vec<RefreshRecord>,
    /// `(jti, exp)` of the access tokens minted in this family.
    pub access: Vec<(String, i64)>,
}

/// A user's approval of a client for a resource, so the next authorization of the same or fewer
/// scopes skips the consent page (upstream stores every approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGrant {
    pub user_id: String,
    pub client_id: String,
    pub resource: String,
    pub scopes: Vec<String>,
}

/// Everything the server keeps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Data {
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub clients: Vec<Client>,
    #[serde(default)]
    pub issuances: Vec<Issuance>,
    #[serde(default)]
    pub revocations: Vec<Revocation>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub families: Vec<Family>,
    #[serde(default)]
    pub consents: Vec<ConsentGrant>,
}

impl Data {
    /// Whether the token `jti` was revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revocations.iter().any(|r| r.jti == jti)
    }

    /// Records a revocation of `jti` (valid until `expires_at`) and forgets revocations of tokens
    /// that have expired since, so the list does not grow forever.
    pub fn revoke(&mut self, jti: &str, expires_at: i64, now: i64) {
        self.revocations.retain(|r| r.expires_at > now);
        if !self.is_revoked(jti) {
            self.revocations.push(Revocation {
                jti: jti.to_owned(),
                expires_at,
            });
        }
    }
}

/// The registrations and where they are persisted.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    data: Mutex<Data>,
}

impl Store {
    /// Opens `<dir>/state.json` (a missing file is an empty store).
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        create_private_dir(dir)?;
        let path = dir.join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a valid state file; delete it to start with no registrations",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Data::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Store {
            path,
            data: Mutex::new(data),
        })
    }

    /// Runs `f` on a snapshot under the lock.
    pub fn read<T>(&self, f: impl FnOnce(&Data) -> T) -> T {
        let data = self
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&data)
    }

    /// Runs `f` on a copy of the data; when it returns `Ok` the copy is persisted (and synced to
    /// disk) and becomes the current state, so a failed write or a refused change leaves nothing
    /// half-applied.
    pub fn update<T, E>(
        &self,
        f: impl FnOnce(&mut Data) -> Result<T, E>,
    ) -> Result<T, UpdateError<E>> {
        self.apply(f, Durability::Synced)
    }

    /// Like [`Store::update`], but the file is replaced without waiting for the disk: for
    /// bookkeeping a power cut may lose (token issuance records), never for registrations. The
    /// replacement is still atomic (rename), so the file is always the old or the new state.
    pub fn record<T, E>(
        &self,
        f: impl FnOnce(&mut Data) -> Result<T, E>,
    ) -> Result<T, UpdateError<E>> {
        self.apply(f, Durability::Unsynced)
    }

    fn apply<T, E>(
        &self,
        f: impl FnOnce(&mut Data) -> Result<T, E>,
        durability: Durability,
    ) -> Result<T, UpdateError<E>> {
        let mut data = self
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = data.clone();
        let value = f(&mut next).map_err(UpdateError::Refused)?;
        let bytes = serde_json::to_vec_pretty(&next)
            .map_err(|e| UpdateError::Persist(anyhow::Error::new(e)))?;
        write_file(&self.path, &bytes, durability).map_err(UpdateError::Persist)?;
        *data = next;
        Ok(value)
    }
}

/// Why [`Store::update`] did not apply a change.
#[derive(Debug)]
pub enum UpdateError<E> {
    /// The closure refused the change.
    Refused(E),
    /// The state file could not be written.
    Persist(anyhow::Error),
}

/// Hashes a client secret as `sha256$<salt>$<digest>` (16 random salt bytes, base64url).
pub fn hash_secret(secret: &str) -> String {
    let salt = super::keys::random_id(16);
    format!("sha256${salt}${}", digest(&salt, secret))
}

/// Compares a presented secret with a stored hash in constant time.
pub fn verify_secret(stored: &str, presented: &str) -> bool {
    let mut parts = stored.splitn(3, '$');
    let (Some("sha256"), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    digest(salt, presented)
        .as_bytes()
        .ct_eq(expected.as_bytes())
        .into()
}

fn digest(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The current time as RFC 3339 UTC (nanoseconds trimmed like Go's `time.Time` JSON).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A resource declaring `scopes` (nothing else set), for unit tests of the rules that read them.
#[cfg(test)]
pub fn resource_with_scopes(scopes: &[&str]) -> Resource {
    Resource {
        id: "r".into(),
        slug: "s".into(),
        uri: "http://x/mcp".into(),
        backend_kind: "mint".into(),
        broker_provider_id: String::new(),
        display_name: String::new(),
        scopes: scopes
            .iter()
            .map(|n| ResourceScope {
                name: (*n).into(),
                description: String::new(),
                upstream: String::new(),
            })
            .collect(),
        policy: Policy::default(),
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// An active admin client with scope ceiling `scope` (nothing else set), for unit tests.
#[cfg(test)]
pub fn client_with_scope(scope: &str) -> Client {
    Client {
        id: "c".into(),
        name: "n".into(),
        secret_hash: None,
        redirect_uris: None,
        grant_types: vec![],
        response_types: vec![],
        token_endpoint_auth_method: "none".into(),
        scope: scope.into(),
        status: ClientStatus::Active,
        registration_source: "admin".into(),
        agent: false,
        agent_description: String::new(),
        issued_at: String::new(),
        updated_at: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn secrets_verify_only_with_the_right_value() {
        let h = hash_secret("s3cret");
        assert!(verify_secret(&h, "s3cret"));
        assert!(!verify_secret(&h, "s3cres"));
        assert!(!verify_secret("garbage", "s3cret"));
        assert_ne!(hash_secret("s3cret"), h, "salted");
    }

    #[test]
    fn updates_persist_and_refusals_leave_state_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .update(|d| {
                d.issuances.push(Issuance {
                    jti: "j".into(),
                    client_id: "c".into(),
                    resource_id: None,
                    scope: String::new(),
                    issued_at: 1,
                    expires_at: 2,
                    user_id: None,
                });
                Ok::<_, ()>(())
            })
            .unwrap();
        let refused = store.update(|d| {
            d.issuances.clear();
            Err::<(), _>("no")
        });
        assert!(matches!(refused, Err(UpdateError::Refused("no"))));
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.read(|d| d.issuances.len()), 1);

        // A record (unsynced) is written all the same: a reopened store sees it.
        store
            .record(|d| {
                d.issuances[0].jti = "recorded".into();
                Ok::<_, ()>(())
            })
            .unwrap();
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.read(|d| d.issuances[0].jti.clone()), "recorded");
        let mode = std::fs::metadata(dir.path().join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
