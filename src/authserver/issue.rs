//! Minting an access token, for every grant: the RFC 9068 claims in the order the real server
//! writes them, signed with the current key, recorded as an issuance (which pins the resource
//! against deletion); and the token endpoint's success response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::problem::OAuthError;
use super::store::{Issuance, UpdateError};
use super::{AppState, keys};

/// The access token's claims (RFC 9068), in the order the real server writes them.
#[derive(Debug, Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: [&'a str; 1],
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    jti: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    /// RFC 9449 §6: the thumbprint of the key the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

/// The `cnf` claim of a DPoP-bound token.
#[derive(Debug, Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

/// What a token says.
pub struct Mint<'a> {
    /// The client (machine tokens) or the user (user tokens).
    pub sub: &'a str,
    pub client_id: &'a str,
    /// The single audience.
    pub aud: &'a str,
    /// The resource the audience resolved to, if any.
    pub resource_id: Option<&'a str>,
    /// Space-separated; empty ⇒ no `scope` claim.
    pub scope: &'a str,
    pub lifetime_secs: i64,
    /// The DPoP key thumbprint the token is bound to.
    pub jkt: Option<&'a str>,
    /// The user of a user token (`None` for machine tokens).
    pub user_id: Option<&'a str>,
}

/// A signed token.
pub struct Minted {
    pub token: String,
    pub jti: String,
    pub expires_at: i64,
}

/// Signs and records a token.
pub fn mint(state: &AppState, m: &Mint<'_>) -> Result<Minted, OAuthError> {
    let iat = time::OffsetDateTime::now_utc().unix_timestamp();
    let exp = iat.saturating_add(m.lifetime_secs);
    let jti = keys::random_id(16);
    let claims = AccessClaims {
        iss: &state.config.issuer,
        sub: m.sub,
        aud: [m.aud],
        client_id: m.client_id,
        scope: (!m.scope.is_empty()).then_some(m.scope),
        jti: &jti,
        iat,
        nbf: iat,
        exp,
        cnf: m.jkt.map(|jkt| Confirmation { jkt }),
    };
    let token = state
        .key
        .sign(&claims)
        .map_err(|e| OAuthError::server_error().because(format!("signing the token: {e:#}")))?;
    let issuance = Issuance {
        jti: jti.clone(),
        client_id: m.client_id.to_owned(),
        resource_id: m.resource_id.map(str::to_owned),
        scope: m.scope.to_owned(),
        issued_at: iat,
        expires_at: exp,
        user_id: m.user_id.map(str::to_owned),
    };
    // An issuance record is bookkeeping (it makes deleting a client with live tokens a 409);
    // syncing it to disk on every token tripled the token endpoint's time.
    state
        .store
        .record(|d| {
            prune_issuances(&mut d.issuances, iat);
            d.issuances.push(issuance);
            Ok::<_, ()>(())
        })
        .map_err(store_failure)?;
    Ok(Minted {
        token,
        jti,
        expires_at: exp,
    })
}

/// A failed store write as the client sees it (a 500; the cause goes to the log).
pub fn store_failure(e: UpdateError<()>) -> OAuthError {
    match e {
        UpdateError::Persist(e) => OAuthError::server_error().because(format!("{e:#}")),
        UpdateError::Refused(()) => OAuthError::server_error(),
    }
}

/// `200` with the token response and the no-cache headers the real server sends.
pub fn token_response(body: &Value) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        body.to_string(),
    )
        .into_response()
}

/// Keeps what still matters: unexpired tokens (a client holding one cannot be deleted without
/// `force`) and one expired record per resource (a resource once minted for stays undeletable, as
/// upstream's issuance rows do), so the state file does not grow with every mint.
fn prune_issuances(issuances: &mut Vec<Issuance>, now: i64) {
    let mut pinned = std::collections::HashSet::new();
    issuances.retain(|i| {
        i.expires_at > now
            || i.resource_id
                .as_ref()
                .is_some_and(|r| pinned.insert(r.clone()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_live_tokens_and_one_pin_per_resource() {
        let issuance = |jti: &str, resource: Option<&str>, expires_at: i64| Issuance {
            jti: jti.into(),
            client_id: "c".into(),
            resource_id: resource.map(str::to_owned),
            scope: String::new(),
            issued_at: 0,
            expires_at,
            user_id: None,
        };
        let mut v = vec![
            issuance("a", Some("r1"), 5),
            issuance("b", Some("r1"), 5),
            issuance("c", None, 5),
            issuance("d", Some("r2"), 5),
            issuance("e", None, 50),
        ];
        prune_issuances(&mut v, 10);
        let kept: Vec<&str> = v.iter().map(|i| i.jti.as_str()).collect();
        assert_eq!(kept, ["a", "d", "e"]);
    }
}
