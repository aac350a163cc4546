//! The bearer-token guard in front of the MCP service, and the RFC 9728 metadata routes.
//!
//! Owns every 401/403 the echo server sends. Verification itself is authplane-sdk's
//! ([`AuthplaneResource::verify`], or [`AuthplaneResource::verify_with_context`] when inbound DPoP
//! is on); this module only finds the token, builds the DPoP request context, maps SDK errors to
//! status codes and `WWW-Authenticate` challenges, and enforces the required scopes (the SDK parses
//! scopes but does not enforce them). It runs before rmcp sees the request, for every HTTP method,
//! so an unauthenticated caller never reaches session handling.
//!
//! With inbound DPoP on, `Authorization: DPoP <token>` plus a `DPoP` proof is accepted for a
//! DPoP-bound token; the proof's `htu` must name `<audience scheme>://<Host header><path>` (the URL
//! the client dialled). A `Bearer` request never carries a proof to the SDK, so a bound token sent
//! as `Bearer` is refused (RFC 9449 §7.1). DPoP requests skip the accepted-token memory: every
//! proof is single-use and must meet the SDK.

use std::sync::Arc;

use authplane_sdk::{
    AuthplaneResource, DpopRequestContext, ProtectedResourceMetadata, VerifiedClaims,
    VerifierError, http_status, www_authenticate_for_missing_credentials,
};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use super::verified::VerifiedTokens;

/// A request the guard turned away; the command logs these so a user sees why a client failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status sent (401, 403 or 503).
    pub status: u16,
    /// Request method and path, e.g. `POST /mcp`.
    pub request: String,
    /// The reason, as sent in `error_description` (or "no bearer token").
    pub reason: String,
}

/// Shared state of the guard and the PRM routes.
pub struct Guard {
    verifier: AuthplaneResource,
    /// Tokens the verifier accepted a moment ago (see [`super::verified`] for why that is safe);
    /// `None` when revocation is checked, so a revocation takes effect on the next request.
    verified: Option<VerifiedTokens>,
    scopes: Vec<String>,
    prm: ProtectedResourceMetadata,
    rejections: Option<UnboundedSender<Rejection>>,
    /// The scheme (`http`/`https`) of DPoP proof `htu`s when inbound DPoP is on; `None` when off.
    dpop_scheme: Option<String>,
}

impl Guard {
    /// A guard that verifies with `verifier` and requires every scope in `scopes` (AND),
    /// remembering accepted tokens for a moment when `remember` is set. Rejections are sent to
    /// `rejections` when given. `dpop_scheme` is `Some(scheme of the audience)` when the verifier
    /// was built with inbound DPoP, so `DPoP` requests are accepted.
    pub fn new(
        verifier: AuthplaneResource,
        scopes: Vec<String>,
        remember: bool,
        rejections: Option<UnboundedSender<Rejection>>,
        dpop_scheme: Option<String>,
    ) -> Guard {
        let prm = verifier.prm_response();
        Guard {
            verifier,
            verified: remember.then(VerifiedTokens::default),
            scopes,
            prm,
            rejections,
            dpop_scheme,
        }
    }

    /// The absolute URL advertised as `resource_metadata` in every challenge.
    pub fn resource_metadata_url(&self) -> &str {
        self.verifier.resource_metadata_url()
    }

    /// Checks one request (its `Authorization` and `DPoP` headers, method and path): the
    /// verified claims, or the response to send.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        method: &Method,
        path: &str,
    ) -> Result<Arc<VerifiedClaims>, Denial> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Denial::missing(self.resource_metadata_url()));
        };
        let (scheme, token) = match credentials(value, self.dpop_scheme.is_some()) {
            Ok(found) => found,
            Err(reason) => {
                // No usable credentials at all: same challenge as a missing header.
                let mut denial = Denial::missing(self.resource_metadata_url());
                denial.description = reason;
                return Err(denial);
            }
        };
        let refuse = |err: VerifierError| Denial::from_verifier(&self.verifier, &err);
        let claims = match (scheme, &self.dpop_scheme) {
            (Scheme::Dpop, Some(url_scheme)) => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let url = format!("{url_scheme}://{host}{path}");
                let proofs = headers
                    .get_all("dpop")
                    .iter()
                    .filter_map(|v| v.to_str().ok());
                let context =
                    DpopRequestContext::from_header_values(method.as_str(), &url, proofs, None)
                        .map_err(refuse)?;
                Arc::new(
                    self.verifier
                        .verify_with_context(token, &context)
                        .await
                        .map_err(refuse)?,
                )
            }
            _ => {
                if let Some(claims) = self.verified.as_ref().and_then(|v| v.get(token)) {
                    claims
                } else {
                    let outcome = match &self.dpop_scheme {
                        // A Bearer request carries no proof to the SDK, whatever it sent: a bound
                        // token fails, and a DPoP-only resource refuses unbound ones.
                        Some(_) => {
                            let context =
                                DpopRequestContext::new(method.as_str(), path, None, None);
                            self.verifier.verify_with_context(token, &context).await
                        }
                        None => self.verifier.verify(token).await,
                    };
                    let claims = Arc::new(outcome.map_err(refuse)?);
                    if let Some(verified) = &self.verified {
                        verified.insert(token, claims.clone());
                    }
                    claims
                }
            }
        };
        let missing: Vec<&str> = self
            .scopes
            .iter()
            .filter(|s| !claims.has_scope(s))
            .map(String::as_str)
            .collect();
        if let Some(first) = missing.first() {
            let err = VerifierError::InsufficientScope {
                required: (*first).to_owned(),
                available: claims.scopes.clone(),
            };
            let mut denial = Denial::from_verifier(&self.verifier, &err);
            // RFC 6750 §3.1: `scope` names what the resource needs, so a client can step up.
            // The SDK's challenge builder does not emit it.
            denial.challenge = format!(
                "{}, scope=\"{}\"",
                denial.challenge,
                self.scopes.join(" ").replace('"', "")
            );
            return Err(denial);
        }
        Ok(claims)
    }

    fn report(&self, status: u16, request: String, reason: String) {
        if let Some(tx) = &self.rejections {
            // The receiver is gone only while the server shuts down; nothing to tell then.
            let _ = tx.send(Rejection {
                status,
                request,
                reason,
            });
        }
    }
}

/// Why a request was turned away: the status, the `WWW-Authenticate` value and the JSON body.
#[derive(Debug, Clone)]
pub struct Denial {
    pub status: StatusCode,
    pub challenge: String,
    /// `error` member of the JSON body (`invalid_token`, `insufficient_scope`, …).
    pub error: &'static str,
    pub description: String,
}

impl Denial {
    fn missing(resource_metadata_url: &str) -> Denial {
        Denial {
            status: StatusCode::UNAUTHORIZED,
            // RFC 6750 §3.1: no error code when the request carried no credentials.
            challenge: www_authenticate_for_missing_credentials("", resource_metadata_url),
            error: "unauthorized",
            description: "no bearer token: send Authorization: Bearer <access token>".to_owned(),
        }
    }

    fn from_verifier(verifier: &AuthplaneResource, err: &VerifierError) -> Denial {
        let status = StatusCode::from_u16(http_status(err)).unwrap_or(StatusCode::UNAUTHORIZED);
        let error = match err {
            VerifierError::InsufficientScope { .. } => "insufficient_scope",
            VerifierError::DpopMultipleProofs => "invalid_dpop_proof",
            VerifierError::MetadataUnavailable { .. } | VerifierError::JwksUnavailable { .. } => {
                "temporarily_unavailable"
            }
            _ => "invalid_token",
        };
        Denial {
            status,
            challenge: verifier.www_authenticate(err, ""),
            error,
            description: err.to_string(),
        }
    }

    fn into_response(self) -> Response {
        let body = Json(json!({"error": self.error, "error_description": self.description}));
        let mut response = (self.status, body).into_response();
        if let Ok(value) = HeaderValue::from_str(&self.challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The longest unsupported scheme a refusal repeats (`Negotiate`, `Digest`, `DPoP` are shorter).
const SCHEME_SHOWN: usize = 12;

/// The authorization scheme a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235 §2.1).
#[cfg(test)]
fn bearer_token(value: &HeaderValue) -> Result<&str, String> {
    credentials(value, false).map(|(_, token)| token)
}

/// The scheme and token of an `Authorization` header: `Bearer`, or `DPoP` when `accept_dpop`
/// (schemes are case-insensitive, RFC 7235 §2.1).
fn credentials(value: &HeaderValue, accept_dpop: bool) -> Result<(Scheme, &str), String> {
    let text = value
        .to_str()
        .map_err(|_| "the Authorization header is not visible ASCII".to_owned())?;
    let (scheme, token) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    let found = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if accept_dpop && scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        // A long "scheme" is a bare token or another secret: this reason goes to the log and
        // back in the challenge, so it is not repeated, not even in part.
        if scheme.chars().count() > SCHEME_SHOWN {
            return Err(
                "the Authorization header has no scheme (a bare token?); send \
                        Authorization: Bearer <access token>"
                    .to_owned(),
            );
        }
        return Err(format!(
            "authorization scheme {scheme:?} is not supported; send Authorization: Bearer <access token>"
        ));
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(format!(
            "the {} authorization header carries no token",
            if found == Scheme::Bearer {
                "Bearer"
            } else {
                "DPoP"
            }
        ));
    }
    Ok((found, token))
}

/// axum middleware (`from_fn_with_state`) guarding the MCP service.
pub async fn require_token(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let outcome = guard
        .check(request.headers(), request.method(), request.uri().path())
        .await;
    match outcome {
        Ok(claims) => {
            request.extensions_mut().insert(claims);
            next.run(request).await
        }
        Err(denial) => {
            guard.report(
                denial.status.as_u16(),
                format!("{} {}", request.method(), request.uri().path()),
                denial.description.clone(),
            );
            denial.into_response()
        }
    }
}

/// `GET /.well-known/oauth-protected-resource[/<mcp path>]`: the RFC 9728 document.
pub async fn protected_resource_metadata(State(guard): State<Arc<Guard>>) -> Response {
    let mut response = Json(&guard.prm).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for header in ["Bearer abc", "bearer abc", "BEARER  abc "] {
            assert_eq!(bearer_token(&HeaderValue::from_static(header)), Ok("abc"));
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_refused() {
        let err = bearer_token(&HeaderValue::from_static("Basic dXNlcjpwdw==")).unwrap_err();
        assert!(err.contains("\"Basic\""), "{err}");
        assert!(bearer_token(&HeaderValue::from_static("Bearer")).is_err());
        assert!(bearer_token(&HeaderValue::from_static("Bearer   ")).is_err());
    }

    #[test]
    fn a_bare_token_in_the_scheme_place_is_not_repeated() {
        // Found by tests/security.rs: `Authorization: <jwt>` put the whole token in the log.
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU";
        let err = bearer_token(&HeaderValue::from_static(token)).unwrap_err();
        assert!(!err.contains("eyJ"), "{err}");
        assert!(err.contains("no scheme (a bare token?)"), "{err}");
        let err = bearer_token(&HeaderValue::from_static("Token abc")).unwrap_err();
        assert!(err.contains("\"Token\""), "{err}");
    }

    /// Property-based fuzzing of the Authorization header parser (`cargo test --lib fuzz`).
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_header_is_a_token_or_a_reason_that_does_not_repeat_a_long_value(
                raw in crate::fuzz::bytes(96),
                word in "[!-~]{13,64}",
            ) {
                if let Ok(value) = HeaderValue::from_bytes(&raw) {
                    match bearer_token(&value) {
                        Ok(token) => prop_assert!(!token.is_empty() && token.trim() == token),
                        Err(reason) => prop_assert!(!reason.is_empty()),
                    }
                }
                // A long first word (a bare token, a secret) never comes back in the reason.
                let value = HeaderValue::from_str(&word).unwrap();
                let reason = bearer_token(&value).unwrap_err();
                prop_assert!(!reason.contains(&word), "{}", reason);
            }
        }
    }
}
