//! The client side of DPoP (RFC 9449) for `verify --dpop`: a fresh P-256 key per run, held by
//! authplane-sdk's own [`DpopProvider`], which builds every proof (`htm`, `htu`, `iat`, a fresh
//! `jti`, `ath` when a token is presented, and the last nonce the server sent for that origin).
//! The key never leaves the process and is never written anywhere.

use authplane_sdk::DpopProvider;
use jsonwebtoken::Algorithm;
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

/// A proof-of-possession key for one run.
#[derive(Debug, Clone)]
pub struct DpopKey {
    provider: DpopProvider,
    thumbprint: String,
}

impl DpopKey {
    /// A fresh ES256 key. Fails only if the SDK refuses the key it was handed (a bug).
    pub fn generate() -> anyhow::Result<DpopKey> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("encoding the DPoP key: {e}"))?;
        let provider = DpopProvider::from_pem(&pem, Algorithm::ES256)
            .map_err(|e| anyhow::anyhow!("authplane-sdk refused the DPoP key: {e}"))?;
        let thumbprint = provider
            .thumbprint()
            .map_err(|e| anyhow::anyhow!("computing the DPoP key thumbprint: {e}"))?;
        Ok(DpopKey {
            provider,
            thumbprint,
        })
    }

    /// The key's RFC 7638 thumbprint: what a token bound to it carries as `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A fresh proof for `method url`, bound to `access_token` (`ath`) when given.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, String> {
        self.provider
            .build_proof(method, url, access_token)
            .map_err(|e| e.to_string())
    }

    /// Remembers a `DPoP-Nonce` the server at `url` sent, for the next proof to that origin.
    pub fn note_nonce(&self, url: &str, nonce: &str) {
        // Only an unparsable URL fails, and such a request never reached a server.
        let _ = self.provider.note_nonce(url, nonce);
    }
}
