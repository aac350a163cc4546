//! DPoP (RFC 9449) at the token endpoint, as authserver 0.2.2 does it: a `DPoP` proof header is
//! checked (structure, `typ`, `alg`, public `jwk`, signature, `jti`, `htm`, `htu`, `iat`), then the
//! server nonce when `AUTHPLANE_DPOP_REQUIRE_NONCE` is on, then its `jti` is spent; the token is
//! bound to the proof key's RFC 7638 thumbprint (`cnf.jkt`). Every response to a request that
//! carried a proof gets a fresh `DPoP-Nonce`.
//!
//! State: the nonces issued (valid for `AUTHPLANE_DPOP_NONCE_TTL`, reusable until then, as
//! upstream's store) and the proof `jti`s spent (kept twice the proof lifetime), both in memory:
//! a restart forgets them, and a proof older than its lifetime is refused anyway.
//!
//! The error rows are upstream's sentinels, verbatim: every structural or cryptographic problem is
//! the same `invalid_dpop_proof` "DPoP proof is invalid" (the precise reason goes to the request
//! log only), a spent `jti` says so, and the two nonce rows are `use_dpop_nonce`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::keys;
use super::problem::OAuthError;

/// The request header carrying the proof, and the response header carrying the nonce.
pub const DPOP_HEADER: &str = "dpop";
pub const NONCE_HEADER: &str = "dpop-nonce";

/// Proof algorithms accepted (the metadata's `dpop_signing_alg_values_supported`).
pub const PROOF_ALGORITHMS: [&str; 3] = ["ES256", "RS256", "PS256"];

/// The smallest RSA modulus accepted in a proof key, in bits (upstream: 2048).
const MIN_RSA_BITS: usize = 2048;

/// JWK members that only a private key has (RFC 7517 §9.3, RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused: one of upstream's four rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// Structure, header, key, signature, `jti`, `htm`, `htu` or `iat`; the reason is for the log.
    Invalid(String),
    /// The proof's `jti` was already spent.
    Replay,
    /// A nonce is required and the proof carries none.
    NonceRequired,
    /// The proof's nonce was never issued, or has expired.
    NonceMismatch,
}

impl From<ProofError> for OAuthError {
    fn from(e: ProofError) -> OAuthError {
        match e {
            ProofError::Invalid(why) => {
                OAuthError::bad_request("invalid_dpop_proof", "DPoP proof is invalid").because(why)
            }
            ProofError::Replay => OAuthError::bad_request(
                "invalid_dpop_proof",
                "DPoP proof jti has already been used",
            ),
            ProofError::NonceRequired => {
                OAuthError::bad_request("use_dpop_nonce", "server nonce is required in DPoP proof")
            }
            ProofError::NonceMismatch => OAuthError::bad_request(
                "use_dpop_nonce",
                "DPoP proof nonce does not match server-issued nonce",
            ),
        }
    }
}

/// The DPoP settings of one server (`AUTHPLANE_DPOP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpopSettings {
    pub enabled: bool,
    /// How long an issued nonce stays valid.
    pub nonce_ttl: Duration,
    /// How far a proof's `iat` may be from now, either way.
    pub proof_lifetime: Duration,
    /// Refuse proofs without a valid server nonce.
    pub require_nonce: bool,
}

impl Default for DpopSettings {
    fn default() -> DpopSettings {
        DpopSettings {
            enabled: true,
            nonce_ttl: Duration::from_mins(1),
            proof_lifetime: Duration::from_mins(1),
            require_nonce: false,
        }
    }
}

/// A proof that passed every check: what the token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// RFC 7638 SHA-256 thumbprint of the proof key (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub nonce: Option<String>,
}

/// Issued nonces and spent proof `jti`s, each with the instant it stops mattering.
#[derive(Debug, Default)]
pub struct DpopState {
    nonces: Mutex<HashMap<String, Instant>>,
    spent: Mutex<HashMap<String, Instant>>,
}

impl DpopState {
    /// A fresh random nonce, valid for `ttl` from now.
    pub fn issue_nonce(&self, ttl: Duration) -> String {
        let nonce = keys::random_id(32);
        let now = Instant::now();
        let mut nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        nonces.retain(|_, until| *until > now);
        nonces.insert(nonce.clone(), now + ttl);
        nonce
    }

    fn nonce_is_valid(&self, nonce: &str) -> bool {
        let nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        nonces
            .get(nonce)
            .is_some_and(|until| *until > Instant::now())
    }

    /// Spends `jti` until `keep` from now; false when it was already spent.
    fn spend(&self, jti: &str, keep: Duration) -> bool {
        let now = Instant::now();
        let mut spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        spent.retain(|_, until| *until > now);
        if spent.contains_key(jti) {
            return false;
        }
        spent.insert(jti.to_owned(), now + keep);
        true
    }

    /// The whole token-endpoint decision for one proof, in upstream's order: the proof itself,
    /// then the nonce (when required), then the `jti` (spent only by a proof that passed the
    /// rest, so a refused proof can be fixed and resent).
    pub fn check(
        &self,
        settings: &DpopSettings,
        proof: &str,
        method: &str,
        request_url: &str,
    ) -> Result<CheckedProof, ProofError> {
        let checked = check_proof(
            proof,
            method,
            request_url,
            settings.proof_lifetime,
            now_millis(),
        )
        .map_err(ProofError::Invalid)?;
        if settings.require_nonce {
            let Some(nonce) = checked.nonce.as_deref() else {
                return Err(ProofError::NonceRequired);
            };
            if !self.nonce_is_valid(nonce) {
                return Err(ProofError::NonceMismatch);
            }
        }
        if !self.spend(&checked.jti, settings.proof_lifetime * 2) {
            return Err(ProofError::Replay);
        }
        Ok(checked)
    }
}

/// The proof a request carries: the first non-empty `DPoP` header (Go's `Header.Get`).
pub fn proof_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(DPOP_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The URL a proof's `htu` must name: scheme (`X-Forwarded-Proto`, else `http`), the `Host`
/// header and the path, without the query — what upstream compares against.
pub fn request_url(headers: &HeaderMap, path: &str) -> String {
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("http");
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    format!("{scheme}://{host}{path}")
}

/// Adds `DPoP-Nonce: <fresh nonce>` to a response header map.
pub fn add_nonce(headers: &mut HeaderMap, nonce: &str) {
    if let Ok(value) = HeaderValue::from_str(nonce) {
        headers.insert(NONCE_HEADER, value);
    }
}

fn now_millis() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
}

/// Checks one proof against the request (`method`, `request_url`) at `now_ms`: everything but
/// the nonce and the `jti` store. The error is the precise reason, for the log.
pub fn check_proof(
    proof: &str,
    method: &str,
    request_url: &str,
    lifetime: Duration,
    now_ms: i128,
) -> Result<CheckedProof, String> {
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS (three dot-separated parts)".to_owned());
    };
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("the header is not base64url JSON")?;
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    if !typ.eq_ignore_ascii_case("dpop+jwt") {
        return Err(format!("typ is {typ:?}, not \"dpop+jwt\""));
    }
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let alg = match alg_name {
        "ES256" => Algorithm::ES256,
        "RS256" => Algorithm::RS256,
        "PS256" => Algorithm::PS256,
        other => {
            return Err(format!(
                "alg {other:?} is not one of {}",
                PROOF_ALGORITHMS.join(", ")
            ));
        }
    };
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or("no jwk object in the header")?;
    public_key_fits(jwk, alg)?;
    let parsed: Jwk = serde_json::from_value(Value::Object(jwk.clone()))
        .map_err(|e| format!("the jwk is not a usable key: {e}"))?;
    let key = DecodingKey::from_jwk(&parsed).map_err(|e| format!("the jwk is unusable: {e}"))?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &validation)
        .map_err(|e| format!("the signature does not verify with the jwk: {e}"))?
        .claims;

    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
    let jti = text("jti");
    if jti.is_empty() {
        return Err("no jti".to_owned());
    }
    let htm = text("htm");
    if !htm.eq_ignore_ascii_case(method) {
        return Err(format!("htm {htm:?} is not the request method {method:?}"));
    }
    let htu = text("htu");
    if !same_target(htu, request_url) {
        return Err(format!(
            "htu {htu:?} does not name this endpoint ({request_url})"
        ));
    }
    let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    if iat == 0 {
        return Err("no iat (an integer)".to_owned());
    }
    let age_ms = (now_ms - i128::from(iat) * 1000).abs();
    if age_ms > i128::try_from(lifetime.as_millis()).unwrap_or(i128::MAX) {
        return Err(format!(
            "iat {iat} is {} s from now, beyond the proof lifetime of {} s",
            age_ms / 1000,
            lifetime.as_secs()
        ));
    }
    let nonce = Some(text("nonce"))
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    Ok(CheckedProof {
        jkt: thumbprint(jwk)?,
        jti: jti.to_owned(),
        nonce,
    })
}

/// The proof key must be public and of the algorithm's kind: EC P-256 for ES256, RSA of at least
/// 2048 bits for RS256/PS256.
fn public_key_fits(jwk: &Map<String, Value>, alg: Algorithm) -> Result<(), String> {
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(format!(
            "the jwk carries the private member {member:?} (a proof must embed the public key only)"
        ));
    }
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    match (alg, kty) {
        (Algorithm::ES256, "EC") => {
            let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
            if crv == "P-256" {
                Ok(())
            } else {
                Err(format!("curve {crv:?} does not fit ES256 (P-256)"))
            }
        }
        (Algorithm::RS256 | Algorithm::PS256, "RSA") => {
            let bits = jwk
                .get("n")
                .and_then(Value::as_str)
                .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
                .map_or(0, |n| {
                    let significant = n.iter().skip_while(|b| **b == 0).count();
                    significant * 8
                });
            if bits >= MIN_RSA_BITS {
                Ok(())
            } else {
                Err(format!(
                    "the RSA key has {bits} bits, fewer than {MIN_RSA_BITS}"
                ))
            }
        }
        _ => Err(format!("key type {kty:?} does not fit {alg:?}")),
    }
}

/// `htu` against the request URL: scheme and host (with port) case-insensitively, the path
/// exactly; query and fragment ignored on both sides.
fn same_target(htu: &str, request_url: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(htu), url::Url::parse(request_url)) else {
        return false;
    };
    a.scheme().eq_ignore_ascii_case(b.scheme())
        && a.host_str()
            .zip(b.host_str())
            .is_some_and(|(x, y)| x.eq_ignore_ascii_case(y))
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// RFC 7638 SHA-256 thumbprint of a public JWK: the required members in lexicographic order,
/// no whitespace, hashed, base64url without padding.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, String> {
    let member = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the jwk has no {name:?}"))
    };
    let canonical = match member("kty")? {
        "EC" => serde_json::json!({
            "crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")?,
        }),
        "RSA" => serde_json::json!({"e": member("e")?, "kty": "RSA", "n": member("n")?}),
        other => return Err(format!("no thumbprint for key type {other:?}")),
    };
    // serde_json (with preserve_order) keeps insertion order, which is already lexicographic.
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29",
        });
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn htu_compares_scheme_host_port_and_path_only() {
        let url = "http://localhost:9000/oauth/token";
        assert!(same_target("http://LOCALHOST:9000/oauth/token", url));
        assert!(same_target("http://localhost:9000/oauth/token?x=1#f", url));
        assert!(!same_target("http://localhost:9000/oauth/token/", url));
        assert!(!same_target("https://localhost:9000/oauth/token", url));
        assert!(!same_target("http://localhost:9001/oauth/token", url));
        assert!(!same_target("http://127.0.0.1:9000/oauth/token", url));
        assert!(!same_target("/oauth/token", url));
    }

    #[test]
    fn private_members_and_wrong_key_types_are_refused() {
        let ec = json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b"});
        assert!(public_key_fits(ec.as_object().unwrap(), Algorithm::ES256).is_ok());
        assert!(public_key_fits(ec.as_object().unwrap(), Algorithm::RS256).is_err());
        let private = json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"});
        let err = public_key_fits(private.as_object().unwrap(), Algorithm::ES256).unwrap_err();
        assert!(err.contains("private member \"d\""), "{err}");
        let p384 = json!({"kty": "EC", "crv": "P-384", "x": "a", "y": "b"});
        assert!(public_key_fits(p384.as_object().unwrap(), Algorithm::ES256).is_err());
        let small = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xff_u8; 128]), "e": "AQAB"});
        let err = public_key_fits(small.as_object().unwrap(), Algorithm::PS256).unwrap_err();
        assert!(err.contains("1024 bits"), "{err}");
    }

    #[test]
    fn garbage_is_invalid_with_a_reason() {
        let url = "http://localhost:9000/oauth/token";
        let lifetime = Duration::from_mins(1);
        for garbage in ["", "abc", "a.b", "a.b.c.d", "!!.b.c"] {
            assert!(check_proof(garbage, "POST", url, lifetime, 0).is_err());
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let err = check_proof(&format!("{header}.e30.c2ln"), "POST", url, lifetime, 0).unwrap_err();
        assert!(err.contains("typ"), "{err}");
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"dpop+jwt","alg":"HS256"}"#);
        let err = check_proof(&format!("{header}.e30.c2ln"), "POST", url, lifetime, 0).unwrap_err();
        assert!(err.contains("alg \"HS256\""), "{err}");
    }

    #[test]
    fn nonces_expire_and_jtis_are_spent_once() {
        let state = DpopState::default();
        let nonce = state.issue_nonce(Duration::from_mins(1));
        assert_eq!(nonce.len(), 43);
        assert!(state.nonce_is_valid(&nonce));
        assert!(!state.nonce_is_valid("never-issued"));
        let gone = state.issue_nonce(Duration::ZERO);
        assert!(!state.nonce_is_valid(&gone));
        assert!(state.spend("j", Duration::from_mins(1)));
        assert!(!state.spend("j", Duration::from_mins(1)));
    }

    #[test]
    fn the_rows_are_upstreams() {
        let row = |e: ProofError| {
            let e = OAuthError::from(e);
            (e.status.as_u16(), e.code, e.description)
        };
        assert_eq!(
            row(ProofError::Invalid("x".into())),
            (400, "invalid_dpop_proof", "DPoP proof is invalid".into())
        );
        assert_eq!(
            row(ProofError::Replay),
            (
                400,
                "invalid_dpop_proof",
                "DPoP proof jti has already been used".into()
            )
        );
        assert_eq!(
            row(ProofError::NonceRequired),
            (
                400,
                "use_dpop_nonce",
                "server nonce is required in DPoP proof".into()
            )
        );
        assert_eq!(
            row(ProofError::NonceMismatch),
            (
                400,
                "use_dpop_nonce",
                "DPoP proof nonce does not match server-issued nonce".into()
            )
        );
    }
}
