//! The server's own access-token verifier, used by introspection and revocation: a token counts
//! only when this server signed it with a key it still publishes, it is an RFC 9068 access token
//! (`typ: at+jwt`), names this issuer, carries `exp` and `iat`, and has not expired (30 s of
//! clock skew allowed), as upstream's verifier requires.

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::Shared;
use super::config::SigningAlgorithm;

/// Clock skew tolerated on `exp` / `nbf`.
pub const LEEWAY: std::time::Duration = std::time::Duration::from_secs(30);

/// The claims of a token this server issued and that is still within its lifetime.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub claims: Map<String, Value>,
}

impl AccessToken {
    fn text(&self, name: &str) -> &str {
        self.claims.get(name).and_then(Value::as_str).unwrap_or("")
    }

    /// `jti`.
    pub fn jti(&self) -> &str {
        self.text("jti")
    }

    /// `client_id`.
    pub fn client_id(&self) -> &str {
        self.text("client_id")
    }

    /// `exp` (Unix seconds).
    pub fn exp(&self) -> i64 {
        self.claims.get("exp").and_then(Value::as_i64).unwrap_or(0)
    }

    /// The `aud` entries (a string or an array of strings).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Verifies `token`; `None` for anything that is not a live access token of this server.
pub fn verify(state: &Shared, token: &str) -> Option<AccessToken> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let key = state.key.find(header.kid.as_deref()?)?;
    let alg = match key.alg {
        SigningAlgorithm::Es256 => Algorithm::ES256,
        SigningAlgorithm::Rs256 => Algorithm::RS256,
    };
    if header.alg != alg {
        return None;
    }
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY.as_secs();
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.set_issuer(&[state.config.issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss"]);
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, key.decoding(), &validation).ok()?;
    data.claims.get("iat").and_then(Value::as_i64)?;
    Some(AccessToken {
        claims: data.claims,
    })
}
