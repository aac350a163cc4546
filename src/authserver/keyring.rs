//! The signing keys in use: the current key (signs every new token) and, after a rotation
//! (`POST /admin/keys/rotate`), the previous one, which stays published in the JWKS and accepted
//! by the server's own verifier until the last token it signed has expired.
//!
//! On disk this is the real server's keyfile layout (`current.*`, `previous.*` in `<state>/keys`)
//! plus one file of ours, `previous.until` (Unix seconds): the moment the previous key's last
//! token expires. A `previous.*` without it (the key set aside when `AUTHPLANE_SIGNING_ALGORITHM`
//! changed) is kept on disk but never published.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use super::config::SigningAlgorithm;
use super::keys::SigningKey;
use super::store::write_private_file;

/// File holding the previous key's retirement time (Unix seconds).
const PREVIOUS_UNTIL: &str = "previous.until";

/// The previous key and when it stops being published.
#[derive(Debug, Clone)]
struct Retiring {
    key: Arc<SigningKey>,
    /// Unix seconds after which no token it signed is still valid.
    until: i64,
}

#[derive(Debug, Clone)]
struct Keys {
    current: Arc<SigningKey>,
    previous: Option<Retiring>,
}

/// Whether a listed key signs new tokens or only still verifies old ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Current,
    Previous,
}

impl KeyStatus {
    /// The wire spelling (`GET /admin/keys`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Current => "current",
            KeyStatus::Previous => "previous",
        }
    }
}

/// The current and previous signing keys, shared by every handler.
#[derive(Debug)]
pub struct KeyRing {
    dir: PathBuf,
    alg: SigningAlgorithm,
    keys: RwLock<Keys>,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl KeyRing {
    /// Loads the current key (generating one when there is none, see
    /// [`SigningKey::load_or_create`]) and the previous key when a rotation left one behind.
    pub fn load_or_create(dir: &Path, alg: SigningAlgorithm) -> anyhow::Result<KeyRing> {
        let current = SigningKey::load_or_create(dir, alg)?;
        let until_path = dir.join(PREVIOUS_UNTIL);
        let previous = match std::fs::read_to_string(&until_path) {
            Ok(text) => {
                let until: i64 = text.trim().parse().with_context(|| {
                    format!(
                        "{} is not a Unix time; delete it to stop publishing the previous key",
                        until_path.display()
                    )
                })?;
                load_previous(dir, until)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", until_path.display())),
        };
        Ok(KeyRing {
            dir: dir.to_owned(),
            alg,
            keys: RwLock::new(Keys {
                current: Arc::new(current),
                previous,
            }),
        })
    }

    fn snapshot(&self) -> Keys {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The key new tokens are signed with.
    pub fn current(&self) -> Arc<SigningKey> {
        self.snapshot().current
    }

    /// The current key's `kid`.
    pub fn kid(&self) -> String {
        self.current().kid.clone()
    }

    /// Signs `claims` with the current key (see [`SigningKey::sign`]).
    pub fn sign(&self, claims: &impl serde::Serialize) -> anyhow::Result<String> {
        self.current().sign(claims)
    }

    /// The keys a verifier may use now: the current one, then the previous one while a token it
    /// signed may still be valid.
    pub fn published(&self) -> Vec<(Arc<SigningKey>, KeyStatus)> {
        let keys = self.snapshot();
        let mut out = vec![(keys.current, KeyStatus::Current)];
        if let Some(previous) = keys.previous
            && previous.until > now()
        {
            out.push((previous.key, KeyStatus::Previous));
        }
        out
    }

    /// The public JWKs of [`KeyRing::published`].
    pub fn jwks(&self) -> Vec<Value> {
        self.published()
            .into_iter()
            .map(|(k, _)| k.jwk().clone())
            .collect()
    }

    /// The published key with `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.published()
            .into_iter()
            .map(|(k, _)| k)
            .find(|k| k.kid == kid)
    }

    /// Generates a new current key; the old current key becomes the previous one, published until
    /// `token_lifetime` from now (when the last token it signed expires). A previous key from an
    /// earlier rotation is dropped, as upstream's keyfile store does. Written to disk before the
    /// new key is used.
    pub fn rotate(&self, token_lifetime: Duration) -> anyhow::Result<Arc<SigningKey>> {
        let (pem, key) = SigningKey::generate(self.alg)?;
        let lifetime = i64::try_from(token_lifetime.as_secs()).unwrap_or(i64::MAX / 4);
        let until = now().saturating_add(lifetime);
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ext in ["pem", "kid", "alg"] {
            let from = self.dir.join(format!("current.{ext}"));
            let to = self.dir.join(format!("previous.{ext}"));
            std::fs::rename(&from, &to)
                .with_context(|| format!("moving {} aside", from.display()))?;
        }
        write_private_file(&self.dir.join(PREVIOUS_UNTIL), until.to_string().as_bytes())?;
        SigningKey::write(&self.dir, "current", &pem, &key)?;
        let key = Arc::new(key);
        let old = std::mem::replace(&mut keys.current, key.clone());
        keys.previous = Some(Retiring { key: old, until });
        Ok(key)
    }
}

/// The previous key, when its files are there and it is still to be published.
fn load_previous(dir: &Path, until: i64) -> anyhow::Result<Option<Retiring>> {
    let pem_path = dir.join("previous.pem");
    if !pem_path.exists() {
        return Ok(None);
    }
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let alg = match read("previous.alg")?.trim() {
        "ES256" => SigningAlgorithm::Es256,
        "RS256" => SigningAlgorithm::Rs256,
        other => anyhow::bail!("previous.alg names an unknown algorithm {other:?}"),
    };
    let kid = read("previous.kid")?;
    let key = SigningKey::from_pem(alg, kid.trim(), &read("previous.pem")?).with_context(|| {
        format!(
            "loading the previous signing key {}; delete {} to stop publishing it",
            pem_path.display(),
            dir.join(PREVIOUS_UNTIL).display()
        )
    })?;
    Ok(Some(Retiring {
        key: Arc::new(key),
        until,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_key_published_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load_or_create(dir.path(), SigningAlgorithm::Es256).unwrap();
        let first = ring.kid();
        assert_eq!(ring.jwks().len(), 1);
        let new = ring.rotate(Duration::from_hours(1)).unwrap();
        assert_ne!(new.kid, first);
        assert_eq!(ring.kid(), new.kid);
        let kids: Vec<String> = ring
            .published()
            .iter()
            .map(|(k, _)| k.kid.clone())
            .collect();
        assert_eq!(kids, [new.kid.clone(), first.clone()]);
        assert!(ring.find(&first).is_some());

        let reloaded = KeyRing::load_or_create(dir.path(), SigningAlgorithm::Es256).unwrap();
        assert_eq!(reloaded.kid(), new.kid);
        assert_eq!(reloaded.jwks().len(), 2);

        // Once the previous key's last token has expired, it is no longer published.
        std::fs::write(dir.path().join(PREVIOUS_UNTIL), "1").unwrap();
        let expired = KeyRing::load_or_create(dir.path(), SigningAlgorithm::Es256).unwrap();
        assert_eq!(expired.jwks().len(), 1);
        assert!(expired.find(&first).is_none());
    }
}
