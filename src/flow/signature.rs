//! A token's `kid` and signature checked against the AS's published keys with authplane-sdk —
//! the verifier the echo server runs — for `inspect`. Only the key and the signature are judged
//! here: the claims the SDK checks after the signature (iss, aud, expiry) are `inspect`'s own
//! rules, with findings that name the differing part.

use authplane_sdk::{AuthplaneClient, FetchSettings, VerifierError};
use serde_json::Value;

/// What the SDK made of the token's key and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// The signature verifies with the published key `kid`.
    Verified { kid: String },
    /// The AS publishes no key with the token's `kid` (`published`: the kids it does publish).
    KidUnknown { kid: String, published: Vec<String> },
    /// A key with that `kid` exists, but the signature does not verify with it.
    Invalid { kid: String, message: String },
    /// Not checked: the AS did not answer, or the SDK refused the header before the signature.
    NotChecked { reason: String },
}

/// Verifies `token` with an authplane-sdk verifier for the AS at `issuer` (metadata discovery,
/// then its `jwks_uri`). The verifier's resource is the token's own audience (or `audience` when
/// it has none), so the verdict is about the key and the signature alone.
pub async fn check(
    issuer: &str,
    token: &str,
    token_audience: Option<&str>,
    audience: &str,
) -> Signature {
    let kid = jsonwebtoken_kid(token).unwrap_or_default();
    // Dev mode: plain http and loopback are what a local AS is; this is a developer's CLI.
    let client = match AuthplaneClient::builder(issuer.to_owned())
        .with_fetch_settings(FetchSettings::from_dev_mode(true))
        .build()
        .await
    {
        Ok(client) => client,
        Err(e) => {
            return Signature::NotChecked {
                reason: format!("the AS at {issuer} did not answer discovery ({e})"),
            };
        }
    };
    let resource = token_audience
        .filter(|a| url::Url::parse(a).is_ok())
        .unwrap_or(audience);
    let verdict = match client.resource(resource, &[]).await {
        Ok(verifier) => match verifier.verify(token).await {
            Ok(_) => Signature::Verified { kid: kid.clone() },
            Err(err) => classify(&err, &kid, &client).await,
        },
        Err(e) => Signature::NotChecked {
            reason: format!("the SDK refused {resource} as a resource ({e})"),
        },
    };
    client.aclose().await;
    verdict
}

/// Sorts an SDK refusal into a verdict on the key and signature. The SDK checks the header
/// (`kid`, `typ`, `alg`) first, then the key and signature, then the claims: a refusal for a claim
/// or for a DPoP binding means the signature verified.
async fn classify(err: &VerifierError, kid: &str, client: &AuthplaneClient) -> Signature {
    match err {
        VerifierError::InvalidSignature { message } if message.contains("not found in JWKS") => {
            let published = client
                .jwks_cache()
                .get(false)
                .await
                .ok()
                .and_then(|jwks| {
                    jwks.get("keys").and_then(Value::as_array).map(|keys| {
                        keys.iter()
                            .filter_map(|k| k.get("kid").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                })
                .unwrap_or_default();
            Signature::KidUnknown {
                kid: kid.to_owned(),
                published,
            }
        }
        VerifierError::InvalidSignature { message } => Signature::Invalid {
            kid: kid.to_owned(),
            message: message.clone(),
        },
        VerifierError::InvalidClaims { message }
            if message.starts_with("token header")
                || message.starts_with("token type")
                || message.starts_with("token algorithm") =>
        {
            Signature::NotChecked {
                reason: format!("the SDK refuses the header before the signature: {message}"),
            }
        }
        VerifierError::TokenExpired
        | VerifierError::InvalidClaims { .. }
        | VerifierError::DpopNotSupported
        | VerifierError::DpopBindingMismatch { .. } => Signature::Verified {
            kid: kid.to_owned(),
        },
        other => Signature::NotChecked {
            reason: other.to_string(),
        },
    }
}

/// The `kid` of the token's header, if it has one.
fn jsonwebtoken_kid(token: &str) -> Option<String> {
    crate::flow::jwt::decode(token)
        .ok()?
        .header_str("kid")
        .map(str::to_owned)
}
