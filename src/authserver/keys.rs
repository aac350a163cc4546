//! The signing key: generated on first start, kept in `<state>/keys/` with the real server's
//! keyfile layout (`current.pem` PKCS#8 PEM, `current.kid`, `current.alg`; dir 0700, files 0600)
//! so tools that read the real server's keyfile store read ours, and published as a JWKS.
//! Also the random identifiers (kid, jti, ids, secrets) the server hands out.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::RngCore as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

use super::config::SigningAlgorithm;
use super::store::write_private_file;

/// `n` random bytes as unpadded base64url (16 bytes → the 22-char ids the real server uses).
pub fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The key access tokens are signed with, and its public JWK.
pub struct SigningKey {
    pub alg: SigningAlgorithm,
    pub kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads `<dir>/current.*`, or generates a key of `alg` and writes it when there is none.
    /// A stored key of another algorithm is replaced (the old files are kept as `previous.*`).
    pub fn load_or_create(dir: &Path, alg: SigningAlgorithm) -> anyhow::Result<SigningKey> {
        super::store::create_private_dir(dir)?;
        let paths = KeyPaths::new(dir, "current");
        if paths.pem.exists() {
            let stored_alg = std::fs::read_to_string(&paths.alg)
                .with_context(|| format!("reading {}", paths.alg.display()))?;
            if stored_alg.trim() == alg.as_str() {
                let pem = std::fs::read_to_string(&paths.pem)
                    .with_context(|| format!("reading {}", paths.pem.display()))?;
                let kid = std::fs::read_to_string(&paths.kid)
                    .with_context(|| format!("reading {}", paths.kid.display()))?;
                return SigningKey::from_pem(alg, kid.trim(), &pem).with_context(|| {
                    format!(
                        "loading the signing key {}; delete {} to start with a fresh key",
                        paths.pem.display(),
                        dir.display()
                    )
                });
            }
            let previous = KeyPaths::new(dir, "previous");
            for (from, to) in [
                (&paths.pem, &previous.pem),
                (&paths.kid, &previous.kid),
                (&paths.alg, &previous.alg),
            ] {
                std::fs::rename(from, to)
                    .with_context(|| format!("moving {} aside", from.display()))?;
            }
            // A key set aside for another algorithm is kept but never published (see keyring).
            match std::fs::remove_file(dir.join("previous.until")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).context("forgetting the previous key's retirement time");
                }
                _ => {}
            }
        }
        let (pem, key) = SigningKey::generate(alg)?;
        SigningKey::write(dir, "current", &pem, &key)?;
        Ok(key)
    }

    /// Writes `<dir>/<stem>.pem|kid|alg` (0600, each atomically).
    pub fn write(dir: &Path, stem: &str, pem: &str, key: &SigningKey) -> anyhow::Result<()> {
        let paths = KeyPaths::new(dir, stem);
        write_private_file(&paths.pem, pem.as_bytes())?;
        write_private_file(&paths.kid, key.kid.as_bytes())?;
        write_private_file(&paths.alg, key.alg.as_str().as_bytes())
    }

    /// A fresh key of `alg` with a random `kid`, and its PKCS#8 PEM.
    pub fn generate(alg: SigningAlgorithm) -> anyhow::Result<(String, SigningKey)> {
        let kid = random_id(16);
        let pem = match alg {
            SigningAlgorithm::Es256 => p256::SecretKey::random(&mut rand::rngs::OsRng)
                .to_pkcs8_pem(LineEnding::LF)
                .context("encoding the new P-256 key")?
                .to_string(),
            SigningAlgorithm::Rs256 => rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                .context("generating an RSA-2048 key")?
                .to_pkcs8_pem(LineEnding::LF)
                .context("encoding the new RSA key")?
                .to_string(),
        };
        let key = SigningKey::from_pem(alg, &kid, &pem)?;
        Ok((pem, key))
    }

    /// Builds the key from a PKCS#8 PEM private key.
    pub fn from_pem(alg: SigningAlgorithm, kid: &str, pem: &str) -> anyhow::Result<SigningKey> {
        let (encoding, decoding, jwk) = match alg {
            SigningAlgorithm::Es256 => {
                let secret =
                    p256::SecretKey::from_pkcs8_pem(pem).context("not a P-256 PKCS#8 key")?;
                let der = secret.to_pkcs8_der().context("re-encoding the P-256 key")?;
                let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                    &secret.public_key(),
                    false,
                );
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    anyhow::bail!("the P-256 public key has no affine coordinates");
                };
                let jwk = json!({
                    "use": "sig",
                    "kty": "EC",
                    "kid": kid,
                    "crv": "P-256",
                    "alg": "ES256",
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y),
                });
                let decoding = DecodingKey::from_ec_components(
                    &URL_SAFE_NO_PAD.encode(x),
                    &URL_SAFE_NO_PAD.encode(y),
                )
                .context("building the P-256 verifying key")?;
                (EncodingKey::from_ec_der(der.as_bytes()), decoding, jwk)
            }
            SigningAlgorithm::Rs256 => {
                let secret =
                    rsa::RsaPrivateKey::from_pkcs8_pem(pem).context("not an RSA PKCS#8 key")?;
                // ring (behind jsonwebtoken) takes RSA keys as PKCS#1 DER.
                let der = secret.to_pkcs1_der().context("re-encoding the RSA key")?;
                let jwk = json!({
                    "use": "sig",
                    "kty": "RSA",
                    "kid": kid,
                    "alg": "RS256",
                    "n": URL_SAFE_NO_PAD.encode(secret.n().to_bytes_be()),
                    "e": URL_SAFE_NO_PAD.encode(secret.e().to_bytes_be()),
                });
                let decoding = DecodingKey::from_rsa_components(
                    &URL_SAFE_NO_PAD.encode(secret.n().to_bytes_be()),
                    &URL_SAFE_NO_PAD.encode(secret.e().to_bytes_be()),
                )
                .context("building the RSA verifying key")?;
                (EncodingKey::from_rsa_der(der.as_bytes()), decoding, jwk)
            }
        };
        Ok(SigningKey {
            alg,
            kid: kid.to_owned(),
            encoding,
            decoding,
            jwk,
        })
    }

    /// The public key, for checking signatures.
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The public key as a JWK (go-jose member order).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Signs `claims` as an RFC 9068 access token: header `{alg, kid, typ: "at+jwt"}`; ES256
    /// signatures come out in the raw r‖s JWS form.
    pub fn sign(&self, claims: &impl serde::Serialize) -> anyhow::Result<String> {
        let mut header = Header::new(match self.alg {
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::Rs256 => Algorithm::RS256,
        });
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing the access token")
    }
}

struct KeyPaths {
    pem: PathBuf,
    kid: PathBuf,
    alg: PathBuf,
}

impl KeyPaths {
    fn new(dir: &Path, stem: &str) -> KeyPaths {
        KeyPaths {
            pem: dir.join(format!("{stem}.pem")),
            kid: dir.join(format!("{stem}.kid")),
            alg: dir.join(format!("{stem}.alg")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn ids_are_22_char_base64url() {
        let id = random_id(16);
        assert_eq!(id.len(), 22);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(random_id(32).len(), 43);
    }

    #[test]
    fn key_survives_a_reload_and_signs_raw_es256() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let a = SigningKey::load_or_create(&keys, SigningAlgorithm::Es256).unwrap();
        let b = SigningKey::load_or_create(&keys, SigningAlgorithm::Es256).unwrap();
        assert_eq!(a.kid, b.kid);
        assert_eq!(a.jwk(), b.jwk());
        assert_eq!(
            std::fs::read_to_string(keys.join("current.alg")).unwrap(),
            "ES256"
        );
        let pem = std::fs::read_to_string(keys.join("current.pem")).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let token = a.sign(&json!({"sub": "x"})).unwrap();
        let sig = token.rsplit('.').next().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(sig).unwrap().len(), 64);
        let mode = std::fs::metadata(keys.join("current.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn changing_the_algorithm_replaces_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let es = SigningKey::load_or_create(dir.path(), SigningAlgorithm::Es256).unwrap();
        let rs = SigningKey::load_or_create(dir.path(), SigningAlgorithm::Rs256).unwrap();
        assert_ne!(es.kid, rs.kid);
        assert_eq!(rs.jwk()["kty"], "RSA");
        assert!(dir.path().join("previous.pem").exists());
    }
}
